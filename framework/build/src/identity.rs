//! `rustkext.toml`: a kext's identity, in one place, and every name derived from it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The file a kext's identity lives in, next to its crates.
pub const FILE: &str = "rustkext.toml";

/// A personality property value (it keeps its plist type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PropertyValue {
    /// `<integer>`.
    Integer(i64),
    /// `<true/>`/`<false/>`.
    Bool(bool),
    /// `<string>`.
    String(String),
}

/// The framework settings and the personality keys they are read from (`[settings]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingKeys {
    /// `max-clients`.
    pub max_clients: Option<String>,
    /// `admin-only`.
    pub admin_only: Option<String>,
    /// `observers-for-everyone`.
    pub observers_for_everyone: Option<String>,
}

/// A kext's identity: what `rustkext.toml` says, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The directory of `rustkext.toml` (the kext's root).
    pub dir: PathBuf,
    /// `CFBundleIdentifier`: reverse-DNS, at most 63 bytes, not `com.apple.`.
    pub bundle_id: String,
    /// `CFBundleName`, `CFBundleExecutable`, the personality's name, the log prefix's name.
    pub name: String,
    /// The C identifier every class and symbol name starts with.
    pub class_prefix: String,
    /// `OSBundleLibraries`: KPI bundle → version.
    pub libraries: BTreeMap<String, String>,
    /// Extra personality properties, typed.
    pub personality: BTreeMap<String, PropertyValue>,
    /// The settings' keys.
    pub settings: SettingKeys,
    /// Linked Rust `__TEXT,__text` budgets by architecture (`[size-budget]`), optional.
    pub size_budget: BTreeMap<String, u64>,
}

/// What is wrong with a `rustkext.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityError(pub String);

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IdentityError {}

fn err<T>(message: impl Into<String>) -> Result<T, IdentityError> {
    Err(IdentityError(message.into()))
}

