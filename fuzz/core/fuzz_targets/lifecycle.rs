//! Target 2: lifecycle sequences through the C ABI: arbitrary interleavings of open (type,
//! administrator), close, death, terminate requests (alone, and as the shim's terminate()),
//! CancelUnload and the other methods, FILEOP events, gate close, drain, stop and start, against
//! the model of the unload policy. Oracle: `Sequence` after every step: the answers (admission
//! codes in order, the administrators' reserve, opens while an unload is pending, the terminate
//! answer, exactly one self-termination, everything forgotten after stop), ids never reused,
//! the counts exact, the gate closed after stop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustkext_fuzz_core::sequence::Sequence;
use rustkext_fuzz_model::input::CoreOp;

fuzz_target!(|ops: Vec<CoreOp>| {
    let mut seq = Sequence::new();
    for (i, op) in ops.iter().take(512).enumerate() {
        if let Err(mismatch) = seq.step(op) {
            panic!("step {i} {op:?}: {mismatch}");
        }
    }
});
