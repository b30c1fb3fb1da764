//! Structured fuzz inputs (`arbitrary`) shared by the targets, and how each resolves to
//! concrete values. Rare cases (a NULL argument block, a foreign driver pointer, a nonzero
//! `reserved`) are chosen through a byte so that they stay rare.

use arbitrary::Arbitrary;

use crate::driver::{Personality, Prop};
use crate::spec;

/// `true` for 1 value in 16: what rare cases use.
pub fn rare(byte: u8) -> bool {
    byte >= 0xf0
}

/// A personality property.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum PropSpec {
    /// Not in the personality.
    Absent,
    /// A small number (0..=255, around the interesting 0, 1, 64, 65).
    Number(u8),
    /// Any 64-bit number.
    BigNumber(u64),
    /// A boolean.
    Bool(bool),
    /// A string, data, ...
    Other,
}

impl PropSpec {
    /// The property.
    pub fn prop(self) -> Prop {
        match self {
            PropSpec::Absent => Prop::Absent,
            PropSpec::Number(n) => Prop::Number(u64::from(n)),
            PropSpec::BigNumber(n) => Prop::Number(n),
            PropSpec::Bool(b) => Prop::Bool(b),
            PropSpec::Other => Prop::Other,
        }
    }
}

/// The three properties of a personality.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct PersonalitySpec {
    /// `RustKextMaxClients`.
    pub max_clients: PropSpec,
    /// `RustKextAdminOnly`.
    pub admin_only: PropSpec,
    /// `RustKextStatsForEveryone`.
    pub stats_for_everyone: PropSpec,
    /// Mostly the defaults, so that most inputs run a started driver.
    pub use_defaults: u8,
}

impl PersonalitySpec {
    /// The personality (1 in 4 inputs have the defaults).
    pub fn personality(&self) -> Personality {
        if self.use_defaults < 0x40 {
            return Personality::DEFAULT;
        }
        Personality {
            max_clients: self.max_clients.prop(),
            admin_only: self.admin_only.prop(),
            stats_for_everyone: self.stats_for_everyone.prop(),
        }
    }
}

/// A client id as a caller could present it.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum ClientRef {
    /// One of the ids the driver gave out in this input (open, closed or stale), by index.
    Issued(u8),
    /// The same with one generation bit flipped (the same slot, another generation).
    OtherGeneration(u8, u8),
    /// 0.
    Zero,
    /// Anything.
    Raw(u32),
}

impl ClientRef {
    /// The id, given the ids issued so far.
    pub fn resolve(self, issued: &[u32]) -> u32 {
        let pick = |i: u8| {
            if issued.is_empty() {
                None
            } else {
                Some(issued[usize::from(i) % issued.len()])
            }
        };
        match self {
            ClientRef::Issued(i) => pick(i).unwrap_or(1),
            ClientRef::OtherGeneration(i, bit) => pick(i).unwrap_or(1) ^ (0x100 << (bit % 24)),
            ClientRef::Zero => 0,
            ClientRef::Raw(v) => v,
        }
    }
}

/// A selector.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum SelectorSpec {
    /// One of the table's, or `DESCRIBE` (modulo 8: 7 is `DESCRIBE`).
    Known(u8),
    /// The first one past the table.
    Bound,
    /// Anything.
    Raw(u32),
}

impl SelectorSpec {
    /// The selector number.
    pub fn resolve(self) -> u32 {
        match self {
            SelectorSpec::Known(n) => match usize::from(n) % (spec::TABLE.len() + 1) {
                7 => spec::DESCRIBE,
                n => n as u32,
            },
            SelectorSpec::Bound => spec::TABLE.len() as u32,
            SelectorSpec::Raw(v) => v,
        }
    }
}

/// One of the four counts of a call, relative to the table's value for the selector.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum CountSpec {
    /// Exactly the table's value (0 for a selector outside the table).
    Table,
    /// One more.
    Plus1,
    /// One less (wrapping).
    Minus1,
    /// Zero.
    Zero,
    /// `UINT32_MAX`: what the shim passes for an out-of-line struct.
    OutOfLine,
    /// Anything.
    Raw(u32),
}

