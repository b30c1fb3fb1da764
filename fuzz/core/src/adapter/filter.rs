//! The only place the `path_filter` target touches the code under test: the monitor driver's
//! path filter (`rustkext_monitor::filter`) and the decoding of `SetPathFilter`'s struct input
//! (`PathPrefix<1024>` of `rustkext-abi`, through the interface's wire decoding).

use std::ffi::CStr;

use rustkext::abi::{PathPrefix, Wire};
use rustkext::KPath;
use rustkext_fuzz_model::filter::Verdict;
use rustkext_monitor::filter::{self, PathFilter};
use rustkext_monitor_api::PATH_FILTER_SIZE;

/// The longest prefix the implementation says it takes (compared with the model's).
pub const MAX_PREFIX_LEN: usize = filter::MAX_PREFIX_LEN;

/// One path filter.
pub struct Filter(PathFilter);

impl Default for Filter {
    fn default() -> Self {
        Self::new()
    }
}

impl Filter {
    /// An empty filter (its lock is the kernel's: a simulated kernel is booted for the thread).
    pub fn new() -> Filter {
        crate::kernel::ensure_booted();
        Filter(PathFilter::new())
    }

    /// Sets the prefix (empty clears); `false` and nothing changed if it cannot be set.
    pub fn set(&self, prefix: &[u8]) -> bool {
        self.0.set(prefix)
    }

    /// The prefix now, or None if a writer kept it busy.
    pub fn read(&self) -> Option<Vec<u8>> {
        let mut out = [0u8; PATH_FILTER_SIZE];
        let len = self.0.read(&mut out)?;
        Some(out[..len].to_vec())
    }

    /// The verdict for an event with these two paths (None = NULL).
    pub fn check(&self, paths: [Option<&CStr>; 2]) -> Verdict {
        match self.0.check(paths.map(|p| p.map(KPath::from_cstr))) {
            filter::Verdict::NoFilter => Verdict::NoFilter,
            filter::Verdict::Match => Verdict::Match,
            filter::Verdict::NoMatch => Verdict::NoMatch,
        }
    }
}

/// `SetPathFilter`'s input rule: the prefix the struct carries, if it decodes.
pub fn prefix_from_struct(input: &[u8]) -> Option<Vec<u8>> {
    PathPrefix::<PATH_FILTER_SIZE>::decode(&[], input)
        .ok()
        .map(|p| p.as_bytes().to_vec())
}
