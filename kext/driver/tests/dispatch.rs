//! External methods through the framework's safe entry point (`Kext::call`, what the C ABI
//! runs after its pointer checks): every rule of the monitor's table, the exact refusal codes,
//! and a property test over random selectors, counts, sizes and bytes.

use proptest::prelude::*;
use rustkext::abi::{Call, Interface, Privilege, Refusal, Services, Shape};
use rustkext::lifecycle::{Snapshot, TerminateAnswer};
use rustkext::{Kext, KextConfig, SettingKeys, Settings};
use rustkext_monitor::MonitorDriver;
use rustkext_monitor_api::{Monitor, Stats, PATH_FILTER_SIZE, STATS_SIZE, STATS_VERSION};

const KIO_RETURN_BAD_ARGUMENT: i32 = Refusal::BAD_ARGUMENT.code();
const KIO_RETURN_NOT_PRIVILEGED: i32 = Refusal::NOT_PRIVILEGED.code();
const KIO_RETURN_NOT_OPEN: i32 = Refusal::NOT_OPEN.code();
const KIO_RETURN_NOT_PERMITTED: i32 = Refusal::NOT_PERMITTED.code();

/// ABI 2 as shipped (docs/user-client-api.md's table), written out independently of the interface:
/// (selector, scalars in, struct in, scalars out, struct out, administrator only under the
/// default personality). A later method is appended after these (a new minor version); none of
/// these ever changes. Selectors past them get the framework's generic checks here (shape,
/// privilege, outputs written only on success) and their semantics from their own tests.
const FROZEN: [(u32, u32, u32, u32, u32, bool); 7] = [
    (0, 1, 0, 1, 0, false),
    (1, 0, 0, 3, 0, false),
    (2, 0, 0, 0, 104, true),
    (3, 0, 0, 0, 0, true),
    (4, 0, 1024, 0, 0, true),
    (5, 0, 0, 3, 0, false),
    (6, 0, 0, 0, 0, true),
];

type MonitorKext = Kext<MonitorDriver, dyn Monitor>;

static CONFIG: KextConfig = KextConfig { log_prefix: c"test: ", keys: SettingKeys::NONE, scopes: 1 };

/// The selectors the interface serves (ABI 2's and any appended since).
const SELECTORS: u32 = <dyn Monitor as Interface>::TABLE.len() as u32;

/// A selector's row: ABI 2's as written out above, or an appended method's from the interface.
fn row_of(selector: u32) -> Option<(u32, u32, u32, u32, u32, bool)> {
    FROZEN.get(selector as usize).copied().or_else(|| {
        let e = <dyn Monitor as Interface>::TABLE.get(selector as usize)?;
        let s = e.shape;
        let admin = e.privilege != Privilege::Anyone;
        Some((selector, s.scalar_input_count, s.struct_input_size, s.scalar_output_count, s.struct_output_size, admin))
    })
}

/// The generated table begins with the one the monitor always had: same shapes, same
/// privileges, and names as the README spells them.
#[test]
fn the_generated_table_is_the_monitors() {
    let table = <dyn Monitor as Interface>::TABLE;
    assert!(table.len() >= FROZEN.len(), "ABI 2's selectors are never removed");
    for (entry, row) in table.iter().zip(FROZEN) {
        assert_eq!(entry.shape, Shape::new(row.1, row.2, row.3, row.4), "{}", entry.name);
        assert_eq!(entry.privilege != Privilege::Anyone, row.5, "{}", entry.name);
    }
    let names: Vec<&str> = table.iter().take(FROZEN.len()).map(|e| e.name).collect();
    assert_eq!(names, ["Ping", "GetVersion", "GetStats", "ResetStats", "SetPathFilter", "GetClientInfo", "CancelUnload"]);
    assert_eq!(table[2].privilege, Privilege::Observer);
    assert_eq!(STATS_SIZE, 104);
}

struct Fixture {
    kext: Box<MonitorKext>,
    user: u32,
    admin: u32,
}

fn fixture() -> Fixture {
    fixture_with(Settings::default())
}

fn fixture_with(settings: Settings) -> Fixture {
    let kext = Box::new(Kext::new(MonitorDriver::new(), &CONFIG));
    assert!(kext.start(settings).is_ok());
    let user = kext.registry().open(0, false).unwrap();
    let admin = kext.registry().open(0, true).unwrap();
    Fixture { kext, user, admin }
}

