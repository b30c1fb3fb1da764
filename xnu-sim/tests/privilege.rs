//! Administrator (effective uid 0 at open) versus everyone else.

mod common;
use common::*;

both_flavors! {
    fn non_administrators_are_refused_every_privileged_selector(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let user = k.open(k.spawn_task(USER), 0).unwrap();
        let admin = k.open(k.spawn_task(ROOT), 0).unwrap();
        k.fileop_path(fileop::EXEC, "/bin/ls");
        let before = stats(&k, admin);
        assert_eq!(before.events[5], 1);
        for sel in Selector::ALL.into_iter().filter(|s| s.requires_admin()) {
            let input = if sel == Selector::SetPathFilter {
                filter_bytes("/x")
            } else {
                vec![]
            };
            assert_eq!(
                call(&k, user, sel, &[], &input),
                Err(KIO_RETURN_NOT_PRIVILEGED),
                "{sel:?}"
            );
        }
        assert_eq!(
            stats(&k, admin),
            before,
            "a refused privileged call changed something"
        );
        // Unprivileged selectors work for both.
        for c in [user, admin] {
            assert_eq!(ping(&k, c, 1), Ok(2));
        }
        // The administrator may.
        assert_eq!(
            call(&k, admin, Selector::ResetStats, &[], &[]).map(|o| o.scalars),
            Ok(vec![])
        );
        assert_eq!(stats(&k, admin).events, [0; 9]);
        assert_eq!(
            call(&k, admin, Selector::SetPathFilter, &[], &filter_bytes("/x")).map(|o| o.bytes),
            Ok(vec![])
        );
    }

    fn admin_only_personality_refuses_non_administrators_at_open(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext_with(&[("RustKextAdminOnly", Property::Bool(true))])
            .unwrap();
        let user = k.spawn_task(USER);
        assert_eq!(k.open(user, 0), Err(KIO_RETURN_NOT_PRIVILEGED));
        assert!(k.wait_quiet(QUIET));
        assert_eq!(k.instance_count(CLIENT), 0);
        let admin = k.open(k.spawn_task(ROOT), 0).unwrap();
        assert_eq!(
            client_info(&k, admin).unwrap().1,
            1,
            "the refusal left no client behind"
        );
    }
}
