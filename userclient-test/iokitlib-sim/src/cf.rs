//! The few CoreFoundation objects the backend hands to IOKit (the `core-foundation-sys` items it
//! uses): matching dictionaries, strings, the two booleans, and immutable dictionaries made with
//! the `kCFType` callbacks, with CoreFoundation's reference counting (a dictionary retains its
//! keys and values; `CFRelease` of the last reference frees; the booleans are never freed). An
//! object used after its last release ends the process (a use after free on macOS), so does a
//! `CFRelease(NULL)` (CoreFoundation crashes on it).

use crate::client::fatal;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::sync::Mutex;

/// `core_foundation_sys::base::CFAllocatorRef`.
pub type CFAllocatorRef = *const c_void;
/// `core_foundation_sys::base::CFIndex`.
pub type CFIndex = isize;
/// `core_foundation_sys::string::CFStringEncoding`.
pub type CFStringEncoding = u32;

/// `core_foundation_sys::string::__CFString` (opaque).
#[repr(C)]
pub struct __CFString {
    _private: [u8; 0],
}
/// `core_foundation_sys::string::CFStringRef`.
pub type CFStringRef = *const __CFString;

/// `core_foundation_sys::number::__CFBoolean` (opaque).
#[repr(C)]
pub struct __CFBoolean {
    _private: [u8; 0],
}
/// `core_foundation_sys::number::CFBooleanRef`.
pub type CFBooleanRef = *const __CFBoolean;

/// `core_foundation_sys::base::CFTypeID`.
pub type CFTypeID = std::ffi::c_ulong;
/// `core_foundation_sys::base::Boolean`.
pub type Boolean = u8;
/// `core_foundation_sys::number::CFNumberType`.
pub type CFNumberType = u32;
/// `kCFNumberSInt64Type`.
pub const kCFNumberSInt64Type: CFNumberType = 4;

/// `core_foundation_sys::dictionary::CFDictionaryKeyCallBacks` (only the `kCFType` ones exist
/// here).
#[repr(C)]
pub struct CFDictionaryKeyCallBacks {
    _kind: u8,
}
/// `core_foundation_sys::dictionary::CFDictionaryValueCallBacks`.
#[repr(C)]
pub struct CFDictionaryValueCallBacks {
    _kind: u8,
}

/// `kCFAllocatorDefault`: NULL, as in CoreFoundation.
pub const kCFAllocatorDefault: CFAllocatorRef = std::ptr::null();
/// `kCFStringEncodingUTF8`.
pub const kCFStringEncodingUTF8: CFStringEncoding = 0x0800_0100;
/// `kCFBooleanTrue`, `kCFBooleanFalse`: immortal objects (addresses no allocation returns).
pub const kCFBooleanTrue: CFBooleanRef = 0x10 as CFBooleanRef;
pub const kCFBooleanFalse: CFBooleanRef = 0x20 as CFBooleanRef;
/// `kCFTypeDictionaryKeyCallBacks`, `kCFTypeDictionaryValueCallBacks`: retain and release.
pub static kCFTypeDictionaryKeyCallBacks: CFDictionaryKeyCallBacks =
    CFDictionaryKeyCallBacks { _kind: 1 };
pub static kCFTypeDictionaryValueCallBacks: CFDictionaryValueCallBacks =
    CFDictionaryValueCallBacks { _kind: 1 };

/// What an object is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// `IOServiceMatching(class)`: `{IOProviderClass = class}`.
    Matching {
        class: String,
    },
    String(String),
    Boolean(bool),
    /// A CFNumber of 64 bits (what IOCFUnserialize makes of an OSNumber).
    Number(u64),
    /// Keys and values, each holding a reference.
    Dictionary(Vec<(usize, usize)>),
}

struct Live {
    references: u32,
    object: Object,
}

static OBJECTS: Mutex<Option<HashMap<usize, Live>>> = Mutex::new(None);

