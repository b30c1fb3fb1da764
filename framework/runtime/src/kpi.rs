//! The only place the framework calls the kernel, through `macos-kext-sys` (prototypes generated
//! from Kernel.framework): every function is in a KPI the kext's plist declares (`IOSleep`,
//! `IOLog`, `IOLockAlloc`/`Free`: com.apple.kpi.iokit; `lck_mtx_*`, `panic`:
//! com.apple.kpi.libkern; the clock and `current_thread`: com.apple.kpi.mach). xnu-sim provides
//! them on the host. `IOLog` and `panic` are C-variadic: called with integers and pointers only.

use core::ffi::CStr;

use macos_kext_sys::{absolutetime_to_nanoseconds, current_thread, mach_absolute_time, IOLog, IOSleep};

/// Blocks the calling thread for `ms` milliseconds. Never on a kauth path.
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: IOSleep has no preconditions besides a thread context that may block; only
    // terminate() (an IOService call on the caller's thread) reaches it, through rk_service_drain.
    unsafe { IOSleep(ms) }
}

/// Monotonic time in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    let mut ns = 0u64;
    // SAFETY: no preconditions; the result pointer is a valid local.
    unsafe { absolutetime_to_nanoseconds(mach_absolute_time(), &mut ns) };
    ns
}

/// A key that identifies the current thread while it runs (its `thread_t`).
#[inline]
pub(crate) fn thread_key() -> usize {
    // SAFETY: current_thread has no preconditions and never fails in thread context.
    unsafe { current_thread() as usize }
}

/// `IOLog("<prefix><message> <value>\n")`.
pub(crate) fn log(prefix: &CStr, message: &CStr, value: u64) {
    // SAFETY: a format with two %s and one %llu, given two NUL-terminated strings and a u64.
    unsafe { IOLog(c"%s%s %llu\n".as_ptr(), prefix.as_ptr(), message.as_ptr(), value) }
}

/// `IOLog("<prefix><first><second><third>\n")`.
pub(crate) fn log_text(prefix: &CStr, first: &CStr, second: &CStr, third: &CStr) {
    // SAFETY: a format with four %s, given four NUL-terminated strings.
    unsafe { IOLog(c"%s%s%s%s\n".as_ptr(), prefix.as_ptr(), first.as_ptr(), second.as_ptr(), third.as_ptr()) }
}

/// The kernel's `panic("%s", message)`; unreachable in a correct build (no panic path is linked).
#[cfg(feature = "kernel")]
pub(crate) fn fatal(message: &CStr) -> ! {
    // SAFETY: a format with one %s, given a NUL-terminated string; panic does not return.
    unsafe { macos_kext_sys::panic(c"%s".as_ptr(), message.as_ptr()) }
}
