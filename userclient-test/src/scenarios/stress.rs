//! N clients x M calls, each client on its own thread. Every answer is checked; throughput and
//! latency are reported, never asserted.

use super::{ensure, Ctx, Step};
use crate::backend::User;
use crate::client::{Client, Seen};
use std::time::{Duration, Instant};

struct ThreadResult {
    latencies: Vec<Duration>,
    wrong: Option<String>,
    /// When the thread's last call returned (the run's wall time ends at the last of them, not
    /// when the progress loop noticed).
    finished: Instant,
}

fn hammer(client: &Client<'_>, thread: u64, calls: u32) -> ThreadResult {
    let mut latencies = Vec::with_capacity(calls as usize);
    let mut wrong = None;
    for i in 0..u64::from(calls) {
        let value = (thread << 32) | i;
        let start = Instant::now();
        let answer = client.ping(value);
        latencies.push(start.elapsed());
        match answer {
            Ok(v) if v == value.wrapping_add(1) => {}
            Ok(v) => wrong = wrong.or(Some(format!("Ping({value}) answered {v}"))),
            Err(r) => wrong = wrong.or(Some(r.to_string())),
        }
    }
    ThreadResult {
        latencies,
        wrong,
        finished: Instant::now(),
    }
}

/// The `q`-quantile of sorted latencies, in microseconds.
fn quantile_us(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

pub fn run(ctx: &Ctx<'_>) -> Step {
    let (asked, m) = (ctx.opts.clients, ctx.opts.calls);
    ensure!(
        asked > 0 && m > 0,
        "stress needs at least one client and one call"
    );
    // As many clients as asked, or as the configuration leaves room for.
    let settings = ctx.require_open()?;
    let free = ctx.room(&settings).saturating_sub(ctx.clients_open()?);
    let n = u32::try_from(free).unwrap_or(u32::MAX).min(asked);
    ensure!(
        n > 0,
        "no room for a client: the table admits {} and is full",
        ctx.room(&settings)
    );
    let seens: Vec<Seen> = (0..n).map(|_| Seen::default()).collect();
    let mut clients = Vec::new();
    for seen in &seens {
        // Each thread tallies its own codes, so the tally's lock is not part of the latency.
        clients.push(Client::open(ctx.backend, seen, User::Current)?);
    }
    let wall = Instant::now();
    let results: Vec<ThreadResult> = std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(t, c)| s.spawn(move || hammer(c, t as u64, m)))
            .collect();
        // A long run is reported (the command line prints a throttled line on stderr).
        let mut progress = ctx.waiting("the stress clients to finish");
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
            progress(wall.elapsed());
        }
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or(ThreadResult {
                    latencies: vec![],
                    wrong: Some("thread panicked".into()),
                    finished: Instant::now(),
                })
            })
            .collect()
    });
    let end = results.iter().map(|r| r.finished).max().unwrap_or(wall);
    let elapsed = end.saturating_duration_since(wall);
    drop(clients);
    for seen in &seens {
        for (code, count) in seen.counts() {
            ctx.seen.add(code.0, count);
        }
    }

    if let Some(w) = results.iter().find_map(|r| r.wrong.clone()) {
        return Err(super::Stop::Fail(w));
    }
    let mut all: Vec<Duration> = results.into_iter().flat_map(|r| r.latencies).collect();
    all.sort_unstable();
    let total = all.len() as f64;
    let per_second = total / elapsed.as_secs_f64().max(1e-9);
    let (p50, p99) = (quantile_us(&all, 0.50), quantile_us(&all, 0.99));
    ctx.metric("clients", f64::from(n));
    ctx.metric("calls_per_client", f64::from(m));
    ctx.metric("calls_per_second", per_second);
    ctx.metric("p50_us", p50);
    ctx.metric("p99_us", p99);
    let capped = if n < asked {
        format!(" ({asked} asked; the table has room for {n})")
    } else {
        String::new()
    };
    Ok(format!("{n} clients x {m} calls{capped}: {per_second:.0} calls/s, p50 {p50:.1} us, p99 {p99:.1} us, every answer right"))
}
