//! Every scenario checks what it promises under the configuration it runs against, read from the
//! service's registry properties: on a correct driver each one passes (or is skipped, for a
//! stated reason) with RustKextMaxClients 1, 2 and 64, RustKextAdminOnly, and
//! RustKextStatsForEveryone set or not, run as an administrator and as a user without sudo.
//! Before the scenarios read the configuration, `privilege` failed under MaxClients 1 and under
//! StatsForEveryone, and run as a non-administrator open-close, stress and bad-input failed under
//! MaxClients 1 and 2 (they assumed room for several clients, and GetStats for everyone).

use std::collections::BTreeMap;
use userclient_test::backend::Backend;
use userclient_test::registry::ServiceProperties;
use userclient_test::report::{Outcome, Verdict};
use userclient_test::scenarios::{self, Options};
use userclient_test::sim::SimBackend;
use xnu_sim::Property;

/// The configurations, by name.
fn configs() -> Vec<(&'static str, Vec<(&'static str, Property)>)> {
    vec![
        ("max1", vec![("RustKextMaxClients", Property::Number(1))]),
        ("max2", vec![("RustKextMaxClients", Property::Number(2))]),
        ("max64", vec![("RustKextMaxClients", Property::Number(64))]),
        (
            "admin-only",
            vec![("RustKextAdminOnly", Property::Bool(true))],
        ),
        (
            "stats-for-everyone",
            vec![("RustKextStatsForEveryone", Property::Bool(true))],
        ),
        (
            "stats-for-admins",
            vec![("RustKextStatsForEveryone", Property::Bool(false))],
        ),
    ]
}

fn opts() -> Options {
    Options {
        clients: 4,
        calls: 20,
        ..Options::default()
    }
}

/// Each scenario on a freshly booted kernel with `overrides`, as an administrator or not.
fn run_all(overrides: &[(&str, Property)], admin: bool) -> BTreeMap<&'static str, Outcome> {
    scenarios::ALL
        .iter()
        .map(|s| {
            let backend = SimBackend::boot_as(overrides, admin).unwrap();
            (s.name, scenarios::run(&backend, &opts(), s))
        })
        .collect()
}

/// What a correct driver must give: pass, or skip where the current user cannot run it.
fn expected(config: &str, admin: bool, scenario: &str) -> Verdict {
    let needs_admin = ["privilege", "file-activity", "unload-refused", "autounload"];
    match (admin, config) {
        (true, _) => Verdict::Pass,
        (false, _) if needs_admin.contains(&scenario) => Verdict::Skip,
        // Nothing a non-administrator may open: only the privilege scenario (as root) checks it.
        (false, "admin-only") => Verdict::Skip,
        (false, _) => Verdict::Pass,
    }
}

fn check(config: &str, admin: bool, outcomes: &BTreeMap<&'static str, Outcome>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (name, o) in outcomes {
        let want = expected(config, admin, name);
        if o.result != want {
            wrong.push(format!(
                "{config} admin={admin} {name}: {:?} (expected {want:?}): {}",
                o.result, o.reason
            ));
        }
    }
    wrong
}

