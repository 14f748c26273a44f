//! The `wprobe` command.

mod cli;
mod serve;

fn main() -> std::process::ExitCode {
    cli::main()
}
