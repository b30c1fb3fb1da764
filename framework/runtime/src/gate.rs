//! The callback gate: revoke, then wait. It makes the kauth unregister race survivable
//! (`kauth_unlisten_scope` does not wait for callbacks that already read the listener slot).
//!
//! - [`Gate::enter`] admits a callback and returns a [`Guard`], or `None` once the gate is closed.
//! - [`Gate::close`] makes every later `enter` fail at once.
//! - [`Gate::drain`] waits until no guard is alive, or says how many are still in flight when its
//!   bound expires.
//!
//! # Sharding
//! Callbacks run on every CPU at once, so nothing on the hot path writes a cache line that other
//! CPUs write too. The state is split into `N` shards (a power of two), each on its own 128-byte
//! lines, picked by hashing the current thread (the kernel has no per-CPU KPI; a thread is on one
//! CPU at a time). A shard holds its in-flight count, its statistics and the caller's per-shard
//! data `C` (the monitor's event counters). The guard remembers its shard, so exit needs no second hash.
//! Threads whose keys collide share a shard, which stays correct (all updates are atomic
//! read-modify-writes) and only costs speed.
//!
//! # Memory orderings
//! The proof needs only acquire/release and the modification order of each shard word (no
//! reliance on a `SeqCst` total order, which loom does not model):
//! - `enter` increments its shard word with an `Acquire` RMW, then loads `closed` (`Relaxed`).
//! - `close` stores `closed = true`; `drain`, sequenced after it on the same thread, reads every
//!   shard word with an `AcqRel` RMW (`fetch_add(0)`), never a plain load.
//! - For one shard, the two RMWs are ordered in the word's modification order. If `enter`'s comes
//!   first, drain's RMW reads a count that includes it, and drain keeps waiting until the
//!   matching exit. If drain's comes first, `enter`'s RMW reads drain's value or a later one
//!   (which continues drain's release sequence), so drain's release synchronizes with `enter`'s
//!   acquire: `close`'s store happens-before `enter`'s load of `closed`, which must therefore see
//!   `true`, and the callback backs out without running.
//! - Exit decrements with `Release`; drain's `AcqRel` RMW acquires it, so everything a callback
//!   body did happens-before `drain` returns 0. Every change of a shard word is an RMW (never a
//!   store), so each release sequence runs on through all later changes.
//! - On x86 the hot path is one `lock xadd` and a plain load; on arm64 an `ldadda` and an `ldr`.
//! - Statistics are `Relaxed`: they are counters, not synchronization.
//!
//! # What "peak in flight" means
//! An exact global peak would need a global counter, the one hot line the sharding avoids. Each
//! shard keeps its exact own peak. In addition, an entering callback samples the sum of all shard
//! counts (reads only; the global maximum is written only when a sample exceeds it) whenever it
//! raises its shard's own peak, and on every [`SAMPLE_PERIOD`]th entry of its shard. The reported
//! peak is the maximum of the shard peaks and the samples. It is never below the largest
//! concurrency seen within one shard; concurrency that builds up across shards is seen whenever
//! one of the entries that builds it samples (always, while peaks are being raised for the first
//! time, and every `SAMPLE_PERIOD` entries in steady state). A sample reads the shards one after
//! another, so callbacks entering or leaving during those reads can make it off by that many.

use crate::sharded::ShardIndex;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Number of shards of the production gate.
pub const DEFAULT_SHARDS: usize = 16;
/// A shard samples the global in-flight count on every `SAMPLE_PERIOD`th entry (a power of two;
/// a sample reads every shard's line, which costs cache misses on a busy machine, so it is rare).
pub const SAMPLE_PERIOD: u32 = 1024;

/// Low 32 bits of a shard word: callbacks in flight. High 32 bits: entries, wrapping.
const IN_FLIGHT_ONE: u64 = 1;
const IN_FLIGHT_MASK: u64 = 0xffff_ffff;
const ENTRY: u64 = (1 << 32) | IN_FLIGHT_ONE;

/// Data kept per shard (by a gate for its callers, or in a [`Sharded`](crate::Sharded)), written
/// only by callbacks of that shard.
pub trait ShardData: Sync {
    /// A zeroed value (one copy per shard; a `const` so that it can live in a `static`).
    #[cfg(not(loom))]
    const ZERO: Self;
    /// A zeroed value.
    #[cfg(loom)]
    fn zero() -> Self;
}

