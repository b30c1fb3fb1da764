//! Runs a sequence of C ABI operations against the driver and the model side by side. Every
//! answer must equal the model's, and after every step the whole observable state (statistics,
//! filter, phase, settings, clients, unload state, refused callbacks) must too. A refused
//! external method must leave its argument block and every buffer untouched.

use std::ffi::CString;

use rustkext_fuzz_model::driver::{Model, Output, Personality, Terminate};
use rustkext_fuzz_model::input::{
    rare, Arg, BufSpec, CoreOp, FileopSpec, MethodSpec, SelectorSpec,
};
use rustkext_fuzz_model::spec;

use crate::adapter::c_abi::{self as abi, DriverPtr, MethodArgs};

/// A mismatch between the driver and the model: the fuzz target panics with it.
pub type Mismatch = String;

macro_rules! expect_eq {
    ($got:expr, $want:expr, $($what:tt)+) => {{
        let (got, want) = (&$got, &$want);
        if got != want {
            return Err(format!("{}: driver {:?}, model {:?}", format!($($what)+), got, want));
        }
    }};
}

/// The driver and its model, run in step.
pub struct Sequence {
    model: Model,
    d: DriverPtr,
    /// Every id the driver gave out in this input, in order.
    issued: Vec<u32>,
}

impl Sequence {
    /// A driver back in its never-started state, and a fresh model.
    pub fn new() -> Sequence {
        abi::reset();
        Sequence {
            model: Model::with_fingerprint(abi::fingerprint()),
            d: abi::ours(),
            issued: Vec::new(),
        }
    }

    /// The model (for targets that want to look).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Runs one operation and checks it.
    pub fn step(&mut self, op: &CoreOp) -> Result<(), Mismatch> {
        match op {
            CoreOp::Open {
                admin,
                oddity,
                odd_value,
            } => self.open(*admin, *oddity, *odd_value)?,
            CoreOp::Close(c) | CoreOp::Die(c) => {
                let id = c.resolve(&self.issued);
                expect_eq!(
                    abi::close(self.d, id),
                    self.model.close(id),
                    "close {id:#x}: terminate the service"
                );
                expect_eq!(
                    self.model.self_terminations <= 1,
                    true,
                    "self-terminations since start"
                );
            }
            CoreOp::Terminate(oddity) => {
                let want = self.model.terminate();
                let mut count = 0xdead_beef_u32;
                let got = abi::terminate(self.d, (!rare(*oddity)).then_some(&mut count));
                if rare(*oddity) {
                    // Nothing to read the count from: the answer alone.
                    let kind = |t: Terminate| match t {
                        Terminate::Refuse(_) => Terminate::Refuse(0),
                        other => other,
                    };
                    expect_eq!(kind(got), kind(want), "terminate request (NULL count)");
                } else {
                    let want_count = match want {
                        Terminate::Refuse(n) => n,
                        _ => 0,
                    };
                    expect_eq!(got, want, "terminate request");
                    expect_eq!(count, want_count, "terminate request: *open_clients");
                }
            }
            CoreOp::ShimTerminate => self.shim_terminate()?,
            CoreOp::CloseGate => {
                abi::close_gate(self.d);
                self.model.close_gate();
            }
            CoreOp::Drain => {
                expect_eq!(abi::drain(self.d, 5000, 0), 0, "drain: callbacks in flight");
                self.model.close_gate();
            }
            CoreOp::Release => self.release()?,
            CoreOp::Start(p) => self.start(&p.personality())?,
            CoreOp::Method(m) => self.method(m)?,
            CoreOp::Call(w) => self.method(&MethodSpec::from(w))?,
            CoreOp::ShapeFor(selector, oddity) => self.shape_for(*selector, *oddity)?,
            CoreOp::Fileop(f) => self.fileop(f)?,
        }
        self.check_state()
    }

