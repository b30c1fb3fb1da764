//! What a scenario needs from a kernel: the IOKit.framework one (`iokit`) or the simulator (`sim`).

use crate::codes::IOReturn;
use crate::fileops::FileOp;
use crate::wait::Progress;
use std::path::PathBuf;
use std::time::Duration;

/// Who opens a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum User {
    /// This process as it runs (an administrator when run as root).
    Current,
    /// A user that is not an administrator (effective uid other than 0).
    NonAdmin,
}

/// An open user-client connection, as the backend names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Connection(pub u64);

/// One `IOConnectCallMethod`: the selector, the inputs and the output capacities.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub selector: u32,
    pub scalars_in: &'a [u64],
    pub struct_in: &'a [u8],
    pub scalar_out_capacity: u32,
    pub struct_out_capacity: u32,
}

/// What a successful call returned: the scalars and struct bytes written (the framework's
/// client output, the same for every transport).
pub use rustkext_abi::client::Output as CallOutput;

/// The kernel's answer to an unload request.
#[derive(Clone, Debug)]
pub struct UnloadAnswer {
    /// Whether the unload went through.
    pub unloaded: bool,
    /// The code the kernel gave, when one could be read.
    pub code: Option<IOReturn>,
    /// What the tool printed (empty on the simulator).
    pub text: String,
}

/// A process (or simulated task) holding a connection open, to be killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Holder(pub u64);

/// A kernel with the kext loaded.
pub trait Backend: Sync {
    /// `iokit` or `sim`.
    fn name(&self) -> &'static str;
    /// Whether `User::Current` is an administrator.
    fn is_admin(&self) -> bool;
    /// Whether the harness is the only source of FILEOP events, so counters can be compared
    /// exactly (the simulator); on a real machine every process's file activity is counted too.
    fn is_quiet(&self) -> bool;

    /// `IOServiceOpen` on the service as `user`.
    fn open(&self, user: User, connect_type: u32) -> Result<Connection, IOReturn>;
    /// `IOConnectCallMethod`.
    fn call(&self, conn: Connection, call: &Call<'_>) -> Result<CallOutput, IOReturn>;
    /// `IOServiceClose`.
    fn close(&self, conn: Connection) -> IOReturn;

    /// `kmutil unload` / `kextunload` (the simulator's unload request).
    fn request_unload(&self) -> Result<UnloadAnswer, String>;
    /// Whether the kext is loaded.
    fn is_loaded(&self) -> Result<bool, String>;
    /// Waits, at most `bound`, until the kext is gone: its classes have no instances and it is
    /// no longer loaded. Returns how long it took (simulated time on the simulator); tells
    /// `progress` how long it has waited so far after each look.
    fn wait_unloaded(&self, bound: Duration, progress: Progress<'_>) -> Result<Duration, String>;
    /// Makes the kernel match every IOResources personality again, as a console-user change or
    /// another kext's `publishResource` does (it publishes a resource of the harness's own), then
    /// gives matching and any load request `settle` to act. Needs an administrator.
    fn rematch_resources(&self, settle: Duration) -> Result<(), String>;
    /// The service's IORegistry properties (`IORegistryEntryCreateCFProperties` on the matching
    /// service): its personality's and the values computed when read.
    fn service_properties(&self) -> Result<crate::registry::Properties, String>;
    /// Whether the kext's service is registered and active (what `IOServiceGetMatchingService`
    /// finds).
    fn service_present(&self) -> Result<bool, String>;

    /// Starts a separate process (task) that opens a connection and keeps it open; returns once
    /// the connection is open.
    fn spawn_holder(&self) -> Result<Holder, String>;
    /// Kills the holder (`SIGKILL`): its connection dies with it, without `IOServiceClose`.
    fn kill_holder(&self, holder: Holder) -> Result<(), String>;

    /// A fresh directory name for file activity; not created (the operations do that).
    fn file_root(&self) -> Result<PathBuf, String>;
    /// Performs the file operations (for real, or as the FILEOP events they cause).
    fn file_ops(&self, ops: &[FileOp]) -> Result<(), String>;
}
