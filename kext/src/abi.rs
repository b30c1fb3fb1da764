//! The user-client ABI: what user space and the kernel agree on.
//!
//! This module is shared by the kernel (through `dispatch`) and by user space (the
//! `userclient-test` harness links the `rustkext` rlib for these definitions). Everything here is
//! plain data: selectors, sizes, the `Stats` layout and the ABI version. Changing any of it is an
//! ABI change: bump [`ABI_VERSION_MAJOR`] for an incompatible change, [`ABI_VERSION_MINOR`] for an
//! addition (a new selector, a field appended to `Stats` with a new [`STATS_VERSION`]).

/// Incompatible changes bump the major version. 2.0.0: `GetStats` needs an administrator unless
/// the personality sets [`STATS_FOR_EVERYONE_KEY`]; `Stats` field 11 is reserved (always 0; it was
/// `refused_after_close`, which no client could ever see non-zero). Layouts are unchanged.
pub const ABI_VERSION_MAJOR: u64 = 2;
/// Compatible additions bump the minor version.
pub const ABI_VERSION_MINOR: u64 = 0;
/// Fixes that change no layout bump the patch version.
pub const ABI_VERSION_PATCH: u64 = 0;

/// IOKit class name of the service, the name user space matches with
/// `IOServiceGetMatchingService(IOServiceMatching(SERVICE_CLASS))`.
pub const SERVICE_CLASS: &str = "org_rustkext_Service";
/// IOKit class name of the user client.
pub const USER_CLIENT_CLASS: &str = "org_rustkext_UserClient";
/// Default bundle identifier (also the personality's `IOMatchCategory`).
pub const DEFAULT_BUNDLE_ID: &str = "org.rustkext.RustKext";

/// The only connection type `IOServiceOpen` accepts; any other is refused with
/// `kIOReturnBadArgument`.
pub const CONNECT_TYPE_DEFAULT: u32 = 0;

/// Clients open at once, the default and the maximum for [`MAX_CLIENTS_KEY`]. Non-administrators
/// count against it; administrators may go [`ADMIN_RESERVED_CLIENTS`] beyond it.
pub const MAX_CLIENTS: u32 = 64;

/// Clients only administrators can open: however many clients others hold, root can always open
/// one (to read the state, or to `CancelUnload`).
pub const ADMIN_RESERVED_CLIENTS: u32 = 4;

/// Personality property: clients open at once (a number; 0 or absent = [`MAX_CLIENTS`], larger
/// values are clamped to it). Any other type is a configuration error: the service does not start.
pub const MAX_CLIENTS_KEY: &core::ffi::CStr = c"RustKextMaxClients";
/// Personality property: refuse non-administrators at open (a boolean; absent = false).
pub const ADMIN_ONLY_KEY: &core::ffi::CStr = c"RustKextAdminOnly";
/// Personality property: let non-administrators call `GetStats` (a boolean; absent = false).
/// FILEOP counts are system-wide, so they are an administrator's by default.
pub const STATS_FOR_EVERYONE_KEY: &core::ffi::CStr = c"RustKextStatsForEveryone";

/// Size in bytes of the `SetPathFilter` input struct: a NUL-terminated UTF-8 prefix padded with
/// anything after the NUL. The prefix itself is therefore at most `PATH_FILTER_SIZE - 1` bytes; an
/// empty prefix (first byte NUL) clears the filter.
pub const PATH_FILTER_SIZE: usize = 1024;

/// External-method selectors (`IOConnectCallMethod`'s `selector`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    /// 1 scalar in, 1 scalar out (input + 1, wrapping). Any client.
    Ping = 0,
    /// 3 scalars out: ABI major, minor, patch. Any client.
    GetVersion = 1,
    /// Struct out: [`Stats`]. Administrator, unless the personality sets
    /// [`STATS_FOR_EVERYONE_KEY`].
    GetStats = 2,
    /// Nothing in or out; zeroes the event counters. Administrator.
    ResetStats = 3,
    /// Struct in: `PATH_FILTER_SIZE` bytes. Administrator.
    SetPathFilter = 4,
    /// 3 scalars out: client id, open clients, unload pending (0/1). Any client.
    GetClientInfo = 5,
    /// Nothing in or out; leaves the unload-pending state. Administrator.
    CancelUnload = 6,
}

