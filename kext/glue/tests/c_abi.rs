//! The monitor's C ABI as the shim calls it (the functions `rustkext::export!` made, under the
//! monitor's symbol prefix), with the kernel functions they need from the simulator (IOLog,
//! IOSleep, the clock, IOLock): one booted kernel per test, which also serializes them (the
//! kext's state is one static).
// The kernel's names for its codes, as the C++ spells them.
#![allow(non_upper_case_globals)]

use std::ffi::CStr;
use std::ptr::{null, null_mut};
use std::time::Duration;

use rustkext::abi::{Interface, Shape};
use rustkext::c_abi::{RkCloseAction, RkDriver, RkMethodArgs, RkProperty, RkPropertyKind, RkTerminateAnswer};
use rustkext_monitor_api::{Monitor, Stats, PATH_FILTER_SIZE, STATS_SIZE};
use rustkext_monitor_kext::c_abi::*;
use rustkext_monitor_kext::KEXT;
use xnu_sim::codes::*;
use xnu_sim::Kernel;

type IOReturn = i32;
const kIOReturnSuccess: i32 = KIO_RETURN_SUCCESS;
const kIOReturnBadArgument: i32 = KIO_RETURN_BAD_ARGUMENT;
const kIOReturnNotPrivileged: i32 = KIO_RETURN_NOT_PRIVILEGED;
const kIOReturnNotOpen: i32 = KIO_RETURN_NOT_OPEN;
const kIOReturnNotPermitted: i32 = KIO_RETURN_NOT_PERMITTED;
const kIOReturnNoResources: i32 = KIO_RETURN_NO_RESOURCES;

fn number(value: u64) -> RkProperty {
    RkProperty { kind: RkPropertyKind::Number as u32, reserved: 0, value }
}

fn boolean(value: bool) -> RkProperty {
    RkProperty { kind: RkPropertyKind::Bool as u32, reserved: 0, value: u64::from(value) }
}

const ABSENT: RkProperty = RkProperty { kind: RkPropertyKind::Absent as u32, reserved: 0, value: 0 };
const OTHER: RkProperty = RkProperty { kind: RkPropertyKind::Other as u32, reserved: 0, value: 0 };

/// The personality's values, by setting (max clients, admin only, statistics for everyone), as
/// the shim reads them for the keys `rk_personality_key` names.
struct Personality([RkProperty; 3]);

fn defaults() -> Personality {
    Personality([ABSENT; 3])
}

/// A booted simulator (the kernel functions) with the monitor's module mutex allocated, as its
/// module start routine would: dropped, the mutex is freed and the kernel shuts down.
struct Sim {
    kernel: Kernel,
}

fn sim() -> Sim {
    let kernel = Kernel::boot();
    assert_eq!(rk_module_start(), 0);
    Sim { kernel }
}

impl Drop for Sim {
    fn drop(&mut self) {
        assert_eq!(rk_module_stop(), 0);
    }
}

impl Sim {
    /// The kext's log lines, without the prefix.
    fn lines(&self) -> Vec<String> {
        self.kernel.log_lines().iter().filter_map(|l| l.strip_prefix("RustKext: ").map(str::to_string)).collect()
    }
}

fn start(personality: &Personality) -> *mut RkDriver {
    // SAFETY: three live values.
    unsafe { rk_service_start(personality.0.as_ptr(), 3) }
}

/// Starts the driver, runs `body`, then shuts it down and stops it the way the shim does.
fn with_driver(personality: Personality, body: impl FnOnce(&Sim, *mut RkDriver)) {
    let sim = sim();
    let driver = start(&personality);
    assert!(!driver.is_null());
    body(&sim, driver);
    rk_service_close_gate(driver);
    assert_eq!(rk_service_drain(driver, 1000, 0), 0);
    rk_service_release(driver);
}

fn open(driver: *mut RkDriver, admin: bool) -> Result<u32, IOReturn> {
    let mut id = 0u32;
    // SAFETY: a live local.
    match unsafe { rk_client_open(driver, 0, admin, &mut id) } {
        0 => {
            assert_ne!(id, 0);
            Ok(id)
        }
        refusal => Err(refusal),
    }
}

fn terminate(driver: *mut RkDriver) -> (RkTerminateAnswer, u32) {
    let mut open = u32::MAX;
    // SAFETY: a live local.
    let answer = unsafe { rk_service_terminate_request(driver, &mut open) };
    (answer, open)
}

