//! Helpers shared by the scenario tests: the file-activity monitor (the kext the scenarios run,
//! linked from its glue crate), its selectors, small call wrappers, and the macro that runs a
//! scenario under both flavours of xnu.
#![allow(dead_code)]

use std::time::Duration;

#[allow(unused_imports)]
pub use rustkext_monitor_api::{Stats, PATH_FILTER_SIZE, STATS_SIZE};
pub use xnu_sim::codes::*;
#[allow(unused_imports)]
pub use xnu_sim::{
    fileop, CallOutput, Connection, Desktop, Flavor, KernReturn, Kernel, KextSpec, Property, TaskId,
    Violation, ViolationKind,
};

/// The monitor's identity, from its rustkext.toml (through its glue crate).
pub const MONITOR: rustkext::Identity = rustkext_monitor_kext::IDENTITY;
pub const SERVICE: &str = MONITOR.service_class;
pub const CLIENT: &str = MONITOR.user_client_class;
pub const BUNDLE: &str = MONITOR.bundle_id;
/// The monitor's code module (its shim and registrar, linked into every test binary here).
pub const MODULE: &str = MONITOR.bundle_id;

/// The monitor as `kextload` sees it: its generated Info.plist, running its module.
pub fn monitor() -> KextSpec {
    KextSpec::from_info_plist(MONITOR.info_plist, MODULE).expect("the monitor's Info.plist")
}

/// The monitor's selectors by name, generated from its interface (the trait is the fact).
pub use rustkext_monitor_api::MonitorSelector as Selector;

/// Selectors past the table (the first number outside it).
pub const SELECTOR_COUNT: u32 = Selector::ALL.len() as u32;

/// What the scenarios ask of a selector's table entry.
pub trait SelectorFacts {
    /// Its shape, from the generated table.
    fn shape(self) -> rustkext::abi::Shape;
    /// Whether a non-administrator is refused under the default personality.
    fn requires_admin(self) -> bool;
}

impl SelectorFacts for Selector {
    fn shape(self) -> rustkext::abi::Shape {
        self.entry().shape
    }

    fn requires_admin(self) -> bool {
        self.entry().privilege != rustkext::abi::Privilege::Anyone
    }
}

/// What the scenarios do with the monitor, as the old monitor-only kernel API did.
pub trait MonitorKernel {
    /// `kextload` of the monitor with its generated Info.plist.
    fn load_kext(&self) -> Result<(), KernReturn>;
    /// The same with personality properties overridden (e.g. `RustKextMaxClients`).
    fn load_kext_with(&self, overrides: &[(&str, Property)]) -> Result<(), KernReturn>;
    /// `kextunload` of the monitor.
    fn request_unload(&self) -> KernReturn;
    /// Whether the monitor is loaded.
    fn kext_loaded(&self) -> bool;
    /// Live services of the monitor.
    fn service_count(&self) -> u32;
    /// `IOServiceOpen` of the monitor's service.
    fn open(&self, t: TaskId, connect_type: u32) -> Result<Connection, i32>;
}

impl MonitorKernel for Kernel {
    fn load_kext(&self) -> Result<(), KernReturn> {
        self.load_kext_with(&[])
    }
    fn load_kext_with(&self, overrides: &[(&str, Property)]) -> Result<(), KernReturn> {
        self.load_spec(&monitor().with_overrides(overrides))
    }
    fn request_unload(&self) -> KernReturn {
        self.unload_bundle(BUNDLE)
    }
    fn kext_loaded(&self) -> bool {
        self.bundle_loaded(BUNDLE)
    }
    fn service_count(&self) -> u32 {
        self.bundle_service_count(BUNDLE)
    }
    fn open(&self, t: TaskId, connect_type: u32) -> Result<Connection, i32> {
        self.open_service(t, SERVICE, connect_type)
    }
}
pub const ROOT: u32 = 0;
pub const USER: u32 = 501;
pub const QUIET: Duration = Duration::from_secs(30);
/// The kernel's autounload delay after the last registry-quiet edge (sConsiderUnloadDelay).
pub const UNLOAD_DELAY: Duration = Duration::from_secs(60);
/// Comfortably past the autounload of an unused kext whatever the busy desktop does: with the
/// default schedule (a publish every 5 s for 30 s, then 75 s quiet) the last quiet edge before a
/// gap of at least 60 s comes at most 90 s after any moment, and the unload 60 s after it.
pub const AUTOUNLOAD: Duration = Duration::from_secs(180);

