//! The `--json` documents: every one carries [`SCHEMA_VERSION`], its `kind`, when it was written,
//! and the run's header ([`Run`]: harness, backend, OS, kext). The schema of every kind is
//! `userclient-test/schema/report.schema.json`.

use crate::backend::{Backend, User};
use crate::client::{Client, Seen};
use rustkext_abi::Interface;
use rustkext_monitor_api::{Monitor, ABI_VERSION};
use serde::Serialize;
use serde_json::{Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// The version of the documents' schema; raised when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// `t` as RFC 3339 in UTC with milliseconds: `2024-02-29T13:05:09.042Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date of day `days` since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Now, as [`rfc3339`].
pub fn now() -> String {
    rfc3339(SystemTime::now())
}

/// The harness: its crate version, and the interface it was built against.
#[derive(Clone, Debug, Serialize)]
pub struct Harness {
    pub version: &'static str,
    pub abi: [u64; 3],
    /// The interface's fingerprint, as `0x` and 16 hex digits (a string: JSON numbers above 2^53
    /// lose digits in many readers).
    pub fingerprint: String,
}

impl Harness {
    pub fn this() -> Harness {
        Harness {
            version: env!("CARGO_PKG_VERSION"),
            abi: ABI_VERSION,
            fingerprint: hex64(<dyn Monitor as Interface>::FINGERPRINT),
        }
    }
}

fn hex64(v: u64) -> String {
    format!("{v:#018x}")
}

/// The machine the harness runs on: `uname`, and on macOS `sw_vers`.
#[derive(Clone, Debug, Serialize)]
pub struct Os {
    /// `uname -s`: `Darwin`, `Linux`.
    pub name: String,
    /// `uname -r`: the kernel release (`24.1.0` for macOS 15.1).
    pub release: String,
    /// `uname -m`.
    pub machine: String,
    /// `sw_vers -productVersion` (macOS only, else null).
    pub product_version: Option<String>,
    /// `sw_vers -buildVersion` (macOS only, else null).
    pub build_version: Option<String>,
}

impl Os {
    pub fn this() -> Os {
        let (name, release, machine) = uname();
        let sw_vers = |flag: &str| {
            if !cfg!(target_os = "macos") {
                return None;
            }
            let out = std::process::Command::new("sw_vers")
                .arg(flag)
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !text.is_empty()).then_some(text)
        };
        Os {
            name,
            release,
            machine,
            product_version: sw_vers("-productVersion"),
            build_version: sw_vers("-buildVersion"),
        }
    }
}

fn uname() -> (String, String, String) {
    // SAFETY: an all-zero utsname is a valid value (arrays of c_char).
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname; uname fills NUL-terminated fields.
    if unsafe { libc::uname(&mut u) } != 0 {
        return ("unknown".into(), "unknown".into(), "unknown".into());
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (field(&u.sysname), field(&u.release), field(&u.machine))
}

/// The kext as an unprivileged client can see it, found when the run started: whether it is
/// loaded (the kext tools), and through a client opened and closed at once its ABI version
/// (`GetVersion`) and interface fingerprint (`Describe`); both answer any client. Null where it
/// could not be found, with `error` saying why.
#[derive(Clone, Debug, Serialize)]
pub struct KextInfo {
    pub bundle_id: String,
    pub loaded: Option<bool>,
    pub abi: Option<[u64; 3]>,
    pub fingerprint: Option<String>,
    pub error: Option<String>,
}

impl KextInfo {
    pub fn probe(backend: &dyn Backend, bundle_id: &str) -> KextInfo {
        let mut info = KextInfo {
            bundle_id: bundle_id.to_string(),
            loaded: backend.is_loaded().ok(),
            abi: None,
            fingerprint: None,
            error: None,
        };
        let seen = Seen::default();
        match Client::open(backend, &seen, User::Current) {
            Ok(client) => {
                match rustkext_abi::client::describe(client.transport()) {
                    Ok([fingerprint, _]) => info.fingerprint = Some(hex64(fingerprint)),
                    Err(e) => info.error = Some(e.to_string()),
                }
                match client.get_version() {
                    Ok(v) => info.abi = Some(v),
                    Err(e) => info.error = Some(e.to_string()),
                }
                client.close();
            }
            Err(r) => info.error = Some(r.to_string()),
        }
        info
    }

    /// When there is no kernel to ask.
    pub fn unreachable(bundle_id: &str, why: &str) -> KextInfo {
        KextInfo {
            bundle_id: bundle_id.to_string(),
            loaded: None,
            abi: None,
            fingerprint: None,
            error: Some(why.to_string()),
        }
    }
}

/// The header every document of a run carries.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub harness: Harness,
    pub backend: &'static str,
    pub os: Os,
    pub kext: KextInfo,
    /// When the run started (RFC 3339, UTC).
    pub started: String,
}

impl Run {
    pub fn new(backend: &'static str, kext: KextInfo) -> Run {
        Run {
            harness: Harness::this(),
            backend,
            os: Os::this(),
            kext,
            started: now(),
        }
    }

    /// A document of `kind`: the envelope (`schema_version`, `kind`, `timestamp`, `run`), then
    /// `fields` (an object).
    pub fn document(&self, kind: &str, fields: Value) -> Value {
        let mut doc = Map::new();
        doc.insert("schema_version".into(), SCHEMA_VERSION.into());
        doc.insert("kind".into(), kind.into());
        doc.insert("timestamp".into(), now().into());
        doc.insert(
            "run".into(),
            serde_json::to_value(self).unwrap_or(Value::Null),
        );
        if let Value::Object(fields) = fields {
            doc.extend(fields);
        }
        Value::Object(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_of_known_instants() {
        let at = |s: u64, ms: u64| {
            rfc3339(UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_709_211_909, 42), "2024-02-29T13:05:09.042Z");
        assert_eq!(at(1_735_689_599, 999), "2024-12-31T23:59:59.999Z");
        assert_eq!(at(4_102_444_800, 0), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn harness_fingerprint_is_sixteen_hex_digits() {
        let h = Harness::this();
        assert_eq!(h.fingerprint.len(), 18);
        assert!(h.fingerprint.starts_with("0x"));
        assert_eq!(
            u64::from_str_radix(&h.fingerprint[2..], 16).unwrap(),
            <dyn Monitor as Interface>::FINGERPRINT
        );
    }
}