fn stats_of(k: &MonitorKext) -> Stats {
    Stats { peak_in_flight: k.peak_in_flight(), ..k.driver().counts() }
}

/// Everything a call could change.
#[derive(Debug, PartialEq)]
struct State {
    stats: Stats,
    filter: Vec<u8>,
    registry: Snapshot,
}

fn state(k: &MonitorKext) -> State {
    let mut out = [0u8; PATH_FILTER_SIZE];
    let len = k.driver().filter().read(&mut out).unwrap();
    State { stats: stats_of(k), filter: out[..len].to_vec(), registry: k.registry().snapshot() }
}

#[derive(Debug, PartialEq)]
struct Written {
    scalars: u32,
    bytes: u32,
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
        let row = FROZEN[selector as usize];
        Buffers::sized([row.1 as usize, row.2 as usize, row.3 as usize, row.4 as usize])
    }

    fn call(&mut self, k: &MonitorKext, client: u32, selector: u32) -> Result<Written, i32> {
        let mut call = Call {
            scalar_input: &self.scalar_in,
            struct_input: &self.struct_in,
            scalar_output: &mut self.scalar_out,
            struct_output: &mut self.struct_out,
        };
        k.call(client, selector, &mut call)
            .map(|s| Written { scalars: s.scalar_output_count, bytes: s.struct_output_size })
            .map_err(Refusal::code)
    }
}

fn filter_input(prefix: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0u8; PATH_FILTER_SIZE];
    bytes[..prefix.len()].copy_from_slice(prefix);
    bytes
}

fn fire_open(k: &MonitorKext, path: &std::ffi::CStr) {
    assert!(k.fileop(0x1000, 1, [Some(path), None], 0));
}

