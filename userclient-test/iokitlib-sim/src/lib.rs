//! iokitlib-sim: the part of IOKitLib (IOKit.framework) that `userclient-test`'s iokit backend
//! uses, with the C signatures of `io-kit-sys`/`mach2` and the semantics of Apple's user-space
//! source, over a simulated kernel (xnu-sim with the serving program's kext loaded: the harness
//! serves the monitor) in a server process.
//!
//! Sources (read, not copied): IOKitUser `IOKitLib.c` (darlinghq/darling-iokituser, a mirror
//! of Apple's IOKitUser), the MIG interface xnu-11417.101.15 `osfmk/device/device.defs`, the
//! stubs MIG writes for it (apple-oss-distributions/bootstrap_cmds `migcom.tproj/user.c`), and
//! the kernel routines in xnu `iokit/Kernel/IOUserClient.cpp` (`is_io_*`). Each function says
//! which part it follows. The layers are kept apart as on macOS:
//!
//! - IOKitLib (here): matching dictionaries, `IOConnectCallMethod`'s inband/out-of-line split
//!   and what it writes back, `IOServiceClose` = `io_service_close` + `IOObjectRelease`.
//! - The MIG user stubs (here): input arrays over their maximum refused before sending,
//!   in-out counts sent clamped, an error reply copying nothing out, a reply array larger than
//!   the caller's count copied partly with `MIG_ARRAY_TOO_LARGE`.
//! - Mach IPC and the MIG server stubs (the server): the task's port names and their user
//!   references, sends to dead or invalid names, `intran` conversions, error replies.
//! - The kernel routines (the server on xnu-sim): `is_io_service_open_extended`,
//!   `is_io_connect_method` (its out-of-line size checks), `is_io_service_close`, and the
//!   unmodified shim and Rust core behind them.
//!
//! What would crash or misbehave on macOS (a NULL buffer with a nonzero size, a dictionary used
//! after it was consumed) ends the process with a message; what is not modelled
//! (`kIOConnectMethodVarOutputSize`, a master port other than `kIOMasterPortDefault`) too.
#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)]

pub mod cf;
pub mod client;
#[cfg(feature = "server")]
pub mod server;
pub mod tools;
pub mod wire;

use client::{fatal, kernel_call};
use std::ffi::{c_char, c_void, CStr};

use wire::{FileopArg, MethodRequest, Reply, Request};

pub use cf::{
    kCFAllocatorDefault, kCFBooleanFalse, kCFBooleanTrue, kCFNumberSInt64Type, kCFStringEncodingUTF8,
    kCFTypeDictionaryKeyCallBacks, kCFTypeDictionaryValueCallBacks, CFBooleanGetTypeID, CFBooleanGetValue,
    CFDictionaryCreate, CFDictionaryGetCount, CFDictionaryGetKeysAndValues, CFDictionaryGetTypeID, CFGetTypeID,
    CFNumberGetTypeID, CFNumberGetValue, CFRelease, CFStringCreateWithCString, CFStringGetCString, CFStringGetTypeID,
};
pub use client::{attach, ensure_kernel};

/// The C types, as `io-kit-sys`, `mach2` and `core-foundation-sys` declare them.
pub mod types {
    /// `mach2::port::mach_port_t`.
    pub type mach_port_t = std::ffi::c_uint;
    /// `mach2::kern_return::kern_return_t`.
    pub type kern_return_t = std::ffi::c_int;
    /// `mach2::mach_types::task_port_t`.
    pub type task_port_t = mach_port_t;
    /// `io_kit_sys::types::io_object_t`.
    pub type io_object_t = mach_port_t;
    /// `io_kit_sys::types::io_service_t`.
    pub type io_service_t = io_object_t;
    /// `io_kit_sys::types::io_connect_t`.
    pub type io_connect_t = io_object_t;
    /// `io_kit_sys::types::io_registry_entry_t`.
    pub type io_registry_entry_t = io_object_t;
    /// `io_kit_sys::ret::IOReturn`.
    pub type IOReturn = kern_return_t;

    /// `core_foundation_sys::dictionary::__CFDictionary` (opaque).
    #[repr(C)]
    pub struct __CFDictionary {
        _private: [u8; 0],
    }
    /// `core_foundation_sys::dictionary::CFDictionaryRef`.
    pub type CFDictionaryRef = *const __CFDictionary;
    /// `core_foundation_sys::dictionary::CFMutableDictionaryRef`.
    pub type CFMutableDictionaryRef = *mut __CFDictionary;
    /// `core_foundation_sys::base::CFTypeRef`.
    pub type CFTypeRef = *const std::ffi::c_void;
}

