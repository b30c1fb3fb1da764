//! xnu-sim: a host model of the macOS kernel behaviours in docs/kernel-facts.md, running kexts built
//! with RustKext (the one C++ shim compiled with each kext's names, and its Rust) on Linux, as strict
//! as xnu where the driver could tell the difference (see `README.md` for what is modelled, from
//! which xnu function). A test binary runs the kexts whose glue crates it links: each registers
//! its code module (`kext/registrar.cpp`); [`KextSpec`] says which bundle runs which module.
//!
//! One simulated kernel exists per process at a time: [`Kernel::boot`] takes a process-wide lock
//! (held by the returned value) and resets the world; dropping the `Kernel` kills every task and
//! unloads every kext. Its methods take `&self` and may be called from many threads at once.
//!
//! Kernel rules the code under test breaks (a sleep inside the platform work-loop gate, a
//! livelock on one CPU, a call into unmapped kext code) are recorded as [`Violation`]s: read them
//! with [`Kernel::violations`], take them with [`Kernel::take_violations`]; dropping a `Kernel`
//! with violations not taken panics, so every test fails on them unless it takes them.
//!
//! Kernel time (`mach_absolute_time`, `IOSleep`, deadlines, delayed thread calls) runs
//! [`TIME_FACTOR`] times faster than the host's clock, and a busy desktop publishes a resource
//! in the background of every kernel ([`Desktop`]).
//!
//! ```ignore
//! use xnu_sim::{codes, Kernel, KextSpec};
//! let k = Kernel::boot();
//! let id = rustkext_monitor_kext::IDENTITY; // a kext's glue crate
//! let spec = KextSpec::from_info_plist(id.info_plist, id.bundle_id).unwrap();
//! k.define_kext(&spec);
//! k.load_bundle(id.bundle_id).unwrap();
//! let task = k.spawn_task(0);
//! let c = k.open_service(task, id.service_class, 0).unwrap();
//! assert_eq!(k.call(c, 0, &[41], &[], 1, 0).unwrap().scalars, vec![42]);
//! assert_eq!(k.close(c), codes::KIO_RETURN_SUCCESS);
//! assert_eq!(k.unload_bundle(id.bundle_id), 0);
//! ```

mod ffi;
pub mod kext;
pub mod plist;
mod ports;

use std::ffi::{c_char, CString};
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub use kext::{KextSpec, Personality, Property};
pub use ports::{ObjectPort, RegistryValue};

/// A Mach / OSKext return code (`kern_return_t`).
pub type KernReturn = i32;
/// An IOKit return code.
pub type IOReturn = i32;

/// Return codes, as in docs/kernel-facts.md "Return codes": the generated `macos-kext-sys` values, so
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
    pub const KIO_RETURN_NOT_OPEN: i32 = sys::kIOReturnNotOpen;
    pub const KIO_RETURN_NOT_FOUND: i32 = sys::kIOReturnNotFound;
    /// Not among the project's KPI bindings (only the model returns it).
    pub const KOS_KEXT_RETURN_NOT_FOUND: i32 = 0xdc008006_u32 as i32;
    pub const KOS_KEXT_RETURN_START_STOP_ERROR: i32 = sys::kOSKextReturnStartStopError;
    pub const KOS_KEXT_RETURN_IN_USE: i32 = sys::kOSKextReturnInUse;
    /// `kOSMetaClassDuplicateClass`: a class name a loaded kext already registered (only the
    /// model returns it).
    pub const KOS_META_CLASS_DUPLICATE_CLASS: i32 = 0xdc00400a_u32 as i32;
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

/// Kernel time runs this many times faster than the host's steady clock (`XSIM_TIME_FACTOR`):
/// `IOSleep(1000)` takes 100 ms of host time; every kernel duration scales alike.
pub const TIME_FACTOR: u32 = 10;

/// Which xnu the model follows where 10.15 and 11+ differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// macOS 10.15 (xnu-6153): no IPC lock around `externalMethod`, kexts loaded by kxld from
    /// /Library/Extensions, load requests served by kextd.
    Catalina,
    /// macOS 11 to 15 (xnu-7195 to 11417): IPC read lock around `externalMethod`, write lock
    /// around `clientClose`/`clientDied`; kexts in the auxiliary kext collection, reloaded in
    /// place by the kernel.
    BigSurAndLater,
}

impl Flavor {
    /// Both flavours, for parametrized tests.
    pub const ALL: [Flavor; 2] = [Flavor::Catalina, Flavor::BigSurAndLater];

