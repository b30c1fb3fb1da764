//! Where the command line's output goes: stdout carries the results only (text, or JSON: one
//! document, or one object a line for streaming commands), flushed as each is known; messages,
//! hints and progress go to stderr.

use super::Failure;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use userclient_test::json::Run;
use userclient_test::report::Exit;
use userclient_test::wait::Throttle;

/// The output of one run.
pub struct Out {
    json: bool,
    /// One pretty document (a one-shot command), else one compact object a line (NDJSON).
    single: bool,
    run: Option<Run>,
    lock: Mutex<()>,
}

impl Out {
    /// `run` is the header of every JSON document (`Some` exactly when `json`).
    pub fn new(json: bool, single: bool, run: Option<Run>) -> Out {
        Out {
            json,
            single,
            run,
            lock: Mutex::new(()),
        }
    }

    // Used by the simulator session only.
    #[cfg_attr(not(feature = "sim"), allow(dead_code))]
    pub fn is_json(&self) -> bool {
        self.json
    }

    fn write_stdout(&self, s: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(s.as_bytes());
        let _ = stdout.flush();
    }

    /// A result: `text` (whole lines) in text mode, else the document `kind` with `fields`.
    pub fn emit(&self, kind: &str, text: &str, fields: Value) {
        if self.json {
            let doc = match &self.run {
                Some(run) => run.document(kind, fields),
                None => fields,
            };
            let s = if self.single {
                serde_json::to_string_pretty(&doc)
            } else {
                serde_json::to_string(&doc)
            };
            self.write_stdout(&(s.unwrap_or_default() + "\n"));
        } else {
            self.write_stdout(text);
        }
    }

    /// Text on stdout in text mode only (a session's echo of its commands).
    #[cfg_attr(not(feature = "sim"), allow(dead_code))]
    pub fn text_only(&self, text: &str) {
        if !self.json {
            self.write_stdout(text);
        }
    }

    /// A message on stderr.
    pub fn note(&self, s: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        eprintln!("userclient-test: {s}");
    }

    /// Reports a failure (stderr in text mode, an `error` document in JSON) with its hint, and
    /// says how to exit.
    pub fn fail(&self, f: &Failure) -> Exit {
        let exit = f.exit();
        let hint = f.hint();
        if self.json {
            self.emit(
                "error",
                "",
                json!({
                    "class": f.class(),
                    "message": f.message(),
                    "code": f.code(),
                    "hint": hint,
                    "exit": exit.code(),
                }),
            );
        }
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if !self.json {
            eprintln!("userclient-test: {}", f.message());
        }
        if let Some(h) = hint {
            eprintln!("hint: {h}");
        }
        exit
    }
}

/// Progress of long waits on stderr: at most one line per interval for each wait
/// (`userclient-test: autounload: waiting for the kext to unload (autounload)... 42 s`).
pub struct StderrProgress {
    every: Duration,
    state: Mutex<Option<(String, Throttle)>>,
}

impl StderrProgress {
    pub fn new(every: Duration) -> StderrProgress {
        StderrProgress {
            every,
            state: Mutex::new(None),
        }
    }

    /// A wait of `scenario` for `what` has lasted `waited` (simulated time on the simulator).
    pub fn report(&self, scenario: &str, what: &str, waited: Duration) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{scenario}\0{what}");
        let due = match state.as_mut() {
            Some((k, throttle)) if *k == key => throttle.due(now),
            _ => {
                let mut throttle = Throttle::new(self.every, now);
                let due = throttle.due(now);
                *state = Some((key, throttle));
                due
            }
        };
        if due {
            eprintln!(
                "userclient-test: {scenario}: waiting for {what}... {:.0} s",
                waited.as_secs_f64()
            );
        }
    }
}
