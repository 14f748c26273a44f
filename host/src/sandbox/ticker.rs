//! The engine's epoch clock, which bounds each handler call's CPU time.
//!
//! It ticks every [`EPOCH_TICK`] while calls are being made and parks once none has been made
//! for [`IDLE_TICKS`] ticks, so that an idle `wprobe run` does not wake up 500 times a second.
//! A call marks itself running for its duration ([`Ticker::call`]) and unparks the clock if
//! needed; the deadline it armed counts from the epoch of that moment, so a parked clock only
//! delays nothing.
//!
//! The clock measures wall time, but the bound is CPU time: when a call's deadline passes,
//! the store's callback (`Handler::start`) looks at the CPU time the calling thread has used
//! since the call began and extends the deadline by what is left, so a handler descheduled on
//! a busy machine is not stopped for time it did not run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;
use wasmtime::Engine;

/// How often the epoch ticks. CPU bounds are rounded up to a whole number of ticks.
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(2);
/// Quiet ticks before the clock parks (100 ms).
const IDLE_TICKS: u32 = 50;
/// A parked clock still looks every so often whether its engine is gone, so the thread ends.
const PARKED_CHECK: Duration = Duration::from_secs(1);

/// A handle on the epoch clock of one engine; clones share it.
#[derive(Clone)]
pub(super) struct Ticker(Arc<Shared>);

struct Shared {
    /// Calls begun, and calls ended: equal when none runs.
    begun: AtomicU64,
    ended: AtomicU64,
    parked: AtomicBool,
    thread: OnceLock<Thread>,
}

/// A call in progress; the clock may park again once it is dropped.
#[must_use = "the clock may park while the call runs unless the guard lives as long as the call"]
pub(super) struct Call(Arc<Shared>);

impl Drop for Call {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, SeqCst);
    }
}

impl Ticker {
    /// Starts the clock's thread; it ends once `engine` is dropped.
    pub(super) fn start(engine: &Engine) -> Ticker {
        let shared = Arc::new(Shared {
            begun: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            parked: AtomicBool::new(false),
            thread: OnceLock::new(),
        });
        let weak = engine.weak();
        let s = shared.clone();
        std::thread::Builder::new()
            .name("wprobe-epoch".into())
            .spawn(move || {
                let _ = s.thread.set(std::thread::current());
                let mut seen = u64::MAX;
                let mut idle = 0;
                loop {
                    let begun = s.begun.load(SeqCst);
                    if begun != seen || s.ended.load(SeqCst) != begun {
                        seen = begun;
                        idle = 0;
                    } else if idle >= IDLE_TICKS {
                        // Announce the park, then look once more: a call that began before
                        // the announcement is seen here, one after it sees `parked` and
                        // unparks (both sides use sequentially consistent accesses).
                        s.parked.store(true, SeqCst);
                        if s.begun.load(SeqCst) == seen {
                            std::thread::park_timeout(PARKED_CHECK);
                        }
                        s.parked.store(false, SeqCst);
                        if weak.upgrade().is_none() {
                            return;
                        }
                        continue;
                    } else {
                        idle += 1;
                    }
                    let Some(engine) = weak.upgrade() else { return };
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("cannot start the epoch thread");
        Ticker(shared)
    }

    /// Marks a call as running (the clock ticks) until the returned guard is dropped.
    pub(super) fn call(&self) -> Call {
        let s = &self.0;
        s.begun.fetch_add(1, SeqCst);
        if s.parked.load(SeqCst) {
            if let Some(t) = s.thread.get() {
                t.unpark();
            }
        }
        Call(s.clone())
    }
}

/// The CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into `ts`; this clock exists on every Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Epoch ticks for `d`, rounded up, at least one.
pub(super) fn ticks(d: Duration) -> u64 {
    d.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call made after the clock parked wakes it: the epoch moves again.
    #[test]
    fn a_parked_clock_ticks_again_for_a_call() {
        let engine = Engine::new(wasmtime::Config::new().epoch_interruption(true)).unwrap();
        let ticker = Ticker::start(&engine);
        // Bounded waits, generous for a loaded machine: the clock parks after 100 ms idle.
        let wait_until = |parked: bool| {
            let give_up = std::time::Instant::now() + Duration::from_secs(20);
            while ticker.0.parked.load(SeqCst) != parked && std::time::Instant::now() < give_up {
                std::thread::sleep(EPOCH_TICK);
            }
            ticker.0.parked.load(SeqCst) == parked
        };
        assert!(wait_until(true), "the clock parks when no call runs");
        let call = ticker.call();
        assert!(wait_until(false), "a call sets the clock ticking again");
        drop(call);
    }
}