pub use types::*;

/// Return codes: IOKit's from `macos-kext-sys`; the user-space Mach and MIG ones, which the
/// kernel bindings do not carry, from their headers.
pub mod codes {
    use super::kern_return_t;
    use macos_kext_sys as k;

    pub const KERN_SUCCESS: kern_return_t = k::KERN_SUCCESS as kern_return_t;
    /// `mach/kern_return.h`: the name does not denote a right.
    pub const KERN_INVALID_NAME: kern_return_t = 15;
    /// `mach/message.h`: the destination port is invalid (a dead name, no right, `MACH_PORT_NULL`).
    pub const MACH_SEND_INVALID_DEST: kern_return_t = k::MACH_SEND_INVALID_DEST;
    /// `mach/message.h`: a port right in the message body is invalid.
    pub const MACH_SEND_INVALID_RIGHT: kern_return_t = 0x1000_0007;
    /// `mach/mig_errors.h`.
    pub const MIG_ARRAY_TOO_LARGE: kern_return_t = -307;
    /// `mach/mig_errors.h`: the server found the request malformed.
    pub const MIG_BAD_ARGUMENTS: kern_return_t = -304;
    pub const kIOReturnSuccess: kern_return_t = k::kIOReturnSuccess;
    pub const kIOReturnBadArgument: kern_return_t = k::kIOReturnBadArgument;
    pub const kIOReturnIPCError: kern_return_t = k::kIOReturnIPCError;
    pub const kIOReturnNotFound: kern_return_t = k::kIOReturnNotFound;
    pub const kIOReturnNotPrivileged: kern_return_t = k::kIOReturnNotPrivileged;
    pub const kIOReturnUnsupported: kern_return_t = k::kIOReturnUnsupported;
}

use codes::*;

/// `sizeof(io_struct_inband_t)`: device.defs `array[*:4096] of char`.
pub const IO_STRUCT_INBAND_MAX: usize = 4096;
/// device.defs `io_scalar_inband64_t = array[*:16] of io_user_scalar_t`.
pub const IO_SCALAR_INBAND_MAX: u32 = 16;
/// `IOKitLib.h`: `kIOConnectMethodVarOutputSize` (-3), an output struct the kernel sizes.
pub const kIOConnectMethodVarOutputSize: usize = usize::MAX - 2;
/// The name of this task's own port in its space (what `mach_task_self()` returns).
pub const TASK_SELF_NAME: mach_port_t = 0x203;

/// `io_kit_sys::kIOMasterPortDefault`: `MACH_PORT_NULL`, "use the default master port".
pub static kIOMasterPortDefault: mach_port_t = 0;

/// `mach2::traps`.
pub mod traps {
    use super::mach_port_t;

    /// `mach_task_self()`: the name of this task's port.
    ///
    /// # Safety
    ///
    /// None; `unsafe` as in `mach2`, so that code written for either compiles against both.
    pub unsafe fn mach_task_self() -> mach_port_t {
        super::TASK_SELF_NAME
    }
}

/// `IOServiceMatching(name)`: a dictionary `{IOProviderClass = name}` (IOKitLib.c
/// `MakeOneStringProp(CFSTR(kIOProviderClassKey), name)`), owned by the caller.
///
/// # Safety
///
/// `name` is a NUL-terminated string (NULL ends the process: `CFStringCreateWithCString` would
/// fault).
pub unsafe extern "C" fn IOServiceMatching(name: *const c_char) -> CFMutableDictionaryRef {
    if name.is_null() {
        fatal("IOServiceMatching(NULL): CFStringCreateWithCString would fault");
    }
    // SAFETY: the caller passes a NUL-terminated string (checked non-null above).
    let class = unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned();
    cf::create(cf::Object::Matching { class }) as CFMutableDictionaryRef
}

