//! Loom model check of the path filter's promise: a `SetPathFilter` rewrite never costs a match.
//! A check that overlaps fewer than `READ_ATTEMPTS` complete rewrites always finds a whole prefix
//! (the old one or a new one), so a path that matches every prefix written always matches.
//! (Loom models the weak memory model: a plain load may keep returning an old index.)
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use rustkext::filter::{PathFilter, Verdict, READ_ATTEMPTS};
use std::ffi::CString;

#[test]
fn rewrites_during_a_check_never_cost_a_match() {
    loom::model(|| {
        let filter = Arc::new(PathFilter::new());
        assert!(filter.set(b"/a"));
        let writer = {
            let filter = filter.clone();
            thread::spawn(move || {
                for i in 0..READ_ATTEMPTS - 1 {
                    let prefix: &[u8] = if i % 2 == 0 { b"/ab" } else { b"/a" };
                    assert!(filter.set(prefix));
                }
            })
        };
        let path = CString::new("/ab/c").unwrap();
        // SAFETY: a live CString; the filter never keeps it.
        let verdict = unsafe { filter.check([path.as_ptr().cast(), core::ptr::null()]) };
        assert_eq!(verdict, Verdict::Match);
        writer.join().unwrap();
    });
}
