//! Target 1: external methods through the C ABI (`rk_external_method`, `rk_method_shape_for`):
//! arbitrary argument blocks (selector, counts, sizes, NULL, short and oversized buffers, the
//! out-of-line marker, `reserved`, a NULL block, a foreign driver pointer), arbitrary client ids
//! (open, closed, stale after a restart, another generation, garbage), administrators or not,
//! any personality. Oracle: `Sequence` (every answer, output and state change as the model's; a
//! refusal changes nothing).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rustkext_fuzz_core::sequence::Sequence;
use rustkext_fuzz_model::input::{
    ClientRef, CoreOp, FileopSpec, MethodSpec, PersonalitySpec, SelectorSpec, WellFormed,
};

#[derive(Arbitrary, Debug)]
enum Op {
    Method(MethodSpec),
    Call(WellFormed),
    ShapeFor(SelectorSpec, u8),
    Fileop(FileopSpec),
    Open(bool),
    Close(ClientRef),
    /// Release and start again: every id given out so far goes stale.
    Restart(PersonalitySpec),
    /// A refused terminate request leaves an unload pending (GetClientInfo, CancelUnload).
    Terminate,
}

#[derive(Arbitrary, Debug)]
struct Input {
    personality: PersonalitySpec,
    /// Clients opened first (administrator or not), at most 8.
    opens: Vec<bool>,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let mut seq = Sequence::new();
    let mut ops = vec![CoreOp::Start(input.personality)];
    ops.extend(input.opens.iter().take(8).map(|&admin| CoreOp::Open {
        admin,
        oddity: 0,
        odd_value: 0,
    }));
    for op in input.ops.iter().take(256) {
        match op {
            Op::Method(m) => ops.push(CoreOp::Method(m.clone())),
            Op::Call(w) => ops.push(CoreOp::Call(w.clone())),
            Op::ShapeFor(s, o) => ops.push(CoreOp::ShapeFor(*s, *o)),
            Op::Fileop(f) => ops.push(CoreOp::Fileop(f.clone())),
            Op::Open(admin) => ops.push(CoreOp::Open {
                admin: *admin,
                oddity: 0,
                odd_value: 0,
            }),
            Op::Close(c) => ops.push(CoreOp::Close(*c)),
            Op::Restart(p) => ops.extend([CoreOp::Release, CoreOp::Start(*p)]),
            Op::Terminate => ops.push(CoreOp::Terminate(0)),
        }
    }
    for (i, op) in ops.iter().enumerate() {
        if let Err(mismatch) = seq.step(op) {
            panic!("step {i} {op:?}: {mismatch}");
        }
    }
});
