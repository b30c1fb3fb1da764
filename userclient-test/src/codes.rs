//! IOReturn and kext-management codes: the values come from `macos-kext-sys` (the kernel's own
//! definitions); this module only adds their names for people reading a report.

use macos_kext_sys as k;
use serde::Serialize;
use std::fmt;

pub use k::{
    kIOReturnBadArgument, kIOReturnError, kIOReturnNoMemory, kIOReturnNoResources,
    kIOReturnNotFound, kIOReturnNotPermitted, kIOReturnNotPrivileged, kIOReturnSuccess,
    kIOReturnUnsupported, kOSKextReturnInUse, KAUTH_FILEOP_CLOSE, KAUTH_FILEOP_DELETE,
    KAUTH_FILEOP_OPEN, KAUTH_FILEOP_RENAME, KAUTH_FILEOP_WILL_RENAME, MACH_SEND_INVALID_DEST,
};

/// An `IOReturn` / `kern_return_t` as the kernel and IOKit.framework return it.
pub type IOReturn = i32;

macro_rules! named {
    ($($name:ident),* $(,)?) => { &[$((k::$name as i32, stringify!($name))),*] };
}

/// Every code this harness can meet, by value.
const NAMES: &[(i32, &str)] = named![
    kIOReturnSuccess,
    kIOReturnError,
    kIOReturnNoMemory,
    kIOReturnNoResources,
    kIOReturnIPCError,
    kIOReturnNotPrivileged,
    kIOReturnBadArgument,
    kIOReturnExclusiveAccess,
    kIOReturnUnsupported,
    kIOReturnNotOpen,
    kIOReturnBusy,
    kIOReturnTimeout,
    kIOReturnNotReady,
    kIOReturnNotAttached,
    kIOReturnNotPermitted,
    kIOReturnNoCompletion,
    kIOReturnAborted,
    kIOReturnNotFound,
    kOSKextReturnInUse,
    kOSKextReturnStartStopError,
    MACH_SEND_INVALID_DEST,
];

/// `mach_error_string` texts that `kextunload`/`kmutil` print instead of a number.
const MACH_ERROR_TEXTS: &[(&str, i32)] = &[
    (
        "(iokit/common) unsupported function",
        k::kIOReturnUnsupported,
    ),
    (
        "(libkern/kext) kext is in use or retained",
        k::kOSKextReturnInUse,
    ),
];

/// The symbolic name of `code`, if it is one this harness knows.
pub fn name(code: IOReturn) -> Option<&'static str> {
    NAMES.iter().find(|(v, _)| *v == code).map(|(_, n)| *n)
}

/// A code as a person reads it: `kIOReturnBadArgument (0xe00002c2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code(pub IOReturn);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name(self.0) {
            Some(n) if self.0 == kIOReturnSuccess => f.write_str(n),
            Some(n) => write!(f, "{n} ({:#010x})", self.0 as u32),
            None => write!(f, "{:#010x}", self.0 as u32),
        }
    }
}

/// In JSON: `{"name": "kIOReturnNotPrivileged", "value": 3758097089}`: the name from the table
/// above (`null` for a code it does not know), the value as the unsigned 32-bit number.
impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Code", 2)?;
        st.serialize_field("name", &name(self.0))?;
        st.serialize_field("value", &(self.0 as u32))?;
        st.end()
    }
}

/// The first known code in a tool's output: a `0x…` word (`… - 0xe00002c7.`), a negative decimal
/// in parentheses (`(-536870201)`) or a `mach_error_string` text. Unknown numbers are skipped, so
/// addresses and versions in the same text are not mistaken for the kernel's answer.
pub fn find_in_text(text: &str) -> Option<IOReturn> {
    for word in text.split(|c: char| c.is_whitespace() || "(),;:=\"'[]".contains(c)) {
        let word = word.trim_end_matches('.');
        let parsed = if let Some(hex) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X"))
        {
            u32::from_str_radix(hex, 16).ok().map(|v| v as i32)
        } else if word.starts_with('-') {
            word.parse::<i32>().ok()
        } else {
            None
        };
        if let Some(code) = parsed.filter(|c| *c != 0 && name(*c).is_some()) {
            return Some(code);
        }
    }
    MACH_ERROR_TEXTS
        .iter()
        .find(|(t, _)| text.contains(t))
        .map(|(_, code)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_display() {
        assert_eq!(name(kIOReturnBadArgument), Some("kIOReturnBadArgument"));
        assert_eq!(
            Code(kIOReturnUnsupported).to_string(),
            "kIOReturnUnsupported (0xe00002c7)"
        );
        assert_eq!(Code(0x1234).to_string(), "0x00001234");
    }

    #[test]
    fn json_form_is_name_and_unsigned_value() {
        let v = serde_json::to_value(Code(kIOReturnNotPrivileged)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"name": "kIOReturnNotPrivileged", "value": 3758097089u32})
        );
        let unknown = serde_json::to_value(Code(0x1234)).unwrap();
        assert_eq!(unknown, serde_json::json!({"name": null, "value": 0x1234}));
    }

    #[test]
    fn finds_the_kernel_answer_in_kextunload_output() {
        let out = "(kernel) Can't remove kext org.rustkext.RustKext; services failed to terminate - 0xe00002c7.\n\
                   Failed to unload org.rustkext.RustKext - (iokit/common) unsupported function.";
        assert_eq!(find_in_text(out), Some(kIOReturnUnsupported));
    }

    #[test]
    fn finds_decimal_and_text_forms() {
        assert_eq!(
            find_in_text("Kernel request failed: (-536870201)"),
            Some(kIOReturnUnsupported)
        );
        assert_eq!(
            find_in_text("failed: (iokit/common) unsupported function"),
            Some(kIOReturnUnsupported)
        );
        assert_eq!(find_in_text("at 0xffffff8000200000 v1.0 (-5)"), None);
        assert_eq!(find_in_text("Error - 0xdc008018"), Some(kOSKextReturnInUse));
    }
}
