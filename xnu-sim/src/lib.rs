//! xnu-sim: a host model of the macOS kernel behaviours in `KERNEL-FACTS.md`, running the
//! unmodified C++ shim (`shim-cpp/`) and the Rust core (`rustkext`) on Linux.
//!
//! One simulated kernel exists per process at a time: [`Kernel::boot`] takes a process-wide lock
//! (held by the returned value) and resets the world; dropping the `Kernel` kills every task and
//! unloads every kext. Its methods take `&self` and may be called from many threads at once.
//!
//! ```no_run
//! use xnu_sim::{codes, Kernel};
//! let k = Kernel::boot();
//! k.load_kext().unwrap();
//! let task = k.spawn_task(0);
//! let c = k.open(task, 0).unwrap();
//! assert_eq!(k.call(c, 0, &[41], &[], 1, 0).unwrap().scalars, vec![42]);
//! assert_eq!(k.close(c), codes::KIO_RETURN_SUCCESS);
//! assert_eq!(k.request_unload(), 0);
//! ```

mod ffi;
pub mod kext;
pub mod plist;
mod ports;

use std::ffi::{c_char, CString};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use kext::{KextSpec, Personality, Property};
pub use ports::ObjectPort;

// The shim's objects call rk_* in this rlib: make sure it is linked.
use rustkext as _;

/// A Mach / OSKext return code (`kern_return_t`).
pub type KernReturn = i32;
/// An IOKit return code.
pub type IOReturn = i32;

/// Return codes, as in KERNEL-FACTS.md "Return codes": the generated `macos-kext-sys` values, so
/// every scenario also checks the model's C++ headers (whose codes the shim returns) against them.
pub mod codes {
    #![allow(missing_docs)]
    use macos_kext_sys as sys;
    pub const KIO_RETURN_SUCCESS: i32 = sys::kIOReturnSuccess;
    pub const KIO_RETURN_ERROR: i32 = sys::kIOReturnError;
    pub const KIO_RETURN_NO_MEMORY: i32 = sys::kIOReturnNoMemory;
    pub const KIO_RETURN_NO_RESOURCES: i32 = sys::kIOReturnNoResources;
    pub const KIO_RETURN_IPC_ERROR: i32 = sys::kIOReturnIPCError;
    pub const KIO_RETURN_NOT_PRIVILEGED: i32 = sys::kIOReturnNotPrivileged;
    pub const KIO_RETURN_BAD_ARGUMENT: i32 = sys::kIOReturnBadArgument;
    pub const KIO_RETURN_UNSUPPORTED: i32 = sys::kIOReturnUnsupported;
    pub const KIO_RETURN_NOT_READY: i32 = sys::kIOReturnNotReady;
    pub const KIO_RETURN_NOT_PERMITTED: i32 = sys::kIOReturnNotPermitted;
    pub const KIO_RETURN_NOT_FOUND: i32 = sys::kIOReturnNotFound;
    /// Not among the project's KPI bindings (only the model returns it).
    pub const KOS_KEXT_RETURN_NOT_FOUND: i32 = 0xdc008006_u32 as i32;
    pub const KOS_KEXT_RETURN_START_STOP_ERROR: i32 = sys::kOSKextReturnStartStopError;
    pub const KOS_KEXT_RETURN_IN_USE: i32 = sys::kOSKextReturnInUse;
    pub const MACH_SEND_INVALID_DEST: i32 = sys::MACH_SEND_INVALID_DEST;
    /// What the MIG stub returns for more than 16 input scalars.
    pub const MIG_ARRAY_TOO_LARGE: i32 = -307;
}

/// FILEOP action numbers (`KAUTH_FILEOP_*`).
pub mod fileop {
    #![allow(missing_docs)]
    use macos_kext_sys as sys;
    pub const OPEN: u32 = sys::KAUTH_FILEOP_OPEN as u32;
    pub const CLOSE: u32 = sys::KAUTH_FILEOP_CLOSE as u32;
    pub const RENAME: u32 = sys::KAUTH_FILEOP_RENAME as u32;
    pub const EXCHANGE: u32 = sys::KAUTH_FILEOP_EXCHANGE as u32;
    pub const LINK: u32 = sys::KAUTH_FILEOP_LINK as u32;
    pub const EXEC: u32 = sys::KAUTH_FILEOP_EXEC as u32;
    pub const DELETE: u32 = sys::KAUTH_FILEOP_DELETE as u32;
    pub const WILL_RENAME: u32 = sys::KAUTH_FILEOP_WILL_RENAME as u32;
}

