//! RustKext, the framework: the runtime every kext built with it links.
//!
//! A driver author writes safe Rust only: a driver type implementing [`Driver`], the
//! `#[interface]` trait of its user-client methods (in its api crate, with `rustkext-abi`), the
//! kauth listeners it wants ([`kauth::FileOpListener`]), and one [`export!`] call in its glue
//! crate. Everything else is here:
//!
//! - [`gate`]: the revoke-then-wait primitive that makes kauth callbacks safe to unregister;
//! - [`lifecycle`]: client admission, the unload policy, self-termination;
//!   [`settings`]: the settings read from the personality, failing closed;
//! - [`kauth`]: typed events ([`FileOpEvent`], [`KPath`]) and listener traits;
//!   [`Sharded`]: per-shard data for listeners;
//! - [`sync`]: atomics and the kernel mutex ([`sync::Lock`]), loom-aware;
//! - [`driver`]: the [`Driver`] trait and [`Kext`], one kext's state;
//! - [`published`]: the values a kext shows in the IORegistry, computed when it is read;
//! - `c_abi` (feature `exports`): the generic C ABI of the one shim (`shim-cpp/rustkext.h`),
//!   instantiated per kext by [`export!`] under the kext's symbol prefix.
//!
//! `no_std`, never allocates, no panicking path in the kernel build, and never hands a Rust
//! function pointer to the kernel (every kernel callback is the shim's C++).
#![no_std]
// The kernel build (RUSTC_BOOTSTRAP, as build-std needs) optimizes the cold statistics paths for
// size: their loops over the shards stay loops (kernel text is budgeted).
#![cfg_attr(feature = "kernel", feature(optimize_attribute))]
#![deny(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::undocumented_unsafe_blocks
)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

// A host build of a kext's staticlib needs a panic handler and std's runtime symbols; the code
// itself never uses std. The kernel build (feature `kernel`) brings its own handler below.
#[cfg(not(feature = "kernel"))]
extern crate std;

pub mod driver;
mod export;
pub mod gate;
pub mod kauth;
pub mod lifecycle;
pub mod published;
pub mod settings;
mod sharded;
pub mod sync;

#[cfg(all(feature = "exports", not(loom)))]
pub mod c_abi;
#[cfg(all(feature = "exports", not(loom)))]
mod kpi;

/// The contract crate, re-exported: what the glue and generated code name as `rustkext::abi`.
pub use rustkext_abi as abi;
pub use rustkext_abi::{Admin, Anyone, Caller, Observer, PathPrefix, Refusal};

pub use driver::{Driver, Kext, KextConfig, StartError, UnloadPolicy};
pub use export::Identity;
pub use gate::ShardData;
pub use kauth::{FileOp, FileOpEvent, FileOpListener, KPath};
pub use published::RegistryValues;
pub use settings::{SettingKeys, Settings};
pub use sharded::{ShardIndex, Sharded};

/// A panic in the kernel is a kernel panic. Release kernel objects contain no path to here (the
/// object checker rejects `core::panicking`); this only makes the link complete.
#[cfg(feature = "kernel")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    c_abi::fatal()
}
