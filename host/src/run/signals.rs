//! SIGINT and SIGTERM, watched by a thread of their own.
//!
//! The run loop cannot rely on an async signal stream: while a slow handler keeps up with a
//! full ring, every batch is ready at once and the loop never yields to the runtime that
//! would deliver the signal. So a thread counts the signals and the loop looks at the count
//! between two handler calls: a stop takes effect after at most the call in progress.
//!
//! A second signal cannot wait for the handler: the thread itself closes the events file,
//! kills the command's process group and exits (status 130), skipping the end hook. The
//! kernel detaches the probes when the process's descriptors close.

use super::record::Recorder;
use super::RunError;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// Exit status after a second interrupt, as a shell reports a death by SIGINT.
pub const ABORT_STATUS: i32 = 130;

/// The signal watcher; one per process, living until it exits.
#[derive(Clone)]
pub struct Signals {
    shared: Arc<Shared>,
}

struct Shared {
    /// Whether a second signal ends the process (not for a daemon's sessions).
    aborts: bool,
    count: AtomicU32,
    first: Mutex<Option<Instant>>,
    wake: Notify,
    abort: Mutex<AbortPlan>,
}

/// What a second signal has to clean up.
#[derive(Default)]
struct AbortPlan {
    recorder: Option<Recorder>,
    group: Option<i32>,
}

impl Signals {
    /// Installs the handlers and starts the watcher thread.
    pub fn install() -> Result<Signals, RunError> {
        let (mut read, write) = UnixStream::pair().map_err(RunError::Signals)?;
        // The handler must never block: a full socket only loses wake-ups that are already
        // pending.
        write.set_nonblocking(true).map_err(RunError::Signals)?;
        let fd = write.as_raw_fd();
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the action only calls write(2), which is async-signal-safe, on a
            // descriptor that stays open for the life of the process (leaked below).
            unsafe {
                signal_hook_registry::register(sig, move || {
                    let byte = 1u8;
                    libc::write(fd, (&byte as *const u8).cast(), 1);
                })
            }
            .map_err(RunError::Signals)?;
        }
        std::mem::forget(write);
        let shared = Self::shared(true);
        let watcher = shared.clone();
        std::thread::Builder::new()
            .name("wprobe-signals".into())
            .spawn(move || {
                let mut buf = [0u8; 16];
                while let Ok(n) = read.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    for _ in 0..n {
                        watcher.received();
                    }
                }
            })
            .map_err(RunError::Signals)?;
        Ok(Signals { shared })
    }

    /// A stop switch for one session of `wprobe serve`: no process signal reaches it, only
    /// [`Signals::raise`], and a second raise stops nothing more abruptly than the first.
    pub fn manual() -> Signals {
        Signals { shared: Self::shared(false) }
    }

    fn shared(aborts: bool) -> Arc<Shared> {
        Arc::new(Shared {
            aborts,
            count: AtomicU32::new(0),
            first: Mutex::new(None),
            wake: Notify::new(),
            abort: Mutex::new(AbortPlan::default()),
        })
    }

    /// Stops the run as a signal would (a first one: the drain and the end hook follow).
    pub fn raise(&self) {
        self.shared.received();
    }

    /// Signals received so far.
    pub fn count(&self) -> u32 {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// When the first signal arrived.
    pub fn first_at(&self) -> Option<Instant> {
        *lock(&self.shared.first)
    }

    /// Completes once a signal has arrived (at once if one already has).
    pub async fn arrived(&self) {
        loop {
            let notified = self.shared.wake.notified();
            if self.count() > 0 {
                return;
            }
            notified.await;
        }
    }

    /// The events file a second signal must close before exiting.
    pub fn close_on_abort(&self, recorder: Recorder) {
        lock(&self.shared.abort).recorder = Some(recorder);
    }

    /// The process group a second signal must kill before exiting.
    pub fn kill_on_abort(&self, group: i32) {
        lock(&self.shared.abort).group = Some(group);
    }
}

impl Shared {
    fn received(&self) {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 1 {
            *lock(&self.first) = Some(Instant::now());
            self.wake.notify_waiters();
        } else if n == 2 && self.aborts {
            self.abort();
        }
    }

    /// The second signal: stop at once, leaving the events file complete.
    fn abort(&self) -> ! {
        let plan = lock(&self.abort);
        if let Some(group) = plan.group {
            // SAFETY: plain syscall; a group that is already gone only gives ESRCH.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let mut msg = String::from("wprobe: interrupted again: stopped at once, the end hook skipped");
        if let Some(rec) = &plan.recorder {
            match rec.finish() {
                Ok(()) => msg += &format!("; {} is complete", rec.path().display()),
                Err(e) => msg += &format!("; {e}"),
            }
        }
        msg.push('\n');
        let _ = std::io::stderr().write_all(msg.as_bytes());
        // SAFETY: _exit ends the process without running other threads' destructors or
        // atexit handlers, one of which could be waiting for the handler call in progress.
        unsafe { libc::_exit(ABORT_STATUS) }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
