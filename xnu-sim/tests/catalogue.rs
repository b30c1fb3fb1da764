//! The IOCatalogue and matching on IOResources (AUDIT #7, #9, #16): personalities added at load,
//! kept by autounload, removed by kextunload; IOResources rematched at every publishResource;
//! a personality of an unloaded kext loads it again; installed kexts matched at boot.
//!
//! The RustKext tests build the kext from the repository's Info.plist (KextSpec::rustkext), so
//! they follow whatever personality the driver ships: on f907031 (IOResourceMatch = IOKit, a
//! resource that is always there) they fail; with the personality of the fixed driver
//! (IOResourceMatch = the bundle id, published by the module start and withdrawn when the
//! driver lets itself terminate) they pass.

mod common;
use common::*;
use std::time::Duration;

/// Refused unload, then the last close: the service terminates itself.
fn self_terminate(k: &Kernel) {
    let task = k.spawn_task(USER);
    let c = k.open(task, 0).unwrap();
    assert_eq!(k.request_unload(), KIO_RETURN_UNSUPPORTED);
    assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
    assert!(k.wait_quiet(QUIET));
    assert_eq!(k.counter("stop:org_rustkext_Service"), 1);
}

both_flavors! {
    /// AUDIT #7, first half: the personality stays in the catalogue and IOResources is
    /// re-registered by everybody's publishResource (the busy desktop here, and one explicit
    /// publish). An inactive service does not hold its match category, so with a personality
    /// that still matches, a new instance starts inside the still-loaded kext and it never
    /// autounloads.
    fn after_a_self_termination_no_rematch_starts_a_new_instance(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        self_terminate(&k);
        assert_eq!(k.catalogue_personalities(BUNDLE), 1, "autounload keeps personalities");
        k.publish_resource("org.xnusim.SomeOtherDriver");
        assert!(k.wait_quiet(QUIET));
        assert_eq!(
            k.counter("matching.started:org_rustkext_Service"),
            1,
            "a publishResource started a new instance of the self-terminated service: {:#?}",
            k.log_lines()
        );
        assert_eq!(k.service_count(), 0);
        // The busy desktop publishes every 5 s in its bursts; the kext still goes in a gap.
        let took = advance_until(&k, AUTOUNLOAD, || !k.kext_loaded());
        assert!(took.is_some(), "never autounloaded: {:#?}", k.log_lines());
        assert!(k.counter("desktop.publishes") > 0);
        assert_eq!(k.counter("matching.started:org_rustkext_Service"), 1);
        assert_gone(&k);
        take_stop_sleeps_of_audit_4(&k);
    }

    /// AUDIT #7, second half: after autounload the personality is still in the catalogue; a
    /// rematch of a personality whose kext is not loaded loads it again (10.15: "Kext %s not
    /// found; queued load request to user space." and kextd loads it from /Library/Extensions;
    /// 11+: loaded in place from the auxiliary collection). The driver must make its personality
    /// stop matching. The desktop stays off until the autounload (so that the first half cannot
    /// hide this one), then publishes as usual.
    fn after_autounload_no_rematch_loads_the_kext_again(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        // Installed, as the README's VM steps do: the daemon can find it.
        k.install_kext(&KextSpec::rustkext());
        k.load_kext().unwrap();
        self_terminate(&k);
        k.advance_clock(UNLOAD_DELAY + Duration::from_secs(1));
        assert!(!k.kext_loaded(), "autounloaded");
        assert_eq!(k.catalogue_personalities(BUNDLE), 1, "autounload keeps personalities");

        k.set_desktop(Desktop::DEFAULT);
        k.publish_resource("org.xnusim.SomeOtherDriver");
        k.advance_clock(Duration::from_secs(300));
        assert_eq!(
            k.counter("kext.loaded"),
            1,
            "a rematch loaded the kext again: {:#?}",
            k.log_lines()
        );
        assert_eq!(k.counter("kext.load_requests"), 0, "a load request was queued");
        assert!(!log_has(&k, "queued load request to user space"));
        assert_gone(&k);
        take_stop_sleeps_of_audit_4(&k);
    }

    /// AUDIT #9: installed in /Library/Extensions (10.15) or the auxiliary collection (11+), the
    /// kext is matched at every boot; with a personality that matches IOResources as it is at
    /// boot, it is loaded and started at every boot (a panic in start becomes a boot loop).
    fn an_installed_kext_is_not_loaded_at_boot(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.install_kext(&KextSpec::rustkext());
        assert!(!k.kext_loaded());
        k.reboot();
        assert_eq!(k.catalogue_personalities(BUNDLE), 1, "its personality is in the catalogue");
        assert!(
            !k.kext_loaded(),
            "loaded at boot: {:#?}",
            k.log_lines()
        );
        assert_eq!(k.instance_count(SERVICE), 0);
        // A loaded-then-rebooted machine too.
        k.load_kext().unwrap();
        assert_intact(&k);
        k.reboot();
        assert!(!k.kext_loaded(), "loaded at boot: {:#?}", k.log_lines());
        k.advance_clock(Duration::from_secs(120));
        assert!(!k.kext_loaded(), "loaded by a later rematch: {:#?}", k.log_lines());
    }
}

