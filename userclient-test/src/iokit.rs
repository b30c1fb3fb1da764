//! The kernel through IOKit.framework: the running one on macOS; elsewhere the same calls reach
//! the IOKitLib stand-in and a simulated kernel in its own process (`sys`, the only place that
//! differs).
//!
//! The service handle from `IOServiceGetMatchingService` is released right after `IOServiceOpen`:
//! a held handle is a port holding a reference on the service until the service is terminated
//! (terminating it destroys the port: xnu `destroyUserReferences`), so keeping it would leak a
//! name, not block the unload; an open connection is what keeps the kext.
//! A non-administrator's connection is opened with the effective uid switched to `nobody` for the
//! duration of `IOServiceOpen` (the driver decides privilege once, at open), then switched back.

use crate::backend::{Backend, Call, CallOutput, Connection, Holder, UnloadAnswer, User};
use crate::codes::{kIOReturnNoMemory, kIOReturnNotFound, kIOReturnSuccess, IOReturn};
use crate::fileops::FileOp;
use crate::kextctl;
use crate::wait::{poll, Progress};
use rustkext_monitor_api::Monitor;
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};
use crate::registry::{Properties, Value};
use sys::{
    io_connect_t, io_service_t, kCFAllocatorDefault, kCFNumberSInt64Type, kCFStringEncodingUTF8, kIOMasterPortDefault,
    mach_task_self, CFBooleanGetTypeID, CFBooleanGetValue, CFDictionaryGetCount, CFDictionaryGetKeysAndValues,
    CFDictionaryGetTypeID, CFGetTypeID, CFMutableDictionaryRef, CFNumberGetTypeID, CFNumberGetValue, CFRelease,
    CFStringGetCString, CFStringGetTypeID, IOConnectCallMethod, IOObjectRelease, IORegistryEntryCreateCFProperties,
    IORegistryEntrySetCFProperties, IOServiceClose, IOServiceGetMatchingService, IOServiceMatching, IOServiceOpen,
};

pub mod sys;

