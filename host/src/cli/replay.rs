//! `wprobe replay HANDLER EVENTS`: run a handler over a recorded events file.

use super::handler_opts::HandlerOpts;
use super::say;
use super::script::{self as stap, ScriptOpts};
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use wprobe::batch::BatchBuilder;
use wprobe::events_file::{EventsReader, MAGIC};
use wprobe::sandbox::Session;
use wprobe::session::{self, Dispatcher, WriterSink};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The handler: a WebAssembly component of the world wprobe:probe/handler, or a
    /// SystemTap script FILE.stp. With -e 'SCRIPT': the events file.
    pub handler: PathBuf,
    /// An events file written by `wprobe record` or `wprobe run --record`. Replayed in the
    /// batches of the live run (at most --batch-size events each), so that a handler that
    /// faulted live faults the same way here.
    pub events: Option<PathBuf>,
    /// A script's arguments ($1, $2, …), after the events file.
    #[arg(value_name = "SCRIPT_ARG")]
    pub script_args: Vec<String>,
    #[command(flatten)]
    pub script: ScriptOpts,
    #[command(flatten)]
    pub opts: HandlerOpts,
    /// Write one JSON object per handler line, with the probe, pid, tid, cpu and timestamp
    /// of the event that printed it (events are then handed over one per call).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    // With -e the first positional is the events file, the rest the script's arguments.
    let (handler, events, rest) = match (&args.script.script, &args.events) {
        (Some(_), e) => {
            let rest: Vec<String> = e.iter().map(|p| p.display().to_string()).chain(args.script_args.clone()).collect();
            (None, args.handler.clone(), rest)
        }
        (None, Some(e)) => (Some(args.handler.clone()), e.clone(), args.script_args.clone()),
        (None, None) => bail!("missing the events file: wprobe replay HANDLER.wasm EVENTS (or -e 'SCRIPT' EVENTS)"),
    };
    if !rest.is_empty() && !handler.as_deref().is_none_or(stap::is_script_path) {
        bail!("unexpected arguments after the events file: {} (only a script takes arguments)", rest.join(" "));
    }
    let script = args.script.load(handler.as_ref(), &rest)?;
    if let (None, Some(h)) = (&script, &handler) {
        check_order(h, &events)?;
    }
    let mut reader = EventsReader::open(&events)?;
    let header = reader.header().clone();
    let runtime = args.opts.runtime()?;
    let mut handler_args = args.opts.args.clone();
    let loaded = match (&script, &handler) {
        (Some(s), _) => {
            let pps: Vec<&str> = header.probes.iter().map(|p| p.pp.as_str()).collect();
            stap::note_binding(&s.script, &pps)?;
            handler_args.extend(s.handler_args.iter().cloned());
            runtime.load_bytes(stap::COMPONENT_NAME, stap::COMPONENT)?
        }
        (None, Some(h)) => runtime.load(h)?,
        (None, None) => unreachable!("a handler or a script, see above"),
    };
    let session = Session { args: handler_args, probes: Arc::from(header.probes), arch: header.arch };
    let mut handler = runtime.start(&loaded, &session, args.opts.limits())?;

    let stdout = std::io::stdout().lock();
    let mut sink = WriterSink { out: std::io::BufWriter::with_capacity(1 << 16, stdout), err: std::io::stderr() };
    let mut dispatcher = Dispatcher::new(&mut handler, &mut sink);
    if let Some(every) = args.opts.stats_every {
        dispatcher = dispatcher.stats_every(every);
    }
    let batch_size = if args.json {
        dispatcher = dispatcher.json_lines(session.probes.clone());
        1
    } else {
        args.opts.batch_size as usize
    };
    let mut batch = BatchBuilder::new(header.arch, batch_size);
    let result = session::replay(&mut dispatcher, &mut reader, &mut batch);
    let stats = dispatcher.stats();
    say(&format!(
        "wprobe: replayed {} events ({} lost) in {} batches from {}",
        stats.events,
        stats.lost,
        stats.batches,
        events.display()
    ));
    match result {
        Err(e) if e.is_closed_output() => {}
        r => {
            r.with_context(|| format!("replay of {} stopped", events.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `replay EVENTS HANDLER` is an easy slip: say so, rather than "not a WebAssembly file".
fn check_order(handler: &Path, events: &Path) -> Result<()> {
    let starts_with = |path: &Path, magic: &[u8]| {
        let mut head = vec![0u8; magic.len()];
        std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && head == magic
    };
    let (h, e) = (handler.display(), events.display());
    match (starts_with(handler, &MAGIC), starts_with(events, b"\0asm")) {
        (true, true) => bail!(
            "the arguments are swapped: {h} is an events file and {e} a handler; the handler comes first: \
             wprobe replay {e} {h}"
        ),
        (true, false) => {
            bail!("{h} is an events file, not a handler; the handler comes first: wprobe replay HANDLER.wasm {h}")
        }
        (false, true) => {
            bail!("{e} is a WebAssembly file, not an events file; the handler comes first: wprobe replay {e} EVENTS")
        }
        (false, false) => {}
    }
    Ok(())
}
