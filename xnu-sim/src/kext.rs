//! Kext bundles for the simulator: a kext's Info.plist (as rustkext-build generates it; a kext
//! built with the framework carries it in its `IDENTITY`), or a test-only bundle built in code.

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
/// simulator that it runs (a framework kext's module is its own bundle id; the same module may be
/// defined under another bundle id, as a copy of that kext would be), and its personalities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KextSpec {
    /// CFBundleIdentifier.
    pub bundle_id: String,
    /// The compiled-in code module (`XNU_SIM_MODULE` of its translation units).
    pub module: String,
    /// IOKitPersonalities.
    pub personalities: Vec<Personality>,
}

impl KextSpec {
    /// The kext an Info.plist describes, running the code `module`.
    pub fn from_info_plist(text: &str, module: &str) -> Result<KextSpec, String> {
        let root = plist::parse(text)?;
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

    /// The same kext under another bundle id (its personalities follow: `CFBundleIdentifier`,
    /// `IOMatchCategory` and `IOResourceMatch`), running the same code: what a second build of a
    /// kext with another bundle id but the same class names is.
    pub fn with_bundle_id(mut self, bundle_id: &str) -> KextSpec {
        let old = std::mem::replace(&mut self.bundle_id, bundle_id.to_string());
        for personality in &mut self.personalities {
            for (_, value) in &mut personality.properties {
                if *value == Property::String(old.clone()) {
                    *value = Property::String(bundle_id.to_string());
                }
            }
        }
        self
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

    const PLIST: &str = r#"<?xml version="1.0"?><plist version="1.0"><dict>
        <key>CFBundleIdentifier</key><string>com.example.K</string>
        <key>IOKitPersonalities</key><dict><key>K</key><dict>
            <key>IOClass</key><string>com_example_K_Service</string>
            <key>IOMatchCategory</key><string>com.example.K</string>
            <key>N</key><integer>64</integer><key>B</key><false/>
        </dict></dict></dict></plist>"#;

    #[test]
    fn a_plist_gives_the_bundle_and_its_personalities() {
        let spec = KextSpec::from_info_plist(PLIST, "com.example.K").unwrap();
        assert_eq!(spec.bundle_id, "com.example.K");
        assert_eq!(spec.personalities.len(), 1);
        let p = &spec.personalities[0];
        assert_eq!(p.properties[0], ("IOClass".into(), Property::String("com_example_K_Service".into())));
        assert!(p.properties.contains(&("N".into(), Property::Number(64))));
        assert!(p.properties.contains(&("B".into(), Property::Bool(false))));
        let copy = spec.with_bundle_id("com.example.Copy");
        assert_eq!(copy.module, "com.example.K", "the same code");
        assert!(copy.personalities[0].properties.contains(&("IOMatchCategory".into(), Property::String("com.example.Copy".into()))));
    }
}
