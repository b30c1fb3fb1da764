//! The libraries a kext links against, found the way the kernel finds them.
//!
//! A `System.kext/PlugIns` directory (the model's, or a Mac's
//! `/System/Library/Extensions/System.kext/PlugIns`) holds one bundle per KPI pseudo-kext, its
//! `Info.plist` flat in the bundle (as xnu's config/Makefile installs them) or under
//! `Contents/`. The kext's `OSBundleLibraries` are resolved like `OSKext::resolveDependencies`
//! (libkern/c++/OSKext.cpp, 10.15): each identifier must name a loaded library, and the
//! declared version must be one that library is compatible with (`crate::version`).

use std::path::{Path, PathBuf};

use crate::version;

#[derive(Clone, Debug)]
pub struct Library {
    pub id: String,
    pub version: String,
    pub compatible_version: Option<String>,
    /// `OSKernelResource`: a pseudo-kext whose symbols are the kernel's (its `interface`).
    pub kernel_resource: bool,
    pub executable: Option<PathBuf>,
    pub bundle: PathBuf,
}

fn string(d: &plist::Dictionary, key: &str) -> Option<String> {
    d.get(key).and_then(|v| v.as_string()).map(str::to_string)
}

/// Every bundle of a PlugIns directory that has an Info.plist with an identifier.
pub fn scan(dir: &Path) -> Result<Vec<Library>, String> {
    let mut bundles: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "kext"))
        .collect();
    bundles.sort();
    let mut out = Vec::new();
    for bundle in bundles {
        let (plist_path, exe_dir) = if bundle.join("Contents/Info.plist").is_file() {
            (bundle.join("Contents/Info.plist"), bundle.join("Contents/MacOS"))
        } else {
            (bundle.join("Info.plist"), bundle.clone())
        };
        let Ok(value) = plist::Value::from_file(&plist_path) else { continue };
        let Some(d) = value.as_dictionary() else { continue };
        let Some(id) = string(d, "CFBundleIdentifier") else { continue };
        out.push(Library {
            id,
            version: string(d, "CFBundleVersion").unwrap_or_default(),
            compatible_version: string(d, "OSBundleCompatibleVersion"),
            kernel_resource: d.get("OSKernelResource").and_then(|v| v.as_boolean()).unwrap_or(false),
            executable: string(d, "CFBundleExecutable").map(|e| exe_dir.join(e)),
            bundle,
        });
    }
    if out.is_empty() {
        return Err(format!("{}: no kext bundles with an Info.plist (expected System.kext/PlugIns)", dir.display()));
    }
    Ok(out)
}

/// The kext's identifier and `OSBundleLibraries` (identifier, declared version), in plist order.
pub fn kext_identity(plist: &plist::Value) -> Result<(String, Vec<(String, String)>), String> {
    let d = plist.as_dictionary().ok_or("the kext's Info.plist is not a dictionary")?;
    let id = string(d, "CFBundleIdentifier").ok_or("the kext's Info.plist has no CFBundleIdentifier")?;
    let libs = d
        .get("OSBundleLibraries")
        .and_then(|v| v.as_dictionary())
        .filter(|l| !l.is_empty())
        .ok_or_else(|| format!("Kext {id} - can't resolve dependencies; OSBundleLibraries missing/invalid type."))?;
    let mut out = Vec::new();
    for (lib, v) in libs {
        let v = v.as_string().ok_or_else(|| format!("Kext {id} - illegal type in OSBundleLibraries."))?;
        out.push((lib.clone(), v.to_string()));
    }
    Ok((id, out))
}