/// `IOServiceGetMatchingService` (IOKitLib.c): `NULL` matching gives `MACH_PORT_NULL`; the
/// dictionary is serialized and released (consumed, whatever the outcome), then
/// `io_service_get_matching_service_bin`; any failure gives `MACH_PORT_NULL`, else the service's
/// name in this task (a send right: release it with [`IOObjectRelease`]).
///
/// # Safety
///
/// `matching` is NULL or a live dictionary from [`IOServiceMatching`], not used afterwards.
pub unsafe extern "C" fn IOServiceGetMatchingService(
    masterPort: mach_port_t,
    matching: CFDictionaryRef,
) -> io_service_t {
    if matching.is_null() {
        return 0;
    }
    if masterPort != 0 {
        fatal("IOServiceGetMatchingService with a master port other than kIOMasterPortDefault is not modelled");
    }
    let class = match cf::get(matching as usize, "IOServiceGetMatchingService") {
        cf::Object::Matching { class } => class,
        other => fatal(&format!(
            "IOServiceGetMatchingService with {other:?}: only IOServiceMatching dictionaries are modelled"
        )),
    };
    cf::release(matching as usize, "IOServiceGetMatchingService");
    match kernel_call(&Request::GetMatchingService { class }) {
        Reply::Service {
            kr: KERN_SUCCESS,
            name,
        } => name,
        Reply::Service { .. } => 0,
        other => fatal(&format!("GetMatchingService answered {other:?}")),
    }
}

/// `IOServiceOpen` (IOKitLib.c): `io_service_open_extended(service, owningTask, type, NDR, NULL,
/// 0, &result, connect)`, then `if (KERN_SUCCESS == kr) kr = result`. A successful reply always
/// carries the connection (`MACH_PORT_NULL` when the kernel refused the open), so `*connect` is
/// written whenever the routine ran; after a failed send or an error reply it is untouched. The
/// caller's effective uid goes with the request: the kernel reads the task's credential at the
/// open (`clientHasPrivilege`).
///
/// # Safety
///
/// `connect` is valid for a write (NULL ends the process: the MIG stub would fault).
pub unsafe extern "C" fn IOServiceOpen(
    service: io_service_t,
    owningTask: task_port_t,
    type_: u32,
    connect: *mut io_connect_t,
) -> kern_return_t {
    let request = Request::ServiceOpen {
        service,
        owning_task: owningTask,
        connect_type: type_,
        euid: client::current_euid(),
    };
    match kernel_call(&request) {
        Reply::Open {
            kr: KERN_SUCCESS,
            result,
            connection,
        } => {
            if connect.is_null() {
                fatal("IOServiceOpen with connect NULL: the MIG stub would fault storing the port");
            }
            // SAFETY: the caller passes a pointer valid for a write (checked non-null above).
            unsafe { *connect = connection };
            result
        }
        Reply::Open { kr, .. } => kr,
        other => fatal(&format!("ServiceOpen answered {other:?}")),
    }
}

/// `IORegistryEntrySetCFProperties` (IOKitLib.c): the properties are serialized (not consumed;
/// NULL cannot be: `kIOReturnUnsupported`), then `io_registry_entry_set_properties(entry, …,
/// &result)` and `if (KERN_SUCCESS == kr) kr = result`. Only a dictionary's string keys travel
/// (the values do not reach the model); anything else travels as "not a dictionary". The
/// caller's effective uid goes with the request (IOResources::setProperties asks
/// `clientHasPrivilege(current_task())`).
///
/// # Safety
///
/// `properties` is NULL or a live object of [`cf`].
pub unsafe extern "C" fn IORegistryEntrySetCFProperties(
    entry: io_registry_entry_t,
    properties: CFTypeRef,
) -> kern_return_t {
    if properties.is_null() {
        return kIOReturnUnsupported;
    }
    let keys = match cf::get(properties as usize, "IORegistryEntrySetCFProperties") {
        cf::Object::Dictionary(pairs) => Some(
            pairs
                .iter()
                .map(|(k, _)| {
                    cf::string(*k, "a property key").unwrap_or_else(|| {
                        fatal("IORegistryEntrySetCFProperties: only string keys are modelled")
                    })
                })
                .collect(),
        ),
        _ => None,
    };
    let request = Request::SetProperties {
        entry,
        keys,
        euid: client::current_euid(),
    };
    match kernel_call(&request) {
        Reply::Open {
            kr: KERN_SUCCESS,
            result,
            ..
        } => result,
        Reply::Open { kr, .. } => kr,
        other => fatal(&format!("SetProperties answered {other:?}")),
    }
}

