//! Reference models for RustKext's fuzzers. Written from the documentation
//! (docs/user-client-api.md, docs/lifecycle.md, the module docs of the framework and the monitor
//! driver, `shim-cpp/rustkext.h`), with no dependency on the implementation, so that the
//! implementation's own constants and helpers cannot hide its mistakes.
//!
//! - [`spec`]: the documented constants (codes, the method table, FILEOP actions).
//! - [`driver`]: the driver behind the C ABI (settings, admission, unload policy, methods,
//!   counters, filter).
//! - [`filter`]: the path filter's byte-prefix rule.
//! - [`input`]: the structured inputs the targets share.

pub mod driver;
pub mod filter;
pub mod input;
pub mod spec;