/// The libraries for `declared`, or every reason the kernel would refuse (OSKext's wording).
pub fn resolve<'a>(kext_id: &str, declared: &[(String, String)], libraries: &'a [Library]) -> Result<Vec<&'a Library>, Vec<String>> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for (id, want) in declared {
        if version::parse(want).is_none() {
            errors.push(format!("Kext {kext_id} - invalid library version {want}."));
            continue;
        }
        let Some(lib) = libraries.iter().find(|l| &l.id == id) else {
            errors.push(format!("Kext {kext_id} - library kext {id} not found."));
            continue;
        };
        if let Some(why) = version::incompatibility(id, want, &lib.version, lib.compatible_version.as_deref()) {
            errors.push(format!("Kext {kext_id} - {why}."));
            continue;
        }
        if !lib.kernel_resource {
            errors.push(format!(
                "Kext {kext_id} - library {id} is not a kernel resource (OSKernelResource): this check links \
                 against the kernel's KPI pseudo-kexts only"
            ));
            continue;
        }
        if lib.executable.as_ref().is_none_or(|p| !p.is_file()) {
            errors.push(format!("Kext {kext_id} - library kext {id} has no executable in {}", lib.bundle.display()));
            continue;
        }
        found.push(lib);
    }
    if errors.is_empty() { Ok(found) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib(id: &str, version: &str, compat: &str) -> Library {
        Library {
            id: id.into(),
            version: version.into(),
            compatible_version: Some(compat.into()),
            kernel_resource: true,
            executable: Some(PathBuf::from("/bin/sh")), // any existing file
            bundle: PathBuf::from("/nonexistent"),
        }
    }

    #[test]
    fn resolves_declared_libraries() {
        let libs = vec![lib("com.apple.kpi.iokit", "19.6.0", "7.0"), lib("com.apple.kpi.bsd", "19.6.0", "8.0")];
        let want = vec![("com.apple.kpi.bsd".to_string(), "19.0.0".to_string())];
        let got = resolve("org.example.K", &want, &libs).unwrap_or_default();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, "com.apple.kpi.bsd");
    }

    #[test]
    fn refuses_like_the_kernel() {
        let libs = vec![lib("com.apple.kpi.iokit", "19.6.0", "7.0")];
        let want = vec![
            ("com.apple.kpi.iokit".to_string(), "20.0.0".to_string()),
            ("com.apple.kpi.nope".to_string(), "19.0.0".to_string()),
            ("com.apple.kpi.iokit".to_string(), "x".to_string()),
        ];
        let errs = resolve("org.example.K", &want, &libs).err().unwrap_or_default();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].starts_with("Kext org.example.K - library kext com.apple.kpi.iokit not compatible with requested version 20.0.0"));
        assert_eq!(errs[1], "Kext org.example.K - library kext com.apple.kpi.nope not found.");
        assert_eq!(errs[2], "Kext org.example.K - invalid library version x.");
    }

    #[test]
    fn scans_flat_and_contents_bundles() {
        // xnu installs the pseudo-kexts flat (IOKit.kext/Info.plist, IOKit.kext/IOKit); a
        // bundle with Contents/ (Info.plist, MacOS/<exe>) is read too; no plist: skipped.
        let dir = std::env::temp_dir().join(format!("kxld-check-plugins-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let plist = |id: &str, exe: &str| {
            format!(
                "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>CFBundleIdentifier</key><string>{id}</string>\
                 <key>CFBundleExecutable</key><string>{exe}</string><key>CFBundleVersion</key><string>19.6.0</string>\
                 <key>OSBundleCompatibleVersion</key><string>8.0</string><key>OSKernelResource</key><true/></dict></plist>"
            )
        };
        let w = |p: PathBuf, s: String| {
            std::fs::create_dir_all(p.parent().unwrap_or(&dir)).unwrap_or_default();
            std::fs::write(p, s).unwrap_or_default();
        };
        w(dir.join("Flat.kext/Info.plist"), plist("com.example.flat", "Flat"));
        w(dir.join("Flat.kext/Flat"), "x".into());
        w(dir.join("Deep.kext/Contents/Info.plist"), plist("com.example.deep", "Deep"));
        w(dir.join("Deep.kext/Contents/MacOS/Deep"), "x".into());
        w(dir.join("Empty.kext/readme"), "no plist".into());
        let libs = scan(&dir).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        let got: Vec<(String, Option<PathBuf>)> =
            libs.iter().map(|l| (l.id.clone(), l.executable.as_ref().and_then(|e| e.strip_prefix(&dir).ok()).map(PathBuf::from))).collect();
        assert_eq!(
            got,
            vec![
                ("com.example.deep".to_string(), Some(PathBuf::from("Deep.kext/Contents/MacOS/Deep"))),
                ("com.example.flat".to_string(), Some(PathBuf::from("Flat.kext/Flat"))),
            ]
        );
        assert!(libs.iter().all(|l| l.kernel_resource && l.version == "19.6.0"));
    }

    #[test]
    fn reads_os_bundle_libraries_in_order() {
        let xml = r#"<?xml version="1.0"?><plist version="1.0"><dict>
            <key>CFBundleIdentifier</key><string>org.example.K</string>
            <key>OSBundleLibraries</key><dict>
              <key>com.apple.kpi.mach</key><string>19.0.0</string>
              <key>com.apple.kpi.bsd</key><string>19.0.0</string>
            </dict></dict></plist>"#;
        let v = plist::Value::from_reader_xml(xml.as_bytes()).unwrap_or(plist::Value::Boolean(false));
        let (id, libs) = kext_identity(&v).unwrap_or_default();
        assert_eq!(id, "org.example.K");
        assert_eq!(libs, vec![("com.apple.kpi.mach".into(), "19.0.0".into()), ("com.apple.kpi.bsd".into(), "19.0.0".into())]);
        let empty = plist::Value::from_reader_xml(
            r#"<?xml version="1.0"?><plist version="1.0"><dict><key>CFBundleIdentifier</key><string>x</string></dict></plist>"#.as_bytes(),
        )
        .unwrap_or(plist::Value::Boolean(false));
        assert!(kext_identity(&empty).is_err());
    }
}