fn args(selector: u32) -> RkMethodArgs {
    RkMethodArgs {
        selector,
        scalar_input_count: 0,
        struct_input_size: 0,
        scalar_output_count: 0,
        struct_output_size: 0,
        reserved: 0,
        scalar_input: null(),
        struct_input: null(),
        scalar_output: null_mut(),
        struct_output: null_mut(),
    }
}

fn call(driver: *mut RkDriver, client: u32, a: &mut RkMethodArgs) -> IOReturn {
    // SAFETY: `a` and the buffers it points to are live for the call.
    unsafe { rk_external_method(driver, client, a) }
}

fn stats(driver: *mut RkDriver, client: u32) -> Stats {
    let mut out = [0u8; STATS_SIZE];
    let mut a = args(2);
    a.struct_output_size = STATS_SIZE as u32;
    a.struct_output = out.as_mut_ptr().cast();
    assert_eq!(call(driver, client, &mut a), kIOReturnSuccess);
    assert_eq!(a.struct_output_size as usize, STATS_SIZE);
    Stats::from_bytes(&out).unwrap()
}

fn fileop(driver: *mut RkDriver, action: usize, path: &CStr) {
    // SAFETY: the path outlives the call.
    unsafe { rk_fileop_callback(driver, action, 0, path.as_ptr() as usize, 0, 0) };
}

// ---- tests ----

#[test]
fn the_settings_keys_are_the_monitors_and_it_listens_to_fileop() {
    let keys: Vec<Option<&CStr>> = (0..4)
        .map(|i| {
            let key = rk_personality_key(i);
            // SAFETY: NULL or a static C string.
            (!key.is_null()).then(|| unsafe { CStr::from_ptr(key) })
        })
        .collect();
    assert_eq!(keys, [Some(c"RustKextMaxClients"), Some(c"RustKextAdminOnly"), Some(c"RustKextStatsForEveryone"), None]);
    assert_eq!(rk_kauth_scopes(), 1);
}

#[test]
fn start_twice_is_refused_and_an_empty_personality_means_defaults() {
    let sim = sim();
    let driver = start(&defaults());
    assert!(!driver.is_null());
    assert!(start(&defaults()).is_null(), "already started");
    assert!(sim.lines().contains(&"start refused: the driver state is already in use".to_string()), "{:?}", sim.lines());
    let ids: Vec<u32> = (0..64).map(|_| open(driver, false).unwrap()).collect();
    assert_eq!(open(driver, false), Err(kIOReturnNoResources));
    let admins: Vec<u32> = (0..4).map(|_| open(driver, true).unwrap()).collect();
    assert_eq!(open(driver, true), Err(kIOReturnNoResources));
    for id in ids.into_iter().chain(admins) {
        assert_eq!(rk_client_close(driver, id), RkCloseAction::Nothing);
    }
    rk_service_close_gate(driver);
    assert_eq!(rk_service_drain(driver, 10, 0), 0);
    rk_service_release(driver);
    // SAFETY: null means no properties.
    let again = unsafe { rk_service_start(null(), 0) };
    assert_eq!(again, driver, "restartable after release; null means no properties");
    rk_service_release(again);
}

#[test]
fn a_property_of_the_wrong_type_refuses_the_start_and_says_which() {
    let sim = sim();
    for (personality, line) in [
        (Personality([boolean(true), ABSENT, ABSENT]), "start refused: RustKextMaxClients must be a number"),
        (Personality([ABSENT, number(1), ABSENT]), "start refused: RustKextAdminOnly must be a boolean"),
        (Personality([ABSENT, ABSENT, OTHER]), "start refused: RustKextStatsForEveryone must be a boolean"),
    ] {
        let before = sim.lines().len();
        assert!(start(&personality).is_null());
        assert_eq!(&sim.lines()[before..], [line]);
    }
    // Nothing was started: a good personality starts at once.
    let driver = start(&Personality([number((1 << 32) + 1), ABSENT, ABSENT]));
    assert!(!driver.is_null());
    let ids: Vec<u32> = (0..64).map(|_| open(driver, false).unwrap()).collect();
    assert_eq!(open(driver, false), Err(kIOReturnNoResources), "2^32 + 1 is clamped to 64, not truncated to 1");
    for id in ids {
        rk_client_close(driver, id);
    }
    rk_service_release(driver);
}

