//! The scenarios, shared by both backends. Each one returns why it passed, or a [`Stop`] with why
//! it failed (or could not run); the codes the kernel answered are collected on the way.

mod bad_input;
mod crash;
mod file_activity;
mod lifecycle;
mod privilege;
mod stress;
mod unload;

use crate::backend::{Backend, User};
use crate::client::{Client, Refused, Seen};
use crate::registry::{Properties, ServiceProperties};
use crate::report::{CodeCount, Outcome, Verdict};
use rustkext::lifecycle::ADMIN_RESERVED_CLIENTS;
use rustkext::published::key;
use rustkext::settings::Settings;
use rustkext_abi::Privilege;
use rustkext_monitor_api::{
    Stats, EVENT_KEYS, FILTER_MATCHED_KEY, SETTING_KEYS, STATS_SIZE, STATS_VERSION,
};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::wait::poll;

/// Where a scenario reports a long wait: the scenario, what it waits for, how long so far. The
/// command line prints a throttled line on stderr; [`run`] tells nobody.
pub type Reporter<'a> = &'a (dyn Fn(&str, &str, Duration) + Sync);

fn no_report(_: &str, _: &str, _: Duration) {}

/// How long the autounload scenario waits, by default, for the kext to go after the last close:
/// the kernel unloads only after 60 s of registry quiet, and a busy desktop (console-user and
/// screen-lock changes) restarts that count at every burst.
pub const UNLOAD_BOUND_SECS: u64 = 240;

/// Knobs of a run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Stress: clients, each on its own thread.
    pub clients: u32,
    /// Stress: calls per client.
    pub calls: u32,
    /// Autounload: how long to wait for the kext to go away after the last close.
    pub unload_bound: Duration,
    /// How long to wait for cleanup: the client count to drop after a kill (crash cleanup), the
    /// service to terminate itself after the last close (autounload).
    pub cleanup_bound: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clients: 8,
            calls: 10_000,
            unload_bound: Duration::from_secs(UNLOAD_BOUND_SECS),
            cleanup_bound: Duration::from_secs(10),
        }
    }
}

/// Why a scenario stopped early.
#[derive(Debug)]
pub enum Stop {
    Fail(String),
    Skip(String),
}

impl From<Refused> for Stop {
    fn from(r: Refused) -> Stop {
        Stop::Fail(r.to_string())
    }
}

impl From<rustkext_abi::client::Error> for Stop {
    fn from(e: rustkext_abi::client::Error) -> Stop {
        Refused::from(e).into()
    }
}

/// A scenario's result: why it passed, or why it stopped.
pub type Step<T = String> = Result<T, Stop>;

/// Fails the scenario with a message unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::scenarios::Stop::Fail(format!($($msg)+)));
        }
    };
}
pub(crate) use ensure;

/// What a scenario runs with.
pub struct Ctx<'a> {
    pub backend: &'a dyn Backend,
    pub opts: &'a Options,
    pub seen: Seen,
    metrics: Mutex<BTreeMap<&'static str, f64>>,
    name: &'static str,
    report: Reporter<'a>,
}

impl<'a> Ctx<'a> {
    pub fn new(backend: &'a dyn Backend, opts: &'a Options) -> Self {
        Ctx {
            backend,
            opts,
            seen: Seen::default(),
            metrics: Mutex::default(),
            name: "",
            report: &no_report,
        }
    }

    /// The progress callback of a wait for `what` ("the kext to unload"): goes to the run's
    /// reporter with the scenario's name.
    pub fn waiting(&self, what: &'static str) -> impl FnMut(Duration) + '_ {
        move |waited| (self.report)(self.name, what, waited)
    }

    /// A connection as the current user.
    pub fn open(&self) -> Result<Client<'_>, Refused> {
        Client::open(self.backend, &self.seen, User::Current)
    }

