//! The classic marshalling mistakes, made through the IOKitLib stand-in against the simulated
//! kernel: each must get the code IOKitLib returns on macOS and leave the caller's outputs as
//! IOKitLib leaves them. Where the codes come from:
//!
//! - kIOReturnBadArgument for a count or size that differs from the method's: the kernel's
//!   `IOUserClient::externalMethod` dispatch check (IOUserClient.cpp), which the shim uses;
//!   for a selector out of range: the driver checks before indexing (DESIGN).
//! - MIG_ARRAY_TOO_LARGE (-307) for more than 16 input scalars: device.defs
//!   `io_scalar_inband64_t = array[*:16]`, refused by the MIG user stub before sending
//!   (migcom user.c `WritePackArgValueNormal`).
//! - An input struct over 4096 bytes goes out of line (IOKitLib.c `IOConnectCallMethod`:
//!   `inputStructCnt <= sizeof(io_struct_inband_t)` or `ool_input`); the kernel passes a memory
//!   descriptor, which no shape of this driver accepts.
//! - MACH_SEND_INVALID_DEST (0x10000003) for a closed connection: IOServiceClose deallocated the
//!   name, so the message cannot be sent (mach_msg).
//! - Outputs on failure: a failed send or a MIG error reply copies nothing out (migcom user.c
//!   `WriteRetCodeCheck`), so `*outputCnt` and the buffers stay; `*outputStructCnt` is rewritten
//!   by IOConnectCallMethod with the stub's inband/out-of-line size, which a failed call left at
//!   the caller's value.

mod standin;

use iokitlib_sim::codes::*;
use iokitlib_sim::traps::mach_task_self;
use iokitlib_sim::*;
use rustkext_monitor_api::{Stats, ABI_VERSION, PATH_FILTER_SIZE, STATS_SIZE};
use standin::*;
use userclient_test::backend::{Backend, Call};
use userclient_test::registry::ServiceProperties;

const STATS: usize = STATS_SIZE;

