//! External methods through the safe entry point: every rule of the table, the exact refusal
//! codes, and a property test over random selectors, counts, sizes and bytes.

use proptest::prelude::*;
use rustkext::abi::{Stats, PATH_FILTER_SIZE, STATS_SIZE, STATS_VERSION};
use rustkext::config::Config;
use rustkext::dispatch::{Call, Written};
use rustkext::ioreturn::*;
use rustkext::lifecycle::{Snapshot, TerminateAnswer};
use rustkext::Driver;

/// The table of DESIGN.md, written out independently of `abi.rs`:
/// (selector, scalars in, struct in, scalars out, struct out, administrator only under the
/// default personality).
const TABLE: [(u32, u32, u32, u32, u32, bool); 7] = [
    (0, 1, 0, 1, 0, false),
    (1, 0, 0, 3, 0, false),
    (2, 0, 0, 0, 104, true),
    (3, 0, 0, 0, 0, true),
    (4, 0, 1024, 0, 0, true),
    (5, 0, 0, 3, 0, false),
    (6, 0, 0, 0, 0, true),
];

struct Fixture {
    driver: Box<Driver>,
    user: u32,
    admin: u32,
}

fn fixture() -> Fixture {
    fixture_with(Config::default())
}

fn fixture_with(config: Config) -> Fixture {
    let driver = Box::new(Driver::new());
    assert!(driver.start(config));
    let user = driver.registry().open(0, false).unwrap();
    let admin = driver.registry().open(0, true).unwrap();
    Fixture {
        driver,
        user,
        admin,
    }
}

/// Everything a call could change.
#[derive(Debug, PartialEq)]
struct State {
    stats: Stats,
    filter: Vec<u8>,
    registry: Snapshot,
}

fn state(d: &Driver) -> State {
    let mut out = [0u8; PATH_FILTER_SIZE];
    let len = d.filter().read(&mut out).unwrap();
    State {
        stats: d.stats(),
        filter: out[..len].to_vec(),
        registry: d.registry().snapshot(),
    }
}

struct Buffers {
    scalar_in: Vec<u64>,
    struct_in: Vec<u8>,
    scalar_out: Vec<u64>,
    struct_out: Vec<u8>,
}

impl Buffers {
    fn sized(shape: [usize; 4]) -> Buffers {
        Buffers {
            scalar_in: vec![0; shape[0]],
            struct_in: vec![0; shape[1]],
            scalar_out: vec![0xaaaa; shape[2]],
            struct_out: vec![0xaa; shape[3]],
        }
    }

    fn for_selector(selector: u32) -> Buffers {
        let row = TABLE[selector as usize];
        Buffers::sized([
            row.1 as usize,
            row.2 as usize,
            row.3 as usize,
            row.4 as usize,
        ])
    }

    fn call(&mut self, d: &Driver, client: u32, selector: u32) -> Result<Written, IOReturn> {
        let mut call = Call {
            selector,
            scalar_input: &self.scalar_in,
            struct_input: &self.struct_in,
            scalar_output: &mut self.scalar_out,
            struct_output: &mut self.struct_out,
        };
        d.external_method(client, &mut call)
    }
}

fn filter_input(prefix: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0u8; PATH_FILTER_SIZE];
    bytes[..prefix.len()].copy_from_slice(prefix);
    bytes
}

fn fire_open(d: &Driver, path: &std::ffi::CStr) {
    // SAFETY: the path outlives the call.
    unsafe { d.fileop(0x1000, 1, [0, path.as_ptr() as usize, 0, 0]) };
}

#[test]
fn ping_returns_input_plus_one_wrapping() {
    let f = fixture();
    for (input, output) in [(0u64, 1u64), (41, 42), (u64::MAX, 0)] {
        let mut b = Buffers::for_selector(0);
        b.scalar_in[0] = input;
        assert_eq!(
            b.call(&f.driver, f.user, 0),
            Ok(Written {
                scalars: 1,
                bytes: 0
            })
        );
        assert_eq!(b.scalar_out, [output]);
    }
}

