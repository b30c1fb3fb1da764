//! The kauth FILEOP listener's logic: admit through the gate, check the path filter, count.
//!
//! Runs on any thread, on every file open/close/... of the whole system: it allocates nothing,
//! takes no lock, and writes only the calling thread's shard (see [`crate::gate`]).

use crate::abi::{Stats, EVENT_SLOTS, EVENT_SLOT_OTHER, FILEOP_ACTION_FIRST};
use crate::filter::{PathFilter, Verdict};
use crate::gate::{Gate, ShardData};
use crate::sync::{AtomicU64, Ordering};

/// `KAUTH_FILEOP_*` action numbers (`sys/kauth.h`).
pub mod action {
    use macos_kext_sys as sys;

    /// A file was opened: arg0 vnode, arg1 path.
    pub const OPEN: usize = sys::KAUTH_FILEOP_OPEN as usize;
    /// A file was closed: arg0 vnode, arg1 path, arg2 flags.
    pub const CLOSE: usize = sys::KAUTH_FILEOP_CLOSE as usize;
    /// A file was renamed: arg0 from path, arg1 to path.
    pub const RENAME: usize = sys::KAUTH_FILEOP_RENAME as usize;
    /// Two files were exchanged: arg0 and arg1 paths.
    pub const EXCHANGE: usize = sys::KAUTH_FILEOP_EXCHANGE as usize;
    /// A hard link was made: arg0 target path, arg1 new link path.
    pub const LINK: usize = sys::KAUTH_FILEOP_LINK as usize;
    /// A file was executed: arg0 vnode, arg1 path.
    pub const EXEC: usize = sys::KAUTH_FILEOP_EXEC as usize;
    /// A file was deleted: arg0 vnode, arg1 path.
    pub const DELETE: usize = sys::KAUTH_FILEOP_DELETE as usize;
    /// A file is about to be renamed: arg0 vnode, arg1 from path, arg2 to path.
    pub const WILL_RENAME: usize = sys::KAUTH_FILEOP_WILL_RENAME as usize;
}

/// Per-shard event counters (one set per gate shard, summed by [`EventCounters::add_to`]).
///
/// One counter per (action, matched the filter): an event costs a single atomic add, and
/// `filter_matched` is the sum of the "matched" column. 18 counters take two cache lines, so a
/// gate shard with them is 256 bytes.
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
        EventCounters {
            by_action: [PAIR; EVENT_SLOTS],
        }
    };

    #[cfg(loom)]
    fn zero() -> Self {
        EventCounters {
            by_action: core::array::from_fn(|_| [AtomicU64::new(0), AtomicU64::new(0)]),
        }
    }
}

