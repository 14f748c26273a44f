//! How long a function takes, per call, with the arguments it was called with: on a return
//! probe the argument accessors give the entry's arguments (SystemTap's `@entry`), and
//! `latency_ns()` the time since the entry, paired in the kernel (recursion and threads pair
//! exactly).
//!
//! ```text
//! wprobe run funclatency.wasm --uretprobe /bin/bash:readline
//! process("/usr/bin/bash").function("readline").return: (0x5633…, 0, 0) = 0x5633… in 2310452 ns
//! stap: probe process("/bin/bash").function("readline").return { printf("%d\n", gettimeofday_ns() - @entry(gettimeofday_ns())) }
//! bpftrace: uprobe:/bin/bash:readline { @s[tid] = nsecs } uretprobe:/bin/bash:readline { printf("%d\n", nsecs - @s[tid]) }
//! ```
//!
//! `--arg args=N` shows N arguments (default 3). The end hook prints the count and the mean.
use wprobe_sdk::prelude::*;

struct FuncLatency {
    args: u32,
    calls: u64,
    total_ns: u64,
}

impl Handler for FuncLatency {
    fn init(session: &Session) -> Result<Self, String> {
        let args = session.arg_or("args", 3u32)?;
        if args > 6 {
            return Err(format!("--arg args={args}: at most 6"));
        }
        Ok(FuncLatency { args, calls: 0, total_ns: 0 })
    }

    fn event(&mut self) -> Result<(), Error> {
        if !is_return() {
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
                self.calls += 1;
                self.total_ns += ns;
                printf!(") = {} in {ns} ns\n", Num(returnval()? as u64));
            }
            Err(AccessError::NoEntry) => printf!(") = {} (entry not seen)\n", Num(returnval()? as u64)),
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        let mean = self.total_ns.checked_div(self.calls).unwrap_or(0);
        printf!("{} calls, mean {mean} ns\n", self.calls);
        Ok(())
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
