//! Command-line front end: parsing, and turning library errors into messages and exit codes.

mod handler_opts;
mod replay;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "wprobe",
    version,
    about = "Kernel and user-space probes with sandboxed WebAssembly handlers",
    long_about = "wprobe attaches kprobes, kretprobes and uprobes, snapshots the registers at every hit, \
                  and runs a WebAssembly component handler on each event, in a sandbox with no ambient authority."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a handler over a recorded events file (no privileges needed).
    Replay(replay::Args),
}

/// Exit status for a handler that failed or a run that could not start.
const FAILURE: u8 = 1;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => replay::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wprobe: error: {e:#}");
            ExitCode::from(FAILURE)
        }
    }
}
