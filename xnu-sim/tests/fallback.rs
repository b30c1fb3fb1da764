//! The kernel's side of user clients, with a test-only kext (tests/fixtures/FallbackKext.cpp)
//! whose service does not override newUserClient: the IOUserClientClass fallback and its codes,
//! the dispatch-entry checks, and provider termination killing connections without clientClose.

mod common;
use common::*;

const BUNDLE: &str = "org.xnusim.test.Fallback";
const FALLBACK_SERVICE: &str = "xnusim_FallbackService";
const FALLBACK_CLIENT: &str = "xnusim_FallbackClient";

fn personality(
    name: &str,
    category: &str,
    user_client_class: Option<&str>,
) -> xnu_sim::Personality {
    let mut p = xnu_sim::Personality {
        name: name.into(),
        properties: vec![
            ("IOClass".into(), Property::String(FALLBACK_SERVICE.into())),
            (
                "IOProviderClass".into(),
                Property::String("IOResources".into()),
            ),
            ("IOResourceMatch".into(), Property::String("IOKit".into())),
            ("IOMatchCategory".into(), Property::String(category.into())),
        ],
    };
    if let Some(class) = user_client_class {
        p.set("IOUserClientClass", Property::String(class.into()));
    }
    p
}

/// The desktop is off: its rematches on IOResources (which this kext's personalities match
/// unconditionally) would race with the terminations these tests look at, as they would on a
/// real machine; catalogue.rs tests that race on purpose.
fn load(k: &Kernel, personalities: Vec<xnu_sim::Personality>) {
    k.set_desktop(Desktop::Off);
    // SAFETY: plain reset of the fixture's statics; the world lock (Kernel) serializes it.
    unsafe { xnusim_fallback_reset() };
    k.define_kext(&xnu_sim::KextSpec {
        bundle_id: BUNDLE.into(),
        module: "xnusim.fallback".into(),
        personalities,
    });
    assert_eq!(k.load_bundle(BUNDLE), Ok(()));
}

extern "C" {
    /// tests/fixtures/FallbackKext.cpp: holds or drops one instance of a class of the kext.
    fn xnusim_fallback_hold(hold: bool);
    /// Zeroes the fixture's counters and leak settings (they outlive a kernel).
    fn xnusim_fallback_reset();
}

fn hold(yes: bool) {
    // SAFETY: the fixture's hook takes a plain flag; the world lock (Kernel) serializes it.
    unsafe { xnusim_fallback_hold(yes) }
}

