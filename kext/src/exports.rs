//! The C ABI the shim calls (`shim-cpp/rustkext.h`; `tests/header_in_step.rs` keeps them equal).
//!
//! The driver state is one `static` [`Driver`]: it lives until the code is unmapped, so a late
//! kauth caller holding an old `idata` still meets a valid, closed gate. Every pointer received
//! is checked: a driver pointer must be exactly that static's address (null or anything else is
//! refused), and no other argument pointer is dereferenced before it is checked for null.

use core::ffi::c_void;
use core::ptr;

use crate::abi::MethodShape;
use crate::dispatch::{self, Call};
use crate::driver::Driver;
use crate::gate::Pause;
use crate::ioreturn::{kIOReturnBadArgument, kIOReturnSuccess, IOReturn};
use crate::kpi;
use crate::lifecycle::{CloseAction, Config};

static DRIVER: Driver = Driver::new();

/// `rk_config`: settings from the personality.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RkConfig {
    /// 0 = default (64); larger values are clamped to 64.
    pub max_clients: u32,
    /// Nonzero: non-administrators are refused at open.
    pub admin_only_open: u32,
}

/// `rk_close_action`: what the shim must do after a client closed.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RkCloseAction {
    /// Nothing more to do.
    Nothing = 0,
    /// Terminate the service, asynchronously and outside any lock; said exactly once.
    TerminateService = 1,
}

/// `rk_method_args`: one external-method call, flattened from `IOExternalMethodArguments`.
#[repr(C)]
#[derive(Debug)]
pub struct RkMethodArgs {
    /// Selector.
    pub selector: u32,
    /// Input scalars.
    pub scalar_input_count: u32,
    /// Input struct bytes.
    pub struct_input_size: u32,
    /// In: capacity of `scalar_output`; out: scalars written (on success).
    pub scalar_output_count: u32,
    /// In: capacity of `struct_output`; out: bytes written (on success).
    pub struct_output_size: u32,
    /// Zero.
    pub reserved: u32,
    /// `scalar_input_count` scalars (null only when the count is 0).
    pub scalar_input: *const u64,
    /// `struct_input_size` bytes (null only when the size is 0).
    pub struct_input: *const c_void,
    /// Room for `scalar_output_count` scalars.
    pub scalar_output: *mut u64,
    /// Room for `struct_output_size` bytes.
    pub struct_output: *mut c_void,
}

extern "C" {
    /// `IOLog("RustKext: %s %llu\n", message, value)`; `message` is static and NUL-terminated.
    pub fn rk_shim_log(message: *const cty::c_char, value: u64);
    /// `panic("%s", message)`; unreachable in a correct build.
    pub fn rk_shim_fatal(message: *const cty::c_char);
}

/// The driver behind `driver`, if it is the one this kext handed out.
fn ours(driver: *mut Driver) -> Option<&'static Driver> {
    ptr::eq(driver, &DRIVER).then_some(&DRIVER)
}

fn log(message: &'static core::ffi::CStr, value: u64) {
    // SAFETY: a static NUL-terminated string, as rk_shim_log requires.
    unsafe { rk_shim_log(message.as_ptr(), value) }
}

/// `start()`: creates the driver state and opens the callback gate. NULL if already started.
/// A NULL `config` means the defaults.
/// # Safety
/// `config` is null or points to a readable `rk_config`.
#[no_mangle]
pub unsafe extern "C" fn rk_service_start(config: *const RkConfig) -> *mut Driver {
    // SAFETY: checked for null; the shim passes a pointer to a live local `rk_config`.
    let config = unsafe { config.as_ref() }.copied().unwrap_or_default();
    let config = Config {
        max_clients: config.max_clients,
        admin_only_open: config.admin_only_open != 0,
    };
    if DRIVER.start(config) {
        ptr::addr_of!(DRIVER).cast_mut()
    } else {
        ptr::null_mut()
    }
}

/// `terminate()`: true = go ahead; false = refused, `*open_clients` says how many are open.
/// An unknown driver is allowed to terminate (there is nothing of ours to protect).
/// # Safety
/// `open_clients` is null or points to a writable `uint32_t`.
#[no_mangle]
pub unsafe extern "C" fn rk_service_terminate_request(
    driver: *mut Driver,
    open_clients: *mut u32,
) -> bool {
    let Some(driver) = ours(driver) else {
        return true;
    };
    let (allowed, open) = match driver.registry().terminate_request() {
        Ok(()) => (true, 0),
        Err(open) => (false, open),
    };
    // SAFETY: checked for null; the shim passes a pointer to a live local.
    if let Some(out) = unsafe { open_clients.as_mut() } {
        *out = open;
    }
    allowed
}

