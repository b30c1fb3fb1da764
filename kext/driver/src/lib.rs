//! The file-activity monitor: RustKext's first driver, in safe Rust only.
//!
//! - [`MonitorDriver`] implements the framework's [`Driver`], its [`FileOpListener`] and the
//!   [`Monitor`] interface (`rustkext-monitor-api`);
//! - the FILEOP listener counts each event in its shard's counters (one atomic add) by action and
//!   by whether a path matched the [`filter::PathFilter`];
//! - the framework around it (gate, drain, registry, dispatch, the C ABI) is `rustkext`'s, wired
//!   by the glue crate's one `rustkext::export!` call.
#![no_std]
// The kernel build (RUSTC_BOOTSTRAP, as build-std needs) optimizes the statistics sums for size:
// their loops over the shards and the actions stay loops (kernel text is budgeted).
#![cfg_attr(feature = "kernel", feature(optimize_attribute))]
#![forbid(unsafe_code)]
#![deny(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

#[cfg(test)]
extern crate std;

pub mod filter;

use rustkext::sync::{AtomicU64, Ordering};
use rustkext::{Admin, Anyone, Caller, Driver, FileOpEvent, FileOpListener, Observer, PathPrefix, Refusal};
use rustkext::{RegistryValues, Settings, ShardData, Sharded, StartError};
use rustkext_monitor_api::{
    Monitor, Stats, ABI_VERSION, EVENT_KEYS, EVENT_SLOTS, EVENT_SLOT_OTHER, FILEOP_ACTION_FIRST, FILTER_MATCHED_KEY,
    PATH_FILTER_SIZE, STATS_SIZE, STATS_VERSION,
};

use filter::{PathFilter, Verdict};

/// Per-shard event counters (one set per gate shard, summed by [`EventCounters::add_to`]).
///
/// One counter per (action, matched the filter): an event costs a single atomic add, and
/// `filter_matched` is the sum of the "matched" column. 18 counters take two cache lines.
pub struct EventCounters {
    /// `by_action[slot][matched]`.
    by_action: [[AtomicU64; 2]; EVENT_SLOTS],
}

impl ShardData for EventCounters {
    #[cfg(not(loom))]
    #[allow(clippy::declare_interior_mutable_const)] // a fresh copy per shard, as intended
    const ZERO: Self = {
        const ZERO: AtomicU64 = AtomicU64::new(0);
        const PAIR: [AtomicU64; 2] = [ZERO, ZERO];
        EventCounters { by_action: [PAIR; EVENT_SLOTS] }
    };

    #[cfg(loom)]
    fn zero() -> Self {
        EventCounters { by_action: core::array::from_fn(|_| [AtomicU64::new(0), AtomicU64::new(0)]) }
    }
}

impl EventCounters {
    fn count(&self, slot: usize, matched: bool) {
        if let Some(counter) = self.by_action.get(slot).and_then(|pair| pair.get(usize::from(matched))) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Zeroes the counters (`ResetStats`).
    #[inline(always)] // into `reset_counters`, optimized for size
    pub fn reset(&self) {
        for [unmatched, matched] in &self.by_action {
            unmatched.store(0, Ordering::Relaxed);
            matched.store(0, Ordering::Relaxed);
        }
    }

    /// Adds these counters to `stats` (wrapping, like the counters themselves).
    #[inline(always)] // into `counts`, optimized for size (one loop nest, no call)
    pub fn add_to(&self, stats: &mut Stats) {
        for (sum, [unmatched, matched]) in stats.events.iter_mut().zip(self.by_action.iter()) {
            let matched = matched.load(Ordering::Relaxed);
            *sum = sum.wrapping_add(unmatched.load(Ordering::Relaxed)).wrapping_add(matched);
            stats.filter_matched = stats.filter_matched.wrapping_add(matched);
        }
    }
}

/// The [`Stats::events`] slot of a FILEOP action number.
pub fn event_slot(action: usize) -> usize {
    match action.checked_sub(FILEOP_ACTION_FIRST) {
        Some(slot) if slot < EVENT_SLOT_OTHER => slot,
        _ => EVENT_SLOT_OTHER,
    }
}

/// The monitor: event counters per gate shard and the path filter.
pub struct MonitorDriver {
    counters: Sharded<EventCounters>,
    filter: PathFilter,
}

impl MonitorDriver {
    /// A new monitor: no events counted, no filter.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        MonitorDriver { counters: Sharded::new(), filter: PathFilter::new() }
    }

    /// The path filter.
    pub fn filter(&self) -> &PathFilter {
        &self.filter
    }

    /// The statistics without the gate's peak (which the framework keeps). One copy for
    /// `GetStats` and the IORegistry (kernel text is budgeted).
    #[inline(never)]
    #[cfg_attr(feature = "kernel", optimize(size))]
    pub fn counts(&self) -> Stats {
        let mut stats = Stats { version: STATS_VERSION, size: STATS_SIZE as u32, ..Stats::default() };
        // A `for` loop, not `for_each`: `add_to`'s loop is inlined only where it is optimized for
        // size.
        for counters in self.counters.iter() {
            counters.add_to(&mut stats);
        }
        stats
    }

    // One copy for start and ResetStats.
    #[inline(never)]
    #[cfg_attr(feature = "kernel", optimize(size))]
    fn reset_counters(&self) {
        for counters in self.counters.iter() {
            counters.reset();
        }
    }
}

#[cfg(not(loom))]
impl Default for MonitorDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl Driver for MonitorDriver {