impl CountSpec {
    /// The count, given the table's.
    pub fn resolve(self, table: u32) -> u32 {
        match self {
            CountSpec::Table => table,
            CountSpec::Plus1 => table.wrapping_add(1),
            CountSpec::Minus1 => table.wrapping_sub(1),
            CountSpec::Zero => 0,
            CountSpec::OutOfLine => u32::MAX,
            CountSpec::Raw(v) => v,
        }
    }
}

/// The memory behind one buffer pointer of `rk_method_args`.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum BufSpec {
    /// Exactly the count.
    Fit,
    /// NULL.
    Null,
    /// Fewer elements than the count (only used where the count is not the table's, so the
    /// caller does not break the C ABI's contract; the implementation must not touch it).
    Short(u8),
    /// More room than the count (what lies past the count must stay untouched).
    Spare(u8),
}

/// A path, mostly built from the filter in force so that matches happen.
#[derive(Arbitrary, Clone, Debug)]
pub enum PathSpec {
    /// The first `cut` bytes of the current prefix, then `tail`.
    FromFilter {
        /// How much of the prefix to keep.
        cut: u16,
        /// What follows.
        tail: Vec<u8>,
    },
    /// Any bytes.
    Bytes(Vec<u8>),
}

impl PathSpec {
    /// The path's bytes (a C string stops at the first NUL, so this does too).
    pub fn resolve(&self, filter: &[u8]) -> Vec<u8> {
        let mut bytes = match self {
            PathSpec::FromFilter { cut, tail } => {
                let mut b = filter[..usize::from(*cut).min(filter.len())].to_vec();
                b.extend_from_slice(tail);
                b
            }
            PathSpec::Bytes(b) => b.clone(),
        };
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            bytes.truncate(nul);
        }
        bytes
    }
}

/// The `SetPathFilter` struct, or any struct input.
#[derive(Arbitrary, Clone, Debug)]
pub enum StructIn {
    /// A prefix, a NUL (or not), then `fill` up to the struct size.
    Prefix {
        /// The prefix.
        prefix: PathSpec,
        /// Whether a NUL follows it (without one and with a nonzero fill the struct has none).
        nul: bool,
        /// The padding byte.
        fill: u8,
    },
    /// Any bytes (padded with zeros or cut to the count).
    Raw(Vec<u8>),
}

impl StructIn {
    /// `len` bytes of struct.
    pub fn resolve(&self, len: usize, filter: &[u8]) -> Vec<u8> {
        let mut bytes = match self {
            StructIn::Prefix { prefix, nul, fill } => {
                let mut b = prefix.resolve(filter);
                if *nul {
                    b.push(0);
                }
                b.resize(b.len().max(len), *fill);
                b
            }
            StructIn::Raw(b) => b.clone(),
        };
        bytes.resize(len, 0);
        bytes
    }
}

/// One external-method call through the C ABI.
#[derive(Arbitrary, Clone, Debug)]
pub struct MethodSpec {
    /// The client id passed.
    pub client: ClientRef,
    /// The selector.
    pub selector: SelectorSpec,
    /// Scalars in, struct in, scalars out, struct out.
    pub counts: [CountSpec; 4],
    /// The memory behind each pointer.
    pub buffers: [BufSpec; 4],
    /// Input scalar values.
    pub scalars: [u64; 2],
    /// Input struct bytes.
    pub struct_in: StructIn,
    /// Rare: a nonzero `reserved`, a NULL argument block, a foreign driver pointer.
    pub oddity: u8,
    /// The value of the oddity.
    pub odd_value: u32,
}

/// A well-formed call (the table's counts, buffers that fit): gets past the shape checks.
#[derive(Arbitrary, Clone, Debug)]
pub struct WellFormed {
    /// The client id passed.
    pub client: ClientRef,
    /// The selector (modulo 7).
    pub selector: u8,
    /// Input scalar values.
    pub scalars: [u64; 2],
    /// Input struct bytes.
    pub struct_in: StructIn,
}