fn with_objects<T>(f: impl FnOnce(&mut HashMap<usize, Live>) -> T) -> T {
    let mut objects = OBJECTS.lock().unwrap_or_else(|e| e.into_inner());
    f(objects.get_or_insert_with(HashMap::new))
}

fn immortal(address: usize) -> Option<Object> {
    if address == kCFBooleanTrue as usize {
        Some(Object::Boolean(true))
    } else if address == kCFBooleanFalse as usize {
        Some(Object::Boolean(false))
    } else {
        None
    }
}

/// A new object with one reference; its address.
pub fn create(object: Object) -> usize {
    // A real allocation, so that no two live objects share an address.
    let address = Box::into_raw(Box::new(0u64)) as usize;
    with_objects(|objects| {
        objects.insert(
            address,
            Live {
                references: 1,
                object,
            },
        )
    });
    address
}

/// The object at `address`; ends the process if there is none (freed or never made).
pub fn get(address: usize, what: &str) -> Object {
    if let Some(object) = immortal(address) {
        return object;
    }
    with_objects(|objects| objects.get(&address).map(|l| l.object.clone())).unwrap_or_else(|| {
        fatal(&format!(
            "{what}: {address:#x} is not a live CoreFoundation object (a use after free on macOS)"
        ))
    })
}

fn retain(address: usize, what: &str) {
    if immortal(address).is_some() {
        return;
    }
    let found = with_objects(|objects| {
        objects
            .get_mut(&address)
            .map(|l| l.references += 1)
            .is_some()
    });
    if !found {
        fatal(&format!(
            "{what}: {address:#x} is not a live CoreFoundation object"
        ));
    }
}

/// One reference less; the last frees the object (and releases a dictionary's contents).
pub fn release(address: usize, what: &str) {
    if address == 0 {
        fatal(&format!("{what}: CFRelease(NULL) crashes"));
    }
    if immortal(address).is_some() {
        return;
    }
    let freed = with_objects(|objects| {
        let live = objects.get_mut(&address)?;
        live.references -= 1;
        if live.references > 0 {
            return Some(None);
        }
        objects.remove(&address).map(|l| Some(l.object))
    });
    match freed {
        None => fatal(&format!(
            "{what}: {address:#x} is not a live CoreFoundation object (released already: a use after free on macOS)"
        )),
        Some(None) => {}
        Some(Some(object)) => {
            // SAFETY: `address` came from Box::into_raw in `create` and was just removed from
            // the table under its lock: this is its only free.
            drop(unsafe { Box::from_raw(address as *mut u64) });
            if let Object::Dictionary(pairs) = object {
                for (k, v) in pairs {
                    release(k, "a dictionary's key");
                    release(v, "a dictionary's value");
                }
            }
        }
    }
}

/// Live objects (for tests: what a program leaked).
pub fn live_objects() -> usize {
    with_objects(|objects| objects.len())
}

/// `CFRelease`.
///
/// # Safety
///
/// `cf` is a live object of this module (otherwise the process ends).
pub unsafe extern "C" fn CFRelease(cf: *const c_void) {
    release(cf as usize, "CFRelease");
}

/// `CFStringCreateWithCString(alloc, cStr, encoding)`: UTF-8 text only, the default allocator.
///
/// # Safety
///
/// `cStr` is a NUL-terminated string (NULL ends the process: CoreFoundation would fault).
pub unsafe extern "C" fn CFStringCreateWithCString(
    alloc: CFAllocatorRef,
    cStr: *const c_char,
    encoding: CFStringEncoding,
) -> CFStringRef {
    if !alloc.is_null() || encoding != kCFStringEncodingUTF8 {
        fatal("CFStringCreateWithCString: only the default allocator and UTF-8 are modelled");
    }
    if cStr.is_null() {
        fatal("CFStringCreateWithCString(NULL) would fault");
    }
    // SAFETY: the caller passes a NUL-terminated string (checked non-null above).
    let text = unsafe { CStr::from_ptr(cStr) };
    match text.to_str() {
        Ok(text) => create(Object::String(text.to_string())) as CFStringRef,
        // CoreFoundation returns NULL for bytes that are not in the encoding.
        Err(_) => std::ptr::null(),
    }
}

