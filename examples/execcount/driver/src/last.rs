//! [`LastPath`]: the last executed path's first bytes, written by kauth callbacks on any CPU and
//! read by `last_exec`, without a lock a callback could wait on.
//!
//! A sequence lock over atomics (so no data race even when a read is discarded). Writers are
//! concurrent kauth callbacks, which may not wait: a writer takes the sequence from even to odd
//! with one compare-exchange, and a callback that finds a write in progress (or loses the race)
//! does not record its path: the last path is "one of the latest", which is what it can be
//! anyway on a machine where two programs start at once. Readers retry a few times while writes
//! overlap, then give up (`last_exec` answers `kIOReturnBusy`); they never block a writer.
//!
//! Orderings: the writer's compare-exchange is `Acquire` and followed by `fence(Release)`, the
//! bytes are stored `Relaxed`, the even sequence with `Release`. The reader loads the sequence
//! `Acquire`, the bytes `Relaxed`, `fence(Acquire)`, then the sequence again: if it saw any byte of
//! a later write, its fence synchronizes with that writer's and the second load sees an odd or
//! newer sequence, so a torn path is never returned.

use rustkext::sync::{fence, AtomicU32, AtomicU64, Ordering};
use rustkext::KPath;
use execcount_api::LAST_EXEC_PATH;

const WORDS: usize = LAST_EXEC_PATH / 8;
/// Reads overlapping writes before `read` gives up.
pub const READ_ATTEMPTS: u32 = 4;

/// See the module documentation.
pub struct LastPath {
    /// Even: stable; odd: a write is in progress.
    seq: AtomicU32,
    /// Bytes stored (at most `LAST_EXEC_PATH`), and bit 31: the path was longer.
    len: AtomicU32,
    words: [AtomicU64; WORDS],
}

const TRUNCATED: u32 = 1 << 31;

impl LastPath {
    /// Nothing recorded.
    pub const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)] // a fresh copy per word, as intended
        const ZERO: AtomicU64 = AtomicU64::new(0);
        LastPath { seq: AtomicU32::new(0), len: AtomicU32::new(0), words: [ZERO; WORDS] }
    }

    /// Writes `fill` if no other write is in progress; false (nothing written) otherwise.
    fn write(&self, fill: impl FnOnce(&[AtomicU64; WORDS]) -> u32) -> bool {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 != 0 || self.seq.compare_exchange(seq, seq.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed).is_err() {
            return false;
        }
        fence(Ordering::Release);
        let len = fill(&self.words);
        self.len.store(len, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
        true
    }

    /// Records `path` (its first `LAST_EXEC_PATH` bytes), unless another write is in progress.
    /// Reads the path only up to its NUL, and never keeps it.
    pub fn record(&self, path: KPath<'_>) {
        self.write(|words| {
            let mut bytes = path.bytes();
            let mut len = 0u32;
            for word in words {
                let mut chunk = [0u8; 8];
                for slot in chunk.iter_mut() {
                    match bytes.next() {
                        Some(b) => {
                            *slot = b;
                            len += 1;
                        }
                        None => break,
                    }
                }
                word.store(u64::from_ne_bytes(chunk), Ordering::Relaxed);
            }
            if bytes.next().is_some() {
                len | TRUNCATED
            } else {
                len
            }
        });
    }

    /// Forgets the path.
    pub fn clear(&self) {
        // At start, before the gate opens: no callback writes concurrently.
        while !self.write(|words| {
            words.iter().for_each(|w| w.store(0, Ordering::Relaxed));
            0
        }) {
            core::hint::spin_loop();
        }
    }

    /// Copies the path into `out`: its length and whether it was longer, or `None` when writes
    /// kept overlapping [`READ_ATTEMPTS`] reads.
    pub fn read(&self, out: &mut [u8; LAST_EXEC_PATH]) -> Option<(usize, bool)> {
        for _ in 0..READ_ATTEMPTS {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                for (chunk, word) in out.chunks_mut(8).zip(self.words.iter()) {
                    for (dst, src) in chunk.iter_mut().zip(word.load(Ordering::Relaxed).to_ne_bytes()) {
                        *dst = src;
                    }
                }
                let len = self.len.load(Ordering::Relaxed);
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return Some(((len & !TRUNCATED) as usize, len & TRUNCATED != 0));
                }
            }
            core::hint::spin_loop();
        }
        None
    }
}

impl Default for LastPath {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ffi::CStr;

    #[test]
    fn long_paths_keep_their_first_bytes_and_say_so() {
        let p = LastPath::new();
        let long: std::vec::Vec<u8> = (0..300).map(|i| b'a' + (i % 26) as u8).chain([0]).collect();
        p.record(KPath::from_cstr(CStr::from_bytes_with_nul(&long).unwrap()));
        let mut out = [0u8; LAST_EXEC_PATH];
        assert_eq!(p.read(&mut out), Some((LAST_EXEC_PATH, true)));
        assert_eq!(&out[..], &long[..LAST_EXEC_PATH]);
        p.record(KPath::from_cstr(c"/x"));
        assert_eq!(p.read(&mut out), Some((2, false)));
        assert!(out[2..].iter().all(|&b| b == 0), "a shorter path leaves no stale bytes");
    }

    #[test]
    fn a_write_in_progress_is_skipped_by_writers_and_retried_by_readers() {
        let p = LastPath::new();
        p.record(KPath::from_cstr(c"/first"));
        p.seq.fetch_add(1, Ordering::Relaxed); // a writer stopped half-way
        p.record(KPath::from_cstr(c"/second"));
        let mut out = [0u8; LAST_EXEC_PATH];
        assert_eq!(p.read(&mut out), None, "readers give up, never block");
        p.seq.fetch_add(1, Ordering::Relaxed);
        assert_eq!(p.read(&mut out), Some((6, false)), "the concurrent write was skipped");
    }
}
