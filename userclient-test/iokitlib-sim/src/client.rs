//! This process's link to the simulated kernel: one task, a socket per thread.
//!
//! Which kernel: the one [`attach`] named, else `XNU_SIM_SOCKET`, else a new one: the server
//! (`XNU_SIM_SERVER`, or this executable, with the hidden subcommand [`SERVER_SUBCOMMAND`]) is
//! started, and `XNU_SIM_SOCKET` and `PATH` (the kext tools' directory first) are set in this
//! process's environment so that every process it starts reaches the same kernel and finds the
//! same `kmutil`.

use crate::wire::{self, Reply, Request};
use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The kernel server's socket.
pub const SOCKET_ENV: &str = "XNU_SIM_SOCKET";
/// The directory of the kext tool stand-ins (`kmutil`, `kextunload`, `kextstat`).
pub const TOOLS_ENV: &str = "XNU_SIM_TOOLS";
/// The executable that serves the kernel (default: this one).
pub const SERVER_ENV: &str = "XNU_SIM_SERVER";
/// Set (to anything) to see the server's stderr (the model's `XNU_SIM_LOG` echo included).
pub const LOG_ENV: &str = "XNU_SIM_LOG";
/// The hidden subcommand that runs the server.
pub const SERVER_SUBCOMMAND: &str = "__xnu-sim-server";

struct Session {
    socket: PathBuf,
    task: u64,
    /// Open for the life of the process: its end of file is the task's death.
    _task_socket: UnixStream,
}

static ATTACHED: Mutex<Option<PathBuf>> = Mutex::new(None);
static SESSION: Mutex<Option<&'static Session>> = Mutex::new(None);

thread_local! {
    /// This thread's socket and the task it was opened for.
    static CHANNEL: RefCell<Option<(u64, UnixStream)>> = const { RefCell::new(None) };
}

/// Uses the kernel server at `socket` from now on (before this process's first IOKit call).
pub fn attach(socket: &Path) -> Result<(), String> {
    let session = SESSION.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = *session {
        if s.socket != socket {
            return Err(format!(
                "already attached to the kernel at {}",
                s.socket.display()
            ));
        }
    }
    *ATTACHED.lock().unwrap_or_else(|e| e.into_inner()) = Some(socket.to_path_buf());
    Ok(())
}

/// Makes sure this process is a task of a simulated kernel (starting one if none is named);
/// returns its socket.
pub fn ensure_kernel() -> Result<PathBuf, String> {
    session().map(|s| s.socket.clone())
}

fn session() -> Result<&'static Session, String> {
    let mut session = SESSION.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = *session {
        return Ok(s);
    }
    let attached = ATTACHED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let socket = match attached.or_else(|| std::env::var_os(SOCKET_ENV).map(PathBuf::from)) {
        Some(socket) => socket,
        None => start_server()?,
    };
    let mut stream = UnixStream::connect(&socket).map_err(|e| {
        format!(
            "connecting to the simulated kernel at {}: {e}",
            socket.display()
        )
    })?;
    let hello = Request::TaskHello {
        pid: std::process::id(),
        euid: current_euid(),
        name: process_name(),
    };
    let task = match exchange(&mut stream, &hello)? {
        Reply::Task { task } => task,
        other => return Err(format!("TaskHello answered {other:?}")),
    };
    let s: &'static Session = Box::leak(Box::new(Session {
        socket,
        task,
        _task_socket: stream,
    }));
    *session = Some(s);
    Ok(s)
}

/// This process's effective uid.
pub fn current_euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn process_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "task".into())
}

/// Starts a kernel server and points this process (and its children) at it.
fn start_server() -> Result<PathBuf, String> {
    let exe = match std::env::var_os(SERVER_ENV) {
        Some(exe) => PathBuf::from(exe),
        None => std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?,
    };
    let handshake = spawn_server(&exe, &[])?;
    std::env::set_var(SOCKET_ENV, &handshake.socket);
    std::env::set_var(TOOLS_ENV, &handshake.tools);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(handshake.tools.clone()).chain(std::env::split_paths(&path));
    let joined = std::env::join_paths(dirs).map_err(|e| format!("PATH: {e}"))?;
    std::env::set_var("PATH", joined);
    Ok(handshake.socket)
}

