//! The monitor on xnu-sim through its generated client and the framework's conformance suite.
#![forbid(unsafe_code)]

use rustkext::abi::client::Error;
use rustkext::abi::conformance::wrong_shapes;
use rustkext::abi::{Interface, Privilege, DESCRIBE};
use rustkext_monitor_api::{Monitor, MonitorClient, PathPrefix, ABI_VERSION, STATS_SIZE};
use rustkext_monitor_kext::IDENTITY;
use rustkext_sim::{connect, ROOT, USER};
use xnu_sim::codes::*;
use xnu_sim::{Desktop, FileopArg, Kernel};

fn boot() -> Kernel {
    let k = Kernel::boot();
    k.set_desktop(Desktop::Off);
    rustkext_sim::load(&k, &IDENTITY).unwrap();
    k
}

#[test]
fn the_generated_client_finds_the_configured_class_and_checks_the_fingerprint() {
    let k = boot();
    assert_eq!(<dyn Monitor>::SERVICE_CLASS, "org_rustkext_Service");
    assert_eq!(IDENTITY.service_class, "org_rustkext_Service");
    let root = MonitorClient::open(connect(&k, &IDENTITY, ROOT).unwrap()).unwrap();
    assert_eq!(root.ping(41), Ok(42));
    assert_eq!(root.get_version(), Ok(ABI_VERSION));
    root.set_path_filter(PathPrefix::new(b"/watched/").unwrap()).unwrap();
    k.fileop(1, FileopArg::Value(0), FileopArg::Path("/watched/a"), 0, 0);
    k.fileop(1, FileopArg::Value(0), FileopArg::Path("/elsewhere"), 0, 0);
    let stats = root.get_stats().unwrap();
    assert_eq!((stats.events[0], stats.filter_matched, stats.size as usize), (2, 1, STATS_SIZE));
    root.reset_stats().unwrap();
    assert_eq!(root.get_stats().unwrap().events[0], 0);
    let [id, open, pending] = root.get_client_info().unwrap();
    assert!(id != 0 && open == 1 && pending == 0);

    let user = MonitorClient::open(connect(&k, &IDENTITY, USER).unwrap()).unwrap();
    assert_eq!(user.get_stats(), Err(Error::Refused { method: "GetStats", code: KIO_RETURN_NOT_PRIVILEGED }));
    assert_eq!(user.cancel_unload().unwrap_err().code(), Some(KIO_RETURN_NOT_PRIVILEGED));
    assert_eq!(root.cancel_unload(), Ok(()));
}

#[test]
fn describe_answers_the_fingerprint_and_count() {
    let k = boot();
    let conn = connect(&k, &IDENTITY, USER).unwrap();
    let answer = rustkext::abi::client::describe(&conn).unwrap();
    let count = <dyn Monitor as Interface>::TABLE.len() as u64;
    assert!(count >= 7, "ABI 2's seven selectors, and any appended since");
    assert_eq!(answer, [<dyn Monitor as Interface>::FINGERPRINT, count]);
}

#[test]
fn the_generated_adversarial_suite_passes() {
    let k = boot();
    let report = rustkext_sim::conformance::<dyn Monitor>(&k, &IDENTITY).unwrap();
    // Every wrong shape of each selector and of DESCRIBE, 12 unknown selectors, each privileged
    // method to a user (ABI 2's seven selectors: 108 refusals, 4 queries compared).
    let table = <dyn Monitor as Interface>::TABLE;
    let shapes: usize = table.iter().map(|e| wrong_shapes(e.shape).len()).sum();
    let describe = wrong_shapes(rustkext::abi::shape_for(table, DESCRIBE).unwrap()).len();
    let privileged = table.iter().filter(|e| e.privilege != Privilege::Anyone).count();
    assert_eq!(report.refused, shapes + describe + 12 + privileged, "{report:?}");
    assert!(report.refused >= 108);
    assert_eq!(report.queries_compared, table.iter().filter(|e| e.query).count(), "Ping, GetVersion, GetStats, GetClientInfo, ...");
    assert!(report.outputs_checked);
    assert_eq!(k.counter("externalMethod.refused_wrote_outputs"), 0);
    assert!(k.counter("externalMethod.refused") as usize >= report.refused);
}

/// `IORegistryEntryCreateCFProperties` on the service: the personality's properties, and the
/// values computed when read (the shim's `serializeProperties`): clients open, the unload
/// pending, the counters; nothing of it is stored in the table (`getProperty` path).
#[test]
fn the_registry_shows_live_values_computed_when_read() {
    use xnu_sim::RegistryValue::{Bool, Number, String as Str};
    let k = boot();
    let class = IDENTITY.service_class;
    let props = k.registry_properties(class).unwrap();
    assert_eq!(props.get("IOClass"), Some(&Str(class.into())));
    let framework = props.get("Framework").expect("the Framework group");
    assert_eq!(framework.get("Running"), Some(&Bool(true)));
    assert_eq!(framework.get("ClientsOpen"), Some(&Number(0)));
    assert_eq!(framework.get("MaxClients"), Some(&Number(64)));
    assert_eq!(framework.get("UnloadPending"), Some(&Bool(false)));
    let driver = props.get("Driver").expect("the Driver group");
    assert_eq!(driver.get("FileopOpen"), Some(&Number(0)));

    let root = MonitorClient::open(connect(&k, &IDENTITY, ROOT).unwrap()).unwrap();
    let _user = MonitorClient::open(connect(&k, &IDENTITY, USER).unwrap()).unwrap();
    root.set_path_filter(PathPrefix::new(b"/watched/").unwrap()).unwrap();
    k.fileop(1, FileopArg::Value(0), FileopArg::Path("/watched/a"), 0, 0);
    k.fileop(1, FileopArg::Value(0), FileopArg::Path("/elsewhere"), 0, 0);
    k.fileop(7, FileopArg::Value(0), FileopArg::Path("/watched/b"), 0, 0);
    assert_ne!(k.unload_bundle(IDENTITY.bundle_id), KIO_RETURN_SUCCESS);

    let props = k.registry_properties(class).unwrap();
    let framework = props.get("Framework").unwrap();
    assert_eq!(framework.get("ClientsOpen"), Some(&Number(2)));
    assert_eq!(framework.get("UnloadPending"), Some(&Bool(true)));
    let driver = props.get("Driver").unwrap();
    assert_eq!(driver.get("FileopOpen"), Some(&Number(2)));
    assert_eq!(driver.get("FileopDelete"), Some(&Number(1)));
    assert_eq!(driver.get("FilterMatched"), Some(&Number(2)));
    let stats = root.get_stats().unwrap();
    assert_eq!((stats.events[0], stats.events[6], stats.filter_matched), (2, 1, 2), "the same counters as GetStats");
    assert_eq!(k.counter("registry.get_properties"), 2);
}
