//! How long a function takes: a log2 histogram of its latency in nanoseconds (bpftrace's
//! `hist()`, BCC's `funclatency`), kernel or user space, printed every interval and at the
//! end. On a return probe `latency_ns()` is the time since the paired entry, paired in the
//! kernel (recursion and threads pair exactly), and the argument accessors give the entry's
//! arguments (SystemTap's `@entry`).
//!
//! ```text
//! wprobe run funclatency.wasm --uretprobe /bin/bash:readline --arg interval=1
//! @ns:
//! [1M, 2M)               3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
//! …
//! 3 calls, mean 1520112 ns
//! stap: probe process("/bin/bash").function("readline").return { @hist_log(gettimeofday_ns() - @entry(gettimeofday_ns())) }
//! bpftrace: uprobe:/bin/bash:readline { @s[tid] = nsecs } uretprobe:/bin/bash:readline /@s[tid]/ { @ns = hist(nsecs - @s[tid]); delete(@s[tid]) }
//! BCC: funclatency -n /bin/bash:readline
//! ```
//!
//! `--arg interval=N` prints (and clears) the histogram every N seconds; `--arg calls=1`
//! also prints each call with its entry's arguments and return value:
//! `process("/usr/bin/bash").function("readline").return: (0x5633…, 0, 0) = 0x5633… in
//! 2310452 ns`; `--arg args=N` shows N arguments there (default 3).
use wprobe_sdk::agg::Agg;
use wprobe_sdk::prelude::*;

struct FuncLatency {
    args: u32,
    /// Print each call, not only the histogram.
    each: bool,
    calls: u64,
    total_ns: u64,
    hist: Agg,
}

impl Handler for FuncLatency {
    fn init(session: &Session) -> Result<Self, String> {
        let args = session.arg_or("args", 3u32)?;
        if args > 6 {
            return Err(format!("--arg args={args}: at most 6"));
        }
        let interval: u32 = session.arg_or("interval", 0)?;
        if interval > 0 {
            session.timer_s(interval);
        }
        let each = session.arg_or("calls", 0u8)? != 0;
        Ok(FuncLatency { args, each, calls: 0, total_ns: 0, hist: Agg::hist("@ns") })
    }

    fn event(&mut self) -> Result<(), Error> {
        if !is_return() {
            return Ok(());
        }
        if !self.each {
            // Attached mid-call: no entry, no latency.
            if let Ok(ns) = latency_ns() {
                self.record(ns);
            }
            return Ok(());
        }
        printf!("{}: (", pp());
        for n in 1..=self.args {
            let sep = if n == 1 { "" } else { ", " };
            match pointer_arg(n) {
                Ok(v) => printf!("{sep}{}", Num(v)),
                // Attached mid-call: the entry was not seen, so its arguments are unknown.
                Err(AccessError::NoEntry) => printf!("{sep}?"),
                Err(e) => return Err(e.into()),
            }
        }
        match latency_ns() {
            Ok(ns) => {
                self.record(ns);
                printf!(") = {} in {ns} ns\n", Num(returnval()? as u64));
            }
            Err(AccessError::NoEntry) => printf!(") = {} (entry not seen)\n", Num(returnval()? as u64)),
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    fn tick(&mut self, _timer: u32) -> Result<(), Error> {
        self.hist.print(0);
        self.hist.clear();
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        self.hist.print(0);
        let mean = self.total_ns.checked_div(self.calls).unwrap_or(0);
        printf!("{} calls, mean {mean} ns\n", self.calls);
        Ok(())
    }
}

impl FuncLatency {
    fn record(&mut self, ns: u64) {
        self.calls += 1;
        self.total_ns += ns;
        self.hist.add((), ns as i64);
    }
}

/// A register value as people read it: small numbers (and small negative ones) in decimal,
/// addresses and masks in hex.
struct Num(u64);

impl core::fmt::Display for Num {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let signed = self.0 as i64;
        if signed.unsigned_abs() < 0x10000 {
            write!(f, "{signed}")
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

wprobe_sdk::handler!(FuncLatency);
