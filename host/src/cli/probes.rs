//! Probe arguments shared by `run` and `record`, and the live session around them.

use anyhow::{bail, Context, Result};
use std::time::Duration;
use wprobe::live::{LiveOptions, LiveSource, ProbeSpec, Resolved, SyscallPath};
use wprobe::probe::CaptureSpec;
use wprobe::run::{ProcessWatch, StopConditions};

/// Serialized as is for `wprobe run --connect`: the daemon parses the very same flags.
#[derive(clap::Args, Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ProbeArgs {
    /// Probe points in SystemTap's spelling: kprobe.function("F")[.return],
    /// kprobe.module("M").function("F")[.return], kprobe.statement(0xADDR).absolute,
    /// process("PATH").function("F")[.return], process("PATH").statement(0xADDR).absolute,
    /// nd_syscall.NAME[.return], kernel.trace("CAT:NAME") (also bpftrace's tracepoint:CAT:NAME).
    /// F and NAME may be globs. `wprobe list` prints probe points in this spelling.
    #[arg(value_name = "PROBE")]
    pub points: Vec<String>,
    /// Kernel function entry (a glob such as 'tcp_v4_*' probes every match).
    #[arg(long = "kprobe", value_name = "[MODULE:]FUNCTION")]
    pub kprobes: Vec<String>,
    /// Kernel function return.
    #[arg(long = "kretprobe", value_name = "[MODULE:]FUNCTION")]
    pub kretprobes: Vec<String>,
    /// Raw kernel address (needs --guru).
    #[arg(long = "kprobe-addr", value_name = "0xADDR")]
    pub kprobe_addrs: Vec<String>,
    /// User-space function entry, in an ELF file (or a command in $PATH). FUNCTION may be a
    /// glob ('str*': one probe per matching function); 0xADDR is a virtual address of the
    /// file as `nm` or `objdump -d` print it (not a file offset), for stripped binaries.
    #[arg(long = "uprobe", value_name = "PATH:FUNCTION[+OFFSET]|PATH:GLOB|PATH:0xADDR")]
    pub uprobes: Vec<String>,
    /// User-space function return (FUNCTION may be a glob, or 0xADDR a function's address).
    #[arg(long = "uretprobe", value_name = "PATH:FUNCTION|PATH:0xADDR")]
    pub uretprobes: Vec<String>,
    /// System call entry, with the syscall's own arguments (a glob such as 'open*' probes
    /// every match); SystemTap's nd_syscall.NAME.
    #[arg(long = "syscall", value_name = "NAME")]
    pub syscalls: Vec<String>,
    /// System call return: returnval() is its result, the argument accessors give the entry's.
    #[arg(long = "syscall-return", value_name = "NAME")]
    pub syscall_returns: Vec<String>,
    /// A tracepoint (CATEGORY:NAME, globs allowed); its fields are read with field(name).
    #[arg(long = "tracepoint", value_name = "CAT:NAME")]
    pub tracepoints: Vec<String>,
    /// How syscall probes attach: through the __x64_sys_* wrappers (kprobes), the
    /// syscalls:* tracepoints, or auto (wrappers where the kernel has kprobes).
    #[arg(long, value_name = "HOW", value_enum, default_value_t = SyscallPath::Auto)]
    pub syscall_path: SyscallPath,
    /// With -c: record every process, not only the command and its descendants (the
    /// default scope, kept in the kernel; --pid replaces it too).
    #[arg(long, requires = "command")]
    pub all_processes: bool,
    /// Also record wprobe's own process (left out by default, in the kernel).
    #[arg(long)]
    pub include_self: bool,
    /// Record only tasks with this command name (at most 15 bytes, as the kernel keeps it).
    #[arg(long, value_name = "NAME")]
    pub comm: Option<String>,
    /// Guru mode, as `stap -g`: allows raw-address probes.
    #[arg(short = 'g', long)]
    pub guru: bool,
    /// The most probes one wildcard (kernel or user-space) may expand to. Matches the kernel
    /// refuses to probe are skipped with a warning; a wildcard of which none attaches fails.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_probes: usize,
    /// Trace only this process; stop when it exits.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Run CMD (through /bin/sh -c, in a process group of its own) once every probe is
    /// attached; stop when it exits. When wprobe stops, the whole group gets SIGTERM, then
    /// SIGKILL after a second.
    #[arg(short = 'c', long = "command", value_name = "CMD")]
    pub command: Option<String>,
    /// Stop after this long (e.g. 10, 500ms, 2s, 1m).
    #[arg(long, value_name = "TIME", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many events.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_events: Option<u64>,
    /// Size of the kernel's ring buffers, in bytes, all together (a power of two, at least a
    /// page): one per CPU, up to eight, each an equal share.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 22)]
    pub ring_size: u32,
}

