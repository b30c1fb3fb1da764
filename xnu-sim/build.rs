//! Compiles the kernel model (src/model) into a static archive with include/ (the Kernel.framework
//! look-alikes) first on the include path, and the test-only fallback kext (tests/fixtures) the
//! way every kext is compiled for the simulator (`kext/compile.rs`: its own code section, and the
//! registrar that tells the model the module exists). Kexts built with the framework are compiled
//! by their own glue crates (rustkext-build includes the same `kext/compile.rs`), so a test binary
//! has the modules of every kext crate it links. Archives are linked whole: the model calls into
//! the kexts and the kexts into the model (and into Rust), so no order would let GNU ld resolve both
//! directions from ordinary archives.
//!
//! AddressSanitizer / ThreadSanitizer: when the crate is built with `-Zsanitizer=...` (cargo
//! exposes it as `CARGO_CFG_SANITIZE`), the C++ is instrumented too; rustc links the runtime.

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

include!("kext/compile.rs");

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let model = manifest.join("src/model");
    let fixtures = manifest.join("tests/fixtures");
    for dir in [&model, &fixtures, &manifest.join("include"), &manifest.join("kext")] {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!("cargo:rerun-if-env-changed=CXX");

    let mut build = sim_build(&manifest);
    build.include(&model).include(manifest.join("kext")).files(sources(&model));
    build.out_dir(&out).compile("xnusim_model");
    println!("cargo:rustc-link-lib=static:+whole-archive,-bundle=xnusim_model");

    compile_sim_kext(
        &manifest,
        &out,
        &SimKext {
            archive: "xnusim_fixture",
            module: "xnusim.fallback",
            start: "xnusim_fallback_module_start",
            stop: "xnusim_fallback_module_stop",
            sources: sources(&fixtures),
            includes: Vec::new(),
            defines: Vec::new(),
        },
    );
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=dylib=stdc++");
    println!("cargo:rustc-link-lib=dylib=pthread");
}