/// A simulated process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskId(u32);

/// A user-client connection (the `io_connect_t` of `IOServiceOpen`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Connection(u64);

/// What `IOConnectCallMethod` returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallOutput {
    /// The output scalars (as many as the method wrote).
    pub scalars: Vec<u64>,
    /// The output struct bytes (as many as the method wrote).
    pub bytes: Vec<u8>,
}

/// A FILEOP argument: a path (passed as a C string valid during the call) or a plain value.
#[derive(Clone, Copy, Debug)]
pub enum FileopArg<'a> {
    /// A path; the listener sees a NUL-terminated C string.
    Path(&'a str),
    /// Any integer (flags, a vnode pointer stand-in, ...).
    Value(usize),
}

static WORLD: Mutex<()> = Mutex::new(());

/// The simulated kernel. See the crate documentation.
pub struct Kernel {
    _world: MutexGuard<'static, ()>,
}

fn c(s: &str) -> CString {
    CString::new(s).expect("xnu-sim: string with an interior NUL")
}

impl Kernel {
    /// Waits for the previous kernel of this process to go, then boots a fresh one.
    pub fn boot() -> Kernel {
        let world = WORLD
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // SAFETY: the world lock is held; boot resets model state no other thread touches now.
        unsafe { ffi::xsim_boot() };
        Kernel { _world: world }
    }

    /// Defines `spec` (replacing an unloaded definition) so that it can be loaded by bundle id.
    pub fn define_kext(&self, spec: &KextSpec) {
        let bundle = c(&spec.bundle_id);
        let module = c(&spec.module);
        // SAFETY: both pointers are valid NUL-terminated strings for the call.
        let defined = unsafe { ffi::xsim_kext_define(bundle.as_ptr(), module.as_ptr()) };
        assert_eq!(
            defined, 0,
            "xnu-sim: cannot define {} (module {} unknown, or loaded)",
            spec.bundle_id, spec.module
        );
        for personality in &spec.personalities {
            let name = c(&personality.name);
            // SAFETY: valid strings; the kext was just defined.
            unsafe { ffi::xsim_kext_personality(bundle.as_ptr(), name.as_ptr()) };
            for (key, value) in &personality.properties {
                let key = c(key);
                match value {
                    Property::String(s) => {
                        let s = c(s);
                        // SAFETY: bundle, key and s are NUL-terminated strings alive for the call.
                        unsafe {
                            ffi::xsim_kext_property_string(
                                bundle.as_ptr(),
                                key.as_ptr(),
                                s.as_ptr(),
                            )
                        }
                    }
                    // SAFETY: bundle and key are NUL-terminated strings alive for the call.
                    Property::Number(n) => unsafe {
                        ffi::xsim_kext_property_number(bundle.as_ptr(), key.as_ptr(), *n, 64)
                    },
                    // SAFETY: bundle and key are NUL-terminated strings alive for the call.
                    Property::Bool(b) => unsafe {
                        ffi::xsim_kext_property_bool(bundle.as_ptr(), key.as_ptr(), *b)
                    },
                }
            }
        }
    }

    /// `kextload` of RustKext with the repository's Info.plist (build.sh's default values).
    pub fn load_kext(&self) -> Result<(), KernReturn> {
        self.load_kext_with(&[])
    }

    /// `kextload` of RustKext with personality properties overridden (e.g. `RustKextMaxClients`).
    pub fn load_kext_with(&self, overrides: &[(&str, Property)]) -> Result<(), KernReturn> {
        let spec = KextSpec::rustkext().with_overrides(overrides);
        self.define_kext(&spec);
        self.load_bundle(&spec.bundle_id)
    }