impl EventCounters {
    fn count(&self, slot: usize, matched: bool) {
        let column = usize::from(matched);
        if let Some(counter) = self.by_action.get(slot).and_then(|pair| pair.get(column)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Zeroes the counters (`ResetStats`).
    pub fn reset(&self) {
        self.by_action
            .iter()
            .flatten()
            .for_each(|c| c.store(0, Ordering::Relaxed));
    }

    /// Adds these counters to `stats` (wrapping, like the counters themselves).
    pub fn add_to(&self, stats: &mut Stats) {
        for (sum, [unmatched, matched]) in stats.events.iter_mut().zip(self.by_action.iter()) {
            let matched = matched.load(Ordering::Relaxed);
            *sum = sum
                .wrapping_add(unmatched.load(Ordering::Relaxed))
                .wrapping_add(matched);
            stats.filter_matched = stats.filter_matched.wrapping_add(matched);
        }
    }
}

/// The [`Stats::events`] slot of a FILEOP action.
pub fn event_slot(action: usize) -> usize {
    match action.checked_sub(FILEOP_ACTION_FIRST) {
        Some(slot) if slot < EVENT_SLOT_OTHER => slot,
        _ => EVENT_SLOT_OTHER,
    }
}

/// The path arguments of a FILEOP action (null where it has none); `args` are arg0..arg3.
pub fn paths_of(action_number: usize, args: [usize; 4]) -> [*const u8; 2] {
    let [arg0, arg1, arg2, _] = args;
    let (first, second) = match action_number {
        action::OPEN | action::CLOSE | action::EXEC | action::DELETE => (arg1, 0),
        action::WILL_RENAME => (arg1, arg2),
        action::RENAME | action::EXCHANGE | action::LINK => (arg0, arg1),
        _ => (0, 0),
    };
    [first as *const u8, second as *const u8]
}

/// The callback body. Returns whether the gate admitted it (false: closed, nothing counted except
/// the refusal).
///
/// # Safety
/// For the known actions, the path arguments named in [`action`] are null or NUL-terminated
/// strings readable for the duration of the call (kauth guarantees this for FILEOP callbacks).
#[inline]
pub unsafe fn on_fileop<const N: usize>(
    gate: &Gate<EventCounters, N>,
    filter: &PathFilter,
    thread_key: usize,
    action_number: usize,
    args: [usize; 4],
) -> bool {
    let Some(guard) = gate.enter(thread_key) else {
        return false;
    };
    // SAFETY: the paths are the caller's, valid for this call; the filter never keeps them.
    let verdict = unsafe { filter.check(paths_of(action_number, args)) };
    guard
        .data()
        .count(event_slot(action_number), verdict == Verdict::Match);
    true
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn gate() -> Gate<EventCounters> {
        let gate = Gate::new();
        gate.open();
        gate
    }

    fn stats(gate: &Gate<EventCounters>) -> Stats {
        let mut stats = Stats::default();
        gate.for_each_data(|c| c.add_to(&mut stats));
        stats
    }

    fn fire(
        gate: &Gate<EventCounters>,
        filter: &PathFilter,
        key: usize,
        action: usize,
        args: [usize; 4],
    ) -> bool {
        // SAFETY: tests pass null or live CString pointers.
        unsafe { on_fileop(gate, filter, key, action, args) }
    }

    #[test]
    fn slots_follow_the_action_numbers() {
        assert_eq!(event_slot(action::OPEN), 0);
        assert_eq!(event_slot(action::WILL_RENAME), 7);
        for other in [0usize, 9, 100, usize::MAX] {
            assert_eq!(event_slot(other), EVENT_SLOT_OTHER);
        }
    }

    #[test]
    fn counts_every_action_in_its_slot_across_threads() {
        let (gate, filter) = (gate(), PathFilter::new());
        for act in 0..=10usize {
            for key in [0x1000usize, 0x2000, 0x3000] {
                assert!(fire(&gate, &filter, key, act, [0; 4]));
            }
        }
        let s = stats(&gate);
        assert_eq!(&s.events[..8], &[3; 8]);
        assert_eq!(s.events[EVENT_SLOT_OTHER], 3 * 3, "actions 0, 9, 10");
        assert_eq!(s.filter_matched, 0);
    }

    #[test]
    fn filter_matches_use_the_paths_each_action_carries() {
        let (gate, filter) = (gate(), PathFilter::new());
        assert!(filter.set(b"/watched/"));
        let hit = CString::new("/watched/file").unwrap();
        let miss = CString::new("/elsewhere/file").unwrap();
        let (h, m) = (hit.as_ptr() as usize, miss.as_ptr() as usize);
        let vnode = 0xdead_0000usize;
        let cases: &[(usize, [usize; 4], bool)] = &[
            (action::OPEN, [vnode, h, 0, 0], true),
            (action::OPEN, [h, m, 0, 0], false), // arg0 is a vnode for OPEN, never a path
            (action::CLOSE, [vnode, h, 2, 0], true),
            (action::EXEC, [vnode, h, 0, 0], true),
            (action::DELETE, [vnode, m, 0, 0], false),
            (action::WILL_RENAME, [vnode, m, h, 0], true),
            (action::WILL_RENAME, [vnode, m, m, h], false),
            (action::RENAME, [h, m, 0, 0], true),
            (action::EXCHANGE, [m, h, 0, 0], true),
            (action::LINK, [m, m, h, 0], false),
            (action::DELETE, [vnode, 0, 0, 0], false), // null path
            (42, [h, h, h, h], false),                 // unknown action: no path read
        ];
        let mut expected = 0;
        for &(act, args, matches) in cases {
            assert!(fire(&gate, &filter, 0x1000, act, args));
            expected += u64::from(matches);
            assert_eq!(
                stats(&gate).filter_matched,
                expected,
                "action {act} args {args:?}"
            );
        }
    }

    #[test]
    fn closed_gate_counts_only_the_refusal() {
        let (gate, filter) = (gate(), PathFilter::new());
        gate.close();
        assert!(!fire(&gate, &filter, 0x1000, action::OPEN, [0; 4]));
        assert_eq!(stats(&gate), Stats::default());
        assert_eq!(gate.refused(), 1);
    }

    #[test]
    fn reset_zeroes_counters() {
        let (gate, filter) = (gate(), PathFilter::new());
        fire(&gate, &filter, 1, action::OPEN, [0; 4]);
        gate.reset_stats(EventCounters::reset);
        assert_eq!(stats(&gate), Stats::default());
    }

    #[test]
    fn a_shard_with_its_counters_is_two_128_byte_lines() {
        // The closed flag and the sampled peak take a line each, then the shard.
        assert_eq!(
            core::mem::size_of::<Gate<EventCounters, 1>>(),
            2 * 128 + 256
        );
    }
}
