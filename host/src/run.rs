//! The live run loop: ring reader → batcher → dispatcher (and/or recorder), until something
//! says stop.
//!
//! Stops, each clean (the end hook runs, then the caller drops the source, which detaches
//! every probe): Ctrl-C or SIGTERM, the handler's `exit()`, `--duration`, `--max-events`, and
//! the end of `-c CMD`. Events already in the ring when a stop comes are still handled,
//! except after `exit()` and `--max-events`, which mean "no more".

use crate::batch::BatchBuilder;
use crate::events_file::EventsWriter;
use crate::live::{LiveError, LiveSource};
use crate::session::{Dispatcher, SessionError};
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitStatus;
use std::time::Duration;
use tokio::time::Instant;

/// How long events recorded before a stop may still be read after it.
const DRAIN_LIMIT: Duration = Duration::from_millis(250);

/// What ends a run, besides the handler's `exit()` and signals.
#[derive(Clone, Debug, Default)]
pub struct StopConditions {
    pub duration: Option<Duration>,
    pub max_events: Option<u64>,
    /// `-c CMD`: run through `/bin/sh -c` once every probe is attached; stop when it exits.
    pub command: Option<String>,
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Signal,
    Exit,
    Duration,
    MaxEvents,
    CommandExited(Option<i32>),
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
        }
    }
}

/// Counters of a live run, for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Events the kernel delivered to wprobe.
    pub seen: u64,
    /// Events given to the handler (or recorded).
    pub handled: u64,
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
    #[error("cannot write the events file: {0}")]
    Record(#[source] io::Error),
    #[error("cannot start `{command}`: {source}")]
    Command {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot set up signal handling: {0}")]
    Signals(#[source] io::Error),
}

/// Where batches go: a handler, an events file, or both.
pub struct Consumers<'a, 'd> {
    pub handler: Option<&'a mut Dispatcher<'d>>,
    pub record: Option<&'a mut EventsWriter<BufWriter<File>>>,
}

/// Runs until a stop condition; returns why, with the counters. The caller drops `source`
/// afterwards, which detaches every probe, and runs the handler's end hook.
pub async fn run(
    source: &mut LiveSource,
    batch: &mut BatchBuilder,
    consumers: &mut Consumers<'_, '_>,
    stop: &StopConditions,
) -> Result<(StopReason, RunSummary), RunError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt()).map_err(RunError::Signals)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(RunError::Signals)?;
    let start = Instant::now();
    let deadline = stop.duration.map(|d| start + d);
    let mut child = match &stop.command {
        Some(cmd) => Some(
            tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(cmd)
                .kill_on_drop(true)
                .spawn()
                .map_err(|source| RunError::Command { command: cmd.clone(), source })?,
        ),
        None => None,
    };
    let mut summary = RunSummary::default();
    let mut status = StatusLine::new();
    let mut reason = loop {
        if let Some(max) = stop.max_events {
            if summary.handled >= max {
                break StopReason::MaxEvents;
            }
            batch.set_limit((max - summary.handled) as usize);
        }
        let tick = Instant::now() + Duration::from_millis(250);
        let until = deadline.map_or(tick, |d| d.min(tick));
        // Biased, in this order: a signal always wins (even under a flood of events); a ready
        // batch wins over the command's exit, so that `--max-events` is counted exactly and
        // the drain below has less to do.
        tokio::select! {
            biased;
            _ = sigint.recv() => break StopReason::Signal,
            _ = sigterm.recv() => break StopReason::Signal,
            r = source.next_batch(batch, Some(until)) => {
                r?;
                summary.lost = source.lost_total();
                if deliver(batch, consumers, &mut summary)? {
                    break StopReason::Exit;
                }
            }
            exit = wait_child(&mut child) => break StopReason::CommandExited(exit.code()),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break StopReason::Duration;
        }
        // Under a flood the batch branch is always ready and the select never gets to the
        // command's branch: look at the command here too.
        if let Some(Ok(Some(exit))) = child.as_mut().map(|c| c.try_wait()) {
            break StopReason::CommandExited(exit.code());
        }
        status.update(&summary, start.elapsed());
    };
    status.clear();
    // Whatever the kernel recorded before the stop is still owed to the handler.
    if matches!(reason, StopReason::Signal | StopReason::Duration | StopReason::CommandExited(_)) {
        // Bounded: a probe that keeps firing (say, on write(2), which wprobe's own output
        // calls) would otherwise keep the ring from ever running dry. A second signal cuts
        // the drain short.
        tokio::select! {
            biased;
            _ = sigint.recv() => {}
            _ = sigterm.recv() => {}
            _ = tokio::time::sleep(DRAIN_LIMIT) => {}
            r = drain(source, batch, consumers, &mut summary, stop.max_events) => r?,
        }
        // The command may exit before its events are read: the limit is still what cut them.
        if stop.max_events.is_some_and(|max| summary.handled >= max) {
            reason = StopReason::MaxEvents;
        }
    }
    summary.seen = source.events_total();
    summary.lost = source.lost_total();
    summary.elapsed = start.elapsed();
    Ok((reason, summary))
}

