//! The `path_filter` target: arbitrary prefixes and paths (0 to 1100 bytes, any bytes) against
//! the byte-prefix model, and a writer rewriting the prefix while a reader checks a path.
//!
//! The concurrent oracle. The writer counts `started` before each rewrite and `completed` after
//! it. A check that began after `c0` completions and ended before `s1` starts can only have seen
//! the prefixes written by rewrites `c0..=s1` (rewrite 0 being the one in force before): its
//! verdict must be the verdict of one of them (a verdict of none of them means a torn prefix was
//! used), except that "no match" is also allowed once `s1 - c0` reaches the documented bound
//! (filter.rs: only 4 complete rewrites during one check can make the reader give up). So a
//! rewrite between prefixes that all match the path never costs a match within the bound.

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use arbitrary::Arbitrary;
use rustkext_fuzz_model::filter::{self as model, Verdict};
use rustkext_fuzz_model::spec;

use crate::adapter::filter::{self as imp, Filter};

/// Bytes for a prefix or a path.
#[derive(Arbitrary, Clone, Debug)]
pub enum Bytes {
    /// As given.
    Given(Vec<u8>),
    /// `len % 1101` copies of a byte (long inputs without long fuzz inputs).
    Run {
        /// The byte.
        byte: u8,
        /// The length.
        len: u16,
    },
    /// A given head, a run, a given tail.
    Mixed {
        /// First.
        head: Vec<u8>,
        /// The run's byte.
        byte: u8,
        /// The run's length (modulo 1101).
        len: u16,
        /// Last.
        tail: Vec<u8>,
    },
    /// The first `cut` bytes of the filter's current prefix, then `tail`.
    FromPrefix {
        /// How much of the prefix.
        cut: u16,
        /// What follows.
        tail: Vec<u8>,
    },
}

impl Bytes {
    fn resolve(&self, prefix: &[u8]) -> Vec<u8> {
        match self {
            Bytes::Given(b) => b.clone(),
            Bytes::Run { byte, len } => vec![*byte; usize::from(*len) % 1101],
            Bytes::Mixed {
                head,
                byte,
                len,
                tail,
            } => {
                let mut b = head.clone();
                b.extend(std::iter::repeat_n(*byte, usize::from(*len) % 1101));
                b.extend_from_slice(tail);
                b
            }
            Bytes::FromPrefix { cut, tail } => {
                let mut b = prefix[..usize::from(*cut).min(prefix.len())].to_vec();
                b.extend_from_slice(tail);
                b
            }
        }
    }
}

/// One sequential operation.
#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    /// `set` with raw bytes (refused above 1023 bytes or with a NUL).
    Set(Bytes),
    /// `SetPathFilter`'s struct (`1024 + delta` bytes: the prefix, a NUL or not, the fill).
    SetStruct {
        /// The prefix part.
        prefix: Bytes,
        /// A NUL after it.
        nul: bool,
        /// Padding byte.
        fill: u8,
        /// Size relative to 1024 (mostly 0).
        delta: i8,
    },
    /// A check with up to two paths (None = NULL).
    Check(Option<Bytes>, Option<Bytes>),
    /// Read the prefix back.
    Read,
}

/// A writer and a reader at once.
#[derive(Arbitrary, Clone, Debug)]
pub struct Race {
    /// The prefixes the writer cycles through (the last one is in force first).
    pub prefixes: Vec<Bytes>,
    /// The path the reader checks.
    pub path: Bytes,
    /// Rewrites (times 2).
    pub rewrites: u8,
}

/// One input.
#[derive(Arbitrary, Clone, Debug)]
pub struct Input {
    /// Sequential operations first.
    pub ops: Vec<Op>,
    /// Then, maybe, a race.
    pub race: Option<Race>,
}

fn c_string(bytes: &[u8]) -> CString {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).expect("cut at the first NUL")
}

