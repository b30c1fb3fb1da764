//! A connection the program never closes keeps the kext: `kmutil unload` is refused with
//! 0xe00002c7 (the driver's terminate() refuses while a client is open; xnu OSKext::removeKext
//! "Can't remove kext %s; services failed to terminate - 0x%x."), read by the backend's own
//! kextctl. Releasing the connection's last send right without IOServiceClose is the kernel's
//! clientDied: the last client is gone, the service terminates itself (the unload is pending),
//! its ports die with it, and the kext autounloads. A call after the service was terminated:
//! the service handle taken before is a dead name (MACH_SEND_INVALID_DEST) and matching finds
//! nothing. One kernel per test binary: this one ends with the kext unloaded.

mod standin;

use iokitlib_sim::codes::*;
use iokitlib_sim::traps::mach_task_self;
use standin::*;
use std::time::{Duration, Instant};
use userclient_test::codes::kIOReturnUnsupported;
use userclient_test::kextctl::{lists_bundle, unload_answer};

#[test]
fn a_leaked_connection_blocks_unload_until_its_last_send_right_goes() {
    if !is_root() {
        eprintln!("skipped: kmutil unload needs root");
        return;
    }
    let (service, leaked) = open();
    let (ok, stdout, stderr) = tool("kmutil", &["unload", "-b", BUNDLE_ID]);
    let answer = unload_answer(ok, &stdout, &stderr);
    assert!(!answer.unloaded);
    assert_eq!(answer.code, Some(kIOReturnUnsupported), "{}", answer.text);
    assert!(
        stderr.contains("(kernel) Can't remove kext org.rustkext.RustKext; services failed to terminate - 0xe00002c7."),
        "{stderr}"
    );
    let (_, listed, _) = tool("kextstat", &["-b", BUNDLE_ID]);
    assert!(lists_bundle(&listed, BUNDLE_ID), "{listed}");
    // Still serving, the unload pending.
    let (kr, out) = call_exact(leaked, Selector::GetClientInfo, &[], &[]);
    assert_eq!((kr, out.scalars[1], out.scalars[2]), (KERN_SUCCESS, 1, 1));

    // The last send right goes without IOServiceClose: clientDied.
    assert_eq!(release(leaked), KERN_SUCCESS);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = iokitlib_sim::simulator_status().unwrap();
        if !status.kext_loaded && status.service_instances == 0 {
            assert_eq!(status.user_client_instances, 0);
            assert_eq!(status.object_ports, 0, "the service's port died with it");
            break;
        }
        assert!(Instant::now() < deadline, "kext still there: {status:?}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Calls after the service was terminated.
    let mut connect = 0x1234;
    // SAFETY: mach_task_self has no preconditions.
    let task = unsafe { mach_task_self() };
    assert_eq!(
        open_with(service, task, 0, &mut connect),
        MACH_SEND_INVALID_DEST
    );
    assert_eq!(connect, 0x1234);
    let (kr, out) = call(leaked, Selector::Ping as u32, &[1], &[], 1, 0);
    assert_eq!(kr, MACH_SEND_INVALID_DEST);
    assert_untouched(&out, 1, 0);
    assert_eq!(matching(SERVICE_CLASS), 0);
    assert_eq!(release(service), KERN_SUCCESS);
}
