//! `wprobe list` and `wprobe check`.

use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;
use wprobe::live::ProbeSupport;

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// What to list: kernel functions matching a glob (`tcp_*`), a loaded module's
    /// (`ext4:*`), or a binary's functions for uprobes: `PATH[:GLOB]`, or `NAME:GLOB` for a
    /// program in $PATH; or a probe point in SystemTap's spelling, for what it would attach.
    /// Each line is a probe point that `run` and `record` take as it is.
    #[arg(value_name = "PATTERN", default_value = "*")]
    pub pattern: String,
    /// Show the fields of the tracepoints PATTERN names (`syscalls:sys_enter_openat`); list
    /// tracepoints themselves with `tracepoint:CAT:NAME` (globs allowed).
    #[arg(long)]
    pub fields: bool,
}

/// Said after a listing of kernel functions on a kernel that cannot probe them.
const NO_KPROBES_NOTE: &str = "note: this kernel has no kprobes (CONFIG_KPROBES is not set), so the kernel \
     functions above cannot be probed here; on this kernel use uprobes on user-space functions (`wprobe list \
     PATH:GLOB`, --uprobe PATH:FUNCTION) or tracepoints, or a kernel with kprobes (cargo xtask vm)";

pub fn list(args: ListArgs) -> Result<ExitCode> {
    let pattern = &args.pattern;
    if args.fields {
        return super::tracepoints::fields(pattern);
    } else if super::tracepoints::is_tracepoint_pattern(pattern) {
        return super::tracepoints::list(pattern);
    }
    // One branch per probe family, chosen by the pattern's form; functions are the rest.
    let listing = wprobe::live::list_functions(pattern)?;
    let printed = print_lines(&listing.probes);
    if listing.kernel && !ProbeSupport::detect().kprobes {
        eprintln!("wprobe: {NO_KPROBES_NOTE}");
    }
    match printed {
        Ok(()) => {}
        // `wprobe list | head`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e.into()),
    }
    if listing.probes.is_empty() {
        match &listing.hint {
            Some(hint) => eprintln!("wprobe: nothing matches `{pattern}`; {hint}"),
            None => eprintln!("wprobe: nothing matches `{pattern}`"),
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_lines(lines: &[String]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()
}

pub fn check() -> Result<ExitCode> {
    let checks = wprobe::live::check_system();
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &checks {
        println!("{:width$}  {}  {}", c.name, if c.ok { "yes" } else { "no " }, c.reason);
    }
    Ok(ExitCode::SUCCESS)
}
