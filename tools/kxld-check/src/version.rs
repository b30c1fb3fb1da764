//! Kext versions as the kernel reads them, and the dependency version rule.
//!
//! `parse` follows xnu's `OSKextParseVersionString` (libkern/OSKextVersion.c): up to four digits
//! each of major, minor and revision separated by dots, then an optional stage letter (`d`, `a`,
//! `b`, `f`/`fc`) and a stage level of up to three digits (at most 255). The result orders like
//! the kernel's 64-bit value: major·10¹² + minor·10⁸ + revision·10⁴ + stage·10³ + level.

/// A parsed version; `Ord` is the kernel's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub i64);

const STAGE_DEVELOPMENT: i64 = 1;
const STAGE_ALPHA: i64 = 3;
const STAGE_BETA: i64 = 5;
const STAGE_CANDIDATE: i64 = 7;
const STAGE_RELEASE: i64 = 9;

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_stage_letter(c: u8) -> bool {
    matches!(c, b'd' | b'a' | b'b' | b'f')
}

/// `OSKextParseVersionString`: `None` where the kernel returns -1. The structure (three number
/// fields, each ending at a dot, a stage letter, the end or after four digits; then the stage)
/// follows the C function step by step, quirks included (`19..0` is `19.0.0`; a dot after four
/// revision digits is skipped).
pub fn parse(s: &str) -> Option<Version> {
    let b = s.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let end = |i: usize| at(i) == 0 || is_space(at(i));
    let mut parts = [0i64; 3];
    if !at(0).is_ascii_digit() {
        return None;
    }
    parts[0] = i64::from(at(0) - b'0');
    let mut i = 1usize;
    let mut scanned = 1usize;
    let mut field = 0usize;
    // Ok(true): the string ended (release); Ok(false): a stage letter follows.
    let numbers_end: bool = 'fields: loop {
        while scanned < 4 {
            let c = at(i);
            if end(i) {
                break 'fields true;
            } else if c.is_ascii_digit() {
                parts[field] = parts[field] * 10 + i64::from(c - b'0');
                i += 1;
                scanned += 1;
            } else if is_stage_letter(c) {
                break 'fields false;
            } else if c == b'.' && field < 2 {
                i += 1;
                break;
            } else {
                return None; // includes a dot inside the revision
            }
        }
        if scanned == 4 {
            // "Check for too many digits."
            if at(i) == b'.' {
                i += 1;
            } else if at(i).is_ascii_digit() {
                return None;
            }
        }
        if field == 2 {
            break 'fields false; // on to the release state
        }
        field += 1;
        scanned = 0;
    };
    let mut stage = STAGE_RELEASE;
    let mut level = 0i64;
    if !numbers_end && !end(i) {
        // __OSKextVersionStageForString
        let (st, skip) = match (at(i), at(i + 1), at(i + 2)) {
            (b'd', d, _) if d.is_ascii_digit() => (STAGE_DEVELOPMENT, 1),
            (b'a', d, _) if d.is_ascii_digit() => (STAGE_ALPHA, 1),
            (b'b', d, _) if d.is_ascii_digit() => (STAGE_BETA, 1),
            (b'f', d, _) if d.is_ascii_digit() => (STAGE_CANDIDATE, 1),
            (b'f', b'c', d) if d.is_ascii_digit() => (STAGE_CANDIDATE, 2),
            _ => return None,
        };
        stage = st;
        i += skip;
        let mut digits = 0;
        while digits < 3 {
            if end(i) {
                break;
            } else if at(i).is_ascii_digit() {
                level = level * 10 + i64::from(at(i) - b'0');
                i += 1;
                digits += 1;
            } else {
                return None;
            }
        }
        if digits == 0 || (digits == 3 && !end(i)) || level > 255 {
            return None;
        }
    }
    if stage == STAGE_CANDIDATE && level == 0 {
        return None;
    }
    Some(Version(
        parts[0] * 1_000_000_000_000 + parts[1] * 100_000_000 + parts[2] * 10_000 + stage * 1_000 + level,
    ))
}

