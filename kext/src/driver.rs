//! The driver state: one callback gate (with the event counters in its shards), the path filter
//! and the client registry. The C ABI (`exports`) keeps one in a `static`; tests make their own.

use crate::abi::{Stats, STATS_SIZE, STATS_VERSION};
use crate::config::Config;
use crate::filter::PathFilter;
use crate::gate::{Gate, Pause};
use crate::lifecycle::Registry;
use crate::monitor::{self, EventCounters};

/// Everything the kext knows.
pub struct Driver {
    /// The FILEOP callback gate; its shards hold the event counters.
    pub(crate) gate: Gate<EventCounters>,
    /// The path-prefix filter.
    pub(crate) filter: PathFilter,
    /// Clients and the unload policy.
    pub(crate) registry: Registry,
}

impl Driver {
    /// A stopped driver (gate closed, no clients).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Driver {
            gate: Gate::new(),
            filter: PathFilter::new(),
            registry: Registry::new(),
        }
    }

    /// A stopped driver (gate closed, no clients).
    #[cfg(loom)]
    pub fn new() -> Self {
        Driver {
            gate: Gate::new(),
            filter: PathFilter::new(),
            registry: Registry::new(),
        }
    }

    /// Service start: Stopped → Running; zeroes the statistics, clears the filter, opens the
    /// gate. `false` (nothing changed) if already running.
    pub fn start(&self, config: Config) -> bool {
        if !self.registry.start(config) {
            return false;
        }
        self.reset_stats();
        self.filter.clear();
        self.gate.open();
        true
    }

    /// Closes the callback gate (stop, step 1).
    pub fn close_gate(&self) {
        self.gate.close();
    }

    /// Waits for callbacks in flight (see [`Gate::drain`]).
    pub fn drain(&self, pause: &mut impl Pause) -> u32 {
        self.gate.drain(pause)
    }

    /// Service release: back to Stopped. The gate stays closed, so a late kauth caller is still
    /// refused safely.
    pub fn release(&self) {
        self.gate.close();
        self.registry.stop();
    }

    /// The registry (admission, close, terminate policy).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The FILEOP callback body for a call on the thread `thread_key`. Returns whether it ran.
    ///
    /// # Safety
    /// As [`monitor::on_fileop`]: the action's path arguments are null or NUL-terminated strings
    /// readable for the call.
    #[inline]
    pub unsafe fn fileop(&self, thread_key: usize, action: usize, args: [usize; 4]) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { monitor::on_fileop(&self.gate, &self.filter, thread_key, action, args) }
    }

    /// The statistics (`GetStats`): sums over the shards, read one after another while events
    /// keep arriving, so not a snapshot of one instant.
    pub fn stats(&self) -> Stats {
        let mut stats = Stats {
            version: STATS_VERSION,
            size: STATS_SIZE as u32,
            ..Stats::default()
        };
        self.gate
            .for_each_data(|counters| counters.add_to(&mut stats));
        stats.peak_in_flight = self.gate.peak_in_flight();
        stats
    }

    /// FILEOP callbacks that met the closed gate since start (logged at release; no client can
    /// read it, since the gate closes only after the last client is gone).
    pub fn refused_after_close(&self) -> u64 {
        self.gate.refused()
    }

    /// `ResetStats`: zeroes every counter and the peak (not the in-flight count). Events racing
    /// with the reset are either erased by it or counted after it, never counted twice.
    pub fn reset_stats(&self) {
        self.gate.reset_stats(EventCounters::reset);
    }

    /// The path filter.
    pub fn filter(&self) -> &PathFilter {
        &self.filter
    }

    /// Callbacks in flight now.
    pub fn in_flight(&self) -> u32 {
        self.gate.in_flight()
    }
}

impl Default for Driver {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::monitor::action;

    struct NoWait;
    impl Pause for NoWait {
        fn pause(&mut self) -> bool {
            false
        }
    }

    fn open_event(d: &Driver) -> bool {
        // SAFETY: a null path.
        unsafe { d.fileop(1, action::OPEN, [0; 4]) }
    }

    #[test]
    fn start_resets_counters_filter_and_opens_the_gate() {
        let d = Driver::new();
        assert!(!open_event(&d), "closed before start");
        assert!(d.start(Config::default()));
        assert!(!d.start(Config::default()), "already running");
        assert_eq!(d.refused_after_close(), 0, "start zeroes statistics");
        d.filter().set(b"/x");
        assert!(open_event(&d));
        assert_eq!(d.stats().events[0], 1);
        d.close_gate();
        assert_eq!(d.drain(&mut NoWait), 0);
        d.release();
        assert!(d.start(Config::default()));
        assert_eq!(d.stats().events[0], 0);
        let mut out = [0u8; crate::abi::PATH_FILTER_SIZE];
        assert_eq!(d.filter().read(&mut out), Some(0));
    }

    #[test]
    fn the_gate_stays_closed_after_release() {
        let d = Driver::new();
        assert!(d.start(Config::default()));
        d.release();
        assert!(!open_event(&d));
        assert_eq!(d.refused_after_close(), 1);
        assert_eq!(d.stats().reserved, 0, "the Stats field is reserved");
    }

    #[test]
    fn stats_carry_version_and_size() {
        let d = Driver::new();
        let s = d.stats();
        assert_eq!((s.version, s.size as usize), (STATS_VERSION, STATS_SIZE));
    }
}
