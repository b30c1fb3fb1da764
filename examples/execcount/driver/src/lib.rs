//! ExecCount's driver: safe Rust only (the framework does the rest). It counts the programs
//! executed (`KAUTH_FILEOP_EXEC`) in the counter of the callback's shard (no line shared between
//! CPUs) and keeps the last executed path's first bytes under a sequence lock.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod last;

use rustkext::sync::{AtomicU64, Ordering};
use rustkext::{Admin, Anyone, Caller, Driver, FileOp, FileOpEvent, FileOpListener, Observer, Refusal};
use rustkext::{Settings, ShardData, Sharded, StartError};
use execcount_api::{ExecCount, LastExec};

use last::LastPath;

/// One shard's exec count.
pub struct Count(AtomicU64);

impl ShardData for Count {
    #[allow(clippy::declare_interior_mutable_const)] // a fresh copy per shard, as intended
    const ZERO: Count = Count(AtomicU64::new(0));
}

/// ExecCount's state: a `static` (built by a `const fn`), shared by every thread.
pub struct ExecCountDriver {
    execs: Sharded<Count>,
    last: LastPath,
}

impl ExecCountDriver {
    /// No exec seen.
    pub const fn new() -> Self {
        ExecCountDriver { execs: Sharded::new(), last: LastPath::new() }
    }

    /// The execs of every shard.
    pub fn total(&self) -> u64 {
        self.execs.iter().fold(0u64, |sum, c| sum.wrapping_add(c.0.load(Ordering::Relaxed)))
    }

    fn zero(&self) {
        self.execs.iter().for_each(|c| c.0.store(0, Ordering::Relaxed));
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
        self.last.clear();
        Ok(())
    }
}

impl FileOpListener for ExecCountDriver {
    /// Inside the framework's gate, on any thread: no blocking, no allocation, no lock. Only
    /// EXEC counts; its path (valid for the call only) is copied, best effort (see [`LastPath`]).
    fn on_fileop(&self, event: &FileOpEvent<'_>) {
        if event.action() != FileOp::Exec {
            return;
        }
        self.execs.get(event.shard()).0.fetch_add(1, Ordering::Relaxed);
        if let [Some(path), _] = event.paths() {
            self.last.record(path);
        }
    }
}

impl ExecCount for ExecCountDriver {
    fn ping(&self, _caller: Caller<'_, Anyone>, value: u64) -> u64 {
        value.wrapping_add(1)
    }

    fn exec_count(&self, _caller: Caller<'_, Anyone>) -> u64 {
        self.total()
    }

    fn reset(&self, _caller: Caller<'_, Admin>) {
        self.zero();
    }

    fn last_exec(&self, _caller: Caller<'_, Observer>) -> Result<LastExec, Refusal> {
        let mut out = LastExec { execs: self.total(), len: 0, truncated: 0, path: [0; execcount_api::LAST_EXEC_PATH] };
        let (len, truncated) = self.last.read(&mut out.path).ok_or(Refusal::BUSY)?;
        out.len = len as u32;
        out.truncated = u32::from(truncated);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ffi::CStr;
    use rustkext::ShardIndex;

    const EXEC: usize = 6; // KAUTH_FILEOP_EXEC
    const OPEN: usize = 1;

    fn event(action: usize, path: &CStr, shard: usize) -> FileOpEvent<'_> {
        FileOpEvent::new(action, [Some(path), None], 0, ShardIndex::new(shard))
    }

    #[test]
    fn only_execs_count_and_the_last_path_is_kept() {
        let d = ExecCountDriver::new();
        d.on_fileop(&event(EXEC, c"/bin/ls", 0));
        d.on_fileop(&event(OPEN, c"/etc/passwd", 3));
        d.on_fileop(&event(EXEC, c"/usr/bin/true", 7));
        assert_eq!(d.total(), 2);
        let mut path = [0u8; execcount_api::LAST_EXEC_PATH];
        assert_eq!(d.last.read(&mut path), Some((13, false)));
        assert_eq!(&path[..13], b"/usr/bin/true");
        assert!(d.start(&Settings::default()).is_ok());
        assert_eq!((d.total(), d.last.read(&mut path)), (0, Some((0, false))));
    }
}
