//! The C ABI as the shim calls it (feature `exports`), with the kernel functions it needs
//! provided by this test binary. One driver state exists per process, so the tests serialize.

use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rustkext::abi::{MethodShape, Stats, PATH_FILTER_SIZE, STATS_SIZE};
use rustkext::exports::*;
use rustkext::ioreturn::*;
use rustkext::Driver;

// ---- the kernel and shim functions the core imports ----

static SLEPT_MS: AtomicU64 = AtomicU64::new(0);
static LOG_LINES: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());
static TEXT_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[no_mangle]
extern "C" fn IOSleep(milliseconds: u32) {
    SLEPT_MS.fetch_add(u64::from(milliseconds), Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(u64::from(milliseconds)));
}

#[no_mangle]
extern "C" fn mach_absolute_time() -> u64 {
    use std::time::Instant;
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[no_mangle]
extern "C" fn absolutetime_to_nanoseconds(abstime: u64, result: *mut u64) {
    // SAFETY: the core passes a pointer to a local.
    unsafe { *result = abstime };
}

#[no_mangle]
extern "C" fn current_thread() -> *mut c_void {
    thread_local!(static ME: u8 = const { 0 });
    ME.with(|me| me as *const u8 as *mut c_void)
}

#[no_mangle]
extern "C" fn rk_shim_log(message: *const c_char, value: u64) {
    // SAFETY: the core passes static C strings.
    let text = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    LOG_LINES.lock().unwrap().push((text, value));
}

#[no_mangle]
extern "C" fn rk_shim_log_text(first: *const c_char, second: *const c_char, third: *const c_char) {
    // SAFETY: the core passes static C strings.
    let text: String = [first, second, third]
        .iter()
        .map(|&p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        .collect();
    TEXT_LINES.lock().unwrap().push(text);
}

/// What `rk_service_start` is given: the personality's properties by key.
struct Personality(Vec<(&'static str, RkProperty)>);

fn number(value: u64) -> RkProperty {
    RkProperty {
        kind: RkPropertyKind::Number as u32,
        reserved: 0,
        value,
    }
}

fn boolean(value: bool) -> RkProperty {
    RkProperty {
        kind: RkPropertyKind::Bool as u32,
        reserved: 0,
        value: u64::from(value),
    }
}

const OTHER: RkProperty = RkProperty {
    kind: RkPropertyKind::Other as u32,
    reserved: 0,
    value: 0,
};

#[no_mangle]
extern "C" fn rk_shim_personality_property(
    personality: *const c_void,
    key: *const c_char,
    out: *mut RkProperty,
) {
    // SAFETY: the tests pass a live `Personality` (or null), the core a static key and a local.
    unsafe {
        let key = CStr::from_ptr(key).to_str().unwrap();
        let found = personality
            .cast::<Personality>()
            .as_ref()
            .and_then(|p| p.0.iter().find(|(k, _)| *k == key))
            .map_or(RkProperty::default(), |(_, v)| *v);
        *out = found;
    }
}

/// The kernel mutex: a test-and-set lock is enough for these tests.
static MUTEX: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[no_mangle]
extern "C" fn rk_shim_mutex_lock() {
    while MUTEX
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::thread::yield_now();
    }
}

#[no_mangle]
extern "C" fn rk_shim_mutex_unlock() {
    assert!(
        MUTEX.swap(false, Ordering::Release),
        "unlock of a free mutex"
    );
}

#[no_mangle]
extern "C" fn rk_shim_fatal(message: *const c_char) {
    // SAFETY: the core passes static C strings.
    panic!("rk_shim_fatal: {:?}", unsafe { CStr::from_ptr(message) });
}

// ---- helpers ----

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn start(personality: &Personality) -> *mut Driver {
    // SAFETY: our stand-in of rk_shim_personality_property takes a live `Personality`.
    unsafe { rk_service_start((personality as *const Personality).cast()) }
}

/// Starts the driver, runs `body`, then shuts it down and stops it the way the shim does.
fn with_driver(personality: Personality, body: impl FnOnce(*mut Driver)) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let driver = start(&personality);
    assert!(!driver.is_null());
    body(driver);
    rk_service_close_gate(driver);
    assert_eq!(rk_service_drain(driver, 1000, 0), 0);
    rk_service_release(driver);
}

fn defaults() -> Personality {
    Personality(Vec::new())
}

fn open(driver: *mut Driver, admin: bool) -> Result<u32, IOReturn> {
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

fn terminate(driver: *mut Driver) -> (RkTerminateAnswer, u32) {
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

fn call(driver: *mut Driver, client: u32, a: &mut RkMethodArgs) -> IOReturn {
    // SAFETY: `a` and the buffers it points to are live for the call.
    unsafe { rk_external_method(driver, client, a) }
}

fn stats(driver: *mut Driver, client: u32) -> Stats {
    let mut out = [0u8; STATS_SIZE];
    let mut a = args(2);
    a.struct_output_size = STATS_SIZE as u32;
    a.struct_output = out.as_mut_ptr().cast();
    assert_eq!(call(driver, client, &mut a), kIOReturnSuccess);
    assert_eq!(a.struct_output_size as usize, STATS_SIZE);
    Stats::from_bytes(&out).unwrap()
}

fn fileop(driver: *mut Driver, action: usize, path: &CStr) {
    // SAFETY: the path outlives the call.
    unsafe { rk_fileop_callback(driver, action, 0, path.as_ptr() as usize, 0, 0) };
}

fn driver_of(driver: *mut Driver) -> &'static Driver {
    // SAFETY: the pointer rk_service_start returned is the static driver state.
    unsafe { &*driver }
}

// ---- tests ----

#[test]
fn start_twice_is_refused_and_an_empty_personality_means_defaults() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let driver = start(&defaults());
    assert!(!driver.is_null());
    TEXT_LINES.lock().unwrap().clear();
    assert!(start(&defaults()).is_null(), "already started");
    assert_eq!(
        TEXT_LINES.lock().unwrap().as_slice(),
        ["start refused: the driver state is already in use"]
    );
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
    let again = unsafe { rk_service_start(null()) };
    assert_eq!(
        again, driver,
        "restartable after release; null means no properties"
    );
    rk_service_release(again);
}

#[test]
fn a_property_of_the_wrong_type_refuses_the_start_and_says_which() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for (personality, line) in [
        (
            Personality(vec![("RustKextMaxClients", boolean(true))]),
            "start refused: RustKextMaxClients must be a number",
        ),
        (
            Personality(vec![("RustKextAdminOnly", number(1))]),
            "start refused: RustKextAdminOnly must be a boolean",
        ),
        (
            Personality(vec![("RustKextStatsForEveryone", OTHER)]),
            "start refused: RustKextStatsForEveryone must be a boolean",
        ),
    ] {
        TEXT_LINES.lock().unwrap().clear();
        assert!(start(&personality).is_null());
        assert_eq!(TEXT_LINES.lock().unwrap().as_slice(), [line]);
    }
    // Nothing was started: a good personality starts at once.
    let driver = start(&Personality(vec![(
        "RustKextMaxClients",
        number((1 << 32) + 1),
    )]));
    assert!(!driver.is_null());
    let ids: Vec<u32> = (0..64).map(|_| open(driver, false).unwrap()).collect();
    assert_eq!(
        open(driver, false),
        Err(kIOReturnNoResources),
        "2^32 + 1 is clamped to 64, not truncated to 1"
    );
    for id in ids {
        rk_client_close(driver, id);
    }
    rk_service_release(driver);
}

#[test]
fn foreign_driver_pointers_are_refused() {
    with_driver(defaults(), |driver| {
        let id = open(driver, true).unwrap();
        let mut fake = [0u64; 64];
        let bogus = fake.as_mut_ptr().cast::<Driver>();
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
    let personality = Personality(vec![
        ("RustKextMaxClients", number(2)),
        ("RustKextAdminOnly", boolean(true)),
    ]);
    with_driver(personality, |driver| {
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
    let mut shape = MethodShape::default();
    for selector in 0..7u32 {
        // SAFETY: a live local.
        let result = unsafe { rk_method_shape_for(selector, &mut shape) };
        assert_eq!(result, kIOReturnSuccess);
        assert_eq!(Ok(shape), rustkext::dispatch::shape_for(selector));
    }
    let before = shape;
    for selector in [7u32, 1000, u32::MAX] {
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
    with_driver(defaults(), |driver| {
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
        a.selector = 7;
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
    with_driver(defaults(), |driver| {
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
    with_driver(defaults(), |driver| {
        let id = open(driver, true).unwrap();
        fileop(driver, 1, c"/a");
        rk_service_close_gate(driver);
        fileop(driver, 1, c"/a");
        fileop(driver, 2, c"/a");
        let s = stats(driver, id);
        assert_eq!((s.events[0], s.events[1], s.reserved), (1, 0, 0));
        assert_eq!(driver_of(driver).refused_after_close(), 2);
        let slept = SLEPT_MS.load(Ordering::SeqCst);
        assert_eq!(rk_service_drain(driver, 50, 30), 0);
        assert!(
            SLEPT_MS.load(Ordering::SeqCst) - slept >= 30,
            "the grace period is slept"
        );
        rk_client_close(driver, id);
    });
}

#[test]
fn drain_waits_for_callbacks_on_other_threads() {
    with_driver(defaults(), |driver| {
        let driver_addr = driver as usize;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        fileop(driver_addr as *mut Driver, 1, c"/busy/path");
                    }
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        rk_service_close_gate(driver);
        assert_eq!(rk_service_drain(driver, 2000, 0), 0);
        stop.store(true, Ordering::Relaxed);
        workers.into_iter().for_each(|w| w.join().unwrap());
        assert!(
            LOG_LINES
                .lock()
                .unwrap()
                .iter()
                .all(|(line, _)| !line.contains("timed out")),
            "no timeout was logged"
        );
    });
}

#[test]
fn a_released_driver_serves_no_stale_client_and_keeps_no_unload_pending() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let driver = start(&defaults());
    let admin = open(driver, true).unwrap();
    rk_service_close_gate(driver);
    rk_service_release(driver);
    for selector in 0..7u32 {
        let mut shape = MethodShape::default();
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
    let before = driver_of(driver).registry().snapshot();
    assert_eq!(terminate(driver), (RkTerminateAnswer::Proceed, 0));
    assert_eq!(driver_of(driver).registry().snapshot(), before);
    assert!(!before.unload_pending);
    assert_eq!(rk_client_close(driver, admin), RkCloseAction::Nothing);
}