#[test]
fn get_version_returns_the_abi_version() {
    let f = fixture();
    let mut b = Buffers::for_selector(1);
    assert_eq!(
        b.call(&f.driver, f.user, 1),
        Ok(Written {
            scalars: 3,
            bytes: 0
        })
    );
    assert_eq!(b.scalar_out, [2, 0, 0]);
}

#[test]
fn get_stats_returns_the_versioned_struct_with_the_counts() {
    let f = fixture();
    let path = c"/tmp/x";
    fire_open(&f.driver, path);
    fire_open(&f.driver, path);
    let mut b = Buffers::for_selector(2);
    assert_eq!(
        b.call(&f.driver, f.admin, 2),
        Ok(Written {
            scalars: 0,
            bytes: STATS_SIZE as u32
        })
    );
    let stats = Stats::from_bytes(&b.struct_out).unwrap();
    assert_eq!(stats.version, STATS_VERSION);
    assert_eq!(stats.size as usize, STATS_SIZE);
    assert_eq!(stats.events[0], 2);
    assert_eq!(stats.peak_in_flight, 1);
}

#[test]
fn reset_stats_needs_an_administrator_and_zeroes_counters() {
    let f = fixture();
    fire_open(&f.driver, c"/a");
    let before = state(&f.driver);
    let mut b = Buffers::for_selector(3);
    assert_eq!(b.call(&f.driver, f.user, 3), Err(kIOReturnNotPrivileged));
    assert_eq!(state(&f.driver), before);
    assert_eq!(
        b.call(&f.driver, f.admin, 3),
        Ok(Written {
            scalars: 0,
            bytes: 0
        })
    );
    assert_eq!(f.driver.stats().events, [0; 9]);
}

#[test]
fn set_path_filter_sets_clears_and_counts_matches() {
    let f = fixture();
    let mut b = Buffers::for_selector(4);
    b.struct_in = filter_input(b"/watched/");
    assert_eq!(b.call(&f.driver, f.user, 4), Err(kIOReturnNotPrivileged));
    assert_eq!(state(&f.driver).filter, b"");
    assert_eq!(
        b.call(&f.driver, f.admin, 4),
        Ok(Written {
            scalars: 0,
            bytes: 0
        })
    );
    assert_eq!(state(&f.driver).filter, b"/watched/");
    fire_open(&f.driver, c"/watched/a");
    fire_open(&f.driver, c"/other/a");
    assert_eq!(f.driver.stats().filter_matched, 1);
    b.struct_in = filter_input(b"");
    assert_eq!(
        b.call(&f.driver, f.admin, 4),
        Ok(Written {
            scalars: 0,
            bytes: 0
        })
    );
    assert_eq!(
        state(&f.driver).filter,
        b"",
        "an empty prefix clears the filter"
    );
}

#[test]
fn set_path_filter_refuses_bad_content_and_keeps_the_old_filter() {
    let f = fixture();
    let mut b = Buffers::for_selector(4);
    b.struct_in = filter_input(b"/keep/");
    b.call(&f.driver, f.admin, 4).unwrap();
    let before = state(&f.driver);
    let no_nul = vec![b'a'; PATH_FILTER_SIZE];
    let bad_utf8 = filter_input(b"/tmp/\xc3\x28");
    for input in [no_nul, bad_utf8] {
        b.struct_in = input;
        assert_eq!(b.call(&f.driver, f.admin, 4), Err(kIOReturnBadArgument));
        assert_eq!(state(&f.driver), before);
    }
    // Non-administrators are refused before the content is looked at.
    b.struct_in = vec![b'a'; PATH_FILTER_SIZE];
    assert_eq!(b.call(&f.driver, f.user, 4), Err(kIOReturnNotPrivileged));
}

#[test]
fn get_stats_is_an_administrators_unless_the_personality_opens_it() {
    let f = fixture();
    fire_open(&f.driver, c"/tmp/x");
    let before = state(&f.driver);
    let mut b = Buffers::for_selector(2);
    assert_eq!(b.call(&f.driver, f.user, 2), Err(kIOReturnNotPrivileged));
    assert!(b.struct_out.iter().all(|&v| v == 0xaa), "nothing written");
    assert_eq!(state(&f.driver), before);

    let f = fixture_with(Config {
        stats_for_everyone: true,
        ..Config::default()
    });
    fire_open(&f.driver, c"/tmp/x");
    let mut b = Buffers::for_selector(2);
    assert!(b.call(&f.driver, f.user, 2).is_ok());
    assert_eq!(Stats::from_bytes(&b.struct_out).unwrap().events[0], 1);
    let mut reset = Buffers::for_selector(3);
    assert_eq!(
        reset.call(&f.driver, f.user, 3),
        Err(kIOReturnNotPrivileged),
        "only reading is opened"
    );
}

