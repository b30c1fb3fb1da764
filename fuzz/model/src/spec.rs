//! The documented facts the models rest on, written out again from docs/user-client-api.md (the
//! table and every refusal), docs/lifecycle.md (admission, close, terminate, the callback gate
//! and the FILEOP path) and `sys/kauth.h`, not imported from the implementation: a wrong
//! constant there must show up as a mismatch here.

/// `kIOReturnSuccess`.
pub const SUCCESS: i32 = 0;
/// `kIOReturnBadArgument`.
pub const BAD_ARGUMENT: i32 = 0xe00002c2_u32 as i32;
/// `kIOReturnNotOpen`.
pub const NOT_OPEN: i32 = 0xe00002cd_u32 as i32;
/// `kIOReturnNotPrivileged`.
pub const NOT_PRIVILEGED: i32 = 0xe00002c1_u32 as i32;
/// `kIOReturnNotPermitted`.
pub const NOT_PERMITTED: i32 = 0xe00002e2_u32 as i32;
/// `kIOReturnNoResources`.
pub const NO_RESOURCES: i32 = 0xe00002be_u32 as i32;
/// `kIOReturnUnsupported`: what kextunload returns when a service refused to terminate.
pub const UNSUPPORTED: i32 = 0xe00002c7_u32 as i32;
/// `MACH_SEND_INVALID_DEST`: a call on a dead port.
pub const MACH_SEND_INVALID_DEST: i32 = 0x10000003;
/// What the MIG stub returns for more than 16 input scalars.
pub const MIG_ARRAY_TOO_LARGE: i32 = -307;

/// Who may call a selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// Any client.
    Anyone,
    /// Administrators only.
    Admin,
    /// Administrators, and everyone when the personality sets `RustKextStatsForEveryone`.
    StatsReader,
}

/// One row of the table: scalars in, struct bytes in, scalars out, struct bytes out, who.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// Exact counts: scalars in, struct in, scalars out, struct out.
    pub shape: [u32; 4],
    /// Who may call.
    pub who: Who,
}

/// Selectors.
pub const PING: u32 = 0;
/// `GetVersion`.
pub const GET_VERSION: u32 = 1;
/// `GetStats`.
pub const GET_STATS: u32 = 2;
/// `ResetStats`.
pub const RESET_STATS: u32 = 3;
/// `SetPathFilter`.
pub const SET_PATH_FILTER: u32 = 4;
/// `GetClientInfo`.
pub const GET_CLIENT_INFO: u32 = 5;
/// `CancelUnload`.
pub const CANCEL_UNLOAD: u32 = 6;

/// The framework's `DESCRIBE` (docs/user-client-api.md): any client, two output scalars, the
/// interface's ABI fingerprint and its number of methods.
pub const DESCRIBE: u32 = 0xFFFF_0000;
/// `DESCRIBE`'s row.
pub const DESCRIBE_ROW: Row = Row {
    shape: [0, 0, 2, 0],
    who: Who::Anyone,
};

/// The documented table (docs/user-client-api.md), selector by selector.
pub const TABLE: [Row; 7] = [
    Row {
        shape: [1, 0, 1, 0],
        who: Who::Anyone,
    },
    Row {
        shape: [0, 0, 3, 0],
        who: Who::Anyone,
    },
    Row {
        shape: [0, 0, 0, STATS_SIZE as u32],
        who: Who::StatsReader,
    },
    Row {
        shape: [0, 0, 0, 0],
        who: Who::Admin,
    },
    Row {
        shape: [0, FILTER_STRUCT_SIZE as u32, 0, 0],
        who: Who::Admin,
    },
    Row {
        shape: [0, 0, 3, 0],
        who: Who::Anyone,
    },
    Row {
        shape: [0, 0, 0, 0],
        who: Who::Admin,
    },
];

/// The row of `selector`, if it is in the table or is `DESCRIBE`.
pub fn row(selector: u32) -> Option<Row> {
    if selector == DESCRIBE {
        return Some(DESCRIBE_ROW);
    }
    TABLE.get(usize::try_from(selector).ok()?).copied()
}

/// `GetVersion`: ABI 2.1.0 (2.0.0's methods, and the framework's `DESCRIBE`).
pub const ABI_VERSION: [u64; 3] = [2, 1, 0];
/// `Stats`: version 1, 104 bytes.
pub const STATS_VERSION: u32 = 1;
/// Size of `Stats`.
pub const STATS_SIZE: usize = 104;
/// `SetPathFilter`'s struct: exactly this many bytes.
pub const FILTER_STRUCT_SIZE: usize = 1024;
/// The longest prefix (the struct also holds the NUL).
pub const MAX_PREFIX: usize = FILTER_STRUCT_SIZE - 1;
/// "only after 4 failed attempts ... does it count the event as no match" (filter.rs).
pub const FILTER_READ_ATTEMPTS: u64 = 4;

/// `RustKextMaxClients` absent or 0, and its upper clamp.
pub const MAX_CLIENTS: u32 = 64;
/// Clients only administrators may open beyond the maximum.
pub const ADMIN_RESERVE: u32 = 4;

/// `KAUTH_FILEOP_*` (sys/kauth.h).
pub mod action {
    /// arg0 vnode, arg1 path.
    pub const OPEN: usize = 1;
    /// arg0 vnode, arg1 path, arg2 flags.
    pub const CLOSE: usize = 2;
    /// arg0 from path, arg1 to path.
    pub const RENAME: usize = 3;
    /// arg0, arg1 paths.
    pub const EXCHANGE: usize = 4;
    /// arg0 target path, arg1 link path.
    pub const LINK: usize = 5;
    /// arg0 vnode, arg1 path.
    pub const EXEC: usize = 6;
    /// arg0 vnode, arg1 path.
    pub const DELETE: usize = 7;
    /// arg0 vnode, arg1 from path, arg2 to path.
    pub const WILL_RENAME: usize = 8;
}

/// Which of arg0..arg3 of a FILEOP action are paths (README: OPEN/CLOSE/EXEC/DELETE arg1;
/// WILL_RENAME arg1, arg2; RENAME/EXCHANGE/LINK arg0, arg1; anything else none).
pub fn path_args(action_number: usize) -> [bool; 4] {
    match action_number {
        action::OPEN | action::CLOSE | action::EXEC | action::DELETE => [false, true, false, false],
        action::WILL_RENAME => [false, true, true, false],
        action::RENAME | action::EXCHANGE | action::LINK => [true, true, false, false],
        _ => [false; 4],
    }
}

/// The `Stats.events` slot of an action: actions 1..=8 in slots 0..=7, anything else in 8.
pub fn event_slot(action_number: usize) -> usize {
    if (1..=8).contains(&action_number) {
        action_number - 1
    } else {
        8
    }
}
