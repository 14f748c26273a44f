//! Output: `printf!` text collects in one reused buffer and reaches the host's `printf` import
//! in large pieces (normally once per batch), because an import call per line would cost
//! more than most handlers' own work.

use crate::fastfmt::{self, Arg, Spec};
use core::cell::RefCell;
use core::fmt::{self, Write};

/// Flush as soon as the buffer holds this much, so that a chatty batch neither grows guest
/// memory without bound nor hides its output from the host's output limit.
pub const FLUSH_AT: usize = 64 * 1024;

/// After a flush, a buffer that grew past this (one huge line) gives its memory back.
const KEEP_CAPACITY: usize = 4 * FLUSH_AT;

/// Pending `printf!` text.
#[derive(Default)]
pub struct OutBuf {
    text: String,
}

impl OutBuf {
    pub const fn new() -> Self {
        Self { text: String::new() }
    }

    /// Appends formatted text; true when the buffer should be flushed now.
    pub fn write(&mut self, args: fmt::Arguments<'_>) -> bool {
        if self.text.capacity() == 0 {
            self.text.reserve(4096);
        }
        // Writing into a String fails only if a Display impl reports an error; SystemTap's
        // printf has no error either, so the text written so far stays.
        let _ = self.text.write_fmt(args);
        self.text.len() >= FLUSH_AT
    }

    /// Appends `spec` with `args` through the SDK's formatter, or through `slow` (`core::fmt`)
    /// when the formatter declines; true when the buffer should be flushed now.
    #[inline(always)]
    pub fn write_fast<const N: usize>(
        &mut self,
        spec: &Spec<N>,
        args: &[Arg<'_>],
        slow: impl FnOnce(&mut String) -> fmt::Result,
    ) -> bool {
        if self.text.capacity() == 0 {
            self.text.reserve(4096);
        }
        if !fastfmt::write(&mut self.text, spec, args) {
            // As in `write`: what a failing Display impl wrote stays.
            let _ = slow(&mut self.text);
        }
        self.text.len() >= FLUSH_AT
    }

    /// The buffer as `fmt::Write`, for writers that produce text piecewise (`print_regs`).
    pub fn writer(&mut self) -> &mut String {
        &mut self.text
    }

    pub fn is_full(&self) -> bool {
        self.text.len() >= FLUSH_AT
    }

    #[cfg(test)]
    pub fn pending(&self) -> &str {
        &self.text
    }

    /// Hands the pending text to `sink` (if there is any) and empties the buffer.
    pub fn flush_to(&mut self, sink: impl FnOnce(&str)) {
        if self.text.is_empty() {
            return;
        }
        sink(&self.text);
        self.text.clear();
        if self.text.capacity() > KEEP_CAPACITY {
            self.text.shrink_to(FLUSH_AT);
        }
    }
}

thread_local! {
    // Wasm guests are single-threaded; `thread_local!` with a const initializer compiles to
    // a plain static there and keeps native unit tests sound.
    static OUT: RefCell<OutBuf> = const { RefCell::new(OutBuf::new()) };
}

/// `printf!`'s body.
pub fn printf(args: fmt::Arguments<'_>) {
    OUT.with_borrow_mut(|out| {
        if out.write(args) {
            out.flush_to(crate::host::printf);
        }
    });
}

/// `printf!`'s body for a literal format string, parsed at compile time into `spec`.
/// Inlined into the handler, so that the formatting specializes on `spec`.
#[inline(always)]
pub fn printf_fast<const N: usize>(spec: &Spec<N>, args: &[Arg<'_>], slow: impl FnOnce(&mut String) -> fmt::Result) {
    OUT.with_borrow_mut(|out| {
        if out.write_fast(spec, args, slow) {
            flush_full(out);
        }
    });
}

#[cold]
#[inline(never)]
fn flush_full(out: &mut OutBuf) {
    out.flush_to(crate::host::printf);
}

/// Runs `f` on the output buffer (for `print_regs` in flat mode), flushing if it filled up.
pub fn with_buffer<R>(f: impl FnOnce(&mut String) -> R) -> R {
    OUT.with_borrow_mut(|out| {
        let r = f(out.writer());
        if out.is_full() {
            out.flush_to(crate::host::printf);
        }
        r
    })
}

/// Sends pending output to the host.
pub fn flush() {
    OUT.with_borrow_mut(|out| out.flush_to(crate::host::printf));
}

/// `flush` for the panic hook: the panic may have happened while the buffer was borrowed
/// (a `Display` impl panicking inside `printf!`); then there is nothing safe to send.
#[cfg_attr(test, allow(dead_code))] // the hook is not installed in unit tests
pub fn try_flush() {
    let _ = OUT.try_with(|cell| {
        if let Ok(mut out) = cell.try_borrow_mut() {
            out.flush_to(crate::host::printf);
        }
    });
}

/// `warn!`'s body: flushes first so that the warning lands after the lines printed before it.
pub fn warn(args: fmt::Arguments<'_>) {
    flush();
    match args.as_str() {
        Some(s) => crate::host::warn(s),
        None => crate::host::warn(&args.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_until_flushed() {
        let mut b = OutBuf::new();
        assert!(!b.write(format_args!("{}, {:#x}\n", 32372, 0xffff_8102_4ce5_1380u64)));
        assert!(!b.write(format_args!("two\n")));
        let mut sent = Vec::new();
        b.flush_to(|s| sent.push(s.to_string()));
        assert_eq!(sent, ["32372, 0xffff81024ce51380\ntwo\n"]);
        // Nothing pending: no call at all.
        b.flush_to(|s| sent.push(s.to_string()));
        assert_eq!(sent.len(), 1);
        assert_eq!(b.pending(), "");
    }

    #[test]
    fn asks_for_a_flush_past_the_threshold_and_gives_memory_back() {
        let mut b = OutBuf::new();
        let line = "x".repeat(1000);
        let mut writes = 0;
        while !b.write(format_args!("{line}\n")) {
            writes += 1;
        }
        assert_eq!(writes, FLUSH_AT / 1001);
        b.flush_to(|s| assert!(s.len() >= FLUSH_AT));

        let huge = "y".repeat(KEEP_CAPACITY + 1);
        assert!(b.write(format_args!("{huge}")));
        b.flush_to(|_| {});
        assert!(b.text.capacity() <= KEEP_CAPACITY);
    }
}
