//! The handler's timers (SystemTap's `probe timer.ms(N)`, bpftrace's `interval:ms:N`): when
//! each `tick` is due, on the events' clock.
//!
//! Ticks run in user space, between batches, on CLOCK_MONOTONIC: the clock of
//! `bpf_ktime_get_ns` and so of every record's timestamp. The dispatcher hands over every
//! event stamped before a tick's time before that tick and none after it, so a tool that
//! prints "per interval" counts each event in the interval in which it happened, live and in
//! replay alike. Live, the run loop also wakes at each tick's time when no events come; in
//! replay there is no wall clock, and ticks fire as the recorded timestamps pass them.
//!
//! Every period's tick fires, in time order (ties in timer order), even when the handler or
//! the host was too slow for it: replay then calls exactly the ticks the live run called.

use std::time::Duration;

/// CLOCK_MONOTONIC in ns, the clock of `bpf_ktime_get_ns` and of the records' timestamps.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The schedule of a handler's timers.
#[derive(Clone, Debug, Default)]
pub struct Timers {
    periods: Vec<u64>,
    /// When each timer is next due, in CLOCK_MONOTONIC ns; empty until `start`.
    next: Vec<u64>,
}

impl Timers {
    pub fn new(periods: &[Duration]) -> Self {
        Self { periods: periods.iter().map(|p| (p.as_nanos() as u64).max(1)).collect(), next: Vec::new() }
    }

    /// True when the handler asked for no timer: the dispatcher then never looks at a
    /// timestamp.
    pub fn is_empty(&self) -> bool {
        self.periods.is_empty()
    }

    pub fn is_started(&self) -> bool {
        !self.next.is_empty()
    }

    /// Starts every timer at `origin`: timer `i` is first due at `origin + period[i]`.
    pub fn start(&mut self, origin: u64) {
        self.next = self.periods.iter().map(|p| origin.saturating_add(*p)).collect();
    }

    /// The time the next tick is due, if any timer is started.
    pub fn next_due(&self) -> Option<u64> {
        self.next.iter().copied().min()
    }

    /// The next timer due at or before `now`, moved on by one period; in time order, ties in
    /// timer order.
    pub fn pop_due(&mut self, now: u64) -> Option<u32> {
        let (i, &due) = self.next.iter().enumerate().min_by_key(|&(i, &due)| (due, i))?;
        if due > now {
            return None;
        }
        self.next[i] = due.saturating_add(self.periods[i]);
        Some(i as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fires_every_period_in_time_order() {
        let mut t = Timers::new(&[ms(2), ms(3)]);
        assert!(!t.is_started());
        assert_eq!(t.pop_due(u64::MAX), None, "nothing is due before the start");
        t.start(1_000_000);
        assert_eq!(t.next_due(), Some(3_000_000));
        let mut fired = Vec::new();
        while let Some(i) = t.pop_due(7_000_000) {
            fired.push(i);
        }
        // Due at 3 (0), 4 (1), 5 (0), 7 (0, 1: a tie goes to the lower index).
        assert_eq!(fired, [0, 1, 0, 0, 1]);
        assert_eq!(t.next_due(), Some(9_000_000));
    }

    #[test]
    fn no_timers() {
        let mut t = Timers::new(&[]);
        assert!(t.is_empty());
        t.start(5);
        assert_eq!(t.next_due(), None);
        assert_eq!(t.pop_due(u64::MAX), None);
    }
}