/// `IORegistryEntryCreateCFProperties` (IOKitLib.c): `io_registry_entry_get_properties_bin`,
/// whose routine is `is_io_registry_entry_get_properties_bin_buf` (the entry's
/// `serializeProperties`), then the serialization rebuilt as CF objects; the code of the routine
/// when it fails (`*properties` untouched). Only the default allocator and no options are
/// modelled.
///
/// # Safety
///
/// `properties` is valid for a write.
pub unsafe extern "C" fn IORegistryEntryCreateCFProperties(
    entry: io_registry_entry_t,
    properties: *mut CFMutableDictionaryRef,
    allocator: cf::CFAllocatorRef,
    options: u32,
) -> kern_return_t {
    if properties.is_null() || !allocator.is_null() || options != 0 {
        fatal("IORegistryEntryCreateCFProperties: a NULL out pointer, an allocator or options are not modelled");
    }
    match kernel_call(&Request::GetProperties { entry }) {
        Reply::Properties { kr: KERN_SUCCESS, properties: Some(value) } => {
            // SAFETY: the caller's contract.
            unsafe { *properties = cf::unserialize(&value) as CFMutableDictionaryRef };
            KERN_SUCCESS
        }
        Reply::Properties { kr, properties: None } if kr != KERN_SUCCESS => kr,
        other => fatal(&format!("GetProperties answered {other:?}")),
    }
}

/// Sleeps for `duration` of the simulated kernel's time (its clock runs faster than the host's).
pub fn sleep_kernel_time(duration: std::time::Duration) {
    let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    match kernel_call(&Request::SleepKernelTime { ns }) {
        Reply::Done => {}
        other => fatal(&format!("SleepKernelTime answered {other:?}")),
    }
}

/// `io_service_close` (the MIG routine alone).
fn io_service_close(connect: io_connect_t) -> kern_return_t {
    match kernel_call(&Request::ServiceClose {
        connection: connect,
    }) {
        Reply::Code { kr } => kr,
        other => fatal(&format!("ServiceClose answered {other:?}")),
    }
}

/// `IOServiceClose` (IOKitLib.c): `kr = io_service_close(connect); IOObjectRelease(connect);
/// return kr;` — the release happens whatever `io_service_close` answered (so closing a service
/// handle by mistake releases it).
///
/// # Safety
///
/// None beyond the Mach rules: `connect` names a right of this task or the call reports it.
pub unsafe extern "C" fn IOServiceClose(connect: io_connect_t) -> kern_return_t {
    let kr = io_service_close(connect);
    // SAFETY: IOObjectRelease has no memory preconditions.
    unsafe { IOObjectRelease(connect) };
    kr
}

/// `IOObjectRelease` (IOKitLib.c): `mach_port_deallocate(mach_task_self(), object)`: one user
/// reference less; the last one gives the right back (a service port's last send right drops its
/// reference on the service; a connection's runs `clientDied`). `KERN_INVALID_NAME` for a name
/// this task does not hold, `KERN_SUCCESS` for `MACH_PORT_NULL`/`MACH_PORT_DEAD` and dead names
/// (xnu `mach_port_deallocate_kernel`).
///
/// # Safety
///
/// None beyond the Mach rules.
pub unsafe extern "C" fn IOObjectRelease(object: io_object_t) -> kern_return_t {
    match kernel_call(&Request::PortDeallocate { name: object }) {
        Reply::Code { kr } => kr,
        other => fatal(&format!("PortDeallocate answered {other:?}")),
    }
}

/// Reads `n` elements at `p` for a request, as the MIG stub's `memcpy` does (NULL with `n > 0`
/// would fault).
///
/// # Safety
///
/// `p` is NULL or valid for reads of `n` elements.
unsafe fn copy_in<T: Copy>(p: *const T, n: usize, what: &str) -> Vec<T> {
    if n == 0 {
        return Vec::new();
    }
    if p.is_null() {
        fatal(&format!(
            "{what} is NULL with {n} elements: copying it would fault"
        ));
    }
    // SAFETY: p is non-null and, by the caller's contract, valid for n reads.
    unsafe { std::slice::from_raw_parts(p, n) }.to_vec()
}

/// Writes `data` to `p`, as the stub's `memcpy` into the caller's buffer.
///
/// # Safety
///
/// `p` is valid for writes of `data.len()` elements (NULL with data ends the process).
unsafe fn copy_out<T: Copy>(p: *mut T, data: &[T], what: &str) {
    if data.is_empty() {
        return;
    }
    if p.is_null() {
        fatal(&format!(
            "{what} is NULL and {} elements came back: the copy would fault",
            data.len()
        ));
    }
    // SAFETY: p is non-null and, by the caller's contract, valid for data.len() writes; the
    // regions cannot overlap (data is the reply's own buffer).
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
}

