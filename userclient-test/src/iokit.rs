//! The kernel through IOKit.framework: the running one on macOS; elsewhere the same calls reach
//! the IOKitLib stand-in and a simulated kernel in its own process. The transport (matching,
//! open, call, close, a registry property) is the framework's `rustkext-iokit`; `sys` holds what
//! only the harness needs from the kernel (file operations, kernel time, violations).
//!
//! The service handle is released right after `IOServiceOpen` (`rustkext_iokit::Service` says
//! why an open connection, not the handle, is what keeps the kext).
//! A non-administrator's connection is opened with the effective uid switched to `nobody` for the
//! duration of `IOServiceOpen` (the driver decides privilege once, at open), then switched back.

use crate::backend::{Backend, Call, CallOutput, Connection, Holder, UnloadAnswer, User};
use crate::codes::{kIOReturnNotFound, kIOReturnSuccess, IOReturn};
use crate::fileops::FileOp;
use crate::kextctl;
use crate::registry::Properties;
use crate::wait::{poll, Progress};
use rustkext_iokit::Service;
use rustkext_monitor_api::Monitor;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::mem::ManuallyDrop;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

pub mod sys;

/// How long a holder may take to report its open connection.
const HOLDER_START_BOUND: Duration = Duration::from_secs(10);
/// What a holder is asked to hold for; it is killed long before.
const HOLDER_SECONDS: &str = "600";
/// How often `wait_unloaded` asks the kext tools.
const UNLOAD_POLL: Duration = Duration::from_secs(2);

pub struct IoKitBackend {
    bundle_id: String,
    /// Serializes opens: the effective uid is process-wide while a non-administrator opens.
    open_lock: Mutex<()>,
    holders: Mutex<HashMap<u64, Child>>,
    next: AtomicU64,
}

impl IoKitBackend {
    pub fn new(bundle_id: &str) -> IoKitBackend {
        IoKitBackend {
            bundle_id: bundle_id.to_string(),
            open_lock: Mutex::new(()),
            holders: Mutex::default(),
            next: AtomicU64::new(1),
        }
    }

    fn matching_service() -> Result<Service, IOReturn> {
        // The class the monitor's rustkext.toml configures, as its generated client knows it.
        Service::matching(<dyn Monitor>::SERVICE_CLASS)
    }

    fn open_connection(service: &Service, connect_type: u32) -> Result<u32, IOReturn> {
        service
            .open(connect_type)
            .map(rustkext_iokit::Connection::into_name)
    }
}

/// The uid of `nobody`, from the user database.
fn nobody_uid() -> Option<libc::uid_t> {
    // SAFETY: a NUL-terminated name; getpwnam returns NULL or a pointer valid until the next
    // getpw* call, read at once.
    let pw = unsafe { libc::getpwnam(c"nobody".as_ptr()) };
    // SAFETY: non-null `pw` points to a valid passwd record (see above).
    (!pw.is_null()).then(|| unsafe { (*pw).pw_uid })
}