/// `CFDictionaryCreate` with the `kCFType` callbacks: retains every key and value.
///
/// # Safety
///
/// `keys` and `values` are valid for `numValues` reads of live objects of this module.
pub unsafe extern "C" fn CFDictionaryCreate(
    allocator: CFAllocatorRef,
    keys: *const *const c_void,
    values: *const *const c_void,
    numValues: CFIndex,
    keyCallBacks: *const CFDictionaryKeyCallBacks,
    valueCallBacks: *const CFDictionaryValueCallBacks,
) -> crate::CFDictionaryRef {
    if !allocator.is_null()
        || !std::ptr::eq(keyCallBacks, &kCFTypeDictionaryKeyCallBacks)
        || !std::ptr::eq(valueCallBacks, &kCFTypeDictionaryValueCallBacks)
    {
        fatal(
            "CFDictionaryCreate: only the default allocator and the kCFType callbacks are modelled",
        );
    }
    let n =
        usize::try_from(numValues).unwrap_or_else(|_| fatal("CFDictionaryCreate: negative count"));
    if n > 0 && (keys.is_null() || values.is_null()) {
        fatal("CFDictionaryCreate: NULL keys or values with a count would fault");
    }
    let mut pairs = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: keys and values are valid for n reads (the caller's contract).
        let (k, v) = unsafe { (*keys.add(i) as usize, *values.add(i) as usize) };
        retain(k, "CFDictionaryCreate key");
        retain(v, "CFDictionaryCreate value");
        pairs.push((k, v));
    }
    create(Object::Dictionary(pairs)) as crate::CFDictionaryRef
}

/// The text of a string object.
pub fn string(address: usize, what: &str) -> Option<String> {
    match get(address, what) {
        Object::String(s) => Some(s),
        _ => None,
    }
}

/// A property value as IOKitLib rebuilds it from the kernel's serialization
/// (`IOCFUnserializeBinary`): a new object with one reference; its address.
pub fn unserialize(value: &crate::wire::Value) -> usize {
    use crate::wire::Value;
    match value {
        Value::String(s) => create(Object::String(s.clone())),
        Value::Number(n) => create(Object::Number(*n)),
        Value::Bool(true) => kCFBooleanTrue as usize,
        Value::Bool(false) => kCFBooleanFalse as usize,
        Value::Dictionary(entries) => {
            // The dictionary takes the one reference of each key and value.
            let pairs = entries.iter().map(|(k, v)| (create(Object::String(k.clone())), unserialize(v))).collect();
            create(Object::Dictionary(pairs))
        }
    }
}

// The type ids: any distinct numbers (CoreFoundation's are assigned at run time).
const TYPE_STRING: CFTypeID = 7;
const TYPE_BOOLEAN: CFTypeID = 21;
const TYPE_NUMBER: CFTypeID = 22;
const TYPE_DICTIONARY: CFTypeID = 18;

/// `CFGetTypeID`.
///
/// # Safety
///
/// `cf` is a live object of this module (otherwise the process ends).
pub unsafe extern "C" fn CFGetTypeID(cf: *const c_void) -> CFTypeID {
    match get(cf as usize, "CFGetTypeID") {
        Object::String(_) => TYPE_STRING,
        Object::Boolean(_) => TYPE_BOOLEAN,
        Object::Number(_) => TYPE_NUMBER,
        Object::Dictionary(_) | Object::Matching { .. } => TYPE_DICTIONARY,
    }
}

/// `CFStringGetTypeID`.
pub extern "C" fn CFStringGetTypeID() -> CFTypeID {
    TYPE_STRING
}

/// `CFBooleanGetTypeID`.
pub extern "C" fn CFBooleanGetTypeID() -> CFTypeID {
    TYPE_BOOLEAN
}

/// `CFNumberGetTypeID`.
pub extern "C" fn CFNumberGetTypeID() -> CFTypeID {
    TYPE_NUMBER
}