/// `stop()`, step 1: close the gate.
#[no_mangle]
pub extern "C" fn rk_service_close_gate(driver: *mut Driver) {
    if let Some(driver) = ours(driver) {
        driver.close_gate();
    }
}

/// Polls every millisecond until `bound_ms` (measured with the kernel clock) has passed.
struct KernelPause {
    deadline_ns: u64,
}

impl Pause for KernelPause {
    fn pause(&mut self) -> bool {
        if kpi::now_ns() >= self.deadline_ns {
            return false;
        }
        kpi::sleep_ms(1);
        true
    }
}

/// `stop()`, after `kauth_unlisten_scope`: wait at most `bound_ms` for callbacks in flight, then
/// `grace_ms` for callers not yet counted. Returns how many were still in flight (0 = drained).
#[no_mangle]
pub extern "C" fn rk_service_drain(driver: *mut Driver, bound_ms: u32, grace_ms: u32) -> u32 {
    let Some(driver) = ours(driver) else {
        return 0;
    };
    // Draining an open gate could wait for ever-new callbacks; stop() closes it first anyway.
    driver.close_gate();
    let bound_ns = u64::from(bound_ms).saturating_mul(1_000_000);
    let mut pause = KernelPause {
        deadline_ns: kpi::now_ns().saturating_add(bound_ns),
    };
    let left = driver.drain(&mut pause);
    if left != 0 {
        log(
            c"drain timed out; FILEOP callbacks still in flight:",
            u64::from(left),
        );
    }
    if grace_ms != 0 {
        kpi::sleep_ms(grace_ms);
    }
    left
}

/// `stop()`, last step: back to Stopped; the gate stays closed.
#[no_mangle]
pub extern "C" fn rk_service_release(driver: *mut Driver) {
    if let Some(driver) = ours(driver) {
        driver.release();
    }
}

/// `newUserClient()`: admission. `kIOReturnBadArgument` for an unknown driver or a null
/// `client_id`; otherwise see [`crate::lifecycle`].
/// # Safety
/// `client_id` is null or points to a writable `uint32_t`.
#[no_mangle]
pub unsafe extern "C" fn rk_client_open(
    driver: *mut Driver,
    connect_type: u32,
    is_admin: bool,
    client_id: *mut u32,
) -> IOReturn {
    let Some(driver) = ours(driver) else {
        return kIOReturnBadArgument;
    };
    // SAFETY: checked for null; the shim passes a pointer to its fClientID member.
    let Some(out) = (unsafe { client_id.as_mut() }) else {
        return kIOReturnBadArgument;
    };
    match driver.registry().open(connect_type, is_admin) {
        Ok(id) => {
            *out = id;
            kIOReturnSuccess
        }
        Err(refusal) => refusal,
    }
}

/// `clientClose()`/`clientDied()`/rollback: idempotent.
#[no_mangle]
pub extern "C" fn rk_client_close(driver: *mut Driver, client_id: u32) -> RkCloseAction {
    match ours(driver).map(|d| d.registry().close(client_id)) {
        Some(CloseAction::TerminateService) => RkCloseAction::TerminateService,
        Some(CloseAction::Nothing) | None => RkCloseAction::Nothing,
    }
}

/// The exact shape of `selector`, or `kIOReturnBadArgument` (unknown selector or null `shape`).
/// # Safety
/// `shape` is null or points to a writable `rk_method_shape`.
#[no_mangle]
pub unsafe extern "C" fn rk_method_shape_for(selector: u32, shape: *mut MethodShape) -> IOReturn {
    // SAFETY: checked for null; the shim passes a pointer to a live local.
    let Some(out) = (unsafe { shape.as_mut() }) else {
        return kIOReturnBadArgument;
    };
    match dispatch::shape_for(selector) {
        Ok(found) => {
            *out = found;
            kIOReturnSuccess
        }
        Err(refusal) => refusal,
    }
}

