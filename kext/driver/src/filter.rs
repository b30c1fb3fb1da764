//! The path-prefix filter: read by every FILEOP callback, written rarely (`SetPathFilter`).
//!
//! Two copies of the prefix, each under a sequence lock, and an index naming the active one.
//! A writer fills the inactive copy and then makes it active, so readers keep reading a copy no
//! writer touches: a rewrite does not disturb the callbacks that run during it. Readers never
//! block and never write: they read the index, then the active copy inside the sequence-lock read
//! protocol, and use the result only if that copy's sequence number did not change and was even.
//! An attempt fails only if a write of the copy it reads began, after a write of the other copy
//! completed (the writer fills a copy only once the other one is active); the next attempt reads
//! that other copy, so every failed attempt saw a newer write. [`READ_ATTEMPTS`] failed attempts
//! therefore take `READ_ATTEMPTS` complete rewrites during one callback's check (a callback
//! preempted in the middle of it). Only then does the reader give up and report "no match": the
//! event is still counted by action and only `filter_matched` misses it, and a writer can never
//! stall a callback. `tests/loom_filter.rs` checks the bound.
//!
//! Orderings: the writer stores the copy's odd sequence with `Release`, `fence(Release)`, stores
//! the data `Relaxed`, stores the even sequence with `Release`, then the index with `Release`. The
//! reader reads the index with `Acquire`, the copy's sequence with `Acquire`, the data `Relaxed`,
//! `fence(Acquire)`, then the sequence again. If the reader saw any data of a later write of that
//! copy, its fence synchronizes with that writer's fence and the second load sees the odd or a
//! newer sequence, so a torn prefix is never used. After a failed attempt it fences again
//! (`Acquire`), so the write it saw begin, and the completed write of the other copy before it,
//! happen-before its retry on that other copy. All shared data are atomics: there is no data race even
//! when a read is discarded.
//!
//! Paths are the framework's [`KPath`]s: read byte by byte up to the first mismatch, never past
//! their NUL, never kept.

use rustkext::sync::{fence, AtomicU32, AtomicU64, Lock, Ordering};
use rustkext::KPath;
use rustkext_monitor_api::PATH_FILTER_SIZE;

/// Longest prefix: the input struct also holds the terminating NUL.
pub const MAX_PREFIX_LEN: usize = PATH_FILTER_SIZE - 1;
/// How often a reader retries while a write is in progress before it reports "no match".
pub const READ_ATTEMPTS: u32 = 4;

const WORDS: usize = PATH_FILTER_SIZE / 8;

/// What the filter says about an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No filter is set.
    NoFilter,
    /// A path of the event starts with the prefix.
    Match,
    /// No path matches (or a writer kept the filter busy; see the module documentation).
    NoMatch,
}

/// One copy of the prefix, under its own sequence lock.
struct Copy {
    /// Even: stable; odd: a write is in progress.
    seq: AtomicU32,
    /// Prefix length in bytes, 0 = no filter; never above [`MAX_PREFIX_LEN`].
    len: AtomicU32,
    /// Prefix bytes, little-endian within each word (byte `i` is bits `8 * (i % 8)` up of word
    /// `i / 8`), zero after the prefix.
    words: [AtomicU64; WORDS],
}

impl Copy {
    #[cfg(not(loom))]
    #[allow(clippy::declare_interior_mutable_const)] // one fresh copy per use, as intended
    const EMPTY: Copy = {
        const ZERO: AtomicU64 = AtomicU64::new(0);
        Copy {
            seq: AtomicU32::new(0),
            len: AtomicU32::new(0),
            words: [ZERO; WORDS],
        }
    };