    /// `kextload` of a defined bundle.
    pub fn load_bundle(&self, bundle_id: &str) -> Result<(), KernReturn> {
        let bundle = c(bundle_id);
        // SAFETY: valid string for the call.
        match unsafe { ffi::xsim_kext_load(bundle.as_ptr()) } {
            0 => Ok(()),
            code => Err(code),
        }
    }

    /// `kextunload` of RustKext: 0, 0xe00002c7 (a service refused), 0xdc008018 (instances live)...
    pub fn request_unload(&self) -> KernReturn {
        self.unload_bundle(rustkext::abi::DEFAULT_BUNDLE_ID)
    }

    /// `kextunload` of any defined bundle.
    pub fn unload_bundle(&self, bundle_id: &str) -> KernReturn {
        let bundle = c(bundle_id);
        // SAFETY: valid string for the call.
        unsafe { ffi::xsim_kext_unload(bundle.as_ptr()) }
    }

    /// Whether RustKext is loaded.
    pub fn kext_loaded(&self) -> bool {
        self.bundle_loaded(rustkext::abi::DEFAULT_BUNDLE_ID)
    }

    /// Whether a bundle is loaded.
    pub fn bundle_loaded(&self, bundle_id: &str) -> bool {
        let bundle = c(bundle_id);
        // SAFETY: valid string for the call.
        unsafe { ffi::xsim_kext_loaded(bundle.as_ptr()) }
    }

    /// Live (not terminated) services of RustKext in the registry.
    pub fn service_count(&self) -> u32 {
        let bundle = c(rustkext::abi::DEFAULT_BUNDLE_ID);
        // SAFETY: valid string for the call.
        unsafe { ffi::xsim_kext_service_count(bundle.as_ptr()) }
    }

    /// Live instances of exactly `class` (OSMetaClass's count). Panics for an unknown class, so
    /// that a misspelt name cannot pass as zero.
    pub fn instance_count(&self, class: &str) -> u32 {
        let name = c(class);
        // SAFETY: valid string for the call.
        let n = unsafe { ffi::xsim_instance_count(name.as_ptr()) };
        u32::try_from(n).unwrap_or_else(|_| panic!("xnu-sim: no class named {class}"))
    }

    /// Advances the simulated clock (after waiting for the registry to go quiet); the kernel
    /// autounloads a kext without instances once the registry has been quiet for 60 s.
    pub fn advance_clock(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // SAFETY: plain value.
        unsafe { ffi::xsim_advance_clock_ns(ns) }
    }

    /// Waits (at most `timeout`) until no termination or thread call is pending or running.
    pub fn wait_quiet(&self, timeout: Duration) -> bool {
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        // SAFETY: plain value.
        unsafe { ffi::xsim_wait_quiet(ms) }
    }

    /// Shortens xnu's 15 s bound on a `kIOServiceSynchronous` terminate (for tests of the
    /// "PLEASE FIX" path); every boot restores 15 s.
    pub fn set_synchronous_terminate_bound(&self, bound: Duration) {
        let ms = u32::try_from(bound.as_millis()).unwrap_or(u32::MAX);
        // SAFETY: plain value.
        unsafe { ffi::xsim_set_synchronous_terminate_bound_ms(ms) }
    }

    /// A new process with effective uid `euid`.
    pub fn spawn_task(&self, euid: u32) -> TaskId {
        self.spawn_named_task(euid, "simtask")
    }

    /// A new process with a name (shown by the kext's log lines).
    pub fn spawn_named_task(&self, euid: u32, name: &str) -> TaskId {
        let name = c(name);
        // SAFETY: valid string for the call.
        TaskId(unsafe { ffi::xsim_task_spawn(euid, name.as_ptr()) })
    }

    /// Process death: the last send right of each of its connections dies, so the kernel calls
    /// `clientDied` on each (on this thread).
    pub fn kill_task(&self, t: TaskId) {
        // SAFETY: plain value.
        unsafe { ffi::xsim_task_kill(t.0) }
    }

