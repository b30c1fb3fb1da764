//! Arguments, the run of one command line, and how it fails.

mod commands;
mod out;
#[cfg(feature = "sim")]
mod session;

use clap::{builder::PossibleValuesParser, Parser, Subcommand};
use out::{Out, StderrProgress};
use rustkext_monitor_api::Monitor;
use std::time::Duration;
use userclient_test::backend::Backend;
use userclient_test::client::Refused;
use userclient_test::codes::Code;
use userclient_test::json::{KextInfo, Run};
use userclient_test::report::Exit;
use userclient_test::scenarios;
use userclient_test::{connect, BackendKind};

/// The exit statuses, for `--help` (and the README's harness section).
const EXIT_HELP: &str = "\
Exit status:
  0  success
  1  a scenario failed (or was skipped, with --strict), or the kernel refused a call
  2  usage error: wrong arguments, a wrong line in a session script; nothing was asked of the kernel
  3  environment: no kernel to talk to (the iokit backend off macOS without its simulated
     kernel, a build without the simulator), the kext not loaded, its service not found, no
     client could be opened (not permitted, table full, another ABI), or every scenario was
     skipped (nothing tested); `userclient-test status` says what to do next";

/// Drive the RustKext user client: on the running kernel through IOKit.framework (`iokit`, macOS)
/// or on the xnu simulator (`sim`).
#[derive(Debug, Parser)]
#[command(name = "userclient-test", version, after_help = EXIT_HELP)]
pub struct Cli {
    /// Which kernel to talk to [default: iokit on macOS, sim elsewhere]
    #[arg(long, value_enum, global = true)]
    backend: Option<BackendKind>,
    /// The kext's bundle identifier (for unload and loaded checks; the simulator ignores it)
    #[arg(long, global = true, default_value = <dyn Monitor>::BUNDLE_ID)]
    bundle_id: String,
    /// Print JSON on stdout instead of text: one document, or one object per line (NDJSON) for
    /// scenario runs, `stats --watch`, hold-open and sessions; messages go to stderr
    #[arg(long, global = true)]
    json: bool,
    /// On the sim backend: the current user is a non-administrator (euid 501), as without sudo
    #[arg(long, global = true)]
    sim_non_admin: bool,
    /// Seconds between two progress lines of a long wait, on stderr (for tests)
    #[arg(long, global = true, hide = true, value_parser = parse_secs_or_zero)]
    progress_interval: Option<Duration>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Kernel(KernelCommand),
    /// Open a client and keep it open (until killed, or for --seconds)
    HoldOpen {
        /// Close after this many seconds
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// A session on one simulated kernel: commands from stdin, one a line (`#` comments); a
    /// prompt when stdin is a terminal. `help` lists the session's commands
    Shell,
    /// A session on one simulated kernel: commands from FILE (see `shell`)
    Script {
        /// One command a line, `#` comments
        file: std::path::PathBuf,
    },
}

/// The commands that talk to the kernel, one-shot and in a session.
#[derive(Debug, Subcommand)]
pub enum KernelCommand {
    /// Whether the kext is loaded; open clients, unload pending, ABI version; what to do next
    Status,
    /// Ping: the driver answers VALUE + 1
    Ping {
        #[arg(default_value_t = 1)]
        value: u64,
    },
    /// The driver's ABI version (major, minor, patch) next to the harness's
    Version,
    /// The FILEOP counters (Stats); with --watch, what changed in each interval
    Stats {
        /// Print the change of every counter each SECS seconds [default: 1] until interrupted
        /// (in a simulator session: SECS of simulated time, which `sleep` lets pass)
        #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "1", value_parser = parse_secs)]
        watch: Option<Duration>,
        /// With --watch: stop after N intervals
        #[arg(long, value_name = "N", requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
    },
    /// Zero the event counters (ResetStats; administrator)
    Reset,
    /// Count only events under PATH as matched (SetPathFilter; administrator); "" clears it
    Filter {
        /// Path prefix, at most 1023 bytes of UTF-8
        path: String,
    },
    /// This client's id, the clients open, whether an unload is pending (GetClientInfo)
    ClientInfo,
    /// Forget a refused unload request (CancelUnload; administrator)
    CancelUnload,
    /// Unload the kext (kmutil unload -b, or kextunload -b) and report the kernel's answer
    Unload,
    /// Run a scenario, or all of them in order (autounload last: it unloads the kext); each
    /// line is printed as its scenario finishes
    Scenario {
        #[arg(value_parser = scenario_names())]
        name: String,
        /// Stress: number of clients, one thread each
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
        clients: u32,
        /// Stress: calls per client
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
        calls: u32,
        /// Autounload: seconds to wait for the kext to go after the last close
        #[arg(long, default_value_t = scenarios::UNLOAD_BOUND_SECS)]
        unload_timeout: u64,
        /// Skipped scenarios fail the run (exit 1). Without it a skip is reported, not failed,
        /// and a run in which every scenario was skipped exits 3 (nothing was tested)
        #[arg(long)]
        strict: bool,
    },
}

fn scenario_names() -> PossibleValuesParser {
    let mut names = vec![clap::builder::PossibleValue::new("all").help("every scenario, in order")];
    names.extend(
        scenarios::ALL
            .iter()
            .map(|s| clap::builder::PossibleValue::new(s.name).help(s.about)),
    );
    PossibleValuesParser::new(names)
}

/// Seconds, more than 0 and at most a day; fractions allowed.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let d = parse_secs_or_zero(s)?;
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    Ok(d)
}

