//! The bad-input matrix: every selector with each count or size off, unknown selectors, Mach
//! limits and out-of-line structs. Each refusal has its exact code and changes nothing.

mod common;
use common::*;

/// Every shape that differs from `sel`'s in exactly one of the four counts.
fn wrong_shapes(sel: Selector) -> Vec<[u32; 4]> {
    let s = sel.shape();
    let right = [
        s.scalar_input_count,
        s.struct_input_size,
        s.scalar_output_count,
        s.struct_output_size,
    ];
    let mut wrong = Vec::new();
    for dim in 0..4 {
        let max = if dim % 2 == 0 { 16 } else { 4096 };
        for candidate in [0, 1, right[dim].wrapping_sub(1), right[dim] + 1, max] {
            if candidate != right[dim] && candidate <= max {
                let mut shape = right;
                shape[dim] = candidate;
                if !wrong.contains(&shape) {
                    wrong.push(shape);
                }
            }
        }
    }
    wrong
}

/// Everything a call could change, seen by an administrator.
fn observable(k: &Kernel, c: Connection) -> (Stats, (u64, u64, u64)) {
    (stats(k, c), client_info(k, c).unwrap())
}

both_flavors! {
    fn every_selector_refuses_every_wrong_shape_with_bad_argument(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let admin = k.spawn_task(ROOT);
        let c = k.open(admin, 0).unwrap();
        k.fileop_path(fileop::OPEN, "/tmp/a"); // nonzero stats, so that a reset would show
        let before = observable(&k, c);
        let mut tried = 0;
        for sel in Selector::ALL {
            for [si, bi, so, bo] in wrong_shapes(sel) {
                let scalars = vec![3u64; si as usize];
                let bytes = vec![b'/'; bi as usize];
                assert_eq!(
                    k.call(c, sel as u32, &scalars, &bytes, so, bo),
                    Err(KIO_RETURN_BAD_ARGUMENT),
                    "{sel:?} with shape {:?}",
                    [si, bi, so, bo]
                );
                tried += 1;
            }
        }
        assert!(
            tried >= SELECTOR_COUNT as usize * 4 * 2,
            "the matrix covers each dimension of each selector ({tried})"
        );
        assert_eq!(
            observable(&k, c),
            before,
            "a refused call changed something"
        );
    }

    fn selectors_out_of_range_are_refused_before_the_table_is_indexed(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let c = k.open(k.spawn_task(ROOT), 0).unwrap();
        let before = observable(&k, c);
        for selector in [SELECTOR_COUNT, SELECTOR_COUNT + 1, 100, 0x8000_0000, u32::MAX] {
            assert_eq!(
                k.call(c, selector, &[], &[], 0, 0),
                Err(KIO_RETURN_BAD_ARGUMENT),
                "selector {selector}"
            );
            assert_eq!(
                k.call(c, selector, &[1], &[], 1, 0),
                Err(KIO_RETURN_BAD_ARGUMENT),
                "selector {selector}"
            );
        }
        assert_eq!(observable(&k, c), before);
    }

    fn mach_limits_and_out_of_line_structs(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let c = k.open(k.spawn_task(ROOT), 0).unwrap();
        let before = observable(&k, c);
        // More than 16 scalars never leave user space.
        assert_eq!(
            k.call(c, Selector::Ping as u32, &[0; 17], &[], 1, 0),
            Err(MIG_ARRAY_TOO_LARGE)
        );
        // Structs above 4096 bytes travel as memory descriptors; no shape has one.
        assert_eq!(
            k.call(
                c,
                Selector::SetPathFilter as u32,
                &[],
                &vec![0u8; 4097],
                0,
                0
            ),
            Err(KIO_RETURN_BAD_ARGUMENT)
        );
        assert_eq!(
            k.call(c, Selector::GetStats as u32, &[], &[], 0, 8192),
            Err(KIO_RETURN_BAD_ARGUMENT)
        );
        // More output scalars than 16 are clamped by MIG to 16, which no shape takes.
        assert_eq!(
            k.call(c, Selector::GetVersion as u32, &[], &[], 64, 0),
            Err(KIO_RETURN_BAD_ARGUMENT)
        );
        assert_eq!(observable(&k, c), before);
    }

    fn path_filter_contents_are_validated_and_a_refusal_keeps_the_old_filter(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let c = k.open(k.spawn_task(ROOT), 0).unwrap();
        assert_eq!(
            call(
                &k,
                c,
                Selector::SetPathFilter,
                &[],
                &filter_bytes("/private")
            )
            .map(|o| o.bytes),
            Ok(vec![])
        );
        let no_nul = vec![b'a'; PATH_FILTER_SIZE];
        assert_eq!(
            call(&k, c, Selector::SetPathFilter, &[], &no_nul),
            Err(KIO_RETURN_BAD_ARGUMENT)
        );
        let mut not_utf8 = filter_bytes("");
        not_utf8[..2].copy_from_slice(&[0xff, 0xfe]);
        assert_eq!(
            call(&k, c, Selector::SetPathFilter, &[], &not_utf8),
            Err(KIO_RETURN_BAD_ARGUMENT)
        );
        // The filter set first is still the one in force.
        k.fileop_path(fileop::OPEN, "/private/x");
        k.fileop_path(fileop::OPEN, "/tmp/y");
        assert_eq!(stats(&k, c).filter_matched, 1);
    }

    fn calls_on_a_closed_connection_fail_at_the_mach_level(flavor: Flavor) {
        let k = Kernel::boot_flavor(flavor);
        k.load_kext().unwrap();
        let c = k.open(k.spawn_task(USER), 0).unwrap();
        assert_eq!(k.close(c), KIO_RETURN_SUCCESS);
        for sel in Selector::ALL {
            assert_eq!(
                call(
                    &k,
                    c,
                    sel,
                    &vec![0; sel.shape().scalar_input_count as usize],
                    &[]
                ),
                Err(MACH_SEND_INVALID_DEST)
            );
        }
    }
}
