//! The repository's Info.plist (the monitor's, generated from kext/rustkext.toml) follows the
//! rules, and each rule rejects the mistake it exists for.

use std::path::PathBuf;

use kext_check::plist_rules::{check_plist, declared_libraries};
use kext_check::Finding;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn monitor() -> String {
    std::fs::read_to_string(repo().join("Info.plist")).unwrap()
}

/// The classes the shim is compiled with for the monitor (`rustkext identity kext`).
fn classes() -> Vec<String> {
    vec!["org_rustkext_Service".into(), "org_rustkext_UserClient".into()]
}

fn check(text: &str) -> Vec<Finding> {
    let plist = plist::Value::from_reader_xml(text.as_bytes()).unwrap();
    check_plist(&plist, &classes())
}

fn rules(findings: &[Finding]) -> Vec<&'static str> {
    findings
        .iter()
        .map(|f| match f {
            Finding::Plist { rule, .. } => *rule,
            other => panic!("not a plist finding: {other:?}"),
        })
        .collect()
}

#[test]
fn repository_plist_passes() {
    assert_eq!(check(&monitor()), vec![]);
}

#[test]
fn the_kpis_are_the_plists_own() {
    let plist = plist::Value::from_reader_xml(monitor().as_bytes()).unwrap();
    let mut libs = declared_libraries(&plist);
    libs.sort();
    assert_eq!(libs, ["com.apple.kpi.bsd", "com.apple.kpi.iokit", "com.apple.kpi.libkern", "com.apple.kpi.mach"]);
    // Another KPI set is another kext's business (the imports check holds the objects to it).
    let fewer = monitor().replace("\t\t<key>com.apple.kpi.mach</key>\n\t\t<string>19.0.0</string>\n", "");
    assert_ne!(fewer, monitor());
    assert_eq!(check(&fewer), vec![]);
}

#[test]
fn io_user_client_class_is_rejected() {
    let text = monitor().replace(
        "<key>IOClass</key>",
        "<key>IOUserClientClass</key>\n\t\t\t<string>org_rustkext_UserClient</string>\n\t\t\t<key>IOClass</key>",
    );
    assert_eq!(rules(&check(&text)), ["no IOUserClientClass"]);
}

#[test]
fn match_category_must_be_the_bundle_id() {
    let text = monitor().replacen(
        "<key>IOMatchCategory</key>\n\t\t\t<string>org.rustkext.RustKext</string>",
        "<key>IOMatchCategory</key>\n\t\t\t<string>IODefaultMatchCategory</string>",
        1,
    );
    assert_ne!(text, monitor());
    assert_eq!(rules(&check(&text)), ["IOMatchCategory = bundle id"]);
}

#[test]
fn no_library_or_a_library_that_is_not_a_kpi_is_rejected() {
    let start = monitor().find("\t\t<key>com.apple.kpi.bsd</key>").unwrap();
    let end = monitor().find("\t</dict>\n</dict>").unwrap();
    let mut empty = monitor();
    empty.replace_range(start..end, "");
    let findings = check(&empty);
    assert!(
        matches!(&findings[..], [Finding::Plist { rule: "OSBundleLibraries", detail }] if detail.contains("empty")),
        "{findings:?}"
    );
    let text = monitor().replace(
        "<key>com.apple.kpi.bsd</key>",
        "<key>com.example.Other</key>\n\t\t<string>19.0.0</string>\n\t\t<key>com.apple.kpi.bsd</key>",
    );
    assert_eq!(rules(&check(&text)), ["OSBundleLibraries"]);
}

#[test]
fn library_version_must_be_the_oldest_supported_darwin() {
    // 8.0.0 would load on kernels older than the headers' vtable layout; 20.0.0 refuses 10.15.
    for version in ["8.0.0", "20.0.0"] {
        let text = monitor().replacen("<string>19.0.0</string>", &format!("<string>{version}</string>"), 1);
        assert_eq!(rules(&check(&text)), ["OSBundleLibraries version"], "{version}");
    }
}

#[test]
fn io_class_must_be_the_shims_service_class() {
    let text = monitor().replace("org_rustkext_Service", "org_rustkext_Missing");
    assert_eq!(rules(&check(&text)), ["IOClass defined by the shim"]);
}

#[test]
fn provider_must_be_io_resources_matching_the_kexts_own_resource() {
    let text = monitor().replace("<string>IOResources</string>", "<string>IOPCIDevice</string>");
    assert_eq!(rules(&check(&text)), ["personality"]);
    let own = "<key>IOResourceMatch</key>\n\t\t\t<string>org.rustkext.RustKext</string>";
    assert!(monitor().contains(own));
    let text = monitor().replace(own, "");
    assert_eq!(rules(&check(&text)), ["personality"]);
    // IOKit is always published: the service would restart at every rematch and the kext would
    // load at every boot (AUDIT #7, #9).
    let text = monitor().replace(own, "<key>IOResourceMatch</key>\n\t\t\t<string>IOKit</string>");
    assert_eq!(rules(&check(&text)), ["personality"]);
}

#[test]
fn apple_bundle_ids_are_refused() {
    let text = monitor().replace("org.rustkext.RustKext", "com.apple.RustKext");
    assert_eq!(rules(&check(&text)), ["CFBundleIdentifier"]);
}
