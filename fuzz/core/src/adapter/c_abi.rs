//! The only place the `external_methods` and `lifecycle` targets touch the code under test: the
//! C ABI of `shim-cpp/rustkext.h` as `rustkext::export!` instantiates it for the monitor (the
//! functions of `rustkext_monitor_kext::c_abi`, under its symbol prefix) and a read-only view of
//! the kext's state (`rustkext_monitor_kext::KEXT`) for the oracle. Everything is translated to
//! the model's types here.

use std::ffi::CStr;
use std::ptr;

use rustkext::c_abi::{RkCloseAction, RkDriver, RkProperty, RkPropertyKind, RkTerminateAnswer};
use rustkext::lifecycle;
use rustkext_fuzz_model::driver::{Config, Personality, Phase, Prop, Terminate};
use rustkext_monitor_kext::c_abi as abi;
use rustkext_monitor_kext::KEXT;

use crate::kernel;

/// `rk_method_args`, as the header lays it out.
pub use rustkext::c_abi::RkMethodArgs as MethodArgs;

/// The `rk_driver *` a caller holds (the shim keeps the one `rk_service_start` returned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriverPtr(*mut RkDriver);

impl DriverPtr {
    /// NULL.
    pub const NULL: DriverPtr = DriverPtr(ptr::null_mut());

    /// A pointer to memory that is not the driver's (`at` must stay alive while it is used).
    pub fn foreign(at: &mut [u8]) -> DriverPtr {
        DriverPtr(at.as_mut_ptr().cast())
    }

    /// Whether this is NULL.
    pub fn is_null(self) -> bool {
        self.0.is_null()
    }
}

fn property(prop: Prop) -> RkProperty {
    let (kind, value) = match prop {
        Prop::Absent => (RkPropertyKind::Absent, 0),
        Prop::Number(n) => (RkPropertyKind::Number, n),
        Prop::Bool(b) => (RkPropertyKind::Bool, u64::from(b)),
        Prop::Other => (RkPropertyKind::Other, 0),
    };
    RkProperty {
        kind: kind as u32,
        reserved: 0,
        value,
    }
}

/// `rk_service_start` with these personality properties, passed as the shim does: setting `i`
/// gets the property of the key `rk_personality_key(i)` names (absent for NULL).
pub fn start(p: &Personality) -> DriverPtr {
    let by_key = [
        (c"RustKextMaxClients", p.max_clients),
        (c"RustKextAdminOnly", p.admin_only),
        (c"RustKextStatsForEveryone", p.stats_for_everyone),
    ];
    let values: Vec<RkProperty> = (0..8u32)
        .map(|i| {
            let key = abi::rk_personality_key(i);
            // SAFETY: NULL or a static C string (rustkext.h).
            let key = (!key.is_null()).then(|| unsafe { CStr::from_ptr(key) });
            let prop = by_key
                .iter()
                .find(|(k, _)| Some(*k) == key)
                .map_or(Prop::Absent, |(_, v)| *v);
            property(prop)
        })
        .collect();
    // SAFETY: `values` holds 8 live properties.
    DriverPtr(unsafe { abi::rk_service_start(values.as_ptr(), values.len() as u32) })
}

/// The driver's own address: what every successful start returns (the state is one static).
pub fn ours() -> DriverPtr {
    DriverPtr(ptr::from_ref(&KEXT).cast_mut().cast())
}

/// A fresh simulated kernel and a driver that looks never started: stopped, gate closed, the
/// default settings (the state is static: it outlives kernels).
pub fn reset() {
    kernel::boot();
    let d = ours();
    abi::rk_service_close_gate(d.0);
    abi::rk_service_release(d.0);
    let again = start(&Personality::DEFAULT);
    assert_eq!(again, d, "the driver's state moved");
    abi::rk_service_release(d.0);
    kernel::take_log();
}

/// `rk_client_open`; `out` is the `uint32_t` the id is written to (None: NULL).
pub fn open(d: DriverPtr, connect_type: u32, admin: bool, out: Option<&mut u32>) -> i32 {
    let out = out.map_or(ptr::null_mut(), ptr::from_mut);
    // SAFETY: `out` is null or a live u32.
    unsafe { abi::rk_client_open(d.0, connect_type, admin, out) }
}

/// `rk_client_close`: whether it answered "terminate the service".
pub fn close(d: DriverPtr, id: u32) -> bool {
    abi::rk_client_close(d.0, id) == RkCloseAction::TerminateService
}

/// `rk_service_terminate_request`; `out` as for [`open`]. The answer in the model's terms with
/// the count `*open_clients` holds afterwards.
pub fn terminate(d: DriverPtr, out: Option<&mut u32>) -> Terminate {
    let written = out.map_or(ptr::null_mut(), ptr::from_mut);
    // SAFETY: `written` is null or a live u32.
    let answer = unsafe { abi::rk_service_terminate_request(d.0, written) };
    // SAFETY: as above; read back after the call.
    let count = unsafe { written.as_ref() }.copied().unwrap_or(0);
    match answer {
        RkTerminateAnswer::Refuse => Terminate::Refuse(count),
        RkTerminateAnswer::ShutDown => Terminate::ShutDown,
        RkTerminateAnswer::Proceed => Terminate::Proceed,
    }
}