#[test]
fn get_client_info_reports_id_count_and_unload_pending() {
    let f = fixture();
    let mut b = Buffers::for_selector(5);
    assert_eq!(
        b.call(&f.driver, f.user, 5),
        Ok(Written {
            scalars: 3,
            bytes: 0
        })
    );
    assert_eq!(b.scalar_out, [u64::from(f.user), 2, 0]);
    assert_eq!(
        f.driver.registry().terminate_request(),
        TerminateAnswer::Refuse(2)
    );
    b.call(&f.driver, f.admin, 5).unwrap();
    assert_eq!(b.scalar_out, [u64::from(f.admin), 2, 1]);
}

#[test]
fn cancel_unload_needs_an_administrator_and_reopens_admission() {
    let f = fixture();
    assert_eq!(
        f.driver.registry().terminate_request(),
        TerminateAnswer::Refuse(2)
    );
    assert_eq!(
        f.driver.registry().open(0, false),
        Err(kIOReturnNotPermitted)
    );
    let mut b = Buffers::for_selector(6);
    assert_eq!(b.call(&f.driver, f.user, 6), Err(kIOReturnNotPrivileged));
    assert!(f.driver.registry().snapshot().unload_pending);
    assert_eq!(
        b.call(&f.driver, f.admin, 6),
        Ok(Written {
            scalars: 0,
            bytes: 0
        })
    );
    assert!(!f.driver.registry().snapshot().unload_pending);
    assert!(f.driver.registry().open(0, false).is_ok());
    assert_eq!(
        b.call(&f.driver, f.admin, 6),
        Ok(Written {
            scalars: 0,
            bytes: 0
        }),
        "nothing pending: success"
    );
}

#[test]
fn unknown_or_closed_clients_get_not_open_before_anything_else() {
    let f = fixture();
    f.driver.registry().close(f.user);
    for client in [f.user, 0, 0xdead_beef] {
        for selector in [0u32, 3, 7, u32::MAX] {
            let mut b = Buffers::sized([9, 9, 9, 9]);
            assert_eq!(b.call(&f.driver, client, selector), Err(kIOReturnNotOpen));
        }
    }
}

#[test]
fn out_of_range_selectors_are_bad_arguments() {
    let f = fixture();
    for selector in [7u32, 8, 0x100, u32::MAX] {
        let before = state(&f.driver);
        let mut b = Buffers::sized([0, 0, 0, 0]);
        assert_eq!(
            b.call(&f.driver, f.admin, selector),
            Err(kIOReturnBadArgument)
        );
        assert_eq!(state(&f.driver), before);
    }
    assert_eq!(rustkext::dispatch::shape_for(7), Err(kIOReturnBadArgument));
}

#[test]
fn each_count_off_by_one_is_a_bad_argument_even_for_an_administrator() {
    let f = fixture();
    for row in TABLE {
        let exact = [
            row.1 as usize,
            row.2 as usize,
            row.3 as usize,
            row.4 as usize,
        ];
        for field in 0..4 {
            for delta in [-1i64, 1] {
                let mut shape = exact;
                let Some(v) = shape[field].checked_add_signed(delta as isize) else {
                    continue;
                };
                shape[field] = v;
                let before = state(&f.driver);
                let mut b = Buffers::sized(shape);
                for client in [f.admin, f.user] {
                    assert_eq!(
                        b.call(&f.driver, client, row.0),
                        Err(kIOReturnBadArgument),
                        "selector {} shape {shape:?}",
                        row.0
                    );
                }
                assert_eq!(state(&f.driver), before);
            }
        }
    }
}