/// Runs each scenario on a kernel of each flavour: `fn name(flavor: Flavor) { ... }` becomes
/// the tests `name::catalina` and `name::big_sur_and_later`.
#[macro_export]
macro_rules! both_flavors {
    ($($(#[$meta:meta])* fn $name:ident($flavor:ident: Flavor) $body:block)*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                fn run($flavor: Flavor) $body
                #[test]
                fn catalina() {
                    run(Flavor::Catalina)
                }
                #[test]
                fn big_sur_and_later() {
                    run(Flavor::BigSurAndLater)
                }
            }
        )*
    };
}

/// Calls `sel` with exactly its shape and the given inputs.
pub fn call(
    k: &Kernel,
    c: Connection,
    sel: Selector,
    scalars: &[u64],
    bytes: &[u8],
) -> Result<CallOutput, i32> {
    let shape = sel.shape();
    k.call(
        c,
        sel as u32,
        scalars,
        bytes,
        shape.scalar_output_count,
        shape.struct_output_size,
    )
}

pub fn ping(k: &Kernel, c: Connection, x: u64) -> Result<u64, i32> {
    call(k, c, Selector::Ping, &[x], &[]).map(|out| out.scalars[0])
}

/// GetClientInfo: (client id, open clients, unload pending).
pub fn client_info(k: &Kernel, c: Connection) -> Result<(u64, u64, u64), i32> {
    call(k, c, Selector::GetClientInfo, &[], &[])
        .map(|out| (out.scalars[0], out.scalars[1], out.scalars[2]))
}

pub fn stats(k: &Kernel, c: Connection) -> Stats {
    let out = call(k, c, Selector::GetStats, &[], &[]).expect("GetStats");
    Stats::from_bytes(&out.bytes).expect("Stats layout")
}

/// A SetPathFilter input: the prefix, NUL, padding to PATH_FILTER_SIZE.
pub fn filter_bytes(prefix: &str) -> Vec<u8> {
    let mut bytes = prefix.as_bytes().to_vec();
    bytes.resize(PATH_FILTER_SIZE, 0);
    bytes
}

/// Asserts the kext is gone and nothing of it is alive.
pub fn assert_gone(k: &Kernel) {
    assert!(
        !k.kext_loaded(),
        "kext still loaded; log: {:#?}",
        k.log_lines()
    );
    assert_eq!(k.service_count(), 0);
    assert_eq!(k.instance_count(SERVICE), 0);
    assert_eq!(k.instance_count(CLIENT), 0);
    assert_eq!(k.kauth_listener_count(), 0);
}

/// Asserts the kext is loaded, its one service is up and its listener registered.
pub fn assert_intact(k: &Kernel) {
    assert!(k.kext_loaded());
    assert_eq!(k.service_count(), 1);
    assert_eq!(k.instance_count(SERVICE), 1);
    assert_eq!(k.kauth_listener_count(), 1);
}

pub fn log_has(k: &Kernel, needle: &str) -> bool {
    k.log_lines().iter().any(|l| l.contains(needle))
}

pub fn log_count(k: &Kernel, needle: &str) -> usize {
    k.log_lines().iter().filter(|l| l.contains(needle)).count()
}

/// Takes the violations of AUDIT #4 only: `org_rustkext_Service::stop` sleeping or polling in
/// the platform work-loop gate, which the driver of f907031 does at every stop (its drain and
/// grace run in `stop()`). `platform_gate.rs` is the test of #4; a test about another fact that
/// has to stop the service calls this, so that it shows its own fact on f907031 and on the fixed
/// driver alike. Any other violation stays for the test (and Drop) to see. Returns how many.
pub fn take_stop_sleeps_of_audit_4(k: &Kernel) -> usize {
    let (ours, others): (Vec<Violation>, Vec<Violation>) =
        k.take_violations().into_iter().partition(is_audit_4);
    assert!(
        others.is_empty(),
        "violations other than AUDIT #4's: {others:#?}"
    );
    ours.len()
}

/// `org_rustkext_Service::stop` sleeping or polling inside the platform gate (AUDIT #4).
pub fn is_audit_4(v: &Violation) -> bool {
    matches!(
        v.kind,
        ViolationKind::SleepInGate | ViolationKind::PollInGate
    ) && v.subject == SERVICE
        && v.callback == "stop"
}

/// Advances kernel time one second at a time until `done()` or `bound`; the time it took.
pub fn advance_until(k: &Kernel, bound: Duration, done: impl Fn() -> bool) -> Option<Duration> {
    let mut waited = Duration::ZERO;
    while !done() {
        if waited >= bound {
            return None;
        }
        k.advance_clock(Duration::from_secs(1));
        waited += Duration::from_secs(1);
    }
    Some(waited)
}

/// Waits (host time, bounded) for an event another thread produces.
pub fn wait_for(what: &str, bound: Duration, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + bound;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