#[test]
fn exact_calls_write_exactly_the_outputs() {
    let _serial = serial();
    let (service, c) = open();
    let (kr, out) = call_exact(c, Selector::Ping, &[41], &[]);
    assert_eq!(kr, KERN_SUCCESS);
    assert_eq!((out.scalar_count, out.scalars.clone()), (1, vec![42]));
    assert_eq!(out.byte_count, 0);

    let (kr, out) = call_exact(c, Selector::GetVersion, &[], &[]);
    assert_eq!(kr, KERN_SUCCESS);
    let abi = ABI_VERSION;
    assert_eq!((out.scalar_count, out.scalars), (3, abi.to_vec()));

    // GetStats is an administrator's (the driver's table); its struct comes back whole.
    let (kr, out) = call_exact(c, Selector::GetStats, &[], &[]);
    assert_eq!(kr, admin_code());
    if kr == KERN_SUCCESS {
        assert_eq!((out.scalar_count, out.byte_count), (0, STATS));
        let stats = Stats::from_bytes(&out.bytes).expect("Stats");
        assert_eq!(stats.size as usize, STATS);
    } else {
        assert_untouched(&out, 0, STATS);
    }

    // A NULL outputCnt reads as 0 (IOKitLib.c: `outputCnt = &zero`), and NULL outputStruct
    // with a NULL size: a method without outputs is served.
    // SAFETY: NULL output pointers with no output; the input pointer is valid for 0 elements.
    let kr = unsafe {
        IOConnectCallMethod(
            c,
            Selector::ResetStats as u32,
            std::ptr::null(),
            0,
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(kr, admin_code());
    assert_eq!(close(c), KERN_SUCCESS);
    assert_eq!(release(service), KERN_SUCCESS);
}

#[test]
fn a_struct_output_buffer_one_byte_short_or_long_is_refused_and_untouched() {
    let _serial = serial();
    let (service, c) = open();
    for capacity in [STATS - 1, STATS + 1, 0, 4096] {
        let (kr, out) = call(c, Selector::GetStats as u32, &[], &[], 0, capacity);
        assert_eq!(kr, kIOReturnBadArgument, "capacity {capacity}");
        assert_untouched(&out, 0, capacity);
    }
    // Over 4096 bytes the output goes out of line: a descriptor, which no shape accepts.
    let (kr, out) = call(c, Selector::GetStats as u32, &[], &[], 0, 8192);
    assert_eq!(kr, kIOReturnBadArgument);
    assert_untouched(&out, 0, 8192);
    assert_eq!(close(c), KERN_SUCCESS);
    release(service);
}

#[test]
fn a_scalar_output_count_other_than_the_methods_is_refused_and_untouched() {
    let _serial = serial();
    let (service, c) = open();
    for capacity in [2, 0, 4, 16] {
        let (kr, out) = call(c, Selector::GetVersion as u32, &[], &[], capacity, 0);
        assert_eq!(kr, kIOReturnBadArgument, "capacity {capacity}");
        assert_untouched(&out, capacity, 0);
    }
    // Above 16 the stub sends 16 (WriteInitializeCount): still not the method's 3.
    let (kr, out) = call(c, Selector::GetVersion as u32, &[], &[], 20, 0);
    assert_eq!(kr, kIOReturnBadArgument);
    assert_untouched(&out, 20, 0);
    assert_eq!(close(c), KERN_SUCCESS);
    release(service);
}

#[test]
fn input_structs_over_4096_bytes_go_out_of_line_and_are_refused() {
    let _serial = serial();
    let (service, c) = open();
    for size in [4097, 5000, 1 << 16] {
        let (kr, out) = call(
            c,
            Selector::SetPathFilter as u32,
            &[],
            &vec![0u8; size],
            0,
            0,
        );
        assert_eq!(kr, kIOReturnBadArgument, "{size} bytes");
        assert_untouched(&out, 0, 0);
    }
    // At 4096 bytes it is still inband, and still not the method's 1024.
    let (kr, _) = call(c, Selector::SetPathFilter as u32, &[], &[0u8; 4096], 0, 0);
    assert_eq!(kr, kIOReturnBadArgument);
    // The exact size passes.
    let mut filter = vec![0u8; PATH_FILTER_SIZE];
    filter[..4].copy_from_slice(b"/tmp");
    let exact = |bytes: &[u8]| call_exact(c, Selector::SetPathFilter, &[], bytes).0;
    assert_eq!(exact(&filter), admin_code());
    assert_eq!(exact(&[0; PATH_FILTER_SIZE]), admin_code());
    assert_eq!(close(c), KERN_SUCCESS);
    release(service);
}

#[test]
fn more_than_16_input_scalars_never_leave_the_process() {
    let _serial = serial();
    let (service, c) = open();
    let (kr, out) = call(c, Selector::Ping as u32, &[7; 17], &[], 1, 0);
    assert_eq!(kr, MIG_ARRAY_TOO_LARGE);
    assert_untouched(&out, 1, 0);
    // 16 reach the kernel, which refuses the count.
    let (kr, out) = call(c, Selector::Ping as u32, &[7; 16], &[], 1, 0);
    assert_eq!(kr, kIOReturnBadArgument);
    assert_untouched(&out, 1, 0);
    assert_eq!(close(c), KERN_SUCCESS);
    release(service);
}

#[test]
fn selectors_out_of_range_are_refused_and_untouched() {
    let _serial = serial();
    let (service, c) = open();
    let past = Selector::ALL.len() as u32; // the first selector past the table
    for selector in [past, past + 1, 0x100, u32::MAX] {
        let (kr, out) = call(c, selector, &[1], &[], 1, 0);
        assert_eq!(kr, kIOReturnBadArgument, "selector {selector:#x}");
        assert_untouched(&out, 1, 0);
    }
    assert_eq!(call_exact(c, Selector::Ping, &[1], &[]).1.scalars, vec![2]);
    assert_eq!(close(c), KERN_SUCCESS);
    release(service);
}

#[test]
fn a_closed_connection_cannot_be_called_or_closed_again() {
    let _serial = serial();
    let (service, c) = open();
    assert_eq!(close(c), KERN_SUCCESS);
    let (kr, out) = call(c, Selector::Ping as u32, &[1], &[], 1, 0);
    assert_eq!(kr, MACH_SEND_INVALID_DEST);
    assert_untouched(&out, 1, 0);
    let (kr, out) = call(c, Selector::GetStats as u32, &[], &[], 0, STATS);
    assert_eq!(kr, MACH_SEND_INVALID_DEST);
    assert_untouched(&out, 0, STATS);
    // io_service_close cannot be sent; IOServiceClose's own release finds no name.
    assert_eq!(close(c), MACH_SEND_INVALID_DEST);
    assert_eq!(release(c), KERN_INVALID_NAME);
    assert_eq!(release(service), KERN_SUCCESS);
}

#[test]
fn ports_of_the_wrong_kind_get_bad_argument_from_the_routines_check() {
    let _serial = serial();
    let (service, c) = open();
    // A service handle is no connection: intran gives NULL, CHECK answers.
    let (kr, out) = call(service, Selector::Ping as u32, &[1], &[], 1, 0);
    assert_eq!(kr, kIOReturnBadArgument);
    assert_untouched(&out, 1, 0);
    // A connection is no service; the task port is neither.
    let mut connect = 0xdead;
    // SAFETY: mach_task_self has no preconditions.
    let task = unsafe { mach_task_self() };
    assert_eq!(open_with(c, task, 0, &mut connect), kIOReturnBadArgument);
    assert_eq!(connect, 0xdead, "an error reply copies nothing out");
    assert_eq!(open_with(task, task, 0, &mut connect), kIOReturnBadArgument);
    // Owning task: NULL is refused by the routine, a name this task does not hold by mach_msg.
    assert_eq!(open_with(service, 0, 0, &mut connect), kIOReturnBadArgument);
    assert_eq!(
        open_with(service, 0x7777, 0, &mut connect),
        MACH_SEND_INVALID_RIGHT
    );
    assert_eq!(open_with(0, task, 0, &mut connect), MACH_SEND_INVALID_DEST);
    assert_eq!(connect, 0xdead);
    // A refused open is a successful reply: *connect is written, with MACH_PORT_NULL.
    assert_eq!(
        open_with(service, task, 1, &mut connect),
        kIOReturnBadArgument
    );
    assert_eq!(connect, 0);
    assert_eq!(close(c), KERN_SUCCESS);
    release(service);
}

#[test]
fn handles_are_send_rights_with_user_references() {
    let _serial = serial();
    let a = matching(SERVICE_CLASS);
    let b = matching(SERVICE_CLASS);
    assert_eq!(a, b, "one name per port in a task; the second right merges");
    assert_eq!(release(a), KERN_SUCCESS);
    // One reference left: the name still opens.
    let mut connect = 0;
    // SAFETY: mach_task_self has no preconditions.
    let task = unsafe { mach_task_self() };
    assert_eq!(open_with(b, task, 0, &mut connect), KERN_SUCCESS);
    assert_eq!(close(connect), KERN_SUCCESS);
    assert_eq!(release(b), KERN_SUCCESS);
    // No reference left: the name is gone, and with its last send right the port (no other
    // test holds a handle now).
    assert_eq!(release(b), KERN_INVALID_NAME);
    assert_eq!(iokitlib_sim::simulator_status().unwrap().object_ports, 0);
    assert_eq!(open_with(b, task, 0, &mut connect), MACH_SEND_INVALID_DEST);
    assert_eq!(release(0), KERN_SUCCESS, "MACH_PORT_NULL");
    assert_eq!(matching("NoSuchClass"), 0);
    assert_eq!(
        matching("IOUserClient"),
        0,
        "user clients are not registered"
    );
}

#[test]
fn closing_a_service_handle_by_mistake_releases_it() {
    let _serial = serial();
    let service = matching(SERVICE_CLASS);
    // is_io_service_close: CHECK(IOUserClient) fails; IOServiceClose releases the name anyway.
    assert_eq!(close(service), kIOReturnBadArgument);
    assert_eq!(release(service), KERN_INVALID_NAME);
}

#[test]
fn releasing_a_connection_without_closing_it_is_client_died() {
    let _serial = serial();
    let (service, observer) = open();
    let count = |c| call_exact(c, Selector::GetClientInfo, &[], &[]).1.scalars[1];
    let (_, c) = open();
    let before = count(observer);
    // The last send right goes: iokit_client_died -> clientDied -> clientClose.
    assert_eq!(release(c), KERN_SUCCESS);
    assert_eq!(count(observer), before - 1);
    assert_eq!(
        call(c, Selector::Ping as u32, &[1], &[], 1, 0).0,
        MACH_SEND_INVALID_DEST
    );
    assert_eq!(close(observer), KERN_SUCCESS);
    release(service);
}

#[test]
fn privilege_is_the_euid_at_open() {
    let _serial = serial();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to switch the effective uid");
        return;
    }
    let service = matching(SERVICE_CLASS);
    // SAFETY: mach_task_self has no preconditions.
    let task = unsafe { mach_task_self() };
    let mut user = 0;
    // SAFETY: seteuid has no memory preconditions; the real uid stays 0, so 0 can be restored.
    assert_eq!(unsafe { libc::seteuid(65534) }, 0);
    let opened = open_with(service, task, 0, &mut user);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::seteuid(0) }, 0);
    assert_eq!(opened, KERN_SUCCESS);
    let mut admin = 0;
    assert_eq!(open_with(service, task, 0, &mut admin), KERN_SUCCESS);
    assert_eq!(
        call_exact(user, Selector::ResetStats, &[], &[]).0,
        userclient_test::codes::kIOReturnNotPrivileged
    );
    assert_eq!(
        call_exact(admin, Selector::ResetStats, &[], &[]).0,
        KERN_SUCCESS
    );
    close(user);
    close(admin);
    release(service);
}

