//! kauth FILEOP: events counted through the real listener, storms on several threads, storms
//! during the unload (no callback into unmapped code), the unregister race, and the full scope.

mod common;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use xnu_sim::FileopArg::{Path, Value};

both_flavors! {
    fn events_are_counted_by_action_and_filter(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let c = k.open(k.spawn_task(ROOT), 0).unwrap();
        call(
            &k,
            c,
            Selector::SetPathFilter,
            &[],
            &filter_bytes("/Users/"),
        )
        .unwrap();
        let none = Value(0);
        assert_eq!(
            k.fileop_args(fileop::OPEN, [none, Path("/Users/a/x"), none, none]),
            1
        );
        assert_eq!(
            k.fileop_args(fileop::CLOSE, [none, Path("/Users/a/x"), Value(2), none]),
            1
        );
        assert_eq!(
            k.fileop_args(
                fileop::RENAME,
                [Path("/tmp/a"), Path("/Users/b"), none, none]
            ),
            1
        );
        assert_eq!(
            k.fileop_args(
                fileop::EXCHANGE,
                [Path("/tmp/a"), Path("/tmp/b"), none, none]
            ),
            1
        );
        assert_eq!(
            k.fileop_args(fileop::LINK, [Path("/tmp/a"), Path("/tmp/b"), none, none]),
            1
        );
        assert_eq!(
            k.fileop_args(fileop::EXEC, [none, Path("/bin/sh"), none, none]),
            1
        );
        assert_eq!(
            k.fileop_args(
                fileop::DELETE,
                [Value(0x1234), Path("/Users/gone"), none, none]
            ),
            1
        );
        assert_eq!(
            k.fileop_args(
                fileop::WILL_RENAME,
                [Value(0x1234), Path("/tmp/c"), Path("/tmp/d"), none]
            ),
            1
        );
        assert_eq!(
            k.fileop_args(99, [Value(1), Value(2), Value(3), Value(4)]),
            1
        );
        let s = stats(&k, c);
        assert_eq!(s.events, [1, 1, 1, 1, 1, 1, 1, 1, 1]);
        assert_eq!(
            s.filter_matched, 4,
            "open, close, rename (to /Users/b) and delete: {s:?}"
        );
        assert_eq!(s.reserved, 0);
        assert_eq!(s.version, rustkext::abi::STATS_VERSION);
        assert_eq!(s.size as usize, STATS_SIZE);
    }

    fn storm_on_four_threads_counts_every_event(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let c = k.open(k.spawn_task(ROOT), 0).unwrap();
        let calls = k.fileop_storm(4, 5000, fileop::OPEN, "/tmp/storm");
        assert_eq!(calls, 20_000);
        let s = stats(&k, c);
        assert_eq!(s.events[0], 20_000);
        assert!(s.peak_in_flight >= 1 && s.peak_in_flight <= 4, "{s:?}");
    }

    fn storms_during_the_unload_never_call_into_unmapped_code(flavor: Flavor) {
        for round in 0..3 {
            let k = Kernel::boot_flavor(flavor);
            k.load_kext().unwrap();
            let stop_storm = AtomicBool::new(false);
            let code = std::thread::scope(|s| {
                for _ in 0..3 {
                    s.spawn(|| {
                        while !stop_storm.load(Ordering::Relaxed) {
                            k.fileop_path(fileop::OPEN, "/tmp/during-stop");
                        }
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
                let code = k.request_unload();
                // Keep storming a little after the kext went: nobody is listening any more.
                std::thread::sleep(Duration::from_millis(20));
                stop_storm.store(true, Ordering::Relaxed);
                code
            });
            assert_eq!(code, 0, "round {round}");
            assert_gone(&k);
            assert!(
                k.counter("kauth.callbacks") > 0,
                "round {round}: the storm reached the kext"
            );
            assert!(
                k.violations()
                    .iter()
                    .all(|v| v.kind != ViolationKind::UnmappedCall),
                "round {round}: {:#?}",
                k.violations()
            );
            assert_eq!(k.fileop_path(fileop::OPEN, "/tmp/after"), 0);
        }
    }

    fn a_caller_that_read_the_slot_before_unlisten_is_covered_by_the_kext(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        k.arm_fileop_straggler();
        let code = std::thread::scope(|s| {
            let straggler = s.spawn(|| k.fileop_path(fileop::OPEN, "/tmp/straggler"));
            assert!(k.wait_straggler_parked(Duration::from_secs(10)));
            let code = k.request_unload();
            assert_eq!(
                straggler.join().unwrap(),
                1,
                "the old callback was called with the old idata"
            );
            code
        });
        assert_eq!(code, 0);
        assert_gone(&k);
        assert_eq!(k.counter("kauth.straggler_calls"), 1);
        assert!(
            k.violations()
                .iter()
                .all(|v| v.kind != ViolationKind::UnmappedCall),
            "{:#?}",
            k.violations()
        );
    }

    fn a_full_scope_fails_start_and_the_kext_stays_unstarted(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        for _ in 0..15 {
            assert!(k.kauth_listen_other());
        }
        assert!(
            !k.kauth_listen_other(),
            "16th listener: kauth_listen_scope returns NULL"
        );
        assert_eq!(k.load_kext(), Ok(()));
        assert!(k.kext_loaded());
        assert_eq!(k.service_count(), 0);
        assert_eq!(k.instance_count(SERVICE), 0);
        assert!(log_has(&k, "no free kauth listener slot"));
        assert_eq!(k.open(k.spawn_task(USER), 0), Err(MACH_SEND_INVALID_DEST));
        // Nothing of the kext lives, so the kernel autounloads it.
        k.advance_clock(AUTOUNLOAD);
        assert!(!k.kext_loaded());
        k.kauth_unlisten_others();
        // With one slot free again, the kext starts and shares the scope.
        for _ in 0..14 {
            assert!(k.kauth_listen_other());
        }
        k.load_kext().unwrap();
        assert_eq!(k.kauth_listener_count(), 15);
        assert_eq!(k.fileop_path(fileop::OPEN, "/x"), 15);
        assert_eq!(k.counter("kauth.other_listener_calls"), 14);
    }
}
