//! One CPU and fixed-priority kernel threads (AUDIT #1). xnu's kernel threads run at fixed
//! priority (TH_MODE_FIXED): the terminate worker at 81, thread calls of the "high" group at 93,
//! above every user thread. On one CPU such a thread preempts a user thread wherever it is; a
//! lock that spins with preemption enabled then livelocks: the kernel thread spins on a lock
//! the preempted user thread holds and never lets it run. The model's one-CPU mode preempts the
//! registered user threads at an arbitrary point (a signal) whenever a fixed-priority thread
//! starts a job, resumes them when it blocks or is done, and reports a livelock when it runs
//! 250 ms of CPU without blocking meanwhile.
//!
//! ThreadSanitizer defers signals to its own safe points, so a thread cannot be preempted
//! at an arbitrary point there: these tests say so and skip under TSan.

mod common;
use common::*;
use std::ffi::c_void;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use xnu_sim::Sanitizer;

/// Says so on stderr itself (libtest captures eprintln! of a passing test) and skips.
fn skipped_under_tsan(name: &str) -> bool {
    if Kernel::sanitizer() == Sanitizer::Thread {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {name} under ThreadSanitizer: it defers signals to safe points, so one-CPU \
             mode cannot preempt a thread at an arbitrary point"
        );
        return true;
    }
    false
}

fn livelocks(k: &Kernel) -> Vec<Violation> {
    k.violations()
        .into_iter()
        .filter(|v| v.kind == ViolationKind::Livelock)
        .collect()
}

/// Closes that wake the terminate worker (priority 81; UserClient::stop -> rk_client_close takes
/// the driver's lock) while user threads ping (rk_external_method takes it too).
const CLOSES: usize = 300;
const PINGERS: usize = 4;

both_flavors! {
    fn fixed_priority_kernel_threads_never_spin_on_a_lock_a_preempted_user_thread_holds(
        flavor: Flavor
    ) {
        if skipped_under_tsan("fixed_priority_kernel_threads_never_spin_on_a_lock_...") {
            return;
        }
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        k.set_one_cpu(true);
        let stop = AtomicBool::new(false);
        let pings = AtomicU32::new(0);
        let closes = std::thread::scope(|s| {
            for _ in 0..PINGERS {
                s.spawn(|| {
                    let _user = k.one_cpu_user_thread();
                    let c = k.open(k.spawn_task(USER), 0).unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        assert_eq!(ping(&k, c, 1), Ok(2));
                        pings.fetch_add(1, Ordering::Relaxed);
                    }
                    assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
                });
            }
            wait_for("the pingers run", QUIET, || pings.load(Ordering::Relaxed) > 100);
            let task = k.spawn_task(USER);
            let mut closes = 0;
            for _ in 0..CLOSES {
                let c = k.open(task, 0).unwrap();
                assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
                assert!(k.wait_quiet(QUIET));
                closes += 1;
                if !livelocks(&k).is_empty() {
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
            closes
        });
        k.set_one_cpu(false);
        assert!(k.counter("cpu.preemptions") >= closes as u64);
        let found = livelocks(&k);
        assert!(
            found.is_empty(),
            "after {closes} closes: {found:#?}"
        );
    }
}

// ---- the model's one-CPU mode against a spin lock and a mutex of the test's own ----

type ThreadCall = *mut c_void;
type Func = extern "C" fn(*mut c_void, *mut c_void);

extern "C" {
    fn thread_call_allocate(func: Func, param0: *mut c_void) -> ThreadCall;
    fn thread_call_enter(call: ThreadCall) -> i32;
    fn thread_call_free(call: ThreadCall) -> i32;
}

struct Lock {
    spin: AtomicBool,
    mutex: Mutex<()>,
    entered: AtomicBool,
    use_mutex: bool,
}

extern "C" fn take_the_lock(lock: *mut c_void, _: *mut c_void) {
    // SAFETY: param0 is the &Lock the test passed; the test waits for this call to return.
    let lock = unsafe { &*(lock as *const Lock) };
    lock.entered.store(true, Ordering::SeqCst);
    if lock.use_mutex {
        drop(lock.mutex.lock().unwrap());
    } else {
        while lock.spin.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    }
}

/// A user thread holds the lock and enters a thread call that takes it (priority 93).
fn holder_enters_a_call_that_takes_the_lock(k: &Kernel, use_mutex: bool) {
    let lock = Lock {
        spin: AtomicBool::new(false),
        mutex: Mutex::new(()),
        entered: AtomicBool::new(false),
        use_mutex,
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            let _user = k.one_cpu_user_thread();
            let guard = lock.mutex.lock().unwrap();
            lock.spin.store(true, Ordering::SeqCst);
            // SAFETY: the call's parameter outlives its invocation (the test waits for it to
            // return before the scope ends); it is freed once it ran.
            let call =
                unsafe { thread_call_allocate(take_the_lock, &lock as *const Lock as *mut c_void) };
            // SAFETY: a call allocated just above.
            assert_eq!(unsafe { thread_call_enter(call) }, 0);
            // Preempted here (or anywhere around) until the call blocks, or a livelock is seen.
            while !lock.entered.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            lock.spin.store(false, Ordering::SeqCst);
            drop(guard);
            assert!(k.wait_quiet(QUIET));
            // SAFETY: the call ran and is idle.
            assert_eq!(unsafe { thread_call_free(call) }, 1);
        });
    });
}

#[test]
fn a_thread_call_spinning_on_a_lock_its_preempted_caller_holds_is_a_livelock() {
    if skipped_under_tsan(
        "a_thread_call_spinning_on_a_lock_its_preempted_caller_holds_is_a_livelock",
    ) {
        return;
    }
    let k = Kernel::boot();
    k.set_desktop(Desktop::Off);
    // The preemption point is arbitrary: if it falls inside the model's own code (the thread
    // call's entry), the thread call blocks on a model lock, the user thread runs on, and the
    // model's monitor (polling every millisecond) may take the CPU back only after the user
    // thread saw the call enter and let go of the lock: no livelock that time. The detection
    // must show within a few attempts.
    for attempt in 1..=5 {
        k.set_one_cpu(true);
        holder_enters_a_call_that_takes_the_lock(&k, false);
        k.set_one_cpu(false);
        let v = k.take_violations();
        if v.is_empty() {
            eprintln!("attempt {attempt}: preempted inside the model's code, no livelock");
            continue;
        }
        assert_eq!(v.len(), 1, "{v:#?}");
        assert_eq!(v[0].kind, ViolationKind::Livelock);
        assert!(
            v[0].text
                .contains("thread call (high group) (fixed priority 93)"),
            "{}",
            v[0].text
        );
        return;
    }
    panic!("a thread call spinning on a lock its preempted caller holds was never reported");
}

#[test]
fn a_thread_call_blocking_on_a_mutex_its_preempted_caller_holds_lets_it_run() {
    if skipped_under_tsan(
        "a_thread_call_blocking_on_a_mutex_its_preempted_caller_holds_lets_it_run",
    ) {
        return;
    }
    let k = Kernel::boot();
    k.set_desktop(Desktop::Off);
    k.set_one_cpu(true);
    holder_enters_a_call_that_takes_the_lock(&k, true);
    k.set_one_cpu(false);
    assert!(k.counter("cpu.preemptions") >= 1);
    assert_eq!(k.violations(), vec![]);
}
