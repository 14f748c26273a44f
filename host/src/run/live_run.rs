//! One handler over live probes, from resolved probes to the end hook: what `wprobe run`
//! does locally and what `wprobe serve` does for each session.
//!
//! ```text
//!  Resolved ─► handler init (captures) ─► hooks.before_attach ─► attach ─► hooks.attached
//!          ─► run loop (until a stop) ─► detach ─► end hook ─► (reason, summary)
//! ```

use super::Status;
use super::{Consumers, Outcome, RecordError, Recorder, RunError, RunSummary, Signals, StopConditions, StopReason};
use crate::batch::BatchBuilder;
use crate::live::{LiveError, LiveSource, Resolved};
use crate::probe::CaptureSpec;
use crate::sandbox::{HandlerFault, Limits, LoadedHandler, Runtime, Session};
use crate::session::{Dispatcher, HandlerSwap, SessionError, Sink};
use std::path::PathBuf;
use std::sync::Arc;

/// What a live handler run needs besides its output and stop switch.
pub struct LiveRun<'a> {
    pub runtime: &'a Runtime,
    pub loaded: &'a LoadedHandler,
    pub resolved: Resolved,
    /// `--arg KEY=VALUE`, for `init`.
    pub args: Vec<(String, String)>,
    pub limits: Limits,
    /// What `target()` answers (`--pid`).
    pub target: Option<u32>,
    /// JSON lines, one event per handler call.
    pub json: bool,
    pub batch_size: usize,
    /// `--record FILE`.
    pub record: Option<PathBuf>,
    pub stop: StopConditions,
    /// Where a replacement handler may be offered while the run goes on (`wprobe swap`).
    pub swap: Option<Arc<HandlerSwap>>,
    /// Kernel addresses become 0 before the handler sees them (`wprobe serve`'s tenants
    /// without the right).
    pub redact_kernel_pointers: bool,
    /// `--stats-every N`: a stats line (events, handler memory) every N events.
    pub stats_every: Option<u64>,
}

/// Where a caller looks in (and may say no) along the way.
pub trait RunHooks {
    /// After `init`, before anything is attached: a refusal (the reason) ends the run.
    fn before_attach(&mut self, _captures: &[CaptureSpec]) -> Result<(), String> {
        Ok(())
    }
    /// Attaches the resolved probes for the handler's captures, giving up (nothing left
    /// attached) when `stop()` says so; `wprobe serve` shares attachments between sessions.
    fn attach(
        &mut self,
        resolved: Resolved,
        captures: &[CaptureSpec],
        stop: &dyn Fn() -> bool,
    ) -> Result<LiveSource, LiveError> {
        resolved.attach_unless(captures, stop)
    }
    /// Every probe attached; the events flow from now on.
    fn attached(&mut self, _source: &LiveSource) {}
    /// A warning for the user (what a glob had to skip).
    fn warning(&mut self, text: &str);
}

#[derive(Debug, thiserror::Error)]
pub enum LiveRunError {
    #[error(transparent)]
    Handler(#[from] HandlerFault),
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{0}")]
    Refused(String),
}

/// How a live handler run ended: its counters, and why it stopped or what stopped it. A
/// record error after the run is reported after the run's own error, as `wprobe run` does.
pub struct LiveRunOutcome {
    pub summary: RunSummary,
    pub result: Result<StopReason, LiveRunError>,
    pub recorded: Result<(), RecordError>,
}

/// Starts the handler, attaches, runs until a stop, detaches, runs the end hook.
pub fn run_live(
    run: LiveRun<'_>,
    sink: &mut dyn Sink,
    signals: &Signals,
    status: &Status,
    rt: &tokio::runtime::Runtime,
    hooks: &mut dyn RunHooks,
) -> LiveRunOutcome {
    let failed = |e: LiveRunError| LiveRunOutcome { summary: RunSummary::default(), result: Err(e), recorded: Ok(()) };
    let session = Session {
        args: run.args.clone(),
        probes: Arc::from(run.resolved.probes().to_vec()),
        arch: run.resolved.arch(),
    };
    let mut handler = match run.runtime.start(run.loaded, &session, run.limits.clone()) {
        Ok(h) => h,
        Err(e) => return failed(e.into()),
    };
    if let Some(pid) = run.target {
        handler.set_target(pid);
    }
    if let Err(reason) = hooks.before_attach(handler.captures()) {
        return failed(LiveRunError::Refused(reason));
    }
    let mut source = match hooks.attach(run.resolved, handler.captures(), &|| signals.count() > 0) {
        Ok(s) => s,
        // Stopped before the first event: the end hook still runs, as after any stop.
        Err(LiveError::Interrupted) => {
            let result = Dispatcher::new(&mut handler, sink).end().map(|()| StopReason::Signal).map_err(Into::into);
            return LiveRunOutcome { summary: RunSummary::default(), result, recorded: Ok(()) };
        }
        Err(e) => return failed(e.into()),
    };
    if let Some(warning) = source.attach_warning() {
        hooks.warning(warning);
    }
    let recorder = match &run.record {
        Some(path) => match Recorder::create(path, source.arch(), source.probes()) {
            Ok(r) => Some(r),
            Err(e) => return failed(e.into()),
        },
        None => None,
    };
    hooks.attached(&source);

    let mut dispatcher = Dispatcher::new(&mut handler, sink);
    if let Some(swap) = run.swap {
        dispatcher = dispatcher.swap_from(swap);
    }
    if let Some(every) = run.stats_every {
        dispatcher = dispatcher.stats_every(every);
    }
    if run.redact_kernel_pointers {
        dispatcher = dispatcher.redacting();
    }
    let batch_size = if run.json {
        dispatcher = dispatcher.json_lines(session.probes.clone());
        1
    } else {
        run.batch_size.max(1)
    };
    let mut batch = BatchBuilder::new(source.arch(), batch_size);
    let outcome = match dispatcher.write_output() {
        Ok(()) => rt.block_on(super::run(
            &mut source,
            &mut batch,
            &mut Consumers { handler: Some(&mut dispatcher), record: recorder.clone() },
            run.stop,
            signals,
            status,
        )),
        Err(e) => Outcome { summary: RunSummary::default(), result: Err(e.into()) },
    };
    // Detach before the end hook, as SystemTap does: no event arrives after `probe end`.
    drop(source);
    let recorded = recorder.as_ref().map_or(Ok(()), Recorder::finish);
    let Outcome { summary, result } = outcome;
    let mut end = Ok(());
    if let Ok(reason) = &result {
        if reason.runs_end_hook() {
            end = dispatcher.end();
        }
    }
    let result = match (result, end) {
        (Ok(_), Err(e)) if e.is_closed_output() => Ok(StopReason::OutputClosed),
        (Ok(reason), Ok(())) => Ok(reason),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), _) => Err(e.into()),
    };
    LiveRunOutcome { summary, result, recorded }
}

/// The summary line `wprobe run` ends with, locally or through `wprobe serve`.
pub fn summary_line(reason: &str, s: &RunSummary) -> String {
    let share = 100.0 * s.handler_time.as_secs_f64() / s.elapsed.as_secs_f64().max(1e-9);
    let dropped = match s.dropped_at_stop {
        0 => String::new(),
        n => format!(", {n} dropped at stop"),
    };
    format!(
        "wprobe: {} events seen, {} handled{dropped}, {} lost, in {} batches over {:.2} s (handler {share:.1}% of the time); stopped: {reason}",
        s.seen,
        s.handled,
        s.lost,
        s.batches,
        s.elapsed.as_secs_f64(),
    )
}
