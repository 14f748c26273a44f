//! What a handler writes: `printf` text and diagnostics, bounded per call, per run and per
//! second, and made harmless before it reaches a terminal.
//!
//! A handler is hostile until proven otherwise: its text may carry terminal escape
//! sequences (which can retitle the window, move the cursor, rewrite what was printed, or
//! on some terminals answer back into the input), or lines that look like wprobe's own
//! `wprobe: error: …` diagnostics. So:
//!
//! * diagnostics (`warn`, WASI stderr) always have their control characters shown visibly
//!   (`\x1b`) and any line of theirs that starts like wprobe's own is marked `[handler] `;
//! * `printf` text (and WASI stdout) gets the same treatment when [`OutputBounds::escape`]
//!   is set (the CLI sets it when stdout is a terminal, or with `--escape`), and otherwise
//!   stays byte-exact, for pipes and files;
//! * one `warn` (which is where the SDKs' panic messages go) is capped at [`MESSAGE_CAP`].

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The most of one diagnostic (a `warn`, an error message, a panic message, a trap's
/// backtrace) that reaches the user; the rest is cut with a note saying how much.
pub const MESSAGE_CAP: usize = 4096;

/// Raised (as a trap) when a handler writes past one of its output bounds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutputLimitExceeded {
    #[error("output limit of {limit} bytes per call exceeded")]
    PerCall { limit: usize },
    #[error("output limit of {limit} bytes per run exceeded")]
    Total { limit: u64 },
    #[error("output rate limit of {rate} bytes per second exceeded")]
    Rate { rate: u64 },
}

/// How much a handler may write, and whether its `printf` text is escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputBounds {
    /// Bytes one call (`init`, one batch, `end`) may write (`--output-limit`).
    pub per_call: usize,
    /// Bytes the handler may write over the whole run (`--output-total`).
    pub total: u64,
    /// Sustained bytes per second, with bursts of up to one second's worth
    /// (`--output-rate`); `None`: unbounded.
    pub rate: Option<u64>,
    /// Show control characters in `printf` text visibly (`--escape`, or stdout is a
    /// terminal). Diagnostics are always escaped.
    pub escape: bool,
}

/// The handler's pending output. Shared with the WASI stdout/stderr streams, which is why
/// it sits behind a mutex (never contended: one Store runs on one thread at a time).
#[derive(Clone)]
pub struct Output {
    inner: Arc<Mutex<Pending>>,
}

struct Pending {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// What `drain` hands out when the text had to be rewritten (kept to reuse the memory).
    shown_out: Vec<u8>,
    shown_err: Vec<u8>,
    out_lines: Sanitizer,
    err_lines: Sanitizer,
    written_this_call: usize,
    written_total: u64,
    bounds: OutputBounds,
    bucket: Option<TokenBucket>,
}

