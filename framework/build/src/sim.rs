//! The simulator build of a kext: the one shim (shim-cpp/) compiled with the kext's names against
//! xnu-sim's look-alike headers, with xnu-sim's registrar, as xnu-sim compiles every kext
//! (`xnu-sim/kext/compile.rs`, included here: one definition).

use std::path::Path;

use crate::Identity;

include!("../../../xnu-sim/kext/compile.rs");

/// Compiles the shim for `id` into `out` and links it whole.
pub(crate) fn compile_shim(id: &Identity, out: &Path) {
    let root = crate::framework_root();
    let shim = root.join("shim-cpp");
    let sim = root.join("xnu-sim");
    for dir in [&shim, &sim.join("include"), &sim.join("kext")] {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!("cargo:rerun-if-env-changed=CXX");
    let mut sources: Vec<std::path::PathBuf> = std::fs::read_dir(&shim)
        .unwrap_or_else(|e| panic!("rustkext-build: reading {}: {e}", shim.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cpp"))
        .collect();
    sources.sort();
    let defines = id
        .shim_defines()
        .into_iter()
        .map(|d| {
            let d = d.trim_start_matches("-D");
            let (name, value) = d.split_once('=').expect("NAME=VALUE");
            (name.to_string(), value.to_string())
        })
        .collect();
    let start = id.module_start();
    let stop = id.module_stop();
    compile_sim_kext(
        &sim,
        out,
        &SimKext {
            archive: &format!("rkshim_{}", id.class_prefix),
            module: &id.bundle_id,
            start: &start,
            stop: &stop,
            sources,
            includes: vec![shim],
            defines,
        },
    );
}
