//! The `plist` check: the rules the Info.plist of a kext built with the framework must follow
//! (docs/kernel-facts.md, docs/architecture.md). rustkext-build generates it from the kext's rustkext.toml; this
//! checks the result, whatever wrote it. The KPIs are the plist's own (`OSBundleLibraries`; the
//! `imports` check then holds the objects to them), the classes the ones the shim is compiled
//! with (`--classes`, from `rustkext identity`).

use plist::{Dictionary, Value};

use crate::Finding;

/// The only bundles a kext built with the framework links against: KPIs.
pub const KPI_PREFIX: &str = "com.apple.kpi.";

/// Darwin major version of the oldest supported macOS (19 = 10.15). KPI versions are declared as
/// this, so the kext refuses older kernels, whose vtable layout differs from the headers'.
pub const OLDEST_DARWIN_MAJOR: u64 = 19;


/// Bundle ids kextunload never terminates.
pub const APPLE_PREFIX: &str = "com.apple.";

/// The bundle identifiers of OSBundleLibraries.
pub fn declared_libraries(plist: &Value) -> Vec<String> {
    plist
        .as_dictionary()
        .and_then(|d| d.get("OSBundleLibraries"))
        .and_then(Value::as_dictionary)
        .map(|libs| libs.keys().cloned().collect())
        .unwrap_or_default()
}

/// The rules; `shim_classes`: the classes the shim is compiled with (the service class first).
pub fn check_plist(plist: &Value, shim_classes: &[String]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut fail = |rule: &'static str, detail: String| findings.push(Finding::Plist { rule, detail });
    let Some(root) = plist.as_dictionary() else {
        fail("root", "the top level is not a dictionary".into());
        return findings;
    };

    if string(root, "CFBundlePackageType") != Some("KEXT") {
        fail("CFBundlePackageType", "must be KEXT".into());
    }
    for key in ["CFBundleExecutable", "CFBundleVersion", "CFBundleShortVersionString"] {
        if string(root, key).is_none_or(str::is_empty) {
            fail("required key", format!("{key} is missing or empty"));
        }
    }
    let bundle_id = string(root, "CFBundleIdentifier").unwrap_or("");
    if !valid_bundle_id(bundle_id) {
        fail(
            "CFBundleIdentifier",
            format!("{bundle_id:?} must be reverse-DNS ([A-Za-z0-9-] labels joined by '.'), at most 63 bytes"),
        );
    }
    if bundle_id.starts_with(APPLE_PREFIX) {
        // xnu's IOCatalogue::terminateDrivers refuses these before calling terminate(): such a kext
        // could never be unloaded (xnu-6153.141.1 .. xnu-11417.101.15).
        fail("CFBundleIdentifier", format!("{bundle_id:?}: {APPLE_PREFIX} bundle ids are Apple's and can never be unloaded"));
    }
    if root.contains_key("IOUserClientClass") {
        fail("no IOUserClientClass", "found at the top level".into());
    }

    match root.get("IOKitPersonalities").and_then(Value::as_dictionary) {
        Some(personalities) if personalities.len() == 1 => {
            for (name, personality) in personalities {
                match personality.as_dictionary() {
                    Some(p) => check_personality(name, p, bundle_id, shim_classes, &mut fail),
                    None => fail("IOKitPersonalities", format!("{name} is not a dictionary")),
                }
            }
        }
        Some(p) => fail("IOKitPersonalities", format!("must hold exactly one personality, has {}", p.len())),
        None => fail("IOKitPersonalities", "missing".into()),
    }

    check_libraries(root, &mut fail);
    findings
}

fn check_personality(
    name: &str,
    p: &Dictionary,
    bundle_id: &str,
    shim_classes: &[String],
    fail: &mut impl FnMut(&'static str, String),
) {
    let expect = |key: &str, want: &str, fail: &mut dyn FnMut(&'static str, String)| {
        if string(p, key) != Some(want) {
            fail("personality", format!("{name}: {key} is {:?}, must be {want:?}", string(p, key)));
        }
    };
    expect("IOProviderClass", "IOResources", fail);
    // The kext's own resource, which only its module start publishes: the service starts when the
    // kext is loaded on purpose, never at a rematch, after autounload or at boot (README).
    expect("IOResourceMatch", bundle_id, fail);
    expect("CFBundleIdentifier", bundle_id, fail);
    if string(p, "IOMatchCategory") != Some(bundle_id) {
        fail(
            "IOMatchCategory = bundle id",
            format!("{name}: IOMatchCategory is {:?}, CFBundleIdentifier is {bundle_id:?}", string(p, "IOMatchCategory")),
        );
    }
    match string(p, "IOClass") {
        Some(class) if shim_classes.iter().any(|c| c == class) => {}
        other => fail(
            "IOClass defined by the shim",
            format!("{name}: IOClass {other:?} is not one of the shim's classes {shim_classes:?}"),
        ),
    }
    if p.contains_key("IOUserClientClass") {
        fail(
            "no IOUserClientClass",
            format!("{name}: a refused open would fall back to the default user client"),
        );
    }
}

fn check_libraries(root: &Dictionary, fail: &mut impl FnMut(&'static str, String)) {
    let Some(libs) = root.get("OSBundleLibraries").and_then(Value::as_dictionary) else {
        fail("OSBundleLibraries", "missing".into());
        return;
    };
    if libs.is_empty() {
        fail("OSBundleLibraries", "empty: a kext links against at least one KPI".into());
    }
    for (bundle, version) in libs {
        if !bundle.starts_with(KPI_PREFIX) {
            fail("OSBundleLibraries", format!("{bundle} is not a KPI ({KPI_PREFIX}*)"));
            continue;
        }
        let major = version.as_string().and_then(|v| v.split('.').next()).and_then(|m| m.parse::<u64>().ok());
        if major != Some(OLDEST_DARWIN_MAJOR) {
            fail(
                "OSBundleLibraries version",
                format!(
                    "{bundle} = {version:?}; must be {OLDEST_DARWIN_MAJOR}.x (the Darwin version of macOS 10.15, \
                     the oldest supported)"
                ),
            );
        }
    }
}

fn valid_bundle_id(id: &str) -> bool {
    let labels: Vec<&str> = id.split('.').collect();
    id.len() <= 63
        && labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

fn string<'a>(d: &'a Dictionary, key: &str) -> Option<&'a str> {
    d.get(key).and_then(Value::as_string)
}