/// The MIG user stub of `io_connect_method` (migcom `user.c` for device.defs): input arrays
/// over their maximum are refused before sending (`WritePackArgValueNormal`:
/// `MIG_ARRAY_TOO_LARGE`); the in-out counts are sent clamped to their maximum
/// (`WriteInitializeCount`); a failed send or an error reply returns its code and writes nothing
/// (`WriteRetCodeCheck`); a reply array is copied out and its count stored, and one larger than
/// the caller's count is copied only up to that count, the count set to the reply's, and
/// `MIG_ARRAY_TOO_LARGE` returned (`WriteExtractArgValueNormal`).
///
/// # Safety
///
/// Every pointer is valid for the count given with it (the outputs for writes).
#[allow(clippy::too_many_arguments)]
unsafe fn io_connect_method(
    connection: mach_port_t,
    selector: u32,
    scalar_input: *const u64,
    scalar_input_count: u32,
    inband_input: Vec<u8>,
    ool_input: Option<Vec<u8>>,
    inband_output: *mut u8,
    inband_output_count: &mut u32,
    scalar_output: *mut u64,
    scalar_output_count: &mut u32,
    ool_output: *mut u8,
    ool_output_size: &mut u64,
) -> kern_return_t {
    if scalar_input_count > IO_SCALAR_INBAND_MAX || inband_input.len() > IO_STRUCT_INBAND_MAX {
        return MIG_ARRAY_TOO_LARGE;
    }
    // SAFETY: the caller's contract covers scalar_input for scalar_input_count elements.
    let scalars = unsafe { copy_in(scalar_input, scalar_input_count as usize, "input") };
    let request = Request::ConnectMethod(MethodRequest {
        connection,
        selector,
        scalar_input: scalars,
        inband_input,
        ool_input,
        inband_output_count: (*inband_output_count).min(IO_STRUCT_INBAND_MAX as u32),
        scalar_output_count: (*scalar_output_count).min(IO_SCALAR_INBAND_MAX),
        ool_output: !ool_output.is_null(),
        ool_output_size: *ool_output_size,
    });
    let reply = match kernel_call(&request) {
        Reply::Method(reply) => reply,
        other => fatal(&format!("ConnectMethod answered {other:?}")),
    };
    let Some(out) = reply.outputs.filter(|_| reply.kr == KERN_SUCCESS) else {
        return reply.kr;
    };
    // The kernel wrote the out-of-line output through its descriptor during the call.
    // SAFETY: ool_output is valid for *ool_output_size bytes; the kernel wrote at most that.
    unsafe {
        copy_out(
            ool_output,
            &out.ool_output[..out.ool_output.len().min(*ool_output_size as usize)],
            "outputStruct (out of line)",
        )
    };
    let inband_len = out.inband_output.len() as u32;
    if inband_len > *inband_output_count {
        let fits = &out.inband_output[..*inband_output_count as usize];
        // SAFETY: inband_output is valid for *inband_output_count bytes.
        unsafe { copy_out(inband_output, fits, "outputStruct") };
        *inband_output_count = inband_len;
        return MIG_ARRAY_TOO_LARGE;
    }
    // SAFETY: as above; inband_len <= *inband_output_count.
    unsafe { copy_out(inband_output, &out.inband_output, "outputStruct") };
    *inband_output_count = inband_len;
    let scalar_len = out.scalar_output.len() as u32;
    if scalar_len > *scalar_output_count {
        let fits = &out.scalar_output[..*scalar_output_count as usize];
        // SAFETY: scalar_output is valid for *scalar_output_count elements.
        unsafe { copy_out(scalar_output, fits, "output") };
        *scalar_output_count = scalar_len;
        return MIG_ARRAY_TOO_LARGE;
    }
    // SAFETY: as above; scalar_len <= *scalar_output_count.
    unsafe { copy_out(scalar_output, &out.scalar_output, "output") };
    *scalar_output_count = scalar_len;
    *ool_output_size = out.ool_output_size;
    KERN_SUCCESS
}

