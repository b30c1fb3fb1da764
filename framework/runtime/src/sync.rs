//! Atomics and the lock, for the framework and for drivers. The lock is the kernel's own mutex
//! in every build linked into a kext (feature `exports`: the kernel, xnu-sim), `spin` in plain
//! host builds (driver unit tests, benchmarks), and loom's under `--cfg loom`, so the model
//! checker sees every shared access. Drivers use these atomics (not `core`'s) so that their own
//! loom models see their accesses too.
//!
//! Why not `spin` in the kernel: kernel threads run at fixed priority (the terminate worker at 81,
//! the thread-call "high" group at 93, user threads at 63 or below). A spin lock taken with
//! preemption enabled can livelock a one-CPU machine: the fixed-priority thread spins for ever on
//! a lock whose holder, a preempted user thread, never runs again. The kernel mutex (`IOLock`, a
//! `lck_mtx`) blocks the waiter and lends its priority to the holder (turnstiles), so the holder
//! always gets to finish its short section.
//!
//! The mutex is the module's: allocated by the first module start of a kext using the framework
//! (`rk_module_start`, which the shim's module start routine calls before any instance can
//! exist) and freed by the last module stop. In the kernel every kext links its own copy of the
//! framework, so each has its own mutex; in the simulator, where several kexts share one process
//! and one copy, they share one (the count says how many use it).

#[cfg(not(loom))]
pub use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// A short-critical-section lock: never taken on a kauth path, only by IOKit calls (open,
/// close, terminate, external methods), never held across anything that can block, and never
/// nested (the kernel build has one mutex for all of them, and a `lck_mtx` is not recursive).
pub struct Lock<T> {
    #[cfg(all(not(loom), feature = "exports"))]
    inner: core::cell::UnsafeCell<T>,
    #[cfg(all(not(loom), not(feature = "exports")))]
    inner: spin::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

// SAFETY: the value is only reached through `with`, which holds the module's mutex, so at most
// one thread uses it at a time; `T: Send` lets it be used from whichever thread holds the mutex.
#[cfg(all(not(loom), feature = "exports"))]
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T> Lock<T> {
    /// A lock around `value`.
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        Lock {
            #[cfg(feature = "exports")]
            inner: core::cell::UnsafeCell::new(value),
            #[cfg(not(feature = "exports"))]
            inner: spin::Mutex::new(value),
        }
    }

    /// A lock around `value`.
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        Lock { inner: loom::sync::Mutex::new(value) }
    }

    /// Runs `f` with the lock held. Never from a kauth callback, never nested.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        #[cfg(all(not(loom), feature = "exports"))]
        {
            let _held = module_mutex::Held::lock();
            // SAFETY: the module mutex is held until `_held` drops after `f` returns, and no
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

/// The module's kernel mutex (see the module documentation).
#[cfg(all(not(loom), feature = "exports"))]
pub(crate) mod module_mutex {
    use core::ptr::null_mut;
    use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
    use macos_kext_sys::{lck_mtx_lock, lck_mtx_t, lck_mtx_unlock, IOLock, IOLockAlloc, IOLockFree};

    static MUTEX: AtomicPtr<IOLock> = AtomicPtr::new(null_mut());
    static USERS: AtomicU32 = AtomicU32::new(0);

    /// Module start: one more kext uses the mutex; allocates it for the first. False (nothing
    /// changed) when the kernel has no memory for it. Module starts and stops are serialized by
    /// the kernel's kext lock. `#[inline]`, as `release`: `rk_module_start` (in the kext's glue
    /// crate) is their only caller.
    #[inline]
    pub(crate) fn acquire() -> bool {
        if USERS.load(Ordering::Acquire) == 0 {
            // SAFETY: IOLockAlloc has no preconditions; it returns NULL or a new unlocked mutex.
            let mutex = unsafe { IOLockAlloc() };
            if mutex.is_null() {
                return false;
            }
            MUTEX.store(mutex, Ordering::Release);
        }
        USERS.fetch_add(1, Ordering::AcqRel);
        true
    }

    /// Module stop: one kext fewer; the last frees the mutex. Runs only when no instance of the
    /// kext's classes is left, so nothing of that kext can take the mutex any more.
    #[inline]
    pub(crate) fn release() {
        if USERS.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mutex = MUTEX.swap(null_mut(), Ordering::AcqRel);
            if !mutex.is_null() {
                // SAFETY: allocated by IOLockAlloc in `acquire`, unlocked (nobody can hold it:
                // see above), and no longer reachable through MUTEX.
                unsafe { IOLockFree(mutex) };
            }
        }
    }

    /// The mutex, held until dropped.
    pub(crate) struct Held(*mut lck_mtx_t);

    impl Held {
        pub(crate) fn lock() -> Held {
            // An IOLock is the lck_mtx_t it is locked as (IOKit.exports: _IOLockLock:_lck_mtx_lock).
            let mutex = MUTEX.load(Ordering::Acquire).cast::<lck_mtx_t>();
            // SAFETY: the module start routine allocated the mutex before any of the kext's code
            // that locks can run, and the module stop routine frees it only after the last
            // instance is gone; `with` is called only from IOKit callbacks, which may block.
            unsafe { lck_mtx_lock(mutex) };
            Held(mutex)
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            // SAFETY: this value exists only while this thread holds the mutex (see `lock`).
            unsafe { lck_mtx_unlock(self.0) };
        }
    }
}
