//! The events file of a live run. Shared between the run loop, which writes every batch it
//! reads from the ring before the handler sees it, and the signal thread, which closes the
//! file on a second Ctrl-C; whoever comes first writes the end frame.

use crate::events_file::EventsWriter;
use crate::probe::ProbeInfo;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use wprobe_common::{Arch, BatchRef};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot create the events file {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot write the events file {path}: {source} (it stays readable up to its last complete event)")]
    Write { path: PathBuf, source: io::Error },
}

/// A recording in progress; clones share it.
#[derive(Clone)]
pub struct Recorder {
    state: Arc<Mutex<State>>,
    path: Arc<Path>,
}

enum State {
    Open(EventsWriter<BufWriter<File>>),
    /// A write failed: the file keeps what was written, and nothing more is tried.
    Failed,
    Closed,
}

impl Recorder {
    pub fn create(path: &Path, arch: Arch, probes: &[ProbeInfo]) -> Result<Recorder, RecordError> {
        let writer = EventsWriter::create(path, arch, probes)
            .map_err(|source| RecordError::Create { path: path.to_owned(), source })?;
        Ok(Recorder { state: Arc::new(Mutex::new(State::Open(writer))), path: Arc::from(path) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a finished batch. After the file was closed (by a second Ctrl-C, the process
    /// is about to exit) the batch is not written.
    pub fn write_batch(&self, batch: &BatchRef<'_>) -> Result<(), RecordError> {
        let mut state = self.lock();
        let written = match &mut *state {
            State::Open(w) => w.write_batch(batch),
            State::Failed | State::Closed => return Ok(()),
        };
        written.map_err(|e| self.failed(&mut state, e))
    }

    /// Writes the end frame and flushes. Closing twice, or after a failed write, does nothing.
    pub fn finish(&self) -> Result<(), RecordError> {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, State::Closed) {
            State::Open(w) => w.finish().map(drop).map_err(|e| self.failed(&mut state, e)),
            State::Failed => {
                *state = State::Failed;
                Ok(())
            }
            State::Closed => Ok(()),
        }
    }

    fn failed(&self, state: &mut State, source: io::Error) -> RecordError {
        *state = State::Failed;
        RecordError::Write { path: self.path.to_path_buf(), source }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
