//! `wprobe list 'tracepoint:CAT:NAME'` (or `kernel.trace("CAT:NAME")`): tracepoints as probe
//! specs that paste back into `run`; `wprobe list --fields CAT:NAME`: their fields.

use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;
use wprobe::live::tracefs::{strip_tracepoint_spelling, EventFormat, EventPattern, Tracefs};

/// Whether `list` should read `pattern` as tracepoints rather than kernel functions (a bare
/// `sched:*` stays a `module:function` pattern).
pub fn is_tracepoint_pattern(pattern: &str) -> bool {
    strip_tracepoint_spelling(pattern).is_some()
}

/// Prints `tracepoint:CAT:NAME` for every tracepoint `pattern` matches.
pub fn list(pattern: &str) -> Result<ExitCode> {
    let tracefs = open()?;
    let events = tracefs.events(&EventPattern::parse(pattern)?)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for e in &events {
        writeln!(out, "{}", e.probe_spec())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the fields of every tracepoint `pattern` matches (`CAT:NAME`, with or without the
/// `tracepoint:` prefix): name, C type, offset, size, sign and how a handler reads it.
pub fn fields(pattern: &str) -> Result<ExitCode> {
    let tracefs = open()?;
    let pattern = EventPattern::parse(pattern)?;
    let events = match pattern.exact() {
        // One name: `format` gives the unknown-event error with its close matches.
        Some(e) => vec![e],
        None => tracefs.events(&pattern)?,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        print_format(&mut out, &tracefs.format(e)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn open() -> Result<Tracefs> {
    let tracefs = Tracefs::open()?;
    if tracefs.mounted_here() {
        eprintln!("wprobe: mounted tracefs at {}", tracefs.root().display());
    }
    Ok(tracefs)
}

fn print_format(out: &mut impl Write, f: &EventFormat) -> std::io::Result<()> {
    writeln!(out, "{} (ID {})", f.event.probe_spec(), f.id)?;
    let name_w = f.fields.iter().map(|x| x.name.len()).chain([5]).max().unwrap_or(5);
    let type_w = f.fields.iter().map(|x| x.c_type.len()).chain([4]).max().unwrap_or(4);
    writeln!(out, "  {:name_w$}  {:type_w$}  OFFSET  SIZE  SIGNED  KIND", "FIELD", "TYPE")?;
    for x in &f.fields {
        let signed = if x.signed() { "yes" } else { "no" };
        writeln!(
            out,
            "  {:name_w$}  {:type_w$}  {:>6}  {:>4}  {signed:6}  {}",
            x.name, x.c_type, x.offset, x.size, x.kind
        )?;
    }
    if f.fields.is_empty() {
        writeln!(out, "  (no fields besides the common ones)")?;
    }
    Ok(())
}