    fn raw(self) -> i32 {
        match self {
            Flavor::Catalina => 0,
            Flavor::BigSurAndLater => 1,
        }
    }
}

/// The busy desktop in the background of every kernel: `updateConsoleUsers` publishing the
/// `IOConsoleUsersSeed` resource, which re-registers IOResources (rematching every personality
/// on it) and makes a registry busy/quiet edge (restarting the 60 s autounload countdown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Desktop {
    /// Nothing publishes.
    Off,
    /// A publish every `every` for `burst`, then nothing for `quiet`, repeating from boot.
    Bursts {
        /// Between two publishes of a burst.
        every: Duration,
        /// How long a burst lasts.
        burst: Duration,
        /// The quiet gap after a burst.
        quiet: Duration,
    },
}

impl Desktop {
    /// Every boot's schedule: a publish every 5 s for 30 s, then 75 s without.
    pub const DEFAULT: Desktop = Desktop::Bursts {
        every: Duration::from_secs(5),
        burst: Duration::from_secs(30),
        quiet: Duration::from_secs(75),
    };
}

/// What kind of kernel rule a [`Violation`] broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A sleep (`IOSleep`, `IODelay`, a deadline sleep) inside the platform work-loop gate.
    SleepInGate,
    /// The kernel clock polled inside the platform work-loop gate.
    PollInGate,
    /// One CPU: a fixed-priority kernel thread ran without blocking while the user thread it
    /// preempted held what it waited for.
    Livelock,
    /// A call into a kext's code after it was unmapped (a kernel panic on a real machine).
    UnmappedCall,
}

/// A kernel rule the code under test broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// What kind.
    pub kind: ViolationKind,
    /// The class or module it happened in.
    pub subject: String,
    /// The callback or hook (`stop`, `willTerminate`, `a kauth FILEOP callback`, ...).
    pub callback: String,
    /// Kernel time the platform gate was held (gate violations), else zero.
    pub held: Duration,
    /// The model's description.
    pub text: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.text)
    }
}

/// One callback run inside the platform work-loop gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateHold {
    /// The class whose callback ran.
    pub class: String,
    /// `willTerminate`, `didTerminate`, `finalize` or `stop`.
    pub callback: String,
    /// Kernel time the gate was held.
    pub held: Duration,
    /// Sleeps inside it.
    pub sleeps: u32,
}

/// The sanitizer the model was built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sanitizer {
    /// None.
    None,
    /// AddressSanitizer.
    Address,
    /// ThreadSanitizer.
    Thread,
}

static WORLD: Mutex<()> = Mutex::new(());

/// The simulated kernel. See the crate documentation.
pub struct Kernel {
    _world: MutexGuard<'static, ()>,
}