fn parse_secs_or_zero(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
        return Err("seconds from 0 to 86400".into());
    }
    Ok(Duration::from_secs_f64(v))
}

/// Why a command did not do what it was asked.
#[derive(Debug)]
pub enum Failure {
    /// A wrong argument or session line: nothing was asked of the kernel.
    Usage(String),
    /// No kernel, no kext, no service, no client.
    Environment(String),
    /// The kernel refused a call on an open client.
    Refused(Refused),
    /// Anything else that went wrong.
    Failed(String),
}

impl Failure {
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Usage(_) => Exit::Usage,
            Failure::Environment(_) => Exit::Environment,
            Failure::Refused(_) | Failure::Failed(_) => Exit::Failure,
        }
    }

    pub fn class(&self) -> &'static str {
        match self {
            Failure::Usage(_) => "usage",
            Failure::Environment(_) => "environment",
            Failure::Refused(_) => "refused",
            Failure::Failed(_) => "failed",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Failure::Usage(m) | Failure::Failed(m) => m.clone(),
            Failure::Environment(m) => {
                format!("{m} (`userclient-test status` says what to do next)")
            }
            Failure::Refused(r) => r.to_string(),
        }
    }

    /// The kernel's code, for a refusal.
    pub fn code(&self) -> Option<Code> {
        match self {
            Failure::Refused(r) if r.detail.is_none() => Some(Code(r.code)),
            _ => None,
        }
    }

    /// One line saying what to do next, when there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Failure::Usage(_) => Some("`userclient-test --help` lists the commands".into()),
            Failure::Environment(m) if m.contains("not privileged") || m.contains("NotPrivileged") => {
                Some("run as root (sudo)".into())
            }
            Failure::Environment(m) if m.contains("not loaded") => Some(
                "kext not loaded: load it (on macOS `./build.sh load`), then `userclient-test status`"
                    .into(),
            ),
            Failure::Refused(r) if r.code == userclient_test::codes::kIOReturnNotPrivileged => {
                Some("run as root (sudo): this call is for administrators".into())
            }
            _ => None,
        }
    }

    /// A client could not be opened: the environment, whatever the code.
    pub fn open(r: Refused) -> Failure {
        Failure::Environment(format!("no client: {r}"))
    }
}

impl From<Refused> for Failure {
    fn from(r: Refused) -> Failure {
        Failure::Refused(r)
    }
}

impl From<rustkext_abi::client::Error> for Failure {
    fn from(e: rustkext_abi::client::Error) -> Failure {
        Failure::Refused(e.into())
    }
}

/// What the commands run with.
pub struct Env<'a> {
    pub backend: &'a dyn Backend,
    pub bundle_id: &'a str,
    pub out: &'a Out,
    pub progress: &'a StderrProgress,
    /// Lets an interval pass (`stats --watch`): a sleep, or simulated time in a session.
    pub pause: &'a dyn Fn(Duration),
    /// Whether `pause` is simulated time.
    pub simulated_time: bool,
}

