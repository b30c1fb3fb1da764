//! What a check can find wrong. Each variant is one rule; tests match on the variant.

use std::fmt;

use crate::arch::{version_string, Arch};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// An input that should be a relocatable object (`MH_OBJECT`) is something else.
    NotObject { member: String, file_type: u32 },
    WrongCpu { member: String, cpu_type: u32, cpu_subtype: u32, expected: Arch },
    WrongMinOs { member: String, found: Option<u32>, expected: u32 },
    /// Floating-point/vector register use in kernel code.
    FloatUse { member: String, symbol: String, address: u64, what: String },
    /// A core::panicking or core::fmt symbol in an object that ends up in the kext.
    PanicOrFmt { member: String, symbols: Vec<String>, pulled_by: String },
    /// An undefined symbol outside the allowed set (see allowed.rs).
    UndefinedNotAllowed { symbol: String, referenced_by: String },
    /// An undefined symbol that no bundle in OSBundleLibraries exports.
    NotExported { symbol: String, declared: Vec<String> },
    /// A bundle in OSBundleLibraries that exports none of the imports.
    UnusedLibrary { bundle: String },
    /// A bundle in OSBundleLibraries that the export lists do not describe.
    UnknownLibrary { bundle: String },
    /// `mark-kernel-abi` refused an object (why, with the object's name).
    AbiNotMarked { reason: String },
    /// The linked Rust code is larger than its budget.
    OverBudget { what: String, bytes: u64, budget: u64 },
    /// An Info.plist rule.
    Plist { rule: &'static str, detail: String },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::NotObject { member, file_type } => {
                write!(f, "{member}: Mach-O file type {file_type} is not MH_OBJECT (1)")
            }
            Finding::WrongCpu { member, cpu_type, cpu_subtype, expected } => write!(
                f,
                "{member}: cputype {cpu_type:#x} cpusubtype {cpu_subtype:#x}, expected {expected} \
                 ({:#x}/{:#x})",
                expected.cpu_type(),
                expected.cpu_subtype()
            ),
            Finding::WrongMinOs { member, found, expected } => write!(
                f,
                "{member}: minimum macOS {}, expected {}",
                found.map(version_string).unwrap_or_else(|| "missing".into()),
                version_string(*expected)
            ),
            Finding::FloatUse { member, symbol, address, what } => {
                write!(f, "{member}: floating-point/vector use in {symbol} at {address:#x}: {what}")
            }
            Finding::PanicOrFmt { member, symbols, pulled_by } => write!(
                f,
                "{member} ({pulled_by}) holds core::panicking/core::fmt symbols: {}{}",
                symbols.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if symbols.len() > 5 { format!(" and {} more", symbols.len() - 5) } else { String::new() }
            ),
            Finding::UndefinedNotAllowed { symbol, referenced_by } => write!(
                f,
                "{referenced_by}: undefined symbol {symbol} is not an allowed kernel import \
                 (tools/kext-check/src/allowed.rs)"
            ),
            Finding::NotExported { symbol, declared } => write!(
                f,
                "import {symbol} is exported by none of the declared KPIs ({})",
                declared.join(", ")
            ),
            Finding::UnusedLibrary { bundle } => {
                write!(f, "OSBundleLibraries declares {bundle}, but no import comes from it")
            }
            Finding::UnknownLibrary { bundle } => {
                write!(f, "OSBundleLibraries declares {bundle}, which the export lists do not describe")
            }
            Finding::Plist { rule, detail } => write!(f, "Info.plist: {rule}: {detail}"),
            Finding::OverBudget { what, bytes, budget } => {
                write!(f, "{what}: linked Rust __text is {bytes} bytes, over the budget of {budget}")
            }
            Finding::AbiNotMarked { reason } => write!(f, "not marked with the kernel pointer-auth ABI: {reason}"),
        }
    }
}
