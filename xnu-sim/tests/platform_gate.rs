//! The platform expert's work-loop gate (AUDIT #4). Phase 2 and 3 callbacks of a service on
//! IOResources and of its user clients run inside it (IOResources::getWorkLoop returns the
//! platform's loop; terminateWorker runs actionStop through _workLoopAction): nothing may sleep
//! or poll there. The driver of f907031 drains and sleeps its 100 ms grace inside `stop()`.

mod common;
use common::*;
use std::time::Duration;

/// Every gate violation, taken; the test then shows them all in its failure message.
fn gate_violations(k: &Kernel) -> Vec<Violation> {
    k.take_violations()
        .into_iter()
        .filter(|v| {
            matches!(
                v.kind,
                ViolationKind::SleepInGate | ViolationKind::PollInGate
            )
        })
        .collect()
}

both_flavors! {
    fn nothing_sleeps_in_the_platform_gate_when_kextunload_stops_the_service(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let task = k.spawn_task(USER);
        let c = k.open(task, 0).unwrap();
        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        assert_eq!(k.request_unload(), 0);
        assert_gone(&k);
        let holds = k.gate_holds();
        assert!(
            holds.iter().any(|h| h.class == SERVICE && h.callback == "stop"),
            "the service's stop ran inside the gate: {holds:#?}"
        );
        let bad = gate_violations(&k);
        assert!(bad.is_empty(), "{bad:#?}");
    }

    fn nothing_sleeps_in_the_platform_gate_when_the_service_terminates_itself(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        let task = k.spawn_task(USER);
        let a = k.open(task, 0).unwrap();
        let b = k.open(task, 0).unwrap();
        assert_eq!(k.request_unload(), KIO_RETURN_UNSUPPORTED);
        assert_eq!(k.close(a), KIO_RETURN_SUCCESS);
        assert_eq!(k.close(b), KIO_RETURN_SUCCESS);
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.counter("stop:org_rustkext_Service"), 1);
        assert!(k.gate_holds().iter().any(|h| h.class == CLIENT && h.callback == "stop"));
        let bad = gate_violations(&k);
        assert!(bad.is_empty(), "{bad:#?}");
    }
}

// ---- the model's gate with the test-only kext ----

const FIXTURE: &str = "org.xnusim.test.Gate";

extern "C" {
    fn xnusim_fallback_reset();
}

fn load_fixture(k: &Kernel) {
    k.set_desktop(Desktop::Off);
    // SAFETY: plain reset of the fixture's statics; the world lock (Kernel) serializes it.
    unsafe { xnusim_fallback_reset() };
    k.define_kext(&KextSpec {
        bundle_id: FIXTURE.into(),
        module: "xnusim.fallback".into(),
        personalities: vec![xnu_sim::Personality {
            name: "Gate".into(),
            properties: vec![
                (
                    "IOClass".into(),
                    Property::String("xnusim_FallbackService".into()),
                ),
                (
                    "IOProviderClass".into(),
                    Property::String("IOResources".into()),
                ),
                ("IOResourceMatch".into(), Property::String("IOKit".into())),
                ("IOMatchCategory".into(), Property::String(FIXTURE.into())),
                (
                    "IOUserClientClass".into(),
                    Property::String("xnusim_FallbackClient".into()),
                ),
            ],
        }],
    });
    assert_eq!(k.load_bundle(FIXTURE), Ok(()));
}

both_flavors! {
    /// The model's own check: a user client of an IOResources service that sleeps in stop() is
    /// reported with its class, its callback and the time it held the gate.
    fn a_sleep_inside_a_gated_callback_is_reported_with_the_time_held(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        load_fixture(&k);
        let c = k.open_service(k.spawn_task(USER), "xnusim_FallbackService", 3).unwrap();
        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        assert!(k.wait_quiet(QUIET));
        let v = k.take_violations();
        assert_eq!(v.len(), 1, "{v:#?}");
        assert_eq!(v[0].kind, ViolationKind::SleepInGate);
        assert_eq!(v[0].subject, "xnusim_FallbackClient");
        assert_eq!(v[0].callback, "stop");
        assert!(v[0].held >= Duration::from_millis(50), "{:?}", v[0].held);
        assert!(v[0].text.contains("IOSleep"), "{}", v[0].text);
    }

    fn a_kernel_clock_poll_inside_a_gated_callback_is_reported(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        load_fixture(&k);
        let c = k.open_service(k.spawn_task(USER), "xnusim_FallbackService", 4).unwrap();
        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        assert!(k.wait_quiet(QUIET));
        let v = k.take_violations();
        assert_eq!(v.len(), 1, "{v:#?}");
        assert_eq!(v[0].kind, ViolationKind::PollInGate);
        assert_eq!(v[0].subject, "xnusim_FallbackClient");
        assert!(v[0].held >= Duration::from_millis(20), "{:?}", v[0].held);
    }

    /// Which callbacks run inside the gate: the clients' willTerminate, didTerminate and stop
    /// (on their provider's loop, inherited from IOResources), the service's finalize and stop.
    fn phase_2_and_3_callbacks_of_a_resources_driver_run_inside_the_gate(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        load_fixture(&k);
        let _c = k.open_service(k.spawn_task(USER), "xnusim_FallbackService", 0).unwrap();
        assert_eq!(k.unload_bundle(FIXTURE), 0);
        let holds: Vec<(String, String)> = k
            .gate_holds()
            .into_iter()
            .map(|h| (h.class, h.callback))
            .collect();
        for expected in [
            ("xnusim_FallbackClient", "willTerminate"),
            ("xnusim_FallbackClient", "didTerminate"),
            ("xnusim_FallbackClient", "finalize"),
            ("xnusim_FallbackClient", "stop"),
            ("xnusim_FallbackService", "finalize"),
            ("xnusim_FallbackService", "stop"),
        ] {
            assert!(
                holds.iter().any(|(c, cb)| c == expected.0 && cb == expected.1),
                "{expected:?} not in {holds:#?}"
            );
        }
        let at = |class: &str| holds.iter().position(|(c, cb)| c == class && cb == "stop");
        let (stop_client, stop_service) = (at("xnusim_FallbackClient"), at("xnusim_FallbackService"));
        assert!(stop_client < stop_service, "clients stop before their provider");
    }
}
