//! The one place where the calls resolve: IOKit.framework (`io-kit-sys`, `mach2`,
//! `core-foundation-sys`) on macOS; elsewhere the IOKitLib stand-in (`iokitlib-sim`), same names
//! and C signatures, over a simulated kernel in its own process. The code above this module is
//! the same on both. The CoreFoundation items are the few a property dictionary is built and read with.

#[cfg(target_os = "macos")]
mod imp {
    pub use core_foundation_sys::base::{kCFAllocatorDefault, CFGetTypeID, CFRelease};
    pub use core_foundation_sys::dictionary::{
        kCFTypeDictionaryKeyCallBacks, kCFTypeDictionaryValueCallBacks, CFDictionaryCreate,
        CFDictionaryGetCount, CFDictionaryGetKeysAndValues, CFDictionaryGetTypeID,
        CFMutableDictionaryRef,
    };
    pub use core_foundation_sys::number::{
        kCFBooleanTrue, kCFNumberSInt64Type, CFBooleanGetTypeID, CFBooleanGetValue,
        CFNumberGetTypeID, CFNumberGetValue,
    };
    pub use core_foundation_sys::string::{
        kCFStringEncodingUTF8, CFStringCreateWithCString, CFStringGetCString, CFStringGetTypeID,
    };
    pub use io_kit_sys::types::{io_connect_t, io_service_t};
    pub use io_kit_sys::{
        kIOMasterPortDefault, IOConnectCallMethod, IOObjectRelease,
        IORegistryEntryCreateCFProperties, IORegistryEntrySetCFProperties, IOServiceClose,
        IOServiceGetMatchingService, IOServiceMatching, IOServiceOpen,
    };
    pub use mach2::traps::mach_task_self;
}

#[cfg(not(target_os = "macos"))]
mod imp {
    pub use iokitlib_sim::traps::mach_task_self;
    pub use iokitlib_sim::types::{io_connect_t, io_service_t};
    pub use iokitlib_sim::{
        kCFAllocatorDefault, kCFBooleanTrue, kCFNumberSInt64Type, kCFStringEncodingUTF8,
        kCFTypeDictionaryKeyCallBacks, kCFTypeDictionaryValueCallBacks, CFBooleanGetTypeID,
        CFBooleanGetValue, CFDictionaryCreate, CFDictionaryGetCount, CFDictionaryGetKeysAndValues,
        CFDictionaryGetTypeID, CFGetTypeID, CFMutableDictionaryRef, CFNumberGetTypeID,
        CFNumberGetValue, CFRelease, CFStringCreateWithCString, CFStringGetCString,
        CFStringGetTypeID,
    };
    pub use iokitlib_sim::{
        kIOMasterPortDefault, IOConnectCallMethod, IOObjectRelease,
        IORegistryEntryCreateCFProperties, IORegistryEntrySetCFProperties, IOServiceClose,
        IOServiceGetMatchingService, IOServiceMatching, IOServiceOpen,
    };
}

pub use imp::*;
