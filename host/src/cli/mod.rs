//! Command-line front end: parsing, and turning library errors into messages and exit codes.

mod compile;
mod discover;
mod handler_opts;
mod probes;
mod replay;
mod run;

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
    /// List probeable kernel functions, or a binary's functions (PATH[:GLOB]).
    List(discover::ListArgs),
    /// Report what this kernel and these privileges support.
    Check,
    /// Compile handlers into the cache ahead of their first run.
    Compile(compile::Args),
    #[command(name = compile::CHILD_SUBCOMMAND, hide = true)]
    CompileChild(compile::ChildArgs),
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
        Command::Compile(args) => compile::run(args),
        Command::CompileChild(args) => compile::child(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wprobe: error: {e:#}");
            ExitCode::from(FAILURE)
        }
    }
}
