//! The monitor's `Stats` as the command line shows them: the names of the counters, the change
//! between two samples, and `stats --watch`'s loop.

use rustkext_monitor_api::{Stats, EVENT_SLOTS, FILEOP_ACTION_FIRST};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The names of `Stats::events`, by slot: FILEOP action `slot + FILEOP_ACTION_FIRST`
/// (`KAUTH_FILEOP_OPEN` = 1 ... `KAUTH_FILEOP_WILL_RENAME` = 8), then every other action.
pub const EVENT_NAMES: [&str; EVENT_SLOTS] = [
    "open",
    "close",
    "rename",
    "exchange",
    "link",
    "exec",
    "delete",
    "will_rename",
    "other",
];

/// The FILEOP action number of an event name (`other` has none).
pub fn action_of(name: &str) -> Option<i32> {
    let slot = EVENT_NAMES[..EVENT_SLOTS - 1]
        .iter()
        .position(|n| *n == name)?;
    i32::try_from(slot + FILEOP_ACTION_FIRST).ok()
}

/// Every counter of `Stats` (the events by name, then `filter_matched`), with its value.
pub fn counters(s: &Stats) -> Vec<(&'static str, u64)> {
    EVENT_NAMES
        .iter()
        .copied()
        .zip(s.events.iter().copied())
        .chain([("filter_matched", s.filter_matched)])
        .collect()
}

/// The counters that differ between two samples: `(name, before, after)`.
pub fn changes(before: &Stats, after: &Stats) -> Vec<(&'static str, u64, u64)> {
    counters(before)
        .into_iter()
        .zip(counters(after))
        .filter(|((_, b), (_, a))| a != b)
        .map(|((name, b), (_, a))| (name, b, a))
        .collect()
}

/// What the counters did between two samples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delta {
    /// How much each counter grew, in [`counters`] order. After a reset, the count since it.
    pub counters: Vec<(&'static str, u64)>,
    /// A counter went down: `ResetStats` ran in between, so the deltas are the counts since
    /// the reset (a lower bound of the interval's events).
    pub reset: bool,
}

impl Delta {
    pub fn between(before: &Stats, after: &Stats) -> Delta {
        let (b, a) = (counters(before), counters(after));
        let reset = b.iter().zip(&a).any(|((_, b), (_, a))| a < b);
        let counters = b
            .iter()
            .zip(&a)
            .map(|((name, b), (_, a))| (*name, if reset { *a } else { a - b }))
            .collect();
        Delta { counters, reset }
    }

    /// `open +3 close +3 ... filter_matched +2`.
    pub fn text(&self) -> String {
        let parts: Vec<String> = self
            .counters
            .iter()
            .map(|(name, n)| format!("{name} +{n}"))
            .collect();
        parts.join(" ")
    }
}

/// `Stats` as JSON: `version`, `size`, `events` by name, `filter_matched`, `peak_in_flight`.
pub fn to_json(s: &Stats) -> Value {
    json!({
        "version": s.version,
        "size": s.size,
        "events": events_json(&s.events),
        "filter_matched": s.filter_matched,
        "peak_in_flight": s.peak_in_flight,
    })
}

fn events_json(events: &[u64; EVENT_SLOTS]) -> Value {
    let mut map = Map::new();
    for (name, n) in EVENT_NAMES.iter().zip(events.iter()) {
        map.insert((*name).into(), json!(n));
    }
    Value::Object(map)
}

/// `Stats` for people: the version, one counter a line.
pub fn to_text(s: &Stats) -> String {
    let mut text = format!("Stats v{} ({} bytes)\n", s.version, s.size);
    for (name, n) in counters(s) {
        text.push_str(&format!("  {name:<14} {n}\n"));
    }
    text.push_str(&format!(
        "  {:<14} {}\n",
        "peak_in_flight", s.peak_in_flight
    ));
    text
}

/// One interval of `stats --watch`.
#[derive(Clone, Debug)]
pub struct Interval {
    /// 1 for the first interval.
    pub number: u64,
    /// The interval's length (simulated time in a simulator session).
    pub length: Duration,
    pub delta: Delta,
    /// The sample at its end.
    pub stats: Stats,
}

impl Interval {
    pub fn text(&self) -> String {
        format!(
            "interval {} ({:.1} s): {}{} peak_in_flight {}\n",
            self.number,
            self.length.as_secs_f64(),
            self.delta.text(),
            if self.delta.reset {
                " (reset: counts since the reset)"
            } else {
                ""
            },
            self.stats.peak_in_flight
        )
    }

    /// The `stats-interval` document's fields.
    pub fn json(&self, simulated: bool) -> Value {
        let mut deltas = Map::new();
        for (name, n) in &self.delta.counters {
            deltas.insert((*name).into(), json!(n));
        }
        json!({
            "interval": self.number,
            "seconds": self.length.as_secs_f64(),
            "simulated_time": simulated,
            "deltas": deltas,
            "reset": self.delta.reset,
            "totals": to_json(&self.stats),
        })
    }
}

