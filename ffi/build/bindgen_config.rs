// The one bindgen configuration of macos-kext-sys, shared by build/main.rs and the drift check
// (examples/drift_check.rs), so that both generate the same items the same way.

use std::path::Path;

use bindgen::callbacks::{IntKind, ParseCallbacks};

/// Preprocessor defines of a kext build, as Xcode passes them.
pub const KERNEL_DEFINES: &[&str] = &["-DKERNEL", "-DKERNEL_PRIVATE", "-DDRIVER_PRIVATE"];

// The allowlist (TYPES, CONSTANTS, FUNCTIONS): its own file, so that tools/kext-check derives
// the symbols Rust kernel objects may import from the same list (one fact).
include!("allowlist.rs");

/// Kernel objects the project only handles by pointer: declared as zero-sized opaque structs
/// whatever the headers say about their fields (the allowlist is not followed into
/// dependencies), so their layout never leaks into Rust.
const OPAQUE_STRUCTS: &[&str] = &["thread", "ucred", "kauth_listener", "__lck_mtx_t__", "_IOLock"];

/// Clang target for cargo's `TARGET`. The bindings always describe the macOS kernel ABI (and
/// Kernel.framework headers refuse any other OS), so clang parses for macOS on the target's
/// architecture, at the deployment target of the oldest supported macOS, whatever the Rust
/// target: a kernel spec (`targets/*.json`, whose stem cargo passes as TARGET), an Apple host, or
/// Linux for the simulator and the tests.
pub fn clang_target(cargo_target: &str) -> Option<&'static str> {
    match cargo_target.split('-').next()? {
        "x86_64" => Some("x86_64-apple-macos10.15"),
        "arm64e" => Some("arm64e-apple-macos11"),
        "aarch64" | "arm64" => Some("arm64-apple-macos11"),
        _ => None,
    }
}

/// The builder for `header`, with `include_dir` (a Kernel.framework/Headers) on the include
/// path when the header is the real-header wrapper.
pub fn builder(
    header: &Path,
    include_dir: Option<&Path>,
    clang_target: Option<&str>,
) -> bindgen::Builder {
    let mut b = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .rust_target(bindgen::RustTarget::stable(85, 0).expect("bindgen supports Rust 1.85"))
        .use_core()
        .ctypes_prefix("cty")
        .generate_comments(false)
        .layout_tests(false)
        .generate_cstr(true)
        .sort_semantically(true)
        .clang_macro_fallback()
        .allowlist_recursively(false)
        .parse_callbacks(Box::new(ConstantTypes))
        .clang_arg("-nostdinc")
        .clang_args(KERNEL_DEFINES.iter().copied());
    if let Some(dir) = include_dir {
        b = b.clang_arg(format!("-I{}", dir.display()));
    }
    if let Some(t) = clang_target {
        b = b.clang_arg(format!("--target={t}"));
    }
    for t in TYPES {
        b = b.allowlist_type(format!("^{t}$"));
    }
    for c in CONSTANTS {
        b = b.allowlist_var(format!("^{c}$"));
    }
    for f in FUNCTIONS {
        b = b.allowlist_function(format!("^{f}$"));
    }
    for s in OPAQUE_STRUCTS {
        b = b.raw_line(format!(
            "#[repr(C)] pub struct {s} {{ _opaque: [u8; 0], _not_send_sync: ::core::marker::PhantomData<*mut u8> }}"
        ));
    }
    b
}

/// Types each macro constant as the kernel uses it, instead of bindgen's guess from the value.
#[derive(Debug)]
struct ConstantTypes;

impl ParseCallbacks for ConstantTypes {
    fn int_macro(&self, name: &str, _value: i64) -> Option<IntKind> {
        let typedef = |name| {
            Some(IntKind::Custom {
                name,
                is_signed: true,
            })
        };
        if name.starts_with("kIOReturn") {
            typedef("IOReturn")
        } else if name.starts_with("kOSKextReturn") {
            typedef("OSReturn")
        } else if name.starts_with("KERN_") {
            typedef("kern_return_t")
        } else if name.starts_with("MACH_SEND_") {
            typedef("mach_msg_return_t")
        } else if name.starts_with("KAUTH_FILEOP_CLOSE_") {
            Some(IntKind::Int) // a flag in arg2 of CLOSE, not an action
        } else if name.starts_with("KAUTH_FILEOP_") {
            typedef("kauth_action_t")
        } else if name.starts_with("KAUTH_RESULT_") {
            Some(IntKind::Int)
        } else {
            None
        }
    }
}
