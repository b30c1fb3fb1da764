//! A registry entry's properties as a client reads them (`IORegistryEntryCreateCFProperties`, what
//! `ioreg -l` shows): the personality's, and the values a RustKext service computes when read
//! (the runtime's `Framework` group and the driver's `Driver` group, `rustkext::published`).

use crate::sys;
use std::ffi::c_void;

/// One property value (CFString, CFNumber, CFBoolean, CFDictionary; anything else `Other`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    String(String),
    Number(u64),
    Bool(bool),
    Dictionary(Properties),
    Other,
}

/// A dictionary of properties, in the order read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties(pub Vec<(String, Value)>);

impl Properties {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The dictionary `key`, if there is one.
    pub fn dictionary(&self, key: &str) -> Option<&Properties> {
        match self.get(key) {
            Some(Value::Dictionary(d)) => Some(d),
            _ => None,
        }
    }

    /// The number `key`, if it is one.
    pub fn number(&self, key: &str) -> Option<u64> {
        match self.get(key) {
            Some(Value::Number(n)) => Some(*n),
            _ => None,
        }
    }

    /// The boolean `key`, if it is one.
    pub fn flag(&self, key: &str) -> Option<bool> {
        match self.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }
    }
}

/// A CoreFoundation property value as a [`Value`].
///
/// # Safety
/// `cf` is a live CoreFoundation object, not released during the call.
pub(crate) unsafe fn cf_value(cf: *const c_void) -> Value {
    // SAFETY: `cf` is live (the caller's contract), and so is every key and value a live
    // dictionary hands out while it lives; each call gets the type it checks for.
    unsafe {
        let id = sys::CFGetTypeID(cf as _);
        if id == sys::CFDictionaryGetTypeID() {
            let n = usize::try_from(sys::CFDictionaryGetCount(cf as _)).unwrap_or(0);
            let mut keys = vec![std::ptr::null(); n];
            let mut values = vec![std::ptr::null(); n];
            sys::CFDictionaryGetKeysAndValues(cf as _, keys.as_mut_ptr(), values.as_mut_ptr());
            let mut entries = Vec::with_capacity(n);
            for (k, v) in keys.into_iter().zip(values) {
                if let Some(key) = cf_string(k) {
                    entries.push((key, cf_value(v)));
                }
            }
            Value::Dictionary(Properties(entries))
        } else if id == sys::CFStringGetTypeID() {
            cf_string(cf).map_or(Value::Other, Value::String)
        } else if id == sys::CFNumberGetTypeID() {
            let mut n = 0i64;
            let ok = sys::CFNumberGetValue(
                cf as _,
                sys::kCFNumberSInt64Type,
                &mut n as *mut i64 as *mut c_void,
            );
            if ok {
                Value::Number(n as u64)
            } else {
                Value::Other
            }
        } else if id == sys::CFBooleanGetTypeID() {
            Value::Bool(sys::CFBooleanGetValue(cf as _))
        } else {
            Value::Other
        }
    }
}

/// The text of a CFString (`None` for another type or text that is not UTF-8).
///
/// # Safety
/// `cf` is a live CoreFoundation object.
unsafe fn cf_string(cf: *const c_void) -> Option<String> {
    // SAFETY: `cf` is live (the caller's contract); the buffer is valid for its length.
    unsafe {
        if sys::CFGetTypeID(cf as _) != sys::CFStringGetTypeID() {
            return None;
        }
        let mut buffer = vec![0u8; 1024];
        if sys::CFStringGetCString(
            cf as _,
            buffer.as_mut_ptr() as _,
            buffer.len() as _,
            sys::kCFStringEncodingUTF8,
        ) == 0
        {
            return None;
        }
        let end = buffer.iter().position(|&b| b == 0)?;
        String::from_utf8(buffer[..end].to_vec()).ok()
    }
}