impl From<&WellFormed> for MethodSpec {
    fn from(w: &WellFormed) -> MethodSpec {
        MethodSpec {
            client: w.client,
            selector: SelectorSpec::Known(w.selector),
            counts: [CountSpec::Table; 4],
            buffers: [BufSpec::Fit; 4],
            scalars: w.scalars,
            struct_in: w.struct_in.clone(),
            oddity: 0,
            odd_value: 0,
        }
    }
}

/// A FILEOP action.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum ActionSpec {
    /// 1..=8 (modulo).
    Known(u8),
    /// Anything.
    Raw(u16),
}

impl ActionSpec {
    /// The action number.
    pub fn resolve(self) -> usize {
        match self {
            ActionSpec::Known(n) => usize::from(n % 8) + 1,
            ActionSpec::Raw(v) => usize::from(v),
        }
    }
}

/// One FILEOP argument.
#[derive(Arbitrary, Clone, Debug)]
pub enum ArgSpec {
    /// NULL (0).
    Null,
    /// A path.
    Path(PathSpec),
    /// An integer (a vnode, flags); never a pointer where the action carries a path (NULL
    /// is passed there instead).
    Value(u64),
}

/// One FILEOP event.
#[derive(Arbitrary, Clone, Debug)]
pub struct FileopSpec {
    /// The action.
    pub action: ActionSpec,
    /// arg0..arg3.
    pub args: [ArgSpec; 4],
}

impl FileopSpec {
    /// The action number, and for each argument either its path (where the action carries a
    /// path: `Some(bytes)` or NULL) or the raw value passed.
    pub fn resolve(&self, filter: &[u8]) -> (usize, [Arg; 4]) {
        let action_number = self.action.resolve();
        let carries = spec::path_args(action_number);
        let mut out = [Arg::Null, Arg::Null, Arg::Null, Arg::Null];
        for (i, (arg, carried)) in self.args.iter().zip(carries).enumerate() {
            out[i] = match arg {
                ArgSpec::Null => Arg::Null,
                ArgSpec::Path(p) => Arg::Path(p.resolve(filter)),
                ArgSpec::Value(_) if carried => Arg::Null,
                ArgSpec::Value(v) => Arg::Value(*v as usize),
            };
        }
        (action_number, out)
    }
}

/// A resolved FILEOP argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// 0.
    Null,
    /// A NUL-terminated string with these bytes before the NUL.
    Path(Vec<u8>),
    /// An integer that is not a pointer to anything of ours.
    Value(usize),
}

impl Arg {
    /// The path bytes, if this is a path.
    pub fn path(&self) -> Option<&[u8]> {
        match self {
            Arg::Path(p) => Some(p),
            _ => None,
        }
    }
}

/// The operations of the C ABI sequences (targets `external_methods` and `lifecycle`).
#[derive(Arbitrary, Clone, Debug)]
pub enum CoreOp {
    /// `rk_client_open`.
    Open {
        /// Administrator (decided at open).
        admin: bool,
        /// Mostly 0; rarely another connection type, a NULL id pointer, a foreign driver.
        oddity: u8,
        /// The oddity's value.
        odd_value: u32,
    },
    /// `rk_client_close` (a close).
    Close(ClientRef),
    /// `rk_client_close` again (a death after the close, or a rollback): idempotent.
    Die(ClientRef),
    /// `rk_service_terminate_request` alone (rarely with a NULL count pointer).
    Terminate(u8),
    /// What the shim's `terminate()` does: the request, and on "shut down" the gate closed and
    /// the drain, then (unless refused) `stop()`: release.
    ShimTerminate,
    /// `rk_service_close_gate`.
    CloseGate,
    /// `rk_service_drain` (no grace).
    Drain,
    /// `rk_service_release`.
    Release,
    /// `rk_service_start`.
    Start(PersonalitySpec),
    /// `rk_external_method`, anything.
    Method(MethodSpec),
    /// `rk_external_method`, well formed.
    Call(WellFormed),
    /// `rk_method_shape_for` (rarely with a NULL out pointer).
    ShapeFor(SelectorSpec, u8),
    /// `rk_fileop_callback`.
    Fileop(FileopSpec),
}
