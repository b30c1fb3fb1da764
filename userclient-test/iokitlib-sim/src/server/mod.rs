//! The kernel server: one `xnu_sim::Kernel` with one kext loaded (its generated Info.plist; the
//! program that serves names it: the harness the monitor, a kext's CLI its own kext),
//! serving the processes that use the stand-in, over a Unix socket (protocol: `wire`).
//!
//! - Each process is a task of the model (`TaskHello`); its IPC space (`space`) is kept here.
//!   When its task socket reaches end of file the process is dead: every right in its space goes
//!   back, its connections' last send rights die and the kernel calls `clientDied`
//!   (`Kernel::kill_task`), as xnu's task teardown does.
//! - Each request runs on the thread serving that process thread's socket, so requests from
//!   different threads reach the kernel concurrently.
//! - Here are the Mach message and MIG server layers: a send to `MACH_PORT_NULL`, to a name the
//!   task does not hold or to a dead name fails with `MACH_SEND_INVALID_DEST`; a port right in
//!   the body that is not valid with `MACH_SEND_INVALID_RIGHT`; the `intran` conversions
//!   (device.defs: `io_object_t` through `iokit_lookup_object_port`, `io_connect_t` through
//!   `iokit_lookup_connect_port`, `task_t` through `convert_port_to_task`) give NULL for a port of
//!   another kind, which the routine's `CHECK` answers with `kIOReturnBadArgument`; a routine
//!   that fails sends an error reply, which carries no out parameter.
//! - Kernel time: the simulated clock advances by `--clock-rate` seconds per second of host time
//!   (default 50), so the autounload 60 s after the registry went quiet happens within about
//!   1.2 s; nothing else in the model reads this clock.
//! - The kext tools: a directory with `kmutil`, `kextunload` and `kextstat` linked to this
//!   executable, answered by `tools`.
//! - It exits once it has served a task and none is left (after 500 ms with none), unless
//!   `--persist`; with no task at all within 60 s, too. On exit it removes its directory.

mod space;
pub mod tools;

use crate::client::{SOCKET_ENV, TOOLS_ENV};
use crate::codes::*;
use crate::wire::{self, FileopArg, MethodOutputs, MethodReply, MethodRequest, Reply, Request};
use crate::{IO_SCALAR_INBAND_MAX, IO_STRUCT_INBAND_MAX};
use space::{Released, Right, Space};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use rustkext::Identity;
use xnu_sim::{Kernel, TaskId};

/// How long the server waits, once its last task is gone, before it exits.
const LINGER: Duration = Duration::from_millis(500);
/// How long it waits for a first task.
const FIRST_TASK_BOUND: Duration = Duration::from_secs(60);
/// Host time between two clock steps.
const CLOCK_TICK: Duration = Duration::from_millis(10);

/// How the server runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Keep serving when no task is left (a kernel for manual use).
    pub persist: bool,
    /// Simulated seconds per host second (0: the clock stands still).
    pub clock_rate: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            persist: false,
            clock_rate: 50,
        }
    }
}

/// The hidden subcommand's entry: `<exe> __xnu-sim-server [--persist] [--clock-rate N]`, with
/// `kext` loaded. Returns the exit status.
pub fn main(kext: &Identity, args: &[String]) -> i32 {
    let mut opts = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--persist" => opts.persist = true,
            "--clock-rate" => match it.next().and_then(|v| v.parse().ok()) {
                Some(rate) => opts.clock_rate = rate,
                None => return usage(),
            },
            _ => return usage(),
        }
    }
    match serve(kext, &opts) {
        Ok(()) => 0,
        Err(why) => {
            eprintln!("xnu-sim server: {why}");
            1
        }
    }
}

fn usage() -> i32 {
    eprintln!(
        "usage: {} [--persist] [--clock-rate SECONDS_PER_SECOND]",
        crate::client::SERVER_SUBCOMMAND
    );
    2
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Task {
    id: TaskId,
    space: Mutex<Space>,
    /// Serializes opens of this task: the euid set for one open is the one it reads.
    open_lock: Mutex<()>,
}

struct Machine<'k> {
    kernel: &'k Kernel,
    kext: &'k Identity,
    tasks: Mutex<HashMap<u64, Arc<Task>>>,
    /// When the set of tasks last changed, and whether there ever was one.
    changed: Mutex<(Instant, bool)>,
    /// Every socket accepted, to shut down at exit.
    streams: Mutex<Vec<UnixStream>>,
}

