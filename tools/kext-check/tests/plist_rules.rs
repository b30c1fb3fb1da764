//! The repository's Info.plist follows the rules, and each rule rejects the mistake it exists for.

use std::path::PathBuf;

use kext_check::plist_rules::{check_plist, declared_libraries, shim_classes, REQUIRED_LIBRARIES};
use kext_check::Finding;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template() -> String {
    std::fs::read_to_string(repo().join("Info.plist")).unwrap()
}

/// The template as build.sh fills it in with the defaults.
fn filled() -> String {
    template()
        .replace("$(PRODUCT_BUNDLE_IDENTIFIER)", "org.rustkext.RustKext")
        .replace("$(EXECUTABLE_NAME)", "RustKext")
        .replace("$(BUNDLE_VERSION)", "0.1.0")
}

fn check(text: &str) -> Vec<Finding> {
    let plist = plist::Value::from_reader_xml(text.as_bytes()).unwrap();
    check_plist(&plist, &shim_classes(&repo().join("shim-cpp")).unwrap())
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
fn repository_plist_passes_as_template_and_filled_in() {
    assert_eq!(check(&template()), vec![]);
    assert_eq!(check(&filled()), vec![]);
}

#[test]
fn declares_exactly_the_four_kpis() {
    let plist = plist::Value::from_reader_xml(filled().as_bytes()).unwrap();
    let mut libs = declared_libraries(&plist);
    libs.sort();
    assert_eq!(libs, REQUIRED_LIBRARIES);
}

#[test]
fn template_keeps_the_placeholders_build_sh_and_xnu_sim_fill_in() {
    let t = template();
    for placeholder in ["$(PRODUCT_BUNDLE_IDENTIFIER)", "$(EXECUTABLE_NAME)", "$(BUNDLE_VERSION)"] {
        assert!(t.contains(placeholder), "{placeholder}");
    }
}

#[test]
fn shim_defines_the_personality_class() {
    let classes = shim_classes(&repo().join("shim-cpp")).unwrap();
    assert!(classes.iter().any(|c| c == "org_rustkext_Service"), "{classes:?}");
}

#[test]
fn io_user_client_class_is_rejected() {
    let text = filled().replace(
        "<key>IOClass</key>",
        "<key>IOUserClientClass</key>\n\t\t\t<string>org_rustkext_UserClient</string>\n\t\t\t<key>IOClass</key>",
    );
    assert_eq!(rules(&check(&text)), ["no IOUserClientClass"]);
}

#[test]
fn match_category_must_be_the_bundle_id() {
    let text = filled().replacen(
        "<key>IOMatchCategory</key>\n\t\t\t<string>org.rustkext.RustKext</string>",
        "<key>IOMatchCategory</key>\n\t\t\t<string>IODefaultMatchCategory</string>",
        1,
    );
    assert_ne!(text, filled());
    assert_eq!(rules(&check(&text)), ["IOMatchCategory = bundle id"]);
}

#[test]
fn missing_library_is_rejected() {
    let text = filled().replace("\t\t<key>com.apple.kpi.mach</key>\n\t\t<string>19.0.0</string>\n", "");
    assert_ne!(text, filled());
    let findings = check(&text);
    assert!(
        matches!(&findings[..], [Finding::Plist { rule: "OSBundleLibraries", detail }] if detail.contains("com.apple.kpi.mach")),
        "{findings:?}"
    );
}

#[test]
fn extra_library_is_rejected() {
    let text = filled().replace(
        "<key>com.apple.kpi.bsd</key>",
        "<key>com.apple.kpi.unsupported</key>\n\t\t<string>19.0.0</string>\n\t\t<key>com.apple.kpi.bsd</key>",
    );
    assert_eq!(rules(&check(&text)), ["OSBundleLibraries"]);
}

#[test]
fn library_version_must_be_the_oldest_supported_darwin() {
    // 8.0.0 would load on kernels older than the headers' vtable layout; 20.0.0 refuses 10.15.
    for version in ["8.0.0", "20.0.0"] {
        let text = filled().replacen("<string>19.0.0</string>", &format!("<string>{version}</string>"), 1);
        assert_eq!(rules(&check(&text)), ["OSBundleLibraries version"], "{version}");
    }
}

#[test]
fn io_class_must_exist_in_the_shim() {
    let text = filled().replace("org_rustkext_Service", "org_rustkext_Missing");
    assert_eq!(rules(&check(&text)), ["IOClass defined by the shim"]);
}

#[test]
fn provider_must_be_io_resources_matching_the_kexts_own_resource() {
    let text = filled().replace("<string>IOResources</string>", "<string>IOPCIDevice</string>");
    assert_eq!(rules(&check(&text)), ["personality"]);
    let own = "<key>IOResourceMatch</key>\n\t\t\t<string>org.rustkext.RustKext</string>";
    assert!(filled().contains(own));
    let text = filled().replace(own, "");
    assert_eq!(rules(&check(&text)), ["personality"]);
    // IOKit is always published: the service would restart at every rematch and the kext would
    // load at every boot (AUDIT #7, #9).
    let text = filled().replace(own, "<key>IOResourceMatch</key>\n\t\t\t<string>IOKit</string>");
    assert_eq!(rules(&check(&text)), ["personality"]);
}

#[test]
fn apple_bundle_ids_are_refused() {
    let text = filled().replace("org.rustkext.RustKext", "com.apple.RustKext");
    assert_eq!(rules(&check(&text)), ["CFBundleIdentifier"]);
}

#[test]
fn settings_must_have_their_types() {
    let text = filled().replace(
        "<key>RustKextStatsForEveryone</key>\n\t\t\t<false/>",
        "<key>RustKextStatsForEveryone</key>\n\t\t\t<integer>1</integer>",
    );
    assert_ne!(text, filled());
    assert_eq!(rules(&check(&text)), ["boolean setting"]);
}

#[test]
fn bundle_id_must_be_reverse_dns() {
    let text = filled().replace("org.rustkext.RustKext", "not a bundle id");
    assert!(rules(&check(&text)).contains(&"CFBundleIdentifier"));
}
