//! Which syscalls a process makes, and how often: counts per syscall from the
//! `raw_syscalls:sys_enter` tracepoint, the top N every interval and in total at the end.
//!
//! ```text
//! wprobe run syscount.wasm --tracepoint raw_syscalls:sys_enter -c 'ls /' --arg interval=1
//! @syscalls[mmap]: 23
//! …
//! @total[openat]: 34
//! bpftrace -e 'tracepoint:raw_syscalls:sys_enter /pid == cpid/ { @[args->id] = count(); }' -c 'ls /'
//! BCC: syscount -p PID -i 1 -T 10
//! ```
//!
//! `--arg interval=N` prints and clears `@syscalls` every N seconds (default: only the end's
//! `@total`); `--arg top=N` prints the N most frequent (default 10, 0 for all);
//! `--arg pid=P` counts only process P (by default every event in scope: `-c`'s process
//! tree, `--pid`'s process, or everything with `--all-processes`). Numbers without a
//! syscall name print as `syscall_N`.
use wprobe_sdk::agg::Agg;
use wprobe_sdk::prelude::*;

struct Syscount {
    /// By syscall number: counting costs no allocation per event.
    interval: Agg<u64>,
    total: Agg<u64>,
    top: usize,
    pid: Option<u32>,
}

impl Handler for Syscount {
    fn init(session: &Session) -> Result<Self, String> {
        let has_id = session.probes().iter().any(|p| p.fields.iter().any(|f| f.name == "id"));
        if !has_id {
            return Err("syscount counts the `id` field of raw_syscalls:sys_enter: run it with \
                        --tracepoint raw_syscalls:sys_enter"
                .into());
        }
        let interval: u32 = session.arg_or("interval", 0)?;
        if interval > 0 {
            session.timer_s(interval);
        }
        let pid = match session.arg("pid") {
            Some(p) => Some(p.parse().map_err(|_| format!("--arg pid={p}: expected a process id"))?),
            None => None,
        };
        Ok(Syscount {
            interval: Agg::count("@syscalls"),
            total: Agg::count("@total"),
            top: session.arg_or("top", 10)?,
            pid,
        })
    }

    fn event(&mut self) -> Result<(), Error> {
        if self.pid.is_some_and(|p| p != pid()) {
            return Ok(());
        }
        let nr = field("id")? as u64;
        self.interval.inc(nr);
        self.total.inc(nr);
        Ok(())
    }

    fn tick(&mut self, _timer: u32) -> Result<(), Error> {
        print_named(&self.interval, "@syscalls", self.top);
        printf!("\n");
        self.interval.clear();
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        print_named(&self.total, "@total", self.top);
        Ok(())
    }
}

/// The map with syscall names for numbers, printed as bpftrace's `print(@name, top)`.
fn print_named(by_nr: &Agg<u64>, name: &str, top: usize) {
    let mut named: Agg<String> = Agg::sum(name);
    for (nr, e) in by_nr.sorted() {
        let key = syscall_name(*nr).unwrap_or_else(|| format!("syscall_{nr}"));
        named.add(key, e.count() as i64);
    }
    named.print(top);
}

wprobe_sdk::handler!(Syscount);