impl Output {
    pub(crate) fn new(bounds: OutputBounds) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Pending {
                stdout: Vec::new(),
                stderr: Vec::new(),
                shown_out: Vec::new(),
                shown_err: Vec::new(),
                out_lines: Sanitizer::default(),
                err_lines: Sanitizer::default(),
                written_this_call: 0,
                written_total: 0,
                bounds,
                bucket: bounds.rate.map(TokenBucket::new),
            })),
        }
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

    /// Caps a message the handler returned (an error from `init`, `handle-batch` or `end`)
    /// at [`MESSAGE_CAP`] and at what is left of its output bounds, and counts it against
    /// them: a handler cannot get around `--output-limit` by failing with a huge message.
    pub(crate) fn take_message(&self, message: String) -> String {
        let mut p = self.lock();
        let room = p.room().min(MESSAGE_CAP);
        let message = cap_to(message, room);
        p.written_this_call = p.written_this_call.saturating_add(message.len());
        p.written_total = p.written_total.saturating_add(message.len() as u64);
        message
    }

    /// Appends `WARNING: text` as one diagnostic, the text capped at [`MESSAGE_CAP`]: the
    /// SDKs report panics this way, and a panic message can be anything.
    pub(crate) fn warn(&self, text: String) -> Result<(), OutputLimitExceeded> {
        let text = cap_to(text, MESSAGE_CAP);
        let mut line = Vec::with_capacity(text.len() + 10);
        line.extend_from_slice(b"WARNING: ");
        line.extend_from_slice(text.trim_end_matches('\n').as_bytes());
        line.push(b'\n');
        self.stderr(&line)
    }

    /// Bytes the handler wrote over the run so far (its returned error messages included).
    pub fn total_written(&self) -> u64 {
        self.lock().written_total
    }

    /// Hands the pending output to `f` as (stdout, stderr), as it is to be shown, and
    /// empties it, keeping the buffers.
    pub fn drain(&mut self, f: impl FnOnce(&[u8], &[u8])) {
        let mut guard = self.lock();
        let p = &mut *guard;
        p.shown_err.clear();
        p.err_lines.write(&p.stderr, &mut p.shown_err);
        if p.bounds.escape {
            p.shown_out.clear();
            p.out_lines.write(&p.stdout, &mut p.shown_out);
            f(&p.shown_out, &p.shown_err);
        } else {
            f(&p.stdout, &p.shown_err);
        }
        p.stdout.clear();
        p.stderr.clear();
    }
}

impl Pending {
    /// Bytes the handler may still write now under the per-call and per-run bounds.
    fn room(&self) -> usize {
        let call = self.bounds.per_call.saturating_sub(self.written_this_call);
        let run = self.bounds.total.saturating_sub(self.written_total);
        call.min(usize::try_from(run).unwrap_or(usize::MAX))
    }

    fn append(&mut self, bytes: &[u8], stderr: bool) -> Result<(), OutputLimitExceeded> {
        let mut room = self.room();
        let mut exceeded = None;
        if bytes.len() > room {
            exceeded = Some(if self.bounds.per_call.saturating_sub(self.written_this_call) == room {
                OutputLimitExceeded::PerCall { limit: self.bounds.per_call }
            } else {
                OutputLimitExceeded::Total { limit: self.bounds.total }
            });
        }
        if let Some(bucket) = &mut self.bucket {
            let allowed = bucket.take(bytes.len().min(room));
            if allowed < bytes.len().min(room) {
                room = allowed;
                exceeded = Some(OutputLimitExceeded::Rate { rate: bucket.rate });
            }
        }
        // Keep what fits, so that the user sees where the flood started.
        let kept = bytes.len().min(room);
        self.written_this_call += kept;
        self.written_total += kept as u64;
        let buf = if stderr { &mut self.stderr } else { &mut self.stdout };
        buf.extend_from_slice(&bytes[..kept]);
        match exceeded {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// `--output-rate`: a token bucket holding at most one second's worth of bytes, refilled
/// continuously. Starts full, so a handler's first second is never refused.
struct TokenBucket {
    rate: u64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: u64) -> Self {
        Self { rate, tokens: rate as f64, last: Instant::now() }
    }

    /// Takes up to `want` tokens; returns how many it got.
    fn take(&mut self, want: usize) -> usize {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate as f64).min(self.rate as f64);
        let got = (want as f64).min(self.tokens.floor());
        self.tokens -= got;
        got as usize
    }
}

/// Rewrites a stream of handler text for display: control characters shown visibly, and
/// lines that start like wprobe's own diagnostics marked. Remembers whether the next byte
/// starts a line, as one stream arrives over many calls.
struct Sanitizer {
    line_start: bool,
}

impl Default for Sanitizer {
    fn default() -> Self {
        Self { line_start: true }
    }
}

/// wprobe's own diagnostics start with this; a handler's line that does is marked.
const OWN_PREFIX: &[u8] = b"wprobe";
const MARK: &[u8] = b"[handler] ";

impl Sanitizer {
    fn write(&mut self, text: &[u8], out: &mut Vec<u8>) {
        for line in text.split_inclusive(|&b| b == b'\n') {
            // A line cut short by the end of this piece is marked if it could still become
            // one of wprobe's: the rest arrives later, when the mark can no longer be added.
            let n = line.len().min(OWN_PREFIX.len());
            if self.line_start && line[..n] == OWN_PREFIX[..n] {
                out.extend_from_slice(MARK);
            }
            escape_controls(line, out);
            self.line_start = line.ends_with(b"\n");
        }
    }
}

/// Appends `text` with every C0 and C1 control character (ESC, CR, BEL, backspace, CSI, …)
/// except newline and tab, and every byte that is not UTF-8, shown as `\xNN` (`\u{9b}` for
/// C1 characters): the terminal prints them instead of obeying them.
pub(crate) fn escape_controls(text: &[u8], out: &mut Vec<u8>) {
    if text.iter().all(|&b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\t') {
        out.extend_from_slice(text);
        return;
    }
    for chunk in text.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' | '\t' => out.push(c as u8),
                '\0'..='\x1f' | '\x7f' => {
                    let _ = write!(ByteWriter(out), "\\x{:02x}", c as u32);
                }
                '\u{80}'..='\u{9f}' => {
                    let _ = write!(ByteWriter(out), "\\u{{{:x}}}", c as u32);
                }
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(ByteWriter(out), "\\x{b:02x}");
        }
    }
}

struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// `message` cut to at most `cap` bytes (on a character boundary), with a note saying how
/// much was cut.
pub(crate) fn cap_to(message: String, cap: usize) -> String {
    if message.len() <= cap {
        return message;
    }
    cap_str(&message, cap)
}

/// As [`cap_to`], copying only what is kept.
pub(crate) fn cap_str(message: &str, cap: usize) -> String {
    if message.len() <= cap {
        return message.to_owned();
    }
    let keep = message.floor_char_boundary(cap);
    let mut s = String::with_capacity(keep + 24);
    s.push_str(&message[..keep]);
    let _ = write!(s, "… ({} bytes cut)", message.len() - keep);
    s
}

/// A handler's message as one quoted line: `"…"` with quotes, backslashes, line breaks and
/// every control character escaped, so that it can neither break out of wprobe's line nor
/// drive the terminal.
pub(crate) fn quote(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 2);
    out.push('"');
    for c in message.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0'..='\x1f' | '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{80}'..='\u{9f}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Multi-line text from a handler (a trap's backtrace names its functions, which the
/// handler chose) as an indented block: control characters shown visibly, every line
/// indented, so that none can pass for a line of wprobe's.
pub(crate) fn indent_block(text: &str, indent: &str) -> String {
    let mut escaped = Vec::with_capacity(text.len());
    escape_controls(text.as_bytes(), &mut escaped);
    let escaped = String::from_utf8_lossy(&escaped);
    let mut out = String::with_capacity(escaped.len() + 8);
    for line in escaped.trim_end().lines() {
        out.push_str(indent);
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `text` with control characters shown visibly, as a string (for single-line host text
/// that may carry handler-chosen bytes).
pub(crate) fn escaped(text: &str) -> Cow<'_, str> {
    let mut out = Vec::new();
    escape_controls(text.as_bytes(), &mut out);
    if out.len() == text.len() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(String::from_utf8_lossy(&out).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(per_call: usize) -> OutputBounds {
        OutputBounds { per_call, total: u64::MAX, rate: None, escape: false }
    }

    fn drained(out: &mut Output) -> (String, String) {
        let mut got = (String::new(), String::new());
        out.drain(|o, e| got = (String::from_utf8_lossy(o).into_owned(), String::from_utf8_lossy(e).into_owned()));
        got
    }

    #[test]
    fn cap_is_per_call_and_keeps_what_fits() {
        let mut out = Output::new(bounds(10));
        out.stdout(b"hello").unwrap();
        out.stderr(b"abc").unwrap();
        let err = out.stdout(b"world").unwrap_err();
        assert_eq!(err, OutputLimitExceeded::PerCall { limit: 10 });
        assert_eq!(drained(&mut out), ("hellowo".into(), "abc".into()));
        out.stdout(b"more").unwrap_err();
        out.begin_call();
        out.stdout(b"0123456789").unwrap();
    }

    #[test]
    fn total_bound_spans_calls() {
        let mut out = Output::new(OutputBounds { total: 25, ..bounds(10) });
        for _ in 0..2 {
            out.begin_call();
            out.stdout(b"0123456789").unwrap();
        }
        out.begin_call();
        assert_eq!(out.stdout(b"abcdefgh").unwrap_err(), OutputLimitExceeded::Total { limit: 25 });
        assert_eq!(drained(&mut out).0, "01234567890123456789abcde");
        assert_eq!(out.total_written(), 25);
    }

    #[test]
    fn rate_bound_allows_one_second_then_refuses() {
        let mut out = Output::new(OutputBounds { rate: Some(100), ..bounds(1 << 20) });
        out.stdout(&[b'x'; 60]).unwrap();
        // More than a second's worth can never be had, however long the pause between.
        assert_eq!(out.stdout(&[b'y'; 200]).unwrap_err(), OutputLimitExceeded::Rate { rate: 100 });
        let (o, _) = drained(&mut out);
        assert!(o.len() >= 100 && o.len() <= 160, "{}", o.len());
    }

    #[test]
    fn printf_text_is_byte_exact_unless_escaped() {
        let text = "a\x1b]0;pwned\x07b\r\n\tc\u{9b}31m\nwprobe: fake\n".as_bytes();
        let mut raw = Output::new(bounds(1 << 20));
        raw.stdout(text).unwrap();
        raw.drain(|o, _| assert_eq!(o, text));

        let mut esc = Output::new(OutputBounds { escape: true, ..bounds(1 << 20) });
        esc.stdout(text).unwrap();
        assert_eq!(drained(&mut esc).0, "a\\x1b]0;pwned\\x07b\\x0d\n\tc\\u{9b}31m\n[handler] wprobe: fake\n");
    }

    #[test]
    fn diagnostics_are_always_escaped_and_marked_across_calls() {
        let mut out = Output::new(bounds(1 << 20));
        out.stderr(b"ok \x1b[2J\nwpro").unwrap();
        assert_eq!(drained(&mut out).1, "ok \\x1b[2J\n[handler] wpro");
        out.stderr(b"be: error: x\n\xff\xfewprobe\n").unwrap();
        assert_eq!(drained(&mut out).1, "be: error: x\n\\xff\\xfewprobe\n");
    }

    #[test]
    fn returned_messages_are_capped_and_counted() {
        let out = Output::new(bounds(1 << 20));
        let m = out.take_message("é".repeat(5000));
        assert!(m.len() <= MESSAGE_CAP + 30 && m.ends_with("… (5904 bytes cut)"), "{}", &m[m.len() - 40..]);
        assert!(out.total_written() >= MESSAGE_CAP as u64 - 1);

        // What is left of the per-call bound caps it further.
        let out = Output::new(bounds(100));
        out.stdout(&[b'x'; 90]).unwrap();
        assert_eq!(out.take_message("0123456789abcdef".into()), "0123456789… (6 bytes cut)");
    }

    #[test]
    fn quoting_keeps_one_line() {
        assert_eq!(quote("a\"b\\c\nwprobe: x\x1b[1m\u{85}"), "\"a\\\"b\\\\c\\nwprobe: x\\x1b[1m\\u{85}\"");
        assert_eq!(indent_block("0: f\x1b\nwprobe: g\n", "  "), "  0: f\\x1b\n  wprobe: g\n");
        assert_eq!(escaped("plain"), Cow::Borrowed("plain"));
    }
}
