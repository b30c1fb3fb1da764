//! The `userclient-test` command line.

use clap::{builder::PossibleValuesParser, Parser, Subcommand};
use rustkext_monitor_api::{Monitor, PathPrefix, ABI_VERSION, EVENT_SLOTS};
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;
use userclient_test::backend::{Backend, User};
use userclient_test::client::{Client, ClientInfo, Seen};
use userclient_test::codes::Code;
use userclient_test::report::Report;
use userclient_test::scenarios::{self, Options};
use userclient_test::{connect, BackendKind};

/// Drive the RustKext user client: on the running kernel through IOKit.framework (`iokit`, macOS)
/// or on the xnu simulator (`sim`). Exit status: 0 success, 1 a failure or refusal, 2 usage.
#[derive(Debug, Parser)]
#[command(name = "userclient-test", version)]
struct Cli {
    /// Which kernel to talk to [default: iokit on macOS, sim elsewhere]
    #[arg(long, value_enum, global = true)]
    backend: Option<BackendKind>,
    /// The kext's bundle identifier (for unload and loaded checks; the simulator ignores it)
    #[arg(long, global = true, default_value = <dyn Monitor>::BUNDLE_ID)]
    bundle_id: String,
    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Whether the kext is loaded; open clients, unload pending, ABI version
    Status,
    /// Ping: the driver answers VALUE + 1
    Ping {
        #[arg(default_value_t = 1)]
        value: u64,
    },
    /// The driver's ABI version (major, minor, patch) next to the harness's
    Version,
    /// The FILEOP counters (Stats)
    Stats,
    /// Zero the event counters (ResetStats; administrator)
    Reset,
    /// Count only events under PATH as matched (SetPathFilter; administrator); "" clears it
    Filter {
        /// Path prefix, at most 1023 bytes of UTF-8
        path: String,
    },
    /// Open a client and keep it open (until killed, or for --seconds)
    HoldOpen {
        /// Close after this many seconds
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Unload the kext (kmutil unload -b, or kextunload -b) and report the kernel's answer
    Unload,
    /// Run a scenario, or all of them in order (autounload last: it unloads the kext)
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

/// What a command prints and how it exits.
struct Done {
    ok: bool,
    text: String,
    json: serde_json::Value,
}

/// Started as `kmutil`/`kextunload`/`kextstat` (the simulated kernel's tools directory links them
/// here), or with the hidden server subcommand: not the harness's command line.
fn dispatch_simulator_roles() -> Option<ExitCode> {
    let mut args = std::env::args_os();
    let argv0 = args.next()?;
    if iokitlib_sim::tools::tool_name(&argv0).is_some() {
        let argv = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let status = iokitlib_sim::tools::main(argv);
        return Some(ExitCode::from(u8::try_from(status).unwrap_or(1)));
    }
    if args.next()? != iokitlib_sim::client::SERVER_SUBCOMMAND {
        return None;
    }
    let rest: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    #[cfg(feature = "sim")]
    let status = iokitlib_sim::server::main(&rest);
    #[cfg(not(feature = "sim"))]
    let status = {
        let _ = rest;
        eprintln!("userclient-test: built without the `sim` feature: no simulated kernel");
        1
    };
    Some(ExitCode::from(u8::try_from(status).unwrap_or(1)))
}

fn main() -> ExitCode {
    if let Some(code) = dispatch_simulator_roles() {
        return code;
    }
    let cli = Cli::parse();
    let kind = cli.backend.unwrap_or_else(BackendKind::native);
    let result = connect(kind, &cli.bundle_id)
        .and_then(|backend| execute(&cli, backend.as_ref()))
        .and_then(|done| no_kernel_violations(kind).map(|()| done));
    match result {
        Ok(done) => {
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&done.json).unwrap_or_default()
                );
            } else {
                print!("{}", done.text);
            }
            if done.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(why) => {
            if cli.json {
                println!("{}", json!({ "error": why }));
            } else {
                eprintln!("userclient-test: {why}");
            }
            ExitCode::from(1)
        }
    }
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

fn refused(r: impl Into<userclient_test::client::Refused>) -> String {
    r.into().to_string()
}

fn execute(cli: &Cli, backend: &dyn Backend) -> Result<Done, String> {
    let seen = Seen::default();
    let open = || Client::open(backend, &seen, User::Current).map_err(refused);
    let done = |text: String, json| {
        Ok(Done {
            ok: true,
            text,
            json,
        })
    };
    match &cli.command {
        Command::Status => status(cli, backend),
        Command::Ping { value } => {
            let answer = open()?.ping(*value).map_err(refused)?;
            done(
                format!("Ping({value}) = {answer}\n"),
                json!({ "value": value, "answer": answer }),
            )
        }
        Command::Version => {
            let [major, minor, patch] = open()?.get_version().map_err(refused)?;
            let ours = (ABI_VERSION[0], ABI_VERSION[1], ABI_VERSION[2]);
            Ok(Done {
                ok: major == ours.0,
                text: format!(
                    "driver ABI {major}.{minor}.{patch}, harness ABI {}.{}.{}{}\n",
                    ours.0,
                    ours.1,
                    ours.2,
                    if major == ours.0 {
                        ""
                    } else {
                        " (incompatible major version)"
                    }
                ),
                json: json!({ "driver": [major, minor, patch], "harness": [ours.0, ours.1, ours.2] }),
            })
        }
        Command::Stats => {
            let s = open()?.get_stats().map_err(refused)?;
            const NAMES: [&str; EVENT_SLOTS] = [
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
            let mut text = format!("Stats v{} ({} bytes)\n", s.version, s.size);
            let mut events = serde_json::Map::new();
            for (name, n) in NAMES.iter().zip(s.events.iter()) {
                text.push_str(&format!("  {name:<12} {n}\n"));
                events.insert((*name).into(), json!(n));
            }
            text.push_str(&format!(
                "  filter_matched {}\n  peak_in_flight {}\n",
                s.filter_matched, s.peak_in_flight
            ));
            done(
                text,
                json!({ "version": s.version, "size": s.size, "events": events,
                        "filter_matched": s.filter_matched,
                        "peak_in_flight": s.peak_in_flight }),
            )
        }
        Command::Reset => {
            open()?.reset_stats().map_err(refused)?;
            done("counters reset\n".into(), json!({ "reset": true }))
        }
        Command::Filter { path } => {
            let prefix = PathPrefix::new(path.as_bytes())
                .map_err(|_| format!("path prefix {path:?}: at most 1023 bytes of UTF-8 without NUL"))?;
            open()?.set_path_filter(prefix).map_err(refused)?;
            let text = if path.is_empty() {
                "filter cleared\n".into()
            } else {
                format!("filter set to {path:?}\n")
            };
            done(text, json!({ "filter": path }))
        }
        Command::HoldOpen { seconds } => {
            let client = open()?;
            let info = ClientInfo::from(client.get_client_info().map_err(refused)?);
            // The crash-cleanup scenario waits for this line before it kills the process.
            println!(
                "holding client {} (pid {})",
                info.client_id,
                std::process::id()
            );
            let _ = std::io::stdout().flush();
            match seconds {
                Some(s) => std::thread::sleep(Duration::from_secs(*s)),
                None => loop {
                    std::thread::sleep(Duration::from_secs(3600));
                },
            }
            let code = client.close();
            done(
                format!("closed client {}: {}\n", info.client_id, Code(code)),
                json!({ "client_id": info.client_id, "close": Code(code) }),
            )
        }
        Command::Unload => {
            let answer = backend.request_unload()?;
            let verdict = match (answer.unloaded, answer.code) {
                (true, _) => "unloaded".to_string(),
                (false, Some(code)) => format!("refused with {}", Code(code)),
                (false, None) => "refused (no code in the tool's output)".to_string(),
            };
            Ok(Done {
                ok: answer.unloaded,
                text: format!("unload {}: {verdict}\n{}", cli.bundle_id, answer.text),
                json: json!({ "bundle_id": cli.bundle_id, "unloaded": answer.unloaded,
                              "code": answer.code.map(Code), "output": answer.text }),
            })
        }
        Command::Scenario {
            name,
            clients,
            calls,
            unload_timeout,
        } => {
            let opts = Options {
                clients: *clients,
                calls: *calls,
                unload_bound: Duration::from_secs(*unload_timeout),
                ..Options::default()
            };
            let selected: Vec<_> = if name == "all" {
                scenarios::ALL.iter().collect()
            } else {
                scenarios::find(name).into_iter().collect()
            };
            let outcomes = selected
                .into_iter()
                .map(|s| scenarios::run(backend, &opts, s))
                .collect();
            let report = Report::new(backend.name(), &cli.bundle_id, outcomes);
            Ok(Done {
                ok: report.exit_code() == 0,
                text: report.to_text(),
                json: serde_json::to_value(&report).map_err(|e| e.to_string())?,
            })
        }
    }
}

fn status(cli: &Cli, backend: &dyn Backend) -> Result<Done, String> {
    let seen = Seen::default();
    let loaded = backend.is_loaded();
    let mut text = format!(
        "backend {}, kext {}: {}\n",
        backend.name(),
        cli.bundle_id,
        match &loaded {
            Ok(true) => "loaded".to_string(),
            Ok(false) => "not loaded".to_string(),
            Err(e) => format!("unknown ({e})"),
        }
    );
    let client = Client::open(backend, &seen, User::Current);
    let (ok, details) = match &client {
        Ok(c) => match (c.get_client_info().map(ClientInfo::from), c.get_version()) {
            (Ok(info), Ok([v0, v1, v2])) => {
                let v = (v0, v1, v2);
                text.push_str(&format!(
                    "service {}: open clients {} (this one included), unload pending: {}, ABI {}.{}.{}\n",
                    <dyn Monitor>::SERVICE_CLASS,
                    info.open_clients,
                    if info.unload_pending { "yes" } else { "no" },
                    v.0,
                    v.1,
                    v.2
                ));
                (true, json!({ "client_info": info, "abi": [v.0, v.1, v.2] }))
            }
            (Err(r), _) | (_, Err(r)) => {
                let r = userclient_test::client::Refused::from(r);
                text.push_str(&format!("service: {r}\n"));
                (false, json!({ "error": r.to_string() }))
            }
        },
        Err(r) => {
            text.push_str(&format!("service {}: {r}\n", <dyn Monitor>::SERVICE_CLASS));
            (false, json!({ "error": r.to_string() }))
        }
    };
    Ok(Done {
        ok: ok && matches!(loaded, Ok(true)),
        text,
        json: json!({ "backend": backend.name(), "bundle_id": cli.bundle_id,
                      "loaded": loaded.as_ref().ok(), "service": details }),
    })
}
