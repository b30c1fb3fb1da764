//! Load, open, call, close, unload: the plain lifecycle with exact codes and final state.

mod common;
use common::*;

both_flavors! {
    fn load_publishes_one_service_and_one_kauth_listener(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        assert!(!k.kext_loaded());
        assert_eq!(k.load_kext(), Ok(()));
        assert_intact(&k);
        assert_eq!(k.instance_count(CLIENT), 0);
        assert!(log_has(&k, "RustKext: module start"));
        assert!(log_has(&k, "RustKext: started"));
    }

    fn open_call_close_then_unload_leaves_nothing(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let task = k.spawn_task(USER);
        let c = k.open(task, 0).unwrap();
        assert_eq!(k.instance_count(CLIENT), 1);
        assert_eq!(ping(&k, c, 41), Ok(42));
        assert_eq!(
            call(&k, c, Selector::GetVersion, &[], &[]).unwrap().scalars,
            vec![2, 0, 0]
        );
        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.instance_count(CLIENT), 0);
        assert_eq!(k.counter("clientClose"), 1);
        assert_eq!(
            k.counter("clientDied"),
            0,
            "the client terminated itself in clientClose"
        );
        assert_eq!(k.counter("stop:org_rustkext_UserClient"), 1);
        // The closed connection is gone at the Mach level.
        assert_eq!(ping(&k, c, 1), Err(MACH_SEND_INVALID_DEST));
        assert_eq!(k.close(c), MACH_SEND_INVALID_DEST);

        assert_eq!(k.request_unload(), 0);
        assert_gone(&k);
        assert_eq!(k.counter("stop:org_rustkext_Service"), 1);
        assert_eq!(k.counter("kext.unloaded:kextunload"), 1);
        assert!(log_has(&k, "RustKext: module stop"));
    }

    fn client_ids_and_counts_follow_opens_and_closes(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let task = k.spawn_task(USER);
        let a = k.open(task, 0).unwrap();
        let b = k.open(task, 0).unwrap();
        let (id_a, open, pending) = client_info(&k, a).unwrap();
        let (id_b, _, _) = client_info(&k, b).unwrap();
        assert_ne!(id_a, 0);
        assert_ne!(id_a, id_b);
        assert_eq!((open, pending), (2, 0));
        assert_eq!(k.close(a), KIO_RETURN_SUCCESS);
        assert!(k.wait_quiet(QUIET));
        assert_eq!(client_info(&k, b).unwrap().1, 1);
        assert_eq!(k.instance_count(CLIENT), 1);
        // Without an unload request, the last close does not terminate the service.
        assert_eq!(k.close(b), KIO_RETURN_SUCCESS);
        assert!(k.wait_quiet(QUIET));
        assert_intact(&k);
        k.advance_clock(AUTOUNLOAD);
        assert_intact(&k);
    }

    fn unknown_connect_type_is_refused_and_changes_nothing(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let task = k.spawn_task(USER);
        assert_eq!(k.open(task, 1), Err(KIO_RETURN_BAD_ARGUMENT));
        assert_eq!(k.open(task, u32::MAX), Err(KIO_RETURN_BAD_ARGUMENT));
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.instance_count(CLIENT), 0);
        let c = k.open(task, 0).unwrap();
        assert_eq!(client_info(&k, c).unwrap().1, 1);
    }

    fn opening_an_unloaded_kext_finds_no_service(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        let task = k.spawn_task(USER);
        assert_eq!(k.open(task, 0), Err(MACH_SEND_INVALID_DEST));
        assert_eq!(k.request_unload(), KOS_KEXT_RETURN_NOT_FOUND);
    }
}