impl ProbeArgs {
    /// With a script, its probe clauses give the probe points: probe flags are a mistake.
    pub fn check_no_flags_with_script(&self) -> Result<()> {
        let flags = [
            (!self.kprobes.is_empty(), "--kprobe"),
            (!self.kretprobes.is_empty(), "--kretprobe"),
            (!self.kprobe_addrs.is_empty(), "--kprobe-addr"),
            (!self.uprobes.is_empty(), "--uprobe"),
            (!self.uretprobes.is_empty(), "--uretprobe"),
            (!self.syscalls.is_empty(), "--syscall"),
            (!self.syscall_returns.is_empty(), "--syscall-return"),
            (!self.tracepoints.is_empty(), "--tracepoint"),
        ];
        if let Some((_, flag)) = flags.iter().find(|(set, _)| *set) {
            bail!("{flag} with a script: the script's probe clauses give the probe points (write `probe …` in the script)");
        }
        Ok(())
    }

    /// Every probe, SystemTap-spelled ones first, then the flags in the order listed above.
    pub fn specs(&self) -> Result<Vec<ProbeSpec>> {
        let mut specs = Vec::new();
        for p in &self.points {
            specs.push(ProbeSpec::parse_stap(p)?);
        }
        for k in &self.kprobes {
            specs.push(ProbeSpec::parse_kprobe(k, false)?);
        }
        for k in &self.kretprobes {
            specs.push(ProbeSpec::parse_kprobe(k, true)?);
        }
        for a in &self.kprobe_addrs {
            specs.push(ProbeSpec::parse_kprobe_addr(a)?);
        }
        for u in &self.uprobes {
            specs.push(ProbeSpec::parse_uprobe(u, false)?);
        }
        for u in &self.uretprobes {
            specs.push(ProbeSpec::parse_uprobe(u, true)?);
        }
        for s in &self.syscalls {
            specs.push(ProbeSpec::parse_syscall(s, false)?);
        }
        for s in &self.syscall_returns {
            specs.push(ProbeSpec::parse_syscall(s, true)?);
        }
        for t in &self.tracepoints {
            specs.push(ProbeSpec::parse_tracepoint(t)?);
        }
        if specs.is_empty() {
            bail!("no probe given: name one, e.g. --kprobe tcp_v4_connect, --uprobe /bin/bash:readline, --syscall openat or 'kprobe.function(\"tcp_v4_connect\")'");
        }
        Ok(specs)
    }

    pub fn live_options(&self) -> Result<LiveOptions> {
        if let Some(comm) = &self.comm {
            if comm.is_empty() || comm.len() > 15 {
                bail!("--comm {comm:?}: a command name is 1 to 15 bytes, as the kernel keeps it (see `ps -o comm`)");
            }
        }
        if !self.ring_size.is_power_of_two() || self.ring_size < 4096 {
            bail!("--ring-size {} is not a power of two of at least 4096", self.ring_size);
        }
        Ok(LiveOptions {
            pid: self.pid,
            ring_bytes: self.ring_size,
            wakeup_bytes: u64::from(self.ring_size / 4),
            guru: self.guru,
            max_probes: self.max_probes,
            syscall_path: self.syscall_path,
            include_self: self.include_self,
            // --pid names the process to trace: it wins over -c's scope.
            scope_tree: self.command.is_some() && !self.all_processes && self.pid.is_none(),
            comm: self.comm.clone(),
            ..LiveOptions::default()
        })
    }

    /// Opens `--pid`'s process first: a pid that does not exist fails before anything is
    /// attached.
    pub fn stop_conditions(&self) -> Result<StopConditions> {
        Ok(StopConditions {
            duration: self.duration,
            max_events: self.max_events,
            command: self.command.clone(),
            process: self.pid.map(ProcessWatch::open).transpose()?,
        })
    }
}

/// Attaches the probes, and shows once what a wildcard had to skip.
pub fn attach(specs: &[ProbeSpec], opts: LiveOptions) -> Result<LiveSource> {
    attach_resolved(LiveSource::resolve(specs, opts)?, &[])
}

/// Attaches resolved probes with a handler's captures, saying what a glob had to skip.
pub fn attach_resolved(resolved: Resolved, captures: &[CaptureSpec]) -> Result<LiveSource> {
    let source = resolved.attach(captures)?;
    if let Some(warning) = source.attach_warning() {
        eprintln!("wprobe: warning: {warning}");
    }
    Ok(source)
}

/// A local run's hooks: warnings go to stderr, nothing is refused.
pub struct SayWarnings;

impl wprobe::run::RunHooks for SayWarnings {
    fn warning(&mut self, text: &str) {
        super::say(&format!("wprobe: warning: {text}"));
    }
}

/// The live loop's tokio runtime: the loop itself runs in `block_on` on the calling thread,
/// with one worker thread for the I/O driver. Not a current-thread runtime: handlers are
/// called from the loop, and a handler's blocking WASI call (a JavaScript `console.log`) runs
/// a tokio `block_on` of its own, which only a multi-thread runtime lets a caller leave the
/// loop's context for (see `sandbox::outside_runtime`).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    wprobe::sandbox::live_runtime().context("cannot start the event loop")
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration such as 10, 500ms, 2s or 1m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit `{unit}` in `{s}` (use ms, s, m or h)")),
    };
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("`{s}` is not a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("s").is_err());
    }
}
