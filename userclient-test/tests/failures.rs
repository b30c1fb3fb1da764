//! The scenarios can fail: the real simulator behind a backend that breaks one promise of the
//! driver at a time must give FAIL, with the reason, and a non-zero exit code.

use std::path::PathBuf;
use std::time::Duration;
use userclient_test::backend::{Backend, Call, CallOutput, Connection, Holder, UnloadAnswer, User};
use userclient_test::codes::{kIOReturnSuccess, IOReturn};
use userclient_test::fileops::FileOp;
use userclient_test::report::{Report, Verdict};
use userclient_test::scenarios::{self, Options};
use userclient_test::sim::SimBackend;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    /// Malformed calls come back as successes.
    AcceptsMalformedCalls,
    /// Ping answers input + 2.
    WrongPing,
    /// The killed holder's connection is never cleaned up.
    HolderSurvivesKill,
    /// Unload goes through although clients are open.
    UnloadIgnoresClients,
    /// Events are lost on the way (the first file operation that causes any is skipped).
    LosesEvents,
    /// Administrator selectors succeed for everybody.
    NoPrivilegeCheck,
    /// `IOServiceClose` reports success but the connection stays open (a leaked client).
    CloseLeaks,
}

struct Faulty {
    sim: SimBackend,
    fault: Fault,
}

impl Backend for Faulty {
    fn name(&self) -> &'static str {
        "faulty-sim"
    }
    fn is_admin(&self) -> bool {
        self.sim.is_admin()
    }
    fn is_quiet(&self) -> bool {
        self.sim.is_quiet()
    }
    fn open(&self, user: User, connect_type: u32) -> Result<Connection, IOReturn> {
        let user = if self.fault == Fault::NoPrivilegeCheck {
            User::Current
        } else {
            user
        };
        self.sim.open(user, connect_type)
    }
    fn call(&self, conn: Connection, call: &Call<'_>) -> Result<CallOutput, IOReturn> {
        let result = self.sim.call(conn, call);
        match (self.fault, result) {
            (Fault::AcceptsMalformedCalls, Err(_)) => Ok(CallOutput::default()),
            (Fault::WrongPing, Ok(mut out)) if call.selector == 0 => {
                out.scalars[0] = out.scalars[0].wrapping_add(1);
                Ok(out)
            }
            (_, r) => r,
        }
    }
    fn close(&self, conn: Connection) -> IOReturn {
        if self.fault == Fault::CloseLeaks {
            return kIOReturnSuccess;
        }
        self.sim.close(conn)
    }
    fn request_unload(&self) -> Result<UnloadAnswer, String> {
        let mut answer = self.sim.request_unload()?;
        if self.fault == Fault::UnloadIgnoresClients {
            answer.unloaded = true;
            answer.code = Some(kIOReturnSuccess);
        }
        Ok(answer)
    }
    fn is_loaded(&self) -> Result<bool, String> {
        self.sim.is_loaded()
    }
    fn rematch_resources(&self, settle: Duration) -> Result<(), String> {
        self.sim.rematch_resources(settle)
    }

    fn service_present(&self) -> Result<bool, String> {
        self.sim.service_present()
    }
    fn service_properties(&self) -> Result<userclient_test::registry::Properties, String> {
        self.sim.service_properties()
    }

    fn wait_unloaded(
        &self,
        bound: Duration,
        progress: userclient_test::wait::Progress<'_>,
    ) -> Result<Duration, String> {
        self.sim.wait_unloaded(bound, progress)
    }
    fn spawn_holder(&self) -> Result<Holder, String> {
        self.sim.spawn_holder()
    }
    fn kill_holder(&self, holder: Holder) -> Result<(), String> {
        if self.fault == Fault::HolderSurvivesKill {
            return Ok(());
        }
        self.sim.kill_holder(holder)
    }
    fn file_root(&self) -> Result<PathBuf, String> {
        self.sim.file_root()
    }
    fn file_ops(&self, ops: &[FileOp]) -> Result<(), String> {
        if self.fault != Fault::LosesEvents {
            return self.sim.file_ops(ops);
        }
        // Drop the first operation that causes events.
        let lost = ops.iter().position(|op| !op.events().is_empty());
        let kept: Vec<FileOp> = ops
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != lost)
            .map(|(_, op)| op.clone())
            .collect();
        self.sim.file_ops(&kept)
    }
}

fn fails(fault: Fault, scenario: &str, reason_contains: &str) {
    let backend = Faulty {
        sim: SimBackend::boot().expect("boot the simulator"),
        fault,
    };
    let opts = Options {
        clients: 2,
        calls: 50,
        cleanup_bound: Duration::from_millis(200),
        ..Options::default()
    };
    let outcome = scenarios::run(&backend, &opts, scenarios::find(scenario).unwrap());
    assert_eq!(
        outcome.result,
        Verdict::Fail,
        "{fault:?} in {scenario}: {}",
        outcome.reason
    );
    assert!(
        outcome.reason.contains(reason_contains),
        "{fault:?}: reason {:?}",
        outcome.reason
    );

    let report = Report::new(backend.name(), "org.rustkext.RustKext", vec![outcome]);
    assert_eq!(report.exit_code(), 1);
    let text = report.to_text();
    assert!(text.starts_with(&format!("FAIL {scenario}")), "{text}");
    assert!(text.ends_with("0 passed, 1 failed\n"), "{text}");
}

#[test]
fn accepted_malformed_call_fails_bad_input() {
    fails(Fault::AcceptsMalformedCalls, "bad-input", "was accepted");
}

#[test]
fn wrong_ping_fails_open_close_and_stress() {
    fails(Fault::WrongPing, "open-close", "Ping(41) answered 43");
    fails(Fault::WrongPing, "stress", "answered");
}

#[test]
fn surviving_holder_fails_crash_cleanup() {
    fails(
        Fault::HolderSurvivesKill,
        "crash-cleanup",
        "after the holder was killed",
    );
}

#[test]
fn unload_with_clients_fails_unload_refused() {
    fails(
        Fault::UnloadIgnoresClients,
        "unload-refused",
        "unloaded with clients open",
    );
}

#[test]
fn lost_events_fail_file_activity() {
    fails(Fault::LosesEvents, "file-activity", "expected");
}

#[test]
fn missing_privilege_check_fails_privilege() {
    fails(
        Fault::NoPrivilegeCheck,
        "privilege",
        "succeeded for a non-administrator",
    );
}

#[test]
fn leaked_client_fails_autounload_and_open_close() {
    fails(Fault::CloseLeaks, "autounload", "did not terminate itself");
    fails(Fault::CloseLeaks, "open-close", "after close");
}

#[test]
fn a_pass_and_a_skip_exit_zero() {
    let backend = SimBackend::boot().expect("boot the simulator");
    let pass = scenarios::run(
        &backend,
        &Options::default(),
        scenarios::find("open-close").unwrap(),
    );
    let mut skip = pass.clone();
    skip.name = "other";
    skip.result = Verdict::Skip;
    let report = Report::new("sim", "id", vec![pass, skip]);
    assert_eq!(report.exit_code(), 0);
    assert!(report.to_text().ends_with(
        "1 passed, 0 failed, 1 skipped\n\
         note: 1 scenario(s) skipped, not passed; --strict makes skips fail the run\n"
    ));
}
