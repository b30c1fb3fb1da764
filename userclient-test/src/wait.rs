//! Bounded waiting: every wait in the harness has a limit.

use std::time::{Duration, Instant};

/// Polls `probe` every `every` until it returns `Some`, at most `bound`.
pub fn poll<T>(
    bound: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if start.elapsed() >= bound {
            return None;
        }
        std::thread::sleep(every);
    }
}