impl ShardData for () {
    #[cfg(not(loom))]
    const ZERO: () = ();
    #[cfg(loom)]
    fn zero() {}
}

/// Waits between two polls of [`Gate::drain`]; decides the bound.
pub trait Pause {
    /// Waits a little; returns `false` (without waiting) once the bound has expired.
    fn pause(&mut self) -> bool;
}

#[repr(align(128))]
struct Shard<C> {
    /// In-flight count (low half) and entry count (high half); see [`ENTRY`].
    word: AtomicU64,
    /// Highest in-flight count this shard has seen since the last reset.
    peak: AtomicU32,
    data: C,
}

impl<C: ShardData> Shard<C> {
    #[cfg(not(loom))]
    #[allow(clippy::declare_interior_mutable_const)] // each use is a fresh shard, as intended
    const ZERO: Self = Shard {
        word: AtomicU64::new(0),
        peak: AtomicU32::new(0),
        data: C::ZERO,
    };

    #[cfg(loom)]
    fn zero() -> Self {
        Shard {
            word: AtomicU64::new(0),
            peak: AtomicU32::new(0),
            data: C::zero(),
        }
    }

    fn in_flight(&self, order: Ordering) -> u64 {
        self.word.load(order) & IN_FLIGHT_MASK
    }
}

/// A line of its own for a gate-wide value, so that writing it never disturbs a shard.
#[repr(align(128))]
struct Padded<T>(T);

/// The callback gate with `N` shards of per-shard data `C`.
pub struct Gate<C, const N: usize = DEFAULT_SHARDS> {
    /// Read by every `enter`, written only by `open`/`close`.
    closed: Padded<AtomicBool>,
    /// Highest sampled sum of the shard counts (see the module documentation).
    sampled_peak: Padded<AtomicU64>,
    /// Callbacks refused because the gate was closed. One line for all shards: refusals happen
    /// only once the gate is closed (shutdown), never on the hot path of a running kext.
    refused: Padded<AtomicU64>,
    shards: [Shard<C>; N],
}

/// Proof that a callback was admitted; the callback is in flight until it is dropped.
pub struct Guard<'a, C> {
    shard: &'a Shard<C>,
    index: usize,
}

impl<C> Guard<'_, C> {
    /// The per-shard data of the callback's shard.
    pub fn data(&self) -> &C {
        &self.shard.data
    }

    /// The callback's shard.
    pub fn index(&self) -> ShardIndex {
        ShardIndex::new(self.index)
    }
}

impl<C> Drop for Guard<'_, C> {
    fn drop(&mut self) {
        // Release: the callback body happens-before a drain that reads the lowered count.
        self.shard.word.fetch_sub(IN_FLIGHT_ONE, Ordering::Release);
    }
}

impl<C: ShardData, const N: usize> Gate<C, N> {
    const SHARDS_ARE_A_POWER_OF_TWO: () = assert!(N.is_power_of_two() && N <= 1024);

