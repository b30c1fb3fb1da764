//! Target 4: the path filter against its byte-prefix model: `set`, `SetPathFilter`'s struct
//! rule, checks and reads with prefixes and paths of 0 to 1100 arbitrary bytes, then a writer
//! rewriting the prefix while a reader checks (see `rustkext_fuzz_core::path_filter`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustkext_fuzz_core::path_filter::{run, Input};

fuzz_target!(|input: Input| {
    if let Err(mismatch) = run(&input) {
        panic!("{mismatch}\ninput: {input:#?}");
    }
});
