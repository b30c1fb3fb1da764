//! Kext bundles for the simulator: RustKext from the repository's Info.plist template, or a
//! test-only bundle built in code.

use crate::plist::{self, Value};

/// A personality property, as the kernel holds it (OSString, OSNumber, OSBoolean).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Property {
    /// OSString.
    String(String),
    /// OSNumber (64 bits, as OSUnserializeXML makes them).
    Number(u64),
    /// OSBoolean.
    Bool(bool),
}

/// One IOKit personality: its name and properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Personality {
    /// The key in IOKitPersonalities.
    pub name: String,
    /// Its properties, in document order.
    pub properties: Vec<(String, Property)>,
}

impl Personality {
    /// Sets `key` (replacing an existing value).
    pub fn set(&mut self, key: &str, value: Property) {
        match self.properties.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.properties.push((key.to_string(), value)),
        }
    }

    /// Removes `key` if present.
    pub fn remove(&mut self, key: &str) {
        self.properties.retain(|(k, _)| k != key);
    }
}

/// A kext as the simulator loads it: bundle identifier, the code module linked into the
/// simulator that it runs (`"rustkext"` for the shim), and its personalities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KextSpec {
    /// CFBundleIdentifier.
    pub bundle_id: String,
    /// The compiled-in code module (`XNU_SIM_MODULE` of its translation units).
    pub module: String,
    /// IOKitPersonalities.
    pub personalities: Vec<Personality>,
}

/// Defaults build.sh substitutes into the Info.plist template.
pub const TEMPLATE_DEFAULTS: [(&str, &str); 3] = [
    (
        "$(PRODUCT_BUNDLE_IDENTIFIER)",
        rustkext::abi::DEFAULT_BUNDLE_ID,
    ),
    ("$(EXECUTABLE_NAME)", "RustKext"),
    ("$(BUNDLE_VERSION)", "0.1.0"),
];

/// The repository's Info.plist template.
pub const INFO_PLIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../Info.plist");

impl KextSpec {
    /// RustKext as the repository's Info.plist describes it, with build.sh's default values.
    pub fn rustkext() -> KextSpec {
        let template = std::fs::read_to_string(INFO_PLIST)
            .unwrap_or_else(|e| panic!("xnu-sim: reading {INFO_PLIST}: {e}"));
        KextSpec::from_info_plist(&template, "rustkext")
            .unwrap_or_else(|e| panic!("xnu-sim: {INFO_PLIST}: {e}"))
    }

    /// Parses an Info.plist template (substituting [`TEMPLATE_DEFAULTS`]).
    pub fn from_info_plist(template: &str, module: &str) -> Result<KextSpec, String> {
        let mut text = template.to_string();
        for (placeholder, value) in TEMPLATE_DEFAULTS {
            text = text.replace(placeholder, value);
        }
        let root = plist::parse(&text)?;
        let bundle_id = root
            .get("CFBundleIdentifier")
            .and_then(Value::as_str)
            .ok_or("no CFBundleIdentifier")?
            .to_string();
        let mut personalities = Vec::new();
        if let Some(Value::Dict(entries)) = root.get("IOKitPersonalities") {
            for (name, value) in entries {
                let Value::Dict(props) = value else {
                    return Err(format!("personality {name} is not a dictionary"));
                };
                let mut properties = Vec::new();
                for (key, value) in props {
                    let property = match value {
                        Value::String(s) => Property::String(s.clone()),
                        Value::Integer(n) => Property::Number(*n as u64),
                        Value::Bool(b) => Property::Bool(*b),
                        other => return Err(format!("{name}.{key}: unsupported value {other:?}")),
                    };
                    properties.push((key.clone(), property));
                }
                personalities.push(Personality {
                    name: name.clone(),
                    properties,
                });
            }
        }
        Ok(KextSpec {
            bundle_id,
            module: module.to_string(),
            personalities,
        })
    }

    /// Applies `overrides` to every personality.
    pub fn with_overrides(mut self, overrides: &[(&str, Property)]) -> KextSpec {
        for personality in &mut self.personalities {
            for (key, value) in overrides {
                personality.set(key, value.clone());
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_info_plist_describes_one_personality_on_iokit_resources() {
        let spec = KextSpec::rustkext();
        assert_eq!(spec.bundle_id, "org.rustkext.RustKext");
        assert_eq!(spec.personalities.len(), 1);
        let p = &spec.personalities[0];
        let get = |k: &str| {
            p.properties
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            get("IOClass"),
            Some(Property::String("org_rustkext_Service".into()))
        );
        assert_eq!(
            get("IOProviderClass"),
            Some(Property::String("IOResources".into()))
        );
        assert_eq!(
            get("IOMatchCategory"),
            Some(Property::String("org.rustkext.RustKext".into()))
        );
        assert_eq!(
            get("IOUserClientClass"),
            None,
            "a refusal must never fall back"
        );
    }
}