    /// A closed gate with zeroed statistics.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        let () = Self::SHARDS_ARE_A_POWER_OF_TWO;
        Gate {
            closed: Padded(AtomicBool::new(true)),
            sampled_peak: Padded(AtomicU64::new(0)),
            refused: Padded(AtomicU64::new(0)),
            shards: [Shard::ZERO; N],
        }
    }

    /// A closed gate with zeroed statistics.
    #[cfg(loom)]
    pub fn new() -> Self {
        let () = Self::SHARDS_ARE_A_POWER_OF_TWO;
        Gate {
            closed: Padded(AtomicBool::new(true)),
            sampled_peak: Padded(AtomicU64::new(0)),
            refused: Padded(AtomicU64::new(0)),
            shards: core::array::from_fn(|_| Shard::zero()),
        }
    }

    /// Opens the gate: from now on `enter` admits callbacks.
    pub fn open(&self) {
        self.closed.0.store(false, Ordering::SeqCst);
    }

    /// Closes the gate: every `enter` that starts after this returns `None` at once (an `enter`
    /// already past its RMW is waited for by [`drain`](Self::drain)).
    pub fn close(&self) {
        self.closed.0.store(true, Ordering::SeqCst);
    }

    /// Whether the gate is closed.
    pub fn is_closed(&self) -> bool {
        self.closed.0.load(Ordering::SeqCst)
    }

    /// Admits a callback running on the thread identified by `thread_key` (any value that is
    /// stable for the thread and distinct between threads running at once, e.g. its address).
    /// `None` once the gate is closed: the callback must return without touching anything else.
    #[inline]
    pub fn enter(&self, thread_key: usize) -> Option<Guard<'_, C>> {
        let index = Self::shard_index(thread_key);
        let shard = self.shards.get(index)?;
        // Acquire RMW, then `closed`: pairs with drain's RMW on this word (module docs).
        let before = shard.word.fetch_add(ENTRY, Ordering::Acquire);
        if self.closed.0.load(Ordering::Relaxed) {
            shard.word.fetch_sub(IN_FLIGHT_ONE, Ordering::Release);
            self.refused.0.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.note_entry(shard, before);
        Some(Guard { shard, index })
    }

    /// Callbacks in flight now (admitted and not yet exited, plus refused ones backing out). A
    /// count, not synchronization: [`drain`](Self::drain) is what waits for callbacks.
    pub fn in_flight(&self) -> u32 {
        self.sum_in_flight()
    }

    /// The in-flight count as `drain` needs it: an `AcqRel` RMW on every shard word (module docs).
    fn in_flight_synchronized(&self) -> u32 {
        let sum = self.shards.iter().fold(0u64, |sum, s| {
            sum.saturating_add(s.word.fetch_add(0, Ordering::AcqRel) & IN_FLIGHT_MASK)
        });
        u32::try_from(sum).unwrap_or(u32::MAX)
    }

    /// Waits until no callback is in flight, pausing with `pause` between polls. Returns 0 once
    /// drained, or the number still in flight when `pause` says the bound expired. Call it after
    /// [`close`](Self::close), on the same thread (or ordered after it): the proof relies on it,
    /// and on an open gate new callbacks keep arriving.
    pub fn drain(&self, pause: &mut impl Pause) -> u32 {
        loop {
            // Read, then pause: `pause` returns false at once once the bound expired, so the
            // count returned then is as fresh as a second read would be.
            let in_flight = self.in_flight_synchronized();
            if in_flight == 0 || !pause.pause() {
                return in_flight;
            }
        }
    }

    /// Callbacks refused since the last reset because the gate was closed.
    pub fn refused(&self) -> u64 {
        self.refused.0.load(Ordering::Relaxed)
    }

    /// The peak number of callbacks in flight since the last reset (module docs say exactly what
    /// it measures). Inlined into the one copy a kext has (the runtime's `Services` method, for
    /// `GetStats` and the IORegistry).
    #[inline]
    #[cfg_attr(feature = "kernel", optimize(size))]
    pub fn peak_in_flight(&self) -> u64 {
        let shard_peak = self
            .shards
            .iter()
            .map(|s| u64::from(s.peak.load(Ordering::Relaxed)))
            .max()
            .unwrap_or(0);
        shard_peak.max(self.sampled_peak.0.load(Ordering::Relaxed))
    }

    /// Calls `f` with the data of every shard (to sum counters).
    pub fn for_each_data(&self, mut f: impl FnMut(&C)) {
        self.shards.iter().for_each(|s| f(&s.data));
    }

    /// Zeroes the gate's statistics and lets `f` zero every shard's data. In-flight counts are
    /// untouched. Callbacks racing with a reset are counted before it (and erased) or after it.
    pub fn reset_stats(&self, mut f: impl FnMut(&C)) {
        for shard in self.shards.iter() {
            shard.peak.store(0, Ordering::Relaxed);
            f(&shard.data);
        }
        self.sampled_peak.0.store(0, Ordering::Relaxed);
        self.refused.0.store(0, Ordering::Relaxed);
    }

    /// The shard `thread_key` maps to (public so model checks can place threads in chosen shards).
    /// Fibonacci hashing: thread addresses are aligned, so the low bits carry no information.
    pub fn shard_index(thread_key: usize) -> usize {
        let hash = (thread_key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ((hash >> 32) as usize) & (N - 1)
    }

    /// Peak bookkeeping after an admitted entry: only this shard's line is written, except when a
    /// sample raises the global peak.
    #[inline]
    fn note_entry(&self, shard: &Shard<C>, before: u64) {
        let now = (before & IN_FLIGHT_MASK) as u32 + 1;
        let entries = ((before >> 32) as u32).wrapping_add(1);
        if now > shard.peak.load(Ordering::Relaxed) {
            shard.peak.fetch_max(now, Ordering::Relaxed);
            self.sample();
        } else if entries & (SAMPLE_PERIOD - 1) == 0 {
            self.sample();
        }
    }

    #[cold]
    fn sample(&self) {
        let total = u64::from(self.sum_in_flight());
        if total > self.sampled_peak.0.load(Ordering::Relaxed) {
            self.sampled_peak.0.fetch_max(total, Ordering::Relaxed);
        }
    }

    /// One copy for the sample and [`in_flight`](Self::in_flight) (kernel text is budgeted).
    #[inline(never)]
    #[cfg_attr(feature = "kernel", optimize(size))]
    fn sum_in_flight(&self) -> u32 {
        let sum = self.shards.iter().fold(0u64, |sum, s| sum.saturating_add(s.in_flight(Ordering::Relaxed)));
        u32::try_from(sum).unwrap_or(u32::MAX)
    }
}