fn copy_string(len: usize, buffer: &[u8]) -> String {
    let end = buffer
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(buffer.len().min(len));
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn timeout_ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

fn c(s: &str) -> CString {
    CString::new(s).expect("xnu-sim: string with an interior NUL")
}

impl Kernel {
    /// Waits for the previous kernel of this process to go, then boots a fresh one (macOS 11+).
    pub fn boot() -> Kernel {
        Kernel::boot_flavor(Flavor::BigSurAndLater)
    }

    /// The same, following the given flavour of xnu.
    pub fn boot_flavor(flavor: Flavor) -> Kernel {
        let world = WORLD
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // SAFETY: the world lock is held; boot resets model state no other thread touches now.
        unsafe { ffi::xsim_boot(flavor.raw()) };
        Kernel { _world: world }
    }

    /// The flavour this kernel follows.
    pub fn flavor(&self) -> Flavor {
        // SAFETY: no arguments.
        match unsafe { ffi::xsim_flavor_get() } {
            0 => Flavor::Catalina,
            _ => Flavor::BigSurAndLater,
        }
    }

    /// The sanitizer the model (and so the test binary) was built with.
    pub fn sanitizer() -> Sanitizer {
        // SAFETY: no arguments; a constant of the build.
        match unsafe { ffi::xsim_sanitizer() } {
            1 => Sanitizer::Address,
            2 => Sanitizer::Thread,
            _ => Sanitizer::None,
        }
    }

    /// Restarts the machine: every task dies and every kext goes (the model's shutdown, whose
    /// violations are printed, not recorded), then the same flavour boots with the installed
    /// kexts: their personalities enter the catalogue and IOResources is matched.
    pub fn reboot(&self) {
        // SAFETY: the world lock is held by self.
        unsafe { ffi::xsim_shutdown(true) }
    }

    /// Defines `spec` and installs it: /Library/Extensions on 10.15, the auxiliary kext
    /// collection on 11+ (known to the kernel and the kext daemon; matched at every boot).
    pub fn install_kext(&self, spec: &KextSpec) {
        self.define_kext(spec);
        let bundle = c(&spec.bundle_id);
        // SAFETY: a valid string for the call.
        let code = unsafe { ffi::xsim_kext_install(bundle.as_ptr()) };
        assert_eq!(code, 0, "xnu-sim: cannot install {}", spec.bundle_id);
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

    /// Defines `spec` and loads it (`kextload`); see [`Kernel::load_bundle`].
    pub fn load_spec(&self, spec: &KextSpec) -> Result<(), KernReturn> {
        self.define_kext(spec);
        self.load_bundle(&spec.bundle_id)
    }

    /// `kextload` (10.15: kextutil; 11+: `kmutil load`, which also puts the kext in the
    /// auxiliary collection) of a defined bundle. The kernel matches the new personalities
    /// asynchronously, on its matching thread; this waits until the model is quiet again, as a
    /// user would wait for the service to appear.
    pub fn load_bundle(&self, bundle_id: &str) -> Result<(), KernReturn> {
        let bundle = c(bundle_id);
        // SAFETY: valid string for the call.
        let code = unsafe { ffi::xsim_kext_load(bundle.as_ptr()) };
        self.wait_quiet(Duration::from_secs(30));
        match code {
            0 => Ok(()),
            code => Err(code),
        }
    }

    /// `kextunload` of a defined bundle: 0, 0xe00002c7 (a service refused), 0xdc008018
    /// (instances live)...
    pub fn unload_bundle(&self, bundle_id: &str) -> KernReturn {
        let bundle = c(bundle_id);
        // SAFETY: valid string for the call.
        unsafe { ffi::xsim_kext_unload(bundle.as_ptr()) }
    }

    /// Whether a bundle is loaded.
    pub fn bundle_loaded(&self, bundle_id: &str) -> bool {
        let bundle = c(bundle_id);
        // SAFETY: valid string for the call.
        unsafe { ffi::xsim_kext_loaded(bundle.as_ptr()) }
    }

    /// Live (not terminated) services of a bundle in the registry.
    pub fn bundle_service_count(&self, bundle_id: &str) -> u32 {
        let bundle = c(bundle_id);
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

    /// Kernel time since boot.
    pub fn now(&self) -> Duration {
        // SAFETY: no arguments.
        Duration::from_nanos(unsafe { ffi::xsim_now() })
    }

    /// Advances kernel time by `d`, through every timer and desktop event on the way: time
    /// jumps to the next event, the event fires, the model goes quiet, and so on. The kernel
    /// autounloads a kext without instances 60 s after the last registry-quiet edge.
    pub fn advance_clock(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // SAFETY: plain value.
        unsafe { ffi::xsim_advance_clock_ns(ns) }
    }

    /// Moves kernel time by `d` at once, waiting for nothing (deadlines that passed expire;
    /// timers due fire on their own thread).
    pub fn jump_clock(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // SAFETY: plain value.
        unsafe { ffi::xsim_jump_clock_ns(ns) }
    }

    /// Waits (at most `timeout` of host time) until no termination, matching, load request or
    /// thread call is pending or running and the registry is not busy.
    pub fn wait_quiet(&self, timeout: Duration) -> bool {
        // SAFETY: plain value.
        unsafe { ffi::xsim_wait_quiet(timeout_ms(timeout)) }
    }

    /// Sets the busy desktop's schedule (every boot starts with [`Desktop::DEFAULT`]).
    pub fn set_desktop(&self, desktop: Desktop) {
        let (every, burst, quiet) = match desktop {
            Desktop::Off => (0, 0, 0),
            Desktop::Bursts {
                every,
                burst,
                quiet,
            } => (millis(every).max(1), millis(burst), millis(quiet)),
        };
        // SAFETY: plain values.
        unsafe { ffi::xsim_desktop_set(every, burst, quiet) }
    }

    /// `IOService::publishResource(key)` (value `gIOServiceKey`): sets it on IOResources and
    /// re-registers IOResources, so every personality on it is matched again.
    pub fn publish_resource(&self, key: &str) {
        let key = c(key);
        // SAFETY: a valid string for the call.
        unsafe { ffi::xsim_resource_publish(key.as_ptr()) }
    }

    /// `getResourceService()->removeProperty(key)`: withdraws a resource (no rematch).
    pub fn remove_resource(&self, key: &str) {
        let key = c(key);
        // SAFETY: a valid string for the call.
        unsafe { ffi::xsim_resource_remove(key.as_ptr()) }
    }

    /// Whether IOResources has the property `key`.
    pub fn resource_published(&self, key: &str) -> bool {
        let key = c(key);
        // SAFETY: a valid string for the call.
        unsafe { ffi::xsim_resource_published(key.as_ptr()) }
    }

    /// How many personalities of `bundle_id` are in the IOCatalogue.
    pub fn catalogue_personalities(&self, bundle_id: &str) -> u32 {
        let bundle = c(bundle_id);
        // SAFETY: a valid string for the call.
        unsafe { ffi::xsim_catalogue_personalities(bundle.as_ptr()) }
    }

    /// The violations recorded and not taken yet.
    pub fn violations(&self) -> Vec<Violation> {
        // SAFETY: no arguments.
        let count = unsafe { ffi::xsim_violation_count() };
        (0..count).filter_map(read_violation).collect()
    }

    /// Takes the violations recorded so far (a dropped kernel with violations not taken panics).
    pub fn take_violations(&self) -> Vec<Violation> {
        let taken = self.violations();
        // SAFETY: plain value; drops exactly the ones read.
        unsafe { ffi::xsim_violations_drop(taken.len()) };
        taken
    }

    /// Every callback run inside the platform work-loop gate since boot (the last 4096).
    pub fn gate_holds(&self) -> Vec<GateHold> {
        // SAFETY: no arguments.
        let count = unsafe { ffi::xsim_gate_hold_count() };
        (0..count)
            .filter_map(|i| {
                let mut class = [0u8; 128];
                let mut callback = [0u8; 64];
                let (mut held, mut sleeps) = (0u64, 0u32);
                // SAFETY: each buffer is valid for its length; the model NUL-terminates.
                let ok = unsafe {
                    ffi::xsim_gate_hold_get(
                        i,
                        class.as_mut_ptr() as *mut c_char,
                        class.len(),
                        callback.as_mut_ptr() as *mut c_char,
                        callback.len(),
                        &mut held,
                        &mut sleeps,
                    )
                };
                ok.then(|| GateHold {
                    class: copy_string(class.len(), &class),
                    callback: copy_string(callback.len(), &callback),
                    held: Duration::from_nanos(held),
                    sleeps,
                })
            })
            .collect()
    }

    /// One-CPU mode: a fixed-priority kernel thread (terminate worker, thread call, matching)
    /// preempts every registered user thread when it starts a job and lets them run only once
    /// it blocks or is done; running without blocking for 250 ms of CPU meanwhile is a
    /// [`ViolationKind::Livelock`]. Not under ThreadSanitizer, which defers signals.
    pub fn set_one_cpu(&self, one_cpu: bool) {
        // SAFETY: plain value.
        unsafe { ffi::xsim_cpu_set_one_cpu(one_cpu) }
    }

    /// Registers the calling thread as a user thread that one-CPU mode preempts, until the
    /// returned guard is dropped (on this thread).
    pub fn one_cpu_user_thread(&self) -> UserThread<'_> {
        // SAFETY: registers the calling thread; the guard unregisters it on the same thread.
        let ok = unsafe { ffi::xsim_cpu_register_user_thread() };
        assert!(ok, "xnu-sim: at most 16 user threads in one-CPU mode");
        UserThread {
            _kernel: self,
            _not_send: std::marker::PhantomData,
        }
    }

    /// The terminate worker stops as soon as it next holds the terminate-thread role, and keeps
    /// it until the guard goes: queued phase 2/3 work waits, a synchronous terminate waits.
    pub fn hold_terminate_worker(&self) -> WorkerHold<'_> {
        // SAFETY: plain value.
        unsafe { ffi::xsim_hook_hold_terminate_worker(true) };
        WorkerHold { _kernel: self }
    }

    /// The next open stops right after `newUserClient` returned (the client attached, with
    /// kIOServiceStartState, which defers a terminating provider's phase 2), until the guard goes.
    pub fn pause_next_open(&self) -> OpenPause<'_> {
        // SAFETY: no arguments.
        unsafe { ffi::xsim_hook_pause_next_open() };
        OpenPause { _kernel: self }
    }

    /// The next open fails after `newUserClient` succeeded, as the kernel's own checks fail it
    /// (entitlement, MACF `kIOReturnNotPermitted`, sandbox filter, `registerOwner`): the kernel
    /// calls the client's `clientClose()` (with `closed` unset), releases it, returns `code`.
    pub fn fail_next_open(&self, code: IOReturn) {
        // SAFETY: plain value.
        unsafe { ffi::xsim_hook_fail_next_open(code) }
    }

    /// The next external method on `c` stops before `externalMethod` is called (holding the
    /// IPC read lock on 11+, nothing on 10.15) until the guard goes.
    pub fn park_next_method(&self, c: Connection) -> MethodPark<'_> {
        // SAFETY: plain value.
        unsafe { ffi::xsim_hook_park_next_method(c.0) };
        MethodPark { _kernel: self }
    }

    /// `IOConnectGetService`: the class of the service `getService()` returns, or
    /// kIOReturnUnsupported when it returns NULL (the base), MACH_SEND_INVALID_DEST for a dead
    /// connection.
    pub fn connect_get_service(&self, c: Connection) -> Result<String, IOReturn> {
        let mut class = [0u8; 128];
        // SAFETY: the buffer is valid for its length; the model NUL-terminates.
        let code = unsafe {
            ffi::xsim_connect_get_service(c.0, class.as_mut_ptr() as *mut c_char, class.len())
        };
        if code == 0 {
            Ok(copy_string(class.len(), &class))
        } else {
            Err(code)
        }
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

    /// `IOServiceGetMatchingService(IOServiceMatching(class))` + `IOServiceOpen`.
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

    /// The next FILEOP caller that reads a live slot parks after reading it, and calls the old
    /// callback with the old idata as soon as `kauth_unlisten_scope` cleared that slot:
    /// unlisten returns once it is inside the callback (the window a kext must cover).
    pub fn arm_fileop_straggler(&self) {
        // SAFETY: plain values.
        unsafe { ffi::xsim_kauth_arm_straggler(0, 0) }
    }

    /// Like [`Kernel::arm_fileop_straggler`], but the straggler calls `delay` of kernel time
    /// after the unlisten; kernel time runs in order, so a sleep of the kext ending later waits
    /// for it.
    pub fn arm_fileop_straggler_after(&self, delay: Duration) {
        let ns = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        // SAFETY: plain values.
        unsafe { ffi::xsim_kauth_arm_straggler(1, ns) }
    }

    /// Like [`Kernel::arm_fileop_straggler`], but the straggler calls only after the listener's
    /// kext code was unmapped: the residual kauth race no grace period covers, reported as a
    /// [`ViolationKind::UnmappedCall`].
    pub fn arm_fileop_straggler_after_unmap(&self) {
        // SAFETY: plain values.
        unsafe { ffi::xsim_kauth_arm_straggler(2, 0) }
    }

    /// Waits until the armed straggler (or torn pair) has read its slot and parked.
    pub fn wait_straggler_parked(&self, timeout: Duration) -> bool {
        // SAFETY: plain value.
        unsafe { ffi::xsim_kauth_wait_straggler_parked(timeout_ms(timeout)) }
    }

    /// Waits until the straggler made (or was refused) its late call.
    pub fn wait_straggler_done(&self, timeout: Duration) -> bool {
        // SAFETY: plain value.
        unsafe { ffi::xsim_kauth_wait_straggler_done(timeout_ms(timeout)) }
    }

    /// The next FILEOP caller parks after loading a slot's callback; when that slot is
    /// unlistened another kext listens into it at once, and the caller loads the NEW idata and
    /// calls the OLD callback with it (kauth_authorize_action's separate loads).
    pub fn arm_torn_fileop_pair(&self) {
        // SAFETY: no arguments.
        unsafe { ffi::xsim_kauth_arm_torn_pair() }
    }

    /// Whether the memory the other kext's idata points to (the torn pair's) is untouched.
    pub fn torn_canary_intact(&self) -> bool {
        // SAFETY: no arguments.
        unsafe { ffi::xsim_kauth_torn_canary_intact() }
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
                copy_string(len, &buffer)
            })
            .collect()
    }

    /// A model event counter: `stop:<class>`, `terminate.inactive:<class>`, `clientClose`,
    /// `clientDied`, `kext.loaded:<why>`, `kext.unloaded:<why>`, `kext.unload_refused`,
    /// `kext.load_requests`, `matching.started:<class>`, `desktop.publishes`,
    /// `registry.quiet_edges`, `kauth.callbacks`, `kauth.straggler_calls`,
    /// `kauth.torn_pair_calls`, `connection.destroyed_by_terminate`, `terminate.role_waits`,
    /// `externalMethod.refused`, `externalMethod.refused_wrote_outputs` (a refused method wrote
    /// its output buffers, which the reply then discards), `kext.duplicate_class_refused`, ...
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