/// Runs one input; an error is a mismatch.
pub fn run(input: &Input) -> Result<(), String> {
    if imp::MAX_PREFIX_LEN != spec::MAX_PREFIX {
        return Err(format!(
            "longest prefix {} != {}",
            imp::MAX_PREFIX_LEN,
            spec::MAX_PREFIX
        ));
    }
    let filter = Filter::new();
    let mut prefix: Vec<u8> = Vec::new();
    for op in &input.ops {
        match op {
            Op::Set(bytes) => {
                let bytes = bytes.resolve(&prefix);
                let want = model::settable(&bytes);
                let got = filter.set(&bytes);
                if got != want {
                    return Err(format!(
                        "set of {} bytes: driver {got}, model {want}",
                        bytes.len()
                    ));
                }
                if want {
                    prefix = bytes;
                }
            }
            Op::SetStruct {
                prefix: p,
                nul,
                fill,
                delta,
            } => {
                let mut bytes = p.resolve(&prefix);
                if *nul {
                    bytes.push(0);
                }
                let size = (1024 + isize::from(*delta / 16)) as usize;
                bytes.resize(size.max(bytes.len()), *fill);
                bytes.truncate(size);
                let want = model::prefix_from_struct(&bytes).map(<[u8]>::to_vec);
                let got = imp::prefix_from_struct(&bytes);
                if got != want {
                    return Err(format!(
                        "SetPathFilter struct {bytes:?}: driver {got:?}, model {want:?}"
                    ));
                }
                if let Some(p) = want {
                    if !filter.set(&p) {
                        return Err(format!("a prefix SetPathFilter accepts is refused: {p:?}"));
                    }
                    prefix = p;
                }
            }
            Op::Check(a, b) => {
                let paths = [a, b].map(|p| p.as_ref().map(|p| p.resolve(&prefix)));
                let strings = paths.clone().map(|p| p.map(|p| c_string(&p)));
                let got = filter.check([strings[0].as_deref(), strings[1].as_deref()]);
                let bytes = strings.clone().map(|s| s.map(|s| s.into_bytes()));
                let want = model::verdict(&prefix, &[bytes[0].as_deref(), bytes[1].as_deref()]);
                if got != want {
                    return Err(format!(
                        "check {bytes:?} against {prefix:?}: driver {got:?}, model {want:?}"
                    ));
                }
            }
            Op::Read => {
                let got = filter.read();
                if got.as_ref() != Some(&prefix) {
                    return Err(format!("read: driver {got:?}, model {prefix:?}"));
                }
            }
        }
    }
    if let Some(race) = &input.race {
        self::race(&filter, &prefix, race)?;
    }
    Ok(())
}

fn race(filter: &Filter, current: &[u8], race: &Race) -> Result<(), String> {
    let mut cycle: Vec<Vec<u8>> = race
        .prefixes
        .iter()
        .take(4)
        .map(|b| b.resolve(current))
        .filter(|p| model::settable(p))
        .collect();
    if cycle.is_empty() {
        return Ok(());
    }
    let first = cycle.pop().expect("not empty");
    cycle.insert(0, first);
    // written[0] is in force first; rewrite j (1-based) writes written[j].
    let rewrites = usize::from(race.rewrites) * 2;
    let written: Vec<&[u8]> = (0..=rewrites)
        .map(|j| &cycle[j % cycle.len()][..])
        .collect();
    if !filter.set(written[0]) {
        return Err("a settable prefix was refused".into());
    }
    let path = c_string(&race.path.resolve(written[0]));
    let path_bytes = path.as_bytes();
    let (started, completed) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            for prefix in &written[1..] {
                started.fetch_add(1, SeqCst);
                filter.set(prefix);
                completed.fetch_add(1, SeqCst);
            }
        });
        let mut checks = 0u64;
        loop {
            let done = completed.load(SeqCst) as usize == rewrites;
            let c0 = completed.load(SeqCst) as usize;
            let verdict = filter.check([Some(&path), None]);
            let s1 = started.load(SeqCst) as usize;
            let candidates = &written[c0..=s1];
            let allowed = candidates
                .iter()
                .any(|p| model::verdict(p, &[Some(path_bytes)]) == verdict)
                || (verdict == Verdict::NoMatch && (s1 - c0) as u64 >= spec::FILTER_READ_ATTEMPTS);
            if !allowed {
                return Err(format!(
                    "check of {path:?} during rewrites {c0}..={s1}: {verdict:?}, but the prefixes \
                     in force then were {candidates:?}"
                ));
            }
            let c0 = completed.load(SeqCst) as usize;
            let read = filter.read();
            let s1 = started.load(SeqCst) as usize;
            let ok = match &read {
                Some(p) => written[c0..=s1].iter().any(|w| w == p),
                None => (s1 - c0) as u64 >= spec::FILTER_READ_ATTEMPTS,
            };
            if !ok {
                return Err(format!("read during rewrites {c0}..={s1}: {read:?}"));
            }
            checks += 1;
            if done && checks >= 16 {
                return Ok(());
            }
        }
    })
}
