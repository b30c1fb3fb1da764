//! The only undefined symbols the Rust kernel objects may leave for the link. One list, here.

/// Kernel functions the compiler emits calls to (all exported by `com.apple.kpi.libkern`).
pub const KERNEL_MEM_FUNCTIONS: &[&str] =
    &["_memcpy", "_memmove", "_memset", "_memcmp", "_bzero", "___bzero"];

/// The C ABI header; the shim helpers are the functions it declares named `rk_shim_*`.
const RUSTKEXT_H: &str = include_str!("../../../shim-cpp/rustkext.h");

/// Helpers the C++ shim implements for Rust (`rk_shim_*` in shim-cpp/rustkext.h), as Mach-O
/// symbols (`_rk_shim_log`, ...): read from the header, so the list cannot drift from it.
pub fn shim_helpers() -> Vec<String> {
    let mut names: Vec<String> = RUSTKEXT_H
        .match_indices("rk_shim_")
        .filter_map(|(at, _)| {
            let rest = &RUSTKEXT_H[at..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            rest[end..].starts_with('(').then(|| format!("_{}", &rest[..end]))
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether `symbol` is one of [`shim_helpers`].
pub fn is_shim_helper(symbol: &str) -> bool {
    shim_helpers().iter().any(|h| h == symbol)
}

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
    is_shim_helper(symbol) || [KERNEL_MEM_FUNCTIONS, CORE_KPI_FUNCTIONS].iter().any(|list| list.contains(&symbol))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shim_helpers_come_from_the_header() {
        assert_eq!(
            super::shim_helpers(),
            [
                "_rk_shim_fatal",
                "_rk_shim_log",
                "_rk_shim_log_text",
                "_rk_shim_mutex_lock",
                "_rk_shim_mutex_unlock",
                "_rk_shim_personality_property",
            ]
        );
    }
}
