//! Options shared by every command that runs a handler.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::time::Duration;
use wprobe::sandbox::{ComponentCache, Limits, Runtime, RuntimeConfig};

#[derive(clap::Args, Debug)]
pub struct HandlerOpts {
    /// Argument for the handler's `init`, as KEY=VALUE (repeatable).
    #[arg(long = "arg", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub args: Vec<(String, String)>,

    /// Wall-clock time one handler call (one batch) may take, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = Limits::DEFAULT_CPU_PER_CALL.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub cpu_limit_ms: u64,

    /// Linear memory the handler may use, in bytes (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_size)]
    pub memory_limit: usize,

    /// Output one handler call may write, in bytes (suffixes K, M, G).
    #[arg(long, value_name = "BYTES", default_value = "4M", value_parser = parse_size)]
    pub output_limit: usize,

    /// Events per batch handed to the handler in one call.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub batch_size: u32,

    /// Directory of the compiled-component cache [default: $WPROBE_CACHE_DIR, $XDG_CACHE_HOME/wprobe or ~/.cache/wprobe].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile the handler every time instead of using the cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl HandlerOpts {
    pub fn limits(&self) -> Limits {
        Limits {
            cpu_per_call: Duration::from_millis(self.cpu_limit_ms),
            memory: self.memory_limit,
            output_per_call: self.output_limit,
        }
    }

    pub fn runtime(&self) -> Result<Runtime> {
        let cache_dir = if self.no_cache { None } else { self.cache_dir.clone().or_else(ComponentCache::default_dir) };
        Runtime::new(RuntimeConfig { cache_dir }).context("cannot set up the WebAssembly runtime")
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

fn parse_size(s: &str) -> Result<usize, String> {
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
    fn key_values() {
        assert_eq!(parse_key_value("n=3"), Ok(("n".into(), "3".into())));
        assert_eq!(parse_key_value("k=a=b"), Ok(("k".into(), "a=b".into())));
        assert!(parse_key_value("=3").is_err());
        assert!(parse_key_value("n").is_err());
    }
}