    /// The whole observable state against the model.
    pub fn check_state(&self) -> Result<(), Mismatch> {
        let got = abi::observe();
        let m = &self.model;
        expect_eq!(got.stats, m.stats_bytes(), "statistics");
        expect_eq!(got.filter, m.filter, "path filter");
        expect_eq!(got.phase, m.phase, "phase");
        expect_eq!(got.config, m.config, "settings");
        expect_eq!(got.open_clients, m.open_clients(), "open clients");
        expect_eq!(got.unload_pending, m.unload_pending, "unload pending");
        expect_eq!(got.shut_down, m.shut_down, "shut down");
        expect_eq!(
            got.refused,
            m.refused,
            "callbacks refused by the closed gate"
        );
        for &(id, admin) in &m.clients {
            expect_eq!(
                abi::client(id),
                Some(admin),
                "client {id:#x} open (administrator?)"
            );
        }
        for &id in &self.issued {
            if m.client(id).is_none() {
                expect_eq!(abi::client(id), None, "client {id:#x} closed");
            }
        }
        Ok(())
    }

    fn start(&mut self, p: &Personality) -> Result<(), Mismatch> {
        let got = abi::start(p);
        let want = self.model.start(p);
        expect_eq!(!got.is_null(), want, "start with {p:?}");
        if want {
            expect_eq!(got, self.d, "the driver's address");
        }
        abi::take_log();
        Ok(())
    }

    fn release(&mut self) -> Result<(), Mismatch> {
        abi::take_log();
        abi::release(self.d);
        let refused = self.model.release();
        let logged: Vec<u64> = abi::take_log()
            .into_iter()
            .filter(|(m, _)| abi::is_release_log(m))
            .map(|(_, v)| v)
            .collect();
        expect_eq!(
            logged,
            vec![refused],
            "release: logged count of refused callbacks"
        );
        // The gate stays closed after stop: a late callback is refused and counted as such.
        self.fileop_resolved(
            spec::action::OPEN,
            [Arg::Null, Arg::Path(b"/".to_vec()), Arg::Null, Arg::Null],
        )
    }

    /// `terminate()` as the shim runs it: on "shut down" close the gate and drain first; unless
    /// refused, `IOService::terminate` then stops the service (release).
    fn shim_terminate(&mut self) -> Result<(), Mismatch> {
        let want = self.model.terminate();
        let mut count = 0;
        let got = abi::terminate(self.d, Some(&mut count));
        expect_eq!(got, want, "terminate()");
        match want {
            Terminate::Refuse(n) => expect_eq!(count, n, "terminate(): *open_clients"),
            Terminate::ShutDown => {
                abi::close_gate(self.d);
                self.model.close_gate();
                // The shim's grace (1000 ms) only waits for callers between kauth and the gate;
                // there are none here, and the sleep would cost 100 ms of host time per input.
                expect_eq!(abi::drain(self.d, 5000, 0), 0, "drain: callbacks in flight");
                self.release()?;
            }
            Terminate::Proceed => self.release()?,
        }
        Ok(())
    }

    fn open(&mut self, admin: bool, oddity: u8, odd_value: u32) -> Result<(), Mismatch> {
        let mut foreign = [0x5au8; 64];
        let (d, connect_type, null_out) = match oddity {
            0xf0..=0xf7 => (self.d, odd_value.max(1), false),
            0xf8..=0xfb => (self.d, 0, true),
            0xfc..=0xfd => (DriverPtr::foreign(&mut foreign), 0, false),
            0xfe..=0xff => (DriverPtr::NULL, 0, false),
            _ => (self.d, 0, false),
        };
        let want = if d != self.d || null_out {
            Err(spec::BAD_ARGUMENT)
        } else {
            self.model.open(connect_type, admin)
        };
        let mut id = 0xdead_beef_u32;
        let got = abi::open(d, connect_type, admin, (!null_out).then_some(&mut id));
        expect_eq!(
            foreign,
            [0x5au8; 64],
            "open: memory behind a foreign driver pointer"
        );
        match want {
            Err(code) => {
                expect_eq!(got, code, "open (admin {admin}, type {connect_type})");
                expect_eq!(id, 0xdead_beef_u32, "open refused: the id out parameter");
            }
            Ok(()) => {
                expect_eq!(got, spec::SUCCESS, "open (admin {admin})");
                self.model.admitted(id, admin)?;
                self.issued.push(id);
            }
        }
        Ok(())
    }