impl<C: ShardData, const N: usize> Default for Gate<C, N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};
    use std::vec::Vec;

    struct NoData;
    impl ShardData for NoData {
        const ZERO: Self = NoData;
    }

    /// Polls at most `left` more times, yielding in between.
    struct Polls(u32);
    impl Pause for Polls {
        fn pause(&mut self) -> bool {
            if self.0 == 0 {
                return false;
            }
            self.0 -= 1;
            std::thread::sleep(std::time::Duration::from_millis(1));
            true
        }
    }

    fn open_gate() -> Gate<NoData> {
        let gate = Gate::new();
        gate.open();
        gate
    }

    #[test]
    fn a_new_gate_is_closed() {
        let gate: Gate<NoData> = Gate::new();
        assert!(gate.is_closed());
        assert!(gate.enter(1).is_none());
        assert_eq!(gate.refused(), 1);
    }

    #[test]
    fn guards_count_in_flight_until_dropped() {
        let gate = open_gate();
        let a = gate.enter(0x1000).unwrap();
        let b = gate.enter(0x2000).unwrap();
        let c = gate.enter(0x1000).unwrap();
        assert_eq!(gate.in_flight(), 3);
        drop(b);
        assert_eq!(gate.in_flight(), 2);
        drop((a, c));
        assert_eq!(gate.in_flight(), 0);
    }

    #[test]
    fn close_refuses_every_later_enter_and_counts_it() {
        let gate = open_gate();
        let held = gate.enter(7).unwrap();
        gate.close();
        for key in 0..100 {
            assert!(gate.enter(key * 4096).is_none());
        }
        assert_eq!(gate.refused(), 100);
        assert_eq!(
            gate.in_flight(),
            1,
            "refused callbacks leave no count behind"
        );
        drop(held);
        assert_eq!(gate.in_flight(), 0);
    }

    #[test]
    fn drain_of_an_idle_gate_returns_at_once() {
        let gate = open_gate();
        gate.close();
        assert_eq!(gate.drain(&mut Polls(0)), 0);
    }

    #[test]
    fn drain_reports_callbacks_still_in_flight_when_the_bound_expires() {
        let gate = open_gate();
        let _a = gate.enter(1).unwrap();
        let _b = gate.enter(2).unwrap();
        gate.close();
        assert_eq!(gate.drain(&mut Polls(3)), 2);
    }

    #[test]
    fn drain_waits_for_a_callback_on_another_thread() {
        let gate = Arc::new(open_gate());
        let barrier = Arc::new(Barrier::new(2));
        let worker = {
            let (gate, barrier) = (gate.clone(), barrier.clone());
            std::thread::spawn(move || {
                let guard = gate.enter(0x4000).unwrap();
                barrier.wait();
                std::thread::sleep(std::time::Duration::from_millis(20));
                drop(guard);
            })
        };
        barrier.wait();
        gate.close();
        assert_eq!(gate.drain(&mut Polls(10_000)), 0);
        assert_eq!(gate.in_flight(), 0);
        worker.join().unwrap();
    }

    #[test]
    fn reopening_admits_again() {
        let gate = open_gate();
        gate.close();
        assert!(gate.enter(1).is_none());
        gate.open();
        assert!(gate.enter(1).is_some());
    }

    #[test]
    fn peak_counts_nested_callbacks_of_one_thread() {
        let gate = open_gate();
        let guards: Vec<_> = (0..5).map(|_| gate.enter(0x8000).unwrap()).collect();
        drop(guards);
        let _one = gate.enter(0x8000).unwrap();
        assert_eq!(gate.peak_in_flight(), 5);
    }

    #[test]
    fn peak_counts_callbacks_held_across_shards() {
        let gate = open_gate();
        // Keys that land in distinct shards: concurrency across shards must still be seen.
        let mut keys = Vec::new();
        let mut used = [false; DEFAULT_SHARDS];
        for key in (0..).map(|i: usize| 0x10_0000 + i * 0x400) {
            let shard = Gate::<NoData>::shard_index(key);
            if !used[shard] {
                used[shard] = true;
                keys.push(key);
                if keys.len() == 6 {
                    break;
                }
            }
        }
        let guards: Vec<_> = keys.iter().map(|&k| gate.enter(k).unwrap()).collect();
        assert_eq!(gate.peak_in_flight(), 6);
        drop(guards);
        assert_eq!(gate.peak_in_flight(), 6);
    }

    #[test]
    fn steady_state_samples_see_cross_shard_concurrency() {
        let gate = open_gate();
        // Raise both shard peaks to 2 first, so later entries do not sample by raising a peak.
        let (k1, k2) = (
            0x1000,
            (1..)
                .map(|i| 0x1000 + i * 64)
                .find(|&k| Gate::<NoData>::shard_index(k) != Gate::<NoData>::shard_index(0x1000))
                .unwrap(),
        );
        drop((gate.enter(k1).unwrap(), gate.enter(k1).unwrap()));
        drop((gate.enter(k2).unwrap(), gate.enter(k2).unwrap()));
        gate.reset_stats(|_| {});
        let _held = (gate.enter(k1).unwrap(), gate.enter(k1).unwrap());
        // The other shard's entries are single, but every SAMPLE_PERIOD-th one samples the total.
        for _ in 0..SAMPLE_PERIOD {
            drop(gate.enter(k2).unwrap());
        }
        assert_eq!(gate.peak_in_flight(), 3);
    }

    #[test]
    fn reset_zeroes_statistics_but_not_in_flight() {
        let gate = open_gate();
        let held = gate.enter(1).unwrap();
        let _also = gate.enter(1).unwrap();
        gate.close();
        assert!(gate.enter(2).is_none());
        gate.reset_stats(|_| {});
        assert_eq!(gate.refused(), 0);
        assert_eq!(gate.peak_in_flight(), 0);
        assert_eq!(gate.in_flight(), 2);
        drop(held);
        assert_eq!(gate.in_flight(), 1);
    }

    #[test]
    fn aligned_thread_addresses_spread_over_the_shards() {
        let mut hit = [0u32; DEFAULT_SHARDS];
        for i in 0..256usize {
            hit[Gate::<NoData>::shard_index(0xffff_ff80_1234_0000 + i * 0x600)] += 1;
        }
        assert!(hit.iter().all(|&n| n > 0), "every shard used: {hit:?}");
        assert!(
            hit.iter().all(|&n| n < 48),
            "no shard takes 3x its share: {hit:?}"
        );
    }

    #[test]
    fn a_shard_is_one_cache_line_pair() {
        assert_eq!(core::mem::align_of::<Shard<NoData>>(), 128);
        assert_eq!(core::mem::size_of::<Shard<NoData>>(), 128);
    }

    #[test]
    fn concurrent_callbacks_never_run_after_close_and_drain() {
        use std::sync::atomic::AtomicBool as StdBool;
        let gate = Arc::new(open_gate());
        let freed = Arc::new(StdBool::new(false));
        let stop = Arc::new(StdBool::new(false));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (gate, freed, stop) = (gate.clone(), freed.clone(), stop.clone());
                std::thread::spawn(move || {
                    let key = &stop as *const _ as usize;
                    let mut ran = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(_guard) = gate.enter(key) {
                            assert!(!freed.load(Ordering::SeqCst), "body ran after drain");
                            ran += 1;
                        }
                    }
                    ran
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        gate.close();
        assert_eq!(gate.drain(&mut Polls(10_000)), 0);
        freed.store(true, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(20));
        stop.store(true, Ordering::Relaxed);
        let ran: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert!(ran > 0);
        assert!(gate.refused() > 0);
    }
}
