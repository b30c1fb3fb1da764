//! File operations in a fresh directory: the Stats counters must grow by the FILEOP events those
//! operations cause, and the path filter must count exactly the events under its prefix.

use super::{ensure, Ctx, Step, Stop};
use crate::fileops::{self, FileEvent, FileOp};
use rustkext_monitor_api::{PathPrefix, Stats, EVENT_SLOTS, EVENT_SLOT_OTHER, FILEOP_ACTION_FIRST};
use std::path::Path;

/// The Stats slot of a FILEOP action.
fn slot(action: i32) -> usize {
    usize::try_from(action)
        .ok()
        .and_then(|a| a.checked_sub(FILEOP_ACTION_FIRST))
        .filter(|i| *i < EVENT_SLOT_OTHER)
        .unwrap_or(EVENT_SLOT_OTHER)
}

fn expected_events(events: &[FileEvent]) -> [u64; EVENT_SLOTS] {
    let mut counts = [0u64; EVENT_SLOTS];
    for e in events {
        counts[slot(e.action)] += 1;
    }
    counts
}

/// Events the filter counts: those with a path that starts with `prefix` (bytes, as the kext
/// compares).
fn expected_matches(events: &[FileEvent], prefix: &Path) -> u64 {
    let prefix = prefix.as_os_str().as_encoded_bytes();
    let under = |p: &Path| p.as_os_str().as_encoded_bytes().starts_with(prefix);
    events
        .iter()
        .filter(|e| under(&e.path) || e.second.as_deref().is_some_and(under))
        .count() as u64
}

fn deltas(before: &Stats, after: &Stats) -> [u64; EVENT_SLOTS] {
    let mut d = [0u64; EVENT_SLOTS];
    for (i, slot) in d.iter_mut().enumerate() {
        *slot = after.events[i].wrapping_sub(before.events[i]);
    }
    d
}

/// Exactly on a quiet backend; at least on a real machine, where other processes add events.
fn check(ctx: &Ctx<'_>, what: &str, seen: u64, expected: u64) -> Step<()> {
    if ctx.backend.is_quiet() {
        ensure!(seen == expected, "{what}: {seen}, expected {expected}");
    } else {
        ensure!(
            seen >= expected,
            "{what}: {seen}, expected at least {expected}"
        );
    }
    Ok(())
}

pub fn run(ctx: &Ctx<'_>) -> Step {
    ctx.require_admin()?;
    let client = ctx.open()?;
    let root = ctx.backend.file_root().map_err(Stop::Fail)?;
    let watched = root.join("watched");
    let prefix = watched
        .to_str()
        .ok_or_else(|| Stop::Fail(format!("{} is not UTF-8", watched.display())))?;
    client.set_path_filter(filter(prefix)?)?;

    let ops = fileops::plan(&root);
    let events: Vec<FileEvent> = ops.iter().flat_map(FileOp::events).collect();
    let before = client.get_stats()?;
    let done = ctx.backend.file_ops(&ops);
    let after = client.get_stats()?;
    let cleared = client.set_path_filter(filter("")?);
    done.map_err(Stop::Fail)?;
    cleared?;

    let want = expected_events(&events);
    let got = deltas(&before, &after);
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        check(ctx, &format!("events[{i}] delta"), *g, *w)?;
    }
    let matched = after.filter_matched.wrapping_sub(before.filter_matched);
    let want_matched = expected_matches(&events, &watched);
    check(ctx, "filter_matched delta", matched, want_matched)?;
    ensure!(
        want_matched < events.len() as u64,
        "the plan has no activity outside the filter"
    );

    // With the filter cleared, activity must not count as matched.
    let second = ctx.backend.file_root().map_err(Stop::Fail)?;
    let again = [
        FileOp::MakeDir(second.clone()),
        FileOp::Write(second.join("d")),
        FileOp::Delete(second.join("d")),
        FileOp::RemoveDir(second),
    ];
    let before2 = client.get_stats()?;
    ctx.backend.file_ops(&again).map_err(Stop::Fail)?;
    let after2 = client.get_stats()?;
    let matched2 = after2.filter_matched.wrapping_sub(before2.filter_matched);
    ensure!(
        matched2 == 0,
        "filter cleared, yet filter_matched grew by {matched2}"
    );

    Ok(format!(
        "{} operations under {}: event deltas {:?} (expected {:?}), filter matched {matched} of {} events (expected {want_matched}); none after clearing",
        ops.len(),
        root.display(),
        got,
        want,
        events.len()
    ))
}

/// The SetPathFilter input for `prefix` (refused here as the kernel would: too long, a NUL).
fn filter(prefix: &str) -> Result<PathPrefix<{ rustkext_monitor_api::PATH_FILTER_SIZE }>, Stop> {
    PathPrefix::new(prefix.as_bytes())
        .map_err(|_| Stop::Fail(format!("path prefix {prefix:?} does not fit the filter")))
}
