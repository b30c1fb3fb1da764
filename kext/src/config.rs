//! The driver's settings, from the personality's properties. A property of the wrong type is a
//! configuration error: the service refuses to start (fails closed) and says which key is wrong,
//! rather than running with a setting nobody wrote.

use crate::abi::{ADMIN_ONLY_KEY, MAX_CLIENTS, MAX_CLIENTS_KEY, STATS_FOR_EVERYONE_KEY};
use core::ffi::CStr;

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

/// The settings in force while the service runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Clients open at once, counting everyone but the administrators' reserve (1..=64).
    pub max_clients: u32,
    /// Refuse non-administrators at open.
    pub admin_only_open: bool,
    /// Let non-administrators read the FILEOP statistics.
    pub stats_for_everyone: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_clients: MAX_CLIENTS,
            admin_only_open: false,
            stats_for_everyone: false,
        }
    }
}

/// A property of the wrong type; the service does not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending key.
    pub key: &'static CStr,
    /// What it must be, as the end of a log line (" must be a number").
    pub expected: &'static CStr,
}

impl Config {
    /// The settings from `read(key)`, the personality's value for each key.
    pub fn from_personality(
        mut read: impl FnMut(&'static CStr) -> Property,
    ) -> Result<Config, ConfigError> {
        let max_clients = match read(MAX_CLIENTS_KEY) {
            Property::Absent | Property::Number(0) => MAX_CLIENTS,
            // Clamped in 64 bits: a value of 2^32 + 1 must not become 1.
            Property::Number(n) => n.min(u64::from(MAX_CLIENTS)) as u32,
            Property::Bool(_) | Property::Other => {
                return Err(ConfigError {
                    key: MAX_CLIENTS_KEY,
                    expected: c" must be a number",
                })
            }
        };
        Ok(Config {
            max_clients,
            admin_only_open: flag(&mut read, ADMIN_ONLY_KEY)?,
            stats_for_everyone: flag(&mut read, STATS_FOR_EVERYONE_KEY)?,
        })
    }
}

fn flag(
    read: &mut impl FnMut(&'static CStr) -> Property,
    key: &'static CStr,
) -> Result<bool, ConfigError> {
    match read(key) {
        Property::Absent => Ok(false),
        Property::Bool(b) => Ok(b),
        Property::Number(_) | Property::Other => Err(ConfigError {
            key,
            expected: c" must be a boolean",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max: Property, admin: Property, stats: Property) -> Result<Config, ConfigError> {
        Config::from_personality(|key| {
            if key == MAX_CLIENTS_KEY {
                max
            } else if key == ADMIN_ONLY_KEY {
                admin
            } else if key == STATS_FOR_EVERYONE_KEY {
                stats
            } else {
                panic!("unexpected key {key:?}")
            }
        })
    }

    #[test]
    fn absent_properties_give_the_defaults() {
        use Property::Absent;
        assert_eq!(config(Absent, Absent, Absent), Ok(Config::default()));
        assert_eq!(Config::default().max_clients, 64);
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
            assert_eq!(
                config(Number(given), Absent, Absent).map(|c| c.max_clients),
                Ok(got),
                "{given}"
            );
        }
    }

    #[test]
    fn a_property_of_the_wrong_type_fails_closed_naming_the_key() {
        use Property::{Absent, Bool, Number, Other};
        assert_eq!(
            config(Bool(true), Absent, Absent),
            Err(ConfigError {
                key: MAX_CLIENTS_KEY,
                expected: c" must be a number"
            })
        );
        assert_eq!(
            config(Other, Absent, Absent).unwrap_err().key,
            MAX_CLIENTS_KEY
        );
        for wrong in [Number(1), Number(0), Other] {
            assert_eq!(
                config(Absent, wrong, Absent),
                Err(ConfigError {
                    key: ADMIN_ONLY_KEY,
                    expected: c" must be a boolean"
                })
            );
            assert_eq!(
                config(Absent, Absent, wrong).unwrap_err().key,
                STATS_FOR_EVERYONE_KEY
            );
        }
    }

    #[test]
    fn booleans_are_taken_as_given() {
        use Property::{Absent, Bool};
        let c = config(Absent, Bool(true), Bool(true)).unwrap();
        assert!(c.admin_only_open && c.stats_for_everyone);
        let c = config(Absent, Bool(false), Bool(false)).unwrap();
        assert!(!c.admin_only_open && !c.stats_for_everyone);
    }
}