/// Number of selectors; valid selectors are `0..SELECTOR_COUNT`.
pub const SELECTOR_COUNT: u32 = 7;

impl Selector {
    /// All selectors, in numeric order.
    pub const ALL: [Selector; SELECTOR_COUNT as usize] = [
        Selector::Ping,
        Selector::GetVersion,
        Selector::GetStats,
        Selector::ResetStats,
        Selector::SetPathFilter,
        Selector::GetClientInfo,
        Selector::CancelUnload,
    ];

    /// The selector with number `raw`, or `None` when out of range.
    pub const fn from_raw(raw: u32) -> Option<Selector> {
        match raw {
            0 => Some(Selector::Ping),
            1 => Some(Selector::GetVersion),
            2 => Some(Selector::GetStats),
            3 => Some(Selector::ResetStats),
            4 => Some(Selector::SetPathFilter),
            5 => Some(Selector::GetClientInfo),
            6 => Some(Selector::CancelUnload),
            _ => None,
        }
    }

    /// The exact argument shape the selector takes.
    pub const fn shape(self) -> MethodShape {
        match self {
            Selector::Ping => MethodShape::new(1, 0, 1, 0),
            Selector::GetVersion => MethodShape::new(0, 0, 3, 0),
            Selector::GetStats => MethodShape::new(0, 0, 0, STATS_SIZE as u32),
            Selector::ResetStats => MethodShape::new(0, 0, 0, 0),
            Selector::SetPathFilter => MethodShape::new(0, PATH_FILTER_SIZE as u32, 0, 0),
            Selector::GetClientInfo => MethodShape::new(0, 0, 3, 0),
            Selector::CancelUnload => MethodShape::new(0, 0, 0, 0),
        }
    }

    /// Whether a non-administrator is refused under the default personality.
    pub const fn requires_admin(self) -> bool {
        !matches!(self.privilege(), Privilege::Anyone)
    }

    /// Who may call it.
    pub const fn privilege(self) -> Privilege {
        match self {
            Selector::Ping | Selector::GetVersion | Selector::GetClientInfo => Privilege::Anyone,
            Selector::GetStats => Privilege::StatsReader,
            Selector::ResetStats | Selector::SetPathFilter | Selector::CancelUnload => {
                Privilege::Administrator
            }
        }
    }
}

/// Who may call a selector. "Administrator" is decided once per client, at open
/// (`clientHasPrivilege(task, kIOClientPrivilegeAdministrator)`: effective uid 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// Any client.
    Anyone,
    /// Administrator clients only.
    Administrator,
    /// Administrators, and everyone when the personality sets [`STATS_FOR_EVERYONE_KEY`].
    StatsReader,
}

impl Privilege {
    /// Whether a client with `is_admin` may call, under `stats_for_everyone`.
    pub const fn allows(self, is_admin: bool, stats_for_everyone: bool) -> bool {
        match self {
            Privilege::Anyone => true,
            Privilege::Administrator => is_admin,
            Privilege::StatsReader => is_admin || stats_for_everyone,
        }
    }
}

/// Counts and sizes a selector takes; the kernel's `IOExternalMethodDispatch` check and ours both
/// require exact equality (no wildcard is used anywhere in this ABI).
///
/// Same layout as the C `rk_method_shape` in `shim-cpp/rustkext.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MethodShape {
    /// Number of 64-bit scalars in.
    pub scalar_input_count: u32,
    /// Size in bytes of the input struct.
    pub struct_input_size: u32,
    /// Number of 64-bit scalars out.
    pub scalar_output_count: u32,
    /// Size in bytes of the output struct.
    pub struct_output_size: u32,
}