    pub fn open_as(&self, user: User) -> Result<Client<'_>, Refused> {
        Client::open(self.backend, &self.seen, user)
    }

    /// Records a measured number for the report.
    pub fn metric(&self, name: &'static str, value: f64) {
        self.metrics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, value);
    }

    /// The service's registry properties (`IORegistryEntryCreateCFProperties`; its success is
    /// tallied with the other answers of the kernel).
    pub fn properties(&self) -> Step<Properties> {
        let props = self.backend.service_properties().map_err(Stop::Fail)?;
        self.seen.note(crate::codes::kIOReturnSuccess);
        Ok(props)
    }

    /// The settings the service runs with, read from its registry properties (the
    /// personality's, by the kext's own rules): what each scenario's promises depend on.
    pub fn settings(&self) -> Step<Settings> {
        let props = self.properties()?;
        props
            .settings()
            .map_err(|why| Stop::Fail(format!("the service's configuration: {why}")))
    }

    /// Clients open now, everyone's, as the service publishes it in the registry.
    pub fn clients_open(&self) -> Step<u64> {
        let props = self.properties()?;
        props.clients_open().ok_or_else(|| {
            Stop::Fail("the service publishes no ClientsOpen in the registry".into())
        })
    }

    /// How many clients, everyone's, the table admits while the current user opens one:
    /// `max-clients`, and the administrators' reserve beyond it for an administrator.
    pub fn room(&self, settings: &Settings) -> u64 {
        let reserve = if self.backend.is_admin() {
            ADMIN_RESERVED_CLIENTS
        } else {
            0
        };
        u64::from(settings.max_clients) + u64::from(reserve)
    }

    /// The settings, or a skip when they refuse the current user every open (`admin-only` and
    /// not an administrator; the `privilege` scenario checks that refusal).
    pub fn require_open(&self) -> Step<Settings> {
        let settings = self.settings()?;
        if settings.admin_only_open && !self.backend.is_admin() {
            return Err(Stop::Skip(format!(
                "{} is set: only an administrator may open (run it with sudo)",
                SETTING_KEYS[1]
            )));
        }
        Ok(settings)
    }

    /// Whether the current user may call `Observer` methods (GetStats) under `settings`.
    pub fn may_observe(&self, settings: &Settings) -> bool {
        Privilege::Observer.allows(self.backend.is_admin(), settings.observers_for_everyone)
    }

    /// The monitor's counters as the current user can read them: `GetStats` on `client` when
    /// the configuration lets it observe, else the same counters from the registry (the
    /// `Driver` and `Framework` groups, which anyone can read), as a [`Stats`].
    pub fn counters(&self, client: &Client<'_>, settings: &Settings) -> Step<Stats> {
        if self.may_observe(settings) {
            return Ok(client.get_stats()?);
        }
        let props = self.properties()?;
        let missing =
            |what: &str| Stop::Fail(format!("the service publishes no {what} in the registry"));
        let driver = props.driver().ok_or_else(|| missing("Driver group"))?;
        let mut stats = Stats {
            version: STATS_VERSION,
            size: STATS_SIZE as u32,
            ..Stats::default()
        };
        for (slot, key) in stats.events.iter_mut().zip(EVENT_KEYS) {
            let key = key.to_str().map_err(|_| missing("UTF-8 key"))?;
            *slot = driver.number(key).ok_or_else(|| missing(key))?;
        }
        let matched = FILTER_MATCHED_KEY
            .to_str()
            .map_err(|_| missing("UTF-8 key"))?;
        stats.filter_matched = driver.number(matched).ok_or_else(|| missing(matched))?;
        let peak = key::PEAK_CALLBACKS_IN_FLIGHT
            .to_str()
            .map_err(|_| missing("UTF-8 key"))?;
        stats.peak_in_flight = props
            .framework()
            .and_then(|f| f.number(peak))
            .ok_or_else(|| missing(peak))?;
        Ok(stats)
    }

    /// Skips the scenario unless the current user is an administrator.
    pub fn require_admin(&self) -> Step<()> {
        if self.backend.is_admin() {
            Ok(())
        } else {
            Err(Stop::Skip(
                "needs an administrator (run it with sudo)".into(),
            ))
        }
    }
}

/// A named scenario.
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    run: fn(&Ctx<'_>) -> Step,
}

/// Every scenario, in the order `all` runs them: autounload last, since it unloads the kext.
pub const ALL: &[Scenario] = &[
    Scenario { name: "open-close", about: "open, call, close; wrong connection type refused", run: lifecycle::open_close },
    Scenario { name: "many-clients", about: "fill the client table; the next open is refused with kIOReturnNoResources", run: lifecycle::many_clients },
    Scenario { name: "bad-input", about: "every wrong selector, count and size is refused with kIOReturnBadArgument and changes nothing", run: bad_input::run },
    Scenario { name: "privilege", about: "administrator selectors refused to a non-administrator with kIOReturnNotPrivileged", run: privilege::run },
    Scenario { name: "file-activity", about: "file operations in a temp directory show in Stats; the path filter counts only its prefix", run: file_activity::run },
    Scenario { name: "stress", about: "N clients x M calls across threads; calls/s and p50/p99 latency", run: stress::run },
    Scenario { name: "crash-cleanup", about: "a process holding a client is killed; the client count drops", run: crash::run },
    Scenario { name: "unload-refused", about: "unload while clients are open is refused (0xe00002c7); the driver keeps serving", run: unload::refused },
    Scenario { name: "autounload", about: "after a refused unload, the last close lets the kext unload by itself", run: unload::autounload },
];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    ALL.iter().find(|s| s.name == name)
}

/// Runs one scenario.
pub fn run(backend: &dyn Backend, opts: &Options, scenario: &Scenario) -> Outcome {
    run_reporting(backend, opts, scenario, &no_report)
}

/// Runs one scenario; its long waits are reported to `report`.
pub fn run_reporting(
    backend: &dyn Backend,
    opts: &Options,
    scenario: &Scenario,
    report: Reporter<'_>,
) -> Outcome {
    let mut ctx = Ctx::new(backend, opts);
    ctx.name = scenario.name;
    ctx.report = report;
    let start = Instant::now();
    let result = (scenario.run)(&ctx);
    let seconds = start.elapsed().as_secs_f64();
    let (result, reason) = match result {
        Ok(why) => (Verdict::Pass, why),
        Err(Stop::Fail(why)) => (Verdict::Fail, why),
        Err(Stop::Skip(why)) => (Verdict::Skip, why),
    };
    Outcome {
        name: scenario.name,
        result,
        reason,
        codes: ctx
            .seen
            .counts()
            .into_iter()
            .map(|(code, count)| CodeCount { code, count })
            .collect(),
        metrics: ctx.metrics.into_inner().unwrap_or_else(|e| e.into_inner()),
        seconds,
    }
}
