//! A kext's service from user space over IOKit.framework: found by its class
//! ([`Service::matching`]), opened ([`Service::open`], [`Connection::open`]), called
//! ([`Connection::call_method`]), closed ([`Connection::close`], or dropped). A [`Connection`] is
//! the [`Transport`] of any client `#[interface]` generates:
//!
//! ```ignore
//! let client = MyClient::open(rustkext_iokit::Connection::open(<dyn My>::SERVICE_CLASS)?)?;
//! ```
//!
//! On macOS the calls are IOKit.framework's; elsewhere the same calls, with the same C
//! signatures, reach the IOKitLib stand-in (`iokitlib-sim`) and a simulated kernel (xnu-sim) in
//! its own process ([`sys`] is the only place that differs). Off macOS the first call starts that
//! kernel when `XNU_SIM_SOCKET` names none: the program's own executable with the hidden
//! subcommand `iokitlib_sim::client::SERVER_SUBCOMMAND` (or `XNU_SIM_SERVER`), which serves it
//! with `iokitlib_sim::server::main` and the kext's identity.
//!
//! The service handle is released once the connection is open: a held handle is a port holding a
//! reference on the service until the service is terminated (terminating it destroys the port:
//! xnu `destroyUserReferences`), so keeping it would leak a name, not keep the kext; an open
//! connection is what keeps it.

pub mod properties;
pub mod sys;

use macos_kext_sys as k;
use rustkext_abi::client::{Output, Transport};
use rustkext_abi::IOReturn;
use std::ffi::{c_void, CStr, CString};
use sys::{io_connect_t, io_service_t};

/// The only connection type a RustKext service accepts (any other is refused with
/// `kIOReturnBadArgument`).
pub const CONNECT_TYPE_DEFAULT: u32 = 0;

const SUCCESS: IOReturn = k::kIOReturnSuccess;

/// A service in the I/O Registry (a send right to its port), released when dropped.
#[derive(Debug)]
pub struct Service(io_service_t);

impl Service {
    /// The first service whose class is `class` (`IOServiceMatching`,
    /// `IOServiceGetMatchingService`). `kIOReturnNotFound` when none is registered (the kext is
    /// not loaded, or its service not matched), `kIOReturnNoMemory` when the matching dictionary
    /// cannot be made, `kIOReturnBadArgument` for a class name holding a NUL.
    pub fn matching(class: &str) -> Result<Service, IOReturn> {
        let class = CString::new(class).map_err(|_| k::kIOReturnBadArgument)?;
        // SAFETY: `class` is a NUL-terminated string that outlives the call.
        let matching = unsafe { sys::IOServiceMatching(class.as_ptr()) };
        if matching.is_null() {
            return Err(k::kIOReturnNoMemory);
        }
        // SAFETY: `matching` is a valid dictionary; IOServiceGetMatchingService consumes
        // (releases) it, so it is not used afterwards.
        let service =
            unsafe { sys::IOServiceGetMatchingService(sys::kIOMasterPortDefault, matching as _) };
        if service == 0 {
            Err(k::kIOReturnNotFound)
        } else {
            Ok(Service(service))
        }
    }

    /// `IOServiceOpen(service, mach_task_self(), connect_type)`: a connection, or the code the
    /// kernel (the service's `newUserClient`, the user client's `initWithTask`/`start`) refused
    /// it with. The privilege the kernel gives the connection is decided here, from this task's
    /// effective uid.
    pub fn open(&self, connect_type: u32) -> Result<Connection, IOReturn> {
        let mut conn: io_connect_t = 0;
        // SAFETY: `self.0` is a live service handle, `conn` a valid out-pointer.
        let kr =
            unsafe { sys::IOServiceOpen(self.0, sys::mach_task_self(), connect_type, &mut conn) };
        if kr == SUCCESS {
            Ok(Connection(conn))
        } else {
            Err(kr)
        }
    }

    /// Sets the property `key` to `true` on the service (`IORegistryEntrySetCFProperties` with a
    /// one-entry dictionary): the service's `setProperties` decides what it means (IOResources
    /// publishes the key as a resource). The kernel's code.
    pub fn set_property_true(&self, key: &CStr) -> IOReturn {
        // SAFETY: CoreFoundation calls with valid arguments: a NUL-terminated key, arrays of one
        // key and one value, the standard callbacks. Every created object is released after
        // IORegistryEntrySetCFProperties (which serializes the dictionary and keeps nothing).
        unsafe {
            let name = sys::CFStringCreateWithCString(
                sys::kCFAllocatorDefault,
                key.as_ptr(),
                sys::kCFStringEncodingUTF8,
            );
            if name.is_null() {
                return k::kIOReturnNoMemory;
            }
            let keys = [name as *const c_void];
            let values = [sys::kCFBooleanTrue as *const c_void];
            let properties = sys::CFDictionaryCreate(
                sys::kCFAllocatorDefault,
                keys.as_ptr(),
                values.as_ptr(),
                1,
                &sys::kCFTypeDictionaryKeyCallBacks,
                &sys::kCFTypeDictionaryValueCallBacks,
            );
            if properties.is_null() {
                sys::CFRelease(name as _);
                return k::kIOReturnNoMemory;
            }
            let kr = sys::IORegistryEntrySetCFProperties(self.0, properties as _);
            sys::CFRelease(properties as _);
            sys::CFRelease(name as _);
            kr
        }
    }
}

