//! Termination as xnu does it (AUDIT #10, §3.7, §3.8), with the test-only kext:
//! - a kIOServiceSynchronous terminate (kextunload's) waits WITHOUT a bound to become the
//!   terminate thread (waitToBecomeTerminateThread: TIMEOUT_WAIT_FOREVER); only its later wait
//!   for a victim that is still busy is bounded, by 15 s, after which it logs "PLEASE FIX!";
//! - phase 1 terminates a client through provider->terminateClient(), i.e. the client's own
//!   virtual terminate() with kIOServiceRecursing;
//! - kextunload's walk (IOCatalogue::terminateDrivers) calls terminate() again on a service of
//!   the bundle that is already inactive.

mod common;
use common::*;
use std::time::Duration;

const FIXTURE: &str = "org.xnusim.test.Terminate";
const FIXTURE_SERVICE: &str = "xnusim_FallbackService";
const FIXTURE_CLIENT: &str = "xnusim_FallbackClient";
const PLEASE_FIX: &str = "::terminate(kIOServiceSynchronous): THREAD_TIMED_OUT. Attempting to auto-resolve your deadlock. PLEASE FIX!";

extern "C" {
    fn xnusim_fallback_reset();
    fn xnusim_fallback_terminate_service() -> bool;
    fn xnusim_fallback_terminate_calls(which: i32) -> u32;
}

fn terminate_calls(which: i32) -> u32 {
    // SAFETY: the fixture's counter; the world lock (Kernel) serializes it.
    unsafe { xnusim_fallback_terminate_calls(which) }
}

fn load_fixture(k: &Kernel) {
    k.set_desktop(Desktop::Off);
    // SAFETY: plain reset of the fixture's statics; the world lock (Kernel) serializes it.
    unsafe { xnusim_fallback_reset() };
    k.define_kext(&KextSpec {
        bundle_id: FIXTURE.into(),
        module: "xnusim.fallback".into(),
        personalities: vec![xnu_sim::Personality {
            name: "Terminate".into(),
            properties: vec![
                ("IOClass".into(), Property::String(FIXTURE_SERVICE.into())),
                (
                    "IOProviderClass".into(),
                    Property::String("IOResources".into()),
                ),
                ("IOResourceMatch".into(), Property::String("IOKit".into())),
                ("IOMatchCategory".into(), Property::String(FIXTURE.into())),
                (
                    "IOUserClientClass".into(),
                    Property::String(FIXTURE_CLIENT.into()),
                ),
            ],
        }],
    });
    assert_eq!(k.load_bundle(FIXTURE), Ok(()));
    assert_eq!(k.instance_count(FIXTURE_SERVICE), 1);
}