fn shape_strategy() -> impl Strategy<Value = (u32, [usize; 4])> {
    let selector = prop_oneof![8 => 0u32..8, 1 => any::<u32>()];
    selector.prop_flat_map(|selector| {
        let exact = TABLE
            .get(selector as usize)
            .map(|r| [r.1 as usize, r.2 as usize, r.3 as usize, r.4 as usize])
            .unwrap_or([0; 4]);
        let field = |exact: usize, max: usize| prop_oneof![2 => Just(exact), 1 => 0..=max];
        (
            Just(selector),
            [
                field(exact[0], 17),
                field(exact[1], 4097),
                field(exact[2], 17),
                field(exact[3], 4097),
            ],
        )
    })
}

fn struct_bytes(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), len),
        // A valid prefix, the NUL, then junk: the interesting SetPathFilter inputs.
        ("[/a-zé]{0,40}", proptest::collection::vec(any::<u8>(), len)).prop_map(
            move |(s, mut v)| {
                let s = s.as_bytes();
                if s.len() < v.len() {
                    v[..s.len()].copy_from_slice(s);
                    v[s.len()] = 0;
                }
                v
            }
        ),
    ]
}

fn call_strategy() -> impl Strategy<Value = (u32, [usize; 4], Vec<u64>, Vec<u8>, bool)> {
    shape_strategy().prop_flat_map(|(selector, shape)| {
        (
            Just(selector),
            Just(shape),
            proptest::collection::vec(any::<u64>(), shape[0]),
            struct_bytes(shape[1]),
            any::<bool>(),
        )
    })
}

/// What SetPathFilter should do with `input` (independent of filter.rs).
fn expected_prefix(input: &[u8]) -> Option<Vec<u8>> {
    let nul = input.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&input[..nul])
        .ok()
        .map(|s| s.as_bytes().to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn every_call_matches_the_table_or_is_refused_without_effect(
        (selector, shape, scalars, bytes, admin) in call_strategy()
    ) {
        let f = fixture();
        fire_open(&f.driver, c"/some/path");
        let client = if admin { f.admin } else { f.user };
        let before = state(&f.driver);
        let mut b = Buffers::sized(shape);
        b.scalar_in = scalars.clone();
        b.struct_in = bytes.clone();
        let result = b.call(&f.driver, client, selector);

        let row = TABLE.get(selector as usize).copied();
        let matches = row
            .is_some_and(|r| shape == [r.1 as usize, r.2 as usize, r.3 as usize, r.4 as usize]);
        if !matches {
            prop_assert_eq!(result, Err(kIOReturnBadArgument));
            prop_assert_eq!(state(&f.driver), before);
            prop_assert!(b.scalar_out.iter().all(|&v| v == 0xaaaa));
            prop_assert!(b.struct_out.iter().all(|&v| v == 0xaa));
            return Ok(());
        }
        let row = row.unwrap();
        if row.5 && !admin {
            prop_assert_eq!(result, Err(kIOReturnNotPrivileged));
            prop_assert_eq!(state(&f.driver), before);
            return Ok(());
        }
        if selector == 4 {
            match expected_prefix(&bytes) {
                None => {
                    prop_assert_eq!(result, Err(kIOReturnBadArgument));
                    prop_assert_eq!(state(&f.driver), before);
                }
                Some(prefix) => {
                    prop_assert_eq!(result, Ok(Written { scalars: 0, bytes: 0 }));
                    prop_assert_eq!(state(&f.driver).filter, prefix);
                }
            }
            return Ok(());
        }
        prop_assert_eq!(result, Ok(Written { scalars: row.3, bytes: row.4 }));
        match selector {
            0 => prop_assert_eq!(b.scalar_out[0], scalars[0].wrapping_add(1)),
            1 => prop_assert_eq!(&b.scalar_out, &[2, 0, 0]),
            2 => prop_assert_eq!(Stats::from_bytes(&b.struct_out), Some(before.stats)),
            3 => prop_assert_eq!(f.driver.stats().events, [0; 9]),
            5 => prop_assert_eq!(&b.scalar_out, &[u64::from(client), 2, 0]),
            _ => prop_assert_eq!(state(&f.driver), before),
        }
    }
}