/// Parses the command line, runs it, prints, and says how to exit.
pub fn main() -> Exit {
    let cli = Cli::parse();
    let kind = cli.backend.unwrap_or_else(BackendKind::native);
    let streaming = match &cli.command {
        Command::Kernel(KernelCommand::Scenario { .. }) => true,
        Command::Kernel(KernelCommand::Stats { watch, .. }) => watch.is_some(),
        Command::Kernel(_) => false,
        Command::HoldOpen { .. } | Command::Shell | Command::Script { .. } => true,
    };
    let progress = StderrProgress::new(
        cli.progress_interval
            .unwrap_or(userclient_test::wait::PROGRESS_EVERY),
    );
    let kind_name = match kind {
        BackendKind::Iokit => "iokit",
        BackendKind::Sim => "sim",
    };
    let headless = |why: &str| {
        let run = cli
            .json
            .then(|| Run::new(kind_name, KextInfo::unreachable(&cli.bundle_id, why)));
        Out::new(cli.json, !streaming, run)
    };

    if let Command::Shell | Command::Script { .. } = &cli.command {
        return run_session(&cli, kind, &progress, headless);
    }

    let backend = match connect_as(kind, &cli) {
        Ok(b) => b,
        Err(why) => {
            let failure = Failure::Environment(no_kernel(kind, &why));
            return headless(&why).fail(&failure);
        }
    };
    let run = cli.json.then(|| {
        Run::new(
            backend.name(),
            KextInfo::probe(backend.as_ref(), &cli.bundle_id),
        )
    });
    let out = Out::new(cli.json, !streaming, run);
    let env = Env {
        backend: backend.as_ref(),
        bundle_id: &cli.bundle_id,
        out: &out,
        progress: &progress,
        pause: &std::thread::sleep,
        simulated_time: false,
    };
    let result = match &cli.command {
        Command::Kernel(k) => commands::run(&env, k),
        Command::HoldOpen { seconds } => commands::hold_open(&env, *seconds),
        Command::Shell | Command::Script { .. } => unreachable!("sessions are run above"),
    };
    let result = result.and_then(|exit| {
        no_kernel_violations(kind)
            .map(|()| exit)
            .map_err(Failure::Failed)
    });
    match result {
        Ok(exit) => exit,
        Err(f) => out.fail(&f),
    }
}

/// The backend, with the simulator's current user as asked.
fn connect_as(
    kind: BackendKind,
    cli: &Cli,
) -> Result<Box<dyn userclient_test::backend::Backend>, String> {
    if !cli.sim_non_admin {
        return connect(kind, &cli.bundle_id);
    }
    #[cfg(feature = "sim")]
    if kind == BackendKind::Sim {
        return Ok(Box::new(
            userclient_test::sim::SimBackend::boot()?.current_user_non_admin(),
        ));
    }
    Err("--sim-non-admin is for the sim backend (on the iokit backend, run without sudo)".into())
}

/// Why there is no kernel, and what to do about it.
fn no_kernel(kind: BackendKind, why: &str) -> String {
    match kind {
        BackendKind::Iokit if !cfg!(target_os = "macos") => format!(
            "{why}: the iokit backend off macOS talks to a simulated kernel in its own process \
             (the IOKitLib stand-in starts one, or XNU_SIM_SOCKET names it); on Linux \
             `--backend sim` runs everything in this process"
        ),
        _ => why.to_string(),
    }
}

#[cfg(feature = "sim")]
fn run_session(
    cli: &Cli,
    kind: BackendKind,
    progress: &StderrProgress,
    headless: impl Fn(&str) -> Out,
) -> Exit {
    let script = match &cli.command {
        Command::Script { file } => match std::fs::read_to_string(file) {
            Ok(text) => Some((file.display().to_string(), text)),
            Err(e) => {
                let f = Failure::Usage(format!("{}: {e}", file.display()));
                return headless(&f.message()).fail(&f);
            }
        },
        _ => None,
    };
    if kind != BackendKind::Sim {
        let f = Failure::Usage(
            "a session keeps one simulated kernel across commands: use --backend sim (on the \
             iokit backend every command already talks to the one running kernel)"
                .into(),
        );
        return headless(&f.message()).fail(&f);
    }
    let sim = match userclient_test::sim::SimBackend::boot() {
        Ok(sim) if cli.sim_non_admin => sim.current_user_non_admin(),
        Ok(sim) => sim,
        Err(why) => return headless(&why).fail(&Failure::Environment(why.clone())),
    };
    let run = cli
        .json
        .then(|| Run::new("sim", KextInfo::probe(&sim, &cli.bundle_id)));
    let out = Out::new(cli.json, false, run);
    session::run(&sim, &cli.bundle_id, &out, progress, script)
}

#[cfg(not(feature = "sim"))]
fn run_session(
    _: &Cli,
    _: BackendKind,
    _: &StderrProgress,
    headless: impl Fn(&str) -> Out,
) -> Exit {
    let f = Failure::Environment("built without the `sim` feature: no simulated kernel".into());
    headless(&f.message()).fail(&f)
}

/// Kernel rules the driver broke fail the command, as they fail the simulator backend (a
/// `Kernel` dropped with violations panics): the iokit backend asks its kernel (on macOS there
/// is nobody to ask).
fn no_kernel_violations(kind: BackendKind) -> Result<(), String> {
    if kind != BackendKind::Iokit {
        return Ok(());
    }
    let violations = userclient_test::iokit::sys::kernel_violations()?;
    if violations.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the kernel recorded {} rule violation(s):\n  {}",
        violations.len(),
        violations.join("\n  ")
    ))
}
