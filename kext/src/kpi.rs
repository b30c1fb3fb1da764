//! The only place the core calls the kernel. Until `macos-kext-sys` (ffi/) provides them, the four
//! functions are declared here with their `Kernel.framework` prototypes; all are exported by the
//! KPIs the kext links against (`IOSleep`: com.apple.kpi.iokit; the others: com.apple.kpi.mach
//! / .unsupported-free `kern/clock.h` and `kern/thread.h`). xnu-sim provides them on the host.

use core::ffi::c_void;

extern "C" {
    /// `void IOSleep(unsigned milliseconds)` (IOKit/IOLib.h).
    fn IOSleep(milliseconds: cty::c_uint);
    /// `uint64_t mach_absolute_time(void)` (mach/mach_time.h).
    fn mach_absolute_time() -> u64;
    /// `void absolutetime_to_nanoseconds(uint64_t abstime, uint64_t *result)` (kern/clock.h).
    fn absolutetime_to_nanoseconds(abstime: u64, result: *mut u64);
    /// `thread_t current_thread(void)` (kern/thread.h).
    fn current_thread() -> *mut c_void;
}

/// Blocks the calling thread for `ms` milliseconds. Never on the kauth path.
pub(crate) fn sleep_ms(ms: u32) {
    // SAFETY: IOSleep has no preconditions besides a thread context that may block; only stop()
    // (an IOService callback on a kernel thread) reaches it, through rk_service_drain.
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