/// Runs `open` with the effective uid of `nobody`, then restores root. Only for root callers.
fn as_nobody<T>(open: impl FnOnce() -> T) -> Result<T, String> {
    let nobody = nobody_uid().ok_or("no user 'nobody' in the user database")?;
    // SAFETY: seteuid has no memory-safety preconditions.
    if unsafe { libc::seteuid(nobody) } != 0 {
        return Err(format!(
            "seteuid({nobody}): {}",
            std::io::Error::last_os_error()
        ));
    }
    let result = open();
    // SAFETY: as above; the real and saved uids are still 0, so switching back is allowed.
    if unsafe { libc::seteuid(0) } != 0 {
        // Continuing without root would make every later result wrong.
        eprintln!(
            "userclient-test: cannot restore euid 0: {}",
            std::io::Error::last_os_error()
        );
        std::process::exit(3);
    }
    Ok(result)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Backend for IoKitBackend {
    fn name(&self) -> &'static str {
        "iokit"
    }

    fn is_admin(&self) -> bool {
        is_root()
    }

    fn is_quiet(&self) -> bool {
        false
    }

    fn open(&self, user: User, connect_type: u32) -> Result<Connection, IOReturn> {
        let _one_at_a_time = self.open_lock.lock().unwrap_or_else(|e| e.into_inner());
        let service = Self::matching_service()?;
        let opened = if user == User::NonAdmin && is_root() {
            as_nobody(|| Self::open_connection(&service, connect_type)).unwrap_or_else(|why| {
                eprintln!("userclient-test: {why}");
                Err(crate::codes::kIOReturnError)
            })
        } else {
            Self::open_connection(&service, connect_type)
        };
        drop(service);
        opened.map(|conn| Connection(u64::from(conn)))
    }

    fn call(&self, conn: Connection, call: &Call<'_>) -> Result<CallOutput, IOReturn> {
        // Borrowed: the backend's caller closes the connection (`close`), never a drop.
        let connection = ManuallyDrop::new(rustkext_iokit::Connection::from_name(conn.0 as u32));
        connection.call_method(
            call.selector,
            call.scalars_in,
            call.struct_in,
            call.scalar_out_capacity,
            call.struct_out_capacity,
        )
    }

    fn close(&self, conn: Connection) -> IOReturn {
        rustkext_iokit::Connection::from_name(conn.0 as u32).close()
    }

    fn request_unload(&self) -> Result<UnloadAnswer, String> {
        let (ok, stdout, stderr) = kextctl::run(kextctl::unload_command(
            &kextctl::search_dirs(),
            &self.bundle_id,
        )?)?;
        Ok(kextctl::unload_answer(ok, &stdout, &stderr))
    }

    fn is_loaded(&self) -> Result<bool, String> {
        let (_, stdout, _) = kextctl::run(kextctl::showloaded_command(
            &kextctl::search_dirs(),
            &self.bundle_id,
        )?)?;
        Ok(kextctl::lists_bundle(&stdout, &self.bundle_id))
    }

    fn wait_unloaded(&self, bound: Duration, progress: Progress<'_>) -> Result<Duration, String> {
        let start = Instant::now();
        let mut last_error = None;
        let gone = poll(bound, UNLOAD_POLL, progress, || match self.is_loaded() {
            Ok(loaded) => (!loaded).then_some(()),
            Err(e) => {
                last_error = Some(e);
                None
            }
        });
        match (gone, last_error) {
            (Some(()), _) => Ok(start.elapsed()),
            (None, Some(e)) => Err(e),
            (None, None) => Err(format!("{} still listed as loaded", self.bundle_id)),
        }
    }

    fn rematch_resources(&self, settle: Duration) -> Result<(), String> {
        // IOResources::setProperties publishes each key as a resource (publishResource), which
        // re-registers IOResources: every IOResources personality is matched again. Root only.
        let resources = match Service::matching("IOResources") {
            Ok(resources) => resources,
            Err(code) if code == kIOReturnNotFound => {
                return Err("no IOResources in the registry".into())
            }
            Err(code) => {
                return Err(format!(
                    "IOServiceMatching(IOResources): {}",
                    crate::codes::Code(code)
                ))
            }
        };
        let kr = resources.set_property_true(c"org.rustkext.harness.rematch");
        drop(resources);
        if kr != kIOReturnSuccess {
            return Err(format!(
                "IORegistryEntrySetCFProperties(IOResources): {}",
                crate::codes::Code(kr)
            ));
        }
        sys::sleep_kernel_time(settle);
        Ok(())
    }

    fn service_properties(&self) -> Result<Properties, String> {
        let service = Self::matching_service()
            .map_err(|code| format!("IOServiceGetMatchingService: {}", crate::codes::Code(code)))?;
        service.properties().map_err(|code| {
            format!(
                "IORegistryEntryCreateCFProperties: {}",
                crate::codes::Code(code)
            )
        })
    }

    fn service_present(&self) -> Result<bool, String> {
        match Self::matching_service() {
            Ok(_service) => Ok(true),
            Err(code) if code == kIOReturnNotFound => Ok(false),
            Err(code) => Err(format!("IOServiceMatching: {}", crate::codes::Code(code))),
        }
    }

    fn spawn_holder(&self) -> Result<Holder, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .args([
                "--backend",
                "iokit",
                "--bundle-id",
                &self.bundle_id,
                "hold-open",
                "--seconds",
                HOLDER_SECONDS,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn hold-open: {e}"))?;
        let stdout = child.stdout.take().ok_or("hold-open has no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(HOLDER_START_BOUND).unwrap_or_default();
        if !line.starts_with("holding client") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "hold-open did not open a client within {HOLDER_START_BOUND:?}: {:?}",
                line.trim()
            ));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.holders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, child);
        Ok(Holder(id))
    }

    fn kill_holder(&self, holder: Holder) -> Result<(), String> {
        let mut child = self
            .holders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&holder.0)
            .ok_or("no such holder")?;
        child.kill().map_err(|e| format!("kill hold-open: {e}"))?; // SIGKILL: no IOServiceClose
        child.wait().map_err(|e| format!("wait hold-open: {e}"))?;
        Ok(())
    }

    fn file_root(&self) -> Result<PathBuf, String> {
        // The kernel reports canonical paths (/private/var/..., not /var/...).
        let tmp = std::env::temp_dir();
        let tmp = tmp
            .canonicalize()
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(tmp.join(format!("userclient-test.{}.{n}", std::process::id())))
    }

    fn file_ops(&self, ops: &[FileOp]) -> Result<(), String> {
        sys::perform_file_ops(ops)
    }
}
