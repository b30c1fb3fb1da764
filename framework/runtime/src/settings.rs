//! The framework's settings, read from the personality's properties under the keys the kext's
//! `rustkext.toml` names (`[settings]`). A property of the wrong type is a configuration error:
//! the service refuses to start (fails closed) and says which key is wrong, rather than running
//! with a setting nobody wrote. A setting without a key keeps its default.

use core::ffi::CStr;

/// Clients open at once, the default and the maximum of the `max-clients` setting.
/// Non-administrators count against it; administrators may go
/// [`ADMIN_RESERVED_CLIENTS`](crate::lifecycle::ADMIN_RESERVED_CLIENTS) beyond it.
pub const MAX_CLIENTS: u32 = 64;

/// A personality property as the kernel holds it (`OSNumber`, `OSBoolean`, anything else).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Property {
    /// Not in the personality.
    Absent,
    /// An `OSNumber` (its 64-bit value).
    Number(u64),
    /// An `OSBoolean`.
    Bool(bool),
    /// Any other type (string, data, array, …).
    Other,
}

/// The personality keys of the three settings (`[settings]` of `rustkext.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingKeys {
    /// `max-clients`: a number; absent or 0 = 64, larger values clamped to 64.
    pub max_clients: Option<&'static CStr>,
    /// `admin-only`: a boolean; refuse non-administrators at open.
    pub admin_only: Option<&'static CStr>,
    /// `observers-for-everyone`: a boolean; open `Observer` methods to everyone.
    pub observers_for_everyone: Option<&'static CStr>,
}

impl SettingKeys {
    /// No setting read from the personality: every default.
    pub const NONE: SettingKeys = SettingKeys { max_clients: None, admin_only: None, observers_for_everyone: None };

    /// The key of setting `index` (0 `max-clients`, 1 `admin-only`, 2 `observers-for-everyone`;
    /// `rk_personality_key`), `None` for a setting without one and past the last.
    pub fn get(&self, index: u32) -> Option<&'static CStr> {
        match index {
            0 => self.max_clients,
            1 => self.admin_only,
            2 => self.observers_for_everyone,
            _ => None,
        }
    }
}

/// The settings in force while the service runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Clients open at once, counting everyone but the administrators' reserve (1..=64).
    pub max_clients: u32,
    /// Refuse non-administrators at open.
    pub admin_only_open: bool,
    /// Open `Observer` methods to everyone.
    pub observers_for_everyone: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { max_clients: MAX_CLIENTS, admin_only_open: false, observers_for_everyone: false }
    }
}

/// A property of the wrong type; the service does not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingError {
    /// The offending key.
    pub key: &'static CStr,
    /// What it must be, as the end of a log line (" must be a number").
    pub expected: &'static CStr,
}

impl Settings {
    /// The settings from the personality's values of the keys in `keys`, by setting index (see
    /// [`SettingKeys::get`]; a setting without a key is not read).
    pub fn from_personality(keys: &SettingKeys, values: [Property; 3]) -> Result<Settings, SettingError> {
        let [max, admin, observers] = values;
        let max_clients = match keys.max_clients {
            None => MAX_CLIENTS,
            Some(key) => match max {
                Property::Absent | Property::Number(0) => MAX_CLIENTS,
                // Clamped in 64 bits: a value of 2^32 + 1 must not become 1.
                Property::Number(n) => n.min(u64::from(MAX_CLIENTS)) as u32,
                Property::Bool(_) | Property::Other => {
                    return Err(SettingError { key, expected: c" must be a number" })
                }
            },
        };
        Ok(Settings {
            max_clients,
            admin_only_open: flag(admin, keys.admin_only)?,
            observers_for_everyone: flag(observers, keys.observers_for_everyone)?,
        })
    }
}

fn flag(value: Property, key: Option<&'static CStr>) -> Result<bool, SettingError> {
    let Some(key) = key else { return Ok(false) };
    match value {
        Property::Absent => Ok(false),
        Property::Bool(b) => Ok(b),
        Property::Number(_) | Property::Other => Err(SettingError { key, expected: c" must be a boolean" }),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const MAX: &CStr = c"MaxClients";
    const ADMIN: &CStr = c"AdminOnly";
    const OBSERVERS: &CStr = c"StatsForEveryone";
    const KEYS: SettingKeys =
        SettingKeys { max_clients: Some(MAX), admin_only: Some(ADMIN), observers_for_everyone: Some(OBSERVERS) };

    fn settings(max: Property, admin: Property, observers: Property) -> Result<Settings, SettingError> {
        Settings::from_personality(&KEYS, [max, admin, observers])
    }

    #[test]
    fn absent_properties_give_the_defaults() {
        use Property::Absent;
        assert_eq!(settings(Absent, Absent, Absent), Ok(Settings::default()));
        assert_eq!(Settings::default().max_clients, 64);
    }

    #[test]
    fn max_clients_is_clamped_in_64_bits_never_truncated() {
        use Property::{Absent, Number};
        for (given, got) in [
            (0u64, 64u32),
            (1, 1),
            (63, 63),
            (64, 64),
            (65, 64),
            (u64::from(u32::MAX), 64),
            (1 << 32, 64),
            ((1 << 32) + 1, 64),
            (u64::MAX, 64),
        ] {
            assert_eq!(settings(Number(given), Absent, Absent).map(|c| c.max_clients), Ok(got), "{given}");
        }
    }

    #[test]
    fn a_property_of_the_wrong_type_fails_closed_naming_the_key() {
        use Property::{Absent, Bool, Number, Other};
        assert_eq!(
            settings(Bool(true), Absent, Absent),
            Err(SettingError { key: MAX, expected: c" must be a number" })
        );
        assert_eq!(settings(Other, Absent, Absent).unwrap_err().key, MAX);
        for wrong in [Number(1), Number(0), Other] {
            assert_eq!(
                settings(Absent, wrong, Absent),
                Err(SettingError { key: ADMIN, expected: c" must be a boolean" })
            );
            assert_eq!(settings(Absent, Absent, wrong).unwrap_err().key, OBSERVERS);
        }
    }

    #[test]
    fn booleans_are_taken_as_given() {
        use Property::{Absent, Bool};
        let c = settings(Absent, Bool(true), Bool(true)).unwrap();
        assert!(c.admin_only_open && c.observers_for_everyone);
        let c = settings(Absent, Bool(false), Bool(false)).unwrap();
        assert!(!c.admin_only_open && !c.observers_for_everyone);
    }

    #[test]
    fn settings_without_a_key_keep_their_defaults_and_are_not_read() {
        let keys = SettingKeys { admin_only: Some(ADMIN), ..SettingKeys::NONE };
        let other = Property::Other; // would fail if read
        let got = Settings::from_personality(&keys, [other, Property::Bool(true), other]);
        assert_eq!(got, Ok(Settings { admin_only_open: true, ..Settings::default() }));
        assert_eq!(keys.get(0), None);
        assert_eq!(keys.get(1), Some(ADMIN));
        assert_eq!(KEYS.get(2), Some(OBSERVERS));
        assert_eq!(KEYS.get(3), None);
    }
}