#[test]
fn every_scenario_keeps_its_promise_under_every_configuration() {
    let mut wrong = Vec::new();
    for (name, overrides) in configs() {
        for admin in [true, false] {
            let outcomes = run_all(&overrides, admin);
            wrong.extend(check(name, admin, &outcomes));
            // What the verdicts say they checked, under this configuration.
            let reason = |s: &str| outcomes[s].reason.clone();
            match (name, admin) {
                ("max1", true) => {
                    // 1 + the administrators' reserve of 4.
                    assert!(
                        reason("many-clients").starts_with("table full at 5 clients"),
                        "{}",
                        reason("many-clients")
                    );
                    assert!(
                        reason("privilege").contains("GetStats, ResetStats"),
                        "{}",
                        reason("privilege")
                    );
                }
                ("max1", false) => {
                    assert!(
                        reason("open-close").starts_with("room for 1 client(s)"),
                        "{}",
                        reason("open-close")
                    );
                    assert!(
                        reason("many-clients").starts_with("table full at 1 clients"),
                        "{}",
                        reason("many-clients")
                    );
                    assert!(
                        reason("stress").contains("(4 asked; the table has room for 1)"),
                        "{}",
                        reason("stress")
                    );
                    assert!(
                        reason("crash-cleanup").contains("read from the registry"),
                        "{}",
                        reason("crash-cleanup")
                    );
                }
                ("max2", false) => {
                    assert!(
                        reason("open-close").contains("(open clients 1 -> 2 -> 1)"),
                        "{}",
                        reason("open-close")
                    );
                    assert!(
                        reason("many-clients").starts_with("table full at 2 clients"),
                        "{}",
                        reason("many-clients")
                    );
                    assert!(
                        reason("stress").contains("(4 asked; the table has room for 2)"),
                        "{}",
                        reason("stress")
                    );
                }
                ("max64", true) => {
                    assert!(
                        reason("many-clients").starts_with("table full at 68 clients"),
                        "{}",
                        reason("many-clients")
                    );
                }
                ("admin-only", true) => {
                    assert_eq!(
                        reason("privilege"),
                        "open refused to a non-administrator with kIOReturnNotPrivileged (RustKextAdminOnly is set)"
                    );
                }
                ("admin-only", false) => {
                    assert!(
                        reason("open-close").starts_with("RustKextAdminOnly is set"),
                        "{}",
                        reason("open-close")
                    );
                }
                ("stats-for-everyone", true) => {
                    let r = reason("privilege");
                    assert!(
                        r.contains("(RustKextStatsForEveryone is set)") && r.contains("GetStats"),
                        "{r}"
                    );
                    assert!(!r.contains("GetStats, ResetStats refused"), "{r}");
                }
                ("stats-for-everyone", false) => {
                    // GetStats is the non-administrator's own here.
                    assert_eq!(outcomes["bad-input"].result, Verdict::Pass);
                }
                ("stats-for-admins", true) => {
                    let r = reason("privilege");
                    assert!(
                        r.contains("refused with kIOReturnNotPrivileged") && !r.contains("is set"),
                        "{r}"
                    );
                    // The counters were made nonzero first, so a reset that went through would show.
                    assert!(!r.contains("Stats (0 events)"), "{r}");
                }
                _ => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The configuration comes from the registry: the settings as the personality sets them, and the
/// values computed when read (clients open now).
#[test]
fn the_backend_reads_the_configuration_and_live_values_from_the_registry() {
    let sim = SimBackend::boot_as(
        &[
            ("RustKextMaxClients", Property::Number(2)),
            ("RustKextStatsForEveryone", Property::Bool(true)),
        ],
        false,
    )
    .unwrap();
    let props = sim.service_properties().unwrap();
    let settings = props.settings().unwrap();
    assert_eq!(
        (
            settings.max_clients,
            settings.admin_only_open,
            settings.observers_for_everyone
        ),
        (2, false, true)
    );
    assert_eq!(props.clients_open(), Some(0));
    assert_eq!(
        props.framework().and_then(|f| f.number("MaxClients")),
        Some(2)
    );
    let conn = sim
        .open(userclient_test::backend::User::Current, 0)
        .unwrap();
    assert_eq!(sim.service_properties().unwrap().clients_open(), Some(1));
    sim.close(conn);
    assert_eq!(sim.service_properties().unwrap().clients_open(), Some(0));

    // A setting of the wrong type kept the service from starting; read back, it is an error too.
    let mut wrong = props.clone();
    for (k, v) in wrong.0.iter_mut() {
        if k == "RustKextMaxClients" {
            *v = userclient_test::registry::Value::Bool(true);
        }
    }
    assert_eq!(
        wrong.settings(),
        Err("RustKextMaxClients must be a number".to_string())
    );
}

/// `status` shows what the service publishes in the registry, read without a client.
#[test]
fn status_shows_the_registry_values() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_userclient-test"))
        .args(["--backend", "sim", "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("registry framework: CallbacksInFlight 0, CallbacksRefusedAfterClose 0, ClientsOpen 0, MaxClients 64,"),
        "{text}"
    );
    assert!(
        text.contains("registry driver: FileopClose 0, FileopDelete 0,"),
        "{text}"
    );
    assert!(text.contains(", FilterMatched 0\n"), "{text}");
}