fn read_violation(index: usize) -> Option<Violation> {
    let mut subject = [0u8; 128];
    let mut callback = [0u8; 128];
    let mut text = [0u8; 1024];
    let (mut kind, mut held) = (0i32, 0u64);
    // SAFETY: each buffer is valid for its length; the model NUL-terminates.
    let len = unsafe {
        ffi::xsim_violation_get(
            index,
            &mut kind,
            &mut held,
            subject.as_mut_ptr() as *mut c_char,
            subject.len(),
            callback.as_mut_ptr() as *mut c_char,
            callback.len(),
            text.as_mut_ptr() as *mut c_char,
            text.len(),
        )
    };
    let kind = match kind {
        1 => ViolationKind::SleepInGate,
        2 => ViolationKind::PollInGate,
        3 => ViolationKind::Livelock,
        4 => ViolationKind::UnmappedCall,
        _ => return None,
    };
    Some(Violation {
        kind,
        subject: copy_string(subject.len(), &subject),
        callback: copy_string(callback.len(), &callback),
        held: Duration::from_nanos(held),
        text: copy_string(len, &text),
    })
}

/// A user thread one-CPU mode preempts; unregistered when dropped.
pub struct UserThread<'k> {
    _kernel: &'k Kernel,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for UserThread<'_> {
    fn drop(&mut self) {
        // SAFETY: unregisters the calling thread, the one that registered (the guard is !Send).
        unsafe { ffi::xsim_cpu_unregister_user_thread() }
    }
}

