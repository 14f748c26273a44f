//! The dispatcher: batches in, handler calls, output out. Live runs and replay share it, so
//! a recorded file replays exactly as the live events did.

use crate::batch::BatchBuilder;
use crate::events_file::{EventsFileError, EventsReader};
use crate::sandbox::{Handler, HandlerFault};
use std::io::{self, Read, Write};

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

/// Counters of a session, for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub batches: u64,
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

/// Feeds batches into one handler and its output into a sink.
pub struct Dispatcher<'a> {
    handler: &'a mut Handler,
    sink: &'a mut dyn Sink,
    stats: Stats,
}

impl<'a> Dispatcher<'a> {
    pub fn new(handler: &'a mut Handler, sink: &'a mut dyn Sink) -> Self {
        Self { handler, sink, stats: Stats::default() }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Hands the batch to the handler, writes its output, and empties the batch. Returns
    /// true when the handler asked to exit.
    pub fn dispatch(&mut self, batch: &mut BatchBuilder) -> Result<bool, SessionError> {
        if batch.is_empty() && batch.lost() == 0 {
            return Ok(false);
        }
        self.stats.batches += 1;
        self.stats.events += batch.len() as u64;
        self.stats.lost += batch.lost();
        let result = self.handler.handle_batch(batch.finish());
        batch.clear();
        // Output written before a fault is still shown: it says how far the handler got.
        self.write_output()?;
        Ok(result?.exit_requested)
    }

    /// Runs the end hook and writes its output.
    pub fn end(&mut self) -> Result<(), SessionError> {
        let result = self.handler.end();
        self.write_output()?;
        result.map_err(Into::into)
    }

    /// Writes out what the handler produced so far (its `init` output, say).
    pub fn write_output(&mut self) -> Result<(), SessionError> {
        let sink = &mut *self.sink;
        let mut result = Ok(());
        self.handler.output().drain(|out, err| {
            result = (|| {
                if !out.is_empty() {
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
