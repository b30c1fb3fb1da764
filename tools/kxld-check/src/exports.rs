//! xnu's KPI symbol sets: `config/<Set>.exports` + `<Set>.<arch>.exports` (+ `.MacOSX.exports`
//! where a newer tree has them) for each pseudo-kext `config/System.kext/PlugIns/<Set>.kext`,
//! read the way xnu's `SETUP/kextsymboltool` reads them (`store_symbols`): one symbol per line,
//! `#` comments, lines starting with `.` skipped, `_name:_kernel_symbol` for an export that is
//! an alias (an `N_INDR` symbol in the pseudo-kext), a trailing `*` for a prefix that is matched
//! against the kernel's symbols, and a `-obsolete` option.

use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// The name kexts link against.
    pub name: String,
    /// `_name:_kernel_symbol`: the kernel symbol that `name` stands for.
    pub alias: Option<String>,
    /// `name` ends in `*` (the `*` removed): every kernel symbol with this prefix.
    pub wildcard: bool,
    pub obsolete: bool,
}

impl Export {
    /// The kernel symbol that must exist for this export.
    pub fn kernel_symbol(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

fn is_sym_char(c: char) -> bool {
    c > ' ' && c <= '~' && c != ':' && c != '#'
}

/// One `.exports` file.
pub fn parse(text: &str) -> Result<Vec<Export>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        let rest = line.trim_start_matches(|c: char| !is_sym_char(c));
        if rest.is_empty() || rest.starts_with('.') {
            continue;
        }
        let name_len = rest.find(|c: char| !is_sym_char(c)).unwrap_or(rest.len());
        let (name, mut rest) = rest.split_at(name_len);
        let mut alias = None;
        let trimmed = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = trimmed.strip_prefix(':') {
            let after = after.trim_start_matches([' ', '\t']);
            let len = after.find(|c: char| !is_sym_char(c)).unwrap_or(after.len());
            if len == 0 {
                return Err(format!("line {}: bad format in symbol line: {line}", n + 1));
            }
            alias = Some(after[..len].to_string());
            rest = &after[len..];
        } else if !trimmed.is_empty() && !trimmed.starts_with('-') {
            return Err(format!("line {}: bad format in symbol line: {line}", n + 1));
        } else {
            rest = trimmed;
        }
        let option = rest.trim_start_matches([' ', '\t']);
        let obsolete = match option.strip_prefix('-') {
            Some(opt) => {
                let word: String = opt.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
                if word != "obsolete" {
                    return Err(format!("line {}: unknown option -{word}", n + 1));
                }
                true
            }
            None => false,
        };
        let (name, wildcard) = match name.strip_suffix('*') {
            Some(prefix) => (prefix, true),
            None => (name, false),
        };
        out.push(Export { name: name.to_string(), alias, wildcard, obsolete });
    }
    Ok(out)
}

/// A pseudo-kext of `System.kext/PlugIns` with its symbol set.
#[derive(Clone, Debug)]
pub struct SymbolSet {
    /// `IOKit`, `BSDKernel`, ... (the `.kext` directory and `.exports` file stem).
    pub set: String,
    pub bundle_id: String,
    pub executable: String,
    /// `CFBundleVersion` with the kernel version filled in.
    pub version: String,
    pub compatible_version: Option<String>,
    pub kernel_resource: bool,
    pub exports: Vec<Export>,
}

/// The kernel version of the tree (`config/MasterVersion`, the last line that is not a comment).
pub fn master_version(config: &Path) -> Result<String, String> {
    let path = config.join("MasterVersion");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .ok_or_else(|| format!("{}: no version line", path.display()))
}

fn plist_string(dict: &plist::Dictionary, key: &str) -> Option<String> {
    dict.get(key).and_then(|v| v.as_string()).map(str::to_string)
}

