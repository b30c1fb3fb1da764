//! The only undefined symbols the Rust kernel objects may leave for the link: the kernel's
//! `mem*` functions the compiler calls, and the KPI functions of macos-kext-sys's allowlist (the
//! framework calls the kernel only through it; nothing of the shim: the C ABI goes one way).

/// Kernel functions the compiler emits calls to (all exported by `com.apple.kpi.libkern`).
pub const KERNEL_MEM_FUNCTIONS: &[&str] =
    &["_memcpy", "_memmove", "_memset", "_memcmp", "_bzero", "___bzero"];

/// The allowlist of `macos-kext-sys` (ffi/build/allowlist.rs): the kernel functions Rust can
/// call at all are the ones its bindings declare, so that list is the one fact both read.
mod kext_sys {
    #![allow(dead_code)]
    include!("../../../ffi/build/allowlist.rs");
}

/// Kernel KPI functions Rust may call: `macos-kext-sys`'s function allowlist, as Mach-O symbols.
pub fn kpi_functions() -> Vec<String> {
    kext_sys::FUNCTIONS.iter().map(|f| format!("_{f}")).collect()
}

/// Symbols that Apple's `libkmod.a` supplies at the real `-kext` link on macOS (the kmod glue's
/// `_start`/`_stop`): the only undefined symbols of a Mac-linked kext not looked up in the KPI
/// export lists. The Linux kext (tools/kextld) defines them in its glue; `imports --no-libkmod`
/// makes them ordinary imports that must not be there.
pub const LIBKMOD_SYMBOLS: &[&str] = &["__start", "__stop"];

/// True if a Rust kernel object may leave `symbol` undefined.
pub fn rust_may_import(symbol: &str) -> bool {
    KERNEL_MEM_FUNCTIONS.contains(&symbol)
        || kext_sys::FUNCTIONS.iter().any(|f| symbol.strip_prefix('_') == Some(f))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kpi_functions_are_macos_kext_sys_allowlist() {
        let functions = super::kpi_functions();
        for f in ["_IOSleep", "_IOLog", "_lck_mtx_lock", "_current_thread"] {
            assert!(functions.iter().any(|g| g == f), "{f} in {functions:?}");
            assert!(super::rust_may_import(f));
        }
        assert!(!super::rust_may_import("_IOMalloc"), "not in the allowlist");
        assert!(!super::rust_may_import("IOSleep"), "Mach-O symbols carry the underscore");
    }

}
