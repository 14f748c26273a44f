//! `wprobe replay HANDLER EVENTS`: run a handler over a recorded events file.

use super::handler_opts::HandlerOpts;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use wprobe::batch::BatchBuilder;
use wprobe::events_file::EventsReader;
use wprobe::sandbox::Session;
use wprobe::session::{self, Dispatcher, WriterSink};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The handler: a WebAssembly component of the world wprobe:probe/handler.
    pub handler: PathBuf,
    /// An events file written by `wprobe record`.
    pub events: PathBuf,
    #[command(flatten)]
    pub opts: HandlerOpts,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut reader = EventsReader::open(&args.events)?;
    let header = reader.header().clone();
    let runtime = args.opts.runtime()?;
    let loaded = runtime.load(&args.handler)?;
    let session = Session { args: args.opts.args.clone(), probes: Arc::from(header.probes), arch: header.arch };
    let mut handler = runtime.start(&loaded, &session, args.opts.limits())?;

    let stdout = std::io::stdout().lock();
    let mut sink = WriterSink { out: std::io::BufWriter::with_capacity(1 << 16, stdout), err: std::io::stderr() };
    let mut dispatcher = Dispatcher::new(&mut handler, &mut sink);
    let mut batch = BatchBuilder::new(header.arch, args.opts.batch_size as usize);
    let result = session::replay(&mut dispatcher, &mut reader, &mut batch);
    let stats = dispatcher.stats();
    eprintln!(
        "wprobe: replayed {} events ({} lost) in {} batches from {}",
        stats.events,
        stats.lost,
        stats.batches,
        args.events.display()
    );
    result.with_context(|| format!("replay of {} stopped", args.events.display()))?;
    Ok(ExitCode::SUCCESS)
}
