//! `wprobe list` and `wprobe check`.

use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Kernel functions matching this glob (`tcp_*`, `ext4:*`), or with a path,
    /// `PATH[:GLOB]`, the functions of that binary for uprobes.
    #[arg(value_name = "PATTERN", default_value = "*")]
    pub pattern: String,
    /// Show the fields of the tracepoints PATTERN names (`syscalls:sys_enter_openat`); list
    /// tracepoints themselves with `tracepoint:CAT:NAME` (globs allowed).
    #[arg(long)]
    pub fields: bool,
}

pub fn list(args: ListArgs) -> Result<ExitCode> {
    let pattern = &args.pattern;
    if args.fields {
        return super::tracepoints::fields(pattern);
    } else if super::tracepoints::is_tracepoint_pattern(pattern) {
        return super::tracepoints::list(pattern);
    }
    let names = if pattern.contains('/') {
        let (path, glob) = match pattern.rsplit_once(':') {
            Some((p, g)) if !g.contains('/') => (p, g),
            _ => (pattern.as_str(), "*"),
        };
        wprobe::live::list_elf_functions(&PathBuf::from(path), glob)?
    } else {
        wprobe::live::list_kernel_functions(pattern)?
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for n in &names {
        use std::io::Write;
        writeln!(out, "{n}")?;
    }
    if names.is_empty() {
        eprintln!("wprobe: nothing matches `{pattern}`");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn check() -> Result<ExitCode> {
    let checks = wprobe::live::check_system();
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in &checks {
        println!("{:width$}  {}  {}", c.name, if c.ok { "yes" } else { "no " }, c.reason);
    }
    Ok(ExitCode::SUCCESS)
}
