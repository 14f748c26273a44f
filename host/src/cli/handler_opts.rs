//! Options shared by every command that runs a handler.

use anyhow::{Context, Result};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wprobe::sandbox::{CompileBounds, Compiler, ComponentCache, Limits, Runtime, RuntimeConfig};

#[derive(clap::Args, Debug)]
pub struct HandlerOpts {
    /// Argument for the handler's `init`, as KEY=VALUE (repeatable).
    #[arg(long = "arg", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub args: Vec<(String, String)>,

    /// CPU time one handler call (one batch, a tick, init or end) may use, in milliseconds
    /// (time spent waiting for a CPU does not count).
    #[arg(long, value_name = "MS", default_value_t = Limits::DEFAULT_CPU_PER_CALL.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub cpu_limit_ms: u64,

    /// Linear memory the handler may use, in bytes (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", default_value = "128M", value_parser = parse_size)]
    pub memory_limit: usize,

    /// Output one handler call may write, in bytes (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", default_value = "4M", value_parser = parse_size)]
    pub output_limit: usize,

    /// Output the handler may write over the whole run, in bytes (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", default_value = "1G", value_parser = parse_size)]
    pub output_total: usize,

    /// Output the handler may write per second, sustained (bursts of one second's worth), in
    /// bytes (suffixes K, M, G) [default: unbounded].
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub output_rate: Option<usize>,

    /// Show control characters in the handler's printf output visibly (ESC as \x1b), even
    /// into a pipe or file. On a terminal this is always done; into a pipe or file output is
    /// otherwise byte-exact. The handler's warnings and errors are always escaped.
    #[arg(long)]
    pub escape: bool,

    /// Events per batch handed to the handler in one call.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub batch_size: u32,

    /// Every N events handed to the handler, and once after its end hook, print a line
    /// `wprobe: stats: EVENTS events, handler memory BYTES bytes (…)` on stderr: whether a
    /// long run's memory has reached its plateau.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub stats_every: Option<u64>,

    #[command(flatten)]
    pub load: LoadOpts,
}

/// How a handler is loaded and compiled: `run`, `replay` and `compile` share these.
#[derive(clap::Args, Debug)]
pub struct LoadOpts {
    /// Directory of the compiled-component cache [default: $WPROBE_CACHE_DIR, $XDG_CACHE_HOME/wprobe or ~/.cache/wprobe].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile the handler every time instead of using the cache.
    #[arg(long)]
    pub no_cache: bool,

    /// Refuse handler components larger than this, in bytes (suffixes K, M, G), before
    /// compiling them.
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_size)]
    pub max_component_size: usize,

    /// Wall time compiling a handler may take, in seconds (compiling happens on the first
    /// run only; `wprobe compile` does it ahead of time).
    #[arg(long, value_name = "SECS", default_value_t = CompileBounds::DEFAULT_TIMEOUT.as_secs_f64(),
          value_parser = parse_seconds)]
    pub compile_timeout: f64,

    /// Memory (address space) the compiler process may use, in bytes (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", default_value = "4G", value_parser = parse_size)]
    pub compile_memory_limit: usize,
}

impl LoadOpts {
    pub fn cache_dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(ComponentCache::default_dir)
        }
    }

    /// A runtime that compiles in a bounded child process (this executable, re-run with the
    /// hidden subcommand `__compile-child`) and shows progress on a terminal.
    pub fn runtime(&self) -> Result<Runtime> {
        let program = std::env::current_exe().context("cannot find wprobe's own executable, to compile in")?;
        let config = RuntimeConfig {
            cache_dir: self.cache_dir(),
            max_component_size: self.max_component_size as u64,
            compiler: Compiler::Child {
                program,
                args: vec![super::compile::CHILD_SUBCOMMAND.into()],
                bounds: CompileBounds {
                    timeout: Duration::from_secs_f64(self.compile_timeout),
                    memory: self.compile_memory_limit as u64,
                },
            },
            progress: Some(Arc::new(super::compile::Spinner::default())),
        };
        Runtime::new(config).context("cannot set up the WebAssembly runtime")
    }
}

impl HandlerOpts {
    pub fn limits(&self) -> Limits {
        Limits {
            cpu_per_call: Duration::from_millis(self.cpu_limit_ms),
            memory: self.memory_limit,
            output_per_call: self.output_limit,
            output_total: self.output_total as u64,
            output_rate: self.output_rate.map(|r| r as u64),
            // A terminal obeys escape sequences; a pipe or file gets the bytes as printed.
            escape_output: self.escape || std::io::stdout().is_terminal(),
        }
    }

    pub fn runtime(&self) -> Result<Runtime> {
        self.load.runtime()
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1e6 => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds such as 120 or 0.5")),
    }
}

pub(crate) fn parse_size(s: &str) -> Result<usize, String> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let n: usize = digits.parse().map_err(|_| format!("`{s}` is not a size such as 65536, 512K or 64M"))?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(format!("unknown size unit `{unit}` (use K, M or G)")),
    };
    n.checked_shl(shift).filter(|v| v >> shift == n && *v > 0).ok_or_else(|| format!("size `{s}` is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("M").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("0.5"), Ok(0.5));
        assert_eq!(parse_seconds("120"), Ok(120.0));
        for bad in ["0", "-1", "x", "NaN", "inf"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    /// The flags' defaults are spelt as text for `--help`; they must be the library's.
    #[test]
    fn flag_defaults_are_the_library_limits() {
        use clap::Parser;
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            opts: HandlerOpts,
        }
        let mut limits = Flags::parse_from(["wprobe"]).opts.limits();
        limits.escape_output = false;
        assert_eq!(limits, Limits::default());
    }

    #[test]
    fn key_values() {
        assert_eq!(parse_key_value("n=3"), Ok(("n".into(), "3".into())));
        assert_eq!(parse_key_value("k=a=b"), Ok(("k".into(), "a=b".into())));
        assert!(parse_key_value("=3").is_err());
        assert!(parse_key_value("n").is_err());
    }
}