/// The backend's own marshalling (`IoKitBackend::call`) through the stand-in answers every call
/// of the bad-input matrix and the exact calls as the simulator backend does.
#[test]
fn the_iokit_backend_marshals_as_the_simulator_backend_answers() {
    let _serial = serial();
    kernel();
    let iokit = userclient_test::iokit::IoKitBackend::new(BUNDLE_ID);
    let sim = userclient_test::sim::SimBackend::boot().unwrap();
    use userclient_test::backend::User;
    // The simulator backend's current user is an administrator; this process may not be.
    let sim_user = if is_root() {
        User::Current
    } else {
        User::NonAdmin
    };
    let (ci, cs) = (
        iokit.open(User::Current, 0).unwrap(),
        sim.open(sim_user, 0).unwrap(),
    );
    let mut cases = Vec::new();
    for sel in Selector::ALL {
        let exact = sel.entry().shape;
        for (ds, dsi, dso, dbo) in [
            (0i64, 0i64, 0i64, 0i64),
            (1, 0, 0, 0),
            (0, 1, 0, 0),
            (0, 0, 1, 0),
            (0, 0, 0, 1),
            (0, 0, -1, 0),
            (0, 0, 0, -1),
            (0, 4097, 0, 0),
            (0, 0, 0, 4097),
        ] {
            let f = |base: u32, d: i64| u32::try_from(i64::from(base) + d).ok();
            if let (Some(a), Some(b), Some(c), Some(d)) = (
                f(exact.scalar_input_count, ds),
                f(exact.struct_input_size, dsi),
                f(exact.scalar_output_count, dso),
                f(exact.struct_output_size, dbo),
            ) {
                cases.push((sel as u32, a, b, c, d));
            }
        }
    }
    for selector in [Selector::ALL.len() as u32, u32::MAX] {
        cases.push((selector, 1, 0, 1, 0));
    }
    for (selector, si, bi, so, bo) in cases {
        let scalars: Vec<u64> = (0..u64::from(si)).map(|i| 40 + i).collect();
        let bytes = vec![0u8; bi as usize];
        let call = Call {
            selector,
            scalars_in: &scalars,
            struct_in: &bytes,
            scalar_out_capacity: so,
            struct_out_capacity: bo,
        };
        let (a, b) = (iokit.call(ci, &call), sim.call(cs, &call));
        let what = format!("selector {selector} in {si}/{bi} out {so}/{bo}");
        match (&a, &b) {
            (Ok(x), Ok(y)) => {
                assert_eq!(x.scalars.len(), y.scalars.len(), "{what}");
                assert_eq!(x.bytes.len(), y.bytes.len(), "{what}");
                if selector == Selector::Ping as u32 || selector == Selector::GetVersion as u32 {
                    assert_eq!(x, y, "{what}");
                }
            }
            _ => assert_eq!(a, b, "{what}"),
        }
    }
    assert_eq!(iokit.close(ci), KERN_SUCCESS);
    assert_eq!(sim.close(cs), KERN_SUCCESS);
}

