//! kextunload while clients are open: refused with 0xe00002c7, the kext intact and still
//! serving, the request remembered (new opens refused), then CancelUnload.

mod common;
use common::*;

fn refused_with(flavor: Flavor, n: usize) {
    let k = Kernel::boot_flavor(flavor);
    k.load_kext().unwrap();
    let task = k.spawn_task(USER);
    let clients: Vec<_> = (0..n).map(|_| k.open(task, 0).unwrap()).collect();

    assert_eq!(k.request_unload(), KIO_RETURN_UNSUPPORTED);
    assert_intact(&k);
    assert_eq!(k.instance_count(CLIENT), n as u32);
    assert_eq!(k.counter("kext.unload_refused"), 1);
    assert_eq!(k.counter("stop:org_rustkext_Service"), 0);
    assert!(
        log_has(&k, &format!("terminate refused: {n} client(s) open")),
        "{:#?}",
        k.log_lines()
    );
    // Still serving every client, and each sees the pending unload.
    for &c in &clients {
        assert_eq!(ping(&k, c, 7), Ok(8));
        let (_, open, pending) = client_info(&k, c).unwrap();
        assert_eq!((open, pending), (n as u64, 1));
    }
    // New clients are refused while the unload is pending; nothing changes.
    assert_eq!(k.open(task, 0), Err(KIO_RETURN_NOT_PERMITTED));
    assert_eq!(k.instance_count(CLIENT), n as u32);
    // A second request is refused the same way.
    assert_eq!(k.request_unload(), KIO_RETURN_UNSUPPORTED);
    assert_intact(&k);
}

both_flavors! {
    fn refused_with_one_client(flavor: Flavor) {
        refused_with(flavor, 1);
    }

    fn refused_with_two_clients(flavor: Flavor) {
        refused_with(flavor, 2);
    }

    fn refused_with_many_clients(flavor: Flavor) {
        refused_with(flavor, 17);
    }

    fn cancel_unload_accepts_clients_again_and_the_last_close_keeps_the_service(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let admin = k.spawn_task(ROOT);
        let user = k.spawn_task(USER);
        let c = k.open(admin, 0).unwrap();
        assert_eq!(k.request_unload(), KIO_RETURN_UNSUPPORTED);
        assert_eq!(k.open(user, 0), Err(KIO_RETURN_NOT_PERMITTED));

        assert_eq!(
            call(&k, c, Selector::CancelUnload, &[], &[]).map(|o| o.scalars),
            Ok(vec![])
        );
        assert_eq!(client_info(&k, c).unwrap().2, 0);
        let d = k.open(user, 0).unwrap();
        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        assert_eq!(k.close(d), KIO_RETURN_SUCCESS);
        assert!(k.wait_quiet(QUIET));
        assert_intact(&k);
        k.advance_clock(AUTOUNLOAD);
        assert_intact(&k);
        // And a later unload with no client goes through.
        assert_eq!(k.request_unload(), 0);
        assert_gone(&k);
    }

    fn cancel_unload_is_refused_to_non_administrators(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let user = k.spawn_task(USER);
        let c = k.open(user, 0).unwrap();
        assert_eq!(k.request_unload(), KIO_RETURN_UNSUPPORTED);
        assert_eq!(
            call(&k, c, Selector::CancelUnload, &[], &[]),
            Err(KIO_RETURN_NOT_PRIVILEGED)
        );
        assert_eq!(client_info(&k, c).unwrap().2, 1, "still pending");
    }
}
