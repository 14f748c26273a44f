//! The dispatcher: batches in, handler calls, output out. Live runs and replay share it, so
//! a recorded file replays exactly as the live events did.

use crate::batch::BatchBuilder;
use crate::events_file::{EventsFileError, EventsReader};
use crate::probe::ProbeInfo;
use crate::sandbox::{Handler, HandlerFault};
use crate::timers::Timers;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use wprobe_common::EventRef;

/// Where handler output goes.
pub trait Sink {
    /// Handler output (`printf`).
    fn stdout(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Diagnostics (`warn`, panics).
    fn stderr(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Called after each batch, so that live output is not held back.
    fn flush(&mut self) -> io::Result<()>;
}

/// Writes to any two writers, e.g. stdout and stderr.
pub struct WriterSink<O: Write, E: Write> {
    pub out: O,
    pub err: E,
}

impl<O: Write, E: Write> Sink for WriterSink<O, E> {
    fn stdout(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)
    }
    fn stderr(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.err.write_all(bytes)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.err.flush()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Handler(#[from] HandlerFault),
    #[error(transparent)]
    EventsFile(#[from] EventsFileError),
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
}

impl SessionError {
    /// The reader of the output went away (`wprobe … | head -1`): a reason to stop quietly,
    /// not an error.
    pub fn is_closed_output(&self) -> bool {
        matches!(self, SessionError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Counters of a session, for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub batches: u64,
    /// Timer ticks run.
    pub ticks: u64,
    pub events: u64,
    pub lost: u64,
}

/// Why the session stopped (when it stopped without an error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The source ran out of events (end of file, end of `-c CMD`, ...).
    SourceEnded,
    /// The handler called `exit()`.
    Exit,
}

/// A handler waiting to replace a running one between two batches (`wprobe swap`), and
/// where the outcome is told. See [`Dispatcher::swap_from`].
#[derive(Default)]
pub struct HandlerSwap {
    pending: AtomicBool,
    slot: Mutex<Option<(Handler, SwapDone)>>,
}

/// Where the old handler's end-hook result goes once a swap is done.
type SwapDone = mpsc::Sender<Result<(), SessionError>>;

impl HandlerSwap {
    /// Hands over `next` (already started: its `init` ran); the receiver gets the old
    /// handler's end-hook result once the swap is done, or nothing if the run ends first.
    pub fn offer(&self, next: Handler) -> mpsc::Receiver<Result<(), SessionError>> {
        let (tx, rx) = mpsc::channel();
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((next, tx));
        self.pending.store(true, Ordering::Release);
        rx
    }

    fn take(&self) -> Option<(Handler, SwapDone)> {
        // A load first: the per-batch cost when no swap is pending is one plain read.
        if !self.pending.load(Ordering::Relaxed) || !self.pending.swap(false, Ordering::Acquire) {
            return None;
        }
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Feeds batches into one handler and its output into a sink.
pub struct Dispatcher<'a> {
    handler: &'a mut Handler,
    swap: Option<Arc<HandlerSwap>>,
    /// Kernel addresses become 0 before the handler sees a batch.
    redact: bool,
    sink: &'a mut dyn Sink,
    stats: Stats,
    /// JSON lines mode: the probe table, to name each line's probe.
    json: Option<Arc<[ProbeInfo]>>,
    json_buf: Vec<u8>,
    /// `--stats-every N`: a stats line every N events and one after the end hook.
    stats_every: Option<u64>,
    /// The event count at which the next stats line is due.
    stats_due: u64,
    /// The events and memory of the last stats line.
    stats_last: Option<(u64, usize)>,
    timers: Timers,
    /// The part of a batch before a tick's time (allocated at the first cut).
    front: Option<BatchBuilder>,
}

impl<'a> Dispatcher<'a> {
    pub fn new(handler: &'a mut Handler, sink: &'a mut dyn Sink) -> Self {
        let timers = Timers::new(handler.timers());
        Self {
            handler,
            swap: None,
            redact: false,
            sink,
            stats: Stats::default(),
            json: None,
            json_buf: Vec::new(),
            timers,
            front: None,
            stats_every: None,
            stats_due: u64::MAX,
            stats_last: None,
        }
    }

    /// Writes `wprobe: stats: N events, handler memory B bytes (…)` on the sink's stderr every
    /// `every` events handed over, and once more after the end hook: how a long run's memory
    /// develops, for people and for tests.
    pub fn stats_every(mut self, every: u64) -> Self {
        self.stats_every = Some(every.max(1));
        self.stats_due = every.max(1);
        self
    }

    /// Starts the handler's timers at `origin` (CLOCK_MONOTONIC ns: a live run's start).
    /// Without it they start at the first event's timestamp (replay).
    pub fn start_timers(&mut self, origin: u64) {
        self.timers.start(origin);
    }

    /// When the next tick is due (CLOCK_MONOTONIC ns), for a live loop to wake up then.
    pub fn next_tick(&self) -> Option<u64> {
        self.timers.next_due()
    }

    /// Runs every tick due at or before `now`. Returns true when the handler asked to exit.
    pub fn tick_until(&mut self, now: u64) -> Result<bool, SessionError> {
        while let Some(timer) = self.timers.pop_due(now) {
            self.stats.ticks += 1;
            let result = self.handler.tick(timer);
            self.write_output()?;
            if result?.exit_requested {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Takes handlers offered through `swap` between two batches: the old one's end hook
    /// runs and its output is written, then the new one (whose `init` already ran) gets
    /// every batch from the next on. No batch is skipped or handed over twice.
    pub fn swap_from(mut self, swap: Arc<HandlerSwap>) -> Self {
        self.swap = Some(swap);
        self
    }

    /// Redacts kernel addresses in every batch before the handler sees it (see
    /// [`crate::redact`]).
    pub fn redacting(mut self) -> Self {
        self.redact = true;
        self
    }

    /// Between two batches, whether or not events come: where a pending swap happens.
    pub fn between_batches(&mut self) -> Result<(), SessionError> {
        self.maybe_swap()
    }

    fn maybe_swap(&mut self) -> Result<(), SessionError> {
        let Some((mut next, done)) = self.swap.as_deref().and_then(HandlerSwap::take) else { return Ok(()) };
        let ended = self.handler.end().map_err(SessionError::from);
        let written = self.write_output();
        std::mem::swap(self.handler, &mut next);
        // The new handler's own timers, counting from the swap.
        let started = self.timers.is_started();
        self.timers = Timers::new(self.handler.timers());
        if started {
            self.timers.start(crate::timers::monotonic_ns());
        }
        // The new handler's init output.
        let written = written.and_then(|()| self.write_output());
        let _ = done.send(ended);
        written
    }

    /// Writes each output line as a JSON object naming the event that printed it:
    /// `{"probe":…,"pid":…,"tid":…,"cpu":…,"timestamp_ns":…,"line":…}` (event fields are
    /// null for lines from `init` and `end`). The caller hands over one event per batch, so
    /// that every line belongs to exactly one event.
    /// The pid `target()` answers in the handler (the `-c` command's).
    pub fn set_target(&mut self, pid: u32) {
        self.handler.set_target(pid);
    }

    pub fn json_lines(mut self, probes: Arc<[ProbeInfo]>) -> Self {
        self.json = Some(probes);
        self
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Hands the batch to the handler, writes its output, and empties the batch. Returns
    /// true when the handler asked to exit. With timers, the batch is cut at each tick's
    /// time and the tick runs between the two parts.
    pub fn dispatch(&mut self, batch: &mut BatchBuilder) -> Result<bool, SessionError> {
        self.maybe_swap()?;
        if self.timers.is_empty() {
            return self.dispatch_whole(batch);
        }
        if !self.timers.is_started() {
            let first = batch.timestamps().next();
            match first {
                Some(first) => self.timers.start(first),
                None => return self.dispatch_whole(batch),
            }
        }
        loop {
            let Some(due) = self.timers.next_due() else { return self.dispatch_whole(batch) };
            let cut = batch.timestamps().enumerate().find(|&(_, ts)| ts >= due);
            let Some((cut, at)) = cut else {
                return self.dispatch_whole(batch);
            };
            if cut > 0 {
                let front = self.front.get_or_insert_with(|| BatchBuilder::new(batch.arch(), batch.capacity()));
                batch.split_front(cut, front);
                let mut front = self.front.take().expect("set above");
                let exit = self.dispatch_whole(&mut front);
                self.front = Some(front);
                if exit? {
                    batch.clear();
                    return Ok(true);
                }
            }
            if self.tick_until(at)? {
                batch.clear();
                return Ok(true);
            }
        }
    }

    fn dispatch_whole(&mut self, batch: &mut BatchBuilder) -> Result<bool, SessionError> {
        if batch.is_empty() && batch.lost() == 0 {
            return Ok(false);
        }
        self.stats.batches += 1;
        self.stats.events += batch.len() as u64;
        self.stats.lost += batch.lost();
        if self.redact {
            batch.redact_kernel_pointers();
        }
        let result = self.handler.handle_batch(batch.finish());
        // Output written before a fault is still shown: it says how far the handler got.
        let event = batch.view().get(0);
        self.write_output_for(event)?;
        batch.clear();
        self.after_call()?;
        if self.stats.events >= self.stats_due {
            self.write_stats()?;
            let every = self.stats_every.unwrap_or(u64::MAX);
            self.stats_due = (self.stats.events / every).saturating_add(1).saturating_mul(every);
        }
        Ok(result?.exit_requested)
    }

    /// Runs the end hook and writes its output.
    pub fn end(&mut self) -> Result<(), SessionError> {
        let result = self.handler.end();
        self.write_output()?;
        // Unless the last batch has just written the same line.
        if self.stats_every.is_some() && self.stats_last != Some((self.stats.events, self.handler.memory())) {
            self.write_stats()?;
        }
        result.map_err(Into::into)
    }

    /// The memory warning, once, as soon as a call took the handler past it.
    fn after_call(&mut self) -> Result<(), SessionError> {
        if let Some(warning) = self.handler.take_memory_warning() {
            self.sink.stderr(format!("{warning}\n").as_bytes()).map_err(SessionError::Output)?;
        }
        Ok(())
    }

    fn write_stats(&mut self) -> Result<(), SessionError> {
        let memory = self.handler.memory() as u64;
        self.stats_last = Some((self.stats.events, memory as usize));
        let line = format!(
            "wprobe: stats: {} events, handler memory {memory} bytes ({})\n",
            self.stats.events,
            crate::sandbox::human_size(memory)
        );
        self.sink.stderr(line.as_bytes()).and_then(|()| self.sink.flush()).map_err(SessionError::Output)
    }

    /// Writes out what the handler produced so far (its `init` output, say).
    pub fn write_output(&mut self) -> Result<(), SessionError> {
        self.write_output_for(None)?;
        self.after_call()
    }

    fn write_output_for(&mut self, event: Option<EventRef<'_>>) -> Result<(), SessionError> {
        let sink = &mut *self.sink;
        let json = self.json.as_deref().map(|probes| (probes, &mut self.json_buf));
        let mut result = Ok(());
        self.handler.output().drain(|out, err| {
            result = (|| {
                if let Some((probes, buf)) = json {
                    if !out.is_empty() {
                        buf.clear();
                        json::write_lines(buf, probes, event, out);
                        sink.stdout(buf)?;
                    }
                } else if !out.is_empty() {
                    sink.stdout(out)?;
                }
                if !err.is_empty() {
                    sink.stderr(err)?;
                }
                sink.flush()
            })();
        });
        result.map_err(SessionError::Output)
    }
}

/// Replays an events file through a handler: every batch, then the end hook. A damaged file
/// still gets the events before the damage handled and the end hook run, then the error.
pub fn replay<R: Read>(
    dispatcher: &mut Dispatcher<'_>,
    reader: &mut EventsReader<R>,
    batch: &mut BatchBuilder,
) -> Result<Stop, SessionError> {
    dispatcher.write_output()?;
    let mut source_error = None;
    let stop = loop {
        let more = match reader.fill(batch) {
            Ok(more) => more,
            Err(e) => {
                source_error = Some(e);
                false
            }
        };
        if dispatcher.dispatch(batch)? {
            break Stop::Exit;
        }
        if !more {
            break Stop::SourceEnded;
        }
    };
    dispatcher.end()?;
    match source_error {
        Some(e) => Err(e.into()),
        None => Ok(stop),
    }
}

mod json {
    use crate::probe::ProbeInfo;
    use serde::Serialize;
    use wprobe_common::EventRef;

    /// One output line and the event that printed it (all null for lines from `init` and
    /// `end`). Fields in this order, for people reading the lines.
    #[derive(Serialize)]
    struct Line<'a> {
        probe: Option<&'a str>,
        pid: Option<u32>,
        tid: Option<u32>,
        cpu: Option<u32>,
        timestamp_ns: Option<u64>,
        line: &'a str,
    }

    /// One JSON object per line of `text`.
    pub(super) fn write_lines(buf: &mut Vec<u8>, probes: &[ProbeInfo], event: Option<EventRef<'_>>, text: &[u8]) {
        let text = String::from_utf8_lossy(text);
        for line in text.split_inclusive('\n') {
            let line = line.strip_suffix('\n').unwrap_or(line);
            let record = Line {
                probe: event.map(|e| probes.get(e.probe_id() as usize).map_or("", |p| p.pp.as_str())),
                pid: event.map(|e| e.pid()),
                tid: event.map(|e| e.tid()),
                cpu: event.map(|e| e.cpu()),
                timestamp_ns: event.map(|e| e.timestamp_ns()),
                line,
            };
            // Writing into a Vec cannot fail, and the record has only plain fields.
            serde_json::to_writer(&mut *buf, &record).expect("serializing a JSON line into memory");
            buf.push(b'\n');
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn escapes_and_nulls() {
            let mut buf = Vec::new();
            write_lines(&mut buf, &[], None, b"a \"q\" \\ \t\x01\nsecond");
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                "{\"probe\":null,\"pid\":null,\"tid\":null,\"cpu\":null,\"timestamp_ns\":null,\"line\":\"a \\\"q\\\" \\\\ \\t\\u0001\"}\n\
                 {\"probe\":null,\"pid\":null,\"tid\":null,\"cpu\":null,\"timestamp_ns\":null,\"line\":\"second\"}\n"
            );
        }
    }
}