/// `IOConnectCallMethod` (IOKitLib.c): an input struct of at most `sizeof(io_struct_inband_t)`
/// (4096) bytes travels inband, a larger one out of line (its address: NULL means none); a NULL
/// `outputCnt` is read as 0; the output struct is inband when `*outputStructCnt` ≤ 4096, else out
/// of line. After the call, whatever it returned, `*outputStructCnt` is set to the inband or
/// out-of-line size the stub left — on failure the value the caller passed, on success what the
/// kernel wrote. `*outputCnt` and the buffers change only on success (or `MIG_ARRAY_TOO_LARGE`).
///
/// # Safety
///
/// `input` is valid for `inputCnt` reads, `inputStruct` for `inputStructCnt` bytes, `output` for
/// `*outputCnt` writes, `outputStruct` for `*outputStructCnt` bytes of writes; `outputCnt` and
/// `outputStructCnt` are NULL or valid for reads and writes.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn IOConnectCallMethod(
    connection: mach_port_t,
    selector: u32,
    input: *const u64,
    inputCnt: u32,
    inputStruct: *const c_void,
    inputStructCnt: usize,
    output: *mut u64,
    outputCnt: *mut u32,
    outputStruct: *mut c_void,
    outputStructCnt: *mut usize,
) -> kern_return_t {
    let (inband_input, ool_input) = if inputStructCnt <= IO_STRUCT_INBAND_MAX {
        // SAFETY: inputStruct is valid for inputStructCnt bytes (the caller's contract).
        let bytes = unsafe { copy_in(inputStruct as *const u8, inputStructCnt, "inputStruct") };
        (bytes, None)
    } else if inputStruct.is_null() {
        // ool_input = 0: the kernel makes no descriptor (is_io_connect_method `if (ool_input)`).
        (Vec::new(), None)
    } else {
        // SAFETY: as above.
        let bytes = unsafe { copy_in(inputStruct as *const u8, inputStructCnt, "inputStruct") };
        (Vec::new(), Some(bytes))
    };
    let mut zero = 0u32;
    let output_count: &mut u32 = if outputCnt.is_null() {
        &mut zero
    } else {
        // SAFETY: non-null outputCnt is valid for reads and writes (the caller's contract).
        unsafe { &mut *outputCnt }
    };
    let mut inband_output: *mut u8 = std::ptr::null_mut();
    let mut inband_output_size = 0u32;
    let mut ool_output: *mut u8 = std::ptr::null_mut();
    let mut ool_output_size = 0u64;
    let requested = if outputStructCnt.is_null() {
        None
    } else {
        // SAFETY: non-null outputStructCnt is valid for reads (the caller's contract).
        Some(unsafe { *outputStructCnt })
    };
    match requested {
        Some(kIOConnectMethodVarOutputSize) => {
            fatal("IOConnectCallMethod with kIOConnectMethodVarOutputSize is not modelled")
        }
        Some(size) if size <= IO_STRUCT_INBAND_MAX => {
            inband_output = outputStruct as *mut u8;
            inband_output_size = size as u32;
        }
        Some(size) => {
            if outputStruct.is_null() {
                fatal("IOConnectCallMethod with an out-of-line output size and outputStruct NULL is not modelled");
            }
            ool_output = outputStruct as *mut u8;
            ool_output_size = size as u64;
        }
        None => {}
    }
    // SAFETY: the pointers and counts come from the caller under this function's contract.
    let rtn = unsafe {
        io_connect_method(
            connection,
            selector,
            input,
            inputCnt,
            inband_input,
            ool_input,
            inband_output,
            &mut inband_output_size,
            output,
            output_count,
            ool_output,
            &mut ool_output_size,
        )
    };
    if let Some(size) = requested {
        let written = if size <= IO_STRUCT_INBAND_MAX {
            inband_output_size as usize
        } else {
            ool_output_size as usize
        };
        // SAFETY: non-null outputStructCnt is valid for writes (the caller's contract).
        unsafe { *outputStructCnt = written };
    }
    rtn
}

/// The BSD side: what the kernel's file system does for this process's file operations.
pub mod bsd {
    use super::*;

    /// Posts one kauth FILEOP event with `action` and its four arguments from this process, as
    /// the kernel's file system does while it performs the operation
    /// (`kauth_authorize_fileop`); returns how many listeners were called.
    pub fn kauth_fileop(action: i32, args: [FileopArg; 4]) -> u32 {
        match kernel_call(&Request::Fileop { action, args }) {
            Reply::Fileop { listeners } => listeners,
            other => fatal(&format!("Fileop answered {other:?}")),
        }
    }
}

/// The simulated machine's state (for tests: what `ioreg` and `kmutil showloaded` would show).
pub fn simulator_status() -> Result<wire::Status, String> {
    match client::call(&Request::Status)? {
        Reply::Status(s) => Ok(s),
        other => Err(format!("Status answered {other:?}")),
    }
}
