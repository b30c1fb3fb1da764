//! The command line, run as a user runs it.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_userclient-test"))
        .args(args)
        .output()
        .expect("run userclient-test")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const COMMANDS: &[&str] = &[
    "status",
    "ping",
    "version",
    "stats",
    "reset",
    "filter",
    "hold-open",
    "unload",
    "scenario",
];

#[test]
fn help_for_every_command() {
    let top = run(&["--help"]);
    assert!(top.status.success());
    let text = stdout(&top);
    for cmd in COMMANDS {
        assert!(text.contains(cmd), "--help does not list {cmd}");
        let o = run(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd} --help failed");
        let help = stdout(&o);
        assert!(
            help.contains("Usage: userclient-test") && help.contains("--backend"),
            "{cmd}: {help}"
        );
    }
    let scenario = stdout(&run(&["scenario", "--help"]));
    for name in [
        "all",
        "open-close",
        "crash-cleanup",
        "autounload",
        "--clients",
        "--calls",
    ] {
        assert!(scenario.contains(name), "scenario --help lacks {name}");
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        run(&["scenario", "no-such-scenario"]).status.code(),
        Some(2)
    );
    assert_eq!(run(&["--backend", "nope", "status"]).status.code(), Some(2));
    assert_eq!(
        run(&["scenario", "stress", "--clients", "65"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn commands_on_the_simulator() {
    let ping = run(&["--backend", "sim", "ping", "41"]);
    assert!(ping.status.success());
    assert_eq!(stdout(&ping), "Ping(41) = 42\n");

    let status = run(&["--backend", "sim", "status"]);
    assert!(status.status.success(), "{}", stdout(&status));
    assert!(stdout(&status).contains("loaded"));

    let too_long = "x".repeat(1024);
    let filter = run(&["--backend", "sim", "filter", &too_long]);
    assert_eq!(filter.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&filter.stderr).contains("at most 1023"));
}

#[test]
fn scenario_all_text_report() {
    let o = run(&[
        "--backend",
        "sim",
        "scenario",
        "all",
        "--clients",
        "2",
        "--calls",
        "100",
    ]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"9 passed, 0 failed"));
    assert_eq!(lines.len(), 10, "{text}");
    assert!(lines[..9].iter().all(|l| l.starts_with("PASS ")), "{text}");
}

#[test]
fn json_report_shape() {
    let o = run(&[
        "--backend",
        "sim",
        "--json",
        "scenario",
        "stress",
        "--clients",
        "2",
        "--calls",
        "50",
    ]);
    assert!(o.status.success());
    // One object a line: the scenario as it finished, then the summary.
    let docs: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("valid JSON"))
        .collect();
    assert_eq!(docs.len(), 2);
    let (s, summary) = (&docs[0], &docs[1]);
    for d in &docs {
        assert_eq!(d["run"]["backend"], "sim");
        assert_eq!(d["run"]["kext"]["bundle_id"], "org.rustkext.RustKext");
    }
    assert_eq!(summary["kind"], "summary");
    assert_eq!(
        (
            summary["passed"].as_u64(),
            summary["failed"].as_u64(),
            summary["skipped"].as_u64()
        ),
        (Some(1), Some(0), Some(0))
    );
    assert_eq!(s["kind"], "scenario");
    assert_eq!(s["name"], "stress");
    assert_eq!(s["result"], "pass");
    assert!(s["reason"].as_str().is_some_and(|r| r.contains("calls/s")));
    assert!(s["seconds"].as_f64().is_some());
    assert!(s["metrics"]["calls_per_second"]
        .as_f64()
        .is_some_and(|x| x > 0.0));
    assert!(s["metrics"]["p99_us"].as_f64().is_some());
    let code = &s["codes"][0];
    assert_eq!(
        code["code"],
        serde_json::json!({"name": "kIOReturnSuccess", "value": 0})
    );
    assert!(code["count"].as_u64().is_some_and(|n| n >= 100));

    let stats = run(&["--backend", "sim", "--json", "stats"]);
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("valid JSON");
    assert_eq!(v["version"], 1);
    assert!(v["events"]["open"].is_u64() && v["filter_matched"].is_u64());
}

#[test]
fn unload_on_the_simulator_reports_the_answer() {
    // No client is open in a fresh simulator, so the unload goes through.
    let o = run(&["--backend", "sim", "--json", "unload"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["unloaded"], true, "{v}");
    assert_eq!(
        v["code"],
        serde_json::json!({"name": "kIOReturnSuccess", "value": 0})
    );
    assert!(o.status.success());
}

/// The iokit backend off macOS: the IOKitLib stand-in starts a simulated kernel in its own process
/// for this run (and the holder processes of crash-cleanup reach the same one).
#[test]
fn iokit_backend_runs_every_scenario_on_a_simulated_kernel() {
    let ping = run(&["--backend", "iokit", "ping", "41"]);
    assert!(ping.status.success(), "{ping:?}");
    assert_eq!(stdout(&ping), "Ping(41) = 42\n");

    let o = run(&[
        "--backend",
        "iokit",
        "scenario",
        "all",
        "--clients",
        "2",
        "--calls",
        "100",
    ]);
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        assert!(o.status.success(), "{text}");
        assert_eq!(lines.last(), Some(&"9 passed, 0 failed"), "{text}");
    } else {
        // The scenarios that need an administrator are skipped, the others pass.
        for name in ["file-activity", "unload-refused", "autounload"] {
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with(&format!("SKIP {name} "))),
                "{name}: {text}"
            );
        }
        assert!(lines.iter().all(|l| !l.starts_with("FAIL ")), "{text}");
    }
}

#[test]
fn iokit_backend_unload_reads_the_kext_tools_answer() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let o = run(&["--backend", "iokit", "--json", "unload"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    if root {
        // No client is open in a fresh kernel: kmutil unload goes through, printing nothing.
        assert_eq!(v["unloaded"], true, "{v}");
        assert_eq!(v["output"], "");
        assert!(o.status.success());
    } else {
        assert_eq!(v["unloaded"], false, "{v}");
        assert!(v["output"]
            .as_str()
            .is_some_and(|t| t.contains("not privileged")));
    }
}

#[test]
fn iokit_backend_without_a_kernel_says_so() {
    let o = Command::new(env!("CARGO_BIN_EXE_userclient-test"))
        .args(["--backend", "iokit", "ping"])
        .env("XNU_SIM_SOCKET", "/nonexistent/kernel.sock")
        .output()
        .expect("run userclient-test");
    // The environment: exit 3.
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/kernel.sock"), "{err}");
}