/// The directory the server works in: removed when dropped.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_work_dir() -> Result<WorkDir, String> {
    let base = std::env::temp_dir();
    let template = base.join("xnu-sim.XXXXXX");
    let mut bytes = template.into_os_string().into_encoded_bytes();
    bytes.push(0);
    // SAFETY: `bytes` is a writable NUL-terminated template ending in XXXXXX; mkdtemp replaces
    // the Xs in place and returns NULL or the same pointer.
    let made = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
    if made.is_null() {
        return Err(format!(
            "mkdtemp in {}: {}",
            base.display(),
            std::io::Error::last_os_error()
        ));
    }
    bytes.pop();
    // SAFETY: the bytes came from an OsString and mkdtemp replaced ASCII Xs with ASCII.
    let dir = PathBuf::from(unsafe { std::ffi::OsString::from_encoded_bytes_unchecked(bytes) });
    // Others may traverse (not list) it: a process that switched its euid to a non-administrator
    // must still reach the socket.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(WorkDir(dir))
}

/// Boots the kernel, loads `kext`, serves until the exit condition; returns when done.
pub fn serve(kext: &Identity, opts: &Options) -> Result<(), String> {
    let dir = make_work_dir()?;
    let socket = dir.0.join("kernel.sock");
    let tools = dir.0.join("bin");
    std::fs::create_dir(&tools).map_err(|e| format!("{}: {e}", tools.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    for name in crate::tools::TOOL_NAMES {
        std::os::unix::fs::symlink(&exe, tools.join(name))
            .map_err(|e| format!("{}: {e}", tools.join(name).display()))?;
    }
    let listener = UnixListener::bind(&socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("{}: {e}", socket.display()))?;

    let kernel = Kernel::boot();
    // Installed first, then loaded, as the README's VM steps do (and the simulator backend): a
    // load request for it could be answered, and the kext must stay unloaded all the same.
    let spec = rustkext_sim::spec(kext);
    kernel.install_kext(&spec);
    kernel.load_bundle(&spec.bundle_id).map_err(|code| {
        format!(
            "the simulated kernel refused to load the kext: {:#x}",
            code as u32
        )
    })?;
    announce(&socket, &tools)?;

    let machine = Machine {
        kernel: &kernel,
        kext,
        tasks: Mutex::default(),
        changed: Mutex::new((Instant::now(), false)),
        streams: Mutex::default(),
    };
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        if opts.clock_rate > 0 {
            let step = CLOCK_TICK * opts.clock_rate;
            let (stop, kernel) = (&stop, &kernel);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(CLOCK_TICK);
                    kernel.advance_clock(step);
                }
            });
        }
        let started = Instant::now();
        while !machine.done(opts, started) {
            match listener.accept() {
                Ok((stream, _)) => {
                    if let Ok(copy) = stream.try_clone() {
                        lock(&machine.streams).push(copy);
                    }
                    let machine = &machine;
                    scope.spawn(move || machine.serve_connection(stream));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => {
                    eprintln!("xnu-sim server: accept: {e}");
                    break;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        for stream in lock(&machine.streams).iter() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    });
    // Tasks left (a --persist server stopped by a failed accept): they die with the machine.
    let left: Vec<Arc<Task>> = lock(&machine.tasks).drain().map(|(_, t)| t).collect();
    for task in left {
        machine.task_died(&task);
    }
    drop(machine);
    // Violations the harness did not see (reported through Status) go to stderr, not to a panic.
    for v in kernel.take_violations() {
        eprintln!("xnu-sim server: kernel rule violation: {v}");
    }
    drop(kernel);
    drop(dir);
    Ok(())
}

/// Prints the handshake the starting process waits for, then detaches stdout.
fn announce(socket: &Path, tools: &Path) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{SOCKET_ENV}={}\n{TOOLS_ENV}={}\nREADY",
        socket.display(),
        tools.display()
    )
    .and_then(|()| out.flush())
    .map_err(|e| format!("stdout: {e}"))?;
    drop(out);
    // Nothing else goes to the starter's pipe: it may stop reading.
    // SAFETY: open and dup2 on plain file descriptors; a failure leaves stdout as it is.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
        if null >= 0 {
            libc::dup2(null, 1);
            libc::close(null);
        }
    }
    Ok(())
}

