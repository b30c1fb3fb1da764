//! What a kext publishes in the IORegistry: values computed when the registry is read, never
//! written on an event.
//!
//! The shim's service overrides `IORegistryEntry::serializeProperties` (the whole-table read
//! behind `IORegistryEntryCreateCFProperties`, which `ioreg -l` uses) and asks Rust for the values
//! at that moment (`rk_registry_values`); they go into a copy of the property table it
//! serializes, one dictionary per group: `Framework` (the runtime's, [`Kext::registry_values`])
//! and `Driver` (the driver's, [`Driver::registry_values`]). Nothing is stored in the table, so
//! the kauth path never touches the registry, and a single-key read (`copyProperty`) does not see
//! these keys.
//!
//! Keys are `&'static CStr` (no allocation, valid while the kext's code is mapped); a value is a
//! number or a boolean. Values past the shim's capacity are dropped.
//!
//! [`Kext::registry_values`]: crate::Kext::registry_values
//! [`Driver::registry_values`]: crate::Driver::registry_values

use core::ffi::{c_char, CStr};

/// `rk_registry_kind`: what an [`RkRegistryValue`] is.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RkRegistryKind {
    /// Starts a dictionary named `key`; the values after it go into it.
    Group = 0,
    /// An `OSNumber` (64 bits).
    Number = 1,
    /// An `OSBoolean` (`value` 0 or 1).
    Bool = 2,
}

/// `rk_registry_value`: one value for the shim (a key of `'static` lifetime, its kind, its value).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RkRegistryValue {
    /// A NUL-terminated key, static in the kext's image.
    pub key: *const c_char,
    /// `rk_registry_kind`.
    pub kind: u32,
    /// Zero.
    pub reserved: u32,
    /// The number, or the boolean as 0/1 (0 for a group).
    pub value: u64,
}

impl RkRegistryValue {
    /// An empty slot (what the shim zero-fills its array with).
    pub const EMPTY: RkRegistryValue = RkRegistryValue { key: core::ptr::null(), kind: 0, reserved: 0, value: 0 };
}

/// The values being published, written into the shim's array.
pub struct RegistryValues<'a> {
    out: &'a mut [RkRegistryValue],
    len: usize,
}

impl<'a> RegistryValues<'a> {
    /// Values written into `out` from its start.
    pub fn new(out: &'a mut [RkRegistryValue]) -> Self {
        RegistryValues { out, len: 0 }
    }

    /// Publishes the number `value` as `key`.
    #[inline] // a call of the one loop, not another copy of `put`
    pub fn number(&mut self, key: &'static CStr, value: u64) {
        self.put_each(core::slice::from_ref(&key), &[], core::slice::from_ref(&value));
    }

    /// Publishes the boolean `value` as `key`.
    pub fn flag(&mut self, key: &'static CStr, value: bool) {
        self.put(key, RkRegistryKind::Bool, u64::from(value));
    }

