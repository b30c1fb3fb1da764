//! Scenario results for people (one line each, then `N passed, N failed`) and for machines
//! (`--json`).

use crate::codes::Code;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

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
        let count = |v| scenarios.iter().filter(|o| o.result == v).count();
        Report {
            backend,
            bundle_id: bundle_id.to_string(),
            passed: count(Verdict::Pass),
            failed: count(Verdict::Fail),
            skipped: count(Verdict::Skip),
            scenarios,
        }
    }

    /// Non-zero when any scenario failed.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.failed > 0)
    }

    /// The human report.
    pub fn to_text(&self) -> String {
        let width = self
            .scenarios
            .iter()
            .map(|o| o.name.len())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for o in &self.scenarios {
            let verdict = match o.result {
                Verdict::Pass => "PASS",
                Verdict::Fail => "FAIL",
                Verdict::Skip => "SKIP",
            };
            let _ = write!(
                out,
                "{verdict} {:width$} {:>7.2}s  {}",
                o.name, o.seconds, o.reason
            );
            if !o.codes.is_empty() {
                let codes: Vec<String> = o
                    .codes
                    .iter()
                    .map(|c| format!("{} x{}", c.code, c.count))
                    .collect();
                let _ = write!(out, " [codes: {}]", codes.join(", "));
            }
            out.push('\n');
        }
        let _ = write!(out, "{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            let _ = write!(out, ", {} skipped", self.skipped);
        }
        out.push('\n');
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
