//! The only place the core calls the kernel, through `macos-kext-sys` (prototypes generated from
//! Kernel.framework). All are exported by the KPIs the kext links against (`IOSleep`:
//! com.apple.kpi.iokit; the others: com.apple.kpi.mach / .unsupported-free `kern/clock.h` and
//! `kern/thread.h`). xnu-sim provides them on the host.

use macos_kext_sys::{absolutetime_to_nanoseconds, current_thread, mach_absolute_time, IOSleep};

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