/// `externalMethod()`: argument block checks (null, reserved, null pointer with a nonzero size →
/// `kIOReturnBadArgument`), then the checks of [`crate::dispatch`], then the method.
/// # Safety
/// `args` is null or points to a writable `rk_method_args`, not aliased during the call, whose
/// non-null buffers hold at least their counts (what `IOExternalMethodArguments` provides).
#[no_mangle]
pub unsafe extern "C" fn rk_external_method(
    driver: *mut Driver,
    client_id: u32,
    args: *mut RkMethodArgs,
) -> IOReturn {
    let Some(driver) = ours(driver) else {
        return kIOReturnBadArgument;
    };
    // SAFETY: checked for null; the shim passes its local rk_method_args, not aliased.
    let Some(args) = (unsafe { args.as_mut() }) else {
        return kIOReturnBadArgument;
    };
    if args.reserved != 0
        || (args.scalar_input.is_null() && args.scalar_input_count != 0)
        || (args.struct_input.is_null() && args.struct_input_size != 0)
        || (args.scalar_output.is_null() && args.scalar_output_count != 0)
        || (args.struct_output.is_null() && args.struct_output_size != 0)
    {
        return kIOReturnBadArgument;
    }
    let client = match driver.client(client_id) {
        Ok(client) => client,
        Err(refusal) => return refusal,
    };
    let given = MethodShape::new(
        args.scalar_input_count,
        args.struct_input_size,
        args.scalar_output_count,
        args.struct_output_size,
    );
    let selector = match dispatch::validate(args.selector, given, client.is_admin) {
        Ok(selector) => selector,
        Err(refusal) => return refusal,
    };
    // Only now, with the counts equal to the table's small shapes, are slices formed.
    // SAFETY: each pointer is non-null or its count is 0 (checked above), and IOKit's
    // IOExternalMethodArguments gives buffers of exactly these counts, valid for the call; the
    // inputs are not written, the outputs are distinct kernel buffers.
    let mut call = unsafe {
        Call {
            selector: args.selector,
            scalar_input: slice(args.scalar_input, args.scalar_input_count),
            struct_input: slice(args.struct_input.cast::<u8>(), args.struct_input_size),
            scalar_output: slice_mut(args.scalar_output, args.scalar_output_count),
            struct_output: slice_mut(args.struct_output.cast::<u8>(), args.struct_output_size),
        }
    };
    match dispatch::run(driver, client, selector, &mut call) {
        Ok(written) => {
            args.scalar_output_count = written.scalars;
            args.struct_output_size = written.bytes;
            kIOReturnSuccess
        }
        Err(refusal) => refusal,
    }
}

/// # Safety
/// `data` is valid for `len` reads of `T` for `'a`, or `len` is 0.
unsafe fn slice<'a, T>(data: *const T, len: u32) -> &'a [T] {
    if len == 0 || data.is_null() {
        return &[];
    }
    // SAFETY: the caller's contract; u32 always fits usize on the kernel targets.
    unsafe { core::slice::from_raw_parts(data, len as usize) }
}

/// # Safety
/// `data` is valid for `len` writes of `T` for `'a`, unaliased, or `len` is 0.
unsafe fn slice_mut<'a, T>(data: *mut T, len: u32) -> &'a mut [T] {
    if len == 0 || data.is_null() {
        return &mut [];
    }
    // SAFETY: the caller's contract.
    unsafe { core::slice::from_raw_parts_mut(data, len as usize) }
}

/// The kauth FILEOP listener's body (the C++ listener then answers `KAUTH_RESULT_DEFER`).
/// Refused at once (nothing read) unless `driver` is ours and its gate is open.
/// # Safety
/// The FILEOP path arguments of `action` (`sys/kauth.h`) are null or NUL-terminated strings
/// readable during the call, as kauth passes them.
#[no_mangle]
pub unsafe extern "C" fn rk_fileop_callback(
    driver: *mut Driver,
    action: usize,
    arg0: usize,
    arg1: usize,
    arg2: usize,
    arg3: usize,
) {
    if let Some(driver) = ours(driver) {
        // SAFETY: kauth passes FILEOP path arguments as NUL-terminated strings valid during the
        // call (sys/kauth.h); monitor::paths_of reads only the arguments that are paths.
        unsafe { driver.fileop(kpi::thread_key(), action, [arg0, arg1, arg2, arg3]) };
    }
}
