//! `wprobe run HANDLER PROBES…` and `wprobe record PROBES… -o FILE`.

use super::handler_opts::HandlerOpts;
use super::probes::{self, ProbeArgs};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use wprobe::batch::BatchBuilder;
use wprobe::events_file::EventsWriter;
use wprobe::live::LiveSource;
use wprobe::run::{self, Consumers, RunSummary, StopReason};
use wprobe::sandbox::Session;
use wprobe::session::{Dispatcher, WriterSink};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The handler: a WebAssembly component of the world wprobe:probe/handler.
    pub handler: PathBuf,
    #[command(flatten)]
    pub probes: ProbeArgs,
    #[command(flatten)]
    pub opts: HandlerOpts,
    /// Write one JSON object per handler line, with the probe, pid, tid, cpu and timestamp
    /// of the event that printed it (events are then handed over one per call).
    #[arg(long)]
    pub json: bool,
    /// Also record the events into this file, for `wprobe replay`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

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
    let specs = args.probes.specs()?;
    let live_opts = args.probes.live_options()?;
    // The handler first: a broken handler should not cost an attach and detach.
    let runtime = args.opts.runtime()?;
    let loaded = runtime.load(&args.handler)?;
    let rt = probes::runtime()?;
    let _guard = rt.enter();
    // Resolve first, so that `init` sees the probe table; its captures then decide what
    // each attachment takes.
    let resolved = LiveSource::resolve(&specs, live_opts)?;
    let session =
        Session { args: args.opts.args.clone(), probes: Arc::from(resolved.probes().to_vec()), arch: resolved.arch() };
    let mut handler = runtime.start(&loaded, &session, args.opts.limits())?;
    let mut source = probes::attach_resolved(resolved, handler.captures())?;
    let mut recorder = match &args.record {
        Some(path) => Some(
            EventsWriter::create(path, source.arch(), source.probes())
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => None,
    };

    let stdout = std::io::stdout().lock();
    let mut sink = WriterSink { out: std::io::BufWriter::with_capacity(1 << 16, stdout), err: std::io::stderr() };
    let mut dispatcher = Dispatcher::new(&mut handler, &mut sink);
    let batch_size = if args.json {
        dispatcher = dispatcher.json_lines(session.probes.clone());
        1
    } else {
        args.opts.batch_size as usize
    };
    dispatcher.write_output()?;
    let mut batch = BatchBuilder::new(source.arch(), batch_size);
    let stop = args.probes.stop_conditions();
    let result = rt.block_on(run::run(
        &mut source,
        &mut batch,
        &mut Consumers { handler: Some(&mut dispatcher), record: recorder.as_mut() },
        &stop,
    ));
    // Detach before the end hook, as SystemTap does: no event arrives after `probe end`.
    drop(source);
    let (reason, summary) = result?;
    dispatcher.end()?;
    if let Some(rec) = recorder {
        rec.finish().context("cannot finish the events file")?;
    }
    summarise(&reason, &summary);
    Ok(ExitCode::SUCCESS)
}

pub fn record(args: RecordArgs) -> Result<ExitCode> {
    let specs = args.probes.specs()?;
    let live_opts = args.probes.live_options()?;
    let rt = probes::runtime()?;
    let _guard = rt.enter();
    let mut source = probes::attach(&specs, live_opts)?;
    let mut recorder = EventsWriter::create(&args.output, source.arch(), source.probes())
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let mut batch = BatchBuilder::new(source.arch(), args.batch_size.max(1) as usize);
    let stop = args.probes.stop_conditions();
    let result = rt.block_on(run::run(
        &mut source,
        &mut batch,
        &mut Consumers { handler: None, record: Some(&mut recorder) },
        &stop,
    ));
    drop(source);
    let (reason, summary) = result?;
    recorder.finish().with_context(|| format!("cannot finish {}", args.output.display()))?;
    summarise(&reason, &summary);
    eprintln!("wprobe: wrote {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}

fn summarise(reason: &StopReason, s: &RunSummary) {
    let share = 100.0 * s.handler_time.as_secs_f64() / s.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "wprobe: {} events seen, {} handled, {} lost, in {} batches over {:.2} s (handler {share:.1}% of the time); stopped: {reason}",
        s.seen,
        s.handled,
        s.lost,
        s.batches,
        s.elapsed.as_secs_f64(),
    );
}