    /// The event counters by action and `FilterMatched`, summed now (as `GetStats` sums them).
    fn registry_values(&self, out: &mut RegistryValues<'_>) {
        let stats = self.counts();
        out.numbers(&EVENT_KEYS, &stats.events);
        out.number(FILTER_MATCHED_KEY, stats.filter_matched);
    }
    /// A new start counts from zero, without a filter.
    fn start(&self, _settings: &Settings) -> Result<(), StartError> {
        self.reset_counters();
        self.filter.clear();
        Ok(())
    }
}

impl FileOpListener for MonitorDriver {
    /// Filter check (reads only), then one atomic add on this shard's counter for (action,
    /// matched): nothing allocates, blocks, or writes a line another shard writes.
    #[inline]
    fn on_fileop(&self, event: &FileOpEvent<'_>) {
        let matched = self.filter.check(event.paths()) == Verdict::Match;
        self.counters.get(event.shard()).count(event_slot(event.action_number()), matched);
    }
}

impl Monitor for MonitorDriver {
    fn ping(&self, _caller: Caller<'_, Anyone>, value: u64) -> u64 {
        value.wrapping_add(1)
    }

    fn get_version(&self, _caller: Caller<'_, Anyone>) -> [u64; 3] {
        ABI_VERSION
    }

    fn get_stats(&self, caller: Caller<'_, Observer>) -> Stats {
        // Summed straight into the returned value (a struct update would copy it: kernel text is
        // budgeted).
        let mut stats = self.counts();
        stats.peak_in_flight = caller.peak_in_flight();
        stats
    }

    fn reset_stats(&self, caller: Caller<'_, Admin>) {
        caller.reset_gate_stats();
        self.reset_counters();
    }

    fn set_path_filter(&self, _caller: Caller<'_, Admin>, prefix: PathPrefix<PATH_FILTER_SIZE>) -> Result<(), Refusal> {
        if self.filter.set(prefix.as_bytes()) {
            Ok(())
        } else {
            Err(Refusal::BAD_ARGUMENT)
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use rustkext::ShardIndex;
    use std::ffi::CString;

    fn fire(m: &MonitorDriver, shard: usize, action: usize, first: Option<&CString>, second: Option<&CString>) {
        let event = FileOpEvent::new(action, [first.map(|c| c.as_c_str()), second.map(|c| c.as_c_str())], 0, ShardIndex::new(shard));
        m.on_fileop(&event);
    }

    #[test]
    fn slots_follow_the_action_numbers() {
        assert_eq!(event_slot(1), 0);
        assert_eq!(event_slot(8), 7);
        for other in [0usize, 9, 100, usize::MAX] {
            assert_eq!(event_slot(other), EVENT_SLOT_OTHER);
        }
    }

    #[test]
    fn counts_every_action_in_its_slot_across_shards() {
        let m = MonitorDriver::new();
        for act in 0..=10usize {
            for shard in [0, 5, 15] {
                fire(&m, shard, act, None, None);
            }
        }
        let s = m.counts();
        assert_eq!(&s.events[..8], &[3; 8]);
        assert_eq!(s.events[EVENT_SLOT_OTHER], 3 * 3, "actions 0, 9, 10");
        assert_eq!(s.filter_matched, 0);
        assert_eq!((s.version, s.size as usize), (STATS_VERSION, STATS_SIZE));
    }

    #[test]
    fn a_match_is_any_path_the_event_carries() {
        let m = MonitorDriver::new();
        assert!(m.filter().set(b"/watched/"));
        let hit = CString::new("/watched/file").unwrap();
        let miss = CString::new("/elsewhere/file").unwrap();
        fire(&m, 0, 1, Some(&hit), None);
        fire(&m, 0, 3, Some(&miss), Some(&hit));
        fire(&m, 0, 7, Some(&miss), None);
        fire(&m, 0, 7, None, None);
        assert_eq!(m.counts().filter_matched, 2);
    }
    #[test]
    fn registry_values_are_the_counters_by_action_and_the_matches() {
        use rustkext::published::RkRegistryValue;
        let m = MonitorDriver::new();
        assert!(m.filter().set(b"/w"));
        let hit = CString::new("/w/x").unwrap();
        fire(&m, 0, 1, Some(&hit), None);
        fire(&m, 4, 1, None, None);
        fire(&m, 9, 7, None, None);
        fire(&m, 2, 42, None, None);
        let mut slots = [RkRegistryValue::EMPTY; 16];
        let mut out = RegistryValues::new(&mut slots);
        m.registry_values(&mut out);
        let got: std::vec::Vec<(&core::ffi::CStr, u64)> = out.iter().map(|(k, _, v)| (k, v)).collect();
        assert_eq!(
            got,
            [
                (c"FileopOpen", 2),
                (c"FileopClose", 0),
                (c"FileopRename", 0),
                (c"FileopExchange", 0),
                (c"FileopLink", 0),
                (c"FileopExec", 0),
                (c"FileopDelete", 1),
                (c"FileopWillRename", 0),
                (c"FileopOther", 1),
                (c"FilterMatched", 1),
            ]
        );
    }


    #[test]
    fn start_forgets_counts_and_the_filter() {
        let m = MonitorDriver::new();
        assert!(m.filter().set(b"/x"));
        fire(&m, 3, 1, None, None);
        assert!(m.start(&Settings::default()).is_ok());
        assert_eq!(m.counts().events, [0; EVENT_SLOTS]);
        let mut out = [0u8; PATH_FILTER_SIZE];
        assert_eq!(m.filter().read(&mut out), Some(0));
    }
}
