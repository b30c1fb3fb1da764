//! Object ports (service handles user space holds), a task's euid changing, and a connection's
//! last send right going without IOServiceClose.

mod common;
use common::*;

#[test]
fn one_port_per_service_and_the_last_send_right_drops_its_reference() {
    let k = Kernel::boot();
    k.load_kext().unwrap();
    let port = k.object_port_matching_service(SERVICE).unwrap();
    // A second lookup names the same port (one IOMachPort per object).
    assert_eq!(k.object_port_matching_service(SERVICE), Ok(port));
    assert_eq!(k.object_port_class(port).as_deref(), Some(SERVICE));
    assert_eq!(k.object_port_count(), 1);

    k.object_port_release_send(port);
    assert!(k.object_port_alive(port), "one send right is left");
    k.object_port_release_send(port);
    assert!(!k.object_port_alive(port));
    assert_eq!(k.object_port_count(), 0);
    assert_eq!(k.counter("object_port.no_senders"), 1);
    assert_eq!(k.object_port_class(port), None);
    // Releasing a destroyed port's right (a dead name) does nothing.
    k.object_port_release_send(port);
    assert_intact(&k);
}

/// IOResources is matched too (IOService::copyMatchingService walks the plane from the root),
/// and first when matching a superclass of both.
#[test]
fn io_resources_is_matched_too() {
    let k = Kernel::boot();
    k.load_kext().unwrap();
    let resources = k.object_port_matching_service("IOResources").unwrap();
    assert_eq!(k.object_port_class(resources).as_deref(), Some("IOResources"));
    assert_eq!(k.object_port_matching_service("IOService"), Ok(resources));
    k.object_port_release_send(resources);
    k.object_port_release_send(resources);
    assert_eq!(k.object_port_count(), 0);
}

#[test]
fn no_service_no_port() {
    let k = Kernel::boot();
    assert_eq!(
        k.object_port_matching_service(SERVICE),
        Err(KIO_RETURN_NOT_FOUND)
    );
    k.load_kext().unwrap();
    assert_eq!(
        k.object_port_matching_service("IOUserClient"),
        Err(KIO_RETURN_NOT_FOUND),
        "no user client is registered"
    );
    assert_eq!(k.object_port_count(), 0);
}

/// IOService.cpp terminatePhase1 -> IOUserClient::destroyUserReferences(victim) ->
/// IOMachPort::releasePortForObject: a service handle user space never released does not keep
/// the terminated service, nor the kext, alive.
#[test]
fn a_leaked_service_port_dies_with_the_service_and_does_not_block_unload() {
    let k = Kernel::boot();
    k.load_kext().unwrap();
    let leaked = k.object_port_matching_service(SERVICE).unwrap();
    assert!(k.object_port_alive(leaked));

    assert_eq!(k.request_unload(), KIO_RETURN_SUCCESS);
    assert!(!k.object_port_alive(leaked));
    assert_eq!(k.counter("object_port.destroyed_by_terminate"), 1);
    assert_eq!(k.counter("kext.unloaded:kextunload"), 1);
    assert_gone(&k);
    // The task still holds the name: a dead name now.
    let task = k.spawn_task(ROOT);
    assert_eq!(
        k.object_port_open(leaked, task, 0),
        Err(MACH_SEND_INVALID_DEST)
    );
    k.object_port_release_send(leaked);
}

#[test]
fn open_through_a_port_reaches_the_service() {
    let k = Kernel::boot();
    k.load_kext().unwrap();
    let port = k.object_port_matching_service(SERVICE).unwrap();
    let task = k.spawn_task(ROOT);
    let c = k.object_port_open(port, task, 0).unwrap();
    assert_eq!(ping(&k, c, 1), Ok(2));
    assert_eq!(
        k.object_port_open(port, task, 1),
        Err(KIO_RETURN_BAD_ARGUMENT)
    );
    // A port does not block the refusal path either: the client does.
    assert_eq!(k.request_unload(), KIO_RETURN_UNSUPPORTED);
    assert!(k.object_port_alive(port), "the service was not terminated");
    assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
    // The last close terminates the service (unload pending): its port goes with it.
    assert!(k.wait_quiet(QUIET));
    assert!(!k.object_port_alive(port));
    k.advance_clock(AUTOUNLOAD);
    assert_gone(&k);
    k.object_port_release_send(port);
}

#[test]
fn seteuid_changes_what_the_next_open_sees() {
    let k = Kernel::boot();
    k.load_kext().unwrap();
    let task = k.spawn_task(ROOT);
    assert!(k.set_task_euid(task, USER));
    let user = k.open(task, 0).unwrap();
    assert!(k.set_task_euid(task, ROOT));
    let admin = k.open(task, 0).unwrap();
    let reset = |c| call(&k, c, Selector::ResetStats, &[], &[]).map(|o| o.scalars);
    // Privilege was decided at each open, and stays.
    assert_eq!(reset(user), Err(KIO_RETURN_NOT_PRIVILEGED));
    assert_eq!(reset(admin), Ok(vec![]));
    k.kill_task(task);
    assert!(
        !k.set_task_euid(task, ROOT),
        "a dead task has no credential"
    );
}

#[test]
fn the_last_send_right_without_close_is_client_died() {
    let k = Kernel::boot();
    k.load_kext().unwrap();
    let task = k.spawn_task(ROOT);
    let observer = k.open(task, 0).unwrap();
    let c = k.open(task, 0).unwrap();
    assert_eq!(client_info(&k, observer).unwrap().1, 2);
    assert!(k.deallocate_connection(c));
    assert_eq!(k.counter("clientDied"), 1);
    assert_eq!(k.counter("clientClose"), 0);
    assert_eq!(client_info(&k, observer).unwrap().1, 1);
    // The name is gone: a second deallocation finds no port.
    assert!(!k.deallocate_connection(c));
    assert_eq!(k.close(c), MACH_SEND_INVALID_DEST);
    assert_eq!(k.close(observer), KIO_RETURN_SUCCESS);
}