/// Every symbol set of `config` that has an executable and export lists for `arch`.
pub fn load(config: &Path, arch: &str) -> Result<Vec<SymbolSet>, String> {
    let kernel_version = master_version(config)?;
    let plugins = config.join("System.kext/PlugIns");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&plugins)
        .map_err(|e| format!("{}: {e} (expected xnu's config/ directory)", plugins.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    let mut sets = Vec::new();
    for dir in dirs {
        let Some(set) = dir.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { continue };
        let plist_path = dir.join("Info.plist");
        let info = plist::Value::from_file(&plist_path).map_err(|e| format!("{}: {e}", plist_path.display()))?;
        let dict = info.as_dictionary().ok_or_else(|| format!("{}: not a dictionary", plist_path.display()))?;
        let (Some(bundle_id), Some(executable)) =
            (plist_string(dict, "CFBundleIdentifier"), plist_string(dict, "CFBundleExecutable"))
        else {
            continue; // codeless (e.g. AppleNMI): no symbol set
        };
        let mut exports = Vec::new();
        let mut found = false;
        for file in [format!("{set}.exports"), format!("{set}.{arch}.exports"), format!("{set}.{arch}.MacOSX.exports")] {
            let path = config.join(&file);
            if let Ok(text) = std::fs::read_to_string(&path) {
                found = true;
                exports.extend(parse(&text).map_err(|e| format!("{}: {e}", path.display()))?);
            }
        }
        if !found {
            continue; // e.g. Kasan.kext: its list lives elsewhere and only KASAN kernels have it
        }
        let fill = |s: String| {
            s.replace("###KERNEL_VERSION_LONG###", &kernel_version)
                .replace("###KERNEL_VERSION_SHORT###", &kernel_version)
        };
        sets.push(SymbolSet {
            set,
            bundle_id,
            executable,
            version: fill(plist_string(dict, "CFBundleVersion").unwrap_or_default()),
            compatible_version: plist_string(dict, "OSBundleCompatibleVersion").map(fill),
            kernel_resource: dict.get("OSKernelResource").and_then(|v| v.as_boolean()).unwrap_or(false),
            exports,
        });
    }
    if sets.is_empty() {
        return Err(format!("{}: no symbol set with export lists for {arch}", plugins.display()));
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kextsymboltool_lines() {
        let text = "# comment\n\n_plain\n_name:_kernel_name\n_spaced : _target\n__ZN5Thing*\n.hidden\n_old -obsolete\n  _indented\n";
        let e = parse(text).unwrap_or_default();
        let names: Vec<_> = e.iter().map(|x| (x.name.as_str(), x.alias.as_deref(), x.wildcard, x.obsolete)).collect();
        assert_eq!(
            names,
            vec![
                ("_plain", None, false, false),
                ("_name", Some("_kernel_name"), false, false),
                ("_spaced", Some("_target"), false, false),
                ("__ZN5Thing", None, true, false),
                ("_old", None, false, true),
                ("_indented", None, false, false),
            ]
        );
        assert_eq!(e.get(1).map(Export::kernel_symbol), Some("_kernel_name"));
    }

    #[test]
    fn refuses_bad_lines() {
        assert!(parse("_a:\n").is_err());
        assert!(parse("_a junk\n").is_err());
        assert!(parse("_a -weird\n").is_err());
    }

    #[test]
    fn loads_a_config_directory() {
        let dir = std::env::temp_dir().join(format!("kxld-check-exports-{}", std::process::id()));
        let plugin = dir.join("System.kext/PlugIns/Toy.kext");
        let codeless = dir.join("System.kext/PlugIns/Codeless.kext");
        std::fs::create_dir_all(&plugin).unwrap_or_default();
        std::fs::create_dir_all(&codeless).unwrap_or_default();
        let plist = |id: &str, exe: Option<&str>| {
            format!(
                "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>CFBundleIdentifier</key><string>{id}</string>{}\
                 <key>CFBundleVersion</key><string>###KERNEL_VERSION_LONG###</string>\
                 <key>OSBundleCompatibleVersion</key><string>8.0</string><key>OSKernelResource</key><true/></dict></plist>",
                exe.map(|e| format!("<key>CFBundleExecutable</key><string>{e}</string>")).unwrap_or_default()
            )
        };
        let write = |p: PathBuf, s: String| std::fs::write(p, s).unwrap_or_default();
        write(plugin.join("Info.plist"), plist("com.example.kpi.toy", Some("Toy")));
        write(codeless.join("Info.plist"), plist("com.example.codeless", None));
        write(dir.join("MasterVersion"), "# version\n19.6.0\n".into());
        write(dir.join("Toy.exports"), "_a\n".into());
        write(dir.join("Toy.x86_64.exports"), "_b:_c\n".into());
        write(dir.join("Toy.arm64.exports"), "_not_this_arch\n".into());
        let sets = load(&dir, "x86_64").unwrap_or_default();
        std::fs::remove_dir_all(&dir).unwrap_or_default();
        assert_eq!(sets.len(), 1);
        let toy = &sets[0];
        assert_eq!((toy.set.as_str(), toy.bundle_id.as_str(), toy.version.as_str()), ("Toy", "com.example.kpi.toy", "19.6.0"));
        assert_eq!(toy.compatible_version.as_deref(), Some("8.0"));
        assert!(toy.kernel_resource);
        let names: Vec<_> = toy.exports.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["_a", "_b"]);
    }
}