/// The state of a watch: the last sample and how many intervals have passed.
#[derive(Clone, Debug)]
pub struct Watch {
    pub every: Duration,
    /// Stop after this many intervals (`None`: until interrupted).
    pub count: Option<u64>,
    last: Stats,
    done: u64,
}

impl Watch {
    /// Starts watching from the sample `first`.
    pub fn new(every: Duration, count: Option<u64>, first: Stats) -> Watch {
        Watch {
            every,
            count,
            last: first,
            done: 0,
        }
    }

    /// The interval that ends with `sample`.
    pub fn interval(&mut self, sample: Stats, length: Duration) -> Interval {
        self.done += 1;
        let delta = Delta::between(&self.last, &sample);
        self.last = sample;
        Interval {
            number: self.done,
            length,
            delta,
            stats: sample,
        }
    }

    /// Whether every interval asked for has been shown.
    pub fn finished(&self) -> bool {
        self.count.is_some_and(|n| self.done >= n)
    }

    pub fn intervals_done(&self) -> u64 {
        self.done
    }
}

/// `stats --watch` against a running kernel: samples with `sample`, lets `pause` pass one
/// interval (a sleep on the command line), hands each interval to `show`; until `count`
/// intervals or the first error.
pub fn watch<E>(
    every: Duration,
    count: Option<u64>,
    mut sample: impl FnMut() -> Result<Stats, E>,
    mut pause: impl FnMut(Duration),
    mut show: impl FnMut(&Interval),
) -> Result<(), E> {
    let mut w = Watch::new(every, count, sample()?);
    while !w.finished() {
        let start = std::time::Instant::now();
        pause(every);
        let length = start.elapsed();
        let i = w.interval(sample()?, length);
        show(&i);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(events: [u64; EVENT_SLOTS], matched: u64) -> Stats {
        Stats {
            events,
            filter_matched: matched,
            ..Stats::default()
        }
    }

    #[test]
    fn names_follow_the_action_numbers() {
        assert_eq!(action_of("open"), Some(crate::codes::KAUTH_FILEOP_OPEN));
        assert_eq!(action_of("close"), Some(crate::codes::KAUTH_FILEOP_CLOSE));
        assert_eq!(action_of("rename"), Some(crate::codes::KAUTH_FILEOP_RENAME));
        assert_eq!(action_of("delete"), Some(crate::codes::KAUTH_FILEOP_DELETE));
        assert_eq!(
            action_of("will_rename"),
            Some(crate::codes::KAUTH_FILEOP_WILL_RENAME)
        );
        assert_eq!(action_of("other"), None);
        assert_eq!(action_of("nope"), None);
    }

    #[test]
    fn deltas_and_resets() {
        let a = stats([1, 1, 0, 0, 0, 0, 0, 0, 0], 1);
        let b = stats([4, 3, 1, 0, 0, 0, 2, 1, 0], 5);
        let d = Delta::between(&a, &b);
        assert!(!d.reset);
        assert_eq!(
            d.text(),
            "open +3 close +2 rename +1 exchange +0 link +0 exec +0 delete +2 will_rename +1 other +0 filter_matched +4"
        );
        let after_reset = stats([1, 0, 0, 0, 0, 0, 0, 0, 0], 0);
        let d = Delta::between(&b, &after_reset);
        assert!(d.reset);
        assert_eq!(d.counters[0], ("open", 1));
        assert_eq!(d.counters[9], ("filter_matched", 0));
        assert_eq!(
            changes(&a, &b)
                .iter()
                .map(|(n, _, _)| *n)
                .collect::<Vec<_>>(),
            [
                "open",
                "close",
                "rename",
                "delete",
                "will_rename",
                "filter_matched"
            ]
        );
    }

    #[test]
    fn watch_stops_after_count_and_at_the_first_error() {
        let mut n = 0;
        let mut shown = Vec::new();
        let r: Result<(), ()> = watch(
            Duration::ZERO,
            Some(3),
            || {
                n += 1;
                Ok(stats([n, 0, 0, 0, 0, 0, 0, 0, 0], 0))
            },
            |_| {},
            |i| shown.push((i.number, i.delta.counters[0].1)),
        );
        assert_eq!(r, Ok(()));
        assert_eq!(shown, [(1, 1), (2, 1), (3, 1)]);

        let mut calls = 0;
        let r = watch(
            Duration::ZERO,
            None,
            || {
                calls += 1;
                if calls < 3 {
                    Ok(Stats::default())
                } else {
                    Err("gone")
                }
            },
            |_| {},
            |_| {},
        );
        assert_eq!(r, Err("gone"));
    }
}