#[test]
fn foreign_driver_pointers_are_refused() {
    with_driver(defaults(), |_sim, driver| {
        let id = open(driver, true).unwrap();
        let mut fake = [0u64; 64];
        let bogus = fake.as_mut_ptr().cast::<RkDriver>();
        for other in [null_mut(), bogus] {
            let mut id_out = 0u32;
            // SAFETY: live locals.
            let refusal = unsafe { rk_client_open(other, 0, true, &mut id_out) };
            assert_eq!(refusal, kIOReturnBadArgument);
            assert_eq!(rk_client_close(other, id), RkCloseAction::Nothing);
            let mut a = args(0);
            assert_eq!(call(other, id, &mut a), kIOReturnBadArgument);
            assert_eq!(
                terminate(other).0,
                RkTerminateAnswer::Proceed,
                "nothing of ours to protect"
            );
            fileop(other, 1, c"/x");
            rk_service_close_gate(other);
            rk_service_release(other);
        }
        assert_eq!(fake, [0u64; 64], "never written through");
        assert_eq!(
            stats(driver, id).events[0],
            0,
            "the foreign callback counted nothing"
        );
        assert_eq!(
            terminate(driver),
            (RkTerminateAnswer::Refuse, 1),
            "the real driver still has its client"
        );
        assert_eq!(rk_client_close(driver, id), RkCloseAction::TerminateService);
    });
}

#[test]
fn admission_codes_through_the_abi() {
    let personality = Personality([number(2), boolean(true), ABSENT]);
    with_driver(personality, |_sim, driver| {
        let mut id = 0u32;
        // SAFETY: live local / null checked.
        unsafe {
            assert_eq!(
                rk_client_open(driver, 1, true, &mut id),
                kIOReturnBadArgument
            );
            assert_eq!(
                rk_client_open(driver, 0, true, null_mut()),
                kIOReturnBadArgument
            );
        }
        assert_eq!(open(driver, false), Err(kIOReturnNotPrivileged));
        let opened: Vec<u32> = (0..6).map(|_| open(driver, true).unwrap()).collect();
        assert_eq!(
            open(driver, true),
            Err(kIOReturnNoResources),
            "2 + 4 reserved"
        );
        for id in &opened[2..] {
            rk_client_close(driver, *id);
        }
        let (a, b) = (opened[0], opened[1]);
        assert_ne!(a, b);
        assert_eq!(terminate(driver), (RkTerminateAnswer::Refuse, 2));
        let c = open(driver, true).unwrap();
        assert_eq!(rk_client_close(driver, c), RkCloseAction::Nothing);
        assert_eq!(rk_client_close(driver, a), RkCloseAction::Nothing);
        assert_eq!(
            rk_client_close(driver, a),
            RkCloseAction::Nothing,
            "death after close"
        );
        assert_eq!(rk_client_close(driver, b), RkCloseAction::TerminateService);
        assert_eq!(rk_client_close(driver, b), RkCloseAction::Nothing);
        assert_eq!(open(driver, true), Err(kIOReturnNotPermitted));
        assert_eq!(terminate(driver), (RkTerminateAnswer::ShutDown, 0));
        assert_eq!(terminate(driver), (RkTerminateAnswer::Proceed, 0), "once");
        assert_eq!(open(driver, true), Err(kIOReturnNotPermitted));
    });
}

#[test]
fn method_shapes_through_the_abi() {
    let mut shape = Shape::default();
    let table = <dyn Monitor as Interface>::TABLE;
    let count = table.len() as u32;
    for selector in 0..count {
        // SAFETY: a live local.
        let result = unsafe { rk_method_shape_for(selector, &mut shape) };
        assert_eq!(result, kIOReturnSuccess);
        assert_eq!(shape, table[selector as usize].shape);
    }
    // SAFETY: a live local.
    assert_eq!(unsafe { rk_method_shape_for(rustkext::abi::DESCRIBE, &mut shape) }, kIOReturnSuccess);
    assert_eq!(shape, Shape::new(0, 0, 2, 0), "the framework's DESCRIBE");
    let before = shape;
    for selector in [count, 1000, u32::MAX] {
        // SAFETY: a live local.
        let result = unsafe { rk_method_shape_for(selector, &mut shape) };
        assert_eq!(result, kIOReturnBadArgument);
        assert_eq!(shape, before);
    }
    // SAFETY: null is checked.
    let result = unsafe { rk_method_shape_for(0, null_mut()) };
    assert_eq!(result, kIOReturnBadArgument);
}