    #[cfg(loom)]
    fn empty() -> Copy {
        Copy {
            seq: AtomicU32::new(0),
            len: AtomicU32::new(0),
            words: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// Writes `prefix` (at most [`MAX_PREFIX_LEN`] bytes); the caller is the only writer.
    /// Words past both the old and the new prefix are zero already and are left alone.
    fn write(&self, prefix: &[u8]) {
        let seq = self.seq.load(Ordering::Relaxed);
        let old_len = self.len.load(Ordering::Relaxed) as usize;
        let used = prefix.len().max(old_len).div_ceil(8);
        // Release: a reader that sees this write begin also sees the flips before it (so its
        // next look at the index finds them); the fence orders it before the data stores.
        self.seq.store(seq.wrapping_add(1), Ordering::Release);
        fence(Ordering::Release);
        let mut rest = prefix;
        for word in self.words.iter().take(used) {
            let mut bytes = [0u8; 8];
            let take = rest.len().min(8);
            for (dst, src) in bytes.iter_mut().zip(rest.iter()) {
                *dst = *src;
            }
            rest = rest.get(take..).unwrap_or(&[]);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        self.len.store(prefix.len() as u32, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// One sequence-lock read: `read(len, words)` if no write overlapped it.
    #[inline]
    fn read<R>(&self, read: &mut impl FnMut(usize, &[AtomicU64; WORDS]) -> R) -> Option<R> {
        let before = self.seq.load(Ordering::Acquire);
        if before & 1 != 0 {
            return None;
        }
        let len = (self.len.load(Ordering::Relaxed) as usize).min(MAX_PREFIX_LEN);
        let result = read(len, &self.words);
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != before {
            // Synchronize with the write we saw, so the other copy's last write is visible.
            fence(Ordering::Acquire);
            return None;
        }
        Some(result)
    }
}

/// The filter itself; see the module documentation.
pub struct PathFilter {
    /// Which copy readers use (0 or 1).
    active: AtomicU32,
    copies: [Copy; 2],
    writer: Lock<()>,
}

impl PathFilter {
    /// An empty filter.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        PathFilter {
            active: AtomicU32::new(0),
            copies: [Copy::EMPTY, Copy::EMPTY],
            writer: Lock::new(()),
        }
    }

    /// An empty filter.
    #[cfg(loom)]
    pub fn new() -> Self {
        PathFilter {
            active: AtomicU32::new(0),
            copies: [Copy::empty(), Copy::empty()],
            writer: Lock::new(()),
        }
    }

    /// Sets the prefix; an empty one clears the filter. `false` (and nothing changed) if it is
    /// longer than [`MAX_PREFIX_LEN`] or contains a NUL.
    pub fn set(&self, prefix: &[u8]) -> bool {
        // Not `contains`: its memchr links core::fmt into the kext (see `rustkext_abi::is_utf8`).
        #[allow(clippy::manual_contains)]
        if prefix.len() > MAX_PREFIX_LEN || prefix.iter().any(|&b| b == 0) {
            return false;
        }
        self.writer.with(|_| {
            let next = self.active.load(Ordering::Relaxed) ^ 1;
            if let Some(copy) = self.copies.get(next as usize) {
                copy.write(prefix);
                self.active.store(next, Ordering::Release);
            }
        });
        true
    }

    /// Clears the filter.
    pub fn clear(&self) {
        self.set(&[]);
    }

    /// Copies the current prefix into `out` and returns its length (0 = no filter), or `None` if
    /// a writer kept it busy. Never blocks.
    pub fn read(&self, out: &mut [u8; PATH_FILTER_SIZE]) -> Option<usize> {
        self.read_consistent(|len, words| {
            for (chunk, word) in out.chunks_mut(8).zip(words.iter()) {
                for (dst, src) in chunk
                    .iter_mut()
                    .zip(word.load(Ordering::Relaxed).to_le_bytes())
                {
                    *dst = src;
                }
            }
            len
        })
    }

    /// The verdict for an event with up to two paths. Only bytes up to the first mismatch with
    /// the prefix (at most the prefix length, never past the NUL) are read.
    #[inline]
    pub fn check(&self, paths: [Option<KPath<'_>>; 2]) -> Verdict {
        self.read_consistent(|len, words| {
            if len == 0 {
                return Verdict::NoFilter;
            }
            let matched = paths.iter().flatten().any(|&p| starts_with(p, len, words));
            if matched {
                Verdict::Match
            } else {
                Verdict::NoMatch
            }
        })
        .unwrap_or(Verdict::NoMatch)
    }

    /// Runs `read` (length, words) on the active copy inside the sequence-lock read protocol;
    /// `None` after [`READ_ATTEMPTS`] attempts that all overlapped a write of the copy they read.
    #[inline]
    fn read_consistent<R>(
        &self,
        mut read: impl FnMut(usize, &[AtomicU64; WORDS]) -> R,
    ) -> Option<R> {
        let mut copy = self.active.load(Ordering::Acquire) as usize;
        for _ in 0..READ_ATTEMPTS {
            if let Some(result) = self.copies.get(copy).and_then(|c| c.read(&mut read)) {
                return Some(result);
            }
            // A write of this copy began, so a write of the other one completed before it (the
            // writer fills a copy only after making the other one active), and the failed read
            // synchronized with that begin: read the other copy, no need to look at the index.
            copy ^= 1;
            core::hint::spin_loop();
        }
        None
    }
}

impl Default for PathFilter {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `path` starts with the `len` prefix bytes held in `words`. One loop over the bytes,
/// shifting each word down as it goes (a loop per word would be unrolled eight times: it was a
/// quarter of the kauth callback's code).
#[inline]
fn starts_with(path: KPath<'_>, len: usize, words: &[AtomicU64; WORDS]) -> bool {
    let mut bytes = path.bytes();
    let mut word = 0;
    for i in 0..len {
        if i % 8 == 0 {
            let Some(next) = words.get(i / 8) else {
                break;
            };
            word = next.load(Ordering::Relaxed);
        }
        if bytes.next() != Some(word as u8) {
            return false;
        }
        word >>= 8;
    }
    true
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    use std::ffi::CString;
    use std::vec::Vec;

    fn check(filter: &PathFilter, paths: &[&str]) -> Verdict {
        let owned: Vec<CString> = paths.iter().map(|p| CString::new(*p).unwrap()).collect();
        let mut kpaths = [None, None];
        for (slot, s) in kpaths.iter_mut().zip(owned.iter()) {
            *slot = Some(KPath::from_cstr(s));
        }
        filter.check(kpaths)
    }

    #[test]
    fn no_filter_until_set_and_after_clear() {
        let filter = PathFilter::new();
        assert_eq!(check(&filter, &["/a"]), Verdict::NoFilter);
        assert!(filter.set(b"/a"));
        assert_eq!(check(&filter, &["/a"]), Verdict::Match);
        filter.clear();
        assert_eq!(check(&filter, &["/a"]), Verdict::NoFilter);
    }

    #[test]
    fn byte_prefix_match_of_either_path() {
        let filter = PathFilter::new();
        assert!(filter.set(b"/Users/alice/"));
        assert_eq!(check(&filter, &["/Users/alice/notes.txt"]), Verdict::Match);
        assert_eq!(check(&filter, &["/Users/alice/"]), Verdict::Match);
        assert_eq!(
            check(&filter, &["/Users/alice"]),
            Verdict::NoMatch,
            "shorter path"
        );
        assert_eq!(check(&filter, &["/Users/alicia/x"]), Verdict::NoMatch);
        assert_eq!(
            check(&filter, &["/tmp/x", "/Users/alice/y"]),
            Verdict::Match,
            "second path"
        );
        assert_eq!(
            check(&filter, &[]),
            Verdict::NoMatch,
            "null paths never match"
        );
        assert_eq!(check(&filter, &[""]), Verdict::NoMatch);
    }

    #[test]
    fn prefixes_crossing_word_boundaries_and_the_maximum_length() {
        let filter = PathFilter::new();
        for len in [1usize, 7, 8, 9, 15, 16, 17, 200, MAX_PREFIX_LEN] {
            let prefix: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(filter.set(&prefix));
            let mut path = prefix.clone();
            path.extend_from_slice(b"/tail");
            let path = std::string::String::from_utf8(path).unwrap();
            assert_eq!(check(&filter, &[&path]), Verdict::Match, "len {len}");
            let mut wrong = prefix.clone();
            *wrong.last_mut().unwrap() = b'#';
            let wrong = std::string::String::from_utf8(wrong).unwrap();
            assert_eq!(check(&filter, &[&wrong]), Verdict::NoMatch, "len {len}");
            let mut out = [0u8; PATH_FILTER_SIZE];
            assert_eq!(filter.read(&mut out), Some(len));
            assert_eq!(&out[..len], &prefix[..]);
            assert!(
                out[len..].iter().all(|&b| b == 0),
                "shorter prefix leaves no stale bytes"
            );
        }
    }

    #[test]
    fn too_long_or_nul_prefixes_change_nothing() {
        let filter = PathFilter::new();
        assert!(filter.set(b"/keep"));
        assert!(!filter.set(&[b'a'; MAX_PREFIX_LEN + 1]));
        assert!(!filter.set(b"/a\0b"));
        let mut out = [0u8; PATH_FILTER_SIZE];
        assert_eq!(filter.read(&mut out), Some(5));
        assert_eq!(&out[..5], b"/keep");
    }

    #[test]
    fn a_writer_preempted_mid_write_does_not_disturb_readers() {
        let filter = PathFilter::new();
        assert!(filter.set(b"/a"));
        // A writer stopped half-way through the next rewrite leaves the inactive copy odd.
        let inactive = &filter.copies[(filter.active.load(Ordering::Relaxed) ^ 1) as usize];
        let seq = inactive.seq.load(Ordering::Relaxed);
        inactive.seq.store(seq + 1, Ordering::Relaxed);
        assert_eq!(check(&filter, &["/a/b"]), Verdict::Match);
        inactive.seq.store(seq, Ordering::Relaxed);
    }

    #[test]
    fn a_reader_losing_every_attempt_gives_up_instead_of_blocking() {
        let filter = PathFilter::new();
        assert!(filter.set(b"/a"));
        // What a reader sees when both copies keep being rewritten under it.
        let seqs: Vec<u32> = filter
            .copies
            .iter()
            .map(|c| c.seq.load(Ordering::Relaxed))
            .collect();
        for (copy, seq) in filter.copies.iter().zip(&seqs) {
            copy.seq.store(seq | 1, Ordering::Relaxed);
        }
        assert_eq!(check(&filter, &["/a/b"]), Verdict::NoMatch);
        let mut out = [0u8; PATH_FILTER_SIZE];
        assert_eq!(filter.read(&mut out), None);
        for (copy, seq) in filter.copies.iter().zip(&seqs) {
            copy.seq.store(*seq, Ordering::Relaxed);
        }
        assert_eq!(check(&filter, &["/a/b"]), Verdict::Match);
    }

    proptest::proptest! {
        #[test]
        fn check_is_a_byte_prefix_test(
            prefix in proptest::collection::vec(1u8..=255, 0..40),
            path in proptest::collection::vec(1u8..=255, 0..60),
            share in 0usize..40,
        ) {
            // Paths that share a random part of the prefix, then anything.
            let mut path_bytes: Vec<u8> = prefix.iter().copied().take(share).collect();
            path_bytes.extend_from_slice(&path);
            let filter = PathFilter::new();
            proptest::prop_assert!(filter.set(&prefix));
            let c_path = CString::new(path_bytes.clone()).unwrap();
            let verdict = filter.check([Some(KPath::from_cstr(&c_path)), None]);
            let expected = if prefix.is_empty() {
                Verdict::NoFilter
            } else if path_bytes.starts_with(&prefix) {
                Verdict::Match
            } else {
                Verdict::NoMatch
            };
            proptest::prop_assert_eq!(verdict, expected);
        }
    }

    #[test]
    fn readers_never_see_a_torn_prefix() {
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering as Std};
        use std::sync::Arc;
        // Two prefixes of different lengths and bytes; a reader must always see one of them.
        const ROUNDS: u32 = 5_000;
        let a: Vec<u8> = std::vec![b'a'; 700];
        let b: Vec<u8> = std::vec![b'b'; 300];
        let filter = Arc::new(PathFilter::new());
        assert!(filter.set(&a));
        let completed = Arc::new(AtomicU32::new(0));
        let done = Arc::new(AtomicBool::new(false));
        // After each pair of writes the writer waits for one completed read, so reads both
        // overlap writes and complete, however the two threads are scheduled.
        let writer = {
            let (filter, completed, done) = (filter.clone(), completed.clone(), done.clone());
            let (a, b) = (a.clone(), b.clone());
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    assert!(filter.set(&b));
                    assert!(filter.set(&a));
                    let seen = completed.load(Std::Acquire);
                    // Bounded: a reader that died of a torn read fails the test on its own.
                    for _ in 0..100_000_000u64 {
                        if completed.load(Std::Acquire) != seen {
                            break;
                        }
                        std::thread::yield_now();
                    }
                }
                done.store(true, Std::Release);
            })
        };
        let mut out = [0u8; PATH_FILTER_SIZE];
        while !done.load(Std::Acquire) {
            if let Some(len) = filter.read(&mut out) {
                let seen = &out[..len];
                assert!(
                    seen == &a[..] || seen == &b[..],
                    "torn read of length {len}"
                );
                assert!(out[len..].iter().all(|&x| x == 0));
                completed.fetch_add(1, Std::Release);
            }
        }
        writer.join().unwrap();
        let completed = completed.load(Std::Acquire);
        assert!(completed >= ROUNDS, "only {completed} reads completed");
    }
}
