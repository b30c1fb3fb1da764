//! Scenario results for people (one line each as it finishes, then `N passed, N failed`) and
//! for machines (`--json`: one object per scenario, then a summary), and the exit statuses.

use crate::codes::Code;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The command line's exit statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Exit {
    /// 0: everything asked for was done and passed.
    Success = 0,
    /// 1: a scenario failed (or was skipped under `--strict`), or the kernel refused a call.
    Failure = 1,
    /// 2: the command line (or a session line) was wrong: nothing was asked of the kernel.
    Usage = 2,
    /// 3: the environment: no kernel to talk to, the kext not loaded, its service not found, a
    /// client could not be opened (not permitted, table full, another ABI), or nothing could be
    /// tested here (every scenario skipped).
    Environment = 3,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// Could not run here (for example: needs root); never counted as a pass.
    Skip,
}

#[derive(Clone, Debug, Serialize)]
pub struct CodeCount {
    pub code: Code,
    pub count: u64,
}

/// One scenario's result.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub name: &'static str,
    pub result: Verdict,
    pub reason: String,
    /// Every code the kernel answered during the scenario.
    pub codes: Vec<CodeCount>,
    /// Measured numbers (stress: calls/s, latencies).
    pub metrics: BTreeMap<&'static str, f64>,
    pub seconds: f64,
}

impl Outcome {
    /// One line saying what to do about a failed or skipped scenario (`None` for a pass): read
    /// from its reason and the codes the kernel answered.
    pub fn hint(&self) -> Option<String> {
        use crate::codes::{kIOReturnNoResources, kIOReturnNotPermitted, kIOReturnNotPrivileged};
        if self.result == Verdict::Pass {
            return None;
        }
        let saw = |c: i32| self.codes.iter().any(|cc| cc.code.0 == c);
        let reason = self.reason.to_lowercase();
        let hint = if reason.contains("administrator")
            || (self.result == Verdict::Fail
                && (saw(kIOReturnNotPrivileged) || saw(kIOReturnNotPermitted)))
        {
            format!("run as root: sudo userclient-test scenario {}", self.name)
        } else if reason.contains("not loaded") {
            "kext not loaded: load it (on macOS `./build.sh load`), then `userclient-test status`"
                .to_string()
        } else if saw(kIOReturnNoResources) {
            "the client table was full: close other clients (`userclient-test status` counts \
             them) or raise RustKextMaxClients"
                .to_string()
        } else if self.result == Verdict::Skip {
            format!("skipped, not passed: {}", self.reason)
        } else {
            format!(
                "run it alone (`userclient-test scenario {}`); `userclient-test status` shows the \
                 kext's state",
                self.name
            )
        };
        Some(hint)
    }

    /// The scenario's line: `PASS name   0.12s  reason [codes: ...]`, the name padded to
    /// `width` (the longest name of the run, known before the first scenario finishes).
    pub fn line(&self, width: usize) -> String {
        let verdict = match self.result {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        };
        let mut out = format!(
            "{verdict} {:width$} {:>7.2}s  {}",
            self.name, self.seconds, self.reason
        );
        if !self.codes.is_empty() {
            let codes: Vec<String> = self
                .codes
                .iter()
                .map(|c| format!("{} x{}", c.code, c.count))
                .collect();
            let _ = write!(out, " [codes: {}]", codes.join(", "));
        }
        out
    }
}

/// What a run as a whole amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunResult {
    /// Nothing failed and something passed (skips, without `--strict`, are reported, not
    /// failed). Exit 0.
    Pass,
    /// A scenario failed. Exit 1.
    Fail,
    /// `--strict`, nothing failed, but scenarios were skipped. Exit 1.
    StrictSkipped,
    /// Without `--strict`: every scenario was skipped, so nothing was tested. Exit 3: the
    /// environment (not root, typically) let nothing run; that is not a success.
    NothingTested,
}

/// The counts of a run and what they mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Whether skipped scenarios fail the run (`--strict`).
    pub strict: bool,
}

impl Summary {
    pub fn of(outcomes: &[Outcome], strict: bool) -> Summary {
        let count = |v| outcomes.iter().filter(|o| o.result == v).count();
        Summary {
            passed: count(Verdict::Pass),
            failed: count(Verdict::Fail),
            skipped: count(Verdict::Skip),
            strict,
        }
    }

    pub fn result(&self) -> RunResult {
        if self.failed > 0 {
            RunResult::Fail
        } else if self.skipped > 0 && self.strict {
            RunResult::StrictSkipped
        } else if self.passed == 0 {
            RunResult::NothingTested
        } else {
            RunResult::Pass
        }
    }