/// A CoreFoundation property value as the harness's (strings, 64-bit numbers, booleans,
/// dictionaries with string keys; anything else `Other`).
///
/// # Safety
/// `cf` is a live CoreFoundation object, not released during the call.
unsafe fn cf_value(cf: *const c_void) -> Value {
    // SAFETY: `cf` is live (the caller's contract), and so is every key and value a live
    // dictionary hands out while it lives; each call gets the type it checks for.
    unsafe {
        let id = CFGetTypeID(cf as _);
        if id == CFDictionaryGetTypeID() {
            let n = usize::try_from(CFDictionaryGetCount(cf as _)).unwrap_or(0);
            let mut keys = vec![std::ptr::null(); n];
            let mut values = vec![std::ptr::null(); n];
            CFDictionaryGetKeysAndValues(cf as _, keys.as_mut_ptr(), values.as_mut_ptr());
            let mut entries = Vec::with_capacity(n);
            for (k, v) in keys.into_iter().zip(values) {
                if let Some(key) = cf_string(k) {
                    entries.push((key, cf_value(v)));
                }
            }
            Value::Dictionary(Properties(entries))
        } else if id == CFStringGetTypeID() {
            cf_string(cf).map_or(Value::Other, Value::String)
        } else if id == CFNumberGetTypeID() {
            let mut n = 0i64;
            let ok = CFNumberGetValue(cf as _, kCFNumberSInt64Type, &mut n as *mut i64 as *mut c_void);
            if ok { Value::Number(n as u64) } else { Value::Other }
        } else if id == CFBooleanGetTypeID() {
            Value::Bool(CFBooleanGetValue(cf as _))
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
        if CFGetTypeID(cf as _) != CFStringGetTypeID() {
            return None;
        }
        let mut buffer = vec![0u8; 1024];
        if CFStringGetCString(cf as _, buffer.as_mut_ptr() as _, buffer.len() as _, kCFStringEncodingUTF8) == 0 {
            return None;
        }
        let end = buffer.iter().position(|&b| b == 0)?;
        String::from_utf8(buffer[..end].to_vec()).ok()
    }
}

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

    fn matching_service() -> Result<io_service_t, IOReturn> {
        // The class the monitor's rustkext.toml configures, as its generated client knows it.
        let class = CString::new(<dyn Monitor>::SERVICE_CLASS).map_err(|_| kIOReturnNotFound)?;
        // SAFETY: `class` is a NUL-terminated string that outlives the call.
        let matching = unsafe { IOServiceMatching(class.as_ptr()) };
        if matching.is_null() {
            return Err(kIOReturnNoMemory);
        }
        // SAFETY: `matching` is a valid dictionary; IOServiceGetMatchingService consumes
        // (releases) it, so it is not used afterwards.
        let service = unsafe { IOServiceGetMatchingService(kIOMasterPortDefault, matching as _) };
        if service == 0 {
            Err(kIOReturnNotFound)
        } else {
            Ok(service)
        }
    }

    fn open_connection(service: io_service_t, connect_type: u32) -> Result<io_connect_t, IOReturn> {
        let mut conn: io_connect_t = 0;
        // SAFETY: `service` is a live service handle, `conn` a valid out-pointer.
        let kr = unsafe { IOServiceOpen(service, mach_task_self(), connect_type, &mut conn) };
        if kr == kIOReturnSuccess {
            Ok(conn)
        } else {
            Err(kr)
        }
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
            as_nobody(|| Self::open_connection(service, connect_type)).unwrap_or_else(|why| {
                eprintln!("userclient-test: {why}");
                Err(crate::codes::kIOReturnError)
            })
        } else {
            Self::open_connection(service, connect_type)
        };
        // SAFETY: `service` came from IOServiceGetMatchingService and is released once.
        unsafe { IOObjectRelease(service) };
        opened.map(|conn| Connection(u64::from(conn)))
    }

    fn call(&self, conn: Connection, call: &Call<'_>) -> Result<CallOutput, IOReturn> {
        let mut scalars = vec![0u64; call.scalar_out_capacity as usize];
        let mut scalar_count = call.scalar_out_capacity;
        let mut bytes = vec![0u8; call.struct_out_capacity as usize];
        let mut byte_count = bytes.len();
        // SAFETY: every pointer is valid for the count passed with it: the inputs for their
        // lengths, the outputs for their capacities; IOKit writes at most the capacities and
        // updates the counts.
        let kr = unsafe {
            IOConnectCallMethod(
                conn.0 as io_connect_t,
                call.selector,
                call.scalars_in.as_ptr(),
                call.scalars_in.len() as u32,
                call.struct_in.as_ptr().cast::<c_void>(),
                call.struct_in.len(),
                scalars.as_mut_ptr(),
                &mut scalar_count,
                bytes.as_mut_ptr().cast::<c_void>(),
                &mut byte_count,
            )
        };
        if kr != kIOReturnSuccess {
            return Err(kr);
        }
        scalars.truncate(scalar_count as usize);
        bytes.truncate(byte_count);
        Ok(CallOutput { scalars, bytes })
    }

    fn close(&self, conn: Connection) -> IOReturn {
        // SAFETY: IOServiceClose takes any port name; a stale one gets an error code back.
        unsafe { IOServiceClose(conn.0 as io_connect_t) }
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
        let resources = {
            let class = c"IOResources";
            // SAFETY: a NUL-terminated string; the dictionary is consumed below.
            let matching = unsafe { IOServiceMatching(class.as_ptr()) };
            if matching.is_null() {
                return Err("IOServiceMatching(IOResources) failed".into());
            }
            // SAFETY: a valid matching dictionary, consumed by the call.
            unsafe { IOServiceGetMatchingService(kIOMasterPortDefault, matching as _) }
        };
        if resources == 0 {
            return Err("no IOResources in the registry".into());
        }
        let key = c"org.rustkext.harness.rematch";
        // SAFETY: CoreFoundation calls with valid arguments; every created object is released
        // below, after IORegistryEntrySetCFProperties has retained what it keeps.
        let kr = unsafe {
            use sys::{
                kCFAllocatorDefault, kCFBooleanTrue, kCFStringEncodingUTF8,
                kCFTypeDictionaryKeyCallBacks, kCFTypeDictionaryValueCallBacks, CFDictionaryCreate,
                CFRelease, CFStringCreateWithCString,
            };
            let name =
                CFStringCreateWithCString(kCFAllocatorDefault, key.as_ptr(), kCFStringEncodingUTF8);
            let keys = [name as *const c_void];
            let values = [kCFBooleanTrue as *const c_void];
            let properties = CFDictionaryCreate(
                kCFAllocatorDefault,
                keys.as_ptr(),
                values.as_ptr(),
                1,
                &kCFTypeDictionaryKeyCallBacks,
                &kCFTypeDictionaryValueCallBacks,
            );
            let kr = IORegistryEntrySetCFProperties(resources, properties as _);
            CFRelease(properties as _);
            CFRelease(name as _);
            IOObjectRelease(resources);
            kr
        };
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
        let mut dict: CFMutableDictionaryRef = std::ptr::null_mut();
        // SAFETY: a live service handle and a valid out pointer; the default allocator, no options.
        let kr = unsafe { IORegistryEntryCreateCFProperties(service, &mut dict, kCFAllocatorDefault, 0) };
        // SAFETY: the handle from IOServiceGetMatchingService, released once.
        unsafe { IOObjectRelease(service) };
        if kr != kIOReturnSuccess || dict.is_null() {
            return Err(format!("IORegistryEntryCreateCFProperties: {}", crate::codes::Code(kr)));
        }
        // SAFETY: `dict` is the dictionary the call created, live until the release below.
        let value = unsafe { cf_value(dict as *const c_void) };
        // SAFETY: the one reference the Create call gave us.
        unsafe { CFRelease(dict as *const c_void) };
        match value {
            Value::Dictionary(d) => Ok(d),
            other => Err(format!("the service's properties are not a dictionary: {other:?}")),
        }
    }

    fn service_present(&self) -> Result<bool, String> {
        match Self::matching_service() {
            Ok(service) => {
                // SAFETY: a handle from IOServiceGetMatchingService, released once.
                unsafe { IOObjectRelease(service) };
                Ok(true)
            }
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