    fn shape_for(&mut self, selector: SelectorSpec, oddity: u8) -> Result<(), Mismatch> {
        let selector = selector.resolve();
        let row = spec::row(selector);
        if rare(oddity) {
            expect_eq!(
                abi::shape_for(selector, None),
                spec::BAD_ARGUMENT,
                "shape of {selector} (NULL out)"
            );
            return Ok(());
        }
        let mut out = [7u32; 4];
        let got = abi::shape_for(selector, Some(&mut out));
        match row {
            Some(row) => {
                expect_eq!(got, spec::SUCCESS, "shape of {selector}");
                expect_eq!(out, row.shape, "shape of {selector}");
            }
            None => {
                expect_eq!(got, spec::BAD_ARGUMENT, "shape of {selector}");
                expect_eq!(out, [7u32; 4], "shape of unknown {selector}: out untouched");
            }
        }
        Ok(())
    }

    fn fileop(&mut self, f: &FileopSpec) -> Result<(), Mismatch> {
        let (action, args) = f.resolve(&self.model.filter);
        self.fileop_resolved(action, args)
    }

    fn fileop_resolved(&mut self, action: usize, args: [Arg; 4]) -> Result<(), Mismatch> {
        let strings: Vec<Option<CString>> = args
            .iter()
            .map(|a| {
                a.path()
                    .map(|p| CString::new(p).expect("paths are cut at their NUL"))
            })
            .collect();
        let mut raw = [0usize; 4];
        for (i, (arg, s)) in args.iter().zip(&strings).enumerate() {
            raw[i] = match (arg, s) {
                (_, Some(s)) => s.as_ptr() as usize,
                (Arg::Value(v), None) => *v,
                _ => 0,
            };
        }
        // SAFETY: where the action carries a path the argument is NULL or a live CString
        // (FileopSpec::resolve never puts a plain value there).
        unsafe { abi::fileop(self.d, action, raw) };
        let paths = [
            args[0].path(),
            args[1].path(),
            args[2].path(),
            args[3].path(),
        ];
        self.model.fileop(action, paths);
        Ok(())
    }

