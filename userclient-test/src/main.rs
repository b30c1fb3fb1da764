//! The `userclient-test` command line. Its modules (`src/cli/`) belong to this binary, not to the
//! library: arguments, output (text, JSON), the commands and the simulator session.

mod cli;

use std::process::ExitCode;

/// Started as `kmutil`/`kextunload`/`kextstat` (the simulated kernel's tools directory links them
/// here), or with the hidden server subcommand: not the harness's command line.
fn dispatch_simulator_roles() -> Option<ExitCode> {
    let mut args = std::env::args_os();
    let argv0 = args.next()?;
    if iokitlib_sim::tools::tool_name(&argv0).is_some() {
        let argv = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let status = iokitlib_sim::tools::main(argv);
        return Some(ExitCode::from(u8::try_from(status).unwrap_or(1)));
    }
    if args.next()? != iokitlib_sim::client::SERVER_SUBCOMMAND {
        return None;
    }
    let rest: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    #[cfg(feature = "sim")]
    let status = iokitlib_sim::server::main(&rest);
    #[cfg(not(feature = "sim"))]
    let status = {
        let _ = rest;
        eprintln!("userclient-test: built without the `sim` feature: no simulated kernel");
        1
    };
    Some(ExitCode::from(u8::try_from(status).unwrap_or(1)))
}

fn main() -> ExitCode {
    if let Some(code) = dispatch_simulator_roles() {
        return code;
    }
    ExitCode::from(cli::main().code())
}
