//! The IOKit.framework transport (`rustkext-iokit`) on the IOKitLib stand-in: ExecCount loaded on
//! a simulated kernel in another process (this package's executable serves it), reached by this
//! test process through the same calls a Mac makes, and by the CLI's `--iokit`.
#![cfg(not(target_os = "macos"))]

use execcount_api::ExecCountClient;
use execcount_kext::IDENTITY;
use macos_kext_sys as k;
use rustkext_iokit::{Connection, Service, CONNECT_TYPE_DEFAULT};
use std::mem::ManuallyDrop;
use std::path::Path;
use std::process::Command;
use std::sync::Once;

const EXE: &str = env!("CARGO_BIN_EXE_execcount");

/// This process becomes a task of a kernel served by `execcount __xnu-sim-server` (started
/// here and attached to, not found through the environment: the tests run on several threads).
fn kernel() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        let handshake = iokitlib_sim::client::spawn_server(Path::new(EXE), &[])
            .expect("the kernel server starts");
        iokitlib_sim::attach(&handshake.socket).expect("attached");
    });
}

#[test]
fn a_generated_client_calls_the_kext_through_the_transport() {
    kernel();
    let connection = Connection::open(IDENTITY.service_class).expect("IOServiceOpen");
    let client = ExecCountClient::open(connection).expect("the fingerprint matches");
    assert_eq!(client.ping(41), Ok(42));
    assert_eq!(client.exec_count(), Ok(0));
}

#[test]
fn a_class_nobody_registered_is_not_found() {
    kernel();
    assert_eq!(
        Service::matching("org_example_NoSuchService").err(),
        Some(k::kIOReturnNotFound)
    );
    assert_eq!(
        Connection::open("org_example_NoSuchService").err(),
        Some(k::kIOReturnNotFound)
    );
    assert_eq!(
        Service::matching("a\0b").err(),
        Some(k::kIOReturnBadArgument)
    );
}

#[test]
fn the_kernel_refuses_another_connection_type_and_an_unknown_selector() {
    kernel();
    let service = Service::matching(IDENTITY.service_class).expect("registered");
    assert_eq!(
        service.open(CONNECT_TYPE_DEFAULT + 1).err(),
        Some(k::kIOReturnBadArgument)
    );
    let connection = service.open(CONNECT_TYPE_DEFAULT).expect("IOServiceOpen");
    assert_eq!(
        connection.call_method(0xdead, &[], &[], 0, 0).err(),
        Some(k::kIOReturnBadArgument)
    );
    // Still usable after the refusals.
    let client = ExecCountClient::open(connection).expect("open");
    assert_eq!(client.ping(1), Ok(2));
}

#[test]
fn a_closed_connection_answers_nothing() {
    kernel();
    let name = Connection::open(IDENTITY.service_class)
        .expect("IOServiceOpen")
        .into_name();
    assert_eq!(Connection::from_name(name).close(), k::kIOReturnSuccess);
    let stale = ManuallyDrop::new(Connection::from_name(name));
    assert_eq!(
        stale.call_method(0, &[1], &[], 1, 0).err(),
        Some(k::MACH_SEND_INVALID_DEST)
    );
    assert_eq!(
        Connection::from_name(name).close(),
        k::MACH_SEND_INVALID_DEST
    );
}

#[test]
fn the_cli_runs_over_iokit_with_its_own_kernel() {
    for (args, expected) in [
        (
            &["--iokit", "ping", "41"][..],
            "Ping(41) = 42\n".to_string(),
        ),
        (
            &["--iokit", "status"][..],
            format!(
                "{} ({}): loaded, service {}, 0 execs\n",
                IDENTITY.name, IDENTITY.bundle_id, IDENTITY.service_class
            ),
        ),
    ] {
        let out = Command::new(EXE)
            .args(args)
            .env_remove(iokitlib_sim::client::SOCKET_ENV)
            .output()
            .expect("execcount runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{args:?}");
    }
}