impl MethodShape {
    /// A shape from its four counts.
    pub const fn new(
        scalar_input_count: u32,
        struct_input_size: u32,
        scalar_output_count: u32,
        struct_output_size: u32,
    ) -> MethodShape {
        MethodShape {
            scalar_input_count,
            struct_input_size,
            scalar_output_count,
            struct_output_size,
        }
    }
}

/// Version of the [`Stats`] layout; bumped whenever a field is appended.
pub const STATS_VERSION: u32 = 1;

/// FILEOP action numbers (`KAUTH_FILEOP_*`), the index base of [`Stats::events`].
pub const FILEOP_ACTION_FIRST: usize = 1;
/// Number of per-action slots in [`Stats::events`]: the 8 known actions and "other".
pub const EVENT_SLOTS: usize = 9;
/// Index in [`Stats::events`] for actions outside `KAUTH_FILEOP_OPEN..=KAUTH_FILEOP_WILL_RENAME`.
pub const EVENT_SLOT_OTHER: usize = 8;

/// Statistics returned by `GetStats`. Fixed size, versioned, no padding.
///
/// `events[i]` counts FILEOP action `i + 1` for `i < 8` (open, close, rename, exchange, link, exec,
/// delete, will-rename) and `events[8]` counts any other action number.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// [`STATS_VERSION`].
    pub version: u32,
    /// `size_of::<Stats>()`, so a reader can tell which fields it has.
    pub size: u32,
    /// FILEOP events by action (see the type's documentation).
    pub events: [u64; EVENT_SLOTS],
    /// Events whose path matched the path-prefix filter (0 while no filter is set).
    pub filter_matched: u64,
    /// Reserved, always 0. (ABI 1 called it `refused_after_close`; the gate closes only after
    /// the last client is gone, so no client could ever read it non-zero. The driver logs the
    /// count when it stops.)
    pub reserved: u64,
    /// Highest number of callbacks observed in flight at once.
    pub peak_in_flight: u64,
}

/// Size in bytes of [`Stats`] (`GetStats` output struct size).
pub const STATS_SIZE: usize = core::mem::size_of::<Stats>();

const _: () = assert!(STATS_SIZE == 4 + 4 + 8 * EVENT_SLOTS + 8 * 3);

impl Stats {
    /// The bytes of `self` as they cross the user-client boundary (native endianness).
    pub fn to_bytes(&self) -> [u8; STATS_SIZE] {
        let mut out = [0u8; STATS_SIZE];
        let mut at = 0usize;
        for word in [self.version, self.size] {
            put(&mut out, &mut at, &word.to_ne_bytes());
        }
        for v in self
            .events
            .iter()
            .chain([self.filter_matched, self.reserved, self.peak_in_flight].iter())
        {
            put(&mut out, &mut at, &v.to_ne_bytes());
        }
        out
    }

    /// Parses the bytes `GetStats` returned; `None` unless exactly `STATS_SIZE` bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Stats> {
        if bytes.len() != STATS_SIZE {
            return None;
        }
        let mut at = 0usize;
        let version = u32::from_ne_bytes(take(bytes, &mut at)?);
        let size = u32::from_ne_bytes(take(bytes, &mut at)?);
        let mut events = [0u64; EVENT_SLOTS];
        for slot in events.iter_mut() {
            *slot = u64::from_ne_bytes(take(bytes, &mut at)?);
        }
        Some(Stats {
            version,
            size,
            events,
            filter_matched: u64::from_ne_bytes(take(bytes, &mut at)?),
            reserved: u64::from_ne_bytes(take(bytes, &mut at)?),
            peak_in_flight: u64::from_ne_bytes(take(bytes, &mut at)?),
        })
    }
}

fn put(out: &mut [u8], at: &mut usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(*at..*at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
    *at += bytes.len();
}

fn take<const N: usize>(bytes: &[u8], at: &mut usize) -> Option<[u8; N]> {
    let mut word = [0u8; N];
    word.copy_from_slice(bytes.get(*at..*at + N)?);
    *at += N;
    Some(word)
}
