//! What a handler writes: `printf` text and diagnostics, capped per call.

use std::sync::{Arc, Mutex, MutexGuard};

/// Raised (as a trap) when a call writes more than the output limit.
#[derive(Debug, thiserror::Error)]
#[error("output limit of {limit} bytes per call exceeded")]
pub struct OutputLimitExceeded {
    pub limit: usize,
}

/// The handler's pending output. Shared with the WASI stdout/stderr streams, which is why
/// it sits behind a mutex (never contended: one Store runs on one thread at a time).
#[derive(Clone)]
pub struct Output {
    inner: Arc<Mutex<Pending>>,
}

#[derive(Default)]
struct Pending {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    written_this_call: usize,
    limit: usize,
}

impl Output {
    pub(crate) fn new(limit_per_call: usize) -> Self {
        Self { inner: Arc::new(Mutex::new(Pending { limit: limit_per_call, ..Default::default() })) }
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A poisoned lock only means a panic elsewhere mid-write; the bytes are still valid.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn begin_call(&self) {
        self.lock().written_this_call = 0;
    }

    /// Appends handler output (printf, WASI stdout).
    pub(crate) fn stdout(&self, bytes: &[u8]) -> Result<(), OutputLimitExceeded> {
        self.lock().append(bytes, false)
    }

    /// Appends a diagnostic (warn, WASI stderr).
    pub(crate) fn stderr(&self, bytes: &[u8]) -> Result<(), OutputLimitExceeded> {
        self.lock().append(bytes, true)
    }

    /// Hands the pending output to `f` as (stdout, stderr) and empties it, keeping the buffers.
    pub fn drain(&mut self, f: impl FnOnce(&[u8], &[u8])) {
        let mut p = self.lock();
        f(&p.stdout, &p.stderr);
        p.stdout.clear();
        p.stderr.clear();
    }
}

impl Pending {
    fn append(&mut self, bytes: &[u8], stderr: bool) -> Result<(), OutputLimitExceeded> {
        if self.written_this_call + bytes.len() > self.limit {
            // Keep what fits, so that the user sees where the flood started.
            let room = self.limit - self.written_this_call;
            let buf = if stderr { &mut self.stderr } else { &mut self.stdout };
            buf.extend_from_slice(&bytes[..room]);
            self.written_this_call = self.limit;
            return Err(OutputLimitExceeded { limit: self.limit });
        }
        self.written_this_call += bytes.len();
        let buf = if stderr { &mut self.stderr } else { &mut self.stdout };
        buf.extend_from_slice(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_is_per_call_and_keeps_what_fits() {
        let mut out = Output::new(10);
        out.stdout(b"hello").unwrap();
        out.stderr(b"abc").unwrap();
        let err = out.stdout(b"world").unwrap_err();
        assert_eq!(err.limit, 10);
        out.drain(|o, e| {
            assert_eq!(o, b"hellowo");
            assert_eq!(e, b"abc");
        });
        out.stdout(b"more").unwrap_err();
        out.begin_call();
        out.stdout(b"0123456789").unwrap();
    }
}
