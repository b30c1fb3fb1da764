//! The `shim_sim` target: sequences of user-space and kernel events driven through xnu-sim's
//! IOKit (IOServiceOpen → the shim's newUserClient, IOConnectCallMethod → the kernel's own count
//! checks → the shim's externalMethod, IOServiceClose/process death/last send right →
//! clientClose/clientDied, kextunload, kextload, autounload through the clock, FILEOP events, an
//! open the kernel fails after newUserClient) against the model of `rustkext-fuzz-model` plus
//! what the kernel adds (docs/user-client-api.md, xnu-sim README "User clients").
//!
//! After every step: the answers, whether the kext is loaded, its live services and kauth
//! listener, as the model says. At the end every connection is closed and the kext unloaded:
//! the unload must succeed and leave no instance of the service or user-client class (a leaked
//! OSObject keeps the kext in use) and no kernel rule violation.

pub mod adapter;

use std::ffi::CString;
use std::time::Duration;

use arbitrary::Arbitrary;
use rustkext_fuzz_model::driver::{Model, Personality, Phase, Terminate};
use rustkext_fuzz_model::input::{rare, FileopSpec, PersonalitySpec, SelectorSpec, StructIn};
use rustkext_fuzz_model::spec;

use adapter::{Connection, Flavor, Sim, TaskId};

/// `kOSKextReturnNotFound`: kextunload of a kext the kernel does not know.
const KEXT_NOT_FOUND: i32 = 0xdc008006_u32 as i32;
/// What the kernel returns for an open it fails after newUserClient (`fail_next_open`).
const OPEN_FAILURES: [i32; 2] = [spec::NOT_PERMITTED, 0xe00002bc_u32 as i32];
/// Structs above this travel out of line (IOConnectCallMethod).
const INBAND_MAX: u32 = 4096;

/// A struct size.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Size {
    /// The table's.
    Table,
    /// Near it (table + delta, wrapping at 0).
    Near(i8),
    /// In band, anything (modulo 4097).
    InBand(u16),
    /// Out of line: 4097 and up.
    OutOfLine(u16),
}

impl Size {
    fn resolve(self, table: u32) -> u32 {
        match self {
            Size::Table => table,
            Size::Near(d) => table.saturating_add_signed(i32::from(d)),
            Size::InBand(n) => u32::from(n) % (INBAND_MAX + 1),
            Size::OutOfLine(n) => INBAND_MAX + 1 + u32::from(n),
        }
    }
}

/// One IOConnectCallMethod.
#[derive(Arbitrary, Clone, Debug)]
pub struct Call {
    /// Selector.
    pub selector: SelectorSpec,
    /// Input scalars: the table's count, or (rarely) any of 0..=17.
    pub scalars: u8,
    /// Their values.
    pub values: [u64; 2],
    /// Input struct size.
    pub struct_in: Size,
    /// Its bytes.
    pub content: StructIn,
    /// Output scalar capacity: the table's, or (rarely) any of 0..=17.
    pub scalar_out: u8,
    /// Output struct capacity.
    pub struct_out: Size,
}

/// One step.
#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    /// IOServiceOpen by task `task` (rarely another connection type).
    Open {
        /// Which task (modulo the tasks).
        task: u8,
        /// Rare: connection type `odd_value`.
        oddity: u8,
        /// The type.
        odd_value: u32,
    },
    /// IOConnectCallMethod on connection `conn` (modulo the connections ever opened).
    Call(u8, Call),
    /// IOServiceClose.
    Close(u8),
    /// The connection's last send right goes without IOServiceClose.
    Deallocate(u8),
    /// Process death.
    Kill(u8),
    /// A new process (root or not).
    Spawn(bool),
    /// seteuid(0 or 501) in a process.
    SetEuid(u8, bool),
    /// kextunload.
    Unload,
    /// kextload of the kext as defined at the start of the input (its personality stays in the
    /// IOCatalogue after an autounload, so it is not redefined in between).
    Load,
    /// 120 s of kernel time: autounload of a kext without instances.
    Autounload,
    /// A FILEOP event.
    Fileop(FileopSpec),
    /// The kernel fails the next open after newUserClient.
    FailNextOpen(u8),
    /// IOConnectGetService.
    GetService(u8),
}

/// One input: a kernel, a kext loaded with a personality, some processes, then the steps.
#[derive(Arbitrary, Clone, Debug)]
pub struct Input {
    /// 10.15 or 11+.
    pub catalina: bool,
    /// The personality of the first load.
    pub personality: PersonalitySpec,
    /// Three processes: root or not.
    pub roots: [bool; 3],
    /// The steps (at most 64 are run).
    pub ops: Vec<Op>,
}

struct Conn {
    c: Connection,
    task: usize,
    id: u32,
    live: bool,
}