both_flavors! {
    fn a_synchronous_terminate_waits_without_bound_to_become_the_terminate_thread(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        load_fixture(&k);
        let task = k.spawn_task(USER);
        let a = k.open_service(task, FIXTURE_SERVICE, 0).unwrap();
        let _b = k.open_service(task, FIXTURE_SERVICE, 0).unwrap();
        // The worker takes the terminate role for a's termination and keeps it.
        let hold = k.hold_terminate_worker();
        assert_eq!(k.close(a), KIO_RETURN_SUCCESS);
        assert!(hold.wait_held(QUIET));
        std::thread::scope(|s| {
            let unload = s.spawn(|| k.unload_bundle(FIXTURE));
            wait_for("kextunload waits for the terminate role", QUIET, || {
                k.counter("terminate.role_waits") >= 1
            });
            // Far past xnu's 15 s busy bound: a bounded wait would give up within 2 ms.
            k.jump_clock(Duration::from_secs(120));
            std::thread::sleep(Duration::from_millis(100));
            assert!(!unload.is_finished(), "kextunload gave up waiting for the terminate role");
            assert!(!log_has(&k, PLEASE_FIX));
            drop(hold);
            assert_eq!(unload.join().unwrap(), 0, "{:#?}", k.log_lines());
        });
        assert!(!k.bundle_loaded(FIXTURE));
        assert_eq!(k.instance_count(FIXTURE_CLIENT), 0);
        assert!(!log_has(&k, PLEASE_FIX));
    }

    /// The victim stays busy while a client holds kIOServiceStartState (an open in flight:
    /// IOUserClient::reserve until is_io_service_open_extended's setTerminateDefer(service,
    /// false)): its phase 2 is deferred, the synchronous caller sleeps for terminate work with one
    /// 15 s deadline, then logs PLEASE FIX and goes on; the kext is still in use.
    fn a_synchronous_terminate_bounds_only_the_busy_wait_at_15_s(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        load_fixture(&k);
        let task = k.spawn_task(USER);
        let pause = k.pause_next_open();
        std::thread::scope(|s| {
            let open = s.spawn(|| k.open_service(task, FIXTURE_SERVICE, 0));
            assert!(pause.wait_paused(QUIET));
            let unload = s.spawn(|| k.unload_bundle(FIXTURE));
            wait_for("kextunload waits for the busy victim", QUIET, || {
                k.counter("terminate.busy_waits") >= 1
            });
            assert!(k.counter("terminate.phase2_deferred") >= 1);
            // Host time counts too (x10): 10 s + 50 ms of host time stays below 15 s.
            k.jump_clock(Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(50));
            assert!(!unload.is_finished(), "gave up before 15 s");
            k.jump_clock(Duration::from_secs(5));
            assert_eq!(
                unload.join().unwrap(),
                KOS_KEXT_RETURN_IN_USE,
                "the service still lives: {:#?}",
                k.log_lines()
            );
            assert_eq!(log_count(&k, PLEASE_FIX), 1);
            assert!(log_has(&k, "xnusim_FallbackService[0x"));
            drop(pause);
            let opened = open.join().unwrap().expect("the open itself succeeded");
            assert_eq!(
                k.call(opened, 0, &[1], &[], 1, 0),
                Err(MACH_SEND_INVALID_DEST),
                "its client was terminated with the provider"
            );
        });
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.instance_count(FIXTURE_SERVICE), 0, "phase 2 ran once the open finished");
        assert_eq!(k.instance_count(FIXTURE_CLIENT), 0);
        k.advance_clock(AUTOUNLOAD);
        assert!(!k.bundle_loaded(FIXTURE));
    }

    /// IOService::requestTerminate -> provider->terminateClient(client, options |
    /// kIOServiceRecursing) -> client->terminate(...): a client's terminate() override is called.
    fn phase_one_terminates_a_client_through_its_own_virtual_terminate(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        load_fixture(&k);
        let c = k.open_service(k.spawn_task(USER), FIXTURE_SERVICE, 0).unwrap();
        assert_eq!(terminate_calls(1), 0);
        assert_eq!(k.unload_bundle(FIXTURE), 0);
        assert_eq!(terminate_calls(1), 1, "the client's terminate() ran once");
        assert_eq!(terminate_calls(2), 1, "with kIOServiceRecursing");
        assert_eq!(k.counter("terminate.terminateClient"), 1);
        assert_eq!(k.counter("clientClose"), 0);
        assert_eq!(k.call(c, 0, &[1], &[], 1, 0), Err(MACH_SEND_INVALID_DEST));
    }

    /// IOCatalogue::terminateDrivers walks the whole service plane, inactive services included,
    /// and calls terminate() on each one carrying the bundle id again.
    fn kextunload_calls_terminate_again_on_an_inactive_service_of_the_bundle(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        load_fixture(&k);
        let hold = k.hold_terminate_worker();
        // SAFETY: the fixture's hook; the world lock (Kernel) serializes it.
        assert!(unsafe { xnusim_fallback_terminate_service() });
        assert!(hold.wait_held(QUIET));
        assert_eq!(terminate_calls(0), 1);
        assert_eq!(k.service_count(), 0, "inactive");
        assert_eq!(k.instance_count(FIXTURE_SERVICE), 1, "and still attached");
        assert_eq!(
            k.unload_bundle(FIXTURE),
            KOS_KEXT_RETURN_IN_USE,
            "terminated again (already inactive: nothing to wait for), then still in use"
        );
        assert_eq!(terminate_calls(0), 2, "the walk called terminate() on the inactive service");
        assert_eq!(k.catalogue_personalities(FIXTURE), 0, "its personalities went");
        drop(hold);
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.instance_count(FIXTURE_SERVICE), 0);
        k.advance_clock(UNLOAD_DELAY + Duration::from_secs(1));
        assert!(!k.bundle_loaded(FIXTURE));
    }
}
