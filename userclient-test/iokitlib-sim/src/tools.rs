//! The kext tools on the simulated machine: the server's tools directory holds `kmutil`,
//! `kextunload` and `kextstat` as links to the server's executable, which calls [`main`] when it
//! is started under one of these names. The tool asks the simulated kernel (the server composes
//! the answer, see `server::tools`) and prints it as the real tool does, with its exit status.

use crate::client::{self, SOCKET_ENV};
use crate::wire::{Reply, Request};
use std::ffi::OsStr;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The names the tools directory provides.
pub const TOOL_NAMES: [&str; 3] = ["kmutil", "kextunload", "kextstat"];

/// `sysexits.h` `EX_UNAVAILABLE`: no simulated kernel to ask.
const EX_UNAVAILABLE: i32 = 69;

/// The tool `argv0` names, if it is one of [`TOOL_NAMES`].
pub fn tool_name(argv0: &OsStr) -> Option<&'static str> {
    let name = Path::new(argv0).file_name()?;
    TOOL_NAMES.iter().copied().find(|t| OsStr::new(t) == name)
}

/// Runs the tool `argv[0]` names with `argv[1..]`; prints its output; returns its exit status.
pub fn main(argv: Vec<String>) -> i32 {
    let tool = argv
        .first()
        .and_then(|a| tool_name(OsStr::new(a)))
        .unwrap_or("kmutil");
    let Some(socket) = std::env::var_os(SOCKET_ENV) else {
        eprintln!("{tool} (xnu-sim stand-in): no simulated kernel: {SOCKET_ENV} is not set");
        return EX_UNAVAILABLE;
    };
    let answer = UnixStream::connect(&socket)
        .map_err(|e| format!("connecting to {}: {e}", Path::new(&socket).display()))
        .and_then(|mut stream| {
            let request = Request::KextTool {
                argv,
                euid: client::current_euid(),
            };
            client::exchange(&mut stream, &request)
        });
    match answer {
        Ok(Reply::Tool {
            status,
            stdout,
            stderr,
        }) => {
            print!("{stdout}");
            eprint!("{stderr}");
            status
        }
        Ok(other) => {
            eprintln!("{tool} (xnu-sim stand-in): unexpected answer {other:?}");
            EX_UNAVAILABLE
        }
        Err(why) => {
            eprintln!("{tool} (xnu-sim stand-in): {why}");
            EX_UNAVAILABLE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_recognised_by_their_file_name() {
        assert_eq!(tool_name(OsStr::new("/tmp/x/bin/kmutil")), Some("kmutil"));
        assert_eq!(tool_name(OsStr::new("kextstat")), Some("kextstat"));
        assert_eq!(tool_name(OsStr::new("/usr/bin/userclient-test")), None);
        assert_eq!(tool_name(OsStr::new("kmutil-old")), None);
    }
}
