//! xnu's KPI export lists (`config/` of apple-oss-distributions/xnu).
//!
//! Each pseudo-kext under `config/System.kext/PlugIns/<Set>.kext` names a bundle identifier
//! (`com.apple.kpi.iokit` -> `IOKit`). The symbols that bundle exports on an architecture are
//! those of `<Set>.exports`, `<Set>.<arch>.exports` and `<Set>.<arch>.MacOSX.exports`, as xnu's
//! `config/Makefile` builds the symbol sets. A line is `_symbol` or `_symbol:_kernel_alias`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::arch::Arch;

pub struct ExportLists {
    /// Bundle identifier -> exported symbols (plain names and `prefix*` patterns).
    pub bundles: BTreeMap<String, Exports>,
}

#[derive(Default)]
pub struct Exports {
    names: HashSet<String>,
    prefixes: Vec<String>,
}

impl Exports {
    pub fn exports(&self, symbol: &str) -> bool {
        self.names.contains(symbol) || self.prefixes.iter().any(|p| symbol.starts_with(p.as_str()))
    }

    pub fn len(&self) -> usize {
        self.names.len() + self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn add_list(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            // `_symbol:_alias`: kexts link against the name left of the colon.
            let name = line.split(':').next().unwrap_or("").trim();
            if name.is_empty() {
                continue;
            }
            match name.strip_suffix('*') {
                Some(prefix) => self.prefixes.push(prefix.to_string()),
                None => {
                    self.names.insert(name.to_string());
                }
            }
        }
    }
}

pub fn load(config: &Path, arch: Arch) -> Result<ExportLists, String> {
    if arch == Arch::Arm64e && !config.join("MASTER.arm64.MacOSX").exists() {
        return Err(format!(
            "{}: this xnu has no arm64 macOS configuration (MASTER.arm64.MacOSX); arm64e macOS starts \
             with xnu-7195 (macOS 11)",
            config.display()
        ));
    }
    let plugins = config.join("System.kext/PlugIns");
    let entries = std::fs::read_dir(&plugins).map_err(|e| {
        format!("{}: {e} (XNU_EXPORTS must be the config/ directory of an xnu source tree)", plugins.display())
    })?;
    let mut bundles = BTreeMap::new();
    for entry in entries {
        let dir = entry.map_err(|e| e.to_string())?.path();
        let Some(set) = dir.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { continue };
        let plist_path = dir.join("Info.plist");
        let Ok(info) = plist::Value::from_file(&plist_path) else { continue };
        let Some(id) = info
            .as_dictionary()
            .and_then(|d| d.get("CFBundleIdentifier"))
            .and_then(|v| v.as_string())
        else {
            continue;
        };
        let mut exports = Exports::default();
        let arch_name = arch.exports_name();
        for file in [
            format!("{set}.exports"),
            format!("{set}.{arch_name}.exports"),
            format!("{set}.{arch_name}.MacOSX.exports"),
        ] {
            if let Ok(text) = std::fs::read_to_string(config.join(&file)) {
                exports.add_list(&text);
            }
        }
        bundles.insert(id.to_string(), exports);
    }
    if bundles.is_empty() {
        return Err(format!("{}: no KPI bundles found", plugins.display()));
    }
    Ok(ExportLists { bundles })
}
