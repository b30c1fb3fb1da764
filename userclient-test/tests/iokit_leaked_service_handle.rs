//! A service handle the program never releases (IOServiceGetMatchingService without
//! IOObjectRelease), then `kmutil unload`. On macOS the unload goes through: terminating the
//! service destroys every user-space port on it (xnu IOService.cpp terminatePhase1 ->
//! IOUserClient::destroyUserReferences -> IOMachPort::releasePortForObject, which drops the
//! port's reference on the service), so the leaked handle keeps nothing alive and becomes a dead
//! name: IOServiceOpen on it cannot be sent (MACH_SEND_INVALID_DEST), IOObjectRelease of it
//! succeeds once (a dead name's reference), then the name is gone (KERN_INVALID_NAME).
//! A model that kept the reference (no destroyUserReferences) answers kOSKextReturnInUse
//! 0xdc008018 "classes have instances" instead, which is what this test rules out.
//! One kernel per test binary: this one ends with the kext unloaded.

mod standin;

use iokitlib_sim::codes::*;
use iokitlib_sim::traps::mach_task_self;
use standin::*;
use userclient_test::kextctl::lists_bundle;

#[test]
fn a_leaked_service_handle_does_not_block_unload_and_dies_with_the_service() {
    if !is_root() {
        eprintln!("skipped: kmutil unload needs root");
        return;
    }
    let leaked = matching(SERVICE_CLASS);
    assert_ne!(leaked, 0);
    // Used as programs use it, then never released.
    let mut connect = 0;
    // SAFETY: mach_task_self has no preconditions.
    let task = unsafe { mach_task_self() };
    assert_eq!(open_with(leaked, task, 0, &mut connect), KERN_SUCCESS);
    assert_eq!(close(connect), KERN_SUCCESS);
    let status = iokitlib_sim::simulator_status().unwrap();
    assert_eq!((status.service_instances, status.object_ports), (1, 1));

    let (ok, stdout, stderr) = tool("kmutil", &["unload", "-b", BUNDLE_ID]);
    assert!(ok, "kmutil unload failed: {stdout}{stderr}");
    assert_eq!(stderr, "");
    let status = iokitlib_sim::simulator_status().unwrap();
    assert!(!status.kext_loaded);
    assert_eq!((status.service_instances, status.object_ports), (0, 0));
    let (_, listed, _) = tool("kmutil", &["showloaded", "--bundle-identifier", BUNDLE_ID]);
    assert!(!lists_bundle(&listed, BUNDLE_ID), "{listed}");

    // The handle outlived its service: a dead name.
    let mut connect = 0x1234;
    assert_eq!(
        open_with(leaked, task, 0, &mut connect),
        MACH_SEND_INVALID_DEST
    );
    assert_eq!(connect, 0x1234, "a failed send copies nothing out");
    assert_eq!(matching(SERVICE_CLASS), 0, "no service to match");
    assert_eq!(release(leaked), KERN_SUCCESS);
    assert_eq!(release(leaked), KERN_INVALID_NAME);

    // The kext stays installed (the auxiliary collection): a second unload only removes its
    // personalities (OSKext::removeKext of a kext that is not loaded: success), silently.
    assert_eq!(
        tool("kextunload", &["-b", BUNDLE_ID]),
        (true, String::new(), String::new())
    );
    // A bundle the kernel does not know: the request handler's lookup fails.
    let (ok, _, stderr) = tool("kextunload", &["-b", "com.example.none"]);
    assert!(!ok);
    assert_eq!(
        stderr,
        "(kernel) Kext com.example.none not found for unload request.\n\
         Failed to unload com.example.none - (libkern/kext) not found.\n"
    );
}