impl Machine<'_> {
    fn done(&self, opts: &Options, started: Instant) -> bool {
        if opts.persist {
            return false;
        }
        let (since, ever) = *lock(&self.changed);
        let none = lock(&self.tasks).is_empty();
        if ever {
            none && since.elapsed() >= LINGER
        } else {
            started.elapsed() >= FIRST_TASK_BOUND
        }
    }

    fn note_change(&self) {
        *lock(&self.changed) = (Instant::now(), true);
    }

    fn serve_connection(&self, mut stream: UnixStream) {
        let mut task: Option<Arc<Task>> = None;
        let mut is_task_socket = false;
        while let Ok(Some(body)) = wire::read_frame(&mut stream) {
            let reply = match Request::decode(&body) {
                Err(e) => Reply::Refused { why: e.to_string() },
                Ok(Request::TaskHello { pid, euid, name }) if task.is_none() => {
                    let id = self
                        .kernel
                        .spawn_named_task(euid, &format!("{name}[{pid}]"));
                    let t = Arc::new(Task {
                        id,
                        space: Mutex::default(),
                        open_lock: Mutex::default(),
                    });
                    let token = u64::from(id.raw());
                    lock(&self.tasks).insert(token, t.clone());
                    self.note_change();
                    task = Some(t);
                    is_task_socket = true;
                    Reply::Task { task: token }
                }
                Ok(Request::ThreadHello { task: token }) if task.is_none() => {
                    match lock(&self.tasks).get(&token) {
                        Some(t) => {
                            task = Some(t.clone());
                            Reply::Done
                        }
                        None => Reply::Refused {
                            why: format!("no task {token}"),
                        },
                    }
                }
                Ok(request) => self.serve_request(task.as_deref(), request),
            };
            if wire::write_frame(&mut stream, &reply.encode()).is_err() {
                break;
            }
        }
        if let (true, Some(t)) = (is_task_socket, task) {
            let token = u64::from(t.id.raw());
            lock(&self.tasks).remove(&token);
            self.task_died(&t);
            self.note_change();
        }
    }

    /// The process died: every right in its space goes back, then the task (its connections'
    /// last send rights: clientDied).
    fn task_died(&self, task: &Task) {
        let released = lock(&task.space).terminate();
        for r in released {
            if let Released::ObjectSendRight(port) = r {
                self.kernel.object_port_release_send(port);
            }
        }
        self.kernel.kill_task(task.id);
    }

    fn serve_request(&self, task: Option<&Task>, request: Request) -> Reply {
        match (request, task) {
            (Request::KextTool { argv, euid }, _) => {
                let out = tools::run(self.kernel, self.kext, &argv, euid);
                Reply::Tool {
                    status: out.status,
                    stdout: out.stdout,
                    stderr: out.stderr,
                }
            }
            (Request::Status, _) => Reply::Status(wire::Status {
                kext_loaded: self.kernel.bundle_loaded(self.kext.bundle_id),
                service_instances: self.kernel.instance_count(self.kext.service_class),
                user_client_instances: self.kernel.instance_count(self.kext.user_client_class),
                object_ports: self.kernel.object_port_count(),
                tasks: lock(&self.tasks).len() as u32,
                violations: self
                    .kernel
                    .violations()
                    .iter()
                    .map(|v| v.to_string())
                    .collect(),
            }),
            (request, None) => Reply::Refused {
                why: format!("{request:?} from a socket that is no task's"),
            },
            (Request::GetMatchingService { class }, Some(t)) => {
                self.get_matching_service(t, &class)
            }
            (
                Request::ServiceOpen {
                    service,
                    owning_task,
                    connect_type,
                    euid,
                },
                Some(t),
            ) => self.service_open(t, service, owning_task, connect_type, euid),
            (Request::ServiceClose { connection }, Some(t)) => self.service_close(t, connection),
            (Request::PortDeallocate { name }, Some(t)) => self.port_deallocate(t, name),
            (Request::GetProperties { entry }, Some(t)) => self.get_properties(t, entry),
            (Request::SetProperties { entry, keys, euid }, Some(t)) => {
                self.set_properties(t, entry, keys, euid)
            }
            (Request::SleepKernelTime { ns }, Some(_)) => {
                let until = self.kernel.now() + Duration::from_nanos(ns);
                while self.kernel.now() < until {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Reply::Done
            }
            (Request::ConnectMethod(m), Some(t)) => Reply::Method(self.connect_method(t, &m)),
            (Request::Fileop { action, args }, Some(_)) => {
                let args = args.map(|a| a.into());
                let borrowed = [
                    as_sim(&args[0]),
                    as_sim(&args[1]),
                    as_sim(&args[2]),
                    as_sim(&args[3]),
                ];
                Reply::Fileop {
                    listeners: self.kernel.fileop_args(action as u32, borrowed),
                }
            }
            (request @ (Request::TaskHello { .. } | Request::ThreadHello { .. }), Some(_)) => {
                Reply::Refused {
                    why: format!("{request:?} on a socket that already has a task"),
                }
            }
        }
    }

    /// io_service_get_matching_service_bin: the service's port, received into the task's space.
    fn get_matching_service(&self, task: &Task, class: &str) -> Reply {
        match self.kernel.object_port_matching_service(class) {
            Ok(port) => match lock(&task.space).receive_object(port) {
                Some((name, merged)) => {
                    if merged {
                        // Copied out onto a name that already holds a send right: they merge.
                        self.kernel.object_port_release_send(port);
                    }
                    Reply::Service {
                        kr: KERN_SUCCESS,
                        name,
                    }
                }
                None => {
                    // The process died during the call: the reply's right dies with it.
                    self.kernel.object_port_release_send(port);
                    Reply::Service {
                        kr: MACH_SEND_INVALID_DEST,
                        name: 0,
                    }
                }
            },
            Err(kr) => Reply::Service { kr, name: 0 },
        }
    }

    /// io_service_open_extended (is_io_service_open_extended).
    fn service_open(
        &self,
        task: &Task,
        service: u32,
        owning_task: u32,
        connect_type: u32,
        euid: u32,
    ) -> Reply {
        let fail = |kr| Reply::Open {
            kr,
            result: 0,
            connection: 0,
        };
        let (dest, owner) = {
            let space = lock(&task.space);
            (space.get(service), space.get(owning_task))
        };
        // mach_msg: the destination, then the task port right in the body.
        let dest = match dest {
            None | Some(Right::Dead { .. }) => return fail(MACH_SEND_INVALID_DEST),
            Some(right) => right,
        };
        let owner_is_task = match (owning_task, owner) {
            (0, _) => false, // MACH_PORT_NULL: the routine gets TASK_NULL
            (_, None | Some(Right::Dead { .. })) => return fail(MACH_SEND_INVALID_RIGHT),
            (_, Some(Right::TaskSelf)) => true,
            (_, Some(_)) => false, // convert_port_to_task of another port: TASK_NULL
        };
        // CHECK(IOService, _service, service): intran of a port of another kind gives NULL.
        let Right::Object { port, .. } = dest else {
            return fail(kIOReturnBadArgument);
        };
        // if (!owningTask) return kIOReturnBadArgument;
        if !owner_is_task {
            return fail(kIOReturnBadArgument);
        }
        let _one_open = lock(&task.open_lock);
        self.kernel.set_task_euid(task.id, euid);
        match self.kernel.object_port_open(port, task.id, connect_type) {
            Ok(connection) => Reply::Open {
                kr: KERN_SUCCESS,
                result: kIOReturnSuccess,
                connection: lock(&task.space).receive_connection(connection),
            },
            Err(MACH_SEND_INVALID_DEST) => {
                // The service was terminated: its port was destroyed, the name is dead.
                lock(&task.space).mark_dead(service);
                fail(MACH_SEND_INVALID_DEST)
            }
            // The routine ran: "*connection = client (NULL); *result = res; return err;".
            Err(result) => Reply::Open {
                kr: KERN_SUCCESS,
                result,
                connection: 0,
            },
        }
    }

    /// io_service_close (is_io_service_close): clientClose at most once, then success. The
    /// model's close also drops the connection's send right (the IOObjectRelease that follows in
    /// IOServiceClose): the name is left as a dead name for that release.
    fn service_close(&self, task: &Task, name: u32) -> Reply {
        let right = lock(&task.space).get(name);
        let kr = match right {
            None | Some(Right::Dead { .. }) => MACH_SEND_INVALID_DEST,
            Some(Right::TaskSelf | Right::Object { .. }) => kIOReturnBadArgument,
            Some(Right::Connect { connection, .. }) => {
                let kr = self.kernel.close(connection);
                lock(&task.space).mark_dead(name);
                kr
            }
        };
        Reply::Code { kr }
    }

    /// io_registry_entry_set_properties (is_io_registry_entry_set_properties): `CHECK(
    /// IORegistryEntry)`, then the entry's `setProperties`. IOResources's (xnu IOService.cpp
    /// `IOResources::setProperties`): an administrator only (`clientHasPrivilege`, euid 0;
    /// the `kIOResourcesSetPropertyKey` entitlement is not modelled), a dictionary only, and
    /// each key published as a resource (`publishResource`: IOResources is matched again). Any
    /// other entry of the model keeps `IORegistryEntry::setProperties`: `kIOReturnUnsupported`.
    /// The routine returns success with the result (it ran past `vm_map_copyout`).
    fn set_properties(
        &self,
        task: &Task,
        entry: u32,
        keys: Option<Vec<String>>,
        euid: u32,
    ) -> Reply {
        let answer = |kr, result| Reply::Open {
            kr,
            result,
            connection: 0,
        };
        let port = match lock(&task.space).get(entry) {
            None | Some(Right::Dead { .. }) => return answer(MACH_SEND_INVALID_DEST, 0),
            Some(Right::TaskSelf | Right::Connect { .. }) => {
                return answer(kIOReturnBadArgument, 0)
            }
            Some(Right::Object { port, .. }) => port,
        };
        let Some(class) = self.kernel.object_port_class(port) else {
            lock(&task.space).mark_dead(entry);
            return answer(MACH_SEND_INVALID_DEST, 0);
        };
        let result = if class != "IOResources" {
            kIOReturnUnsupported
        } else if euid != 0 {
            kIOReturnNotPrivileged
        } else if let Some(keys) = keys {
            for key in keys {
                self.kernel.publish_resource(&key);
            }
            kIOReturnSuccess
        } else {
            kIOReturnBadArgument
        };
        answer(KERN_SUCCESS, result)
    }

    /// io_registry_entry_get_properties_bin on the entry's port: the kernel's serialization of
    /// `serializeProperties` (xnu_sim::Kernel::object_port_properties), as the reply carries it.
    fn get_properties(&self, task: &Task, entry: u32) -> Reply {
        let answer = |kr, properties| Reply::Properties { kr, properties };
        let port = match lock(&task.space).get(entry) {
            None | Some(Right::Dead { .. }) => return answer(MACH_SEND_INVALID_DEST, None),
            Some(Right::TaskSelf) => return answer(kIOReturnBadArgument, None),
            // An io_connect_t is an io_object_t too; the model's connections publish nothing.
            Some(Right::Connect { .. }) => return answer(kIOReturnBadArgument, None),
            Some(Right::Object { port, .. }) => port,
        };
        match self.kernel.object_port_properties(port) {
            Ok(value) => answer(KERN_SUCCESS, Some(to_wire(value))),
            Err(code) if code == MACH_SEND_INVALID_DEST => {
                lock(&task.space).mark_dead(entry);
                answer(code, None)
            }
            Err(code) => answer(code, None),
        }
    }

    fn port_deallocate(&self, task: &Task, name: u32) -> Reply {
        let released = lock(&task.space).deallocate(name);
        match released {
            Ok(Released::ObjectSendRight(port)) => self.kernel.object_port_release_send(port),
            Ok(Released::ConnectionSendRight(connection)) => {
                self.kernel.deallocate_connection(connection);
            }
            Ok(Released::Nothing) | Err(_) => {}
        }
        Reply::Code {
            kr: released.err().unwrap_or(KERN_SUCCESS),
        }
    }

    /// io_connect_method: the MIG server stub, then is_io_connect_method.
    fn connect_method(&self, task: &Task, m: &MethodRequest) -> MethodReply {
        let error = |kr| MethodReply { kr, outputs: None };
        let connection = match lock(&task.space).get(m.connection) {
            None | Some(Right::Dead { .. }) => return error(MACH_SEND_INVALID_DEST),
            Some(Right::TaskSelf | Right::Object { .. }) => return error(kIOReturnBadArgument),
            Some(Right::Connect { connection, .. }) => connection,
        };
        // __MIG_check__Request: arrays over their declared maximum.
        if m.scalar_input.len() > IO_SCALAR_INBAND_MAX as usize
            || m.inband_input.len() > IO_STRUCT_INBAND_MAX
        {
            return error(MIG_BAD_ARGUMENTS);
        }
        // The server stub starts each in-out count at min(request, maximum).
        let inband_capacity = m.inband_output_count.min(IO_STRUCT_INBAND_MAX as u32);
        let scalar_capacity = m.scalar_output_count.min(IO_SCALAR_INBAND_MAX);
        // is_io_connect_method: "if (ool_input && (ool_input_size <= sizeof(io_struct_inband_t)))
        // return kIOReturnIPCError;", and for ool_output the size must exceed the inband maximum
        // and fit in 32 bits.
        if m.ool_input
            .as_ref()
            .is_some_and(|b| b.len() <= IO_STRUCT_INBAND_MAX)
        {
            return error(kIOReturnIPCError);
        }
        if m.ool_output
            && (m.ool_output_size <= IO_STRUCT_INBAND_MAX as u64
                || m.ool_output_size > u64::from(u32::MAX))
        {
            return error(kIOReturnIPCError);
        }
        if (m.ool_input.is_some() && !m.inband_input.is_empty())
            || (m.ool_output && inband_capacity > 0)
        {
            // Inband and out-of-line together: IOConnectCallMethod never sends it, and the
            // model's call path takes one or the other.
            return error(MIG_BAD_ARGUMENTS);
        }
        let struct_input = m.ool_input.as_deref().unwrap_or(&m.inband_input);
        let capacity = if m.ool_output {
            m.ool_output_size as u32
        } else {
            inband_capacity
        };
        match self.kernel.call(
            connection,
            m.selector,
            &m.scalar_input,
            struct_input,
            scalar_capacity,
            capacity,
        ) {
            Ok(out) => {
                let outputs = if m.ool_output {
                    MethodOutputs {
                        inband_output: Vec::new(),
                        scalar_output: out.scalars,
                        ool_output_size: out.bytes.len() as u64,
                        ool_output: out.bytes,
                    }
                } else {
                    // *ool_output_size = args.structureOutputDescriptorSize: left as it came.
                    MethodOutputs {
                        inband_output: out.bytes,
                        scalar_output: out.scalars,
                        ool_output_size: m.ool_output_size,
                        ool_output: Vec::new(),
                    }
                };
                MethodReply {
                    kr: KERN_SUCCESS,
                    outputs: Some(outputs),
                }
            }
            Err(MACH_SEND_INVALID_DEST) => {
                // The connection's port was destroyed (its client terminated with the provider).
                lock(&task.space).mark_dead(m.connection);
                error(MACH_SEND_INVALID_DEST)
            }
            Err(kr) => error(kr),
        }
    }
}

