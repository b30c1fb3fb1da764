//! ExecCount on xnu-sim: booted, loaded, opened through its generated client (which checks the
//! ABI fingerprint), and the framework's generated conformance and adversarial suite.
#![forbid(unsafe_code)]

use execcount_api::{ExecCount, ExecCountClient, LAST_EXEC_PATH};
use execcount_kext::IDENTITY;
use rustkext_sim::{connect, ROOT, USER};
use xnu_sim::codes::KIO_RETURN_NOT_PRIVILEGED;
use xnu_sim::fileop::{EXEC, OPEN};
use xnu_sim::{Desktop, Kernel};

fn boot() -> Kernel {
    let k = Kernel::boot();
    k.set_desktop(Desktop::Off);
    rustkext_sim::load(&k, &IDENTITY).expect("kextload");
    k
}

#[test]
fn boots_loads_and_serves_its_client() {
    let k = boot();
    assert!(k.bundle_loaded(IDENTITY.bundle_id));
    assert_eq!(IDENTITY.service_class, "org_rustkext_examples_ExecCount_Service");
    let client = ExecCountClient::open(connect(&k, &IDENTITY, ROOT).unwrap()).unwrap();
    assert_eq!(client.ping(41), Ok(42));
    let none = client.last_exec().unwrap();
    assert_eq!((none.execs, none.len, none.truncated), (0, 0, 0), "nothing executed yet");
    k.fileop_path(EXEC, "/bin/ls");
    k.fileop_path(OPEN, "/etc/hosts");
    k.fileop_path(EXEC, "/usr/bin/true");
    assert_eq!(client.exec_count(), Ok(2), "only EXEC counts");
    let last = client.last_exec().unwrap();
    assert_eq!((last.execs, last.len, last.truncated), (2, 13, 0));
    assert_eq!(&last.path[..13], b"/usr/bin/true");
    let long = format!("/{}", "d/".repeat(200));
    k.fileop_path(EXEC, &long);
    let last = client.last_exec().unwrap();
    assert_eq!((last.len as usize, last.truncated), (LAST_EXEC_PATH, 1));
    client.reset().unwrap();
    assert_eq!(client.exec_count(), Ok(0));

    // Who runs what is an administrator's to know; counting is anyone's.
    let user = ExecCountClient::open(connect(&k, &IDENTITY, USER).unwrap()).unwrap();
    assert_eq!(user.exec_count(), Ok(0));
    assert_eq!(user.last_exec().unwrap_err().code(), Some(KIO_RETURN_NOT_PRIVILEGED));
    assert_eq!(user.reset().unwrap_err().code(), Some(KIO_RETURN_NOT_PRIVILEGED));
}

#[test]
fn the_personality_opens_the_last_path_to_everyone() {
    let k = Kernel::boot();
    k.set_desktop(Desktop::Off);
    let spec = rustkext_sim::spec(&IDENTITY).with_overrides(&[("ExecCountPathsForEveryone", xnu_sim::Property::Bool(true))]);
    k.load_spec(&spec).unwrap();
    let user = ExecCountClient::open(connect(&k, &IDENTITY, USER).unwrap()).unwrap();
    k.fileop_path(EXEC, "/bin/sh");
    assert_eq!(user.last_exec().unwrap().len, 7);
}

#[test]
fn passes_the_generated_conformance_suite() {
    let k = boot();
    let report = rustkext_sim::conformance::<dyn ExecCount>(&k, &IDENTITY).unwrap();
    assert!(report.refused > 0 && report.queries_compared == 3 && report.outputs_checked, "{report:?}");
}
