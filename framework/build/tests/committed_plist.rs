//! The repository's Info.plist is the monitor's, exactly as rustkext-build generates it from
//! kext/rustkext.toml (and the glue crate's version, the workspace's): regenerate it with
//! `scripts/rustkext.sh plist kext -o Info.plist` after changing either.

use std::path::Path;

use rustkext_build::{generate, Identity};

#[test]
fn info_plist_is_generated_from_the_monitors_rustkext_toml() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let id = Identity::load(&root.join("kext")).unwrap();
    let cargo: toml::Table = std::fs::read_to_string(root.join("Cargo.toml")).unwrap().parse().unwrap();
    let version = cargo["workspace"]["package"]["version"].as_str().unwrap();
    let committed = std::fs::read_to_string(root.join("Info.plist")).unwrap();
    let generated = generate::info_plist(&id, version);
    assert!(
        committed == generated,
        "Info.plist differs from what kext/rustkext.toml generates; run `scripts/rustkext.sh plist kext -o Info.plist`\n\
         --- committed\n{committed}\n--- generated\n{generated}"
    );
    // The monitor keeps its names.
    assert_eq!(id.service_class(), "org_rustkext_Service");
    assert_eq!(id.user_client_class(), "org_rustkext_UserClient");
    assert_eq!(id.bundle_id, "org.rustkext.RustKext");
}
