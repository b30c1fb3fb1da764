//! The commands that talk to the kernel: one-shot, and the same in a simulator session.

use super::{Env, Failure, KernelCommand};
use rustkext_monitor_api::{Monitor, PathPrefix, ABI_VERSION};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use userclient_test::backend::User;
use userclient_test::client::{Client, ClientInfo, Seen};
use userclient_test::codes::{self, Code};
use userclient_test::registry::{Properties, ServiceProperties, Value as RegistryValue};
use userclient_test::report::{Exit, Outcome, Summary};
use userclient_test::scenarios::{self, Options};
use userclient_test::stats;

/// Runs one kernel command; prints its result.
pub fn run(env: &Env<'_>, cmd: &KernelCommand) -> Result<Exit, Failure> {
    let seen = Seen::default();
    let open = || Client::open(env.backend, &seen, User::Current).map_err(Failure::open);
    let out = env.out;
    match cmd {
        KernelCommand::Status => status(env),
        KernelCommand::Ping { value } => {
            let answer = open()?.ping(*value)?;
            out.emit(
                "ping",
                &format!("Ping({value}) = {answer}\n"),
                json!({ "value": value, "answer": answer }),
            );
            Ok(Exit::Success)
        }
        KernelCommand::Version => {
            let [major, minor, patch] = open()?.get_version()?;
            let [h0, h1, h2] = ABI_VERSION;
            let compatible = major == h0;
            out.emit(
                "version",
                &format!(
                    "driver ABI {major}.{minor}.{patch}, harness ABI {h0}.{h1}.{h2}{}\n",
                    if compatible {
                        ""
                    } else {
                        " (incompatible major version)"
                    }
                ),
                json!({ "driver": [major, minor, patch], "harness_abi": ABI_VERSION,
                        "compatible": compatible }),
            );
            Ok(if compatible {
                Exit::Success
            } else {
                Exit::Failure
            })
        }
        KernelCommand::Stats { watch: None, .. } => {
            let s = open()?.get_stats()?;
            out.emit("stats", &stats::to_text(&s), stats::to_json(&s));
            Ok(Exit::Success)
        }
        KernelCommand::Stats {
            watch: Some(every),
            count,
        } => {
            let client = open()?;
            let first = client.get_stats()?;
            out.note(&format!(
                "watching the counters every {:.1} s{}{}",
                every.as_secs_f64(),
                if env.simulated_time {
                    " of simulated time"
                } else {
                    ""
                },
                match count {
                    Some(n) => format!(", {n} interval(s)"),
                    None => ", until interrupted".into(),
                }
            ));
            let mut w = stats::Watch::new(*every, *count, first);
            while !w.finished() {
                let start = Instant::now();
                (env.pause)(*every);
                let length = if env.simulated_time {
                    *every
                } else {
                    start.elapsed()
                };
                let i = w.interval(client.get_stats()?, length);
                out.emit("stats-interval", &i.text(), i.json(env.simulated_time));
            }
            Ok(Exit::Success)
        }
        KernelCommand::Reset => {
            open()?.reset_stats()?;
            out.emit("reset", "counters reset\n", json!({ "reset": true }));
            Ok(Exit::Success)
        }
        KernelCommand::Filter { path } => {
            let prefix = PathPrefix::new(path.as_bytes()).map_err(|_| {
                Failure::Usage(format!(
                    "path prefix {path:?}: at most 1023 bytes of UTF-8 without NUL"
                ))
            })?;
            open()?.set_path_filter(prefix)?;
            let text = if path.is_empty() {
                "filter cleared\n".to_string()
            } else {
                format!("filter set to {path:?}\n")
            };
            out.emit("filter", &text, json!({ "filter": path }));
            Ok(Exit::Success)
        }
        KernelCommand::ClientInfo => {
            let info = ClientInfo::from(open()?.get_client_info()?);
            out.emit(
                "client-info",
                &format!(
                    "client {}: open clients {} (this one included), unload pending: {}\n",
                    info.client_id,
                    info.open_clients,
                    yes_no(info.unload_pending)
                ),
                json!({ "client_info": info }),
            );
            Ok(Exit::Success)
        }
        KernelCommand::CancelUnload => {
            open()?.cancel_unload()?;
            out.emit(
                "cancel-unload",
                "unload request cancelled\n",
                json!({ "cancelled": true }),
            );
            Ok(Exit::Success)
        }
        KernelCommand::Unload => {
            let answer = env.backend.request_unload().map_err(Failure::Environment)?;
            let verdict = match (answer.unloaded, answer.code) {
                (true, _) => "unloaded".to_string(),
                (false, Some(code)) => format!("refused with {}", Code(code)),
                (false, None) => "refused (no code in the tool's output)".to_string(),
            };
            out.emit(
                "unload",
                &format!("unload {}: {verdict}\n{}", env.bundle_id, answer.text),
                json!({ "bundle_id": env.bundle_id, "unloaded": answer.unloaded,
                        "code": answer.code.map(Code), "output": answer.text }),
            );
            if answer.unloaded {
                return Ok(Exit::Success);
            }
            if let Some(hint) = unload_hint(answer.code) {
                out.note(&format!("hint: {hint}"));
            }
            Ok(Exit::Failure)
        }
        KernelCommand::Scenario {
            name,
            clients,
            calls,
            unload_timeout,
            strict,
        } => {
            let opts = Options {
                clients: *clients,
                calls: *calls,
                unload_bound: Duration::from_secs(*unload_timeout),
                ..Options::default()
            };
            let selected: Vec<&scenarios::Scenario> = if name == "all" {
                scenarios::ALL.iter().collect()
            } else {
                scenarios::find(name).into_iter().collect()
            };
            if selected.is_empty() {
                return Err(Failure::Usage(format!("no scenario called {name:?}")));
            }
            let width = selected.iter().map(|s| s.name.len()).max().unwrap_or(0);
            let progress = env.progress;
            let report = move |s: &str, what: &str, d: Duration| progress.report(s, what, d);
            let mut outcomes: Vec<Outcome> = Vec::new();
            for s in selected {
                let o = scenarios::run_reporting(env.backend, &opts, s, &report);
                emit_outcome(env, &o, width);
                outcomes.push(o);
            }
            let summary = Summary::of(&outcomes, *strict);
            out.emit(
                "summary",
                &summary.text(),
                json!({
                    "passed": summary.passed,
                    "failed": summary.failed,
                    "skipped": summary.skipped,
                    "strict": summary.strict,
                    "result": summary.result(),
                    "exit": summary.exit().code(),
                }),
            );
            Ok(summary.exit())
        }
    }
}

