//! kext-check: the checks `build.sh` runs on RustKext's kernel objects, on the linked bundle's
//! imports against xnu's KPI export lists, and on Info.plist. Each check returns findings; an
//! empty list means the check passed.

pub mod allowed;
pub mod arch;
pub mod arm64;
pub mod code;
pub mod exports;
pub mod finding;
pub mod imports;
pub mod linkmap;
pub mod macho;
pub mod objects;
pub mod plist_rules;
pub mod ptrauth;
pub mod sizes;
pub mod x86;

pub use arch::Arch;
pub use finding::Finding;

/// Readable form of a Mach-O symbol name (leading `_` dropped, Rust names demangled).
pub fn demangle(symbol: &str) -> String {
    let name = symbol.strip_prefix('_').unwrap_or(symbol);
    match rustc_demangle::try_demangle(name) {
        Ok(d) => format!("{d:#}"),
        Err(_) => symbol.to_string(),
    }
}

/// True for symbols of core's panic machinery or formatting, mangled (legacy or v0) or not.
pub fn is_panic_or_fmt(symbol: &str) -> bool {
    if symbol.contains("4core9panicking") || symbol.contains("4core3fmt") {
        return true;
    }
    let readable = demangle(symbol);
    readable.contains("core::panicking") || readable.contains("core::fmt")
}
