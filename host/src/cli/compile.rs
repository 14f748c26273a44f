//! `wprobe compile HANDLER…`: compile handlers into the cache ahead of their first run; the
//! hidden compiler child process; and the progress shown while a handler compiles.

use super::handler_opts::LoadOpts;
use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;
use wprobe::sandbox::{CacheOutcome, CompileProgress};

/// The hidden subcommand the compiler child process runs (see `wprobe::sandbox::Compiler`).
pub const CHILD_SUBCOMMAND: &str = "__compile-child";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Handler components to compile.
    #[arg(required = true, value_name = "HANDLER")]
    pub handlers: Vec<PathBuf>,
    #[command(flatten)]
    pub load: LoadOpts,
}

/// The compiler child: the parent passes the address-space bound as the last argument,
/// the component on stdin, and reads the compiled code from stdout.
#[derive(clap::Args, Debug)]
pub struct ChildArgs {
    pub memory: u64,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if args.load.no_cache {
        bail!("`wprobe compile` fills the compiled-component cache; drop --no-cache");
    }
    let runtime = args.load.runtime()?;
    let dir = args.load.cache_dir();
    let dir = dir.as_deref().map_or_else(|| "the cache".into(), |d| d.display().to_string());
    for path in &args.handlers {
        match runtime.precompile(path)? {
            CacheOutcome::Hit => eprintln!("wprobe: {} is already compiled in {dir}", path.display()),
            CacheOutcome::Compiled => eprintln!("wprobe: compiled {} into {dir}", path.display()),
            CacheOutcome::Disabled => bail!("cannot write the compiled code of {} into {dir}", path.display()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn child(args: ChildArgs) -> Result<ExitCode> {
    wprobe::sandbox::compile_child_main(args.memory, std::io::stdin().lock(), std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

/// A spinner on stderr while a handler compiles; indicatif draws nothing when stderr is not
/// a terminal.
#[derive(Default)]
pub struct Spinner {
    bar: Mutex<Option<ProgressBar>>,
}

impl CompileProgress for Spinner {
    fn started(&self, name: &str, size: usize, cached: bool) {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let size = wprobe::sandbox::human_size(size as u64);
        let when = if cached { ", first run only" } else { "" };
        bar.set_message(format!("compiling {name} ({size}{when})…"));
        bar.enable_steady_tick(Duration::from_millis(120));
        // Drawn at once: a short compile would otherwise show nothing.
        bar.tick();
        *self.bar.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
    }

    fn finished(&self, _name: &str) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}
