//! RustKext driver core: every decision of the kext, behind the C ABI of `shim-cpp/rustkext.h`.
//!
//! - [`gate`]: the revoke-then-wait primitive that makes kauth callbacks safe to unregister.
//! - [`lifecycle`]: client admission, the unload policy and self-termination; [`config`]: the
//!   settings read from the personality.
//! - [`filter`] and [`monitor`]: the FILEOP listener's logic (counting, path-prefix filter).
//! - [`dispatch`]: the external-method table and its validation.
//! - [`driver`]: the [`driver::Driver`] state that combines them.
//! - [`abi`]: what user space sees (selectors, shapes, `Stats`).
//! - `exports` and `kpi` (feature `exports`): the C ABI for the shim and the few kernel calls.
//!
//! The crate is `no_std`, never allocates, and has no panicking path in the kernel build.
#![no_std]
#![deny(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::undocumented_unsafe_blocks
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

// A host build of the staticlib needs a panic handler and std's runtime symbols; the code itself
// never uses std. The kernel build (feature `kernel`) brings its own handler below.
#[cfg(not(feature = "kernel"))]
extern crate std;

pub mod abi;
pub mod config;
pub mod dispatch;
pub mod driver;
pub mod filter;
pub mod gate;
pub mod ioreturn;
pub mod lifecycle;
pub mod monitor;
mod sync;

#[cfg(feature = "exports")]
pub mod exports;
#[cfg(feature = "exports")]
mod kpi;

pub use driver::Driver;

/// A panic in the kernel is a kernel panic. Release kernel objects contain no path to here (the
/// object checker rejects `core::panicking`); this only makes the link complete.
#[cfg(feature = "kernel")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: rk_shim_fatal takes a static NUL-terminated string and does not return.
    unsafe { exports::rk_shim_fatal(c"Rust panic".as_ptr()) };
    #[allow(clippy::empty_loop)]
    loop {}
}
