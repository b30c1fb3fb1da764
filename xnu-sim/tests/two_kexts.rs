//! Two kexts built with the framework in one kernel: the monitor and the second example
//! (examples/execcount), with different identities, load side by side and serve their clients
//! through their generated clients; and a copy of the monitor under another bundle id, with the
//! same class names (what AUDIT #11 describes: another BUNDLE_ID, same classes), is refused as
//! xnu refuses it (OSMetaClass::postModLoad: "Kext %s class %s is a duplicate",
//! kOSMetaClassDuplicateClass), the monitor untouched.

mod common;
use common::*;

use execcount_api::ExecCountClient;
use rustkext_abi::client::{Output, Transport};
use rustkext_monitor_api::MonitorClient;

const EXECCOUNT: rustkext::Identity = execcount_kext::IDENTITY;

fn execcount() -> KextSpec {
    KextSpec::from_info_plist(EXECCOUNT.info_plist, EXECCOUNT.bundle_id).expect("ExecCount's Info.plist")
}

/// A connection as a generated client's transport.
struct Conn<'k> {
    kernel: &'k Kernel,
    connection: Connection,
}

impl Transport for Conn<'_> {
    fn call(&self, selector: u32, scalars: &[u64], bytes: &[u8], sc: u32, bc: u32) -> Result<Output, i32> {
        self.kernel
            .call(self.connection, selector, scalars, bytes, sc, bc)
            .map(|out| Output { scalars: out.scalars, bytes: out.bytes })
    }
}

fn connect<'k>(k: &'k Kernel, class: &str) -> Conn<'k> {
    let task = k.spawn_task(ROOT);
    Conn { kernel: k, connection: k.open_service(task, class, 0).expect("IOServiceOpen") }
}

both_flavors! {
    fn the_monitor_and_execcount_load_together_and_serve_their_clients(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        assert_eq!(k.load_kext(), Ok(()));
        assert_eq!(k.load_spec(&execcount()), Ok(()));
        assert!(k.kext_loaded() && k.bundle_loaded(EXECCOUNT.bundle_id));
        assert_eq!((k.service_count(), k.bundle_service_count(EXECCOUNT.bundle_id)), (1, 1));
        assert_eq!(k.kauth_listener_count(), 2, "each listens to FILEOP");
        assert_ne!(SERVICE, EXECCOUNT.service_class);

        let monitor = MonitorClient::open(connect(&k, SERVICE)).expect("the monitor's fingerprint");
        let exec = ExecCountClient::open(connect(&k, EXECCOUNT.service_class)).expect("ExecCount's fingerprint");
        assert_eq!((monitor.ping(1), exec.ping(2)), (Ok(2), Ok(3)));
        k.fileop_path(fileop::EXEC, "/bin/ls");
        k.fileop_path(fileop::OPEN, "/etc/hosts");
        let stats = monitor.get_stats().unwrap();
        assert_eq!((stats.events[0], stats.events[5]), (1, 1), "the monitor counts every action");
        assert_eq!(exec.exec_count(), Ok(1), "ExecCount counts execs");
        assert_eq!(&exec.last_exec().unwrap().path[..7], b"/bin/ls");

        // Each client speaks to its own kext: the other's interface is refused at open.
        let conn = connect(&k, EXECCOUNT.service_class);
        let id = conn.connection;
        let wrong = MonitorClient::open(conn);
        assert!(matches!(wrong, Err(rustkext_abi::client::Error::AbiMismatch { .. })), "{:?}", wrong.err());
        assert_eq!(k.close(id), KIO_RETURN_SUCCESS);

        // Each unloads on its own, leaving the other serving.
        for conn in [monitor.into_transport(), exec.into_transport()] {
            assert_eq!(k.close(conn.connection), KIO_RETURN_SUCCESS);
        }
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.unload_bundle(EXECCOUNT.bundle_id), 0);
        assert!(!k.bundle_loaded(EXECCOUNT.bundle_id));
        assert_intact(&k);
        let c = k.open(k.spawn_task(USER), 0).unwrap();
        assert_eq!(ping(&k, c, 1), Ok(2));
        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.request_unload(), 0);
        assert_gone(&k);
    }

    fn a_copy_of_the_monitor_under_another_bundle_id_is_refused_for_its_duplicate_classes(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        assert_eq!(k.load_kext(), Ok(()));
        let copy = monitor().with_bundle_id("org.example.RustKextCopy");
        assert_eq!(copy.module, MODULE, "the monitor's code, other bundle id, same class names");
        assert_eq!(k.load_spec(&copy), Err(KOS_META_CLASS_DUPLICATE_CLASS));
        // (The first of its classes found: org_rustkext_Service or org_rustkext_UserClient.)
        let refusal = k.log_lines().into_iter().find(|l| l.starts_with("OSMetaClass: Kext org.example.RustKextCopy class org_rustkext_"));
        assert!(
            refusal.as_deref().is_some_and(|l| l.ends_with("is a duplicate;kext org.rustkext.RustKext already has a class by that name.")),
            "{:#?}",
            k.log_lines()
        );
        assert!(log_has(&k, "Kext org.example.RustKextCopy start failed (result 0xdc00400a)."));
        assert!(!k.bundle_loaded("org.example.RustKextCopy"));
        assert_eq!(k.counter("kext.duplicate_class_refused"), 1);
        assert_intact(&k);
        let task = k.spawn_task(USER);
        let c = k.open(task, 0).unwrap();
        assert_eq!(ping(&k, c, 41), Ok(42), "the monitor still serves");
        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        assert!(k.wait_quiet(QUIET));

        // Once the original is gone its class names are free (removeClasses at unload).
        assert_eq!(k.request_unload(), 0);
        assert_gone(&k);
        assert_eq!(k.load_spec(&copy), Ok(()));
        assert_eq!(k.bundle_service_count("org.example.RustKextCopy"), 1);
        assert_eq!(k.instance_count(SERVICE), 1);
        assert_eq!(k.unload_bundle("org.example.RustKextCopy"), 0);
    }
}
