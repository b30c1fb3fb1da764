//! The kernel the Rust side imports (IOLog, IOSleep, the clock, the IOLock behind the module
//! mutex), from xnu-sim as the monitor's own C ABI tests take it (`kext/glue/tests/c_abi.rs`): a
//! fresh kernel per input, the module mutex allocated as the shim's module start would. Part of
//! the adapter: the targets see only [`boot`] and [`take_log`].

use std::cell::{Cell, RefCell};

use rustkext_monitor_kext::c_abi::{rk_module_start, rk_module_stop};
use xnu_sim::Kernel;

thread_local! {
    static KERNEL: RefCell<Option<Kernel>> = const { RefCell::new(None) };
    static SEEN: Cell<usize> = const { Cell::new(0) };
}

/// The log prefix of the monitor (its `rustkext.toml` name).
const PREFIX: &str = "RustKext: ";

/// Shuts the previous kernel of this thread down (module stop first) and boots a fresh one with
/// the module mutex allocated.
pub fn boot() {
    KERNEL.with(|k| {
        let mut k = k.borrow_mut();
        if k.take().is_some() {
            assert_eq!(rk_module_stop(), 0, "rk_module_stop");
        }
        *k = Some(Kernel::boot());
        assert_eq!(rk_module_start(), 0, "rk_module_start");
    });
    SEEN.set(0);
}

/// Boots a kernel for this thread unless one is running (the path filter's lock needs one).
pub fn ensure_booted() {
    if KERNEL.with(|k| k.borrow().is_none()) {
        boot();
    }
}

/// The monitor's log lines since the last call, without the prefix: (text, the number that ends
/// the line, 0 if none).
pub fn take_log() -> Vec<(String, u64)> {
    KERNEL.with(|k| {
        let k = k.borrow();
        let Some(k) = k.as_ref() else {
            return Vec::new();
        };
        let lines = k.log_lines();
        let new = lines.get(SEEN.get()..).unwrap_or(&[]).to_vec();
        SEEN.set(lines.len());
        new.into_iter()
            .filter_map(|l| l.strip_prefix(PREFIX).map(str::to_string))
            .map(|l| {
                let value = l
                    .rsplit(' ')
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                (l, value)
            })
            .collect()
    })
}
