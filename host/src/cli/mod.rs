//! Command-line front end: parsing, and turning library errors into messages and exit codes.

mod compile;
mod connect;
mod discover;
mod handler_opts;
mod new;
mod probes;
mod replay;
mod run;
mod script;
mod tracepoints;

pub(crate) use compile::CHILD_SUBCOMMAND;
pub(crate) use handler_opts::parse_size;
pub(crate) use probes::ProbeArgs;
pub(crate) use run::DEFAULT_SOCKET;

use clap::{Parser, Subcommand};
use std::io::Write;
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
    ///
    /// Stops on Ctrl-C or SIGTERM (after the handler call in progress; the end hook runs),
    /// exit(), --duration, --max-events, the end of -c CMD or of --pid's process. A second
    /// Ctrl-C stops at once, skipping the end hook. However the run stops, --record leaves a
    /// complete events file.
    #[command(after_long_help = TOOLS)]
    Run(Box<run::RunArgs>),
    /// Attach probes and write their events to a file, for `wprobe replay`.
    Record(run::RecordArgs),
    /// Run a handler over a recorded events file (no privileges needed).
    Replay(replay::Args),
    /// List probe points (kernel functions, or a binary's with PATH[:GLOB]) as `run` takes them.
    List(discover::ListArgs),
    /// Report what this kernel and these privileges support.
    Check,
    /// Compile handlers into the cache ahead of their first run.
    Compile(compile::Args),
    /// Write a ready handler project (Rust, C, Python or JavaScript) that builds with one command.
    New(new::Args),
    /// Serve tenants: run their handlers on their own processes, without root, under a policy.
    Serve(crate::serve::ServeArgs),
    /// List the sessions of a `wprobe serve` daemon (yours; all of them for admins).
    Sessions(connect::SessionsArgs),
    /// Stop a session of a `wprobe serve` daemon, as Ctrl-C would.
    Stop(connect::StopArgs),
    /// Replace a running session's handler without detaching its probes or losing events:
    /// the old handler's end hook runs, then the new one's init, between two batches.
    Swap(connect::SwapArgs),
    #[command(name = compile::CHILD_SUBCOMMAND, hide = true)]
    CompileChild(compile::ChildArgs),
}

/// `wprobe run --help`'s tail: the classic tools (`cargo xtask handlers` builds them into
/// target/handlers/) next to their bpftrace and BCC spellings.
const TOOLS: &str = "\
The classic tools (target/handlers/TOOL.wasm), with bpftrace's and BCC's spelling:
  opensnoop    wprobe run opensnoop.wasm --syscall openat --syscall-return openat
               bpftrace -e 'tracepoint:syscalls:sys_enter_openat { printf(\"%d %s %s\\n\", pid, comm, str(args.filename)) }'
               BCC: opensnoop
  execsnoop    wprobe run execsnoop.wasm --tracepoint sched:sched_process_exec
               bpftrace -e 'tracepoint:sched:sched_process_exec { printf(\"%d %s\\n\", pid, str(args.filename)) }'
               BCC: execsnoop
  syscount     wprobe run syscount.wasm --tracepoint raw_syscalls:sys_enter --arg interval=1 [-c CMD | --pid PID]
               bpftrace -e 'tracepoint:raw_syscalls:sys_enter { @[args.id] = count(); } interval:s:1 { print(@, 10); clear(@); }'
               BCC: syscount -i 1 [-p PID]
  funclatency  wprobe run funclatency.wasm --uretprobe /bin/bash:readline --arg interval=1
               bpftrace -e 'uprobe:/bin/bash:readline { @s[tid] = nsecs } uretprobe:/bin/bash:readline /@s[tid]/ { @ns = hist(nsecs - @s[tid]); delete(@s[tid]) }'
               BCC: funclatency /bin/bash:readline
  tcpconnect   wprobe run tcpconnect.wasm --kprobe tcp_v4_connect
               bpftrace -e 'kprobe:tcp_v4_connect { … ntop(((struct sockaddr_in *)arg1)->sin_addr.s_addr) … }'
               BCC: tcpconnect
  fieldhist    wprobe run fieldhist.wasm --tracepoint syscalls:sys_enter_read --arg field=count [--arg lhist=0,4096,512]
               bpftrace -e 'tracepoint:syscalls:sys_enter_read { @count = hist(args.count); }'
               BCC: argdist -H 't:syscalls:sys_enter_read():u64:args->count'
Timers: a handler asks for a tick every N ms in its init (SystemTap's timer.ms(N), bpftrace's interval).";

/// Exit status for a handler that failed or a run that could not start.
pub(crate) const FAILURE: u8 = 1;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Record(args) => run::record(args),
        Command::Replay(args) => replay::run(args),
        Command::List(args) => discover::list(args),
        Command::Check => discover::check(),
        Command::Compile(args) => compile::run(args),
        Command::New(args) => new::run(args),
        Command::CompileChild(args) => compile::child(args),
        Command::Serve(args) => crate::serve::serve(args),
        Command::Sessions(args) => connect::sessions(args),
        Command::Stop(args) => connect::stop(args),
        Command::Swap(args) => connect::swap(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            say(&format!("wprobe: error: {}", message(&e)));
            ExitCode::from(FAILURE)
        }
    }
}

/// A line on stderr. A closed stderr is no reason to panic (`eprintln!` would).
pub fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes()).and_then(|()| err.write_all(b"\n"));
}

/// The error and its causes, each said once: many errors already quote their cause (an OS
/// error, typically), which would otherwise be printed a second time.
pub(crate) fn message(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg += ": ";
        }
        msg += &text;
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open x: {source}")]
    struct Quoting {
        source: std::io::Error,
    }

    #[test]
    fn an_os_error_is_said_once() {
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        let e = anyhow::Error::from(Quoting { source: io }).context("replay stopped");
        assert_eq!(message(&e), "replay stopped: cannot open x: No such file or directory (os error 2)");
        // A cause that its context does not quote is still said.
        let e = Err::<(), _>(std::io::Error::from_raw_os_error(libc::ENOSPC)).context("cannot write y").unwrap_err();
        assert_eq!(message(&e), "cannot write y: No space left on device (os error 28)");
    }
}