    /// `IOServiceGetMatchingService(IOServiceMatching("org_rustkext_Service"))` + `IOServiceOpen`.
    pub fn open(&self, t: TaskId, connect_type: u32) -> Result<Connection, IOReturn> {
        self.open_service(t, rustkext::abi::SERVICE_CLASS, connect_type)
    }

    /// The same for any service class.
    pub fn open_service(
        &self,
        t: TaskId,
        class: &str,
        connect_type: u32,
    ) -> Result<Connection, IOReturn> {
        let class = c(class);
        let mut connection = 0u64;
        // SAFETY: valid string and out pointer for the call.
        match unsafe { ffi::xsim_open(t.0, class.as_ptr(), connect_type, &mut connection) } {
            0 => Ok(Connection(connection)),
            code => Err(code),
        }
    }

    /// `IOConnectCallMethod`: scalars and struct in; capacities for scalars and struct out.
    pub fn call(
        &self,
        c: Connection,
        selector: u32,
        scalar_in: &[u64],
        struct_in: &[u8],
        scalar_out_capacity: u32,
        struct_out_capacity: u32,
    ) -> Result<CallOutput, IOReturn> {
        let Ok(scalar_in_count) = u32::try_from(scalar_in.len()) else {
            return Err(codes::MIG_ARRAY_TOO_LARGE);
        };
        let mut scalars = vec![0u64; scalar_out_capacity.min(16) as usize];
        let mut scalar_count = scalar_out_capacity;
        let mut bytes = vec![0u8; struct_out_capacity as usize];
        let mut byte_count = bytes.len();
        // SAFETY: every pointer is valid for the length passed with it; the model writes at most
        // min(capacity, 16) scalars and at most `byte_count` bytes.
        let code = unsafe {
            ffi::xsim_call(
                c.0,
                selector,
                scalar_in.as_ptr(),
                scalar_in_count,
                struct_in.as_ptr(),
                struct_in.len(),
                scalars.as_mut_ptr(),
                &mut scalar_count,
                bytes.as_mut_ptr(),
                &mut byte_count,
            )
        };
        if code != 0 {
            return Err(code);
        }
        scalars.truncate(scalar_count as usize);
        bytes.truncate(byte_count);
        Ok(CallOutput { scalars, bytes })
    }

    /// `IOServiceClose`: kIOReturnSuccess for a live connection (clientClose at most once);
    /// MACH_SEND_INVALID_DEST when the connection is already dead.
    pub fn close(&self, c: Connection) -> IOReturn {
        // SAFETY: plain value.
        unsafe { ffi::xsim_close(c.0) }
    }

    /// One FILEOP event on the calling thread; returns how many listeners were called. `arg0`
    /// and `arg1` may be paths (C strings valid only during the call), `arg2` and `arg3` are raw.
    pub fn fileop(
        &self,
        action: u32,
        arg0: FileopArg<'_>,
        arg1: FileopArg<'_>,
        arg2: usize,
        arg3: usize,
    ) -> u32 {
        self.fileop_args(
            action,
            [arg0, arg1, FileopArg::Value(arg2), FileopArg::Value(arg3)],
        )
    }