/// Holds the terminate worker (see [`Kernel::hold_terminate_worker`]).
pub struct WorkerHold<'k> {
    _kernel: &'k Kernel,
}

impl WorkerHold<'_> {
    /// Waits until the worker is stopped holding the terminate-thread role.
    pub fn wait_held(&self, timeout: Duration) -> bool {
        // SAFETY: plain value.
        unsafe { ffi::xsim_hook_wait_worker_held(timeout_ms(timeout)) }
    }
}

impl Drop for WorkerHold<'_> {
    fn drop(&mut self) {
        // SAFETY: plain value.
        unsafe { ffi::xsim_hook_hold_terminate_worker(false) }
    }
}

/// Holds an open after `newUserClient` (see [`Kernel::pause_next_open`]).
pub struct OpenPause<'k> {
    _kernel: &'k Kernel,
}

impl OpenPause<'_> {
    /// Waits until an open stopped there.
    pub fn wait_paused(&self, timeout: Duration) -> bool {
        // SAFETY: plain value.
        unsafe { ffi::xsim_hook_wait_open_paused(timeout_ms(timeout)) }
    }
}

impl Drop for OpenPause<'_> {
    fn drop(&mut self) {
        // SAFETY: no arguments.
        unsafe { ffi::xsim_hook_release_open() }
    }
}

/// Holds an external method before `externalMethod` (see [`Kernel::park_next_method`]).
pub struct MethodPark<'k> {
    _kernel: &'k Kernel,
}

impl MethodPark<'_> {
    /// Waits until a method stopped there.
    pub fn wait_parked(&self, timeout: Duration) -> bool {
        // SAFETY: plain value.
        unsafe { ffi::xsim_hook_wait_method_parked(timeout_ms(timeout)) }
    }
}

impl Drop for MethodPark<'_> {
    fn drop(&mut self) {
        // SAFETY: no arguments.
        unsafe { ffi::xsim_hook_release_method() }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        // SAFETY: the world lock is still held by self.
        unsafe { ffi::xsim_shutdown(false) }
        let left = self.take_violations();
        if !left.is_empty() && !std::thread::panicking() {
            let list: Vec<String> = left.iter().map(|v| format!("  {v}")).collect();
            panic!(
                "xnu-sim: {} kernel rule violation(s) not taken by the test:\n{}",
                left.len(),
                list.join("\n")
            );
        }
    }
}
