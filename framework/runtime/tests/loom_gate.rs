//! Loom model checks of the callback gate (run with `RUSTFLAGS="--cfg loom"`; see docs/testing.md).
//!
//! The "freed" driver state is a loom `UnsafeCell`: loom reports any access to it that is not
//! ordered by happens-before with the teardown, which is exactly "a callback body ran after
//! close + drain reported success".
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use rustkext::gate::{Gate, Pause, ShardData};

struct NoData;
impl ShardData for NoData {
    fn zero() -> Self {
        NoData
    }
}

/// Two shards keep the model small; the algorithm does not depend on the count.
type TestGate = Gate<NoData, 2>;

/// Keys that hash to shard 0 and 1 of a 2-shard gate (checked in `keys_land_where_expected`).
const KEY_SHARD_A: usize = 0x1000;
fn key_in_other_shard() -> usize {
    (1..)
        .map(|i| 0x1000 + i * 0x40)
        .find(|&k| TestGate::shard_index(k) != TestGate::shard_index(KEY_SHARD_A))
        .unwrap()
}

/// Yields to the other threads between polls, at most `0` more times.
struct Polls(u32);
impl Pause for Polls {
    fn pause(&mut self) -> bool {
        if self.0 == 0 {
            return false;
        }
        self.0 -= 1;
        thread::yield_now();
        true
    }
}

/// A callback: enter, touch the driver state while holding the guard, leave.
fn callback(gate: &TestGate, key: usize, state: &UnsafeCell<u32>, alive: &AtomicUsize) -> bool {
    let Some(guard) = gate.enter(key) else {
        return false;
    };
    alive.fetch_add(1, Ordering::Relaxed);
    // SAFETY: loom checks that no teardown access races with this one.
    state.with_mut(|s| unsafe { *s += 1 });
    alive.fetch_sub(1, Ordering::Relaxed);
    drop(guard);
    true
}

fn close_drain_free(callback_keys: [usize; 2]) {
    loom::model(move || {
        let gate = Arc::new(TestGate::new());
        gate.open();
        // One piece of driver state per callback: callbacks may run at once, teardown may not.
        let states = Arc::new([UnsafeCell::new(0u32), UnsafeCell::new(0u32)]);
        let alive = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = callback_keys
            .iter()
            .enumerate()
            .map(|(i, &key)| {
                let (gate, states, alive) = (gate.clone(), states.clone(), alive.clone());
                thread::spawn(move || callback(&gate, key, &states[i], &alive))
            })
            .collect();

        gate.close();
        let left = gate.drain(&mut Polls(2));
        if left == 0 {
            assert_eq!(
                alive.load(Ordering::Relaxed),
                0,
                "a guard is alive after drain said 0"
            );
            // Teardown: conflicts with any callback body not ordered before it.
            for state in states.iter() {
                // SAFETY: loom checks the exclusivity.
                state.with_mut(|s| unsafe { *s = u32::MAX });
            }
            let late = gate.enter(callback_keys[0]);
            assert!(late.is_none(), "enter after close must fail");
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(gate.in_flight(), 0);
    });
}

#[test]
fn keys_land_where_expected() {
    assert_ne!(
        TestGate::shard_index(KEY_SHARD_A),
        TestGate::shard_index(key_in_other_shard())
    );
}

#[test]
fn no_body_runs_after_close_and_drain_callbacks_in_different_shards() {
    close_drain_free([KEY_SHARD_A, key_in_other_shard()]);
}

#[test]
fn no_body_runs_after_close_and_drain_callbacks_sharing_a_shard() {
    close_drain_free([KEY_SHARD_A, KEY_SHARD_A]);
}

#[test]
fn every_callback_is_either_run_or_counted_as_refused() {
    loom::model(|| {
        let gate = Arc::new(TestGate::new());
        gate.open();
        let state = Arc::new(UnsafeCell::new(0u32));
        let alive = Arc::new(AtomicUsize::new(0));
        let t = {
            let (gate, state, alive) = (gate.clone(), state.clone(), alive.clone());
            thread::spawn(move || callback(&gate, key_in_other_shard(), &state, &alive))
        };
        gate.close();
        let ran = t.join().unwrap();
        assert_eq!(gate.refused(), u64::from(!ran));
        assert_eq!(gate.drain(&mut Polls(0)), 0);
    });
}