    /// Publishes each number `values[i]` as `keys[i]`, in order (a driver's counters: one loop,
    /// not one call per key, in the kernel's budgeted text).
    #[inline]
    pub fn numbers(&mut self, keys: &[&'static CStr], values: &[u64]) {
        self.put_each(keys, &[], values);
    }

    /// Publishes `values[i]` as `keys[i]`, of kind `kinds[i]` ([`RkRegistryKind::Number`] past the
    /// end of `kinds`), in order: the one loop behind [`numbers`](Self::numbers) and the
    /// runtime's own values.
    #[inline(never)]
    pub(crate) fn put_each(&mut self, keys: &[&'static CStr], kinds: &[RkRegistryKind], values: &[u64]) {
        for (i, (key, value)) in keys.iter().zip(values).enumerate() {
            self.put(key, kinds.get(i).copied().unwrap_or(RkRegistryKind::Number), *value);
        }
    }

    /// Starts the dictionary `key` (the runtime starts its groups through `FRAMEWORK_KEYS`).
    #[cfg(test)]
    pub(crate) fn group(&mut self, key: &'static CStr) {
        self.put(key, RkRegistryKind::Group, 0);
    }

    #[inline]
    pub(crate) fn put(&mut self, key: &'static CStr, kind: RkRegistryKind, value: u64) {
        if let Some(slot) = self.out.get_mut(self.len) {
            *slot = RkRegistryValue { key: key.as_ptr(), kind: kind as u32, reserved: 0, value };
            self.len += 1;
        }
    }

    /// How many values were written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values written, in order: (key, kind, value). For tests and tools (not in the kernel
    /// build, which has no `strlen`).
    #[cfg(not(feature = "kernel"))]
    pub fn iter(&self) -> impl Iterator<Item = (&'static CStr, RkRegistryKind, u64)> + '_ {
        self.out.iter().take(self.len).map(|v| {
            // SAFETY: the first `len` slots were written by `put`, whose key came from a
            // `&'static CStr`: a NUL-terminated string that lives for ever.
            let key = unsafe { CStr::from_ptr(v.key) };
            let kind = match v.kind {
                0 => RkRegistryKind::Group,
                1 => RkRegistryKind::Number,
                _ => RkRegistryKind::Bool,
            };
            (key, kind, v.value)
        })
    }

    /// The value of `key` in the group `group` (the first such key), for tests and tools.
    #[cfg(not(feature = "kernel"))]
    pub fn get(&self, group: &CStr, key: &CStr) -> Option<u64> {
        let mut current = None;
        for (k, kind, value) in self.iter() {
            match kind {
                RkRegistryKind::Group => current = Some(k),
                _ if current == Some(group) && k == key => return Some(value),
                _ => {}
            }
        }
        None
    }
}

/// The groups the runtime publishes.
pub mod group {
    use core::ffi::CStr;

    /// The runtime's own values.
    pub const FRAMEWORK: &CStr = c"Framework";
    /// The driver's values ([`Driver::registry_values`](crate::Driver::registry_values)).
    pub const DRIVER: &CStr = c"Driver";
}

/// What the runtime writes, in order: the `Framework` group, each of its keys, then the start of
/// the `Driver` group ([`Kext::registry_values`] computes the values in this order, 0 for a
/// group); the kind of each is at the same index of [`FRAMEWORK_KINDS`]. One loop for all of it
/// (kernel text is budgeted).
///
/// [`Kext::registry_values`]: crate::Kext::registry_values
pub(crate) static FRAMEWORK_KEYS: [&CStr; 9] = [
    group::FRAMEWORK,
    key::RUNNING,
    key::CLIENTS_OPEN,
    key::MAX_CLIENTS,
    key::UNLOAD_PENDING,
    key::CALLBACKS_IN_FLIGHT,
    key::PEAK_CALLBACKS_IN_FLIGHT,
    key::CALLBACKS_REFUSED_AFTER_CLOSE,
    group::DRIVER,
];

/// The kind of each of [`FRAMEWORK_KEYS`], at the same index.
pub(crate) static FRAMEWORK_KINDS: [RkRegistryKind; FRAMEWORK_KEYS.len()] = {
    use RkRegistryKind::{Bool, Group, Number};
    [Group, Bool, Number, Number, Bool, Number, Number, Number, Group]
};

/// The runtime's keys in the `Framework` group.
pub mod key {
    use core::ffi::CStr;

    /// Whether the service runs (started, not terminating nor stopped): a boolean.
    pub const RUNNING: &CStr = c"Running";
    /// Clients open.
    pub const CLIENTS_OPEN: &CStr = c"ClientsOpen";
    /// The `max-clients` setting in force (administrators may open the reserve beyond it).
    pub const MAX_CLIENTS: &CStr = c"MaxClients";
    /// A refused unload is remembered (the last close terminates the service): a boolean.
    pub const UNLOAD_PENDING: &CStr = c"UnloadPending";
    /// kauth callbacks inside the gate now.
    pub const CALLBACKS_IN_FLIGHT: &CStr = c"CallbacksInFlight";
    /// The highest number seen in flight at once since start or the last reset.
    pub const PEAK_CALLBACKS_IN_FLIGHT: &CStr = c"PeakCallbacksInFlight";
    /// kauth callbacks that met the closed gate since start.
    pub const CALLBACKS_REFUSED_AFTER_CLOSE: &CStr = c"CallbacksRefusedAfterClose";
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn values_go_in_order_and_past_the_capacity_are_dropped() {
        let mut slots = [RkRegistryValue::EMPTY; 3];
        let mut v = RegistryValues::new(&mut slots);
        v.group(c"G");
        v.number(c"N", 7);
        v.flag(c"B", true);
        v.number(c"Dropped", 1);
        assert_eq!(v.len(), 3);
        let all: std::vec::Vec<_> = v.iter().collect();
        assert_eq!(
            all,
            [(c"G", RkRegistryKind::Group, 0), (c"N", RkRegistryKind::Number, 7), (c"B", RkRegistryKind::Bool, 1)]
        );
        assert_eq!(v.get(c"G", c"N"), Some(7));
        assert_eq!(v.get(c"Other", c"N"), None);
        assert_eq!(v.get(c"G", c"Dropped"), None);
        assert!(slots.iter().all(|s| s.reserved == 0));
    }

    #[test]
    fn no_capacity_writes_nothing() {
        let mut v = RegistryValues::new(&mut []);
        v.number(c"N", 1);
        assert!(v.is_empty());
    }
}