/// One scenario's line (and its hint) as soon as it finished.
fn emit_outcome(env: &Env<'_>, o: &Outcome, width: usize) {
    let hint = o.hint();
    let mut text = o.line(width);
    text.push('\n');
    if let Some(h) = &hint {
        text.push_str(&format!("  hint: {h}\n"));
    }
    let mut fields = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut fields {
        map.insert("hint".into(), json!(hint));
    }
    env.out.emit("scenario", &text, fields);
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn unload_hint(code: Option<i32>) -> Option<&'static str> {
    match code? {
        c if c == codes::kOSKextReturnInUse || c == 0xe00002c7_u32 as i32 => Some(
            "clients are open: close them (`userclient-test status` counts them); the kext then \
             unloads itself",
        ),
        c if c == codes::kIOReturnNotPrivileged || c == codes::kIOReturnNotPermitted => {
            Some("run as root (sudo)")
        }
        _ => None,
    }
}

/// Open a client, say which, keep it open for `seconds` (or until killed), then close it.
pub fn hold_open(env: &Env<'_>, seconds: Option<u64>) -> Result<Exit, Failure> {
    let seen = Seen::default();
    let client = Client::open(env.backend, &seen, User::Current).map_err(Failure::open)?;
    let info = ClientInfo::from(client.get_client_info()?);
    // The crash-cleanup scenario waits for this line before it kills the process.
    env.out.emit(
        "holding",
        &format!(
            "holding client {} (pid {})\n",
            info.client_id,
            std::process::id()
        ),
        json!({ "client_id": info.client_id, "pid": std::process::id() }),
    );
    match seconds {
        Some(s) => std::thread::sleep(Duration::from_secs(s)),
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
    let code = client.close();
    env.out.emit(
        "closed",
        &format!("closed client {}: {}\n", info.client_id, Code(code)),
        json!({ "client_id": info.client_id, "close": Code(code) }),
    );
    Ok(if code == codes::kIOReturnSuccess {
        Exit::Success
    } else {
        Exit::Failure
    })
}

/// `status`: the kext, the service, and what to do next. Exit 0 when a client could be opened
/// and served, 3 (environment) otherwise.
fn status(env: &Env<'_>) -> Result<Exit, Failure> {
    let backend = env.backend;
    let seen = Seen::default();
    let loaded = backend.is_loaded();
    let mut text = format!(
        "backend {}, kext {}: {}\n",
        backend.name(),
        env.bundle_id,
        match &loaded {
            Ok(true) => "loaded".to_string(),
            Ok(false) => "not loaded".to_string(),
            Err(e) => format!("unknown ({e})"),
        }
    );
    let mut next: Option<String> = None;
    let mut service = Value::Null;
    let mut code = None;
    match Client::open(backend, &seen, User::Current) {
        Ok(c) => match (c.get_client_info().map(ClientInfo::from), c.get_version()) {
            (Ok(info), Ok(v)) => {
                text.push_str(&format!(
                    "service {}: open clients {} (this one included), unload pending: {}, ABI {}.{}.{}\n",
                    <dyn Monitor>::SERVICE_CLASS,
                    info.open_clients,
                    yes_no(info.unload_pending),
                    v[0],
                    v[1],
                    v[2]
                ));
                service = json!({ "client_info": info, "abi": v });
                if v[0] != ABI_VERSION[0] {
                    next = Some(format!(
                        "the kext serves ABI {}.x, this harness {}.x: rebuild one of them",
                        v[0], ABI_VERSION[0]
                    ));
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                let r = userclient_test::client::Refused::from(e);
                text.push_str(&format!("service: {r}\n"));
                code = Some(Code(r.code));
                next = Some(format!("the service refused a call: {r}"));
            }
        },
        Err(r) => {
            text.push_str(&format!("service {}: {r}\n", <dyn Monitor>::SERVICE_CLASS));
            code = Some(Code(r.code));
            next = Some(open_next_step(&loaded, r.code));
        }
    }
    // What the service publishes in the IORegistry (`ioreg -l -c <class>`), computed when read.
    let registry = match backend.service_properties() {
        Ok(props) => {
            let groups: Vec<(&str, Option<&Properties>)> =
                vec![("framework", props.framework()), ("driver", props.driver())];
            let mut json_groups = serde_json::Map::new();
            for (name, group) in groups {
                let values = group.map(|g| g.0.as_slice()).unwrap_or_default();
                let line: Vec<String> = values
                    .iter()
                    .map(|(k, v)| format!("{k} {}", registry_text(v)))
                    .collect();
                text.push_str(&format!("registry {name}: {}\n", line.join(", ")));
                let map = values
                    .iter()
                    .map(|(k, v)| (k.clone(), registry_json(v)))
                    .collect();
                json_groups.insert(name.into(), Value::Object(map));
            }
            Value::Object(json_groups)
        }
        Err(e) => {
            text.push_str(&format!("registry: {e}\n"));
            Value::Null
        }
    };
    if let Some(n) = &next {
        text.push_str(&format!("next: {n}\n"));
    }
    env.out.emit(
        "status",
        &text,
        json!({ "bundle_id": env.bundle_id, "loaded": loaded.as_ref().ok(),
                "service": service, "registry": registry, "code": code, "next": next }),
    );
    Ok(if next.is_none() {
        Exit::Success
    } else {
        Exit::Environment
    })
}

/// A registry value as `status` prints it.
fn registry_text(v: &RegistryValue) -> String {
    match v {
        RegistryValue::Number(n) => n.to_string(),
        RegistryValue::Bool(b) => yes_no(*b).to_string(),
        RegistryValue::String(s) => s.clone(),
        RegistryValue::Dictionary(_) | RegistryValue::Other => "…".into(),
    }
}

/// A registry value in `status --json`.
fn registry_json(v: &RegistryValue) -> Value {
    match v {
        RegistryValue::Number(n) => json!(n),
        RegistryValue::Bool(b) => json!(b),
        RegistryValue::String(s) => json!(s),
        RegistryValue::Dictionary(_) | RegistryValue::Other => Value::Null,
    }
}

/// What to do when no client could be opened.
pub fn open_next_step(loaded: &Result<bool, String>, code: i32) -> String {
    if matches!(loaded, Ok(false)) {
        return "kext not loaded: load it (on macOS `./build.sh load`, then approve it if asked), \
                then run `userclient-test status` again"
            .into();
    }
    if code == codes::kIOReturnNotPrivileged || code == codes::kIOReturnNotPermitted {
        return "run as root (sudo): the kext admits administrators only \
                (RustKextAdminOnly)"
            .into();
    }
    if code == codes::kIOReturnNoResources {
        return "the client table is full (RustKextMaxClients): close other clients".into();
    }
    if code == codes::kIOReturnNotFound {
        return "the service is not registered: the kext is loaded but did not start; see the \
                kernel log (`log show --last 5m --predicate 'sender == \"RustKext\"'`)"
            .into();
    }
    format!("no client could be opened ({})", Code(code))
}
