// Generates the bindings from the first headers found: KERNEL_HEADERS, then (on macOS) the Xcode
// SDK's Kernel.framework and the newest Kernel Debug Kit, else the project's include/kpi.h.

mod bindgen_config;

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let target = env::var("TARGET").expect("set by cargo");
    println!("cargo:rerun-if-env-changed=KERNEL_HEADERS");
    println!("cargo:rerun-if-env-changed=LIBCLANG_PATH");
    println!("cargo:rerun-if-changed=include");
    println!("cargo:rerun-if-changed=build");

    let clang_target = bindgen_config::clang_target(&target);
    let target_note = clang_target.map_or(String::new(), |t| format!(" (clang target {t})"));
    let (header, include_dir) = match find_kernel_headers() {
        Some((dir, source)) => {
            require_arch_headers(&dir, &target);
            println!("cargo:rerun-if-changed={}", dir.display());
            println!(
                "cargo:warning=macos-kext-sys: headers from {source}: {}{target_note}",
                dir.display()
            );
            (manifest_dir.join("include/kernel.h"), Some(dir))
        }
        None => {
            println!("cargo:warning=macos-kext-sys: no Kernel.framework headers, using include/kpi.h{target_note}");
            (manifest_dir.join("include/kpi.h"), None)
        }
    };

    require_libclang();
    let bindings = bindgen_config::builder(&header, include_dir.as_deref(), clang_target)
        .clang_macro_fallback_build_dir(&out_dir)
        .generate()
        .unwrap_or_else(|e| panic!("bindgen failed on {} for {target}: {e}", header.display()));
    bindings
        .write_to_file(out_dir.join("bindings.rs"))
        .expect("write bindings.rs");
}

/// A Kernel.framework/Headers directory and where it came from, in the documented order.
fn find_kernel_headers() -> Option<(PathBuf, &'static str)> {
    if let Some(dir) = env::var_os("KERNEL_HEADERS") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("IOKit/IOReturn.h").is_file(),
            "KERNEL_HEADERS={} is not a Kernel.framework/Headers directory (no IOKit/IOReturn.h)",
            dir.display()
        );
        return Some((dir, "KERNEL_HEADERS"));
    }
    if !cfg!(target_os = "macos") {
        return None;
    }
    xcode_sdk_headers()
        .map(|d| (d, "the Xcode SDK"))
        .or_else(|| newest_kdk_headers().map(|d| (d, "a Kernel Debug Kit")))
}

const KERNEL_FRAMEWORK_HEADERS: &str = "System/Library/Frameworks/Kernel.framework/Headers";

fn xcode_sdk_headers() -> Option<PathBuf> {
    let out = Command::new("xcrun")
        .args(["--sdk", "macosx", "--show-sdk-path"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let sdk = String::from_utf8(out.stdout).ok()?;
    let dir = Path::new(sdk.trim()).join(KERNEL_FRAMEWORK_HEADERS);
    dir.is_dir().then_some(dir)
}

/// The KDK with the highest version in its name (`KDK_14.4_23E214.kdk`).
fn newest_kdk_headers() -> Option<PathBuf> {
    let kdks = std::fs::read_dir("/Library/Developer/KDKs").ok()?;
    kdks.filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(KERNEL_FRAMEWORK_HEADERS).is_dir())
        .max_by_key(|p| kdk_version(p))
        .map(|p| p.join(KERNEL_FRAMEWORK_HEADERS))
}

fn kdk_version(kdk: &Path) -> Vec<u32> {
    let name = kdk
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let version = name
        .trim_start_matches("KDK_")
        .split('_')
        .next()
        .unwrap_or("");
    version.split('.').map(|n| n.parse().unwrap_or(0)).collect()
}

/// Kernel.framework headers carry each architecture's machine headers (`mach/i386`, `mach/arm`);
/// MacKernelSDK, for one, has only x86_64. Say so instead of clang's "architecture not supported".
fn require_arch_headers(dir: &Path, target: &str) {
    let machine = if target.starts_with("x86_64") {
        "mach/i386"
    } else {
        "mach/arm"
    };
    assert!(
        dir.join(machine).join("kern_return.h").is_file(),
        "{} has no {machine} headers for {target}: use the Xcode SDK or a Kernel Debug Kit, or unset \
         KERNEL_HEADERS to build from include/kpi.h",
        dir.display()
    );
}

/// Fails with the package to install instead of bindgen's generic panic.
fn require_libclang() {
    if std::panic::catch_unwind(bindgen::clang_version).is_err() {
        panic!(
            "macos-kext-sys needs libclang for bindgen. Debian/Ubuntu: `apt-get install \
             libclang-19-dev` and `export LIBCLANG_PATH=/usr/lib/llvm-19/lib` (scripts/setup.sh \
             does both); macOS: `xcode-select --install`."
        );
    }
}