/// `CFDictionaryGetTypeID`.
pub extern "C" fn CFDictionaryGetTypeID() -> CFTypeID {
    TYPE_DICTIONARY
}

fn pairs(dict: *const c_void, what: &str) -> Vec<(usize, usize)> {
    match get(dict as usize, what) {
        Object::Dictionary(pairs) => pairs,
        other => fatal(&format!("{what}: {other:?} is not a dictionary the model reads")),
    }
}

/// `CFDictionaryGetCount`.
///
/// # Safety
///
/// `theDict` is a live dictionary of this module (otherwise the process ends).
pub unsafe extern "C" fn CFDictionaryGetCount(theDict: crate::CFDictionaryRef) -> CFIndex {
    pairs(theDict as *const c_void, "CFDictionaryGetCount").len() as CFIndex
}

/// `CFDictionaryGetKeysAndValues`: the keys and values, not retained (valid while the
/// dictionary is).
///
/// # Safety
///
/// `theDict` is a live dictionary; `keys` and `values` are NULL or valid for
/// `CFDictionaryGetCount` writes.
pub unsafe extern "C" fn CFDictionaryGetKeysAndValues(
    theDict: crate::CFDictionaryRef,
    keys: *mut *const c_void,
    values: *mut *const c_void,
) {
    for (i, (k, v)) in pairs(theDict as *const c_void, "CFDictionaryGetKeysAndValues").into_iter().enumerate() {
        // SAFETY: the caller's contract: room for every pair, or NULL.
        unsafe {
            if !keys.is_null() {
                *keys.add(i) = k as *const c_void;
            }
            if !values.is_null() {
                *values.add(i) = v as *const c_void;
            }
        }
    }
}

/// `CFStringGetCString`: false when the text and its NUL do not fit (UTF-8 only).
///
/// # Safety
///
/// `theString` is a live string; `buffer` is valid for `bufferSize` writes.
pub unsafe extern "C" fn CFStringGetCString(
    theString: CFStringRef,
    buffer: *mut c_char,
    bufferSize: CFIndex,
    encoding: CFStringEncoding,
) -> Boolean {
    if encoding != kCFStringEncodingUTF8 {
        fatal("CFStringGetCString: only UTF-8 is modelled");
    }
    let Some(text) = string(theString as usize, "CFStringGetCString") else {
        fatal("CFStringGetCString: not a string");
    };
    let size = usize::try_from(bufferSize).unwrap_or(0);
    if buffer.is_null() || text.len() + 1 > size {
        return 0;
    }
    // SAFETY: the caller's contract; text.len() + 1 <= bufferSize.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buffer as *mut u8, text.len());
        *buffer.add(text.len()) = 0;
    }
    1
}

/// `CFNumberGetValue` for `kCFNumberSInt64Type`.
///
/// # Safety
///
/// `number` is a live number; `valuePtr` is valid for an 8-byte write.
pub unsafe extern "C" fn CFNumberGetValue(number: *const c_void, theType: CFNumberType, valuePtr: *mut c_void) -> bool {
    if theType != kCFNumberSInt64Type {
        fatal("CFNumberGetValue: only kCFNumberSInt64Type is modelled");
    }
    let Object::Number(n) = get(number as usize, "CFNumberGetValue") else {
        fatal("CFNumberGetValue: not a number");
    };
    // SAFETY: the caller's contract.
    unsafe { (valuePtr as *mut i64).write_unaligned(n as i64) };
    true
}

/// `CFBooleanGetValue`.
///
/// # Safety
///
/// `boolean` is `kCFBooleanTrue` or `kCFBooleanFalse`.
pub unsafe extern "C" fn CFBooleanGetValue(boolean: CFBooleanRef) -> bool {
    match get(boolean as usize, "CFBooleanGetValue") {
        Object::Boolean(b) => b,
        other => fatal(&format!("CFBooleanGetValue: {other:?} is not a boolean")),
    }
}
