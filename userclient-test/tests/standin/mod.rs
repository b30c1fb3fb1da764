//! Shared by the IOKitLib stand-in tests: one simulated kernel per test binary (a server process
//! started from the harness binary), this test process its task.
#![allow(dead_code)]

use iokitlib_sim::client::{spawn_server, Handshake};
use iokitlib_sim::codes::*;
use iokitlib_sim::traps::mach_task_self;
use iokitlib_sim::*;
use rustkext_monitor_api::Monitor;
/// The monitor's selectors by name, generated from its interface.
pub use rustkext_monitor_api::MonitorSelector as Selector;

/// The class the monitor's rustkext.toml configures, as its generated client knows it.
pub const SERVICE_CLASS: &str = <dyn Monitor>::SERVICE_CLASS;
/// Its bundle identifier.
pub const BUNDLE_ID: &str = <dyn Monitor>::BUNDLE_ID;
use std::ffi::{c_void, CString};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The harness binary: it serves the kernel (hidden subcommand) and is the kext tools.
pub const EXE: &str = env!("CARGO_BIN_EXE_userclient-test");

/// One test at a time: some switch the process's effective uid, and counts are compared.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts this binary's kernel (once) and attaches this process to it.
pub fn kernel() -> &'static Handshake {
    static KERNEL: OnceLock<Handshake> = OnceLock::new();
    KERNEL.get_or_init(|| {
        let handshake = spawn_server(Path::new(EXE), &[]).expect("server");
        attach(&handshake.socket).expect("attach");
        ensure_kernel().expect("task");
        handshake
    })
}

/// `IOServiceGetMatchingService(kIOMasterPortDefault, IOServiceMatching(class))`.
pub fn matching(class: &str) -> io_service_t {
    kernel();
    let class = CString::new(class).unwrap();
    // SAFETY: a NUL-terminated string; the dictionary is consumed by the second call.
    unsafe { IOServiceGetMatchingService(kIOMasterPortDefault, IOServiceMatching(class.as_ptr())) }
}

/// `IOServiceOpen(service, mach_task_self(), type, &connect)`; `connect` as it was left.
pub fn open_with(service: io_service_t, task: task_port_t, kind: u32, connect: &mut u32) -> i32 {
    // SAFETY: `connect` is a valid out pointer.
    unsafe { IOServiceOpen(service, task, kind, connect) }
}

/// A service handle and a connection of type 0 (the handle is kept: release it).
pub fn open() -> (io_service_t, io_connect_t) {
    let service = matching(SERVICE_CLASS);
    assert_ne!(service, 0, "no {SERVICE_CLASS}");
    let mut connect = 0;
    // SAFETY: mach_task_self has no preconditions.
    let task = unsafe { mach_task_self() };
    assert_eq!(open_with(service, task, 0, &mut connect), KERN_SUCCESS);
    assert_ne!(connect, 0);
    (service, connect)
}

pub fn release(object: io_object_t) -> i32 {
    // SAFETY: IOObjectRelease has no memory preconditions.
    unsafe { IOObjectRelease(object) }
}

pub fn close(connect: io_connect_t) -> i32 {
    // SAFETY: IOServiceClose has no memory preconditions.
    unsafe { IOServiceClose(connect) }
}

/// Whether this process is an administrator to the driver (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The code an administrator-only method gives this process.
pub fn admin_code() -> i32 {
    if is_root() {
        KERN_SUCCESS
    } else {
        userclient_test::codes::kIOReturnNotPrivileged
    }
}

/// What a caller's output arguments hold after a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outputs {
    pub scalars: Vec<u64>,
    pub scalar_count: u32,
    pub bytes: Vec<u8>,
    pub byte_count: usize,
}

/// Sentinels the kernel never writes.
pub const SCALAR_SENTINEL: u64 = 0x5a5a_5a5a_5a5a_5a5a;
pub const BYTE_SENTINEL: u8 = 0xa5;

/// `IOConnectCallMethod` with output buffers of `scalar_capacity`/`struct_capacity` filled
/// with sentinels and the counts set to the capacities; the code and the outputs as left.
pub fn call(
    connect: io_connect_t,
    selector: u32,
    scalars_in: &[u64],
    struct_in: &[u8],
    scalar_capacity: u32,
    struct_capacity: usize,
) -> (i32, Outputs) {
    let mut out = Outputs {
        scalars: vec![SCALAR_SENTINEL; scalar_capacity as usize],
        scalar_count: scalar_capacity,
        bytes: vec![BYTE_SENTINEL; struct_capacity],
        byte_count: struct_capacity,
    };
    // SAFETY: every pointer is valid for the count passed with it.
    let kr = unsafe {
        IOConnectCallMethod(
            connect,
            selector,
            scalars_in.as_ptr(),
            scalars_in.len() as u32,
            struct_in.as_ptr().cast::<c_void>(),
            struct_in.len(),
            out.scalars.as_mut_ptr(),
            &mut out.scalar_count,
            out.bytes.as_mut_ptr().cast::<c_void>(),
            &mut out.byte_count,
        )
    };
    (kr, out)
}

/// `selector` with its exact shape and the given inputs.
pub fn call_exact(
    connect: io_connect_t,
    sel: Selector,
    scalars: &[u64],
    bytes: &[u8],
) -> (i32, Outputs) {
    let shape = sel.entry().shape;
    call(
        connect,
        sel as u32,
        scalars,
        bytes,
        shape.scalar_output_count,
        shape.struct_output_size as usize,
    )
}

/// Asserts a failed call left the caller's outputs exactly as they were passed in.
pub fn assert_untouched(out: &Outputs, scalar_capacity: u32, struct_capacity: usize) {
    assert_eq!(out.scalar_count, scalar_capacity, "output count written");
    assert_eq!(
        out.byte_count, struct_capacity,
        "output struct size written"
    );
    assert!(
        out.scalars.iter().all(|&s| s == SCALAR_SENTINEL),
        "scalars written: {:x?}",
        out.scalars
    );
    assert!(
        out.bytes.iter().all(|&b| b == BYTE_SENTINEL),
        "struct bytes written"
    );
}

/// Runs a kext tool of the simulated machine (`kmutil`, `kextunload`, `kextstat`).
pub fn tool(name: &str, args: &[&str]) -> (bool, String, String) {
    let k = kernel();
    let out = std::process::Command::new(k.tools.join(name))
        .args(args)
        .env(iokitlib_sim::client::SOCKET_ENV, &k.socket)
        .output()
        .expect("tool");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
