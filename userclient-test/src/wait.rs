//! Bounded waiting: every wait in the harness has a limit, and tells its caller how long it has
//! lasted. Waits never print: the caller's progress callback decides whether anybody hears of it
//! (the command line prints at most a line per [`PROGRESS_EVERY`] on stderr, through a
//! [`Throttle`]).

use std::time::{Duration, Instant};

/// How often, at most, the command line reports a wait that is still going on.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Called with how long a wait has lasted so far, after each look that did not end it.
pub type Progress<'a> = &'a mut dyn FnMut(Duration);

/// Polls `probe` every `every` until it returns `Some`, at most `bound`; tells `progress` how long
/// it has waited after each unsuccessful look.
pub fn poll<T>(
    bound: Duration,
    every: Duration,
    progress: Progress<'_>,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        let waited = start.elapsed();
        if waited >= bound {
            return None;
        }
        progress(waited);
        std::thread::sleep(every);
    }
}

/// A progress callback that tells nobody.
pub fn silent(_: Duration) {}

/// At most one report per interval of host time: the first once `every` has passed since the
/// throttle started, then one per `every` after the previous report. The instants are passed
/// in, so the rule is tested without waiting.
#[derive(Clone, Copy, Debug)]
pub struct Throttle {
    every: Duration,
    last: Instant,
}

impl Throttle {
    /// A throttle whose first report is due `every` after `now`.
    pub fn new(every: Duration, now: Instant) -> Throttle {
        Throttle { every, last: now }
    }

    /// Whether a report is due at `now`; if so, the next one is due `every` later.
    pub fn due(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.last) >= self.every {
            self.last = now;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_reports_each_unsuccessful_look_and_stops_at_the_bound() {
        let mut reported = Vec::new();
        let mut looks = 0;
        let found = poll(
            Duration::from_secs(5),
            Duration::from_millis(1),
            &mut |d| reported.push(d),
            || {
                looks += 1;
                (looks == 4).then_some(looks)
            },
        );
        assert_eq!(found, Some(4));
        assert_eq!(
            reported.len(),
            3,
            "one report per look that did not end the wait"
        );
        assert!(reported.windows(2).all(|w| w[0] <= w[1]));

        let mut reports = 0;
        let none: Option<()> = poll(
            Duration::from_millis(30),
            Duration::from_millis(5),
            &mut |_| reports += 1,
            || None,
        );
        assert_eq!(none, None);
        assert!(reports >= 1);
    }

    #[test]
    fn throttle_allows_one_report_per_interval() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut t = Throttle::new(s(10), t0);
        assert!(!t.due(t0));
        assert!(!t.due(t0 + s(9)));
        assert!(t.due(t0 + s(10)));
        assert!(!t.due(t0 + s(11)));
        assert!(!t.due(t0 + s(19)));
        assert!(t.due(t0 + s(21)));
        assert!(!t.due(t0 + s(30)));
        assert!(t.due(t0 + s(31)));
        let mut every_time = Throttle::new(Duration::ZERO, t0);
        assert!(every_time.due(t0) && every_time.due(t0));
    }
}
