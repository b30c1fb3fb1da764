//! RustKext's build support (host only). See framework/build/README.md.
//!
//! - [`Identity`]: a kext's `rustkext.toml`, validated, and every name derived from it;
//! - [`generate`]: the Info.plist (the `plist` crate), the kmod glue, the glue crate's identity;
//! - [`glue_crate`] and [`api_crate`]: the one line of a kext's build scripts;
//! - [`scaffold`]: `rustkext new`;
//! - the `rustkext` command (src/main.rs) for build.sh and authors.

pub mod generate;
pub mod identity;
pub mod scaffold;
mod sim;

use std::path::{Path, PathBuf};

pub use identity::{Identity, IdentityError};

/// The checkout this crate was built from: the framework's shim, templates and simulator.
pub fn framework_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("rustkext-build: {name} is not set (run from a build script)"))
}

fn identity_here() -> Identity {
    let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    Identity::find(&manifest).unwrap_or_else(|e| panic!("rustkext-build: {e}"))
}

/// The build script of a kext's api crate (`fn main() { rustkext_build::api_crate() }`): tells
/// the generated client which service to open (`RUSTKEXT_SERVICE_CLASS`, `RUSTKEXT_BUNDLE_ID`),
/// from the nearest `rustkext.toml`.
pub fn api_crate() {
    let id = identity_here();
    println!("cargo:rerun-if-changed={}", id.dir.join(identity::FILE).display());
    println!("cargo:rustc-env=RUSTKEXT_SERVICE_CLASS={}", id.service_class());
    println!("cargo:rustc-env=RUSTKEXT_BUNDLE_ID={}", id.bundle_id);
    // The personality keys of the settings (empty: not read), for clients that read the
    // configuration back from the service's registry properties.
    let keys = &id.settings;
    for (name, key) in [
        ("MAX_CLIENTS", &keys.max_clients),
        ("ADMIN_ONLY", &keys.admin_only),
        ("OBSERVERS_FOR_EVERYONE", &keys.observers_for_everyone),
    ] {
        println!("cargo:rustc-env=RUSTKEXT_KEY_{name}={}", key.as_deref().unwrap_or(""));
    }
}

/// The build script of a kext's glue crate (`fn main() { rustkext_build::glue_crate() }`):
/// the identity for `rustkext::export!` (`RUSTKEXT_SYMBOL_PREFIX`, `$OUT_DIR/rustkext_kext.rs`
/// with the generated Info.plist) and, in a host build (no `kernel` feature), the one shim
/// compiled with the kext's names for xnu-sim, linked whole into whatever links the crate.
pub fn glue_crate() {
    let id = identity_here();
    let out = PathBuf::from(env("OUT_DIR"));
    let version = env("CARGO_PKG_VERSION");
    println!("cargo:rerun-if-changed={}", id.dir.join(identity::FILE).display());
    println!("cargo:rustc-env=RUSTKEXT_SYMBOL_PREFIX={}", id.symbol_prefix());
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("rustkext-build: writing {}: {e}", path.display()));
    };
    write("rustkext_kext.rs", generate::identity_rs(&id, &version));
    write("Info.plist", generate::info_plist(&id, &version));
    if std::env::var_os("CARGO_FEATURE_KERNEL").is_none() {
        sim::compile_shim(&id, &out);
    }
}
