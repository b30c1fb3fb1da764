//! After a refused unload, the last client going (close or process death) terminates the
//! service by itself, and the kernel's autounload removes the kext once the registry is quiet.

mod common;
use common::*;
use std::time::Duration;

fn assert_autounloads_after_quiet(k: &Kernel) {
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
    k.advance_clock(Duration::from_secs(59));
    assert!(k.kext_loaded());
    k.advance_clock(Duration::from_secs(2));
    assert_gone(k);
    assert_eq!(k.counter("kext.unloaded:autounload"), 1);
    assert_eq!(log_count(k, "RustKext: module stop"), 1);
    assert_eq!(
        log_count(k, "last client closed after an unload request"),
        1
    );
}

#[test]
fn last_close_after_refused_unload_self_terminates_then_autounloads() {
    let k = Kernel::boot();
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
    assert_autounloads_after_quiet(&k);
}

#[test]
fn process_death_after_refused_unload_self_terminates_then_autounloads() {
    let k = Kernel::boot();
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
    assert_autounloads_after_quiet(&k);
    assert_eq!(log_count(&k, "died"), 3);
}

#[test]
fn a_live_service_is_never_autounloaded() {
    let k = Kernel::boot();
    k.load_kext().unwrap();
    k.advance_clock(Duration::from_secs(3600));
    assert_intact(&k);
}

#[test]
fn the_kext_reloads_after_autounload() {
    let k = Kernel::boot();
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
