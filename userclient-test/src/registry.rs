//! The service's IORegistry properties as a client reads them (`IORegistryEntryCreateCFProperties`,
//! what `ioreg -l` shows): the personality's, and the values the kext computes when read (the
//! `Framework` and `Driver` groups, `rustkext::published`). The configuration a scenario runs
//! against is read from them, through the framework's own rules (`rustkext::Settings`).

use rustkext::published::{group, key};
use rustkext::settings::{Property, SettingKeys, Settings};
use rustkext_monitor_api::SETTING_KEYS;
use std::ffi::CString;
use std::sync::OnceLock;

pub use rustkext_iokit::properties::{Properties, Value};

/// What the harness reads from a RustKext service's properties.
pub trait ServiceProperties {
    /// The runtime's values (`Framework`).
    fn framework(&self) -> Option<&Properties>;
    /// The driver's values (`Driver`).
    fn driver(&self) -> Option<&Properties>;
    /// Clients open now, as the service publishes it.
    fn clients_open(&self) -> Option<u64>;
    /// The settings the service runs with: its personality properties under the kext's setting
    /// keys, read by the rules the kext reads them by (a wrong type is an error, as it keeps
    /// the service from starting).
    fn settings(&self) -> Result<Settings, String>;
}

impl ServiceProperties for Properties {
    /// The runtime's values (`Framework`).
    fn framework(&self) -> Option<&Properties> {
        self.dictionary(group::FRAMEWORK.to_str().ok()?)
    }

    /// The driver's values (`Driver`).
    fn driver(&self) -> Option<&Properties> {
        self.dictionary(group::DRIVER.to_str().ok()?)
    }

    /// Clients open now, as the service publishes it.
    fn clients_open(&self) -> Option<u64> {
        self.framework()?.number(key::CLIENTS_OPEN.to_str().ok()?)
    }

    /// The settings the service runs with: its personality properties under the kext's setting
    /// keys, read by the rules the kext reads them by (a wrong type is an error, as it keeps
    /// the service from starting).
    fn settings(&self) -> Result<Settings, String> {
        let keys = setting_keys();
        let values = SETTING_KEYS.map(|k| match self.get(k) {
            _ if k.is_empty() => Property::Absent,
            None => Property::Absent,
            Some(Value::Number(n)) => Property::Number(*n),
            Some(Value::Bool(b)) => Property::Bool(*b),
            Some(_) => Property::Other,
        });
        Settings::from_personality(keys, values).map_err(|e| {
            format!(
                "{}{}",
                e.key.to_string_lossy(),
                e.expected.to_string_lossy()
            )
        })
    }
}

/// The kext's setting keys as the runtime takes them (static C strings, made once).
fn setting_keys() -> &'static SettingKeys {
    static KEYS: OnceLock<SettingKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let [max, admin, observers] = SETTING_KEYS.map(|k| {
            (!k.is_empty())
                .then(|| &*Box::leak(CString::new(k).expect("no NUL in a key").into_boxed_c_str()))
        });
        SettingKeys {
            max_clients: max,
            admin_only: admin,
            observers_for_everyone: observers,
        }
    })
}
