//! Compiles the kernel model (src/model), the unmodified shim (../shim-cpp) and the test-only
//! fallback kext (tests/fixtures) into three static archives, with include/ (the Kernel.framework
//! look-alikes) first on the include path. Each archive is linked whole: the shim calls `rk_*` in
//! the Rust core and the core calls kernel functions in the model, so neither order would let GNU
//! ld resolve both directions from ordinary archives.
//!
//! AddressSanitizer: when the crate is built with `-Zsanitizer=address` (cargo exposes it as
//! `CARGO_CFG_SANITIZE`), the C++ is instrumented too; rustc links the runtime.

use std::env;
use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cpp"))
        .collect();
    files.sort();
    files
}

fn compiler() -> String {
    if let Ok(cxx) = env::var("CXX") {
        return cxx;
    }
    let clang = "clang++-19";
    let found = std::process::Command::new(clang)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if found { clang } else { "c++" }.to_string()
}

fn archive(
    name: &str,
    module: Option<&str>,
    files: &[PathBuf],
    manifest: &Path,
    kernel_flags: bool,
) {
    let sanitize = env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .compiler(compiler())
        .cargo_metadata(false)
        .include(manifest.join("include"))
        .include(manifest.join("../shim-cpp"))
        .include(manifest.join("src/model"))
        .flag("-std=gnu++17")
        .flag("-fno-omit-frame-pointer")
        .flag("-Wall")
        .flag("-Wextra")
        .flag("-Wno-unused-parameter")
        .warnings_into_errors(true)
        .files(files);
    if let Some(module) = module {
        build.define("XNU_SIM_MODULE", format!("\"{module}\"").as_str());
    }
    if kernel_flags {
        // As the kernel build: no RTTI, no exceptions.
        build.flag("-fno-rtti").flag("-fno-exceptions");
    }
    if sanitize.split(',').any(|s| s == "address") {
        build.flag("-fsanitize=address");
    }
    if sanitize.split(',').any(|s| s == "thread") {
        build.flag("-fsanitize=thread");
    }
    build.compile(name);
    println!("cargo:rustc-link-lib=static:+whole-archive,-bundle={name}");
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let model = manifest.join("src/model");
    let shim = manifest.join("../shim-cpp");
    let fixtures = manifest.join("tests/fixtures");
    for dir in [&model, &shim, &fixtures, &manifest.join("include")] {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!("cargo:rerun-if-env-changed=CXX");

    archive("xnusim_model", None, &sources(&model), &manifest, false);
    archive(
        "xnusim_shim",
        Some("rustkext"),
        &sources(&shim),
        &manifest,
        true,
    );
    archive(
        "xnusim_fixture",
        Some("xnusim.fallback"),
        &sources(&fixtures),
        &manifest,
        true,
    );
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=dylib=stdc++");
    println!("cargo:rustc-link-lib=dylib=pthread");
}
