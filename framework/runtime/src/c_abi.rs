//! The C ABI the one shim calls (`shim-cpp/rustkext.h`; `tests/header_in_step.rs` keeps them
//! equal): its `repr(C)` types, and one generic implementation per function, which the
//! [`export!`](crate::export) macro instantiates for a kext under the kext's symbol prefix.
//!
//! Every pointer received is checked: a driver pointer must be exactly the address of the kext's
//! `static` [`Kext`] (null or anything else is refused), and no other argument pointer is
//! dereferenced before it is checked for null.

use core::ffi::{c_char, c_void};
use core::ptr;

use macos_kext_sys::{kIOReturnBadArgument, kIOReturnSuccess, KERN_FAILURE, KERN_SUCCESS};
use rustkext_abi::{shape_for, Call, IOReturn, Interface, Serve, Shape};

use crate::driver::{Driver, Kext, StartRefused};
use crate::gate::Pause;
use crate::kauth::{FileOpEvent, FileOpListener};
use crate::kpi;
use crate::lifecycle::{CloseAction, TerminateAnswer};
use crate::published::{RegistryValues, RkRegistryValue};
use crate::settings::{Property, Settings};
use crate::sync::module_mutex;

/// `rk_driver`: what the shim holds; opaque (the address of the kext's static state).
#[repr(C)]
pub struct RkDriver {
    _opaque: [u8; 0],
}

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

