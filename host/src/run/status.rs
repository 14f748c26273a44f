//! The status line: one self-updating line on stderr when it is a terminal (rate, losses,
//! the handler's share of the time), which never mixes with output lines.
//!
//! Output goes through [`StatusSink`], which erases the status line before any output that
//! reaches its terminal and draws it again after the batch's output is flushed. When stdout
//! is that same terminal and handler output is flowing, the line stays off: it would only
//! flicker between output lines. It is never drawn after output that did not end its line.

use super::RunSummary;
use crate::session::Sink;
use std::cell::RefCell;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running session's counters, readable from other threads (relaxed: each is a count on
/// its own, read for metrics).
#[derive(Debug, Default)]
pub struct LiveCounters {
    pub seen: AtomicU64,
    pub handled: AtomicU64,
    pub lost: AtomicU64,
    pub batches: AtomicU64,
    pub handler_ns: AtomicU64,
}

impl LiveCounters {
    pub fn store(&self, s: &RunSummary) {
        self.seen.store(s.seen, Ordering::Relaxed);
        self.handled.store(s.handled, Ordering::Relaxed);
        self.lost.store(s.lost, Ordering::Relaxed);
        self.batches.store(s.batches, Ordering::Relaxed);
        self.handler_ns.store(s.handler_time.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// How often the line is redrawn.
const PERIOD: Duration = Duration::from_secs(1);
const ERASE: &[u8] = b"\r\x1b[K";

/// The status line; clones share it (the run loop updates it, the output sink erases it).
#[derive(Clone)]
pub struct Status(Rc<RefCell<State>>);

struct State {
    /// Where a daemon reads a running session's counters (`wprobe serve`'s metrics).
    counters: Option<Arc<LiveCounters>>,
    term: Box<dyn Write>,
    enabled: bool,
    /// stdout is the status line's terminal too.
    stdout_same: bool,
    /// The text on screen now.
    shown: Option<String>,
    /// The text erased for output, to be drawn again after it.
    erased: Option<String>,
    /// Handler output reached the terminal since the last update.
    output_flowing: bool,
    /// The terminal's cursor is not at the start of a line.
    mid_line: bool,
    last: Option<Instant>,
    last_handled: u64,
}

impl Status {
    /// A status line on stderr if it is a terminal. `stdout_is_output`: handler output goes
    /// to stdout (not to a file given with `-o`).
    pub fn on_stderr(stdout_is_output: bool) -> Status {
        let enabled = io::stderr().is_terminal();
        let stdout_same = stdout_is_output && enabled && same_terminal(&io::stdout(), &io::stderr());
        Status::new(Box::new(io::stderr()), enabled, stdout_same)
    }

    /// A status line that never shows.
    pub fn off() -> Status {
        Status::new(Box::new(io::sink()), false, false)
    }

    /// No line, but the counters kept up to date in `counters`, for another thread to read.
    pub fn counting(counters: Arc<LiveCounters>) -> Status {
        let status = Status::off();
        status.0.borrow_mut().counters = Some(counters);
        status
    }

    /// A status line written to `term`; for tests.
    pub fn new(term: Box<dyn Write>, enabled: bool, stdout_same: bool) -> Status {
        Status(Rc::new(RefCell::new(State {
            counters: None,
            term,
            enabled,
            stdout_same,
            shown: None,
            erased: None,
            output_flowing: false,
            mid_line: false,
            last: None,
            last_handled: 0,
        })))
    }

    /// Redraws the line if a period has passed since the last update at `now`.
    pub fn update(&self, s: &RunSummary, elapsed: Duration, now: Instant) {
        let mut st = self.0.borrow_mut();
        if let Some(c) = &st.counters {
            c.store(s);
        }
        let Some(last) = st.last else {
            st.last = Some(now);
            return;
        };
        if !st.enabled || now.saturating_duration_since(last) < PERIOD {
            return;
        }
        let secs = now.saturating_duration_since(last).as_secs_f64();
        let rate = s.handled.saturating_sub(st.last_handled) as f64 / secs;
        let share = 100.0 * s.handler_time.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
        st.last = Some(now);
        st.last_handled = s.handled;
        let flowing = std::mem::take(&mut st.output_flowing);
        if (st.stdout_same && flowing) || st.mid_line {
            return;
        }
        let text =
            format!("wprobe: {} events, {rate:.0}/s, {} lost, handler {share:.1}% of the time", s.handled, s.lost);
        st.draw(text);
    }

    /// Erases the line for good (at the end of the run).
    pub fn clear(&self) {
        let mut st = self.0.borrow_mut();
        st.erase();
        st.erased = None;
    }

    fn before_output(&self, bytes: &[u8], handler_stdout: bool) {
        if bytes.is_empty() {
            return;
        }
        let mut st = self.0.borrow_mut();
        if let Some(text) = st.erase() {
            st.erased = Some(text);
        }
        st.output_flowing |= handler_stdout;
        st.mid_line = !bytes.ends_with(b"\n");
    }

    fn after_flush(&self) {
        let mut st = self.0.borrow_mut();
        let Some(text) = st.erased.take() else { return };
        // Not after an unfinished line, nor while output flows to this very terminal.
        if !(st.mid_line || (st.stdout_same && st.output_flowing)) {
            st.draw(text);
        }
    }

    fn stdout_same(&self) -> bool {
        self.0.borrow().stdout_same
    }
}

impl State {
    fn draw(&mut self, text: String) {
        let mut line = ERASE.to_vec();
        line.extend_from_slice(text.as_bytes());
        // The status line is a courtesy: a terminal that cannot take it is no reason to stop.
        let _ = self.term.write_all(&line).and_then(|()| self.term.flush());
        self.shown = Some(text);
    }

    fn erase(&mut self) -> Option<String> {
        let text = self.shown.take()?;
        let _ = self.term.write_all(ERASE).and_then(|()| self.term.flush());
        Some(text)
    }
}

/// A sink that keeps output and the status line apart.
pub struct StatusSink<S: Sink> {
    pub inner: S,
    pub status: Status,
}

impl<S: Sink> Sink for StatusSink<S> {
    fn stdout(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.status.stdout_same() {
            self.status.before_output(bytes, true);
        }
        self.inner.stdout(bytes)
    }

    fn stderr(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.status.before_output(bytes, false);
        self.inner.stderr(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()?;
        self.status.after_flush();
        Ok(())
    }
}

/// Whether two descriptors are the same terminal device.
fn same_terminal(a: &impl AsRawFd, b: &impl AsRawFd) -> bool {
    fn device(fd: i32) -> Option<(u64, u64)> {
        // SAFETY: stat is plain old data, for which all zeroes is a valid value.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer to a stat buffer.
        if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFCHR {
            return None;
        }
        Some((st.st_rdev, st.st_ino))
    }
    // SAFETY: isatty has no preconditions.
    let tty = |fd| unsafe { libc::isatty(fd) } == 1;
    let (a, b) = (a.as_raw_fd(), b.as_raw_fd());
    tty(a) && tty(b) && device(a).is_some_and(|d| device(b) == Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::WriterSink;

    /// One terminal, shared by every writer that writes to it.
    #[derive(Clone, Default)]
    struct Screen(Rc<RefCell<Vec<u8>>>);

    impl Write for Screen {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Screen {
        /// What the terminal shows, line by line: each `\r` goes back to the line's start,
        /// and ESC [ K erases the rest of it.
        fn lines(&self) -> Vec<String> {
            let text = String::from_utf8(self.0.borrow().clone()).unwrap();
            let mut lines = vec![String::new()];
            let mut rest = text.as_str();
            while let Some(c) = rest.chars().next() {
                if let Some(r) = rest.strip_prefix("\x1b[K") {
                    lines.last_mut().unwrap().clear();
                    rest = r;
                    continue;
                }
                match c {
                    '\n' => lines.push(String::new()),
                    '\r' => {}
                    c => lines.last_mut().unwrap().push(c),
                }
                rest = &rest[c.len_utf8()..];
            }
            lines
        }
    }

    fn summary(handled: u64) -> RunSummary {
        RunSummary { handled, ..RunSummary::default() }
    }

    #[test]
    fn output_never_shares_a_line_with_the_status_and_the_status_comes_back_after_it() {
        let screen = Screen::default();
        let status = Status::new(Box::new(screen.clone()), true, false);
        // stdout goes elsewhere (a pipe); the handler's warnings share the status's terminal.
        let mut sink =
            StatusSink { inner: WriterSink { out: Vec::new(), err: screen.clone() }, status: status.clone() };
        let t0 = Instant::now();
        status.update(&summary(0), Duration::ZERO, t0);
        status.update(&summary(10), Duration::from_secs(1), t0 + PERIOD);
        assert_eq!(screen.lines(), ["wprobe: 10 events, 10/s, 0 lost, handler 0.0% of the time"]);
        sink.stderr(b"warning: one\n").unwrap();
        sink.flush().unwrap();
        let lines = screen.lines();
        assert_eq!(lines[0], "warning: one", "{lines:?}");
        assert!(lines[1].starts_with("wprobe: 10 events"), "redrawn after the output: {lines:?}");
        // Handler output to the pipe does not touch the terminal.
        sink.stdout(b"data\n").unwrap();
        sink.flush().unwrap();
        assert_eq!(screen.lines(), lines);
        status.clear();
        assert_eq!(screen.lines(), ["warning: one", ""]);
    }

    #[test]
    fn the_status_stays_off_while_output_flows_to_the_same_terminal() {
        let screen = Screen::default();
        let status = Status::new(Box::new(screen.clone()), true, true);
        let mut sink =
            StatusSink { inner: WriterSink { out: screen.clone(), err: screen.clone() }, status: status.clone() };
        let t0 = Instant::now();
        status.update(&summary(0), Duration::ZERO, t0);
        status.update(&summary(5), Duration::from_secs(1), t0 + PERIOD);
        assert_eq!(screen.lines(), ["wprobe: 5 events, 5/s, 0 lost, handler 0.0% of the time"]);
        sink.stdout(b"line 1\nline 2\n").unwrap();
        sink.flush().unwrap();
        assert_eq!(screen.lines(), ["line 1", "line 2", ""], "erased, and not redrawn while output flows");
        status.update(&summary(9), Duration::from_secs(2), t0 + 2 * PERIOD);
        assert_eq!(screen.lines(), ["line 1", "line 2", ""], "output flowed during that second");
        // A quiet second brings it back.
        status.update(&summary(9), Duration::from_secs(3), t0 + 3 * PERIOD);
        assert!(screen.lines()[2].starts_with("wprobe: 9 events"), "{:?}", screen.lines());
    }

    #[test]
    fn the_status_is_not_drawn_after_an_unfinished_output_line() {
        let screen = Screen::default();
        let status = Status::new(Box::new(screen.clone()), true, false);
        let mut sink =
            StatusSink { inner: WriterSink { out: Vec::new(), err: screen.clone() }, status: status.clone() };
        let t0 = Instant::now();
        status.update(&summary(0), Duration::ZERO, t0);
        sink.stderr(b"no newline yet").unwrap();
        sink.flush().unwrap();
        status.update(&summary(1), Duration::from_secs(1), t0 + PERIOD);
        assert_eq!(screen.lines(), ["no newline yet"]);
        sink.stderr(b", done\n").unwrap();
        sink.flush().unwrap();
        status.update(&summary(2), Duration::from_secs(2), t0 + 2 * PERIOD);
        assert_eq!(screen.lines()[0], "no newline yet, done");
        assert!(screen.lines()[1].starts_with("wprobe: 2 events"), "{:?}", screen.lines());
    }

    #[test]
    fn a_disabled_status_writes_nothing() {
        let screen = Screen::default();
        let status = Status::new(Box::new(screen.clone()), false, false);
        let t0 = Instant::now();
        status.update(&summary(0), Duration::ZERO, t0);
        status.update(&summary(5), Duration::from_secs(1), t0 + PERIOD);
        status.clear();
        assert!(screen.0.borrow().is_empty());
    }
}