struct Task {
    t: TaskId,
    euid: u32,
    alive: bool,
}

/// The kernel and the model.
struct World {
    sim: Sim,
    catalina: bool,
    m: Model,
    loaded: bool,
    personality: Personality,
    fail_next_open: Option<i32>,
    conns: Vec<Conn>,
    tasks: Vec<Task>,
}

macro_rules! expect_eq {
    ($got:expr, $want:expr, $($what:tt)+) => {{
        let (got, want) = (&$got, &$want);
        if got != want {
            return Err(format!("{}: kernel {:?}, model {:?}", format!($($what)+), got, want));
        }
    }};
}

/// Runs one input; an error describes the mismatch.
pub fn run(input: &Input) -> Result<(), String> {
    let flavor = if input.catalina {
        Flavor::Catalina
    } else {
        Flavor::BigSurAndLater
    };
    let mut w = World {
        sim: Sim::boot(flavor),
        catalina: input.catalina,
        m: Model::with_fingerprint(adapter::fingerprint()),
        loaded: false,
        personality: Personality::DEFAULT,
        fail_next_open: None,
        conns: Vec::new(),
        tasks: Vec::new(),
    };
    for &root in &input.roots {
        w.spawn(root);
    }
    w.load(Some(&input.personality.personality()))?;
    w.check()?;
    for (i, op) in input.ops.iter().take(64).enumerate() {
        w.step(op).map_err(|e| format!("step {i} {op:?}: {e}"))?;
        w.check()
            .map_err(|e| format!("after step {i} {op:?}: {e}"))?;
    }
    w.finish()
}

impl World {
    fn service_running(&self) -> bool {
        self.loaded && self.m.phase == Phase::Running
    }

    fn spawn(&mut self, root: bool) {
        let euid = if root { 0 } else { 501 };
        let t = self.sim.spawn(euid);
        self.tasks.push(Task {
            t,
            euid,
            alive: true,
        });
    }

    /// What the kernel shows must agree with the model: the kext, its service, its listener.
    fn check(&self) -> Result<(), String> {
        expect_eq!(self.sim.loaded(), self.loaded, "kext loaded");
        expect_eq!(
            self.sim.services(),
            u32::from(self.service_running()),
            "live services"
        );
        expect_eq!(
            self.sim.listeners(),
            u32::from(self.service_running()),
            "kauth listeners"
        );
        let violations = self.sim.take_violations();
        expect_eq!(violations, Vec::<String>::new(), "kernel rule violations");
        Ok(())
    }

    /// kextload: the first defines the kext with `p`, later ones load that definition again.
    fn load(&mut self, p: Option<&Personality>) -> Result<(), String> {
        if self.loaded {
            expect_eq!(self.sim.load_again(), Ok(()), "kextload of the loaded kext");
            // Nothing starts: the service is there, or its resource was withdrawn at its
            // shutdown, or its personality fails the start again.
            self.sim.quiet();
            return Ok(());
        }
        match p {
            Some(p) => {
                expect_eq!(self.sim.load_with(p), Ok(()), "kextload with {p:?}");
                self.personality = *p;
            }
            None => expect_eq!(self.sim.load_again(), Ok(()), "kextload"),
        }
        self.sim.quiet();
        self.loaded = true;
        let p = self.personality;
        self.m.start(&p);
        Ok(())
    }

    /// A close (IOServiceClose, death, rollback) reaching the driver.
    fn closed(&mut self, id: u32) -> Result<(), String> {
        if self.m.close(id) {
            // The last client after a refused unload: the service terminates itself (thread
            // call → terminate() → shut down → stop).
            expect_eq!(
                self.m.terminate(),
                Terminate::ShutDown,
                "self-termination's terminate()"
            );
            self.m.close_gate();
            self.m.release();
        }
        Ok(())
    }

    fn conn(&self, i: u8) -> Option<usize> {
        (!self.conns.is_empty()).then(|| usize::from(i) % self.conns.len())
    }