/// A FILEOP argument as the model takes it (paths stay owned by the caller).
enum OwnedArg {
    Path(String),
    Value(usize),
}

impl From<FileopArg> for OwnedArg {
    fn from(a: FileopArg) -> Self {
        match a {
            FileopArg::Path(p) => OwnedArg::Path(p),
            FileopArg::Value(v) => OwnedArg::Value(v as usize),
        }
    }
}

fn as_sim(a: &OwnedArg) -> xnu_sim::FileopArg<'_> {
    match a {
        OwnedArg::Path(p) => xnu_sim::FileopArg::Path(p),
        OwnedArg::Value(v) => xnu_sim::FileopArg::Value(*v),
    }
}

/// The kernel's rebuilt properties as the reply carries them.
fn to_wire(value: xnu_sim::RegistryValue) -> wire::Value {
    match value {
        xnu_sim::RegistryValue::String(s) => wire::Value::String(s),
        xnu_sim::RegistryValue::Number(n) => wire::Value::Number(n),
        xnu_sim::RegistryValue::Bool(b) => wire::Value::Bool(b),
        xnu_sim::RegistryValue::Dictionary(entries) => {
            wire::Value::Dictionary(entries.into_iter().map(|(k, v)| (k, to_wire(v))).collect())
        }
    }
}
