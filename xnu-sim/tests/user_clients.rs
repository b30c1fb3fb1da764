//! The kernel's user-client paths the audit found unmodelled or the driver wrong about
//! (AUDIT #13, #14, §3.9) and a simulator bug: the refusal log, IOConnectGetService, an open
//! the kernel fails after newUserClient succeeded, a process killed while its open is in flight.

mod common;
use common::*;

both_flavors! {
    /// AUDIT #13: a closed client stays attached (inactive) until the terminate worker stops it;
    /// the refusal log must list only the clients still open (and agree with the count).
    fn the_refusal_log_lists_only_clients_still_open(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        let a = k.open(k.spawn_named_task(USER, "alpha"), 0).unwrap();
        let _b = k.open(k.spawn_named_task(USER, "beta"), 0).unwrap();
        let hold = k.hold_terminate_worker();
        assert_eq!(k.close(a), KIO_RETURN_SUCCESS);
        assert!(hold.wait_held(QUIET), "a's phase 2 waits: closed, still attached");
        assert_eq!(k.instance_count(CLIENT), 2);
        assert_eq!(k.request_unload(), KIO_RETURN_UNSUPPORTED);
        drop(hold);
        assert!(log_has(&k, "terminate refused: 1 client(s) open"), "{:#?}", k.log_lines());
        let listed: Vec<String> = k
            .log_lines()
            .into_iter()
            .filter(|l| l.starts_with("RustKext:   client "))
            .collect();
        assert_eq!(listed.len(), 1, "{listed:#?}");
        assert!(listed[0].ends_with("(beta)"), "{listed:#?}");
    }

    /// AUDIT #14: is_io_connect_get_service returns client->getService(); the base returns NULL
    /// (kIOReturnUnsupported).
    fn io_connect_get_service_returns_the_service(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let c = k.open(k.spawn_task(USER), 0).unwrap();
        assert_eq!(k.connect_get_service(c), Ok(SERVICE.to_string()));
        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        assert_eq!(k.connect_get_service(c), Err(MACH_SEND_INVALID_DEST));
    }

    /// After newUserClient succeeded, is_io_service_open_extended can still fail the open
    /// (entitlement, MACF, sandbox filter, registerOwner): it calls clientClose() itself, with
    /// `closed` unset, and releases the client. The driver must forget that client.
    fn an_open_the_kernel_fails_after_new_user_client_leaves_no_client(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        let task = k.spawn_task(USER);
        let keep = k.open(task, 0).unwrap();
        k.fail_next_open(KIO_RETURN_NOT_PERMITTED);
        assert_eq!(k.open(task, 0), Err(KIO_RETURN_NOT_PERMITTED));
        assert_eq!(k.counter("open.failed_after_newUserClient"), 1);
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.instance_count(CLIENT), 1);
        assert_eq!(client_info(&k, keep).unwrap().1, 1, "the driver forgot it");
        let again = k.open(task, 0).unwrap();
        assert_eq!(client_info(&k, again).unwrap().1, 2);
        assert_eq!(k.counter("clientClose"), 0, "no IOServiceClose was involved");
    }

    /// The simulator used to hand the connection to a task that died during its open and never
    /// tell the driver: the client stayed open forever. The reply carrying the send right goes
    /// to a dead task, the right dies, clientDied follows.
    fn a_process_killed_while_its_open_is_in_flight_reaches_the_driver_as_a_death(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        let keep = k.open(k.spawn_task(USER), 0).unwrap();
        let doomed = k.spawn_named_task(USER, "doomed");
        let pause = k.pause_next_open();
        std::thread::scope(|s| {
            let open = s.spawn(|| k.open(doomed, 0));
            assert!(pause.wait_paused(QUIET));
            assert_eq!(client_info(&k, keep).unwrap().1, 2, "admitted by the driver");
            k.kill_task(doomed);
            drop(pause);
            assert_eq!(open.join().unwrap(), Err(MACH_SEND_INVALID_DEST));
        });
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.counter("connection.opened_by_dead_task"), 1);
        assert_eq!(k.counter("clientDied"), 1);
        assert!(log_has(&k, "died"));
        assert_eq!(client_info(&k, keep).unwrap().1, 1, "the death reached the driver");
        assert_eq!(k.instance_count(CLIENT), 1);
    }
}

// ---- the base IOUserClient, with the test-only kext ----

const FIXTURE: &str = "org.xnusim.test.Clients";

extern "C" {
    fn xnusim_fallback_reset();
}

both_flavors! {
    fn io_connect_get_service_is_unsupported_without_a_get_service_override(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        // SAFETY: plain reset of the fixture's statics; the world lock (Kernel) serializes it.
        unsafe { xnusim_fallback_reset() };
        k.define_kext(&KextSpec {
            bundle_id: FIXTURE.into(),
            module: "xnusim.fallback".into(),
            personalities: vec![xnu_sim::Personality {
                name: "Clients".into(),
                properties: vec![
                    ("IOClass".into(), Property::String("xnusim_FallbackService".into())),
                    ("IOProviderClass".into(), Property::String("IOResources".into())),
                    ("IOResourceMatch".into(), Property::String("IOKit".into())),
                    ("IOMatchCategory".into(), Property::String(FIXTURE.into())),
                    ("IOUserClientClass".into(), Property::String("xnusim_FallbackClient".into())),
                ],
            }],
        });
        assert_eq!(k.load_bundle(FIXTURE), Ok(()));
        let c = k.open_service(k.spawn_task(USER), "xnusim_FallbackService", 0).unwrap();
        assert_eq!(k.connect_get_service(c), Err(KIO_RETURN_UNSUPPORTED));
    }
}
