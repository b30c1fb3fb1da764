//! The kauth unlisten race as xnu leaves it (AUDIT #2, §3.6, §3.11): a caller that read a
//! listener slot before kauth_unlisten_scope can call the old callback afterwards; if the slot
//! was reused meanwhile, with the new listener's idata. A kext can only narrow the window: a
//! straggler delayed less than its grace meets a closed gate, one delayed past the unmapping of
//! its code is a kernel panic (reported as a crash). Also the model's own straggler hook: a
//! parked straggler is identified by its thread, never by the listener it read.

mod common;
use common::*;
use std::time::Duration;

fn split_crashes(k: &Kernel) -> Vec<Violation> {
    let (crashes, rest): (Vec<Violation>, Vec<Violation>) = k
        .take_violations()
        .into_iter()
        .partition(|v| v.kind == ViolationKind::UnmappedCall);
    assert!(rest.iter().all(is_audit_4), "{rest:#?}");
    crashes
}

both_flavors! {
    /// AUDIT #2, the documented bound, harmless side: a caller that read the slot just before
    /// unlisten and calls 50 ms later (less than the driver's grace) finds the kext still mapped
    /// and its gate closed.
    fn a_straggler_delayed_less_than_the_grace_is_harmless(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        let c = k.open(k.spawn_task(ROOT), 0).unwrap();
        k.fileop_path(fileop::OPEN, "/tmp/before");
        let before = stats(&k, c);
        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        k.arm_fileop_straggler_after(Duration::from_millis(50));
        std::thread::scope(|s| {
            let straggler = s.spawn(|| k.fileop_path(fileop::OPEN, "/tmp/straggler"));
            assert!(k.wait_straggler_parked(QUIET));
            assert_eq!(k.request_unload(), 0);
            assert_eq!(straggler.join().unwrap(), 1, "it called the old callback, still mapped");
        });
        assert_eq!(before.events[0], 1);
        assert_gone(&k);
        assert_eq!(k.counter("kauth.straggler_calls"), 1);
        assert_eq!(split_crashes(&k), vec![]);
    }

    /// AUDIT #2, the documented bound, fatal side: a caller delayed until after kextunload
    /// unmapped the code calls into unmapped memory. No grace covers it; the model reports it.
    fn a_straggler_delayed_past_the_unmap_is_reported_as_a_crash(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        k.arm_fileop_straggler_after_unmap();
        std::thread::scope(|s| {
            let straggler = s.spawn(|| k.fileop_path(fileop::OPEN, "/tmp/late"));
            assert!(k.wait_straggler_parked(QUIET));
            assert_eq!(k.request_unload(), 0);
            assert_eq!(straggler.join().unwrap(), 0, "the call could not be made");
        });
        assert!(!k.kext_loaded());
        let crashes = split_crashes(&k);
        assert_eq!(crashes.len(), 1, "{crashes:#?}");
        assert_eq!(crashes[0].subject, "rustkext");
        assert_eq!(crashes[0].callback, "a kauth FILEOP callback");
    }

    /// kauth_authorize_action loads kll_callback and kll_idata separately: a slot unlistened and
    /// taken by another kext in between pairs RustKext's callback with the other kext's idata.
    /// The kext must ignore an idata that is not its own (and must not touch it).
    fn the_kext_ignores_a_foreign_idata_from_a_torn_slot_read(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        k.arm_torn_fileop_pair();
        std::thread::scope(|s| {
            let torn = s.spawn(|| k.fileop_path(fileop::OPEN, "/tmp/torn"));
            assert!(k.wait_straggler_parked(QUIET));
            assert_eq!(k.request_unload(), 0);
            assert_eq!(torn.join().unwrap(), 1, "RustKext's callback ran with the foreign idata");
        });
        assert_eq!(k.counter("kauth.torn_pair_calls"), 1);
        assert!(k.torn_canary_intact(), "the kext wrote through another kext's idata");
        assert_eq!(k.counter("kauth.other_listener_calls"), 0);
        assert_eq!(k.kauth_listener_count(), 1, "the other kext's listener took the slot");
        assert_eq!(k.fileop_path(fileop::OPEN, "/tmp/after"), 1);
        assert_eq!(k.counter("kauth.other_listener_calls"), 1);
        assert_eq!(split_crashes(&k), vec![]);
    }

    /// The simulator's straggler hook used to take any other caller of the same listener for the
    /// parked straggler, stop waiting for the real one, and blame the kext when it came late.
    /// Normal callers of that listener while the straggler is parked change nothing now.
    fn a_normal_caller_of_the_same_listener_is_not_taken_for_the_parked_straggler(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        k.arm_fileop_straggler();
        std::thread::scope(|s| {
            let straggler = s.spawn(|| k.fileop_path(fileop::OPEN, "/tmp/straggler"));
            assert!(k.wait_straggler_parked(QUIET));
            for _ in 0..3 {
                assert_eq!(k.fileop_path(fileop::OPEN, "/tmp/normal"), 1);
            }
            assert_eq!(k.request_unload(), 0);
            assert!(
                straggler.is_finished() || k.counter("kauth.straggler_calls") == 1,
                "unlisten returned before the straggler was inside the callback"
            );
            assert_eq!(straggler.join().unwrap(), 1);
        });
        assert_eq!(k.counter("kauth.straggler_calls"), 1);
        assert_eq!(k.counter("kauth.callbacks"), 4);
        assert_eq!(split_crashes(&k), vec![], "the straggler was covered by the kext");
    }
}

// ---- what a kext leaves behind at unload, with the test-only kext ----

const FIXTURE: &str = "org.xnusim.test.Leaky";

extern "C" {
    fn xnusim_fallback_reset();
    fn xnusim_fallback_leak_at_unload(listener: bool, call_delay_ms: u32);
    fn xnusim_fallback_cleanup_leaks();
}

both_flavors! {
    /// Code is unmapped at the end of kextunload (after the module stop routine): a kauth
    /// callback the kext left registered, or a thread call it left armed, then calls into
    /// unmapped memory.
    fn a_listener_or_thread_call_left_behind_at_unload_is_a_crash(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        // SAFETY: the fixture's hooks; the world lock (Kernel) serializes them.
        unsafe {
            xnusim_fallback_reset();
            xnusim_fallback_leak_at_unload(true, 10_000);
        }
        k.define_kext(&KextSpec {
            bundle_id: FIXTURE.into(),
            module: "xnusim.fallback".into(),
            personalities: vec![],
        });
        assert_eq!(k.load_bundle(FIXTURE), Ok(()));
        assert_eq!(k.kauth_listener_count(), 1);
        assert_eq!(k.fileop_path(fileop::OPEN, "/tmp/mapped"), 1, "fine while mapped");
        assert_eq!(k.unload_bundle(FIXTURE), 0);
        assert_eq!(k.violations(), vec![]);

        assert_eq!(k.fileop_path(fileop::OPEN, "/tmp/unmapped"), 0);
        k.advance_clock(Duration::from_secs(11));
        let v = k.take_violations();
        assert_eq!(v.len(), 2, "{v:#?}");
        assert!(v
            .iter()
            .all(|v| v.kind == ViolationKind::UnmappedCall && v.subject == "xnusim.fallback"));
        assert_eq!(v[0].callback, "a kauth FILEOP callback");
        assert_eq!(v[1].callback, "a thread call");
        // SAFETY: the fixture's hook, after the consequence was seen.
        unsafe { xnusim_fallback_cleanup_leaks() };
    }
}
