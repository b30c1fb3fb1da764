//! The C ABI the shim calls (`shim-cpp/rustkext.h`; `tests/header_in_step.rs` keeps them equal).
//!
//! The driver state is one `static` [`Driver`]: it lives until the code is unmapped, so a late
//! kauth caller holding an old `idata` still meets a valid, closed gate. Every pointer received
//! is checked: a driver pointer must be exactly that static's address (null or anything else is
//! refused), and no other argument pointer is dereferenced before it is checked for null.

use core::ffi::c_void;
use core::ptr;

use crate::abi::MethodShape;
use crate::config::{Config, Property};
use crate::dispatch::{self, Call};
use crate::driver::Driver;
use crate::gate::Pause;
use crate::ioreturn::{kIOReturnBadArgument, kIOReturnSuccess, IOReturn};
use crate::kpi;
use crate::lifecycle::{CloseAction, TerminateAnswer};

static DRIVER: Driver = Driver::new();

/// `rk_property`: one personality property, as the shim found it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RkProperty {
    /// `rk_property_kind`: 0 absent, 1 number (`value`), 2 boolean (`value` 0/1), 3 other.
    pub kind: u32,
    /// Zero.
    pub reserved: u32,
    /// The number, or the boolean as 0/1.
    pub value: u64,
}

/// `rk_property_kind`: the values of [`RkProperty::kind`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RkPropertyKind {
    /// Not in the personality.
    Absent = 0,
    /// An `OSNumber`.
    Number = 1,
    /// An `OSBoolean`.
    Bool = 2,
    /// Any other type.
    Other = 3,
}

impl RkProperty {
    fn to_property(self) -> Property {
        const ABSENT: u32 = RkPropertyKind::Absent as u32;
        const NUMBER: u32 = RkPropertyKind::Number as u32;
        const BOOL: u32 = RkPropertyKind::Bool as u32;
        match self.kind {
            ABSENT => Property::Absent,
            NUMBER => Property::Number(self.value),
            BOOL => Property::Bool(self.value != 0),
            _ => Property::Other,
        }
    }
}

/// `rk_terminate_answer`: what the service's `terminate()` must do.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RkTerminateAnswer {
    /// Refuse (return false); `*open_clients` clients are open.
    Refuse = 0,
    /// Shut down (withdraw the resource, close the gate, unlisten, drain), then terminate.
    ShutDown = 1,
    /// Terminate; nothing is left to shut down.
    Proceed = 2,
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
    /// `IOLog("RustKext: %s%s%s\n", first, second, third)`; each static and NUL-terminated.
    pub fn rk_shim_log_text(
        first: *const cty::c_char,
        second: *const cty::c_char,
        third: *const cty::c_char,
    );
    /// The personality property `key` of the service `personality` (what `rk_service_start`
    /// was given), written to `*out`.
    pub fn rk_shim_personality_property(
        personality: *const c_void,
        key: *const cty::c_char,
        out: *mut RkProperty,
    );
    /// Takes the kext's kernel mutex (blocks; never on the kauth path).
    pub fn rk_shim_mutex_lock();
    /// Releases the kext's kernel mutex.
    pub fn rk_shim_mutex_unlock();
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

fn log_text(
    first: &'static core::ffi::CStr,
    second: &'static core::ffi::CStr,
    third: &'static core::ffi::CStr,
) {
    // SAFETY: static NUL-terminated strings, as rk_shim_log_text requires.
    unsafe { rk_shim_log_text(first.as_ptr(), second.as_ptr(), third.as_ptr()) }
}

/// `start()`: reads the settings from the personality of `personality` (the service, passed back
/// to `rk_shim_personality_property`), creates the driver state and opens the callback gate.
/// NULL, with a log line saying why, if a property has the wrong type (nothing runs with a
/// configuration nobody wrote) or the state is already in use.
/// # Safety
/// `personality` is what `rk_shim_personality_property` accepts: the service being started (or
/// null, meaning no properties). Rust never dereferences it.
#[no_mangle]
pub unsafe extern "C" fn rk_service_start(personality: *const c_void) -> *mut Driver {
    let config = Config::from_personality(|key| {
        let mut out = RkProperty::default();
        // SAFETY: `personality` is as this function's contract says, `key` a static
        // NUL-terminated string and `out` a live local.
        unsafe { rk_shim_personality_property(personality, key.as_ptr(), &mut out) };
        out.to_property()
    });
    let config = match config {
        Ok(config) => config,
        Err(error) => {
            log_text(c"start refused: ", error.key, error.expected);
            return ptr::null_mut();
        }
    };
    if DRIVER.start(config) {
        ptr::addr_of!(DRIVER).cast_mut()
    } else {
        log_text(
            c"start refused: ",
            c"the driver state is already in use",
            c"",
        );
        ptr::null_mut()
    }
}

/// `terminate()`: refuse (`*open_clients` says how many are open; the request is remembered),
/// shut down (the first allowed request since start) or proceed. An unknown driver proceeds
/// (there is nothing of ours to protect).
/// # Safety
/// `open_clients` is null or points to a writable `uint32_t`.
#[no_mangle]
pub unsafe extern "C" fn rk_service_terminate_request(
    driver: *mut Driver,
    open_clients: *mut u32,
) -> RkTerminateAnswer {
    let Some(driver) = ours(driver) else {
        return RkTerminateAnswer::Proceed;
    };
    let (answer, open) = match driver.registry().terminate_request() {
        TerminateAnswer::Refuse(open) => (RkTerminateAnswer::Refuse, open),
        TerminateAnswer::ShutDown => (RkTerminateAnswer::ShutDown, 0),
        TerminateAnswer::Proceed => (RkTerminateAnswer::Proceed, 0),
    };
    // SAFETY: checked for null; the shim passes a pointer to a live local.
    if let Some(out) = unsafe { open_clients.as_mut() } {
        *out = open;
    }
    answer
}

/// Shutdown, after the resource is withdrawn: close the gate.
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

/// Shutdown, after `kauth_unlisten_scope`: wait at most `bound_ms` for callbacks in flight, then
/// `grace_ms` for callers not yet counted. Returns how many were still in flight (0 = drained).
#[no_mangle]
pub extern "C" fn rk_service_drain(driver: *mut Driver, bound_ms: u32, grace_ms: u32) -> u32 {
    let Some(driver) = ours(driver) else {
        return 0;
    };
    // Draining an open gate could wait for ever-new callbacks; the shim closes it first anyway.
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

/// `stop()`: back to Stopped; the gate stays closed and every open client is forgotten.
#[no_mangle]
pub extern "C" fn rk_service_release(driver: *mut Driver) {
    if let Some(driver) = ours(driver) {
        driver.release();
        log(
            c"stopped; FILEOP callbacks refused after the gate closed:",
            driver.refused_after_close(),
        );
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
    let selector = match dispatch::validate(args.selector, given, &client) {
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