#[test]
fn the_kext_tools_list_the_loaded_kext() {
    let _serial = serial();
    kernel();
    let id = BUNDLE_ID;
    for (name, args) in [
        ("kmutil", vec!["showloaded", "--bundle-identifier", id]),
        ("kextstat", vec!["-b", id]),
    ] {
        let (ok, stdout, _) = tool(name, &args);
        assert!(ok, "{name}");
        assert!(
            userclient_test::kextctl::lists_bundle(&stdout, id),
            "{name}: {stdout}"
        );
    }
    let (ok, stdout, _) = tool("kextstat", &["-b", "com.example.other"]);
    assert!(ok);
    assert!(!userclient_test::kextctl::lists_bundle(&stdout, id));
    let (ok, _, stderr) = tool("kmutil", &["load", "-p", "/x.kext"]);
    assert!(!ok);
    assert!(stderr.contains("only this form is simulated"), "{stderr}");
}

/// IORegistryEntrySetCFProperties (IOKitLib.c) on the simulated kernel: IOResources takes a
/// dictionary from an administrator and publishes each key (IOService.cpp
/// IOResources::setProperties), other entries keep IORegistryEntry::setProperties
/// (kIOReturnUnsupported), a connection is no registry entry for the routine's CHECK; the
/// CoreFoundation objects are the caller's and are all released.
#[test]
fn registry_properties_reach_io_resources_only_from_an_administrator() {
    let _serial = serial();
    kernel();
    let live = iokitlib_sim::cf::live_objects();
    let resources = matching("IOResources");
    assert_ne!(resources, 0, "IOResources is matched like any service");
    // SAFETY: CoreFoundation calls with valid arguments; each object is released once below.
    let (name, dict, text) = unsafe {
        let name = CFStringCreateWithCString(
            kCFAllocatorDefault,
            c"org.rustkext.test.resource".as_ptr(),
            kCFStringEncodingUTF8,
        );
        let keys = [name as *const std::ffi::c_void];
        let values = [kCFBooleanTrue as *const std::ffi::c_void];
        let dict = CFDictionaryCreate(
            kCFAllocatorDefault,
            keys.as_ptr(),
            values.as_ptr(),
            1,
            &kCFTypeDictionaryKeyCallBacks,
            &kCFTypeDictionaryValueCallBacks,
        );
        (name, dict, name)
    };
    // SAFETY: live objects of the stand-in.
    let set = |entry, props: *const std::ffi::c_void| unsafe {
        IORegistryEntrySetCFProperties(entry, props)
    };
    let expected = if is_root() {
        KERN_SUCCESS
    } else {
        kIOReturnNotPrivileged
    };
    assert_eq!(set(resources, dict.cast()), expected);
    assert_eq!(
        set(resources, text.cast()),
        if is_root() {
            kIOReturnBadArgument
        } else {
            kIOReturnNotPrivileged
        }
    );
    assert_eq!(set(resources, std::ptr::null()), kIOReturnUnsupported);
    if is_root() {
        // The credential at the call decides (IOResources::setProperties: clientHasPrivilege).
        // SAFETY: seteuid has no memory preconditions; the real uid stays 0 to switch back.
        assert_eq!(unsafe { libc::seteuid(65534) }, 0);
        let as_user = set(resources, dict.cast());
        // SAFETY: as above.
        assert_eq!(unsafe { libc::seteuid(0) }, 0);
        assert_eq!(as_user, kIOReturnNotPrivileged);
    }
    let (service, c) = open();
    assert_eq!(set(service, dict.cast()), kIOReturnUnsupported);
    assert_eq!(set(c, dict.cast()), kIOReturnBadArgument);
    assert_eq!(set(0, dict.cast()), MACH_SEND_INVALID_DEST);
    assert_eq!(close(c), KERN_SUCCESS);
    release(service);
    release(resources);
    // SAFETY: each created object released once; the dictionary releases its key last.
    unsafe {
        CFRelease(dict.cast());
        CFRelease(name.cast());
    }
    assert_eq!(
        iokitlib_sim::cf::live_objects(),
        live,
        "a CoreFoundation object leaked"
    );
}