/// Reads what is left in the ring (a short grace period for records still being written).
async fn drain(
    source: &mut LiveSource,
    batch: &mut BatchBuilder,
    consumers: &mut Consumers<'_, '_>,
    summary: &mut RunSummary,
    max_events: Option<u64>,
) -> Result<(), RunError> {
    loop {
        if let Some(max) = max_events {
            if summary.handled >= max {
                return Ok(());
            }
            batch.set_limit((max - summary.handled) as usize);
        }
        source.next_batch(batch, Some(Instant::now() + Duration::from_millis(20))).await?;
        if batch.is_empty() && batch.lost() == 0 {
            return Ok(());
        }
        if deliver(batch, consumers, summary)? {
            return Ok(());
        }
    }
}

/// Hands one batch to the recorder and the handler; true when the handler asked to exit.
fn deliver(batch: &mut BatchBuilder, c: &mut Consumers<'_, '_>, summary: &mut RunSummary) -> Result<bool, RunError> {
    if batch.is_empty() && batch.lost() == 0 {
        return Ok(false);
    }
    summary.handled += batch.len() as u64;
    summary.batches += 1;
    if let Some(rec) = c.record.as_deref_mut() {
        batch.finish();
        rec.write_batch(&batch.view()).map_err(RunError::Record)?;
    }
    match c.handler.as_deref_mut() {
        Some(d) => {
            let t = std::time::Instant::now();
            let exit = d.dispatch(batch);
            summary.handler_time += t.elapsed();
            Ok(exit?)
        }
        None => {
            batch.clear();
            Ok(false)
        }
    }
}

async fn wait_child(child: &mut Option<tokio::process::Child>) -> ExitStatus {
    match child {
        Some(c) => match c.wait().await {
            Ok(status) => status,
            // Waiting failed: treat the command as gone rather than spinning on it.
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// One self-updating line on stderr when it is a terminal: rate, losses, handler share.
struct StatusLine {
    enabled: bool,
    last: std::time::Instant,
    last_handled: u64,
}

impl StatusLine {
    fn new() -> Self {
        Self { enabled: io::stderr().is_terminal(), last: std::time::Instant::now(), last_handled: 0 }
    }

    fn update(&mut self, s: &RunSummary, elapsed: Duration) {
        if !self.enabled || self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        let secs = self.last.elapsed().as_secs_f64();
        let rate = (s.handled - self.last_handled) as f64 / secs;
        let share = 100.0 * s.handler_time.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
        let _ = write!(
            io::stderr(),
            "\r\x1b[Kwprobe: {} events, {rate:.0}/s, {} lost, handler {share:.1}% of the time",
            s.handled,
            s.lost
        );
        self.last = std::time::Instant::now();
        self.last_handled = s.handled;
    }

    fn clear(&self) {
        if self.enabled {
            let _ = write!(io::stderr(), "\r\x1b[K");
        }
    }
}
