//! ExecCount's user-client interface, declared once: the kernel's dispatch table, each method's
//! privilege (its caller's type), the ABI fingerprint and, with feature `client`, a typed client
//! (ExecCountClient) are derived from it.
#![no_std]
#![forbid(unsafe_code)]

pub use rustkext_abi::{Admin, Anyone, Caller, Observer, Refusal, Wire};

/// Bytes of the last executed path [`LastExec`] carries.
pub const LAST_EXEC_PATH: usize = 240;

/// The program executed last: its path's first bytes (a struct result of 256 bytes).
#[derive(Wire, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct LastExec {
    /// Execs counted when the method ran.
    pub execs: u64,
    /// Bytes of `path` used (0: nothing executed since start).
    pub len: u32,
    /// 1 when the path was longer than `path` (its first bytes are kept).
    pub truncated: u32,
    /// The path's first bytes, zero after `len`.
    pub path: [u8; LAST_EXEC_PATH],
}

/// ExecCount's methods. Add one: a declaration here, its body in the driver.
#[rustkext_abi::interface(name = "ExecCount")]
pub trait ExecCount {
    /// `value + 1` (wrapping). Any client.
    #[selector(0)]
    #[query]
    fn ping(&self, caller: Caller<'_, Anyone>, value: u64) -> u64;

    /// The programs executed (`KAUTH_FILEOP_EXEC`) since start or the last reset. Any client.
    #[selector(1)]
    #[query]
    fn exec_count(&self, caller: Caller<'_, Anyone>) -> u64;

    /// Zeroes the count. Administrators.
    #[selector(2)]
    fn reset(&self, caller: Caller<'_, Admin>);

    /// The program executed last (its path: who runs what is an administrator's to know, unless
    /// the personality sets `ExecCountPathsForEveryone`). `kIOReturnBusy` if execs kept
    /// rewriting it while it was read.
    #[selector(3)]
    #[query]
    fn last_exec(&self, caller: Caller<'_, Observer>) -> Result<LastExec, Refusal>;
}
