//! The `imports` check: every symbol the kext leaves undefined must be exported by a bundle its
//! Info.plist declares in OSBundleLibraries; in the linked kext every declared bundle must be used
//! and no core::panicking/core::fmt code or FP/SIMD instruction may remain.

use std::collections::BTreeSet;

use crate::allowed::{is_shim_helper, LIBKMOD_SYMBOLS};
use crate::exports::ExportLists;
use crate::macho::Member;
use crate::{demangle, is_panic_or_fmt, Finding};

pub struct ImportsReport {
    pub findings: Vec<Finding>,
    /// (symbol, the declared bundles exporting it); libkmod symbols are listed with "libkmod.a".
    pub resolved: Vec<(String, Vec<String>)>,
}

/// `linked` says the input is the linked kext, where a declared library nothing uses is a finding.
/// `libkmod_exempt`: Apple's libkmod.a supplies `_start`/`_stop` at the link (ld64 -kext on macOS,
/// or the ld64.lld link check); false for a kext whose own kmod glue defines them (tools/kextld on
/// Linux), where they must not be imports at all.
pub fn check_imports(
    members: &[Member],
    declared: &[String],
    exports: &ExportLists,
    linked: bool,
    libkmod_exempt: bool,
) -> ImportsReport {
    let defined: BTreeSet<&str> = members.iter().flat_map(|m| m.defined_names()).collect();
    let undefined: BTreeSet<&str> =
        members.iter().flat_map(|m| m.undefined_names()).filter(|s| !defined.contains(s)).collect();

    let mut findings = Vec::new();
    for bundle in declared {
        if !exports.bundles.contains_key(bundle) {
            findings.push(Finding::UnknownLibrary { bundle: bundle.clone() });
        }
    }
    let mut resolved = Vec::new();
    let mut used = BTreeSet::new();
    for symbol in undefined {
        if libkmod_exempt && LIBKMOD_SYMBOLS.contains(&symbol) {
            resolved.push((symbol.to_string(), vec!["libkmod.a".to_string()]));
            continue;
        }
        // Checking the Rust objects alone (the arm64e shim needs Apple clang): the shim defines these.
        if !linked && is_shim_helper(symbol) {
            resolved.push((symbol.to_string(), vec!["shim-cpp".to_string()]));
            continue;
        }
        let from: Vec<String> = declared
            .iter()
            .filter(|b| exports.bundles.get(*b).is_some_and(|e| e.exports(symbol)))
            .cloned()
            .collect();
        if from.is_empty() {
            findings.push(Finding::NotExported { symbol: symbol.to_string(), declared: declared.to_vec() });
        }
        used.extend(from.iter().cloned());
        resolved.push((symbol.to_string(), from));
    }
    if linked {
        // The shim's code is in the image too: it must be as free of FP/SIMD as Rust's.
        for member in members {
            crate::objects::check_float(member, &mut findings);
        }
        // The link keeps every global symbol (a kext exports them all), so any core::panicking
        // or core::fmt code in the image is there for good.
        for member in members {
            let symbols: Vec<String> = member
                .symbols
                .iter()
                .filter(|s| s.defined && is_panic_or_fmt(&s.name))
                .map(|s| demangle(&s.name))
                .collect();
            if !symbols.is_empty() {
                findings.push(Finding::PanicOrFmt {
                    member: member.name.clone(),
                    symbols,
                    pulled_by: "the linked kext".into(),
                });
            }
        }
        for bundle in declared {
            if exports.bundles.contains_key(bundle) && !used.contains(bundle) {
                findings.push(Finding::UnusedLibrary { bundle: bundle.clone() });
            }
        }
    }
    ImportsReport { findings, resolved }
}
