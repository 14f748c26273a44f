//! SystemTap scripts: `run -e 'SCRIPT'`, `run FILE.stp`, `replay -e 'SCRIPT' EVENTS`. The
//! script is parsed and checked here, before anything is attached; its probe clauses give
//! the probe points; the embedded script handler runs it in the sandbox.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use wprobe::live::ProbeSpec;
use wprobe_stap::{PointKind, Script};

/// The script handler component (`examples/stap_script`), built and checked in by
/// `cargo xtask stap` (`--check` keeps it in step with its sources).
pub const COMPONENT: &[u8] = include_bytes!("../../stap/wprobe_stap.wasm");
/// How the embedded handler is named in messages and progress.
pub const COMPONENT_NAME: &str = "the script handler";

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ScriptOpts {
    /// Run this SystemTap script (probe points from its probe clauses); positional
    /// arguments after it are its $1, $2, … (@1, @2, … as strings).
    #[arg(short = 'e', long = "script", value_name = "SCRIPT")]
    pub script: Option<String>,
    /// A script limit, as SystemTap's -D: MAXACTION (statements per event, 1000),
    /// MAXACTION_INTERRUPTIBLE (begin and end, 10000), MAXMAPENTRIES (array size, 2048),
    /// MAXNESTING (call depth, 10).
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    pub defines: Vec<String>,
}

const DEFINES: [&str; 4] = ["MAXACTION", "MAXACTION_INTERRUPTIBLE", "MAXMAPENTRIES", "MAXNESTING"];

/// A checked script and what the host needs from it.
pub struct Loaded {
    pub script: Script,
    /// The script's event probe points, as probe specs, in script order.
    pub specs: Vec<ProbeSpec>,
    /// What the script handler's `init` gets: the script, its name, its arguments, limits.
    pub handler_args: Vec<(String, String)>,
}

/// True for a path that names a script rather than a component.
pub fn is_script_path(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "stp")
}

impl ScriptOpts {
    /// The script of `-e`, or of a `.stp` file given where the handler goes; `rest` are the
    /// positional arguments after it, the script's `$1…`. None: not a script run.
    pub fn load(&self, handler: Option<&PathBuf>, rest: &[String]) -> Result<Option<Loaded>> {
        let (src, file, args) = match (&self.script, handler) {
            (Some(src), h) => {
                let args: Vec<String> =
                    h.map(|p| p.display().to_string()).into_iter().chain(rest.iter().cloned()).collect();
                (src.clone(), "<input>".to_string(), args)
            }
            (None, Some(path)) if is_script_path(path) => {
                let src = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the script {}", path.display()))?;
                (src, path.display().to_string(), rest.to_vec())
            }
            (None, _) => {
                if !self.defines.is_empty() {
                    bail!("-D sets a script limit; it needs a script (-e 'SCRIPT' or FILE.stp)");
                }
                return Ok(None);
            }
        };
        let script = Script::parse(&src, &file, &args).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut specs = Vec::new();
        for p in script.points().iter().filter(|p| p.kind == PointKind::Event) {
            let spec = ProbeSpec::parse_stap(&p.text)
                .map_err(|e| anyhow::anyhow!("{}", script.point_error(p, &e.to_string())))?;
            specs.push(spec);
        }
        let mut handler_args =
            vec![("wprobe.stap.script".to_string(), src.clone()), ("wprobe.stap.file".to_string(), file.clone())];
        handler_args.extend(args.iter().map(|a| ("wprobe.stap.arg".to_string(), a.clone())));
        for d in &self.defines {
            let (name, value) = d.split_once('=').unwrap_or((d, ""));
            if !DEFINES.contains(&name) {
                bail!("-D {d}: wprobe knows the script limits {}", DEFINES.join(", "));
            }
            if value.parse::<u64>().map_or(true, |v| v == 0) {
                bail!("-D {d}: the value must be a positive number, e.g. -D {name}=5000");
            }
            handler_args.push((format!("wprobe.stap.{name}"), value.to_string()));
        }
        Ok(Some(Loaded { script, specs, handler_args }))
    }
}

/// Whether the script has probes that need events (else it is begin/end only).
pub fn has_events(script: &Script) -> bool {
    script.points().iter().any(|p| p.kind != PointKind::Begin && p.kind != PointKind::End)
}

/// Binds a replayed file's probes to the script, saying once what had no probe point.
pub fn note_binding(script: &Script, pps: &[&str]) -> Result<()> {
    let binding = wprobe_stap::bind(script, pps).map_err(anyhow::Error::msg)?;
    for note in binding.notes {
        super::say(&format!("wprobe: note: {note}"));
    }
    Ok(())
}
