//! `execcount`: ExecCount's command line, over its generated client. It runs ExecCount on the
//! simulator in this process (boot, load, open as root). On a Mac the same generated client would
//! take a `Transport` over IOKit.framework (`IOServiceOpen` on `SERVICE_CLASS`,
//! `IOConnectCallMethod`), as userclient-test's iokit backend has; the framework does not
//! generate one yet.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use execcount_api::ExecCountClient;
use execcount_kext::IDENTITY;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "execcount", about = "ExecCount on the simulator")]
struct Cli {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let kernel = xnu_sim::Kernel::boot();
    if let Err(code) = rustkext_sim::load(&kernel, &IDENTITY) {
        eprintln!("kextload refused: {code:#010x}");
        return ExitCode::FAILURE;
    }
    let connection = match rustkext_sim::connect(&kernel, &IDENTITY, rustkext_sim::ROOT) {
        Ok(c) => c,
        Err(code) => {
            eprintln!("IOServiceOpen({}) refused: {code:#010x}", IDENTITY.service_class);
            return ExitCode::FAILURE;
        }
    };
    let client = match ExecCountClient::open(connection) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Status => client.exec_count().map(|n| {
            println!("{} ({}): loaded, service {}, {n} execs", IDENTITY.name, IDENTITY.bundle_id, IDENTITY.service_class)
        }),
        Command::Ping { value } => client.ping(value).map(|answer| println!("Ping({value}) = {answer}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