#[test]
fn argument_block_checks_come_first() {
    with_driver(defaults(), |_sim, driver| {
        let id = open(driver, false).unwrap();
        // SAFETY: null is checked.
        let result = unsafe { rk_external_method(driver, id, null_mut()) };
        assert_eq!(result, kIOReturnBadArgument);

        let mut input = [41u64];
        let mut output = [0u64];
        let ping = |input: &mut [u64; 1], output: &mut [u64; 1]| {
            let mut a = args(0);
            a.scalar_input_count = 1;
            a.scalar_input = input.as_ptr();
            a.scalar_output_count = 1;
            a.scalar_output = output.as_mut_ptr();
            a
        };
        let mut a = ping(&mut input, &mut output);
        a.reserved = 1;
        assert_eq!(call(driver, id, &mut a), kIOReturnBadArgument);
        assert_eq!(
            call(driver, 0xbad, &mut a),
            kIOReturnBadArgument,
            "before the client check"
        );

        // What the shim passes for an out-of-line struct: NULL with an impossible size.
        let mut a = args(4);
        a.struct_input_size = u32::MAX;
        assert_eq!(call(driver, id, &mut a), kIOReturnBadArgument);
        let mut a = args(2);
        a.struct_output_size = u32::MAX;
        assert_eq!(call(driver, id, &mut a), kIOReturnBadArgument);
        let mut a = ping(&mut input, &mut output);
        a.scalar_input = null();
        assert_eq!(call(driver, id, &mut a), kIOReturnBadArgument);
        let mut a = ping(&mut input, &mut output);
        a.scalar_output = null_mut();
        assert_eq!(call(driver, id, &mut a), kIOReturnBadArgument);
        assert_eq!(output, [0], "no refusal wrote anything");

        let mut a = ping(&mut input, &mut output);
        assert_eq!(call(driver, 0xbad, &mut a), kIOReturnNotOpen);
        a.selector = <dyn Monitor as Interface>::TABLE.len() as u32; // the first past the table
        assert_eq!(
            call(driver, 0xbad, &mut a),
            kIOReturnNotOpen,
            "client before selector"
        );
        assert_eq!(call(driver, id, &mut a), kIOReturnBadArgument);
        assert_eq!(
            (a.scalar_output_count, output),
            (1, [0]),
            "unchanged on refusal"
        );

        let mut a = ping(&mut input, &mut output);
        a.scalar_output_count = 2; // capacity must equal the shape exactly
        assert_eq!(call(driver, id, &mut a), kIOReturnBadArgument);

        let mut a = ping(&mut input, &mut output);
        assert_eq!(call(driver, id, &mut a), kIOReturnSuccess);
        assert_eq!(
            (a.scalar_output_count, a.struct_output_size, output),
            (1, 0, [42])
        );
        rk_client_close(driver, id);
    });
}

#[test]
fn privileged_methods_and_the_filter_through_the_abi() {
    with_driver(defaults(), |_sim, driver| {
        let user = open(driver, false).unwrap();
        let admin = open(driver, true).unwrap();
        let mut input = [0u8; PATH_FILTER_SIZE];
        input[..8].copy_from_slice(b"/watch/\0");
        let set_filter = |input: &[u8; PATH_FILTER_SIZE]| {
            let mut a = args(4);
            a.struct_input_size = PATH_FILTER_SIZE as u32;
            a.struct_input = input.as_ptr().cast();
            a
        };
        assert_eq!(
            call(driver, user, &mut set_filter(&input)),
            kIOReturnNotPrivileged
        );
        assert_eq!(
            call(driver, admin, &mut set_filter(&input)),
            kIOReturnSuccess
        );
        fileop(driver, 1, c"/watch/a");
        fileop(driver, 6, c"/bin/ls");
        fileop(driver, 99, c"/watch/b");
        let mut out = [0u8; STATS_SIZE];
        let mut a = args(2);
        a.struct_output_size = STATS_SIZE as u32;
        a.struct_output = out.as_mut_ptr().cast();
        assert_eq!(call(driver, user, &mut a), kIOReturnNotPrivileged);
        assert_eq!(out, [0; STATS_SIZE], "nothing written");
        let s = stats(driver, admin);
        assert_eq!(
            (s.events[0], s.events[5], s.events[8], s.filter_matched),
            (1, 1, 1, 1)
        );

        let mut info = [0u64; 3];
        let mut a = args(5);
        a.scalar_output_count = 3;
        a.scalar_output = info.as_mut_ptr();
        assert_eq!(call(driver, user, &mut a), kIOReturnSuccess);
        assert_eq!(info, [u64::from(user), 2, 0]);

        assert_eq!(call(driver, user, &mut args(3)), kIOReturnNotPrivileged);
        assert_eq!(call(driver, admin, &mut args(3)), kIOReturnSuccess);
        assert_eq!(stats(driver, admin).events, [0; 9]);

        assert_eq!(terminate(driver), (RkTerminateAnswer::Refuse, 2));
        assert_eq!(call(driver, user, &mut args(6)), kIOReturnNotPrivileged);
        assert_eq!(call(driver, admin, &mut args(6)), kIOReturnSuccess);
        assert_eq!(rk_client_close(driver, user), RkCloseAction::Nothing);
        assert_eq!(
            rk_client_close(driver, admin),
            RkCloseAction::Nothing,
            "unload was cancelled"
        );
    });
}