both_flavors! {
    fn user_client_class_fallback_opens_and_its_failures_have_the_kernel_codes(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        load(
            &k,
            vec![personality("Fallback", BUNDLE, Some(FALLBACK_CLIENT))],
        );
        assert_eq!(k.instance_count(FALLBACK_SERVICE), 1);
        let task = k.spawn_task(USER);

        let c = k.open_service(task, FALLBACK_SERVICE, 0).unwrap();
        assert_eq!(k.call(c, 0, &[21], &[], 1, 0).unwrap().scalars, vec![42]);
        // The kernel's dispatch check: each count exactly.
        assert_eq!(
            k.call(c, 0, &[21, 1], &[], 1, 0),
            Err(KIO_RETURN_BAD_ARGUMENT)
        );
        assert_eq!(
            k.call(c, 0, &[21], &[1], 1, 0),
            Err(KIO_RETURN_BAD_ARGUMENT)
        );
        assert_eq!(k.call(c, 0, &[21], &[], 2, 0), Err(KIO_RETURN_BAD_ARGUMENT));
        assert_eq!(k.call(c, 0, &[21], &[], 1, 4), Err(KIO_RETURN_BAD_ARGUMENT));
        // No dispatch entry: the base refuses.
        assert_eq!(k.call(c, 1, &[], &[], 0, 0), Err(KIO_RETURN_UNSUPPORTED));
        assert_eq!(
            k.call(c, 1, &[], &vec![0; 5000], 0, 0),
            Err(KIO_RETURN_IPC_ERROR)
        );

        // initWithTask failure → kIOReturnBadArgument; start failure → kIOReturnUnsupported.
        assert_eq!(
            k.open_service(task, FALLBACK_SERVICE, 1),
            Err(KIO_RETURN_BAD_ARGUMENT)
        );
        assert_eq!(
            k.open_service(task, FALLBACK_SERVICE, 2),
            Err(KIO_RETURN_UNSUPPORTED)
        );
        assert_eq!(
            k.instance_count(FALLBACK_CLIENT),
            1,
            "failed opens leave no client"
        );

        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.instance_count(FALLBACK_CLIENT), 0);
    }

    fn without_a_usable_user_client_class_open_fails(flavor: Flavor) {
        for (class, code) in [
            (None, KIO_RETURN_UNSUPPORTED),
            (Some("NoSuchClass"), KIO_RETURN_NO_MEMORY),
            (Some("OSString"), KIO_RETURN_UNSUPPORTED),
        ] {
            let k = Kernel::boot_flavor(flavor);
            load(&k, vec![personality("Fallback", BUNDLE, class)]);
            let task = k.spawn_task(USER);
            assert_eq!(
                k.open_service(task, FALLBACK_SERVICE, 0),
                Err(code),
                "IOUserClientClass {class:?}"
            );
        }
    }

    fn base_terminate_never_refuses_and_kills_connections_without_client_close(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        load(
            &k,
            vec![personality("Fallback", BUNDLE, Some(FALLBACK_CLIENT))],
        );
        let task = k.spawn_task(USER);
        let a = k.open_service(task, FALLBACK_SERVICE, 0).unwrap();
        let b = k.open_service(task, FALLBACK_SERVICE, 0).unwrap();

        assert_eq!(k.unload_bundle(BUNDLE), 0);
        assert!(!k.bundle_loaded(BUNDLE));
        assert_eq!(k.instance_count(FALLBACK_SERVICE), 0);
        assert_eq!(k.instance_count(FALLBACK_CLIENT), 0);
        assert_eq!(k.counter("connection.destroyed_by_terminate"), 2);
        assert_eq!(k.counter("stop:xnusim_FallbackClient"), 2);
        assert_eq!(k.counter("clientClose"), 0);
        assert_eq!(k.counter("clientDied"), 0);
        for c in [a, b] {
            assert_eq!(k.call(c, 0, &[1], &[], 1, 0), Err(MACH_SEND_INVALID_DEST));
        }
        // Process death after that finds nothing to notify.
        k.kill_task(task);
        assert_eq!(k.counter("clientDied"), 0);
    }

    fn one_driver_per_match_category_and_resources_must_be_published(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        let mut unpublished = personality("NeedsMissingResource", "other-category", None);
        unpublished.set("IOResourceMatch", Property::String("NoSuchResource".into()));
        load(
            &k,
            vec![
                personality("First", BUNDLE, None),
                personality("SameCategory", BUNDLE, None),
                unpublished,
                personality("OtherCategory", "second-category", None),
            ],
        );
        assert_eq!(k.instance_count(FALLBACK_SERVICE), 2);
        assert_eq!(
            k.counter("matching.started:xnusim_FallbackService"),
            2,
            "First and OtherCategory; SameCategory's category was taken"
        );
        assert!(k.counter("matching.resource_absent:NeedsMissingResource") >= 1);
        assert_eq!(k.unload_bundle(BUNDLE), 0);
        assert_eq!(k.instance_count(FALLBACK_SERVICE), 0);
    }

    fn unload_is_refused_in_use_while_any_instance_lives_then_autounloads(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        load(&k, vec![personality("Fallback", BUNDLE, None)]);
        hold(true);
        assert_eq!(k.unload_bundle(BUNDLE), KOS_KEXT_RETURN_IN_USE);
        assert!(k.bundle_loaded(BUNDLE), "the kext stays loaded");
        assert_eq!(
            k.instance_count(FALLBACK_SERVICE),
            0,
            "its services were terminated"
        );
        assert!(log_has(&k, "classes have instances (1)"));
        k.advance_clock(std::time::Duration::from_secs(3600));
        assert!(
            k.bundle_loaded(BUNDLE),
            "no autounload while an instance lives"
        );
        hold(false);
        // Dropping the object is no registry activity: the countdown restarts only at the next
        // quiet edge, which the desktop provides (the personalities are gone: nothing races).
        k.advance_clock(AUTOUNLOAD);
        assert!(k.bundle_loaded(BUNDLE), "no quiet edge, no unload scan");
        k.set_desktop(Desktop::DEFAULT);
        k.advance_clock(AUTOUNLOAD);
        assert!(!k.bundle_loaded(BUNDLE));
        assert_eq!(k.counter("kext.unloaded:autounload"), 1);
    }

    fn unloading_one_bundle_never_touches_another(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        load(
            &k,
            vec![personality("Fallback", BUNDLE, Some(FALLBACK_CLIENT))],
        );
        k.load_kext().unwrap();
        let c = k.open(k.spawn_task(USER), 0).unwrap();
        assert_eq!(k.unload_bundle(BUNDLE), 0);
        assert_intact(&k);
        assert_eq!(ping(&k, c, 1), Ok(2));
        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        assert_eq!(k.request_unload(), 0);
        assert_gone(&k);
    }
}
