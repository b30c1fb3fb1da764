//! The only place the `shim_sim` target touches the code under test: xnu-sim's `Kernel`, which
//! runs the unmodified C++ shim (compiled for the simulator by the monitor's glue crate, which
//! registers its module) and the framework's Rust; the kext is the monitor's generated
//! Info.plist (`rustkext_monitor_kext::IDENTITY`).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustkext_monitor_kext::IDENTITY;
pub use xnu_sim::{Connection, Flavor, TaskId};
use xnu_sim::{Desktop, FileopArg, Kernel, Property};

use rustkext_fuzz_model::driver::{Personality, Prop};

/// The bundle id and classes of the monitor (its identity).
pub const BUNDLE: &str = IDENTITY.bundle_id;
/// The service class.
pub const SERVICE_CLASS: &str = IDENTITY.service_class;
/// The user-client class.
pub const USER_CLIENT_CLASS: &str = IDENTITY.user_client_class;

/// One booted simulated kernel.
pub struct Sim {
    k: Kernel,
    /// Kernel sleeps already fast-forwarded: (count, nanoseconds), see [`Sim::fast_forward`].
    slept: Cell<(u64, u64)>,
}

/// A FILEOP argument as the kernel passes it: a C string's address or a plain value.
pub type RawArg = usize;

impl Sim {
    /// Boots a kernel of this flavour, with the busy desktop off (its background rematches
    /// would make the autounload time depend on the host's speed).
    pub fn boot(flavor: Flavor) -> Sim {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        let slept = Cell::new((k.counter("sleep.started"), k.counter("sleep.ns")));
        Sim { k, slept }
    }

    /// Runs `op` while a helper ends every kernel sleep as soon as it begins, by moving kernel
    /// time forward by exactly the time slept: the shutdown's 1000 ms grace (100 ms of host
    /// time at xnu-sim's time factor) costs no host time, and kernel time still advances by
    /// what the sleeps take. Only the grace sleeps here: single-threaded, no callback is ever
    /// in flight at a drain.
    fn fast_forward<R>(&self, op: impl FnOnce() -> R) -> R {
        let done = AtomicBool::new(false);
        let (mut seen, mut ns) = self.slept.get();
        let k = &self.k;
        let result = std::thread::scope(|s| {
            let helper = s.spawn(|| loop {
                let finished = done.load(Ordering::Acquire);
                let (started, total) = (k.counter("sleep.started"), k.counter("sleep.ns"));
                if started > seen {
                    k.jump_clock(Duration::from_nanos(total - ns));
                    (seen, ns) = (started, total);
                } else if finished {
                    return (seen, ns);
                } else {
                    std::thread::sleep(Duration::from_micros(20));
                }
            });
            let result = op();
            done.store(true, Ordering::Release);
            let accounted = helper.join().expect("fast-forward helper");
            (result, accounted)
        });
        self.slept.set(result.1);
        result.0
    }

    /// `kextload` of the monitor with these personality properties (absent ones removed from
    /// the repository's Info.plist personality).
    pub fn load_with(&self, p: &Personality) -> Result<(), i32> {
        let mut spec = rustkext_sim::spec(&IDENTITY);
        for personality in &mut spec.personalities {
            for (key, prop) in [
                ("RustKextMaxClients", p.max_clients),
                ("RustKextAdminOnly", p.admin_only),
                ("RustKextStatsForEveryone", p.stats_for_everyone),
            ] {
                match prop {
                    Prop::Absent => personality.remove(key),
                    Prop::Number(n) => personality.set(key, Property::Number(n)),
                    Prop::Bool(b) => personality.set(key, Property::Bool(b)),
                    Prop::Other => personality.set(key, Property::String("yes".into())),
                }
            }
        }
        self.k.define_kext(&spec);
        self.k.load_bundle(&spec.bundle_id)
    }

    /// `kextload` of the monitor as defined (already loaded: its personalities again).
    pub fn load_again(&self) -> Result<(), i32> {
        self.k.load_bundle(BUNDLE)
    }

    /// `kextunload`.
    pub fn unload(&self) -> i32 {
        self.fast_forward(|| self.k.unload_bundle(BUNDLE))
    }

    /// Kernel time passes (timers fire on the way): the autounload countdown.
    pub fn advance(&self, d: Duration) {
        self.k.advance_clock(d);
    }

    /// Waits until nothing is pending (a self-termination's thread call, matching...).
    pub fn quiet(&self) {
        let quiet = self.fast_forward(|| self.k.wait_quiet(Duration::from_secs(30)));
        assert!(quiet, "xnu-sim did not go quiet");
    }

    /// Whether the monitor is loaded.
    pub fn loaded(&self) -> bool {
        self.k.bundle_loaded(BUNDLE)
    }

    /// Live services of the monitor.
    pub fn services(&self) -> u32 {
        self.k.bundle_service_count(BUNDLE)
    }

    /// Live instances of the service and user-client classes.
    pub fn instances(&self) -> (u32, u32) {
        (
            self.k.instance_count(SERVICE_CLASS),
            self.k.instance_count(USER_CLIENT_CLASS),
        )
    }

    /// Registered kauth FILEOP listeners.
    pub fn listeners(&self) -> u32 {
        self.k.kauth_listener_count()
    }

    /// A new process.
    pub fn spawn(&self, euid: u32) -> TaskId {
        self.k.spawn_task(euid)
    }

    /// `seteuid` in a process.
    pub fn set_euid(&self, t: TaskId, euid: u32) -> bool {
        self.k.set_task_euid(t, euid)
    }

    /// Process death.
    pub fn kill(&self, t: TaskId) {
        self.k.kill_task(t)
    }

    /// `IOServiceOpen` of the monitor's service.
    pub fn open(&self, t: TaskId, connect_type: u32) -> Result<Connection, i32> {
        self.k.open_service(t, SERVICE_CLASS, connect_type)
    }

    /// The next open fails after `newUserClient` succeeded, with `code`.
    pub fn fail_next_open(&self, code: i32) {
        self.k.fail_next_open(code)
    }

    /// `IOConnectCallMethod`: (scalars, bytes) written, or the code.
    pub fn call(
        &self,
        c: Connection,
        selector: u32,
        scalars: &[u64],
        bytes: &[u8],
        scalar_cap: u32,
        struct_cap: u32,
    ) -> Result<(Vec<u64>, Vec<u8>), i32> {
        self.k
            .call(c, selector, scalars, bytes, scalar_cap, struct_cap)
            .map(|o| (o.scalars, o.bytes))
    }

    /// `IOServiceClose`.
    pub fn close(&self, c: Connection) -> i32 {
        self.k.close(c)
    }

    /// `mach_port_deallocate` of the connection's last send right (clientDied).
    pub fn deallocate(&self, c: Connection) -> bool {
        self.k.deallocate_connection(c)
    }

    /// `IOConnectGetService`: the service's class.
    pub fn get_service(&self, c: Connection) -> Result<String, i32> {
        self.k.connect_get_service(c)
    }

    /// One FILEOP event with raw arguments (paths as C string addresses alive for the call);
    /// the number of listeners called.
    pub fn fileop(&self, action: u32, args: [RawArg; 4]) -> u32 {
        self.k.fileop_args(action, args.map(FileopArg::Value))
    }

    /// Kernel rule violations since boot (taken).
    pub fn take_violations(&self) -> Vec<String> {
        self.k
            .take_violations()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

/// The ABI fingerprint the monitor's interface declares (`DESCRIBE`'s first answer).
pub fn fingerprint() -> u64 {
    <dyn rustkext_monitor_api::Monitor as rustkext::abi::Interface>::FINGERPRINT
}