#[test]
fn sleeping_kernel_time_is_faster_than_the_host() {
    let _serial = serial();
    kernel();
    let start = std::time::Instant::now();
    iokitlib_sim::sleep_kernel_time(std::time::Duration::from_secs(10));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "10 s of kernel time took {:?}",
        start.elapsed()
    );
}

/// `IORegistryEntryCreateCFProperties` through the stand-in reads what the simulator backend
/// reads: the personality's settings and the values computed when read (clients open now), as CF
/// objects the caller releases (none left live).
#[test]
fn the_iokit_backend_reads_the_registry_as_the_simulator_backend() {
    let _serial = serial();
    kernel();
    let iokit = userclient_test::iokit::IoKitBackend::new(BUNDLE_ID);
    let sim = userclient_test::sim::SimBackend::boot().unwrap();
    let live = iokitlib_sim::cf::live_objects();
    let (ip, sp) = (
        iokit.service_properties().unwrap(),
        sim.service_properties().unwrap(),
    );
    assert_eq!(
        iokitlib_sim::cf::live_objects(),
        live,
        "every CF object released"
    );
    assert_eq!(ip.settings(), sp.settings());
    assert_eq!(ip.get("IOClass"), sp.get("IOClass"));
    let keys = |p: &userclient_test::registry::Properties| {
        let f = p
            .framework()
            .unwrap()
            .0
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>();
        let d = p
            .driver()
            .unwrap()
            .0
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<Vec<_>>();
        (f, d)
    };
    assert_eq!(keys(&ip), keys(&sp));
    let before = ip.clients_open().unwrap();
    let (service, conn) = open();
    assert_eq!(
        iokit.service_properties().unwrap().clients_open(),
        Some(before + 1)
    );
    // SAFETY: handles from `open`, each released once.
    unsafe {
        assert_eq!(IOServiceClose(conn), KERN_SUCCESS);
        assert_eq!(IOObjectRelease(service), KERN_SUCCESS);
    }
    assert_eq!(
        iokit.service_properties().unwrap().clients_open(),
        Some(before)
    );

    // A dead or wrong handle: the routine's code, nothing written.
    let mut dict: CFMutableDictionaryRef = std::ptr::null_mut();
    // SAFETY: a valid out pointer; 0x7777 names nothing in this task.
    let kr =
        unsafe { IORegistryEntryCreateCFProperties(0x7777, &mut dict, kCFAllocatorDefault, 0) };
    assert_eq!(kr, MACH_SEND_INVALID_DEST);
    assert!(dict.is_null());
}