/// The kext behind `driver`, if it is the one this kext handed out.
#[inline]
fn ours<D, I: ?Sized>(kext: &'static Kext<D, I>, driver: *mut RkDriver) -> Option<&'static Kext<D, I>> {
    ptr::eq(driver.cast::<u8>(), ptr::from_ref(kext).cast::<u8>()).then_some(kext)
}

/// `rk_module_start`: the module's kernel mutex (see [`crate::sync`]). `KERN_FAILURE` without
/// memory for it. `#[inline]`: its only caller is the exported wrapper `export!` generates.
#[inline]
pub fn module_start() -> i32 {
    if module_mutex::acquire() {
        KERN_SUCCESS
    } else {
        KERN_FAILURE
    }
}

/// `rk_module_stop`.
#[inline]
pub fn module_stop() -> i32 {
    module_mutex::release();
    KERN_SUCCESS
}

/// `rk_personality_key`: the personality key of setting `index` (see
/// [`SettingKeys::get`](crate::settings::SettingKeys::get)), NULL for a setting the kext does not
/// read and past the last.
pub fn personality_key<D, I: ?Sized>(kext: &'static Kext<D, I>, index: u32) -> *const c_char {
    kext.config.keys.get(index).map_or(ptr::null(), |k| k.as_ptr())
}

/// `rk_kauth_scopes`: the kauth scopes to listen to.
pub fn kauth_scopes<D, I: ?Sized>(kext: &'static Kext<D, I>) -> u32 {
    kext.config.scopes
}

/// `rk_service_start`: settings from `values` (setting `i`'s property at index `i`, as
/// `rk_personality_key(i)` named it; absent past `count`), the driver started, the gate opened;
/// the driver pointer, or NULL with a log line saying why.
///
/// # Safety
/// `values` is null or points to `count` readable `rk_property`.
pub unsafe fn service_start<D: Driver, I: ?Sized>(
    kext: &'static Kext<D, I>,
    values: *const RkProperty,
    count: u32,
) -> *mut RkDriver {
    let prefix = kext.config.log_prefix;
    let mut properties = [Property::Absent; 3];
    if !values.is_null() {
        for (at, property) in properties.iter_mut().enumerate().take(count as usize) {
            // SAFETY: non-null and `at < count`: within the caller's array.
            *property = unsafe { values.add(at).read() }.to_property();
        }
    }
    // One log line for every refusal.
    let (why, detail) = match Settings::from_personality(&kext.config.keys, properties) {
        Err(error) => (error.key, error.expected),
        Ok(settings) => match kext.start(settings) {
            Ok(()) => return ptr::from_ref(kext).cast_mut().cast(),
            Err(StartRefused::InUse) => (c"the driver state is already in use", c""),
            Err(StartRefused::Driver(e)) => (e.0, c""),
        },
    };
    kpi::log_text(prefix, c"start refused: ", why, detail);
    ptr::null_mut()
}

/// `rk_service_terminate_request`: refuse (`*open_clients` says how many are open; the request
/// is remembered), shut down (the first allowed request since start) or proceed. An unknown
/// driver proceeds (there is nothing of ours to protect).
///
/// # Safety
/// `open_clients` is null or points to a writable `uint32_t`.
pub unsafe fn service_terminate_request<D: Driver, I: ?Sized>(
    kext: &'static Kext<D, I>,
    driver: *mut RkDriver,
    open_clients: *mut u32,
) -> RkTerminateAnswer {
    let Some(kext) = ours(kext, driver) else {
        return RkTerminateAnswer::Proceed;
    };
    let (answer, open) = match kext.registry.terminate_request() {
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

/// `rk_service_close_gate`: shutdown, after the resource is withdrawn.
pub fn service_close_gate<D: Driver, I: ?Sized>(kext: &'static Kext<D, I>, driver: *mut RkDriver) {
    if let Some(kext) = ours(kext, driver) {
        kext.close_gate();
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

/// `rk_service_drain`: after `kauth_unlisten_scope`, wait at most `bound_ms` for callbacks in
/// flight, then `grace_ms` for callers not yet counted. How many were still in flight.
pub fn service_drain<D: Driver, I: ?Sized>(
    kext: &'static Kext<D, I>,
    driver: *mut RkDriver,
    bound_ms: u32,
    grace_ms: u32,
) -> u32 {
    let Some(kext) = ours(kext, driver) else {
        return 0;
    };
    // Draining an open gate could wait for ever-new callbacks; the shim closes it first anyway.
    kext.close_gate();
    let bound_ns = u64::from(bound_ms).saturating_mul(1_000_000);
    let mut pause = KernelPause { deadline_ns: kpi::now_ns().saturating_add(bound_ns) };
    let left = kext.drain(&mut pause);
    if left != 0 {
        kpi::log(kext.config.log_prefix, c"drain timed out; FILEOP callbacks still in flight:", u64::from(left));
    }
    if grace_ms != 0 {
        kpi::sleep_ms(grace_ms);
    }
    left
}

/// `rk_service_release`: back to Stopped; the gate stays closed, every client is forgotten.
pub fn service_release<D: Driver, I: ?Sized>(kext: &'static Kext<D, I>, driver: *mut RkDriver) {
    if let Some(kext) = ours(kext, driver) {
        kext.release();
        kpi::log(
            kext.config.log_prefix,
            c"stopped; FILEOP callbacks refused after the gate closed:",
            kext.refused_after_close(),
        );
    }
}

/// `rk_registry_values`: the values the service publishes in the IORegistry, computed now
/// ([`Kext::registry_values`]), written to `values[0..]`; how many (at most `capacity`). No driver
/// pointer: the state is the kext's one `static`, valid whenever the shim can call (an instance of
/// the service exists, so the code is mapped and the module's mutex allocated), also before start
/// and after release.
///
/// # Safety
/// `values` is null or points to `capacity` initialized, writable `rk_registry_value`, not aliased
/// during the call.
pub unsafe fn registry_values<D: Driver, I: ?Sized>(
    kext: &'static Kext<D, I>,
    values: *mut RkRegistryValue,
    capacity: u32,
) -> u32 {
    // SAFETY: the caller's contract (null or `capacity` initialized values, unaliased).
    let out = unsafe { slice_mut(values, capacity) };
    let mut published = RegistryValues::new(out);
    kext.registry_values(&mut published);
    published.len() as u32
}

/// `rk_client_open`: admission (see [`crate::lifecycle`]); `kIOReturnBadArgument` for an unknown
/// driver or a null `client_id`.
///
/// # Safety
/// `client_id` is null or points to a writable `uint32_t`.
pub unsafe fn client_open<D: Driver, I: ?Sized>(
    kext: &'static Kext<D, I>,
    driver: *mut RkDriver,
    connect_type: u32,
    is_admin: bool,
    client_id: *mut u32,
) -> IOReturn {
    let Some(kext) = ours(kext, driver) else {
        return kIOReturnBadArgument;
    };
    // SAFETY: checked for null; the shim passes a pointer to its fClientID member.
    let Some(out) = (unsafe { client_id.as_mut() }) else {
        return kIOReturnBadArgument;
    };
    match kext.registry.open(connect_type, is_admin) {
        Ok(id) => {
            *out = id;
            kIOReturnSuccess
        }
        Err(refusal) => refusal,
    }
}

/// `rk_client_close`: close, death and open rollback; idempotent.
pub fn client_close<D: Driver, I: ?Sized>(kext: &'static Kext<D, I>, driver: *mut RkDriver, client_id: u32) -> RkCloseAction {
    match ours(kext, driver).map(|k| k.registry.close(client_id)) {
        Some(CloseAction::TerminateService) => RkCloseAction::TerminateService,
        Some(CloseAction::Nothing) | None => RkCloseAction::Nothing,
    }
}

/// `rk_method_shape_for`: the exact shape of `selector` (`DESCRIBE` included), or
/// `kIOReturnBadArgument` (unknown selector, null `shape`).
///
/// # Safety
/// `shape` is null or points to a writable `rk_method_shape`.
pub unsafe fn method_shape_for<I: Interface + ?Sized>(selector: u32, shape: *mut Shape) -> IOReturn {
    // SAFETY: checked for null; the shim passes a pointer to a live local.
    let Some(out) = (unsafe { shape.as_mut() }) else {
        return kIOReturnBadArgument;
    };
    match shape_for(I::TABLE, selector) {
        Ok(found) => {
            *out = found;
            kIOReturnSuccess
        }
        Err(refusal) => refusal.code(),
    }
}

/// [`method_shape_for`] for the interface of `kext` (what `export!` calls).
///
/// # Safety
/// As [`method_shape_for`].
pub unsafe fn method_shape_for_kext<D, I: Interface + ?Sized>(_kext: &'static Kext<D, I>, selector: u32, shape: *mut Shape) -> IOReturn {
    // SAFETY: forwarded.
    unsafe { method_shape_for::<I>(selector, shape) }
}

/// `rk_external_method`: argument block checks (null, reserved, null pointer with a nonzero
/// count → `kIOReturnBadArgument`), then [`Kext::call`] (the client, `DESCRIBE` or the table's
/// checks and the method); the output counts are written only on success.
///
/// # Safety
/// `args` is null or points to a writable `rk_method_args`, not aliased during the call, whose
/// non-null buffers hold at least their counts (what `IOExternalMethodArguments` provides).
pub unsafe fn external_method<D: Driver, I: Serve<D> + ?Sized>(
    kext: &'static Kext<D, I>,
    driver: *mut RkDriver,
    client_id: u32,
    args: *mut RkMethodArgs,
) -> IOReturn {
    let Some(kext) = ours(kext, driver) else {
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
    // Only counts a table allows reach a method (at most 16 scalars, 4096 bytes each way:
    // Kext::call checks them before any method runs); the slices are formed now.
    // SAFETY: each pointer is non-null or its count is 0 (checked above), and IOKit's
    // IOExternalMethodArguments gives buffers of exactly these counts, valid for the call; the
    // inputs are not written, the outputs are distinct kernel buffers.
    let mut call = unsafe {
        Call {
            scalar_input: slice(args.scalar_input, args.scalar_input_count),
            struct_input: slice(args.struct_input.cast::<u8>(), args.struct_input_size),
            scalar_output: slice_mut(args.scalar_output, args.scalar_output_count),
            struct_output: slice_mut(args.struct_output.cast::<u8>(), args.struct_output_size),
        }
    };
    match kext.call(client_id, args.selector, &mut call) {
        Ok(shape) => {
            args.scalar_output_count = shape.scalar_output_count;
            args.struct_output_size = shape.struct_output_size;
            kIOReturnSuccess
        }
        Err(refusal) => refusal.code(),
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

/// `rk_fileop_callback`: the FILEOP listener's body (the C++ listener then answers
/// `KAUTH_RESULT_DEFER`). Refused at once (nothing read) unless `driver` is ours and its gate
/// is open.
///
/// # Safety
/// The FILEOP path arguments of `action` (`sys/kauth.h`) are null or NUL-terminated strings
/// readable during the call, as kauth passes them.
#[inline]
pub unsafe fn fileop_callback<D: Driver + FileOpListener, I: ?Sized>(
    kext: &'static Kext<D, I>,
    driver: *mut RkDriver,
    action: usize,
    args: [usize; 4],
) {
    let Some(kext) = ours(kext, driver) else {
        return;
    };
    let Some(guard) = kext.gate.enter(kpi::thread_key()) else {
        return;
    };
    // SAFETY: kauth passes FILEOP path arguments as NUL-terminated strings valid during the call
    // (sys/kauth.h); the event lives only for it.
    let event = unsafe { FileOpEvent::from_kauth(action, args, guard.index()) };
    kext.driver.on_fileop(&event);
    drop(guard);
}

/// The kernel panic behind the panic handler of the kernel build (no panic path is linked; see
/// `tools/kext-check`).
#[cfg(feature = "kernel")]
pub fn fatal() -> ! {
    kpi::fatal(c"RustKext framework: Rust panic")
}
