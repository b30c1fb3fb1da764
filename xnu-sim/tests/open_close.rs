//! Load, open, call, close, unload: the plain lifecycle with exact codes and final state.

use xnu_sim::codes::*;
use xnu_sim::Kernel;

const SERVICE: &str = "org_rustkext_Service";
const CLIENT: &str = "org_rustkext_UserClient";

#[test]
fn load_publishes_one_service_and_one_kauth_listener() {
    let k = Kernel::boot();
    assert!(!k.kext_loaded());
    assert_eq!(k.load_kext(), Ok(()));
    assert!(k.kext_loaded());
    assert_eq!(k.service_count(), 1);
    assert_eq!(k.instance_count(SERVICE), 1);
    assert_eq!(k.instance_count(CLIENT), 0);
    assert_eq!(k.kauth_listener_count(), 1);
    let log = k.log_lines();
    assert!(log.iter().any(|l| l == "RustKext: module start"), "{log:?}");
    assert!(log.iter().any(|l| l == "RustKext: started"), "{log:?}");
}

#[test]
fn open_call_close_then_unload_leaves_nothing() {
    let k = Kernel::boot();
    k.load_kext().unwrap();
    let task = k.spawn_task(501);
    let c = k.open(task, 0).unwrap();
    assert_eq!(k.instance_count(CLIENT), 1);
    assert_eq!(k.call(c, 0, &[41], &[], 1, 0).unwrap().scalars, vec![42]);
    assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
    assert!(k.wait_quiet(std::time::Duration::from_secs(10)));
    assert_eq!(k.instance_count(CLIENT), 0);
    assert_eq!(k.counter("clientClose"), 1);
    assert_eq!(k.counter("clientDied"), 0, "the client terminated itself in clientClose");
    // The closed connection is gone at the Mach level.
    assert_eq!(k.call(c, 0, &[1], &[], 1, 0), Err(MACH_SEND_INVALID_DEST));

    assert_eq!(k.request_unload(), 0);
    assert!(!k.kext_loaded());
    assert_eq!(k.instance_count(SERVICE), 0);
    assert_eq!(k.kauth_listener_count(), 0);
    assert_eq!(k.counter("stop:org_rustkext_Service"), 1);
    let log = k.log_lines();
    assert!(log.iter().any(|l| l == "RustKext: module stop"), "{log:?}");
}
