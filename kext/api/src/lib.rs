//! The file-activity monitor's user-client interface, declared once: the kernel's dispatch table,
//! the privilege of each method, the ABI fingerprint and (feature `client`) a typed client are
//! derived from [`Monitor`] by `#[interface]`. Shared by the kext and every client.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use rustkext_abi::{Admin, Anyone, Caller, Observer, PathPrefix, Refusal, Wire};

/// The monitor's ABI version, as `GetVersion` answers it. 2.0.0: `GetStats` needs an
/// administrator unless the personality sets `RustKextStatsForEveryone`; `Stats` field 11 is
/// reserved. 2.1.0: the framework's `DESCRIBE` selector (0xFFFF0000) answers the interface's
/// fingerprint; every method, shape and code is 2.0.0's.
pub const ABI_VERSION: [u64; 3] = [2, 1, 0];

/// Size in bytes of the `SetPathFilter` input struct: a NUL-terminated UTF-8 prefix padded with
/// anything after the NUL. The prefix is therefore at most 1023 bytes; an empty prefix (first
/// byte NUL) clears the filter.
pub const PATH_FILTER_SIZE: usize = 1024;

/// Version of the [`Stats`] layout; bumped whenever a field is appended.
pub const STATS_VERSION: u32 = 1;
/// FILEOP action numbers (`KAUTH_FILEOP_*`), the index base of [`Stats::events`].
pub const FILEOP_ACTION_FIRST: usize = 1;
/// Number of per-action slots in [`Stats::events`]: the 8 known actions and "other".
pub const EVENT_SLOTS: usize = 9;
/// Index in [`Stats::events`] for actions outside `KAUTH_FILEOP_OPEN..=KAUTH_FILEOP_WILL_RENAME`.
pub const EVENT_SLOT_OTHER: usize = 8;

/// The personality keys of the framework's settings, by setting index (`max-clients`,
/// `admin-only`, `observers-for-everyone`, as `rustkext::SettingKeys::get` numbers them): the
/// `[settings]` of `kext/rustkext.toml`, through the build script; empty for a setting the kext
/// does not read. A client reads them back from the service's registry properties.
pub const SETTING_KEYS: [&str; 3] =
    [env!("RUSTKEXT_KEY_MAX_CLIENTS"), env!("RUSTKEXT_KEY_ADMIN_ONLY"), env!("RUSTKEXT_KEY_OBSERVERS_FOR_EVERYONE")];

/// The IORegistry keys of the monitor's event counters, by [`Stats::events`] slot (the service's
/// `Driver` dictionary, next to [`FILTER_MATCHED_KEY`]): what `ioreg -l` shows and clients read.
pub const EVENT_KEYS: [&core::ffi::CStr; EVENT_SLOTS] = [
    c"FileopOpen",
    c"FileopClose",
    c"FileopRename",
    c"FileopExchange",
    c"FileopLink",
    c"FileopExec",
    c"FileopDelete",
    c"FileopWillRename",
    c"FileopOther",
];
/// The IORegistry key of [`Stats::filter_matched`] (the `Driver` dictionary).
pub const FILTER_MATCHED_KEY: &core::ffi::CStr = c"FilterMatched";

/// Statistics returned by `GetStats`. Fixed size (104 bytes), versioned, no padding.
///
/// `events[i]` counts FILEOP action `i + 1` for `i < 8` (open, close, rename, exchange, link, exec,
/// delete, will-rename) and `events[8]` counts any other action number.
#[derive(Wire, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
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
    /// the last client is gone, so no client could ever read it non-zero. The framework logs the
    /// count when the service stops.)
    pub reserved: u64,
    /// Highest number of callbacks observed in flight at once.
    pub peak_in_flight: u64,
}

/// Size in bytes of [`Stats`] (`GetStats` output struct size).
pub const STATS_SIZE: usize = core::mem::size_of::<Stats>();
const _: () = assert!(STATS_SIZE == 104);

impl Stats {
    /// Parses the bytes `GetStats` returned; `None` unless exactly [`STATS_SIZE`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Stats> {
        Stats::decode(&[], bytes).ok()
    }

    /// The bytes of `self` as they cross the user-client boundary (native endianness).
    pub fn to_bytes(&self) -> [u8; STATS_SIZE] {
        let mut out = [0u8; STATS_SIZE];
        self.encode(&mut [], &mut out);
        out
    }
}

/// The monitor's user-client interface. Each method's privilege is its caller's type; shapes are
/// its arguments' and result's; the check order and refusal codes are the framework's
/// (`rustkext_abi::validate`): client not open `kIOReturnNotOpen`, selector out of the table or
/// any count wrong `kIOReturnBadArgument`, privilege missing `kIOReturnNotPrivileged`, input that
/// does not decode `kIOReturnBadArgument`; outputs written only on success.
#[rustkext_abi::interface(name = "RustKext")]
pub trait Monitor {
    /// `value + 1` (wrapping). Any client.
    #[selector(0)]
    #[query]
    fn ping(&self, caller: Caller<'_, Anyone>, value: u64) -> u64;

    /// The ABI version ([`ABI_VERSION`]): major, minor, patch. Any client.
    #[selector(1)]
    #[query]
    fn get_version(&self, caller: Caller<'_, Anyone>) -> [u64; 3];

    /// The FILEOP statistics, summed over the shards one after another (not a snapshot of one
    /// instant). Administrators; everyone if the personality sets `RustKextStatsForEveryone`
    /// (FILEOP counts are system-wide).
    #[selector(2)]
    #[query]
    fn get_stats(&self, caller: Caller<'_, Observer>) -> Stats;

    /// Zeroes the counters and the peak (not the callbacks in flight); an event racing with it is
    /// counted before it (and erased) or after it, never twice. Administrators.
    #[selector(3)]
    fn reset_stats(&self, caller: Caller<'_, Admin>);

    /// Sets the path prefix the `filter_matched` count uses; an empty prefix clears it. The input
    /// is exactly 1024 bytes with a NUL inside and UTF-8 before it, else `kIOReturnBadArgument`.
    /// Administrators.
    #[selector(4)]
    fn set_path_filter(&self, caller: Caller<'_, Admin>, prefix: PathPrefix<PATH_FILTER_SIZE>) -> Result<(), Refusal>;

    /// The client's id, the clients open, whether an unload is pending (0/1). Any client.
    #[selector(5)]
    #[query]
    #[builtin(client_info)]
    fn get_client_info(&self, caller: Caller<'_, Anyone>) -> [u64; 3];

    /// Forgets a refused unload request (with none pending: success, nothing changes).
    /// Administrators.
    #[selector(6)]
    #[builtin(cancel_unload)]
    fn cancel_unload(&self, caller: Caller<'_, Admin>);
}