/// `rk_service_close_gate`.
pub fn close_gate(d: DriverPtr) {
    abi::rk_service_close_gate(d.0);
}

/// `rk_service_drain`.
pub fn drain(d: DriverPtr, bound_ms: u32, grace_ms: u32) -> u32 {
    abi::rk_service_drain(d.0, bound_ms, grace_ms)
}

/// `rk_service_release`.
pub fn release(d: DriverPtr) {
    abi::rk_service_release(d.0);
}

/// `rk_method_shape_for`: the code; the four counts are written to `out` (None: NULL).
pub fn shape_for(selector: u32, out: Option<&mut [u32; 4]>) -> i32 {
    let Some(out) = out else {
        // SAFETY: a NULL out pointer is allowed (and refused).
        return unsafe { abi::rk_method_shape_for(selector, ptr::null_mut()) };
    };
    let mut shape = rustkext::abi::Shape {
        scalar_input_count: out[0],
        struct_input_size: out[1],
        scalar_output_count: out[2],
        struct_output_size: out[3],
    };
    // SAFETY: a live MethodShape.
    let code = unsafe { abi::rk_method_shape_for(selector, &mut shape) };
    *out = [
        shape.scalar_input_count,
        shape.struct_input_size,
        shape.scalar_output_count,
        shape.struct_output_size,
    ];
    code
}

/// `rk_external_method`.
///
/// # Safety
/// As the C ABI says: `args` is null or a live `rk_method_args` whose non-null buffers hold at
/// least their counts, or the call is one the driver must refuse before it forms any slice.
pub unsafe fn external_method(d: DriverPtr, client_id: u32, args: *mut MethodArgs) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { abi::rk_external_method(d.0, client_id, args) }
}

/// `rk_fileop_callback`.
///
/// # Safety
/// The arguments that are paths for `action` are null or NUL-terminated strings alive for the
/// call.
pub unsafe fn fileop(d: DriverPtr, action: usize, args: [usize; 4]) {
    // SAFETY: the caller's contract.
    unsafe { abi::rk_fileop_callback(d.0, action, args[0], args[1], args[2], args[3]) }
}

/// What the oracle compares with the model after every step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// `Stats`, as `GetStats` would return it.
    pub stats: Vec<u8>,
    /// The filter's prefix.
    pub filter: Vec<u8>,
    /// Life phase.
    pub phase: Phase,
    /// Settings in force.
    pub config: Config,
    /// Clients open.
    pub open_clients: u32,
    /// Unload pending.
    pub unload_pending: bool,
    /// The first allowed terminate was answered.
    pub shut_down: bool,
    /// Callbacks refused by the closed gate since the last reset.
    pub refused: u64,
}

/// The driver state now.
pub fn observe() -> Observed {
    let s = KEXT.registry().snapshot();
    let mut prefix = [0u8; rustkext_monitor_api::PATH_FILTER_SIZE];
    let len = KEXT
        .driver()
        .filter()
        .read(&mut prefix)
        .expect("no writer runs: the filter reads at once");
    let mut stats = KEXT.driver().counts();
    stats.peak_in_flight = rustkext::abi::Services::peak_in_flight(&KEXT);
    Observed {
        stats: stats.to_bytes().to_vec(),
        filter: prefix[..len].to_vec(),
        phase: match s.phase {
            lifecycle::Phase::Stopped => Phase::Stopped,
            lifecycle::Phase::Running => Phase::Running,
            lifecycle::Phase::Terminating => Phase::Terminating,
        },
        config: Config {
            max_clients: s.config.max_clients,
            admin_only: s.config.admin_only_open,
            stats_for_everyone: s.config.observers_for_everyone,
        },
        open_clients: s.open_clients,
        unload_pending: s.unload_pending,
        shut_down: s.shut_down,
        refused: KEXT.refused_after_close(),
    }
}

/// Whether `id` is open, and if so whether as an administrator's client.
pub fn client(id: u32) -> Option<bool> {
    KEXT.registry().client(id).map(|c| c.is_admin)
}

/// The monitor's log lines since the last call: (message, value).
pub fn take_log() -> Vec<(String, u64)> {
    kernel::take_log()
}

/// The message `rk_service_release` logs with the refused count.
pub fn is_release_log(message: &str) -> bool {
    message.starts_with("stopped;")
}

/// The ABI fingerprint the monitor's interface declares (`DESCRIBE`'s first answer).
pub fn fingerprint() -> u64 {
    <dyn rustkext_monitor_api::Monitor as rustkext::abi::Interface>::FINGERPRINT
}
