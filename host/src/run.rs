//! The live run loop: ring reader → batcher → recorder and dispatcher, until something says
//! stop.
//!
//! ```text
//!  LiveSource ─next_batch─► BatchBuilder ─► Recorder (every batch read, before the handler)
//!                                        └► Dispatcher ─► handler ─► StatusSink ─► output
//!  stops: Signals (thread) · Command (-c, own process group) · ProcessWatch (--pid)
//!         --duration · --max-events · exit() · a handler fault · an output or record error
//! ```
//!
//! Whatever stops the run, every batch read from the ring has been written to the events
//! file first, so the caller can always finish the file (see [`Recorder::finish`]). After a
//! signal, `--duration`, or the end of the command or of `--pid`'s process, the events still
//! in the ring are handed over for a short while ([`DRAIN_LIMIT`] from the stop), then only
//! recorded for as long again, and counted as dropped at stop. `exit()` and `--max-events`
//! mean "no more". A fault or an error ends the run at once.
//!
//! The `-c` command's process group gets SIGTERM when the loop stops and SIGKILL after
//! [`command::GRACE`]; the function returns once none of it lives.

mod command;
mod live_run;
mod record;
mod signals;
mod status;

pub use command::{group_members, Command, ProcessWatch, GRACE};
pub use live_run::{run_live, summary_line, LiveRun, LiveRunError, LiveRunOutcome, RunHooks};
pub use record::{RecordError, Recorder};
pub use signals::{Signals, ABORT_STATUS};
pub use status::{LiveCounters, Status, StatusSink};

use crate::batch::BatchBuilder;
use crate::live::{LiveError, LiveSource};
use crate::session::{Dispatcher, SessionError};
use crate::timers::monotonic_ns;
use std::io;
use std::time::Duration;
use tokio::time::Instant;

/// How long events recorded before a stop may still be handed to the handler after it.
pub const DRAIN_LIMIT: Duration = Duration::from_millis(250);
/// How often the loop looks at the clock and the command when no events come.
const TICK: Duration = Duration::from_millis(250);

/// What ends a run, besides the handler's `exit()` and signals.
#[derive(Debug, Default)]
pub struct StopConditions {
    pub duration: Option<Duration>,
    pub max_events: Option<u64>,
    /// `-c CMD`: run through `/bin/sh -c` once every probe is attached; stop when it exits.
    pub command: Option<String>,
    /// `--pid PID`: stop when that process exits.
    pub process: Option<ProcessWatch>,
}

/// Why a run stopped without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Signal,
    Exit,
    Duration,
    MaxEvents,
    CommandExited(Option<i32>),
    ProcessExited(u32),
    /// Output went to a pipe whose reader is gone (`wprobe … | head -1`).
    OutputClosed,
}

impl StopReason {
    /// Whether the handler's end hook still runs after this stop.
    pub fn runs_end_hook(&self) -> bool {
        *self != StopReason::OutputClosed
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Signal => f.write_str("interrupted"),
            StopReason::Exit => f.write_str("the handler called exit()"),
            StopReason::Duration => f.write_str("--duration reached"),
            StopReason::MaxEvents => f.write_str("--max-events reached"),
            StopReason::CommandExited(Some(code)) => write!(f, "the command exited with status {code}"),
            StopReason::CommandExited(None) => f.write_str("the command was killed by a signal"),
            StopReason::ProcessExited(pid) => write!(f, "process {pid} exited"),
            StopReason::OutputClosed => f.write_str("the output was closed (end hook skipped)"),
        }
    }
}

/// Counters of a live run, for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Events read from the ring.
    pub seen: u64,
    /// Events given to the handler (or, without one, recorded).
    pub handled: u64,
    /// Events read from the ring but not given to the handler because the run stopped
    /// (still recorded).
    pub dropped_at_stop: u64,
    /// Events the kernel dropped because the ring was full.
    pub lost: u64,
    pub batches: u64,
    /// Time spent inside the handler.
    pub handler_time: Duration,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("cannot start `{command}`: {source}")]
    Command { command: String, source: io::Error },
    #[error("no process {0}: give the pid of a running process to --pid")]
    NoProcess(u32),
    #[error("cannot watch process {pid}: {source}")]
    WatchProcess { pid: u32, source: io::Error },
    #[error("cannot set up signal handling: {0}")]
    Signals(#[source] io::Error),
}

/// Where batches go: a handler, an events file, or both.
pub struct Consumers<'a, 'd> {
    pub handler: Option<&'a mut Dispatcher<'d>>,
    pub record: Option<Recorder>,
}