    pub fn exit(&self) -> Exit {
        match self.result() {
            RunResult::Pass => Exit::Success,
            RunResult::Fail | RunResult::StrictSkipped => Exit::Failure,
            RunResult::NothingTested => Exit::Environment,
        }
    }

    /// `N passed, N failed` (`, N skipped` if any) alone on its line, then a line saying what
    /// the skips mean when there were any.
    pub fn text(&self) -> String {
        let mut out = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            let _ = write!(out, ", {} skipped", self.skipped);
        }
        out.push('\n');
        let s = self.skipped;
        let note = match self.result() {
            RunResult::StrictSkipped => Some(format!(
                "strict: {s} skipped scenario(s) fail the run (exit 1)"
            )),
            RunResult::NothingTested => Some(
                "nothing was tested: every scenario was skipped (exit 3); see the SKIP reasons"
                    .to_string(),
            ),
            RunResult::Pass | RunResult::Fail if s > 0 => Some(format!(
                "note: {s} scenario(s) skipped, not passed; --strict makes skips fail the run"
            )),
            _ => None,
        };
        if let Some(note) = note {
            out.push_str(&note);
            out.push('\n');
        }
        out
    }
}

/// All results of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub backend: &'static str,
    pub bundle_id: String,
    pub scenarios: Vec<Outcome>,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Report {
    pub fn new(backend: &'static str, bundle_id: &str, scenarios: Vec<Outcome>) -> Report {
        let s = Summary::of(&scenarios, false);
        Report {
            backend,
            bundle_id: bundle_id.to_string(),
            passed: s.passed,
            failed: s.failed,
            skipped: s.skipped,
            scenarios,
        }
    }

    fn summary(&self, strict: bool) -> Summary {
        Summary {
            passed: self.passed,
            failed: self.failed,
            skipped: self.skipped,
            strict,
        }
    }

    /// The exit status without `--strict`: 1 when any scenario failed, 3 when every one was
    /// skipped, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.summary(false).exit().code())
    }

    /// The human report: what the command line prints, line by line, as scenarios finish.
    pub fn to_text(&self) -> String {
        let width = self
            .scenarios
            .iter()
            .map(|o| o.name.len())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for o in &self.scenarios {
            out.push_str(&o.line(width));
            out.push('\n');
        }
        out.push_str(&self.summary(false).text());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(result: Verdict) -> Outcome {
        Outcome {
            name: "x",
            result,
            reason: String::new(),
            codes: vec![],
            metrics: BTreeMap::new(),
            seconds: 0.0,
        }
    }

    fn summary(v: &[Verdict], strict: bool) -> Summary {
        let outcomes: Vec<Outcome> = v.iter().map(|r| outcome(*r)).collect();
        Summary::of(&outcomes, strict)
    }

    use Verdict::{Fail, Pass, Skip};

    #[test]
    fn results_and_exit_statuses() {
        let cases: &[(&[Verdict], bool, RunResult, u8)] = &[
            (&[Pass, Pass], false, RunResult::Pass, 0),
            (&[Pass, Skip], false, RunResult::Pass, 0),
            (&[Pass, Skip], true, RunResult::StrictSkipped, 1),
            (&[Skip, Skip], false, RunResult::NothingTested, 3),
            (&[Skip, Skip], true, RunResult::StrictSkipped, 1),
            (&[Pass, Fail, Skip], false, RunResult::Fail, 1),
            (&[Fail], true, RunResult::Fail, 1),
            (&[Pass], true, RunResult::Pass, 0),
        ];
        for (verdicts, strict, result, exit) in cases {
            let s = summary(verdicts, *strict);
            assert_eq!(s.result(), *result, "{verdicts:?} strict {strict}");
            assert_eq!(s.exit().code(), *exit, "{verdicts:?} strict {strict}");
        }
    }

    #[test]
    fn summary_lines() {
        assert_eq!(summary(&[Pass, Pass], false).text(), "2 passed, 0 failed\n");
        assert_eq!(
            summary(&[Pass, Skip], false).text(),
            "1 passed, 0 failed, 1 skipped\nnote: 1 scenario(s) skipped, not passed; --strict makes skips fail the run\n"
        );
        assert_eq!(
            summary(&[Pass, Skip], true).text(),
            "1 passed, 0 failed, 1 skipped\nstrict: 1 skipped scenario(s) fail the run (exit 1)\n"
        );
        assert_eq!(
            summary(&[Skip, Skip], false).text(),
            "0 passed, 0 failed, 2 skipped\nnothing was tested: every scenario was skipped (exit 3); see the SKIP reasons\n"
        );
        assert_eq!(summary(&[Fail], false).text(), "0 passed, 1 failed\n");
    }
}