// ---- the model's catalogue with the test-only kext ----

const FIXTURE: &str = "org.xnusim.test.Catalogue";
const FIXTURE_SERVICE: &str = "xnusim_FallbackService";

extern "C" {
    fn xnusim_fallback_reset();
    fn xnusim_fallback_terminate_service() -> bool;
    fn xnusim_fallback_terminate_calls(which: i32) -> u32;
    fn xnusim_fallback_module_name() -> *const std::ffi::c_char;
}

fn fixture_spec(bundle: &str, resource: &str) -> KextSpec {
    // SAFETY: plain reset of the fixture's statics; the world lock (Kernel) serializes it.
    unsafe { xnusim_fallback_reset() };
    KextSpec {
        bundle_id: bundle.into(),
        module: "xnusim.fallback".into(),
        personalities: vec![xnu_sim::Personality {
            name: "Catalogue".into(),
            properties: vec![
                ("IOClass".into(), Property::String(FIXTURE_SERVICE.into())),
                (
                    "IOProviderClass".into(),
                    Property::String("IOResources".into()),
                ),
                ("IOResourceMatch".into(), Property::String(resource.into())),
                ("IOMatchCategory".into(), Property::String(bundle.into())),
            ],
        }],
    }
}

both_flavors! {
    fn io_resource_match_waits_for_its_resource_and_a_withdrawal_rematches_nothing(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.define_kext(&fixture_spec(FIXTURE, "org.xnusim.Resource"));
        assert_eq!(k.load_bundle(FIXTURE), Ok(()));
        assert_eq!(k.catalogue_personalities(FIXTURE), 1, "personalities sent at load");
        assert_eq!(k.instance_count(FIXTURE_SERVICE), 0, "the resource is not published");
        k.publish_resource("org.xnusim.Resource");
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.instance_count(FIXTURE_SERVICE), 1, "publishResource rematched");
        k.remove_resource("org.xnusim.Resource");
        assert!(!k.resource_published("org.xnusim.Resource"));
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.instance_count(FIXTURE_SERVICE), 1, "withdrawing terminates nothing");
        k.publish_resource("org.xnusim.Other");
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.counter("matching.started:xnusim_FallbackService"), 1, "category held");
        assert_eq!(k.unload_bundle(FIXTURE), 0);
        assert_eq!(k.catalogue_personalities(FIXTURE), 0, "kextunload removes personalities");
    }

    /// copyClientWithCategory skips inactive clients: a service that is terminating (inactive,
    /// still attached: the terminate worker is held) no longer holds its category, and the next
    /// rematch starts a second instance next to it.
    fn an_inactive_service_does_not_hold_its_match_category(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.define_kext(&fixture_spec(FIXTURE, "IOKit"));
        assert_eq!(k.load_bundle(FIXTURE), Ok(()));
        assert_eq!(k.instance_count(FIXTURE_SERVICE), 1);
        let hold = k.hold_terminate_worker();
        // SAFETY: the fixture's hook; the world lock (Kernel) serializes it.
        assert!(unsafe { xnusim_fallback_terminate_service() });
        assert!(hold.wait_held(QUIET), "the worker holds the terminate role");
        k.publish_resource("org.xnusim.Other");
        wait_for("the rematch", QUIET, || {
            k.counter("matching.started:xnusim_FallbackService") == 2
        });
        assert_eq!(k.instance_count(FIXTURE_SERVICE), 2, "the old one is still there, inactive");
        drop(hold);
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.instance_count(FIXTURE_SERVICE), 1);
        assert_eq!(k.unload_bundle(FIXTURE), 0);
    }

    /// OSKext::autounloadKext -> removeKext(aKext): personalities stay; a rematch of a kext that
    /// is not loaded loads it again (10.15: a load request to kextd, which finds it installed;
    /// 11+: in place from the auxiliary collection) and starts its service.
    fn a_personality_of_an_autounloaded_kext_loads_it_again_at_the_next_rematch(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.install_kext(&fixture_spec(FIXTURE, "org.xnusim.Resource"));
        assert_eq!(k.load_bundle(FIXTURE), Ok(()));
        k.advance_clock(UNLOAD_DELAY + Duration::from_secs(1));
        assert!(!k.bundle_loaded(FIXTURE), "no instance: autounloaded");
        assert_eq!(k.catalogue_personalities(FIXTURE), 1);
        k.publish_resource("org.xnusim.Resource");
        assert!(k.wait_quiet(QUIET));
        assert!(k.bundle_loaded(FIXTURE), "{:#?}", k.log_lines());
        assert_eq!(k.instance_count(FIXTURE_SERVICE), 1);
        match flavor {
            Flavor::Catalina => {
                assert_eq!(k.counter("kext.load_requests"), 1);
                assert!(log_has(
                    &k,
                    "Kext org.xnusim.test.Catalogue not found; queued load request to user space."
                ));
                assert_eq!(k.counter("kext.loaded:load request"), 1);
            }
            Flavor::BigSurAndLater => {
                assert_eq!(k.counter("kext.load_requests"), 0);
                assert_eq!(k.counter("kext.loaded:match"), 1);
            }
        }
        assert_eq!(k.unload_bundle(FIXTURE), 0);
    }

    /// On 10.15 a kext loaded with kextutil from outside /Library/Extensions is unknown to kextd:
    /// the load request is dropped. On 11+ kmutil load put it in the auxiliary collection.
    fn a_load_request_for_a_kext_nobody_installed(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.set_desktop(Desktop::Off);
        k.define_kext(&fixture_spec(FIXTURE, "org.xnusim.Resource"));
        assert_eq!(k.load_bundle(FIXTURE), Ok(()));
        k.advance_clock(UNLOAD_DELAY + Duration::from_secs(1));
        assert!(!k.bundle_loaded(FIXTURE));
        k.publish_resource("org.xnusim.Resource");
        assert!(k.wait_quiet(QUIET));
        match flavor {
            Flavor::Catalina => {
                assert!(!k.bundle_loaded(FIXTURE));
                assert!(log_has(&k, "no installed kext org.xnusim.test.Catalogue"));
            }
            Flavor::BigSurAndLater => assert!(k.bundle_loaded(FIXTURE)),
        }
    }

    /// IOCatalogue::terminateDrivers refuses bundle ids starting with "com.apple." before it
    /// calls terminate(): kextunload answers kIOReturnUnsupported and the service lives on
    /// (AUDIT #16, the kernel's side).
    fn kextunload_refuses_com_apple_bundle_ids_before_calling_terminate(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        let apple = "com.apple.xnusim.test";
        k.define_kext(&fixture_spec(apple, "IOKit"));
        assert_eq!(k.load_bundle(apple), Ok(()));
        assert_eq!(k.instance_count(FIXTURE_SERVICE), 1);
        assert_eq!(k.unload_bundle(apple), KIO_RETURN_UNSUPPORTED);
        assert!(log_has(&k, "disallowing kextunload terminate for bundleID com.apple.xnusim.test"));
        // SAFETY: the fixture's counter; the world lock (Kernel) serializes it.
        assert_eq!(unsafe { xnusim_fallback_terminate_calls(0) }, 0, "terminate() never called");
        assert_eq!(k.instance_count(FIXTURE_SERVICE), 1);
        assert!(k.bundle_loaded(apple));
        assert_eq!(k.catalogue_personalities(apple), 1, "personalities stay");
    }

    /// OSKext overwrites kmod_info->name with the bundle id before the module start routine.
    fn the_module_start_routine_gets_the_bundle_id_as_its_kmod_name(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.define_kext(&fixture_spec(FIXTURE, "org.xnusim.Resource"));
        assert_eq!(k.load_bundle(FIXTURE), Ok(()));
        // SAFETY: the fixture returns a NUL-terminated static buffer.
        let name = unsafe { std::ffi::CStr::from_ptr(xnusim_fallback_module_name()) };
        assert_eq!(name.to_str(), Ok(FIXTURE));
    }
}