/// How a run ended: its counters, and why it stopped or the error that stopped it.
#[derive(Debug)]
pub struct Outcome {
    pub summary: RunSummary,
    pub result: Result<StopReason, RunError>,
}

/// Runs until a stop condition or an error, then ends the `-c` command's group. The caller
/// then drops `source` (which detaches every probe), finishes the recorder and runs the
/// handler's end hook.
pub async fn run(
    source: &mut LiveSource,
    batch: &mut BatchBuilder,
    consumers: &mut Consumers<'_, '_>,
    stop: StopConditions,
    signals: &Signals,
    status: &Status,
) -> Outcome {
    let start = Instant::now();
    let mut summary = RunSummary::default();
    if let Some(rec) = &consumers.record {
        signals.close_on_abort(rec.clone());
    }
    let mut command = None;
    let result = match &stop.command {
        Some(cmd) => start_command(cmd, source, consumers, signals).map(|c| command = Some(c)),
        None => Ok(()),
    };
    let mut process = stop.process;
    if let Some(d) = consumers.handler.as_deref_mut() {
        // Timers count from here: every probe is attached and the command started.
        d.start_timers(monotonic_ns());
    }
    let result = match result {
        Ok(()) => {
            let mut cx = Loop { source, batch, consumers, summary: &mut summary, status, start };
            let stopped = cx.until_stop(stop.max_events, stop.duration, &mut command, &mut process, signals).await;
            if let Some(c) = &mut command {
                // Before the drain: a command that stops firing leaves less to drain.
                c.terminate();
            }
            match stopped {
                Ok(reason) => cx.after_stop(reason, stop.max_events, signals).await,
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let result = match result {
        Err(RunError::Session(e)) if e.is_closed_output() => Ok(StopReason::OutputClosed),
        r => r,
    };
    status.clear();
    if let Some(c) = &mut command {
        c.end();
    }
    summary.seen = source.events_total();
    summary.lost = source.lost_total();
    summary.elapsed = start.elapsed();
    Outcome { summary, result }
}

/// Starts `-c CMD` and arranges for its group to end with the run.
fn start_command(
    cmd: &str,
    source: &mut LiveSource,
    consumers: &mut Consumers<'_, '_>,
    signals: &Signals,
) -> Result<Command, RunError> {
    let mut command = Command::spawn(cmd)?;
    signals.kill_on_abort(command.pid() as i32);
    // The command is held until its pid is in scope (a no-op with --all-processes), so
    // that not even its first event is missed.
    source.add_to_scope(command.pid())?;
    if let Some(d) = consumers.handler.as_deref_mut() {
        d.set_target(command.pid());
    }
    command.release();
    Ok(command)
}

struct Loop<'r, 'a, 'd> {
    source: &'r mut LiveSource,
    batch: &'r mut BatchBuilder,
    consumers: &'r mut Consumers<'a, 'd>,
    summary: &'r mut RunSummary,
    status: &'r Status,
    start: Instant,
}

impl Loop<'_, '_, '_> {
    async fn until_stop(
        &mut self,
        max_events: Option<u64>,
        duration: Option<Duration>,
        command: &mut Option<Command>,
        process: &mut Option<ProcessWatch>,
        signals: &Signals,
    ) -> Result<StopReason, RunError> {
        let deadline = duration.map(|d| self.start + d);
        loop {
            // Looked at between two handler calls, whatever the event rate: see signals.rs.
            if signals.count() > 0 {
                return Ok(StopReason::Signal);
            }
            if let Some(max) = max_events {
                if self.summary.handled >= max {
                    return Ok(StopReason::MaxEvents);
                }
                self.batch.set_limit((max - self.summary.handled) as usize);
            }
            let now = Instant::now();
            let mut until = deadline.map_or(now + TICK, |d| d.min(now + TICK));
            if let Some(due) = self.consumers.handler.as_deref().and_then(Dispatcher::next_tick) {
                until = until.min(now + Duration::from_nanos(due.saturating_sub(monotonic_ns())));
            }
            // A ready batch wins over the command's exit, so that `--max-events` is counted
            // exactly and the drain has less to do.
            tokio::select! {
                biased;
                () = signals.arrived() => return Ok(StopReason::Signal),
                r = self.source.next_batch(self.batch, Some(until)) => {
                    r?;
                    if self.deliver(true)? {
                        return Ok(StopReason::Exit);
                    }
                }
                exit = wait_command(command) => return Ok(StopReason::CommandExited(exit.code())),
                () = wait_process(process) => {
                    return Ok(StopReason::ProcessExited(process.as_ref().map_or(0, |p| p.pid())));
                }
            }
            // Ticks whose time has come with no event after them to carry them.
            if let Some(d) = self.consumers.handler.as_deref_mut() {
                if d.tick_until(monotonic_ns())? {
                    return Ok(StopReason::Exit);
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(StopReason::Duration);
            }
            if let Some(d) = self.consumers.handler.as_deref_mut() {
                d.between_batches()?;
            }
            // Under a flood the batch branch is always ready and the select never gets to the
            // command's branch: look at the command here too.
            if let Some(exit) = command.as_mut().and_then(Command::try_wait) {
                return Ok(StopReason::CommandExited(exit.code()));
            }
            self.summary.seen = self.source.events_total();
            self.summary.lost = self.source.lost_total();
            self.status.update(self.summary, self.start.elapsed(), std::time::Instant::now());
        }
    }

    /// What a stop still owes: the events already read (and, for some stops, those still
    /// in the ring) go to the recorder, and to the handler while time allows.
    async fn after_stop(
        &mut self,
        mut reason: StopReason,
        max_events: Option<u64>,
        signals: &Signals,
    ) -> Result<StopReason, RunError> {
        let drains = matches!(
            reason,
            StopReason::Signal | StopReason::Duration | StopReason::CommandExited(_) | StopReason::ProcessExited(_)
        );
        if !drains {
            // exit() and --max-events: nothing read is left unhandled (the batch limit saw
            // to that), and nothing more is read.
            return Ok(reason);
        }
        // Counted from the signal itself, so that a handler call that was running when it
        // came is part of the limit, not added to it.
        let since = signals.first_at().map_or_else(Instant::now, Instant::from_std);
        let handle_until = since + DRAIN_LIMIT;
        // After that, what the ring still holds is only recorded (and counted as dropped at
        // stop), for as long again: a probe that keeps firing would never let it run dry.
        let read_until = handle_until + DRAIN_LIMIT;
        loop {
            if let Some(max) = max_events {
                if self.summary.handled >= max {
                    break;
                }
                self.batch.set_limit((max - self.summary.handled) as usize);
            }
            let now = Instant::now();
            if now >= read_until {
                break;
            }
            let wait = (now + Duration::from_millis(20)).min(read_until);
            self.source.next_batch(self.batch, Some(wait)).await?;
            if self.batch.is_empty() && self.batch.lost() == 0 {
                break;
            }
            if self.deliver(Instant::now() < handle_until)? {
                reason = StopReason::Exit;
                break;
            }
        }
        // Read before a deadline cut the loop short: recorded, counted, not handled.
        self.deliver(false)?;
        // The command may exit before its events are read: the limit is still what cut them.
        if max_events.is_some_and(|max| self.summary.handled >= max) {
            reason = StopReason::MaxEvents;
        }
        Ok(reason)
    }

    /// Records the batch, then hands it to the handler if `handle`; true when the handler
    /// asked to exit.
    fn deliver(&mut self, handle: bool) -> Result<bool, RunError> {
        let batch = &mut *self.batch;
        if batch.is_empty() && batch.lost() == 0 {
            return Ok(false);
        }
        if let Some(rec) = &self.consumers.record {
            batch.finish();
            rec.write_batch(&batch.view())?;
        }
        let Some(d) = self.consumers.handler.as_deref_mut() else {
            self.summary.handled += batch.len() as u64;
            self.summary.batches += 1;
            batch.clear();
            return Ok(false);
        };
        if !handle {
            self.summary.dropped_at_stop += batch.len() as u64;
            batch.clear();
            return Ok(false);
        }
        self.summary.handled += batch.len() as u64;
        self.summary.batches += 1;
        let t = std::time::Instant::now();
        let exit = d.dispatch(batch);
        self.summary.handler_time += t.elapsed();
        // A failed dispatch may leave the batch in the builder; it is recorded already.
        batch.clear();
        Ok(exit?)
    }
}

async fn wait_command(command: &mut Option<Command>) -> std::process::ExitStatus {
    match command {
        Some(c) => c.wait().await,
        None => std::future::pending().await,
    }
}

async fn wait_process(process: &mut Option<ProcessWatch>) {
    match process {
        Some(p) => p.exited().await,
        None => std::future::pending().await,
    }
}