/// Why a declared library version is refused, or `None` if the library satisfies it.
///
/// The 10.15 kernel (`OSKext::isCompatibleWithVersion`, libkern/c++/OSKext.cpp) only requires
/// `OSBundleCompatibleVersion <= CFBundleVersion` and `declared <= CFBundleVersion`; the lower
/// bound (`declared >= OSBundleCompatibleVersion`) is enforced in user space by kextd/kextutil
/// before the kernel is asked. A kext must pass both, so both are checked, each with its own
/// message.
pub fn incompatibility(
    library: &str,
    declared: &str,
    version: &str,
    compatible: Option<&str>,
) -> Option<String> {
    let Some(want) = parse(declared) else {
        return Some(format!("invalid library version {declared} (OSKextParseVersionString rejects it)"));
    };
    let Some(have) = parse(version) else {
        return Some(format!("library kext {library} has an invalid CFBundleVersion {version}"));
    };
    let Some(compat) = compatible.and_then(parse) else {
        return Some(format!(
            "library kext {library} declares no valid OSBundleCompatibleVersion, so it is not a library"
        ));
    };
    if compat > have || want > have {
        return Some(format!(
            "library kext {library} not compatible with requested version {declared} \
             (it is {version}; the kernel's OSKext::isCompatibleWithVersion requires {declared} <= {version})"
        ));
    }
    if want < compat {
        return Some(format!(
            "library kext {library} not compatible with requested version {declared} \
             (it is compatible back to {} only; kextd/kextutil refuse a version below that)",
            compatible.unwrap_or_default()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> i64 {
        parse(s).map(|v| v.0).unwrap_or(-1)
    }

    #[test]
    fn parses_like_the_kernel() {
        assert_eq!(v("19.0.0"), 19_000_000_000_000 + 9_000);
        assert_eq!(v("19.6.0"), 19_000_000_000_000 + 600_000_000 + 9_000);
        assert_eq!(v("7.0"), 7_000_000_000_000 + 9_000);
        assert_eq!(v("8"), 8_000_000_000_000 + 9_000);
        assert_eq!(v("1.2.3d4"), 1_000_000_000_000 + 200_000_000 + 30_000 + 1_000 + 4);
        assert_eq!(v("1.2b7"), 1_000_000_000_000 + 200_000_000 + 5_000 + 7);
        assert_eq!(v("2.0fc3"), 2_000_000_000_000 + 7_000 + 3);
        assert_eq!(v("9999.9999.9999"), 9_999_000_000_000_000 + 999_900_000_000 + 99_990_000 + 9_000);
        assert_eq!(v("1.0 "), v("1.0"));
        // Quirks of the C parser, kept: an empty field is 0, a dot after four revision digits
        // is skipped.
        assert_eq!(v("19..0"), v("19.0.0"));
        assert_eq!(v("1.2.3456."), v("1.2.3456"));
    }

    #[test]
    fn rejects_what_the_kernel_rejects() {
        for bad in ["", ".1", "a1", "19.0.0.0", "10000", "1.10000", "1.0.10000", "1.0f", "1.0f0", "1.0d256",
            "1.0d1234", "1.0x", "1.0d", "1.2.3.4"]
        {
            assert_eq!(parse(bad), None, "{bad:?} must be refused");
        }
    }

    #[test]
    fn orders_stages_before_release() {
        assert!(parse("1.0d1") < parse("1.0a1"));
        assert!(parse("1.0a1") < parse("1.0b1"));
        assert!(parse("1.0b1") < parse("1.0fc1"));
        assert!(parse("1.0fc1") < parse("1.0"));
        assert!(parse("1.0") < parse("1.0.1"));
    }

    #[test]
    fn dependency_rule() {
        // 10.15's KPI bundles: CFBundleVersion 19.6.0, compatible back to 8.0.
        assert_eq!(incompatibility("com.apple.kpi.iokit", "19.0.0", "19.6.0", Some("8.0")), None);
        assert_eq!(incompatibility("com.apple.kpi.iokit", "8.0", "19.6.0", Some("8.0")), None);
        assert_eq!(incompatibility("com.apple.kpi.iokit", "19.6.0", "19.6.0", Some("8.0")), None);
        let newer = incompatibility("com.apple.kpi.iokit", "20.0.0", "19.6.0", Some("8.0")).unwrap_or_default();
        assert!(newer.contains("not compatible with requested version 20.0.0"), "{newer}");
        assert!(newer.contains("isCompatibleWithVersion"), "{newer}");
        let older = incompatibility("com.apple.kpi.iokit", "7.9", "19.6.0", Some("8.0")).unwrap_or_default();
        assert!(older.contains("compatible back to 8.0 only"), "{older}");
        assert!(incompatibility("x", "19.0.0", "19.6.0", None).is_some());
        assert!(incompatibility("x", "nineteen", "19.6.0", Some("8.0")).is_some());
    }
}
