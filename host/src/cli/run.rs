//! `wprobe run HANDLER PROBES…` and `wprobe record PROBES… -o FILE`.

use super::handler_opts::HandlerOpts;
use super::probes::{self, ProbeArgs};
use super::say;
use super::script::{self as stap, ScriptOpts};
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use wprobe::batch::BatchBuilder;
use wprobe::live::LiveSource;
use wprobe::run::{
    self, Consumers, LiveRun, LiveRunOutcome, Recorder, RunSummary, Signals, Status, StatusSink, StopReason,
};
use wprobe::sandbox::Session;
use wprobe::session::{Dispatcher, WriterSink};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The handler: a WebAssembly component of the world wprobe:probe/handler, or a
    /// SystemTap script FILE.stp (then the positional arguments after it are its $1, $2, …).
    #[arg(required_unless_present = "script")]
    pub handler: Option<PathBuf>,
    #[command(flatten)]
    pub script: ScriptOpts,
    #[command(flatten)]
    pub probes: ProbeArgs,
    #[command(flatten)]
    pub opts: HandlerOpts,
    /// Write one JSON object per handler line, with the probe, pid, tid, cpu and timestamp
    /// of the event that printed it (events are then handed over one per call).
    #[arg(long)]
    pub json: bool,
    /// Also record the events into this file, for `wprobe replay`. The file is complete
    /// however the run stops, a handler fault included: replaying it with the same handler
    /// reproduces the fault.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Write the handler's output to FILE instead of stdout (which stays the -c command's).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Run in a `wprobe serve` daemon through its socket instead of here (no root needed):
    /// the handler and probes go to the daemon, the output comes back; the tenant's policy
    /// decides what is allowed.
    #[arg(long, value_name = "SOCKET", num_args = 0..=1, default_missing_value = DEFAULT_SOCKET)]
    pub connect: Option<PathBuf>,
}

/// Where `wprobe serve` listens unless its config says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/wprobe.sock";

#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// The events file to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Events per batch read from the ring.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub batch_size: u32,
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    if let Some(socket) = args.connect.clone() {
        return super::connect::run(&socket, args);
    }
    // A script is checked before anything else: its errors are the user's first concern.
    let script = args.script.load(args.handler.as_ref(), &args.probes.points)?;
    let specs = match &script {
        Some(s) => {
            args.probes.check_no_flags_with_script()?;
            s.specs.clone()
        }
        None => args.probes.specs()?,
    };
    let live_opts = args.probes.live_options()?;
    let stop = args.probes.stop_conditions()?;
    // The handler first: a broken handler should not cost an attach and detach.
    let runtime = args.opts.runtime()?;
    let (loaded, handler_args) = match (&script, &args.handler) {
        (Some(s), _) => {
            let mut a = args.opts.args.clone();
            a.extend(s.handler_args.iter().cloned());
            (runtime.load_bytes(stap::COMPONENT_NAME, stap::COMPONENT)?, a)
        }
        (None, Some(h)) => (runtime.load(h)?, args.opts.args.clone()),
        (None, None) => bail!("no handler given: name a component (HANDLER.wasm), a script FILE.stp, or -e 'SCRIPT'"),
    };
    if script.as_ref().is_some_and(|s| !stap::has_events(&s.script)) {
        // `probe begin`/`probe end` only: nothing to attach.
        return begin_end_only(&runtime, &loaded, handler_args, &args);
    }
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let rt = probes::runtime()?;
    let _guard = rt.enter();
    let signals = Signals::install()?;
    // Resolve first, so that `init` sees the probe table; its captures then decide what
    // each attachment takes.
    let resolved = LiveSource::resolve(&specs, live_opts)?;
    let status = Status::on_stderr(args.output.is_none());
    let mut sink = StatusSink {
        inner: WriterSink { out: BufWriter::with_capacity(1 << 16, out), err: std::io::stderr() },
        status: status.clone(),
    };
    let live = LiveRun {
        runtime: &runtime,
        loaded: &loaded,
        resolved,
        args: handler_args,
        limits: args.opts.limits(),
        target: args.probes.pid,
        json: args.json,
        batch_size: args.opts.batch_size as usize,
        record: args.record.clone(),
        stop,
        swap: None,
        redact_kernel_pointers: false,
        stats_every: args.opts.stats_every,
    };
    let LiveRunOutcome { summary, result, recorded } =
        run::run_live(live, &mut sink, &signals, &status, &rt, &mut probes::SayWarnings);
    let result = match result {
        // Nothing ran (the handler's init, or attaching, failed): no summary line.
        Err(e) if summary == RunSummary::default() => return Err(e.into()),
        r => r,
    };
    finish(result.map_err(Into::into), recorded.map_err(Into::into), &summary)
}

/// A script of `probe begin` and `probe end` only: init runs `begin`, then `end` runs.
fn begin_end_only(
    runtime: &wprobe::sandbox::Runtime,
    loaded: &wprobe::sandbox::LoadedHandler,
    handler_args: Vec<(String, String)>,
    args: &RunArgs,
) -> Result<ExitCode> {
    let arch = wprobe_common::Arch::native().unwrap_or(wprobe_common::Arch::X86_64);
    let session = Session { args: handler_args, probes: Arc::from(Vec::new()), arch };
    let mut handler = runtime.start(loaded, &session, args.opts.limits())?;
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut sink = WriterSink { out: BufWriter::new(out), err: std::io::stderr() };
    let mut dispatcher = Dispatcher::new(&mut handler, &mut sink);
    let result = dispatcher.write_output().and_then(|()| dispatcher.end());
    match result {
        Err(e) if e.is_closed_output() => {}
        r => r?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn record(args: RecordArgs) -> Result<ExitCode> {
    let specs = args.probes.specs()?;
    let live_opts = args.probes.live_options()?;
    let stop = args.probes.stop_conditions()?;
    let rt = probes::runtime()?;
    let _guard = rt.enter();
    let signals = Signals::install()?;
    let mut source = probes::attach(&specs, live_opts)?;
    let recorder = Recorder::create(&args.output, source.arch(), source.probes())?;
    let mut batch = BatchBuilder::new(source.arch(), args.batch_size.max(1) as usize);
    let outcome = rt.block_on(run::run(
        &mut source,
        &mut batch,
        &mut Consumers { handler: None, record: Some(recorder.clone()) },
        stop,
        &signals,
        &Status::off(),
    ));
    drop(source);
    let recorded = recorder.finish();
    let done = finish(outcome.result.map_err(Into::into), recorded.map_err(Into::into), &outcome.summary);
    if done.is_ok() {
        say(&format!("wprobe: wrote {}", args.output.display()));
    }
    done
}

/// The summary line, then the run's error if any, else the events file's.
fn finish(result: Result<StopReason>, recorded: Result<()>, s: &RunSummary) -> Result<ExitCode> {
    let reason = match &result {
        Ok(reason) => reason.to_string(),
        Err(_) => "by the error below".into(),
    };
    summarise(&reason, s);
    result?;
    recorded?;
    Ok(ExitCode::SUCCESS)
}

fn summarise(reason: &str, s: &RunSummary) {
    say(&run::summary_line(reason, s));
}