    fn method(&mut self, m: &MethodSpec) -> Result<(), Mismatch> {
        let id = m.client.resolve(&self.issued);
        let selector = m.selector.resolve();
        let table = spec::row(selector).map_or([0; 4], |r| r.shape);
        let counts: [u32; 4] = std::array::from_fn(|i| m.counts[i].resolve(table[i]));
        let mut foreign = [0x5au8; 64];
        let (d, args_null, reserved) = match m.oddity {
            0xf0..=0xf5 => (self.d, false, m.odd_value.max(1)),
            0xf6..=0xf9 => (self.d, true, 0),
            0xfa..=0xfc => (DriverPtr::foreign(&mut foreign), false, 0),
            0xfd..=0xff => (DriverPtr::NULL, false, 0),
            _ => (self.d, false, 0),
        };
        let null: [bool; 4] = std::array::from_fn(|i| matches!(m.buffers[i], BufSpec::Null));
        let block_ok = d == self.d
            && !args_null
            && reserved == 0
            && (0..4).all(|i| !(null[i] && counts[i] != 0));
        // Whether the call gets to the method (slices formed): then the buffers must hold their
        // counts, as the C ABI requires of its caller.
        let reaches = block_ok && self.model.validate(id, selector, counts).is_ok();
        let len = |i: usize| -> usize {
            let count = counts[i] as usize;
            match m.buffers[i] {
                BufSpec::Null => 0,
                BufSpec::Fit if reaches => count,
                BufSpec::Short(_) if reaches => count,
                BufSpec::Spare(k) if reaches => count + usize::from(k),
                BufSpec::Fit => count.min(2048),
                BufSpec::Short(k) => count.saturating_sub(1 + usize::from(k)).min(2048),
                BufSpec::Spare(k) => count.min(2048) + usize::from(k),
            }
        };
        let filter = self.model.filter.clone();
        let scalar_in: Vec<u64> = (0..len(0)).map(|i| m.scalars[i % 2]).collect();
        let struct_in = m.struct_in.resolve(len(1), &filter);
        let mut scalar_out = vec![0xa5a5_a5a5_a5a5_a5a5_u64; len(2)];
        let mut struct_out = vec![0xa5u8; len(3)];
        let (scalar_in_before, struct_in_before) = (scalar_in.clone(), struct_in.clone());
        let pointer = |is_null: bool, p: *const u8| if is_null { std::ptr::null() } else { p };
        let mut args = MethodArgs {
            selector,
            scalar_input_count: counts[0],
            struct_input_size: counts[1],
            scalar_output_count: counts[2],
            struct_output_size: counts[3],
            reserved,
            scalar_input: pointer(null[0], scalar_in.as_ptr().cast()).cast(),
            struct_input: pointer(null[1], struct_in.as_ptr()).cast(),
            scalar_output: pointer(null[2], scalar_out.as_mut_ptr().cast())
                .cast_mut()
                .cast(),
            struct_output: pointer(null[3], struct_out.as_mut_ptr()).cast_mut().cast(),
        };
        let before = format!("{args:?}");
        let want: Result<Output, i32> = if !block_ok {
            Err(spec::BAD_ARGUMENT)
        } else {
            let n = (counts[0] as usize).min(scalar_in.len());
            let s = (counts[1] as usize).min(struct_in.len());
            self.model
                .method(id, selector, counts, &scalar_in[..n], &struct_in[..s])
        };
        let args_ptr: *mut MethodArgs = if args_null {
            std::ptr::null_mut()
        } else {
            &mut args
        };
        // SAFETY: the block is live; every non-null buffer holds its count when the model says
        // the call reaches the method; otherwise the driver must refuse it before forming any
        // slice (a driver that does not shows up as an AddressSanitizer report or a mismatch).
        let got = unsafe { abi::external_method(d, id, args_ptr) };
        let what = format!("method {selector} client {id:#x} counts {counts:?}");
        expect_eq!(
            foreign,
            [0x5au8; 64],
            "{what}: memory behind a foreign driver pointer"
        );
        expect_eq!(scalar_in, scalar_in_before, "{what}: scalar input");
        expect_eq!(struct_in, struct_in_before, "{what}: struct input");
        match want {
            Err(code) => {
                expect_eq!(got, code, "{what}");
                expect_eq!(
                    format!("{args:?}"),
                    before,
                    "{what}: refused, the argument block"
                );
                expect_eq!(
                    scalar_out.iter().all(|&v| v == 0xa5a5_a5a5_a5a5_a5a5),
                    true,
                    "{what}: refused, scalar output untouched"
                );
                expect_eq!(
                    struct_out.iter().all(|&v| v == 0xa5),
                    true,
                    "{what}: refused, struct output untouched"
                );
            }
            Ok(out) => {
                expect_eq!(got, spec::SUCCESS, "{what}");
                expect_eq!(
                    [args.scalar_output_count, args.struct_output_size],
                    out.counts,
                    "{what}: output counts"
                );
                expect_eq!(
                    &scalar_out[..out.scalars.len()],
                    &out.scalars[..],
                    "{what}: scalar output"
                );
                expect_eq!(
                    &struct_out[..out.bytes.len()],
                    &out.bytes[..],
                    "{what}: struct output"
                );
                let rest = &scalar_out[out.scalars.len()..];
                expect_eq!(
                    rest.iter().all(|&v| v == 0xa5a5_a5a5_a5a5_a5a5),
                    true,
                    "{what}: scalar output past the written count"
                );
                let rest = &struct_out[out.bytes.len()..];
                expect_eq!(
                    rest.iter().all(|&v| v == 0xa5),
                    true,
                    "{what}: struct output past the written size"
                );
                let unchanged = |a: &MethodArgs| {
                    (
                        a.selector,
                        a.scalar_input_count,
                        a.struct_input_size,
                        a.reserved,
                    )
                };
                expect_eq!(
                    unchanged(&args),
                    (selector, counts[0], counts[1], reserved),
                    "{what}: argument block inputs"
                );
            }
        }
        Ok(())
    }
}

impl Default for Sequence {
    fn default() -> Self {
        Self::new()
    }
}
