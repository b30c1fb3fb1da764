//! The only undefined symbols the Rust kernel objects may leave for the link. One list, here.

/// Kernel functions the compiler emits calls to (all exported by `com.apple.kpi.libkern`).
pub const KERNEL_MEM_FUNCTIONS: &[&str] =
    &["_memcpy", "_memmove", "_memset", "_memcmp", "_bzero", "___bzero"];

/// Helpers the C++ shim implements for Rust (`rk_shim_*` in shim-cpp/rustkext.h).
pub const SHIM_HELPERS: &[&str] = &["_rk_shim_log", "_rk_shim_fatal"];

/// Kernel KPI functions the core calls directly through `macos-kext-sys`.
pub const CORE_KPI_FUNCTIONS: &[&str] =
    &["_IOSleep", "_mach_absolute_time", "_absolutetime_to_nanoseconds", "_current_thread"];

/// Symbols that Apple's `libkmod.a` supplies at the real `-kext` link on macOS (the kmod glue's
/// `_start`/`_stop`): the only undefined symbols of a Mac-linked kext not looked up in the KPI
/// export lists. The Linux kext (tools/kextld) defines them in its glue; `imports --no-libkmod`
/// makes them ordinary imports that must not be there.
pub const LIBKMOD_SYMBOLS: &[&str] = &["__start", "__stop"];

/// True if a Rust kernel object may leave `symbol` undefined.
pub fn rust_may_import(symbol: &str) -> bool {
    [KERNEL_MEM_FUNCTIONS, SHIM_HELPERS, CORE_KPI_FUNCTIONS]
        .iter()
        .any(|list| list.contains(&symbol))
}
