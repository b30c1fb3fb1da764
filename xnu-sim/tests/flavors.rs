//! Where 10.15 and 11+ differ at the user-client boundary (AUDIT #12). 11+ runs externalMethod
//! under the connection's IPC read lock and clientClose/clientDied under its write lock
//! (ipcEnter, defaultLocking); 10.15's is_io_connect_method takes no lock at all, so
//! IOServiceClose can run clientClose while a method on the same connection is still running.

mod common;
use common::*;

both_flavors! {
    fn io_service_close_and_a_method_running_on_the_same_connection(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.load_kext().unwrap();
        let task = k.spawn_task(USER);
        let c = k.open(task, 0).unwrap();
        let other = k.open(task, 0).unwrap();
        let park = k.park_next_method(c);
        std::thread::scope(|s| {
            let method = s.spawn(|| ping(&k, c, 1));
            assert!(park.wait_parked(QUIET), "the method is on its way into externalMethod");
            let close = s.spawn(|| k.close(c));
            match flavor {
                Flavor::Catalina => {
                    // No lock: the close runs to its end while the method is still in flight.
                    assert_eq!(close.join().unwrap(), KIO_RETURN_SUCCESS);
                    assert_eq!(k.counter("clientClose"), 1);
                    assert_eq!(client_info(&k, other).unwrap().1, 1, "closed in the driver");
                    drop(park);
                    assert_eq!(
                        method.join().unwrap(),
                        Err(KIO_RETURN_NOT_OPEN),
                        "the method arrives on a closed client"
                    );
                }
                Flavor::BigSurAndLater => {
                    wait_for("IOServiceClose waits for the IPC lock", QUIET, || {
                        k.counter("ipc.close_waiting_for_lock") == 1
                    });
                    // The method holds the read lock: the close cannot have taken the write lock.
                    assert_eq!(k.counter("ipc.close_has_lock"), 0);
                    assert_eq!(k.counter("clientClose"), 0);
                    assert_eq!(client_info(&k, other).unwrap().1, 2);
                    drop(park);
                    assert_eq!(method.join().unwrap(), Ok(2), "the method ran to its end first");
                    assert_eq!(close.join().unwrap(), KIO_RETURN_SUCCESS);
                    assert_eq!(k.counter("clientClose"), 1);
                }
            }
        });
        assert!(k.wait_quiet(QUIET));
        assert_eq!(client_info(&k, other).unwrap().1, 1);
        assert_eq!(k.instance_count(CLIENT), 1);
    }
}
