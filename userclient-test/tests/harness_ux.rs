//! The command line as a machine reads it: exit statuses, pure JSON validated against
//! `schema/report.schema.json`, results streamed as they finish, simulator sessions that keep
//! one kernel, and `stats --watch`.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_userclient-test");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run userclient-test")
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn userclient-test");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every line of stdout is one JSON object (NDJSON), nothing else.
fn ndjson(o: &Output) -> Vec<Value> {
    let text = stdout(o);
    assert!(!text.is_empty(), "no output; stderr: {}", stderr(o));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// All of stdout is exactly one JSON document.
fn document(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", stdout(o)))
}

fn script_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("uct-ux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn schema() -> jsonschema::Validator {
    let text = include_str!("../schema/report.schema.json");
    let schema: Value = serde_json::from_str(text).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema compiles")
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{doc:#}");
}

// ---- exit statuses -------------------------------------------------------------------------

#[test]
fn exit_statuses() {
    // 0: done.
    assert_eq!(run(&["--backend", "sim", "ping"]).status.code(), Some(0));
    // 2: usage, nothing asked of the kernel.
    for args in [
        &["--backend", "sim", "scenario", "nope"][..],
        &["--backend", "sim", "stats", "--count", "2"],
        &["--backend", "sim", "stats", "--watch", "0"],
        &["--backend", "sim", "filter", &"x".repeat(1024)],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    // 3: no kernel to talk to.
    let o = Command::new(BIN)
        .args(["--backend", "iokit", "ping"])
        .env("XNU_SIM_SOCKET", "/nonexistent/kernel.sock")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("/nonexistent/kernel.sock"));
    // 3: no client could be opened (the admin-only call is fine, but an unload is pending
    // after a refused unload... here: the kext was unloaded in the session).
    let o = run_stdin(&["--backend", "sim", "shell"], "unload\nping\n");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // 1: the kernel refused a call (an unload with a client open).
    let o = run_stdin(&["--backend", "sim", "shell"], "open\nunload\n");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("refused with"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("hint: clients are open"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn skipped_scenarios_and_strict() {
    let sim_user = ["--backend", "sim", "--sim-non-admin", "scenario"];
    let with = |extra: &[&str]| run(&[&sim_user[..], extra].concat());

    // Everything skipped: nothing was tested, exit 3 (not 0).
    let o = with(&["file-activity"]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.starts_with("SKIP file-activity "), "{text}");
    assert!(
        text.contains("  hint: run as root: sudo userclient-test scenario file-activity\n"),
        "{text}"
    );
    assert!(text.contains("nothing was tested"), "{text}");

    // --strict: skipped fails the run (exit 1).
    let o = with(&["file-activity", "--strict"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));

    // A pass next to a skip: 0 without --strict, 1 with.
    let o = with(&["stress", "--calls", "10", "--clients", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let ok_and_skip = |strict: bool| {
        let input = format!(
            "scenario stress --calls 10 --clients 1\nscenario privilege{}\n",
            if strict { " --strict" } else { "" }
        );
        run_stdin(&["--backend", "sim", "--sim-non-admin", "shell"], &input)
    };
    // privilege alone needs an administrator: skipped, so exit 3 for that command.
    assert_eq!(ok_and_skip(false).status.code(), Some(3));
    assert_eq!(ok_and_skip(true).status.code(), Some(1));

    // As an administrator the same scenario passes, exit 0, no hint.
    let o = run(&["--backend", "sim", "scenario", "file-activity", "--strict"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(!stdout(&o).contains("hint:"));

    // JSON: the skip's record has its hint, the summary says what the run amounts to.
    let o = run(&[
        "--backend",
        "sim",
        "--sim-non-admin",
        "--json",
        "scenario",
        "file-activity",
    ]);
    let docs = ndjson(&o);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0]["result"], "skip");
    assert!(docs[0]["hint"].as_str().is_some_and(|h| h.contains("root")));
    assert_eq!(docs[1]["kind"], "summary");
    assert_eq!(docs[1]["result"], "nothing-tested");
    assert_eq!(docs[1]["exit"], 3);
}

// ---- JSON ----------------------------------------------------------------------------------

#[test]
fn one_shot_json_is_one_document_and_streams_are_ndjson() {
    for cmd in [
        &["ping", "41"][..],
        &["version"],
        &["stats"],
        &["status"],
        &["reset"],
        &["filter", "/tmp"],
        &["client-info"],
        &["unload"],
    ] {
        let o = run(&[&["--backend", "sim", "--json"][..], cmd].concat());
        assert!(o.status.success(), "{cmd:?}: {}", stderr(&o));
        let v = document(&o);
        assert_eq!(v["schema_version"], 1, "{cmd:?}");
        assert_eq!(v["kind"], cmd[0], "{cmd:?}");
    }
    // hold-open printed a text line before its JSON: now one object a line, nothing else.
    let o = run(&["--backend", "sim", "--json", "hold-open", "--seconds", "0"]);
    assert!(o.status.success());
    let docs = ndjson(&o);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["holding", "closed"]);
    assert_eq!(
        docs[1]["close"],
        serde_json::json!({"name": "kIOReturnSuccess", "value": 0})
    );
    // Errors are JSON on stdout too, with their exit status.
    let o = Command::new(BIN)
        .args(["--backend", "iokit", "--json", "ping"])
        .env("XNU_SIM_SOCKET", "/nonexistent/kernel.sock")
        .output()
        .unwrap();
    let v = document(&o);
    assert_eq!(
        (v["kind"].as_str(), v["exit"].as_u64()),
        (Some("error"), Some(3))
    );
    assert_eq!(v["class"], "environment");
    assert_eq!(v["run"]["kext"]["loaded"], Value::Null);
}

#[test]
fn codes_are_name_and_value_from_the_codes_table() {
    let o = run(&["--backend", "sim", "--json", "scenario", "privilege"]);
    let docs = ndjson(&o);
    let codes = docs[0]["codes"].as_array().unwrap();
    let refused = codes
        .iter()
        .find(|c| c["code"]["name"] == "kIOReturnNotPrivileged")
        .unwrap_or_else(|| panic!("{codes:?}"));
    assert_eq!(refused["code"]["value"], 0xe000_02c1_u32);
    assert_eq!(refused["count"], 4);
}

#[test]
fn every_document_matches_the_schema() {
    let v = schema();
    let mut kinds = BTreeSet::new();
    let mut check = |docs: Vec<Value>| {
        for d in docs {
            assert_valid(&v, &d);
            kinds.insert(d["kind"].as_str().unwrap().to_string());
        }
    };
    for cmd in [
        &["ping"][..],
        &["version"],
        &["stats"],
        &["status"],
        &["reset"],
        &["filter", ""],
        &["client-info"],
        &["cancel-unload"],
        &["unload"],
    ] {
        let o = run(&[&["--backend", "sim", "--json"][..], cmd].concat());
        check(vec![document(&o)]);
    }
    let o = run(&[
        "--backend",
        "sim",
        "--json",
        "scenario",
        "all",
        "--calls",
        "50",
        "--clients",
        "2",
    ]);
    check(ndjson(&o));
    let o = run(&[
        "--backend",
        "sim",
        "--sim-non-admin",
        "--json",
        "scenario",
        "all",
        "--calls",
        "10",
    ]);
    check(ndjson(&o));
    let o = run(&[
        "--backend",
        "sim",
        "--json",
        "stats",
        "--watch",
        "0.01",
        "--count",
        "2",
    ]);
    check(ndjson(&o));
    let o = run(&["--backend", "sim", "--json", "hold-open", "--seconds", "0"]);
    check(ndjson(&o));
    let o = Command::new(BIN)
        .args(["--backend", "iokit", "--json", "ping"])
        .env("XNU_SIM_SOCKET", "/nonexistent/kernel.sock")
        .output()
        .unwrap();
    check(vec![document(&o)]);
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/demo.session");
    let o = run(&["--backend", "sim", "--json", "script", demo]);
    assert!(o.status.success(), "{}", stderr(&o));
    check(ndjson(&o));
    let o = run_stdin(
        &["--backend", "sim", "--json", "shell"],
        "sleep 2\nopen\nclose\nunload\n",
    );
    check(ndjson(&o));

    // Every kind the schema names was produced and checked.
    let schema: Value = serde_json::from_str(include_str!("../schema/report.schema.json")).unwrap();
    let named: BTreeSet<String> = schema["properties"]["kind"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, named);
}

#[test]
fn the_schema_rejects_deviating_records() {
    let v = schema();
    let o = run(&["--backend", "sim", "--json", "scenario", "privilege"]);
    let good = ndjson(&o).remove(0);
    assert_valid(&v, &good);
    type Mutation = fn(&mut Value);
    let mutations: &[(&str, Mutation)] = &[
        ("a code as a display string", |d| {
            d["codes"][0]["code"] = "kIOReturnNotPrivileged (0xe00002c1)".into()
        }),
        ("a negative code value", |d| {
            d["codes"][0]["code"]["value"] = (-536_870_207).into()
        }),
        ("no schema_version", |d| {
            d.as_object_mut().unwrap().remove("schema_version");
        }),
        ("another schema_version", |d| d["schema_version"] = 2.into()),
        ("an unknown field", |d| d["extra"] = true.into()),
        ("no harness version", |d| {
            d["run"]["harness"]
                .as_object_mut()
                .unwrap()
                .remove("version");
        }),
        ("no OS", |d| {
            d["run"].as_object_mut().unwrap().remove("os");
        }),
        ("a timestamp that is not RFC 3339", |d| {
            d["timestamp"] = "yesterday".into()
        }),
        ("an unknown verdict", |d| d["result"] = "maybe".into()),
        ("a pass with a hint", |d| d["hint"] = "run as root".into()),
        ("an unknown kind", |d| d["kind"] = "scenarios".into()),
    ];
    for (what, mutate) in mutations {
        let mut bad = good.clone();
        mutate(&mut bad);
        assert!(!v.is_valid(&bad), "the schema accepts {what}");
    }
}

// ---- streaming -----------------------------------------------------------------------------

/// stdout and stderr into one file (appends keep their order): every result line before the
/// autounload scenario is written before that scenario's first progress line on stderr.
#[test]
fn results_stream_before_the_run_ends_and_progress_goes_to_stderr() {
    let path = std::env::temp_dir().join(format!("uct-ux-stream-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let file = std::fs::OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .unwrap();
    let status = Command::new(BIN)
        .args([
            "--backend",
            "sim",
            "--progress-interval",
            "0",
            "scenario",
            "all",
            "--calls",
            "50",
            "--clients",
            "2",
        ])
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .unwrap();
    assert!(status.success());
    let both = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let lines: Vec<&str> = both.lines().collect();
    let first_progress = lines
        .iter()
        .position(|l| l.starts_with("userclient-test: autounload: waiting for"))
        .unwrap_or_else(|| panic!("no progress line:\n{both}"));
    let results_before = lines[..first_progress]
        .iter()
        .filter(|l| l.starts_with("PASS "))
        .count();
    assert_eq!(results_before, 8, "{both}");
    assert!(lines[first_progress..]
        .iter()
        .any(|l| l.starts_with("PASS autounload ")));

    // Progress never reaches stdout.
    let o = run(&[
        "--backend",
        "sim",
        "--progress-interval",
        "0",
        "scenario",
        "autounload",
    ]);
    assert!(o.status.success());
    assert!(!stdout(&o).contains("waiting"), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("waiting for the kext to unload"),
        "{}",
        stderr(&o)
    );
}

/// A shell answers each line before it reads the next: the child is still running (waiting on
/// its stdin) when the answer arrives.
#[test]
fn a_shell_answers_each_line_as_it_comes() {
    let mut child = Command::new(BIN)
        .args(["--backend", "sim", "shell"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    for (ask, answer) in [
        ("ping 1\n", "Ping(1) = 2\n"),
        ("ping 41\n", "Ping(41) = 42\n"),
    ] {
        input.write_all(ask.as_bytes()).unwrap();
        input.flush().unwrap();
        line.clear();
        output.read_line(&mut line).unwrap();
        assert_eq!(line, answer);
        assert!(child.try_wait().unwrap().is_none(), "the shell ended early");
    }
    drop(input);
    assert!(child.wait().unwrap().success());
}

// ---- sessions and watch --------------------------------------------------------------------

#[test]
fn a_session_keeps_one_kernel_across_commands() {
    // One-shot commands each boot a fresh simulated kernel: the filter is gone by `stats`.
    assert!(run(&["--backend", "sim", "filter", "/w"]).status.success());
    let fresh = document(&run(&["--backend", "sim", "--json", "stats"]));
    assert_eq!(fresh["filter_matched"], 0);

    // In a session the filter, the file operations and the counters are one kernel's.
    // 4 operations: write (OPEN, CLOSE), read (OPEN, CLOSE), rename (WILL_RENAME, RENAME),
    // delete (DELETE) = 7 events under /w; touch /elsewhere: OPEN, CLOSE, not matched.
    let o = run_stdin(
        &["--backend", "sim", "--json", "shell"],
        "filter /w\nfileops 4 /w/dir\ntouch /elsewhere\nstats\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let docs = ndjson(&o);
    let stats = docs.last().unwrap();
    assert_eq!(stats["kind"], "stats");
    assert_eq!(stats["filter_matched"], 7);
    assert_eq!(stats["events"]["open"], 3);
    assert_eq!(stats["events"]["close"], 3);
    assert_eq!(stats["events"]["rename"], 1);
    assert_eq!(stats["events"]["will_rename"], 1);
    assert_eq!(stats["events"]["delete"], 1);

    // Held clients are the kernel's clients until closed.
    let o = run_stdin(
        &["--backend", "sim", "shell"],
        "open\nopen\nclient-info\nclose\nclient-info\n",
    );
    let text = stdout(&o);
    assert!(
        text.contains("open clients 3 (this one included)"),
        "{text}"
    );
    assert!(
        text.contains("open clients 2 (this one included)"),
        "{text}"
    );
}

#[test]
fn a_script_echoes_its_commands_and_stops_at_the_first_failure() {
    let p = script_file(
        "s1",
        "# a comment\nfilter /w\nfileops 4 /w\n\nno-such-command\nstats\n",
    );
    let o = run(&["--backend", "sim", "script", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("> filter /w\nfilter set to \"/w\"\n> fileops 4 /w\n"),
        "{text}"
    );
    assert!(text.contains("\nfilter_matched: 0 -> 7\n"), "{text}");
    assert!(text.contains("> no-such-command\n"), "{text}");
    assert!(
        !text.contains("> stats"),
        "ran past the failing line: {text}"
    );
    assert!(
        stderr(&o).contains(":5:"),
        "the line number: {}",
        stderr(&o)
    );

    // A shell reports the failure and goes on; its status is the first failure's.
    let o = run_stdin(&["--backend", "sim", "shell"], "no-such-command\nping\n");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "Ping(1) = 2\n");

    // Relative paths and a missing script are usage errors.
    let o = run_stdin(&["--backend", "sim", "shell"], "touch relative/path\n");
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["--backend", "sim", "script", "/nonexistent/script"]);
    assert_eq!(o.status.code(), Some(2));
    // A session needs the simulator backend.
    let o = run(&["--backend", "iokit", "script", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_demo_shows_counters_growing() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/demo.session");
    let o = run(&["--backend", "sim", "script", demo]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let grew = text.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() == 4
            && w[0].ends_with(':')
            && w[2] == "->"
            && matches!((w[1].parse::<u64>(), w[3].parse::<u64>()), (Ok(b), Ok(a)) if a > b)
    });
    assert!(grew, "{text}");
    assert!(text.contains("filter_matched: 0 -> 14\n"), "{text}");
}

#[test]
fn stats_watch_counts_intervals() {
    // One-shot: real time, a fresh kernel, nothing happens: N lines of zero deltas.
    let o = run(&[
        "--backend",
        "sim",
        "stats",
        "--watch",
        "0.01",
        "--count",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("interval {} (", i + 1)), "{l}");
        assert!(
            l.contains("open +0 ") && l.contains("filter_matched +0"),
            "{l}"
        );
    }
    let o = run(&[
        "--backend",
        "sim",
        "--json",
        "stats",
        "--watch",
        "0.01",
        "--count",
        "2",
    ]);
    let docs = ndjson(&o);
    assert_eq!(docs.len(), 2);
    assert_eq!(
        (docs[0]["interval"].as_u64(), docs[1]["interval"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(docs[1]["simulated_time"], false);

    // In a session: simulated seconds, with background operations in each: 4 operations a
    // second = 7 events, all under the filter.
    let o = run_stdin(
        &["--backend", "sim", "--json", "shell"],
        "filter /w\nbackground 4 /w\nstats --watch 2 --count 3\nbackground 0\nstats --watch 1 --count 1\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let intervals: Vec<Value> = ndjson(&o)
        .into_iter()
        .filter(|d| d["kind"] == "stats-interval")
        .collect();
    assert_eq!(intervals.len(), 4);
    for i in &intervals[..3] {
        assert_eq!(i["seconds"], 2.0);
        assert_eq!(i["simulated_time"], true);
        assert_eq!(i["deltas"]["filter_matched"], 14, "{i}");
        assert_eq!(i["deltas"]["open"], 4, "{i}");
        assert_eq!(i["deltas"]["delete"], 2, "{i}");
    }
    assert_eq!(intervals[2]["totals"]["filter_matched"], 42);
    assert_eq!(intervals[3]["deltas"]["filter_matched"], 0, "stopped");
}
