// The allowlist of macos-kext-sys: everything the crate exposes, nothing else is generated.
// Included by build/bindgen_config.rs (the bindgen configuration) and by tools/kext-check
// (`allowed.rs`: the kernel functions a Rust kernel object may import are exactly FUNCTIONS).
// Plain data, no dependencies, so both can include it.

/// Types.
pub const TYPES: &[&str] = &[
    "kern_return_t",
    "IOReturn",
    "OSReturn",
    "mach_msg_return_t",
    "thread_t",
    "kauth_cred_t",
    "kauth_action_t",
    "kauth_listener_t",
    "kauth_scope_callback_t",
    "lck_mtx_t",
    "IOLock",
];

/// Constants (macros).
pub const CONSTANTS: &[&str] = &[
    "KERN_SUCCESS",
    "KERN_FAILURE",
    "MACH_SEND_INVALID_DEST",
    "kIOReturnSuccess",
    "kIOReturnError",
    "kIOReturnNoMemory",
    "kIOReturnNoResources",
    "kIOReturnIPCError",
    "kIOReturnNotPrivileged",
    "kIOReturnBadArgument",
    "kIOReturnExclusiveAccess",
    "kIOReturnUnsupported",
    "kIOReturnNotOpen",
    "kIOReturnBusy",
    "kIOReturnTimeout",
    "kIOReturnNotReady",
    "kIOReturnNotAttached",
    "kIOReturnNotPermitted",
    "kIOReturnNoCompletion",
    "kIOReturnAborted",
    "kIOReturnNotFound",
    "kOSKextReturnStartStopError",
    "kOSKextReturnInUse",
    "KAUTH_RESULT_ALLOW",
    "KAUTH_RESULT_DENY",
    "KAUTH_RESULT_DEFER",
    "KAUTH_SCOPE_FILEOP",
    "KAUTH_FILEOP_OPEN",
    "KAUTH_FILEOP_CLOSE",
    "KAUTH_FILEOP_RENAME",
    "KAUTH_FILEOP_EXCHANGE",
    "KAUTH_FILEOP_LINK",
    "KAUTH_FILEOP_EXEC",
    "KAUTH_FILEOP_DELETE",
    "KAUTH_FILEOP_WILL_RENAME",
    "KAUTH_FILEOP_CLOSE_MODIFIED",
];

/// Functions: the kernel functions Rust calls (the C++ shim calls the kauth ones, which are
/// bound for the simulator's and the tests' use of the same declarations).
pub const FUNCTIONS: &[&str] = &[
    "IOSleep",
    "IOLog",
    "IOLockAlloc",
    "IOLockFree",
    "lck_mtx_lock",
    "lck_mtx_unlock",
    "panic",
    "mach_absolute_time",
    "absolutetime_to_nanoseconds",
    "current_thread",
    "kauth_listen_scope",
    "kauth_unlisten_scope",
];