/// Whether `id` is a bundle identifier a kext may have: reverse-DNS labels of `[A-Za-z0-9-]`
/// joined by `.`, at least two, at most 63 bytes (`kmod_info_t.name` is `char[64]`).
pub fn valid_bundle_id(id: &str) -> bool {
    let labels: Vec<&str> = id.split('.').collect();
    id.len() <= 63
        && labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// Whether `s` is a C identifier.
pub fn valid_c_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `v` is a version a plist and `kmod_info` take (`1`, `1.2`, `1.2.3`, with an optional
/// `d`/`a`/`b`/`f` + number suffix).
pub fn valid_version(v: &str) -> bool {
    let (numbers, suffix) = match v.find(['d', 'a', 'b', 'f']) {
        Some(at) => (&v[..at], &v[at + 1..]),
        None => (v, "0"),
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    (1..=3).contains(&parts.len())
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && !suffix.is_empty()
        && suffix.chars().all(|c| c.is_ascii_digit())
}

/// The default class prefix of a bundle id: `.` and `-` become `_`.
pub fn default_class_prefix(bundle_id: &str) -> String {
    bundle_id.replace(['.', '-'], "_")
}

fn string(table: &toml::Table, key: &str, what: &str) -> Result<Option<String>, IdentityError> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => err(format!("{what}.{key} must be a string, is {}", other.type_str())),
    }
}

impl Identity {
    /// Reads and validates `dir/rustkext.toml`.
    pub fn load(dir: &Path) -> Result<Identity, IdentityError> {
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| IdentityError(format!("{}: {e}", path.display())))?;
        Identity::parse(dir, &text).map_err(|e| IdentityError(format!("{}: {e}", path.display())))
    }

    /// The kext whose `rustkext.toml` is in `start` or the nearest directory above it.
    pub fn find(start: &Path) -> Result<Identity, IdentityError> {
        let mut dir = Some(start);
        while let Some(d) = dir {
            if d.join(FILE).is_file() {
                return Identity::load(d);
            }
            dir = d.parent();
        }
        err(format!("no {FILE} in {} or above it", start.display()))
    }

    /// Parses and validates the text of a `rustkext.toml` found in `dir`.
    pub fn parse(dir: &Path, text: &str) -> Result<Identity, IdentityError> {
        let root: toml::Table = text.parse().map_err(|e: toml::de::Error| IdentityError(e.to_string()))?;
        for key in root.keys() {
            if !["kext", "libraries", "personality", "settings", "size-budget"].contains(&key.as_str()) {
                return err(format!("unknown section [{key}] (kext, libraries, personality, settings, size-budget)"));
            }
        }
        let table = |name: &str| -> Result<toml::Table, IdentityError> {
            match root.get(name) {
                None => Ok(toml::Table::new()),
                Some(toml::Value::Table(t)) => Ok(t.clone()),
                Some(_) => err(format!("[{name}] must be a table")),
            }
        };
        let kext = table("kext")?;
        for key in kext.keys() {
            if !["bundle-id", "name", "class-prefix"].contains(&key.as_str()) {
                return err(format!("unknown key kext.{key} (bundle-id, name, class-prefix)"));
            }
        }
        let Some(bundle_id) = string(&kext, "bundle-id", "kext")? else {
            return err("kext.bundle-id is missing");
        };
        if !valid_bundle_id(&bundle_id) {
            return err(format!(
                "kext.bundle-id {bundle_id:?} must be reverse-DNS ([A-Za-z0-9-] labels joined by '.'), at most 63 bytes"
            ));
        }
        if bundle_id.starts_with("com.apple.") {
            return err(format!(
                "kext.bundle-id {bundle_id:?}: com.apple. bundle ids are Apple's, and kextunload never terminates their services"
            ));
        }
        let Some(name) = string(&kext, "name", "kext")? else {
            return err("kext.name is missing");
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return err(format!("kext.name {name:?} must be [A-Za-z0-9_-]+ (the executable's file name)"));
        }
        let class_prefix = string(&kext, "class-prefix", "kext")?.unwrap_or_else(|| default_class_prefix(&bundle_id));
        if !valid_c_identifier(&class_prefix) {
            return err(format!("kext.class-prefix {class_prefix:?} must be a C identifier"));
        }

        let mut libraries = BTreeMap::new();
        for (bundle, version) in table("libraries")? {
            let toml::Value::String(version) = version else {
                return err(format!("libraries.\"{bundle}\" must be a version string"));
            };
            if !valid_version(&version) {
                return err(format!("libraries.\"{bundle}\" = {version:?} is not a version (e.g. 19.0.0)"));
            }
            if !bundle.starts_with("com.apple.kpi.") {
                return err(format!("libraries.\"{bundle}\": only com.apple.kpi.* bundles (KPIs) are supported"));
            }
            libraries.insert(bundle, version);
        }
        if libraries.is_empty() {
            return err("[libraries] is empty: a kext links against at least one KPI");
        }

        let mut personality = BTreeMap::new();
        for (key, value) in table("personality")? {
            let value = match value {
                toml::Value::Integer(n) => PropertyValue::Integer(n),
                toml::Value::Boolean(b) => PropertyValue::Bool(b),
                toml::Value::String(s) => PropertyValue::String(s),
                other => return err(format!("personality.{key}: {} is not a plist integer, boolean or string", other.type_str())),
            };
            if ["CFBundleIdentifier", "IOClass", "IOMatchCategory", "IOProviderClass", "IOResourceMatch", "IOUserClientClass"]
                .contains(&key.as_str())
            {
                return err(format!("personality.{key} is the framework's (derived from the identity)"));
            }
            personality.insert(key, value);
        }

        let settings_table = table("settings")?;
        let mut settings = SettingKeys::default();
        for (setting, key) in &settings_table {
            let toml::Value::String(key) = key else {
                return err(format!("settings.{setting} must name a personality key"));
            };
            let (slot, integer) = match setting.as_str() {
                "max-clients" => (&mut settings.max_clients, true),
                "admin-only" => (&mut settings.admin_only, false),
                "observers-for-everyone" => (&mut settings.observers_for_everyone, false),
                other => return err(format!("unknown setting {other:?} (max-clients, admin-only, observers-for-everyone)")),
            };
            match (personality.get(key), integer) {
                (Some(PropertyValue::Integer(n)), true) if (1..=64).contains(n) => {}
                (Some(PropertyValue::Bool(_)), false) => {}
                (Some(_), true) => return err(format!("settings.{setting}: personality.{key} must be an integer from 1 to 64")),
                (Some(_), false) => return err(format!("settings.{setting}: personality.{key} must be a boolean")),
                (None, _) => return err(format!("settings.{setting} names {key}, which [personality] does not set")),
            }
            *slot = Some(key.clone());
        }

        let mut size_budget = BTreeMap::new();
        for (arch, bytes) in table("size-budget")? {
            let (toml::Value::Integer(bytes), "x86_64" | "arm64e") = (&bytes, arch.as_str()) else {
                return err(format!("size-budget.{arch}: x86_64 or arm64e = <bytes>"));
            };
            let bytes = u64::try_from(*bytes).map_err(|_| IdentityError(format!("size-budget.{arch} < 0")))?;
            size_budget.insert(arch, bytes);
        }

        Ok(Identity {
            dir: dir.to_path_buf(),
            bundle_id,
            name,
            class_prefix,
            libraries,
            personality,
            settings,
            size_budget,
        })
    }

    /// The IOService subclass: `<class-prefix>_Service`.
    pub fn service_class(&self) -> String {
        format!("{}_Service", self.class_prefix)
    }

    /// The IOUserClient subclass: `<class-prefix>_UserClient`.
    pub fn user_client_class(&self) -> String {
        format!("{}_UserClient", self.class_prefix)
    }

    /// The module start routine: `<class-prefix>_module_start`.
    pub fn module_start(&self) -> String {
        format!("{}_module_start", self.class_prefix)
    }

    /// The module stop routine: `<class-prefix>_module_stop`.
    pub fn module_stop(&self) -> String {
        format!("{}_module_stop", self.class_prefix)
    }

    /// The prefix of every C ABI symbol: `<class-prefix>_`.
    pub fn symbol_prefix(&self) -> String {
        format!("{}_", self.class_prefix)
    }

    /// The prefix of every log line: `<name>: `.
    pub fn log_prefix(&self) -> String {
        format!("{}: ", self.name)
    }

    /// The glue crate's directory (`glue/` next to `rustkext.toml`).
    pub fn glue_dir(&self) -> PathBuf {
        self.dir.join("glue")
    }

    /// The `-D` defines the one shim is compiled with for this kext (C preprocessor syntax).
    pub fn shim_defines(&self) -> Vec<String> {
        vec![
            format!("-DRK_SERVICE_CLASS={}", self.service_class()),
            format!("-DRK_USERCLIENT_CLASS={}", self.user_client_class()),
            format!("-DRK_MODULE_START={}", self.module_start()),
            format!("-DRK_MODULE_STOP={}", self.module_stop()),
            format!("-DRK_LOG_PREFIX=\"{}\"", self.log_prefix()),
            format!("-DRK_SYMBOL_PREFIX=\"{}\"", self.symbol_prefix()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONITOR: &str = r#"
[kext]
bundle-id = "org.rustkext.RustKext"
name = "RustKext"
class-prefix = "org_rustkext"
[libraries]
"com.apple.kpi.bsd" = "19.0.0"
"com.apple.kpi.iokit" = "19.0.0"
[personality]
RustKextMaxClients = 64
RustKextAdminOnly = false
[settings]
max-clients = "RustKextMaxClients"
admin-only = "RustKextAdminOnly"
[size-budget]
x86_64 = 7407
arm64e = 6639
"#;

    fn parse(text: &str) -> Result<Identity, IdentityError> {
        Identity::parse(Path::new("/k"), text)
    }

    #[test]
    fn names_derive_from_the_prefix_and_the_name() {
        let id = parse(MONITOR).unwrap();
        assert_eq!(id.service_class(), "org_rustkext_Service");
        assert_eq!(id.user_client_class(), "org_rustkext_UserClient");
        assert_eq!(id.module_start(), "org_rustkext_module_start");
        assert_eq!(id.symbol_prefix(), "org_rustkext_");
        assert_eq!(id.log_prefix(), "RustKext: ");
        assert_eq!(id.settings.admin_only.as_deref(), Some("RustKextAdminOnly"));
        assert_eq!(id.settings.observers_for_everyone, None);
        assert_eq!(id.size_budget["x86_64"], 7407);
        assert_eq!(id.size_budget["arm64e"], 6639);
        assert!(id.shim_defines().contains(&"-DRK_LOG_PREFIX=\"RustKext: \"".to_string()));
        let other = parse(&MONITOR.replace("class-prefix = \"org_rustkext\"\n", "").replace("org.rustkext.RustKext", "com.example.Open-Watch")).unwrap();
        assert_eq!(other.class_prefix, "com_example_Open_Watch", "default: the bundle id as a C identifier");
    }

    #[test]
    fn every_rule_refuses_with_a_reason() {
        let cases: &[(&str, &str, &str)] = &[
            ("org.rustkext.RustKext", "com.apple.RustKext", "Apple's"),
            ("org.rustkext.RustKext", "RustKext", "reverse-DNS"),
            ("org.rustkext.RustKext", &format!("org.{}", "a".repeat(60)), "63 bytes"),
            ("name = \"RustKext\"", "name = \"Rust Kext\"", "kext.name"),
            ("class-prefix = \"org_rustkext\"", "class-prefix = \"9x\"", "C identifier"),
            ("\"19.0.0\"\n\"com", "\"nineteen\"\n\"com", "not a version"),
            ("RustKextMaxClients = 64", "RustKextMaxClients = 65", "from 1 to 64"),
            ("RustKextAdminOnly = false", "RustKextAdminOnly = 1", "boolean"),
            ("admin-only = \"RustKextAdminOnly\"", "admin-only = \"Missing\"", "does not set"),
            ("admin-only", "admin-maybe", "unknown setting"),
            ("[size-budget]", "[sizes]", "unknown section"),
            ("RustKextAdminOnly = false", "IOClass = \"x\"", "framework's"),
            ("\"com.apple.kpi.bsd\"", "\"com.example.lib\"", "com.apple.kpi"),
        ];
        for (from, to, reason) in cases {
            assert!(MONITOR.contains(from), "{from}");
            let e = parse(&MONITOR.replacen(from, to, 1)).unwrap_err();
            assert!(e.0.contains(reason), "{from} -> {to}: {e}");
        }
    }

    #[test]
    fn versions() {
        for good in ["19", "19.0", "19.0.0", "1.2.3d4", "0.1.0"] {
            assert!(valid_version(good), "{good}");
        }
        for bad in ["", "1.", "1.2.3.4", "v1", "1.2b", "1..2"] {
            assert!(!valid_version(bad), "{bad}");
        }
    }
}
