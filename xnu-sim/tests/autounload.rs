//! After a refused unload, the last client going (close or process death) terminates the
//! service by itself, and the kernel's autounload removes the kext 60 s after the registry's
//! last quiet edge; the busy desktop keeps restarting that countdown, so autounload happens only
//! in a quiet gap of at least 60 s.

mod common;
use common::*;
use std::time::Duration;

/// The exact 60 s: without the desktop, the termination's own quiet edge starts the countdown.
fn assert_autounloads_60_s_after_the_last_quiet_edge(k: &Kernel) {
    assert!(k.wait_quiet(QUIET));
    assert!(
        k.kext_loaded(),
        "the kernel unloads only after the registry has been quiet"
    );
    assert_eq!(k.service_count(), 0);
    assert_eq!(k.instance_count(SERVICE), 0);
    assert_eq!(k.instance_count(CLIENT), 0);
    assert_eq!(k.counter("stop:org_rustkext_Service"), 1);
    assert_eq!(k.counter("terminate.inactive:org_rustkext_Service"), 1);
    // Kernel time also runs with the host's (x10): the margins are 3 s of kernel time.
    k.advance_clock(Duration::from_secs(57));
    assert!(k.kext_loaded());
    k.advance_clock(Duration::from_secs(6));
    assert_gone(k);
    assert_eq!(k.counter("kext.unloaded:autounload"), 1);
    assert_eq!(log_count(k, "RustKext: module stop"), 1);
    assert_eq!(
        log_count(k, "last client closed after an unload request"),
        1
    );
}

both_flavors! {
    fn last_close_after_refused_unload_self_terminates_then_autounloads(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        let task = k.spawn_task(USER);
        let a = k.open(task, 0).unwrap();
        let b = k.open(task, 0).unwrap();
        assert_eq!(k.request_unload(), KIO_RETURN_UNSUPPORTED);

        assert_eq!(k.close(a), KIO_RETURN_SUCCESS);
        assert!(k.wait_quiet(QUIET));
        assert_intact(&k);
        assert_eq!(ping(&k, b, 1), Ok(2));

        assert_eq!(k.close(b), KIO_RETURN_SUCCESS);
        assert_autounloads_60_s_after_the_last_quiet_edge(&k);
    }

    fn process_death_after_refused_unload_self_terminates_then_autounloads(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        let first = k.spawn_named_task(USER, "first");
        let second = k.spawn_named_task(USER, "second");
        let a = k.open(first, 0).unwrap();
        let b = k.open(second, 0).unwrap();
        let c = k.open(second, 0).unwrap();
        assert_eq!(k.request_unload(), KIO_RETURN_UNSUPPORTED);
        assert!(
            log_has(&k, "(second)"),
            "the refusal names the clients: {:#?}",
            k.log_lines()
        );

        k.kill_task(first);
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.counter("clientDied"), 1);
        assert_intact(&k);
        assert_eq!(
            ping(&k, a, 1),
            Err(MACH_SEND_INVALID_DEST),
            "a dead task's connection is gone"
        );
        assert_eq!(ping(&k, b, 1), Ok(2));

        k.kill_task(second);
        assert_eq!(k.counter("clientDied"), 3);
        assert_eq!(ping(&k, c, 1), Err(MACH_SEND_INVALID_DEST));
        assert_autounloads_60_s_after_the_last_quiet_edge(&k);
        assert_eq!(log_count(&k, "died"), 3);
    }

    fn a_live_service_is_never_autounloaded(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        k.advance_clock(Duration::from_secs(3600));
        assert_intact(&k);
        assert!(k.counter("desktop.publishes") >= 200, "the desktop was busy all along");
    }

    fn the_kext_loads_again_by_kextload_after_autounload(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        let task = k.spawn_task(USER);
        let c = k.open(task, 0).unwrap();
        assert_eq!(k.request_unload(), KIO_RETURN_UNSUPPORTED);
        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        k.advance_clock(AUTOUNLOAD);
        assert_gone(&k);
        assert_eq!(k.load_kext(), Ok(()));
        assert_intact(&k);
        let c = k.open(task, 0).unwrap();
        let (_, open, pending) = client_info(&k, c).unwrap();
        assert_eq!(
            (open, pending),
            (1, 0),
            "a reloaded kext starts with no pending unload"
        );
    }
}

const FIXTURE: &str = "org.xnusim.test.Unused";

/// A kext without instances (its personality waits for a resource nobody publishes).
fn load_unused_kext(k: &Kernel) {
    k.define_kext(&KextSpec {
        bundle_id: FIXTURE.into(),
        module: "xnusim.fallback".into(),
        personalities: vec![xnu_sim::Personality {
            name: "Unused".into(),
            properties: vec![
                (
                    "IOClass".into(),
                    Property::String("xnusim_FallbackService".into()),
                ),
                (
                    "IOProviderClass".into(),
                    Property::String("IOResources".into()),
                ),
                (
                    "IOResourceMatch".into(),
                    Property::String("org.xnusim.never".into()),
                ),
                ("IOMatchCategory".into(), Property::String(FIXTURE.into())),
            ],
        }],
    });
    assert_eq!(k.load_bundle(FIXTURE), Ok(()));
    assert_eq!(k.instance_count("xnusim_FallbackService"), 0);
}

both_flavors! {
    /// OSKext::considerUnloads at every quiet edge (IOService::_adjustBusy): with the default
    /// desktop (a publish every 5 s up to 30 s, then 75 s quiet) the countdown restarts at each
    /// publish, so an unused kext loaded at boot goes 60 s after the 30 s publish (at 90 s), in
    /// the quiet gap, not 60 s after it was loaded.
    fn autounload_happens_only_in_a_quiet_gap_of_60_s(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        load_unused_kext(&k);
        let loaded_at = k.now();
        assert!(loaded_at < Duration::from_secs(5), "the test started in the first burst");
        // 75 s: 70 s after the first publish, 45 s after the last one (margins of 15 s of
        // kernel time: it also runs with the host's clock, x10).
        k.advance_clock(Duration::from_secs(75) - loaded_at);
        assert!(k.bundle_loaded(FIXTURE), "unloaded before 60 s after the last publish");
        assert_eq!(k.counter("desktop.publishes"), 6, "publishes at 5, 10, ..., 30 s");
        assert!(k.counter("registry.quiet_edges") >= 7);
        assert_eq!(k.counter("kext.unload_scans"), 0, "every publish restarted the countdown");
        k.advance_clock(Duration::from_secs(25));
        assert!(!k.bundle_loaded(FIXTURE), "not unloaded in the quiet gap");
        assert_eq!(k.counter("kext.unloaded:autounload"), 1);
    }

    fn a_desktop_without_a_60_s_gap_keeps_every_kext_loaded(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Bursts {
            every: Duration::from_secs(20),
            burst: Duration::from_secs(100),
            quiet: Duration::from_secs(50),
        });
        load_unused_kext(&k);
        k.advance_clock(Duration::from_secs(1200));
        assert!(k.bundle_loaded(FIXTURE));
        assert_eq!(k.counter("kext.unloaded:autounload"), 0);
        k.set_desktop(Desktop::Off);
        k.advance_clock(UNLOAD_DELAY + Duration::from_secs(1));
        assert!(!k.bundle_loaded(FIXTURE), "unloaded once the desktop went quiet");
    }
}