    /// The same with any of the four arguments a path (WILL_RENAME carries one in `arg2`).
    pub fn fileop_args(&self, action: u32, args: [FileopArg<'_>; 4]) -> u32 {
        let held: Vec<Option<CString>> = args.iter().map(|&a| arg_cstring(a)).collect();
        let raw: Vec<usize> = args
            .iter()
            .zip(&held)
            .map(|(arg, held)| match (arg, held) {
                (_, Some(s)) => s.as_ptr() as usize,
                (FileopArg::Value(v), None) => *v,
                (FileopArg::Path(_), None) => 0,
            })
            .collect();
        // SAFETY: path arguments point to C strings that live (in `held`) until the call returns.
        unsafe { ffi::xsim_fileop(action as i32, raw[0], raw[1], raw[2], raw[3]) }
    }

    /// A FILEOP event with a path in arg1, as OPEN, CLOSE, EXEC and WILL_RENAME carry it.
    pub fn fileop_path(&self, action: u32, path: &str) -> u32 {
        self.fileop(action, FileopArg::Value(0), FileopArg::Path(path), 0, 0)
    }

    /// `events_per_thread` FILEOP events (action, path in arg1) on each of `threads` threads at
    /// once; returns the number of listener calls made.
    pub fn fileop_storm(
        &self,
        threads: usize,
        events_per_thread: usize,
        action: u32,
        path: &str,
    ) -> u64 {
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        (0..events_per_thread)
                            .map(|_| u64::from(self.fileop_path(action, path)))
                            .sum::<u64>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("storm thread"))
                .sum()
        })
    }

    /// Registered kauth FILEOP listeners (of 15 slots).
    pub fn kauth_listener_count(&self) -> u32 {
        // SAFETY: no arguments.
        unsafe { ffi::xsim_kauth_listener_count() }
    }

    /// Registers a FILEOP listener of another kext (its calls are counted in
    /// `kauth.other_listener_calls`); false when all 15 slots are taken.
    pub fn kauth_listen_other(&self) -> bool {
        // SAFETY: no arguments.
        unsafe { ffi::xsim_kauth_listen_other() }
    }

    /// Unregisters every listener [`Kernel::kauth_listen_other`] registered.
    pub fn kauth_unlisten_others(&self) {
        // SAFETY: no arguments.
        unsafe { ffi::xsim_kauth_unlisten_others() }
    }

    /// The next FILEOP caller that reads a live slot parks after reading it and calls the old
    /// callback with the old idata once `kauth_unlisten_scope` has cleared that slot (the
    /// kauth unregister race, made deterministic).
    pub fn arm_fileop_straggler(&self) {
        // SAFETY: plain value.
        unsafe { ffi::xsim_kauth_arm_straggler(false) }
    }

    /// Like [`Kernel::arm_fileop_straggler`], but the straggler calls only after the `stop()`
    /// that unlistened its slot has returned: a caller delayed past any grace period, the part
    /// of the kauth race no kext can close. The model counts such a call in
    /// `kauth.callbacks_entered_after_stop`.
    pub fn arm_late_fileop_straggler(&self) {
        // SAFETY: plain value.
        unsafe { ffi::xsim_kauth_arm_straggler(true) }
    }

    /// Waits until the armed straggler has read its slot and parked.
    pub fn wait_straggler_parked(&self, timeout: Duration) -> bool {
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        // SAFETY: plain value.
        unsafe { ffi::xsim_kauth_wait_straggler_parked(ms) }
    }

    /// Captured `IOLog` lines since boot (trailing newlines removed).
    pub fn log_lines(&self) -> Vec<String> {
        // SAFETY: no arguments.
        let count = unsafe { ffi::xsim_log_count() };
        (0..count)
            .map(|i| {
                let mut buffer = vec![0u8; 1024];
                // SAFETY: the buffer is valid for its length; the model NUL-terminates.
                let len = unsafe {
                    ffi::xsim_log_line(i, buffer.as_mut_ptr() as *mut c_char, buffer.len())
                };
                buffer.truncate(len.min(buffer.len() - 1));
                String::from_utf8_lossy(&buffer).into_owned()
            })
            .collect()
    }

    /// A model event counter: `stop:<class>`, `terminate.inactive:<class>`, `clientClose`,
    /// `clientDied`, `kext.unloaded:<why>`, `kext.unload_refused`, `kauth.callbacks`,
    /// `kauth.callbacks_entered_after_stop`, `kauth.callbacks_running_after_stop`,
    /// `kauth.straggler_calls`, `connection.destroyed_by_terminate`, ...
    pub fn counter(&self, name: &str) -> u64 {
        let name = c(name);
        // SAFETY: valid string for the call.
        unsafe { ffi::xsim_counter(name.as_ptr()) }
    }
}

fn arg_cstring(arg: FileopArg<'_>) -> Option<CString> {
    match arg {
        FileopArg::Path(p) => Some(c(p)),
        FileopArg::Value(_) => None,
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        // SAFETY: the world lock is still held by self.
        unsafe { ffi::xsim_shutdown() }
    }
}
