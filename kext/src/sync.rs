//! Atomics and the lock. The lock is the kernel's own mutex in every build that runs the C ABI
//! (the kext, xnu-sim, the C ABI tests), `spin` in plain host builds, and loom's under
//! `--cfg loom`, so the model checker sees every shared access.
//!
//! Why not `spin` in the kernel: kernel threads run at fixed priority (the terminate worker at 81,
//! the thread-call "high" group at 93, user threads at 63 or below). A spin lock taken with
//! preemption enabled can livelock a one-CPU machine: the fixed-priority thread spins for ever on
//! a lock whose holder, a preempted user thread, never runs again. The kernel mutex (`IOLock`,
//! a `lck_mtx`) blocks the waiter and lends its priority to the holder (turnstiles), so the
//! holder always gets to finish its short section.

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};

/// A short-critical-section lock: never taken on the kauth path, only by IOKit calls (open,
/// close, terminate, external methods), never held across anything that can block, and never
/// nested (the kernel build has one mutex for all of them, and a `lck_mtx` is not recursive).
pub(crate) struct Lock<T> {
    #[cfg(all(not(loom), feature = "exports"))]
    inner: core::cell::UnsafeCell<T>,
    #[cfg(all(not(loom), not(feature = "exports")))]
    inner: spin::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

// SAFETY: the value is only reached through `with`, which holds the driver mutex, so at most one
// thread uses it at a time; `T: Send` lets it be used from whichever thread holds the mutex.
#[cfg(all(not(loom), feature = "exports"))]
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T> Lock<T> {
    #[cfg(not(loom))]
    pub(crate) const fn new(value: T) -> Self {
        Lock {
            #[cfg(feature = "exports")]
            inner: core::cell::UnsafeCell::new(value),
            #[cfg(not(feature = "exports"))]
            inner: spin::Mutex::new(value),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new(value: T) -> Self {
        Lock {
            inner: loom::sync::Mutex::new(value),
        }
    }

    /// Runs `f` with the lock held.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        #[cfg(all(not(loom), feature = "exports"))]
        {
            let _held = DriverMutex::lock();
            // SAFETY: the driver mutex is held until `_held` drops after `f` returns, and no
            // `with` is ever nested, so this is the only reference to the value.
            f(unsafe { &mut *self.inner.get() })
        }
        #[cfg(all(not(loom), not(feature = "exports")))]
        {
            f(&mut self.inner.lock())
        }
        #[cfg(loom)]
        {
            let mut guard = match self.inner.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            f(&mut guard)
        }
    }
}

/// The kext's one kernel mutex, allocated by the module start routine before any of our code can
/// run and freed by the module stop routine after the last instance is gone (shim-cpp/Module.cpp).
#[cfg(all(not(loom), feature = "exports"))]
struct DriverMutex;

#[cfg(all(not(loom), feature = "exports"))]
impl DriverMutex {
    fn lock() -> DriverMutex {
        // SAFETY: rk_shim_mutex_lock has no precondition beyond a thread context that may block;
        // `with` is only called from IOKit callbacks (never from the kauth path or an interrupt).
        unsafe { crate::exports::rk_shim_mutex_lock() };
        DriverMutex
    }
}

#[cfg(all(not(loom), feature = "exports"))]
impl Drop for DriverMutex {
    fn drop(&mut self) {
        // SAFETY: this value exists only while this thread holds the mutex (see `lock`).
        unsafe { crate::exports::rk_shim_mutex_unlock() };
    }
}
