//! The client side of `wprobe serve`: `wprobe run --connect`, `wprobe sessions`,
//! `wprobe stop`. A remote run looks like a local one: output on stdout (or -o), wprobe's
//! lines on stderr, Ctrl-C stops the session (a second one stops the client at once, and
//! with it the session), the same exit status.

use super::run::{RunArgs, DEFAULT_SOCKET};
use super::say;
use crate::serve::protocol::{self, FrameError, LimitsRequest, Reply, Request, RunRequest};
use anyhow::{anyhow, bail, Context, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wprobe::run::Signals;

#[derive(clap::Args, Debug)]
pub struct SessionsArgs {
    /// The daemon's socket.
    #[arg(long, value_name = "SOCKET", default_value = DEFAULT_SOCKET)]
    pub connect: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct StopArgs {
    /// The session, as `wprobe sessions` lists it.
    pub id: u64,
    /// The daemon's socket.
    #[arg(long, value_name = "SOCKET", default_value = DEFAULT_SOCKET)]
    pub connect: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct SwapArgs {
    /// The session, as `wprobe sessions` lists it.
    pub id: u64,
    /// The new handler. It must ask for the same captures in its `init` as the one it
    /// replaces (the probes stay attached as they are).
    pub handler: PathBuf,
    /// The daemon's socket.
    #[arg(long, value_name = "SOCKET", default_value = DEFAULT_SOCKET)]
    pub connect: PathBuf,
    /// Refuse handler components larger than this, in bytes (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = super::parse_size)]
    pub max_component_size: usize,
}

fn connect(socket: &Path) -> Result<UnixStream> {
    UnixStream::connect(socket).with_context(|| {
        format!("cannot connect to the wprobe daemon at {} (is `wprobe serve` running?)", socket.display())
    })
}

fn reply(stream: &mut UnixStream) -> Result<Reply> {
    match protocol::read_frame(stream, protocol::CLIENT_MAX_FRAME) {
        Ok(r) => Ok(r),
        Err(FrameError::Closed) => bail!("the daemon closed the connection (it stopped, or was killed)"),
        Err(e) => Err(anyhow!("cannot read the daemon's reply: {e}")),
    }
}

pub fn run(socket: &Path, args: RunArgs) -> Result<ExitCode> {
    if args.probes.command.is_some() {
        bail!("-c runs a command as wprobe's own user, which a daemon does not do for its tenants: start the command yourself and trace it with --pid, or rely on your scope (your own processes)");
    }
    if args.record.is_some() {
        bail!("--record writes a file where wprobe runs, which is the daemon's machine: use `wprobe record` locally, or --json and keep the output");
    }
    // Parsed here too, so that a typo is said before anything is sent.
    args.probes.specs()?;
    args.probes.live_options()?;
    let Some(handler) = args.handler.as_deref() else {
        bail!("--connect sends a handler component to the daemon: name one (HANDLER.wasm); scripts (-e, .stp) run only locally for now");
    };
    if args.script.script.is_some() || super::script::is_script_path(handler) {
        bail!("--connect sends a handler component to the daemon; scripts (-e, .stp) run only locally for now");
    }
    let max = args.opts.load.max_component_size;
    let component = read_bounded(handler, max)?;
    let limits = args.opts.limits();
    let req = RunRequest {
        version: protocol::VERSION,
        handler_name: handler.file_name().map_or_else(|| "handler".into(), |n| n.to_string_lossy().into_owned()),
        component,
        args: args.opts.args.clone(),
        probes: args.probes.clone(),
        limits: LimitsRequest {
            cpu_limit_ms: args.opts.cpu_limit_ms,
            memory: limits.memory,
            output_per_call: limits.output_per_call,
            output_total: limits.output_total as usize,
            output_rate: limits.output_rate.map(|r| r as usize),
            escape: limits.escape_output,
            batch_size: args.opts.batch_size,
        },
        json: args.json,
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut stream = connect(socket)?;
    protocol::write_frame(&mut stream, &Request::Run(Box::new(req))).context("cannot send the request")?;
    let signals = Signals::install()?;
    forward_interrupts(&stream, signals)?;
    loop {
        match reply(&mut stream)? {
            Reply::Started { id } => say(&format!("wprobe: session {id} attached")),
            Reply::Stdout(bytes) => match out.write_all(&bytes).and_then(|()| out.flush()) {
                Ok(()) => {}
                // `| head -1`: as locally, a closed output ends the run quietly.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
                Err(e) => return Err(e).context("cannot write output"),
            },
            Reply::Stderr(bytes) => {
                let _ = std::io::stderr().write_all(&bytes);
            }
            Reply::Message(line) => say(&line),
            Reply::Exit { code, error } => {
                if let Some(e) = error {
                    say(&format!("wprobe: error: {e}"));
                }
                return Ok(ExitCode::from(code));
            }
            Reply::Error(e) => bail!("{e}"),
            other => bail!("unexpected reply from the daemon: {other:?}"),
        }
    }
}

/// A thread that tells the daemon about the first Ctrl-C (or SIGTERM); a second one ends
/// this process, which closes the connection, which ends the session.
fn forward_interrupts(stream: &UnixStream, signals: Signals) -> Result<()> {
    let mut control = stream.try_clone().context("cannot clone the connection")?;
    std::thread::Builder::new().name("wprobe-interrupt".into()).spawn(move || {
        while signals.count() == 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = protocol::write_frame(&mut control, &Request::Interrupt);
    })?;
    Ok(())
}

fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() > max {
        bail!("{} is larger than --max-component-size ({max} bytes)", path.display());
    }
    Ok(bytes)
}

pub fn sessions(args: SessionsArgs) -> Result<ExitCode> {
    let mut stream = connect(&args.connect)?;
    protocol::write_frame(&mut stream, &Request::Sessions)?;
    match reply(&mut stream)? {
        Reply::Sessions(list) => {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{:>6}  {:<12} {:>6}  {:<20} {:>10} {:>8}  PROBES",
                "ID", "TENANT", "UID", "HANDLER", "STARTED", "DROPPED"
            )?;
            for s in list {
                writeln!(
                    out,
                    "{:>6}  {:<12} {:>6}  {:<20} {:>10} {:>8}  {}",
                    s.id,
                    s.tenant,
                    s.uid,
                    s.handler,
                    s.started_unix,
                    s.output_dropped,
                    s.probes.join(" ")
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Reply::Error(e) => bail!("{e}"),
        other => bail!("unexpected reply from the daemon: {other:?}"),
    }
}

pub fn stop(args: StopArgs) -> Result<ExitCode> {
    request(&args.connect, &Request::Stop { id: args.id })
}

/// `wprobe swap ID NEW.wasm`: the old handler's end hook runs, the new one's init, and the
/// events keep flowing into the session without a gap.
pub fn swap(args: SwapArgs) -> Result<ExitCode> {
    let component = read_bounded(&args.handler, args.max_component_size)?;
    let handler_name = args.handler.file_name().map_or_else(|| "handler".into(), |n| n.to_string_lossy().into_owned());
    request(&args.connect, &Request::Swap { id: args.id, handler_name, component })
}

/// A request answered with `Done` or an error.
fn request(socket: &Path, req: &Request) -> Result<ExitCode> {
    let mut stream = connect(socket)?;
    protocol::write_frame(&mut stream, req)?;
    match reply(&mut stream)? {
        Reply::Done => Ok(ExitCode::SUCCESS),
        Reply::Error(e) => bail!("{e}"),
        other => bail!("unexpected reply from the daemon: {other:?}"),
    }
}
