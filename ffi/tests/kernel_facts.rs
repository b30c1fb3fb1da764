//! The generated constants against the values in docs/kernel-facts.md, written out here by hand
//! (not derived from the headers) so a wrong header, macro or bindgen setting shows up as a failure.

use macos_kext_sys as sys;

#[test]
fn ioreturn_codes_match_kernel_facts() {
    let expected: [(&str, sys::IOReturn, u32); 19] = [
        ("kIOReturnSuccess", sys::kIOReturnSuccess, 0),
        ("kIOReturnError", sys::kIOReturnError, 0xe00002bc),
        ("kIOReturnNoMemory", sys::kIOReturnNoMemory, 0xe00002bd),
        (
            "kIOReturnNoResources",
            sys::kIOReturnNoResources,
            0xe00002be,
        ),
        ("kIOReturnIPCError", sys::kIOReturnIPCError, 0xe00002bf),
        (
            "kIOReturnNotPrivileged",
            sys::kIOReturnNotPrivileged,
            0xe00002c1,
        ),
        (
            "kIOReturnBadArgument",
            sys::kIOReturnBadArgument,
            0xe00002c2,
        ),
        (
            "kIOReturnExclusiveAccess",
            sys::kIOReturnExclusiveAccess,
            0xe00002c5,
        ),
        (
            "kIOReturnUnsupported",
            sys::kIOReturnUnsupported,
            0xe00002c7,
        ),
        ("kIOReturnNotOpen", sys::kIOReturnNotOpen, 0xe00002cd),
        ("kIOReturnBusy", sys::kIOReturnBusy, 0xe00002d5),
        ("kIOReturnTimeout", sys::kIOReturnTimeout, 0xe00002d6),
        ("kIOReturnNotReady", sys::kIOReturnNotReady, 0xe00002d8),
        (
            "kIOReturnNotAttached",
            sys::kIOReturnNotAttached,
            0xe00002d9,
        ),
        (
            "kIOReturnNotPermitted",
            sys::kIOReturnNotPermitted,
            0xe00002e2,
        ),
        (
            "kIOReturnNoCompletion",
            sys::kIOReturnNoCompletion,
            0xe00002ea,
        ),
        ("kIOReturnAborted", sys::kIOReturnAborted, 0xe00002eb),
        ("kIOReturnNotFound", sys::kIOReturnNotFound, 0xe00002f0),
        ("kOSKextReturnInUse", sys::kOSKextReturnInUse, 0xdc008018),
    ];
    for (name, generated, bits) in expected {
        assert_eq!(generated as u32, bits, "{name} = {generated:#x}");
    }
    assert_eq!(sys::kOSKextReturnStartStopError as u32, 0xdc008017);
}

#[test]
fn mach_codes_match_kernel_facts() {
    assert_eq!(sys::KERN_SUCCESS, 0);
    assert_eq!(sys::KERN_FAILURE, 5);
    assert_eq!(sys::MACH_SEND_INVALID_DEST as u32, 0x10000003);
}

#[test]
fn kauth_results_and_fileop_actions_match_kernel_facts() {
    assert_eq!(
        (
            sys::KAUTH_RESULT_ALLOW,
            sys::KAUTH_RESULT_DENY,
            sys::KAUTH_RESULT_DEFER
        ),
        (1, 2, 3)
    );
    let actions = [
        sys::KAUTH_FILEOP_OPEN,
        sys::KAUTH_FILEOP_CLOSE,
        sys::KAUTH_FILEOP_RENAME,
        sys::KAUTH_FILEOP_EXCHANGE,
        sys::KAUTH_FILEOP_LINK,
        sys::KAUTH_FILEOP_EXEC,
        sys::KAUTH_FILEOP_DELETE,
        sys::KAUTH_FILEOP_WILL_RENAME,
    ];
    assert_eq!(actions, [1, 2, 3, 4, 5, 6, 7, 8]);
    // sys/kauth.h: the CLOSE flag in arg2 saying the file was written.
    assert_eq!(sys::KAUTH_FILEOP_CLOSE_MODIFIED, 1 << 1);
    assert_eq!(
        sys::KAUTH_SCOPE_FILEOP.to_bytes(),
        b"com.apple.kauth.fileop"
    );
}

/// IOReturn, kern_return_t and kauth_action_t are 32-bit signed in the kernel ABI; the constants
/// must carry those types (a compile error here means bindgen typed them differently).
#[test]
fn constants_have_the_kernel_types() {
    let ioreturn: [i32; 2] = [sys::kIOReturnBadArgument, sys::kOSKextReturnInUse];
    let kern: [sys::kern_return_t; 2] = [sys::KERN_SUCCESS, sys::KERN_FAILURE];
    let action: sys::kauth_action_t = sys::KAUTH_FILEOP_WILL_RENAME;
    let result: cty::c_int = sys::KAUTH_RESULT_DEFER;
    assert!(
        ioreturn.iter().all(|&r| r < 0),
        "IOReturn errors have the sign bit set"
    );
    assert_eq!((kern, action, result), ([0, 5], 8, 3));
}
