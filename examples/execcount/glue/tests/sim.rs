//! ExecCount on xnu-sim: booted, loaded, opened through its generated client (which checks the
//! ABI fingerprint), and the framework's generated conformance and adversarial suite.

use execcount_api::{ ExecCount, ExecCountClient };
use execcount_kext::IDENTITY;
use rustkext_sim::{connect, ROOT, USER};
use xnu_sim::codes::KIO_RETURN_NOT_PRIVILEGED;
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
    let client = ExecCountClient::open(connect(&k, &IDENTITY, ROOT).unwrap()).unwrap();
    assert_eq!(client.ping(41), Ok(42));
    for _ in 0..3 {
        k.fileop_path(xnu_sim::fileop::OPEN, "/tmp/x");
    }
    assert_eq!(client.events(), Ok(3));
    client.reset().unwrap();
    assert_eq!(client.events(), Ok(0));
    let user = ExecCountClient::open(connect(&k, &IDENTITY, USER).unwrap()).unwrap();
    assert_eq!(user.reset().unwrap_err().code(), Some(KIO_RETURN_NOT_PRIVILEGED));
}

#[test]
fn passes_the_generated_conformance_suite() {
    let k = boot();
    let report = rustkext_sim::conformance::<dyn ExecCount>(&k, &IDENTITY).unwrap();
    assert!(report.refused > 0 && report.queries_compared > 0 && report.outputs_checked, "{report:?}");
}