#[test]
fn closed_gate_refuses_callbacks_and_drain_sleeps_the_grace_period() {
    with_driver(defaults(), |sim, driver| {
        let id = open(driver, true).unwrap();
        fileop(driver, 1, c"/a");
        rk_service_close_gate(driver);
        fileop(driver, 1, c"/a");
        fileop(driver, 2, c"/a");
        let s = stats(driver, id);
        assert_eq!((s.events[0], s.events[1], s.reserved), (1, 0, 0));
        assert_eq!(KEXT.refused_after_close(), 2);
        let before = sim.kernel.now();
        assert_eq!(rk_service_drain(driver, 50, 30), 0);
        assert!(sim.kernel.now() - before >= Duration::from_millis(30), "the grace period is slept");
        rk_client_close(driver, id);
    });
}

#[test]
fn drain_waits_for_callbacks_on_other_threads() {
    with_driver(defaults(), |sim, driver| {
        let driver_addr = driver as usize;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        fileop(driver_addr as *mut RkDriver, 1, c"/busy/path");
                    }
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        rk_service_close_gate(driver);
        assert_eq!(rk_service_drain(driver, 2000, 0), 0);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        workers.into_iter().for_each(|w| w.join().unwrap());
        assert!(sim.lines().iter().all(|line| !line.contains("timed out")), "no timeout was logged");
    });
}

#[test]
fn a_released_driver_serves_no_stale_client_and_keeps_no_unload_pending() {
    let _sim = sim();
    let driver = start(&defaults());
    let admin = open(driver, true).unwrap();
    rk_service_close_gate(driver);
    rk_service_release(driver);
    for selector in 0..<dyn Monitor as Interface>::TABLE.len() as u32 {
        let mut shape = Shape::default();
        // SAFETY: a live local.
        assert_eq!(unsafe { rk_method_shape_for(selector, &mut shape) }, 0);
        let mut scalars_in = [0u64; 16];
        let mut scalars_out = [0xaau64; 16];
        let mut bytes_in = [0u8; PATH_FILTER_SIZE];
        bytes_in[0] = b'/';
        let mut bytes_out = [0xaau8; STATS_SIZE];
        let mut a = args(selector);
        a.scalar_input_count = shape.scalar_input_count;
        a.scalar_input = scalars_in.as_mut_ptr();
        a.struct_input_size = shape.struct_input_size;
        a.struct_input = bytes_in.as_ptr().cast();
        a.scalar_output_count = shape.scalar_output_count;
        a.scalar_output = scalars_out.as_mut_ptr();
        a.struct_output_size = shape.struct_output_size;
        a.struct_output = bytes_out.as_mut_ptr().cast();
        assert_eq!(
            call(driver, admin, &mut a),
            kIOReturnNotOpen,
            "selector {selector}"
        );
        assert!(scalars_out.iter().all(|&v| v == 0xaa) && bytes_out.iter().all(|&v| v == 0xaa));
    }
    let before = KEXT.registry().snapshot();
    assert_eq!(terminate(driver), (RkTerminateAnswer::Proceed, 0));
    assert_eq!(KEXT.registry().snapshot(), before);
    assert!(!before.unload_pending);
    assert_eq!(rk_client_close(driver, admin), RkCloseAction::Nothing);
}
