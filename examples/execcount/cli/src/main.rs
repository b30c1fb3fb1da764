//! `execcount`: ExecCount's command line, over its generated client. By default it runs
//! ExecCount on the simulator in this process (boot, load, open as root). With `--iokit` the same
//! client goes through IOKit.framework (`rustkext_iokit::Connection`: `IOServiceOpen` on the
//! service class, `IOConnectCallMethod`): on a Mac, the loaded kext; elsewhere the IOKitLib
//! stand-in, with ExecCount loaded on a simulated kernel in another process, which this
//! executable serves (the hidden subcommand below).
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use execcount_api::ExecCountClient;
use execcount_kext::IDENTITY;
use rustkext_abi::client::{Error, Transport};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "execcount",
    about = "ExecCount's command line (on the simulator, or through IOKit.framework)"
)]
struct Cli {
    /// Through IOKit.framework: the loaded kext on macOS; elsewhere the IOKitLib stand-in with
    /// ExecCount on a simulated kernel in another process
    #[arg(long)]
    iokit: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Loaded, its service, the events counted
    Status,
    /// The kext answers VALUE + 1
    Ping {
        #[arg(default_value_t = 1)]
        value: u64,
    },
}

fn run<T: Transport>(client: &ExecCountClient<T>, command: Command) -> Result<(), Error> {
    match command {
        Command::Status => client.exec_count().map(|n| {
            println!(
                "{} ({}): loaded, service {}, {n} execs",
                IDENTITY.name, IDENTITY.bundle_id, IDENTITY.service_class
            )
        }),
        Command::Ping { value } => client
            .ping(value)
            .map(|answer| println!("Ping({value}) = {answer}")),
    }
}

/// Opens the client over `connection` and runs the command.
fn with_client<T: Transport>(connection: Result<T, i32>, command: Command) -> ExitCode {
    let connection = match connection {
        Ok(c) => c,
        Err(code) => {
            eprintln!(
                "IOServiceOpen({}) refused: {code:#010x}",
                IDENTITY.service_class
            );
            return ExitCode::FAILURE;
        }
    };
    let result = ExecCountClient::open(connection).and_then(|client| run(&client, command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Off macOS, `--iokit`'s first call starts this executable as the simulated kernel's server,
/// which loads ExecCount.
#[cfg(not(target_os = "macos"))]
fn serve_kernel() -> Option<ExitCode> {
    let mut args = std::env::args().skip(1);
    if args.next()? != iokitlib_sim::client::SERVER_SUBCOMMAND {
        return None;
    }
    let rest: Vec<String> = args.collect();
    let status = iokitlib_sim::server::main(&IDENTITY, &rest);
    Some(ExitCode::from(u8::try_from(status).unwrap_or(1)))
}

fn main() -> ExitCode {
    #[cfg(not(target_os = "macos"))]
    if let Some(code) = serve_kernel() {
        return code;
    }
    let cli = Cli::parse();
    if cli.iokit {
        return with_client(
            rustkext_iokit::Connection::open(IDENTITY.service_class),
            cli.command,
        );
    }
    let kernel = xnu_sim::Kernel::boot();
    if let Err(code) = rustkext_sim::load(&kernel, &IDENTITY) {
        eprintln!("kextload refused: {code:#010x}");
        return ExitCode::FAILURE;
    }
    with_client(
        rustkext_sim::connect(&kernel, &IDENTITY, rustkext_sim::ROOT),
        cli.command,
    )
}
