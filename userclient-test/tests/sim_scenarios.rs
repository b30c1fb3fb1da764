//! Every scenario passes on the simulator: the unmodified shim and Rust core on xnu-sim.

use userclient_test::backend::Backend;
use userclient_test::report::Verdict;
use userclient_test::scenarios::{self, Options};
use userclient_test::sim::SimBackend;
use xnu_sim::Property;

/// Small stress sizes: the numbers are reported, never asserted.
fn options() -> Options {
    Options {
        clients: 4,
        calls: 200,
        ..Options::default()
    }
}

fn passes(name: &str) {
    let backend = SimBackend::boot().expect("boot the simulator");
    let scenario = scenarios::find(name).expect("scenario exists");
    let outcome = scenarios::run(&backend, &options(), scenario);
    assert_eq!(
        outcome.result,
        Verdict::Pass,
        "{name}: {}\nkernel log:\n{}",
        outcome.reason,
        backend.log_lines().join("\n")
    );
    assert!(!outcome.codes.is_empty(), "{name} saw no kernel answer");
}

#[test]
fn open_close() {
    passes("open-close");
}

#[test]
fn many_clients() {
    passes("many-clients");
}

#[test]
fn bad_input() {
    passes("bad-input");
}

#[test]
fn privilege() {
    passes("privilege");
}

/// The scenarios follow the personality: a smaller client table, an admin-only open.
#[test]
fn configured_table_size_and_admin_only_open() {
    let backend = SimBackend::boot_with(&[("RustKextMaxClients", Property::Number(4))]).unwrap();
    let outcome = scenarios::run(
        &backend,
        &options(),
        scenarios::find("many-clients").unwrap(),
    );
    assert_eq!(outcome.result, Verdict::Pass, "{}", outcome.reason);
    assert!(
        outcome.reason.starts_with("table full at 8 clients"),
        "4 for anyone, 4 more for the administrator the harness runs as: {}",
        outcome.reason
    );
    drop(backend);

    let backend = SimBackend::boot_with(&[("RustKextAdminOnly", Property::Bool(true))]).unwrap();
    let outcome = scenarios::run(&backend, &options(), scenarios::find("privilege").unwrap());
    assert_eq!(outcome.result, Verdict::Pass, "{}", outcome.reason);
    assert!(
        outcome.reason.contains("open refused"),
        "{}",
        outcome.reason
    );
}

#[test]
fn file_activity() {
    passes("file-activity");
}

#[test]
fn stress() {
    let backend = SimBackend::boot().expect("boot the simulator");
    let outcome = scenarios::run(&backend, &options(), scenarios::find("stress").unwrap());
    assert_eq!(outcome.result, Verdict::Pass, "{}", outcome.reason);
    for metric in ["calls_per_second", "p50_us", "p99_us"] {
        assert!(outcome.metrics.contains_key(metric), "missing {metric}");
    }
    assert_eq!(outcome.metrics["clients"], 4.0);
    assert_eq!(outcome.metrics["calls_per_client"], 200.0);
}

#[test]
fn crash_cleanup() {
    passes("crash-cleanup");
}

#[test]
fn unload_refused() {
    passes("unload-refused");
}

#[test]
fn autounload() {
    passes("autounload");
}

#[test]
fn all_in_order_on_one_kernel() {
    let backend = SimBackend::boot().expect("boot the simulator");
    let opts = options();
    let outcomes: Vec<_> = scenarios::ALL
        .iter()
        .map(|s| scenarios::run(&backend, &opts, s))
        .collect();
    for o in &outcomes {
        assert_eq!(o.result, Verdict::Pass, "{}: {}", o.name, o.reason);
    }
    assert_eq!(outcomes.last().map(|o| o.name), Some("autounload"));
    assert_eq!(
        backend.is_loaded(),
        Ok(false),
        "the kext is still loaded after autounload"
    );
}