/// Starts `exe SERVER_SUBCOMMAND args…` and waits for its handshake. The server outlives this
/// call (it is not waited for): it exits once its last task is gone.
pub fn spawn_server(exe: &Path, args: &[&str]) -> Result<Handshake, String> {
    let stderr = if std::env::var_os(LOG_ENV).is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    };
    let mut child = Command::new(exe)
        .arg(SERVER_SUBCOMMAND)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("starting the simulated kernel ({}): {e}", exe.display()))?;
    let stdout = child.stdout.take().ok_or("the server has no stdout")?;
    read_handshake(BufReader::new(stdout)).map_err(|e| {
        format!(
            "the simulated kernel ({}) did not start: {e}",
            exe.display()
        )
    })
}

/// What the server prints when it is ready: `XNU_SIM_SOCKET=…`, `XNU_SIM_TOOLS=…`, `READY`.
#[derive(Debug, PartialEq, Eq)]
pub struct Handshake {
    pub socket: PathBuf,
    pub tools: PathBuf,
}

/// Reads the server's handshake.
pub fn read_handshake(reader: impl BufRead) -> Result<Handshake, String> {
    let (mut socket, mut tools) = (None, None);
    for line in reader.lines() {
        let line = line.map_err(|e| e.to_string())?;
        if line == "READY" {
            return match (socket, tools) {
                (Some(socket), Some(tools)) => Ok(Handshake { socket, tools }),
                _ => Err("READY before the socket and tools were named".into()),
            };
        }
        if let Some(v) = line.strip_prefix(&format!("{SOCKET_ENV}=")) {
            socket = Some(PathBuf::from(v));
        } else if let Some(v) = line.strip_prefix(&format!("{TOOLS_ENV}=")) {
            tools = Some(PathBuf::from(v));
        } else {
            return Err(format!("unexpected line {line:?}"));
        }
    }
    Err("end of output before READY".into())
}

/// One request and its reply on `stream`.
pub fn exchange(stream: &mut UnixStream, request: &Request) -> Result<Reply, String> {
    wire::write_frame(stream, &request.encode()).map_err(|e| format!("sending: {e}"))?;
    let body = wire::read_frame(stream)
        .map_err(|e| format!("receiving: {e}"))?
        .ok_or("the simulated kernel closed the connection")?;
    Reply::decode(&body).map_err(|e| e.to_string())
}

/// Sends `request` on this thread's socket for this process's task.
pub fn call(request: &Request) -> Result<Reply, String> {
    let task = session()?.task;
    CHANNEL.with(|channel| {
        let mut channel = channel.borrow_mut();
        if !matches!(&*channel, Some((t, _)) if *t == task) {
            let socket = session()?.socket.clone();
            let mut stream = UnixStream::connect(&socket).map_err(|e| {
                format!(
                    "connecting to the simulated kernel at {}: {e}",
                    socket.display()
                )
            })?;
            match exchange(&mut stream, &Request::ThreadHello { task })? {
                Reply::Done => {}
                other => return Err(format!("ThreadHello answered {other:?}")),
            }
            *channel = Some((task, stream));
        }
        let (_, stream) = channel.as_mut().ok_or("no channel")?;
        let reply = exchange(stream, request);
        if reply.is_err() {
            *channel = None;
        }
        reply
    })
}

/// [`call`], for IOKit functions: a kernel that went away is fatal, as it would be on a Mac.
pub fn kernel_call(request: &Request) -> Reply {
    match call(request) {
        Ok(Reply::Refused { why }) => {
            fatal(&format!("the simulated kernel refused {request:?}: {why}"))
        }
        Ok(reply) => reply,
        Err(why) => fatal(&why),
    }
}

/// Ends the process: the stand-in cannot go on (the kernel is gone, or the call would fault on
/// macOS, or it is not modelled).
pub fn fatal(why: &str) -> ! {
    eprintln!("iokitlib-sim: {why}");
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_is_read_in_any_order_and_needs_both_paths() {
        let text = "XNU_SIM_TOOLS=/t/bin\nXNU_SIM_SOCKET=/t/kernel.sock\nREADY\nignored\n";
        assert_eq!(
            read_handshake(text.as_bytes()),
            Ok(Handshake {
                socket: "/t/kernel.sock".into(),
                tools: "/t/bin".into()
            })
        );
        assert!(read_handshake("XNU_SIM_SOCKET=/s\nREADY\n".as_bytes()).is_err());
        assert!(read_handshake("XNU_SIM_SOCKET=/s\n".as_bytes()).is_err());
        assert!(read_handshake("hello\nREADY\n".as_bytes()).is_err());
    }
}
