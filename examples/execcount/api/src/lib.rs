//! ExecCount's user-client interface, declared once: the kernel's dispatch table, each method's
//! privilege (its caller's type), the ABI fingerprint and, with feature `client`, a typed client
//! (ExecCountClient) are derived from it.
#![no_std]
#![forbid(unsafe_code)]

pub use rustkext_abi::{Admin, Anyone, Caller, Refusal};

/// ExecCount's methods. Add one: a declaration here, its body in the driver.
#[rustkext_abi::interface(name = "ExecCount")]
pub trait ExecCount {
    /// `value + 1` (wrapping). Any client.
    #[selector(0)]
    #[query]
    fn ping(&self, caller: Caller<'_, Anyone>, value: u64) -> u64;

    /// The FILEOP events seen since start or the last reset. Any client.
    #[selector(1)]
    #[query]
    fn events(&self, caller: Caller<'_, Anyone>) -> u64;

    /// Zeroes the count. Administrators.
    #[selector(2)]
    fn reset(&self, caller: Caller<'_, Admin>);
}
