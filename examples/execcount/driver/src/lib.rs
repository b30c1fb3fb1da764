//! ExecCount's driver: safe Rust only (the framework does the rest). It counts every FILEOP event
//! in the counter of the callback's shard (no line shared between CPUs) and answers ExecCount's
//! methods.
#![no_std]
#![forbid(unsafe_code)]

use rustkext::sync::{AtomicU64, Ordering};
use rustkext::{Admin, Anyone, Caller, Driver, FileOpEvent, FileOpListener, Settings, ShardData, Sharded, StartError};
use execcount_api::ExecCount;

/// One shard's event count.
pub struct Count(AtomicU64);

impl ShardData for Count {
    #[allow(clippy::declare_interior_mutable_const)] // a fresh copy per shard, as intended
    const ZERO: Count = Count(AtomicU64::new(0));
}

/// ExecCount's state: a `static` (built by a `const fn`), shared by every thread.
pub struct ExecCountDriver {
    events: Sharded<Count>,
}

impl ExecCountDriver {
    /// No event seen.
    pub const fn new() -> Self {
        ExecCountDriver { events: Sharded::new() }
    }

    /// The events of every shard.
    pub fn total(&self) -> u64 {
        self.events.iter().fold(0u64, |sum, c| sum.wrapping_add(c.0.load(Ordering::Relaxed)))
    }

    fn zero(&self) {
        self.events.iter().for_each(|c| c.0.store(0, Ordering::Relaxed));
    }
}

impl Default for ExecCountDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl Driver for ExecCountDriver {
    fn start(&self, _settings: &Settings) -> Result<(), StartError> {
        self.zero();
        Ok(())
    }
}

impl FileOpListener for ExecCountDriver {
    /// Inside the framework's gate, on any thread: no blocking, no allocation, no lock.
    fn on_fileop(&self, event: &FileOpEvent<'_>) {
        self.events.get(event.shard()).0.fetch_add(1, Ordering::Relaxed);
    }
}

impl ExecCount for ExecCountDriver {
    fn ping(&self, _caller: Caller<'_, Anyone>, value: u64) -> u64 {
        value.wrapping_add(1)
    }

    fn events(&self, _caller: Caller<'_, Anyone>) -> u64 {
        self.total()
    }

    fn reset(&self, _caller: Caller<'_, Admin>) {
        self.zero();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustkext::ShardIndex;

    #[test]
    fn events_are_counted_in_their_shard_and_summed() {
        let d = ExecCountDriver::new();
        for shard in [0, 3, 3, 15] {
            d.on_fileop(&FileOpEvent::new(1, [None, None], 0, ShardIndex::new(shard)));
        }
        assert_eq!(d.total(), 4);
        d.zero();
        assert_eq!(d.total(), 0);
    }
}