    fn step(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Open {
                task,
                oddity,
                odd_value,
            } => {
                let ti = usize::from(*task) % self.tasks.len();
                let connect_type = if rare(*oddity) { *odd_value } else { 0 };
                self.open(ti, connect_type)?;
            }
            Op::Call(i, call) => {
                if let Some(i) = self.conn(*i) {
                    self.call(i, call)?;
                }
            }
            Op::Close(i) => {
                if let Some(i) = self.conn(*i) {
                    let live = self.conns[i].live && self.tasks[self.conns[i].task].alive;
                    let want = if live {
                        spec::SUCCESS
                    } else {
                        spec::MACH_SEND_INVALID_DEST
                    };
                    expect_eq!(self.sim.close(self.conns[i].c), want, "IOServiceClose");
                    if live {
                        self.conns[i].live = false;
                        self.closed(self.conns[i].id)?;
                    }
                    self.sim.quiet();
                }
            }
            Op::Deallocate(i) => {
                if let Some(i) = self.conn(*i) {
                    let live = self.conns[i].live && self.tasks[self.conns[i].task].alive;
                    expect_eq!(
                        self.sim.deallocate(self.conns[i].c),
                        live,
                        "last send right"
                    );
                    if live {
                        self.conns[i].live = false;
                        self.closed(self.conns[i].id)?;
                    }
                    self.sim.quiet();
                }
            }
            Op::Kill(t) => {
                let ti = usize::from(*t) % self.tasks.len();
                self.sim.kill(self.tasks[ti].t);
                if self.tasks[ti].alive {
                    self.tasks[ti].alive = false;
                    let ids: Vec<u32> = self
                        .conns
                        .iter_mut()
                        .filter(|c| c.task == ti && c.live)
                        .map(|c| {
                            c.live = false;
                            c.id
                        })
                        .collect();
                    for id in ids {
                        self.closed(id)?;
                    }
                }
                self.sim.quiet();
            }
            Op::Spawn(root) => {
                if self.tasks.len() < 8 {
                    self.spawn(*root);
                }
            }
            Op::SetEuid(t, root) => {
                let ti = usize::from(*t) % self.tasks.len();
                let euid = if *root { 0 } else { 501 };
                expect_eq!(
                    self.sim.set_euid(self.tasks[ti].t, euid),
                    self.tasks[ti].alive,
                    "seteuid"
                );
                if self.tasks[ti].alive {
                    self.tasks[ti].euid = euid;
                }
            }
            Op::Unload => self.unload()?,
            Op::Load => self.load(None)?,
            Op::Autounload => {
                self.sim.advance(Duration::from_secs(120));
                if self.loaded && self.m.phase == Phase::Stopped {
                    // No instance of the kext's classes is left (every user client of a
                    // stopped service is closed): the kernel unloads it.
                    self.loaded = false;
                }
            }
            Op::Fileop(f) => self.fileop(f)?,
            Op::FailNextOpen(code) => {
                let code = OPEN_FAILURES[usize::from(*code) % OPEN_FAILURES.len()];
                self.sim.fail_next_open(code);
                self.fail_next_open = Some(code);
            }
            Op::GetService(i) => {
                if let Some(i) = self.conn(*i) {
                    let live = self.conns[i].live && self.tasks[self.conns[i].task].alive;
                    let want = if live {
                        Ok(adapter::SERVICE_CLASS.to_string())
                    } else {
                        Err(spec::MACH_SEND_INVALID_DEST)
                    };
                    expect_eq!(
                        self.sim.get_service(self.conns[i].c),
                        want,
                        "IOConnectGetService"
                    );
                }
            }
        }
        Ok(())
    }

    fn open(&mut self, ti: usize, connect_type: u32) -> Result<(), String> {
        let task = &self.tasks[ti];
        let admin = task.euid == 0;
        let want = if !task.alive || !self.service_running() {
            Err(spec::MACH_SEND_INVALID_DEST)
        } else {
            self.m.open(connect_type, admin)
        };
        let got = self.sim.open(task.t, connect_type);
        match (want, got) {
            (Err(code), got) => expect_eq!(
                got.map(|_| ()),
                Err(code),
                "IOServiceOpen (admin {admin}, type {connect_type})"
            ),
            (Ok(()), got) => {
                if let Some(code) = self.fail_next_open.take() {
                    // The kernel closes the admitted client itself: nothing changes.
                    expect_eq!(
                        got.map(|_| ()),
                        Err(code),
                        "IOServiceOpen failed after newUserClient"
                    );
                    self.sim.quiet();
                    return Ok(());
                }
                let c = got.map_err(|code| {
                    format!("IOServiceOpen (admin {admin}): kernel {code:#x}, model success")
                })?;
                // The id the driver chose, as GetClientInfo tells it.
                let (scalars, _) = self
                    .sim
                    .call(c, spec::GET_CLIENT_INFO, &[], &[], 3, 0)
                    .map_err(|code| format!("GetClientInfo on a new connection: {code:#x}"))?;
                let id = u32::try_from(scalars[0])
                    .map_err(|_| format!("client id {:#x}", scalars[0]))?;
                self.m.admitted(id, admin)?;
                let want = vec![
                    u64::from(id),
                    u64::from(self.m.open_clients()),
                    u64::from(self.m.unload_pending),
                ];
                expect_eq!(scalars, want, "GetClientInfo on a new connection");
                self.conns.push(Conn {
                    c,
                    task: ti,
                    id,
                    live: true,
                });
            }
        }
        Ok(())
    }

    fn call(&mut self, i: usize, call: &Call) -> Result<(), String> {
        let selector = call.selector.resolve();
        let table = spec::row(selector).map_or([0; 4], |r| r.shape);
        let scalar_in = if rare(call.scalars) {
            u32::from(call.scalars % 18)
        } else {
            table[0]
        };
        let struct_in = call.struct_in.resolve(table[1]);
        let scalar_out = if rare(call.scalar_out) {
            u32::from(call.scalar_out % 18)
        } else {
            table[2]
        };
        let struct_out = call.struct_out.resolve(table[3]);
        let scalars: Vec<u64> = (0..scalar_in)
            .map(|n| call.values[n as usize % 2])
            .collect();
        let bytes = call.content.resolve(struct_in as usize, &self.m.filter);
        let conn = &self.conns[i];
        let live = conn.live && self.tasks[conn.task].alive;
        // What the kernel and the shim decide before the driver, then the driver's checks.
        // The kernel passes at most 16 output scalars; an out-of-line struct's size is its
        // descriptor's length.
        let counts = [scalar_in, struct_in, scalar_out.min(16), struct_out];
        let want: Result<(Vec<u64>, Vec<u8>), i32> = if scalar_in > 16 {
            Err(spec::MIG_ARRAY_TOO_LARGE)
        } else if !live {
            Err(spec::MACH_SEND_INVALID_DEST)
        } else if spec::row(selector).is_none() || counts != table {
            Err(spec::BAD_ARGUMENT)
        } else {
            self.m
                .method(conn.id, selector, counts, &scalars, &bytes)
                .map(|out| (out.scalars, out.bytes))
        };
        let got = self
            .sim
            .call(conn.c, selector, &scalars, &bytes, scalar_out, struct_out);
        expect_eq!(
            got,
            want,
            "IOConnectCallMethod {selector} counts {counts:?}"
        );
        Ok(())
    }

    fn unload(&mut self) -> Result<(), String> {
        let want = if !self.loaded {
            // 11+: kmutil load put the kext in the auxiliary collection, which the kernel
            // knows: unloading it again succeeds.
            if self.catalina {
                KEXT_NOT_FOUND
            } else {
                spec::SUCCESS
            }
        } else if self.m.phase == Phase::Running {
            match self.m.terminate() {
                Terminate::Refuse(_) => spec::UNSUPPORTED,
                Terminate::ShutDown => {
                    self.m.close_gate();
                    self.m.release();
                    self.loaded = false;
                    spec::SUCCESS
                }
                Terminate::Proceed => return Err("a running service answered proceed".into()),
            }
        } else {
            self.loaded = false;
            spec::SUCCESS
        };
        expect_eq!(self.sim.unload(), want, "kextunload");
        self.sim.quiet();
        Ok(())
    }

    fn fileop(&mut self, f: &FileopSpec) -> Result<(), String> {
        let (action, args) = f.resolve(&self.m.filter);
        let strings: Vec<Option<CString>> = args
            .iter()
            .map(|a| a.path().map(|p| CString::new(p).expect("cut at the NUL")))
            .collect();
        let mut raw = [0usize; 4];
        for (n, (arg, s)) in args.iter().zip(&strings).enumerate() {
            raw[n] = match (arg, s) {
                (_, Some(s)) => s.as_ptr() as usize,
                (rustkext_fuzz_model::input::Arg::Value(v), None) => *v,
                _ => 0,
            };
        }
        // kauth passes the action as an int.
        let Ok(action32) = u32::try_from(action) else {
            return Ok(());
        };
        let registered = self.service_running();
        expect_eq!(
            self.sim.fileop(action32, raw),
            u32::from(registered),
            "FILEOP listeners called"
        );
        if registered {
            self.m.fileop(
                action,
                [
                    args[0].path(),
                    args[1].path(),
                    args[2].path(),
                    args[3].path(),
                ],
            );
        }
        Ok(())
    }

    /// Every connection closed, the kext unloaded: nothing may be left.
    fn finish(mut self) -> Result<(), String> {
        for i in 0..self.conns.len() {
            let conn = &self.conns[i];
            if conn.live && self.tasks[conn.task].alive {
                expect_eq!(
                    self.sim.close(conn.c),
                    spec::SUCCESS,
                    "final IOServiceClose"
                );
                self.conns[i].live = false;
                let id = self.conns[i].id;
                self.closed(id)?;
                self.sim.quiet();
            }
        }
        if self.loaded {
            self.unload()?;
        }
        self.check()?;
        expect_eq!(
            self.sim.instances(),
            (0, 0),
            "live service and user-client objects after unload"
        );
        Ok(())
    }
}
