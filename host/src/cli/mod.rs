//! Command-line front end: parsing, and turning library errors into messages and exit codes.

mod discover;
mod handler_opts;
mod probes;
mod replay;
mod run;
mod tracepoints;

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
    /// Attach probes and run a handler on every event.
    Run(run::RunArgs),
    /// Attach probes and write their events to a file, for `wprobe replay`.
    Record(run::RecordArgs),
    /// Run a handler over a recorded events file (no privileges needed).
    Replay(replay::Args),
    /// List probe points (kernel functions, or a binary's with PATH[:GLOB]) as `run` takes them.
    List(discover::ListArgs),
    /// Report what this kernel and these privileges support.
    Check,
}

/// Exit status for a handler that failed or a run that could not start.
const FAILURE: u8 = 1;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Record(args) => run::record(args),
        Command::Replay(args) => replay::run(args),
        Command::List(args) => discover::list(args),
        Command::Check => discover::check(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wprobe: error: {e:#}");
            ExitCode::from(FAILURE)
        }
    }
}
