//! The client table: RustKextMaxClients, refusal when full, slots reused after close.

mod common;
use common::*;

both_flavors! {
    fn full_table_refuses_with_no_resources_until_a_client_closes(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext_with(&[("RustKextMaxClients", Property::Number(3))])
            .unwrap();
        let task = k.spawn_task(USER);
        let open: Vec<_> = (0..3).map(|_| k.open(task, 0).unwrap()).collect();
        assert_eq!(k.open(task, 0), Err(KIO_RETURN_NO_RESOURCES));
        assert_eq!(k.open(task, 0), Err(KIO_RETURN_NO_RESOURCES));
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.instance_count(CLIENT), 3);
        assert_eq!(client_info(&k, open[0]).unwrap().1, 3);
        assert_eq!(k.close(open[1]), KIO_RETURN_SUCCESS);
        let again = k.open(task, 0).unwrap();
        assert_eq!(client_info(&k, again).unwrap().1, 3);
    }

    fn default_table_holds_64_clients(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let task = k.spawn_task(USER);
        let open: Vec<_> = (0..64).map(|_| k.open(task, 0).unwrap()).collect();
        assert_eq!(k.open(task, 0), Err(KIO_RETURN_NO_RESOURCES));
        assert_eq!(k.instance_count(CLIENT), 64);
        k.kill_task(task);
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.counter("clientDied"), 64);
        assert_eq!(k.instance_count(CLIENT), 0);
        assert!(open
            .iter()
            .all(|&c| ping(&k, c, 0) == Err(MACH_SEND_INVALID_DEST)));
    }

    fn max_clients_above_64_is_clamped(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext_with(&[("RustKextMaxClients", Property::Number(1000))])
            .unwrap();
        let task = k.spawn_task(USER);
        for _ in 0..64 {
            k.open(task, 0).unwrap();
        }
        assert_eq!(k.open(task, 0), Err(KIO_RETURN_NO_RESOURCES));
    }
}
