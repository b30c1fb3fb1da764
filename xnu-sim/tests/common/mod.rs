//! Helpers shared by the scenario tests: names, selectors, and small call wrappers.
#![allow(dead_code)]

use std::time::Duration;

#[allow(unused_imports)]
pub use rustkext::abi::{Selector, Stats, PATH_FILTER_SIZE, STATS_SIZE};
pub use xnu_sim::codes::*;
#[allow(unused_imports)]
pub use xnu_sim::{fileop, CallOutput, Connection, Kernel, Property, TaskId};

pub const SERVICE: &str = "org_rustkext_Service";
pub const CLIENT: &str = "org_rustkext_UserClient";
pub const ROOT: u32 = 0;
pub const USER: u32 = 501;
pub const QUIET: Duration = Duration::from_secs(30);
/// Comfortably past the kernel's 60 s autounload delay.
pub const AUTOUNLOAD: Duration = Duration::from_secs(61);

/// Calls `sel` with exactly its shape and the given inputs.
pub fn call(
    k: &Kernel,
    c: Connection,
    sel: Selector,
    scalars: &[u64],
    bytes: &[u8],
) -> Result<CallOutput, i32> {
    let shape = sel.shape();
    k.call(
        c,
        sel as u32,
        scalars,
        bytes,
        shape.scalar_output_count,
        shape.struct_output_size,
    )
}

pub fn ping(k: &Kernel, c: Connection, x: u64) -> Result<u64, i32> {
    call(k, c, Selector::Ping, &[x], &[]).map(|out| out.scalars[0])
}

/// GetClientInfo: (client id, open clients, unload pending).
pub fn client_info(k: &Kernel, c: Connection) -> Result<(u64, u64, u64), i32> {
    call(k, c, Selector::GetClientInfo, &[], &[])
        .map(|out| (out.scalars[0], out.scalars[1], out.scalars[2]))
}

pub fn stats(k: &Kernel, c: Connection) -> Stats {
    let out = call(k, c, Selector::GetStats, &[], &[]).expect("GetStats");
    Stats::from_bytes(&out.bytes).expect("Stats layout")
}

/// A SetPathFilter input: the prefix, NUL, padding to PATH_FILTER_SIZE.
pub fn filter_bytes(prefix: &str) -> Vec<u8> {
    let mut bytes = prefix.as_bytes().to_vec();
    bytes.resize(PATH_FILTER_SIZE, 0);
    bytes
}

/// Asserts the kext is gone and nothing of it is alive.
pub fn assert_gone(k: &Kernel) {
    assert!(
        !k.kext_loaded(),
        "kext still loaded; log: {:#?}",
        k.log_lines()
    );
    assert_eq!(k.service_count(), 0);
    assert_eq!(k.instance_count(SERVICE), 0);
    assert_eq!(k.instance_count(CLIENT), 0);
    assert_eq!(k.kauth_listener_count(), 0);
}

/// Asserts the kext is loaded, its one service is up and its listener registered.
pub fn assert_intact(k: &Kernel) {
    assert!(k.kext_loaded());
    assert_eq!(k.service_count(), 1);
    assert_eq!(k.instance_count(SERVICE), 1);
    assert_eq!(k.kauth_listener_count(), 1);
}

pub fn log_has(k: &Kernel, needle: &str) -> bool {
    k.log_lines().iter().any(|l| l.contains(needle))
}

pub fn log_count(k: &Kernel, needle: &str) -> usize {
    k.log_lines().iter().filter(|l| l.contains(needle)).count()
}