impl Service {
    /// The service's properties (`IORegistryEntryCreateCFProperties`): the personality's and
    /// those the kext computes when read. The kernel's code when it refuses
    /// (`kIOReturnUnsupported` when the entry cannot serialize them).
    pub fn properties(&self) -> Result<properties::Properties, IOReturn> {
        let mut dict: sys::CFMutableDictionaryRef = std::ptr::null_mut();
        // SAFETY: a live service handle and a valid out pointer; the default allocator, no
        // options.
        let kr = unsafe {
            sys::IORegistryEntryCreateCFProperties(self.0, &mut dict, sys::kCFAllocatorDefault, 0)
        };
        if kr != SUCCESS {
            return Err(kr);
        }
        if dict.is_null() {
            return Err(k::kIOReturnNoMemory);
        }
        // SAFETY: `dict` is the dictionary the call created, live until the release below.
        let value = unsafe { properties::cf_value(dict as *const c_void) };
        // SAFETY: the one reference the Create call gave us, released once.
        unsafe { sys::CFRelease(dict as *const c_void) };
        match value {
            properties::Value::Dictionary(d) => Ok(d),
            _ => Err(k::kIOReturnError),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // SAFETY: a handle from IOServiceGetMatchingService, released once (here).
        unsafe { sys::IOObjectRelease(self.0) };
    }
}

/// An open connection to a service (`io_connect_t`), closed when dropped.
#[derive(Debug)]
pub struct Connection(io_connect_t);

impl Connection {
    /// Opens the first service of class `service_class` with [`CONNECT_TYPE_DEFAULT`]; the
    /// codes of [`Service::matching`] and [`Service::open`].
    pub fn open(service_class: &str) -> Result<Connection, IOReturn> {
        Service::matching(service_class)?.open(CONNECT_TYPE_DEFAULT)
    }

    /// The connection's port name in this task.
    pub fn name(&self) -> u32 {
        self.0
    }

    /// Gives up ownership: the name stays open until [`Connection::from_name`] takes it back
    /// (or the task exits).
    pub fn into_name(self) -> u32 {
        let name = self.0;
        std::mem::forget(self);
        name
    }

    /// Owns the connection named `name` (from [`Connection::into_name`]). Any name is safe: a
    /// stale or foreign one gets the kernel's error code from the calls and from `close`.
    pub fn from_name(name: u32) -> Connection {
        Connection(name)
    }

    /// `IOConnectCallMethod(selector, scalars, bytes)` with room for `scalar_capacity` scalars
    /// and `byte_capacity` struct bytes: the outputs the kernel wrote, or its code.
    pub fn call_method(
        &self,
        selector: u32,
        scalars: &[u64],
        bytes: &[u8],
        scalar_capacity: u32,
        byte_capacity: u32,
    ) -> Result<Output, IOReturn> {
        let scalar_count_in = u32::try_from(scalars.len()).map_err(|_| k::kIOReturnBadArgument)?;
        let mut out_scalars = vec![0u64; scalar_capacity as usize];
        let mut scalar_count = scalar_capacity;
        let mut out_bytes = vec![0u8; byte_capacity as usize];
        let mut byte_count = out_bytes.len();
        // SAFETY: every pointer is valid for the count passed with it: the inputs for their
        // lengths, the outputs for their capacities; IOKit writes at most the capacities and
        // updates the counts.
        let kr = unsafe {
            sys::IOConnectCallMethod(
                self.0,
                selector,
                scalars.as_ptr(),
                scalar_count_in,
                bytes.as_ptr().cast::<c_void>(),
                bytes.len(),
                out_scalars.as_mut_ptr(),
                &mut scalar_count,
                out_bytes.as_mut_ptr().cast::<c_void>(),
                &mut byte_count,
            )
        };
        if kr != SUCCESS {
            return Err(kr);
        }
        out_scalars.truncate(scalar_count as usize);
        out_bytes.truncate(byte_count);
        Ok(Output {
            scalars: out_scalars,
            bytes: out_bytes,
        })
    }

    /// `IOServiceClose`: the kernel's code (`kIOReturnSuccess`, or an error for a name that is
    /// not an open connection of this task).
    pub fn close(self) -> IOReturn {
        let name = self.into_name();
        // SAFETY: IOServiceClose takes any port name; a stale one gets an error code back.
        unsafe { sys::IOServiceClose(name) }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: as in `close`.
        unsafe { sys::IOServiceClose(self.0) };
    }
}

impl Transport for Connection {
    fn call(
        &self,
        selector: u32,
        scalars: &[u64],
        bytes: &[u8],
        sc: u32,
        bc: u32,
    ) -> Result<Output, IOReturn> {
        self.call_method(selector, scalars, bytes, sc, bc)
    }
}
