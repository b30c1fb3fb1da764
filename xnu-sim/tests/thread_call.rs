//! The model's thread_call against xnu's semantics: enter reports an already-pending call,
//! cancel only dequeues a pending call, free refuses a pending call and defers a running one
//! (the shim's self-termination relies on all three); a delayed call runs at its kernel-time
//! deadline. The "high" group has 4 threads (thread_call.c: target_thread_count = 4), so calls
//! stay pending only while 4 others run.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use xnu_sim::Kernel;

type ThreadCall = *mut c_void;
type Func = extern "C" fn(*mut c_void, *mut c_void);

extern "C" {
    fn thread_call_allocate(func: Func, param0: *mut c_void) -> ThreadCall;
    fn thread_call_enter(call: ThreadCall) -> i32;
    fn thread_call_enter1(call: ThreadCall, param1: *mut c_void) -> i32;
    fn thread_call_enter_delayed(call: ThreadCall, deadline: u64) -> i32;
    fn mach_absolute_time() -> u64;
    fn thread_call_cancel(call: ThreadCall) -> i32;
    fn thread_call_free(call: ThreadCall) -> i32;
}

/// A gate the callout thread waits at, so that calls queued behind it stay pending.
struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
    entered: AtomicU32,
}

extern "C" fn wait_at_gate(gate: *mut c_void, _: *mut c_void) {
    // SAFETY: param0 is the &Gate the test passed, alive until the test has seen this call return.
    let gate = unsafe { &*(gate as *const Gate) };
    gate.entered.fetch_add(1, Ordering::SeqCst);
    let mut open = gate.open.lock().unwrap();
    while !*open {
        open = gate.changed.wait(open).unwrap();
    }
}

extern "C" fn count(counter: *mut c_void, param1: *mut c_void) {
    // SAFETY: param0 is the &AtomicU32 the test passed, alive for the whole test.
    let counter = unsafe { &*(counter as *const AtomicU32) };
    counter.fetch_add(1 + param1 as u32, Ordering::SeqCst);
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

const THREADS: usize = 4;

#[test]
fn enter_cancel_and_free_follow_xnu() {
    let k = Kernel::boot();
    k.set_desktop(xnu_sim::Desktop::Off);
    let gate = Gate {
        open: Mutex::new(false),
        changed: Condvar::new(),
        entered: AtomicU32::new(0),
    };
    let counter = AtomicU32::new(0);
    // SAFETY: every call below is allocated here and used only as xnu allows; their
    // parameters outlive every invocation (the test waits for them).
    unsafe {
        let blockers: Vec<ThreadCall> = (0..THREADS)
            .map(|_| thread_call_allocate(wait_at_gate, &gate as *const Gate as *mut c_void))
            .collect();
        let call = thread_call_allocate(count, &counter as *const AtomicU32 as *mut c_void);
        for &blocker in &blockers {
            assert_eq!(thread_call_enter(blocker), 0);
        }
        wait_until("every thread of the group runs a blocker", || {
            gate.entered.load(Ordering::SeqCst) == THREADS as u32
        });

        assert_eq!(thread_call_enter(call), 0, "not pending before");
        assert_eq!(thread_call_enter(call), 1, "already pending");
        assert_eq!(thread_call_free(call), 0, "a pending call is not freed");
        assert_eq!(thread_call_cancel(call), 1, "dequeued");
        assert_eq!(thread_call_cancel(call), 0, "nothing left to dequeue");
        assert_eq!(thread_call_enter1(call, 41 as *mut c_void), 0);

        // While running, cancel does not wait and returns FALSE; free defers until it returns.
        let blocker = blockers[0];
        assert_eq!(
            thread_call_enter(blocker),
            0,
            "a running call can be entered again"
        );
        assert_eq!(thread_call_cancel(blocker), 1);
        assert_eq!(
            thread_call_free(blocker),
            1,
            "freed when the running invocation returns"
        );

        *gate.open.lock().unwrap() = true;
        gate.changed.notify_all();
        wait_until("the call ran", || counter.load(Ordering::SeqCst) == 42);
        assert!(k.wait_quiet(Duration::from_secs(10)));
        assert_eq!(
            gate.entered.load(Ordering::SeqCst),
            THREADS as u32,
            "the cancelled re-entry never ran"
        );
        assert_eq!(thread_call_free(call), 1);
        for &other in &blockers[1..] {
            assert_eq!(thread_call_free(other), 1);
        }
    }
}

#[test]
fn a_delayed_call_runs_at_its_kernel_time_deadline() {
    let k = Kernel::boot();
    k.set_desktop(xnu_sim::Desktop::Off);
    let counter = AtomicU32::new(0);
    // SAFETY: the call is allocated here, used as xnu allows and freed when idle; its
    // parameter outlives every invocation (the test waits for it).
    unsafe {
        let call = thread_call_allocate(count, &counter as *const AtomicU32 as *mut c_void);
        let in_10_s = mach_absolute_time() + 10_000_000_000;
        assert_eq!(thread_call_enter_delayed(call, in_10_s), 0);
        assert_eq!(thread_call_free(call), 0, "an armed call is pending");
        k.advance_clock(Duration::from_secs(9));
        assert_eq!(counter.load(Ordering::SeqCst), 0, "not before its deadline");
        assert_eq!(
            thread_call_enter_delayed(call, in_10_s),
            1,
            "re-armed while armed"
        );
        k.advance_clock(Duration::from_secs(2));
        wait_until("the call ran", || counter.load(Ordering::SeqCst) == 1);
        assert_eq!(thread_call_cancel(call), 0, "nothing pending after it ran");
        assert_eq!(
            thread_call_enter_delayed(call, mach_absolute_time() + 1_000_000_000),
            0
        );
        assert_eq!(thread_call_cancel(call), 1, "an armed call is cancelled");
        k.advance_clock(Duration::from_secs(5));
        assert_eq!(
            counter.load(Ordering::SeqCst),
            1,
            "the cancelled call never ran"
        );
        assert_eq!(thread_call_free(call), 1);
    }
}
