//! Target 3: the shim path on xnu-sim under AddressSanitizer (the C++ shim instrumented for
//! coverage too): see `rustkext_fuzz_sim`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustkext_fuzz_sim::{run, Input};

fuzz_target!(|input: Input| {
    if let Err(mismatch) = run(&input) {
        panic!("{mismatch}\ninput: {input:#?}");
    }
});
