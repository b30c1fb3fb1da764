//! The FILEOP hot path (enter, filter check, count, exit) with 1 and 2 threads, for the RustKext
//! design (sharded gate + seqlock filter) and two baselines doing the same work in the same
//! process: one `Mutex` held for the whole callback, and an `RwLock` read-locked for it (the two
//! designs discussed in the seed `003_…`). Reported time = wall time per callback per thread.
//!
//! `cargo bench -p rustkext -- --warm-up-time 1 --measurement-time 3`

use std::ffi::CStr;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex, RwLock};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rustkext::abi::EVENT_SLOTS;
use rustkext::config::Config;
use rustkext::monitor::{action, event_slot};
use rustkext::Driver;

const PREFIX: &[u8] = b"/Users/alice/";
const PATH: &CStr = c"/Users/alice/Documents/report.txt";

/// One kauth FILEOP callback, as each design handles it.
trait Design: Sync {
    fn callback(&self, thread_key: usize, action: usize, path: &CStr);
}

struct Ours(Driver);

impl Design for Ours {
    #[inline]
    fn callback(&self, thread_key: usize, action: usize, path: &CStr) {
        // SAFETY: a live C string.
        unsafe {
            self.0
                .fileop(thread_key, action, [0, path.as_ptr() as usize, 0, 0])
        };
    }
}

/// What the lock-based designs protect.
struct Shared {
    closed: bool,
    prefix: [u8; 1024],
    prefix_len: usize,
}

fn matches(shared: &Shared, path: &CStr) -> bool {
    shared.prefix_len > 0
        && path
            .to_bytes()
            .starts_with(&shared.prefix[..shared.prefix_len])
}

fn shared() -> Shared {
    let mut prefix = [0u8; 1024];
    prefix[..PREFIX.len()].copy_from_slice(PREFIX);
    Shared {
        closed: false,
        prefix,
        prefix_len: PREFIX.len(),
    }
}

/// One mutex held for the whole callback; counters inside it.
struct MutexDesign(Mutex<(Shared, [u64; EVENT_SLOTS], u64, u64)>);

impl Design for MutexDesign {
    #[inline]
    fn callback(&self, _thread_key: usize, action: usize, path: &CStr) {
        let mut guard = self.0.lock().unwrap();
        let (shared, events, matched, refused) = &mut *guard;
        if shared.closed {
            *refused += 1;
            return;
        }
        let hit = matches(shared, path);
        events[event_slot(action)] += 1;
        *matched += u64::from(hit);
    }
}

/// A read lock held for the whole callback (stop takes the write lock); atomic counters.
struct RwLockDesign {
    lock: RwLock<Shared>,
    events: [AtomicU64; EVENT_SLOTS],
    matched: AtomicU64,
    refused: AtomicU64,
}

impl Design for RwLockDesign {
    #[inline]
    fn callback(&self, _thread_key: usize, action: usize, path: &CStr) {
        let shared = self.lock.read().unwrap();
        if shared.closed {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let hit = matches(&shared, path);
        self.events[event_slot(action)].fetch_add(1, Ordering::Relaxed);
        if hit {
            self.matched.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn thread_key() -> usize {
    thread_local!(static KEY: u8 = const { 0 });
    KEY.with(|k| k as *const u8 as usize)
}

/// Runs `iters` callbacks on each of `threads` threads at once; returns the wall time.
fn run(design: &dyn Design, threads: usize, iters: u64) -> Duration {
    let start_line = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let key = thread_key();
                    start_line.wait();
                    for _ in 0..iters {
                        design.callback(black_box(key), black_box(action::OPEN), black_box(PATH));
                    }
                })
            })
            .collect();
        start_line.wait();
        let start = Instant::now();
        workers.into_iter().for_each(|w| w.join().unwrap());
        start.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let ours = Ours(Driver::new());
    assert!(ours.0.start(Config::default()));
    assert!(ours.0.filter().set(PREFIX));
    let mutex = MutexDesign(Mutex::new((shared(), [0; EVENT_SLOTS], 0, 0)));
    let rwlock = RwLockDesign {
        lock: RwLock::new(shared()),
        events: Default::default(),
        matched: AtomicU64::new(0),
        refused: AtomicU64::new(0),
    };
    let designs: [(&str, &dyn Design); 3] =
        [("rustkext", &ours), ("mutex", &mutex), ("rwlock", &rwlock)];

    let mut group = c.benchmark_group("fileop_hot_path");
    group.sample_size(30);
    for threads in [1usize, 2] {
        for (name, design) in designs {
            group.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
                b.iter_custom(|iters| run(design, threads, iters))
            });
        }
    }
    group.finish();

    // Every design that ran did the real work: the filter matched every callback. (A name
    // filter on the command line may have skipped some designs.)
    let stats = ours.0.stats();
    assert_eq!(stats.filter_matched, stats.events[0]);
    let locked = mutex.0.lock().unwrap();
    assert_eq!(locked.2, locked.1[0]);
    drop(locked);
    let opens = rwlock.events[0].load(Ordering::Relaxed);
    assert_eq!(rwlock.matched.load(Ordering::Relaxed), opens);
}

criterion_group!(benches, bench);
criterion_main!(benches);
