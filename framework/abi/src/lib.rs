//! The contract between a kext built with RustKext and its clients, compiled into both.
//!
//! - [`Wire`]: how a value crosses the user-client boundary (scalars or struct bytes), validated
//!   on the way in; implemented for `()`, `u64`, `[u64; N]`, [`PathPrefix`] and, with
//!   `#[derive(Wire)]`, plain `repr(C)` structs without padding.
//! - [`Entry`] and [`Shape`]: one row of a method table; [`validate`] is the one check every
//!   call goes through (selector bound, exact shape, privilege), in today's order and codes.
//! - [`Caller`] with a privilege marker ([`Anyone`], [`Observer`], [`Admin`]): the privilege of a
//!   method is the type of its caller parameter, so an implementation cannot weaken it.
//! - [`macro@interface`]: the declaration from which the table, the dispatch, the fingerprint and
//!   a typed client are derived.
//! - feature `std`: [`client`] (the [`client::Transport`] a generated client calls through) and
//!   [`conformance`] (the adversarial suite generated from a table).
//!
//! `no_std`, no allocation, no `unsafe`; nothing here links `core::fmt` into a kext (UTF-8 is
//! checked by [`is_utf8`], not `core::str::from_utf8`).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

#[cfg(any(feature = "std", test))]
extern crate std;

mod caller;
mod codes;
pub mod fingerprint;
mod path;
mod table;
mod utf8;
mod wire;

#[cfg(feature = "std")]
pub mod client;
#[cfg(feature = "std")]
pub mod conformance;

pub use caller::{Admin, Anyone, Caller, CallerInfo, ClientSnapshot, Level, Observer, Services};
pub use codes::{IOReturn, Refusal};
pub use path::PathPrefix;
pub use rustkext_macros::{interface, Wire};
pub use table::{
    shape_for, validate, Call, Entry, Interface, Privilege, Serve, Shape, DESCRIBE, DESCRIBE_SHAPE,
    MAX_SCALARS, MAX_STRUCT_BYTES,
};
pub use utf8::is_utf8;
pub use wire::{arg, put, Field, FieldLayout, Layout, Wire};