#[test]
fn ping_returns_input_plus_one_wrapping() {
    let f = fixture();
    for (input, output) in [(0u64, 1u64), (41, 42), (u64::MAX, 0)] {
        let mut b = Buffers::for_selector(0);
        b.scalar_in[0] = input;
        assert_eq!(
            b.call(&f.kext, f.user, 0),
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
        b.call(&f.kext, f.user, 1),
        Ok(Written {
            scalars: 3,
            bytes: 0
        })
    );
    assert_eq!(b.scalar_out, [2, 1, 0]);
}

#[test]
fn get_stats_returns_the_versioned_struct_with_the_counts() {
    let f = fixture();
    let path = c"/tmp/x";
    fire_open(&f.kext, path);
    fire_open(&f.kext, path);
    let mut b = Buffers::for_selector(2);
    assert_eq!(
        b.call(&f.kext, f.admin, 2),
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
    fire_open(&f.kext, c"/a");
    let before = state(&f.kext);
    let mut b = Buffers::for_selector(3);
    assert_eq!(b.call(&f.kext, f.user, 3), Err(KIO_RETURN_NOT_PRIVILEGED));
    assert_eq!(state(&f.kext), before);
    assert_eq!(
        b.call(&f.kext, f.admin, 3),
        Ok(Written {
            scalars: 0,
            bytes: 0
        })
    );
    assert_eq!(f.kext.driver().counts().events, [0; 9]);
}

#[test]
fn set_path_filter_sets_clears_and_counts_matches() {
    let f = fixture();
    let mut b = Buffers::for_selector(4);
    b.struct_in = filter_input(b"/watched/");
    assert_eq!(b.call(&f.kext, f.user, 4), Err(KIO_RETURN_NOT_PRIVILEGED));
    assert_eq!(state(&f.kext).filter, b"");
    assert_eq!(
        b.call(&f.kext, f.admin, 4),
        Ok(Written {
            scalars: 0,
            bytes: 0
        })
    );
    assert_eq!(state(&f.kext).filter, b"/watched/");
    fire_open(&f.kext, c"/watched/a");
    fire_open(&f.kext, c"/other/a");
    assert_eq!(f.kext.driver().counts().filter_matched, 1);
    b.struct_in = filter_input(b"");
    assert_eq!(
        b.call(&f.kext, f.admin, 4),
        Ok(Written {
            scalars: 0,
            bytes: 0
        })
    );
    assert_eq!(
        state(&f.kext).filter,
        b"",
        "an empty prefix clears the filter"
    );
}

#[test]
fn set_path_filter_refuses_bad_content_and_keeps_the_old_filter() {
    let f = fixture();
    let mut b = Buffers::for_selector(4);
    b.struct_in = filter_input(b"/keep/");
    b.call(&f.kext, f.admin, 4).unwrap();
    let before = state(&f.kext);
    let no_nul = vec![b'a'; PATH_FILTER_SIZE];
    let bad_utf8 = filter_input(b"/tmp/\xc3\x28");
    for input in [no_nul, bad_utf8] {
        b.struct_in = input;
        assert_eq!(b.call(&f.kext, f.admin, 4), Err(KIO_RETURN_BAD_ARGUMENT));
        assert_eq!(state(&f.kext), before);
    }
    // Non-administrators are refused before the content is looked at.
    b.struct_in = vec![b'a'; PATH_FILTER_SIZE];
    assert_eq!(b.call(&f.kext, f.user, 4), Err(KIO_RETURN_NOT_PRIVILEGED));
}

#[test]
fn get_stats_is_an_administrators_unless_the_personality_opens_it() {
    let f = fixture();
    fire_open(&f.kext, c"/tmp/x");
    let before = state(&f.kext);
    let mut b = Buffers::for_selector(2);
    assert_eq!(b.call(&f.kext, f.user, 2), Err(KIO_RETURN_NOT_PRIVILEGED));
    assert!(b.struct_out.iter().all(|&v| v == 0xaa), "nothing written");
    assert_eq!(state(&f.kext), before);

    let f = fixture_with(Settings { observers_for_everyone: true, ..Settings::default() });
    fire_open(&f.kext, c"/tmp/x");
    let mut b = Buffers::for_selector(2);
    assert!(b.call(&f.kext, f.user, 2).is_ok());
    assert_eq!(Stats::from_bytes(&b.struct_out).unwrap().events[0], 1);
    let mut reset = Buffers::for_selector(3);
    assert_eq!(
        reset.call(&f.kext, f.user, 3),
        Err(KIO_RETURN_NOT_PRIVILEGED),
        "only reading is opened"
    );
}

#[test]
fn get_client_info_reports_id_count_and_unload_pending() {
    let f = fixture();
    let mut b = Buffers::for_selector(5);
    assert_eq!(
        b.call(&f.kext, f.user, 5),
        Ok(Written {
            scalars: 3,
            bytes: 0
        })
    );
    assert_eq!(b.scalar_out, [u64::from(f.user), 2, 0]);
    assert_eq!(
        f.kext.registry().terminate_request(),
        TerminateAnswer::Refuse(2)
    );
    b.call(&f.kext, f.admin, 5).unwrap();
    assert_eq!(b.scalar_out, [u64::from(f.admin), 2, 1]);
}

#[test]
fn cancel_unload_needs_an_administrator_and_reopens_admission() {
    let f = fixture();
    assert_eq!(
        f.kext.registry().terminate_request(),
        TerminateAnswer::Refuse(2)
    );
    assert_eq!(
        f.kext.registry().open(0, false),
        Err(KIO_RETURN_NOT_PERMITTED)
    );
    let mut b = Buffers::for_selector(6);
    assert_eq!(b.call(&f.kext, f.user, 6), Err(KIO_RETURN_NOT_PRIVILEGED));
    assert!(f.kext.registry().snapshot().unload_pending);
    assert_eq!(
        b.call(&f.kext, f.admin, 6),
        Ok(Written {
            scalars: 0,
            bytes: 0
        })
    );
    assert!(!f.kext.registry().snapshot().unload_pending);
    assert!(f.kext.registry().open(0, false).is_ok());
    assert_eq!(
        b.call(&f.kext, f.admin, 6),
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
    f.kext.registry().close(f.user);
    for client in [f.user, 0, 0xdead_beef] {
        for selector in [0u32, 3, 7, u32::MAX] {
            let mut b = Buffers::sized([9, 9, 9, 9]);
            assert_eq!(b.call(&f.kext, client, selector), Err(KIO_RETURN_NOT_OPEN));
        }
    }
}

#[test]
fn out_of_range_selectors_are_bad_arguments() {
    let f = fixture();
    for selector in [SELECTORS, SELECTORS + 1, 0x100, u32::MAX] {
        let before = state(&f.kext);
        let mut b = Buffers::sized([0, 0, 0, 0]);
        assert_eq!(
            b.call(&f.kext, f.admin, selector),
            Err(KIO_RETURN_BAD_ARGUMENT)
        );
        assert_eq!(state(&f.kext), before);
    }
    assert_eq!(rustkext::abi::shape_for(<dyn Monitor as Interface>::TABLE, SELECTORS), Err(Refusal::BAD_ARGUMENT));
}

#[test]
fn each_count_off_by_one_is_a_bad_argument_even_for_an_administrator() {
    let f = fixture();
    for row in (0..SELECTORS).filter_map(row_of) {
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
                let before = state(&f.kext);
                let mut b = Buffers::sized(shape);
                for client in [f.admin, f.user] {
                    assert_eq!(
                        b.call(&f.kext, client, row.0),
                        Err(KIO_RETURN_BAD_ARGUMENT),
                        "selector {} shape {shape:?}",
                        row.0
                    );
                }
                assert_eq!(state(&f.kext), before);
            }
        }
    }
}

fn shape_strategy() -> impl Strategy<Value = (u32, [usize; 4])> {
    let selector = prop_oneof![8 => 0u32..=SELECTORS, 1 => any::<u32>(), 1 => Just(rustkext::abi::DESCRIBE)];
    selector.prop_flat_map(|selector| {
        let exact = row_of(selector)
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
        fire_open(&f.kext, c"/some/path");
        let client = if admin { f.admin } else { f.user };
        let before = state(&f.kext);
        let mut b = Buffers::sized(shape);
        b.scalar_in = scalars.clone();
        b.struct_in = bytes.clone();
        let result = b.call(&f.kext, client, selector);

        if selector == rustkext::abi::DESCRIBE {
            if shape == [0, 0, 2, 0] {
                prop_assert_eq!(result, Ok(Written { scalars: 2, bytes: 0 }));
                prop_assert_eq!(&b.scalar_out, &[<dyn Monitor as Interface>::FINGERPRINT, u64::from(SELECTORS)]);
            } else {
                prop_assert_eq!(result, Err(KIO_RETURN_BAD_ARGUMENT));
            }
            prop_assert_eq!(state(&f.kext), before);
            return Ok(());
        }
        let row = row_of(selector);
        let matches = row
            .is_some_and(|r| shape == [r.1 as usize, r.2 as usize, r.3 as usize, r.4 as usize]);
        if !matches {
            prop_assert_eq!(result, Err(KIO_RETURN_BAD_ARGUMENT));
            prop_assert_eq!(state(&f.kext), before);
            prop_assert!(b.scalar_out.iter().all(|&v| v == 0xaaaa));
            prop_assert!(b.struct_out.iter().all(|&v| v == 0xaa));
            return Ok(());
        }
        let row = row.unwrap();
        if row.5 && !admin {
            prop_assert_eq!(result, Err(KIO_RETURN_NOT_PRIVILEGED));
            prop_assert_eq!(state(&f.kext), before);
            return Ok(());
        }
        if selector == 4 {
            match expected_prefix(&bytes) {
                None => {
                    prop_assert_eq!(result, Err(KIO_RETURN_BAD_ARGUMENT));
                    prop_assert_eq!(state(&f.kext), before);
                }
                Some(prefix) => {
                    prop_assert_eq!(result, Ok(Written { scalars: 0, bytes: 0 }));
                    prop_assert_eq!(state(&f.kext).filter, prefix);
                }
            }
            return Ok(());
        }
        prop_assert_eq!(result, Ok(Written { scalars: row.3, bytes: row.4 }));
        if selector as usize >= FROZEN.len() {
            return Ok(()); // an appended method: its semantics are its own tests'
        }
        match selector {
            0 => prop_assert_eq!(b.scalar_out[0], scalars[0].wrapping_add(1)),
            1 => prop_assert_eq!(&b.scalar_out, &[2, 1, 0]),
            2 => prop_assert_eq!(Stats::from_bytes(&b.struct_out), Some(before.stats)),
            3 => prop_assert_eq!(f.kext.driver().counts().events, [0; 9]),
            5 => prop_assert_eq!(&b.scalar_out, &[u64::from(client), 2, 0]),
            _ => prop_assert_eq!(state(&f.kext), before),
        }
    }
}
