//! The one place where the iokit backend's calls resolve: IOKit.framework (`io-kit-sys`,
//! `mach2`, `core-foundation-sys`) on macOS; elsewhere the IOKitLib stand-in (`iokitlib-sim`),
//! same names and C signatures, over a simulated kernel in its own process. The backend's code is
//! the same on both; only this module differs. The CoreFoundation items are the few the backend
//! builds a property dictionary with.
//!
//! Four items are not Apple's: [`attach_kernel`] (nothing to do on macOS; elsewhere the
//! simulated kernel is found or started before the first call, while the process still has one
//! thread); [`perform_file_ops`] (on macOS the kernel posts the FILEOP events of the file
//! operations itself; the simulated kernel cannot see Linux's file system, so after each
//! operation the stand-in posts, from this process, the events xnu posts for it:
//! [`FileOp::events`], the same table the simulator backend fires); [`sleep_kernel_time`] (a wait
//! for the kernel: the host's time on macOS, the simulated kernel's faster clock elsewhere); and
//! [`kernel_violations`] (kernel rules the driver broke, which only the simulated kernel sees).

#[allow(unused_imports)] // named by the documentation
use crate::fileops::FileOp;

#[cfg(target_os = "macos")]
mod imp {
    use crate::fileops::{self, FileOp};
    pub use core_foundation_sys::base::{kCFAllocatorDefault, CFGetTypeID, CFRelease};
    pub use core_foundation_sys::dictionary::{
        kCFTypeDictionaryKeyCallBacks, kCFTypeDictionaryValueCallBacks, CFDictionaryCreate, CFDictionaryGetCount,
        CFDictionaryGetKeysAndValues, CFDictionaryGetTypeID, CFMutableDictionaryRef,
    };
    pub use core_foundation_sys::number::{
        kCFBooleanTrue, kCFNumberSInt64Type, CFBooleanGetTypeID, CFBooleanGetValue, CFNumberGetTypeID, CFNumberGetValue,
    };
    pub use core_foundation_sys::string::{
        kCFStringEncodingUTF8, CFStringCreateWithCString, CFStringGetCString, CFStringGetTypeID,
    };
    pub use io_kit_sys::types::{io_connect_t, io_service_t};
    pub use io_kit_sys::{
        kIOMasterPortDefault, IOConnectCallMethod, IOObjectRelease, IORegistryEntryCreateCFProperties,
        IORegistryEntrySetCFProperties, IOServiceClose, IOServiceGetMatchingService, IOServiceMatching, IOServiceOpen,
    };
    pub use mach2::traps::mach_task_self;
    use std::time::Duration;

    pub fn attach_kernel() -> Result<(), String> {
        Ok(())
    }

    pub fn perform_file_ops(ops: &[FileOp]) -> Result<(), String> {
        fileops::perform_all(ops)
    }

    pub fn sleep_kernel_time(duration: Duration) {
        std::thread::sleep(duration);
    }

    pub fn kernel_violations() -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
}

#[cfg(not(target_os = "macos"))]
mod imp {
    use crate::fileops::{FileOp, KauthArg};
    pub use iokitlib_sim::sleep_kernel_time;
    pub use iokitlib_sim::traps::mach_task_self;
    pub use iokitlib_sim::types::{io_connect_t, io_service_t};
    use iokitlib_sim::wire::FileopArg;
    pub use iokitlib_sim::{
        kCFAllocatorDefault, kCFBooleanTrue, kCFNumberSInt64Type, kCFStringEncodingUTF8, kCFTypeDictionaryKeyCallBacks,
        kCFTypeDictionaryValueCallBacks, CFBooleanGetTypeID, CFBooleanGetValue, CFDictionaryCreate,
        CFDictionaryGetCount, CFDictionaryGetKeysAndValues, CFDictionaryGetTypeID, CFGetTypeID, CFMutableDictionaryRef,
        CFNumberGetTypeID, CFNumberGetValue, CFRelease, CFStringCreateWithCString, CFStringGetCString,
        CFStringGetTypeID,
    };
    pub use iokitlib_sim::{
        kIOMasterPortDefault, IOConnectCallMethod, IOObjectRelease, IORegistryEntryCreateCFProperties,
        IORegistryEntrySetCFProperties, IOServiceClose, IOServiceGetMatchingService, IOServiceMatching, IOServiceOpen,
    };

    pub fn attach_kernel() -> Result<(), String> {
        iokitlib_sim::ensure_kernel().map(drop)
    }

    pub fn perform_file_ops(ops: &[FileOp]) -> Result<(), String> {
        for op in ops {
            op.perform().map_err(|e| format!("{op:?}: {e}"))?;
            for event in op.events() {
                let arg = |a: KauthArg| match a {
                    KauthArg::Path(p) => FileopArg::Path(p),
                    KauthArg::Value(v) => FileopArg::Value(v as u64),
                };
                let args = event.kauth_args()?.map(arg);
                if iokitlib_sim::bsd::kauth_fileop(event.action, args) == 0 {
                    return Err(format!("no kauth FILEOP listener was called for {event:?}"));
                }
            }
        }
        Ok(())
    }

    pub fn kernel_violations() -> Result<Vec<String>, String> {
        iokitlib_sim::simulator_status().map(|s| s.violations)
    }
}

pub use imp::*;
