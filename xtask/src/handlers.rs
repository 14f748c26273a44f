//! `cargo xtask handlers`: builds every handler crate under `examples/` and `tests/handlers/`
//! into a component at `target/handlers/NAME.wasm`.
//!
//! Handlers build for `wasm32-unknown-unknown` (no WASI at all) in one cargo invocation, and
//! the core modules become components here with `wit-component`. A crate whose Cargo.toml
//! says
//!
//! ```toml
//! [package.metadata.wprobe]
//! target = "wasm32-wasip2"
//! ```
//!
//! builds for that target instead, whose linker already emits a component.

use crate::{cargo, run, target_dir, workspace_root};
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const PROFILE: &str = "handler";
const DEFAULT_TARGET: &str = "wasm32-unknown-unknown";
const WASI_TARGET: &str = "wasm32-wasip2";
/// The only interface a plain handler may import. (`types` may appear too: it holds only
/// types, which the exports' signatures refer to.)
/// Folders whose subfolders are handler crates.
const HANDLER_DIRS: [&str; 2] = ["examples", "tests/handlers"];

#[derive(clap::Args, Default, Clone)]
pub struct Args {
    /// Build only this handler (its crate name, or NAME_c / NAME_py / NAME_js for the C,
    /// Python and JavaScript examples); repeat for several.
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,
    /// Build only the Rust handlers, not the C, Python and JavaScript ones (see guests.rs).
    #[arg(long)]
    pub skip_languages: bool,
}

/// One handler crate.
#[derive(Debug)]
struct Handler {
    /// Package name, which is also the output's file name.
    name: String,
    target: String,
}

pub fn build(args: &Args) -> Result<()> {
    // The C, Python and JavaScript handlers; what remains of `--only` is for the Rust ones.
    let Some(args) = &crate::guests::build(args)? else { return Ok(()) };
    let mut handlers = discover(&workspace_root())?;
    for name in &args.only {
        ensure!(
            handlers.iter().any(|h| &h.name == name),
            "no handler crate named {name:?}; known: {}",
            handlers.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    if !args.only.is_empty() {
        handlers.retain(|h| args.only.contains(&h.name));
    }

    let mut by_target: BTreeMap<&str, Vec<&Handler>> = BTreeMap::new();
    for h in &handlers {
        by_target.entry(h.target.as_str()).or_default().push(h);
    }
    for target in by_target.keys() {
        check_target_installed(target)?;
    }

    // Absolute, so that a relative CARGO_TARGET_DIR means the same to the cargo run below
    // (started in the workspace root) as to this process.
    let target_dir = std::path::absolute(target_dir()).context("cannot resolve the target directory")?;
    let out_dir = target_dir.join("handlers");
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    // Resolves `..` in a relative CARGO_TARGET_DIR, for readable paths in the log.
    let out_dir = out_dir.canonicalize().unwrap_or(out_dir);

    for (target, group) in &by_target {
        // One cargo invocation per target, so shared dependencies build once.
        let mut cmd = cargo();
        cmd.env("CARGO_TARGET_DIR", &target_dir).args(["build", "--profile", PROFILE, "--target", target]);
        for h in group {
            cmd.args(["-p", &h.name]);
        }
        run(&mut cmd)?;

        let built = target_dir.join(target).join(PROFILE);
        for h in group {
            // cdylib output names use underscores whatever the package name.
            let input = built.join(format!("{}.wasm", h.name.replace('-', "_")));
            let bytes = fs::read(&input).with_context(|| format!("cannot read {}", input.display()))?;
            let component = if is_component(&bytes) {
                bytes
            } else {
                ensure!(*target == DEFAULT_TARGET, "{} is a core module, expected a component", input.display());
                componentize(&bytes).with_context(|| format!("cannot make a component of {}", input.display()))?
            };
            let imports = crate::wit::check_imports(&format!("{}.wasm", h.name), &component, h.target == WASI_TARGET)?;
            let output = out_dir.join(format!("{}.wasm", h.name));
            fs::write(&output, &component).with_context(|| format!("cannot write {}", output.display()))?;
            println!("{:>9} bytes  {:<36} imports {imports}", component.len(), relative(&output).display());
        }
    }
    Ok(())
}

/// Every crate under the handler folders, in name order.
fn discover(root: &Path) -> Result<Vec<Handler>> {
    let mut handlers = Vec::new();
    for dir in HANDLER_DIRS {
        let dir = root.join(dir);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
        };
        for entry in entries {
            let manifest = entry?.path().join("Cargo.toml");
            if manifest.is_file() {
                let text =
                    fs::read_to_string(&manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
                handlers.push(parse_manifest(&text).with_context(|| format!("in {}", manifest.display()))?);
            }
        }
    }
    handlers.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = handlers.windows(2).find(|w| w[0].name == w[1].name) {
        bail!("two handler crates are named {:?}; output file names must be unique", w[0].name);
    }
    Ok(handlers)
}

/// Reads the two keys xtask needs from a handler's Cargo.toml: `package.name` and
/// `package.metadata.wprobe.target`. Handler manifests are small and regular, so a line-based
/// reader suffices (and keeps a TOML parser out of the build).
fn parse_manifest(text: &str) -> Result<Handler> {
    let mut table = String::new();
    let mut name = None;
    let mut target = None;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(t) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = t.trim().to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.trim().trim_matches('"').to_string();
        match (table.as_str(), key.trim()) {
            ("package", "name") => name = Some(value),
            ("package.metadata.wprobe", "target") => target = Some(value),
            _ => {}
        }
    }
    let name = name.context("no `name` in [package]")?;
    let target = target.unwrap_or_else(|| DEFAULT_TARGET.to_string());
    ensure!(
        target == DEFAULT_TARGET || target == WASI_TARGET,
        "package.metadata.wprobe.target is {target:?}; handlers build for {DEFAULT_TARGET} or {WASI_TARGET}"
    );
    Ok(Handler { name, target })
}

/// Fails early, with the fix, when the standard library for `target` is missing.
fn check_target_installed(target: &str) -> Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .current_dir(workspace_root())
        .output()
        .with_context(|| format!("cannot run {rustc:?}"))?;
    ensure!(out.status.success(), "`rustc --print sysroot` failed: {}", String::from_utf8_lossy(&out.stderr));
    let sysroot = PathBuf::from(String::from_utf8(out.stdout)?.trim());
    if !sysroot.join("lib/rustlib").join(target).join("lib").is_dir() {
        bail!("the Rust target {target} is not installed; install it with:\n    rustup target add {target}");
    }
    Ok(())
}

/// A component's preamble has layer 1; a core module's has layer 0.
fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [1, 0]
}

fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default().module(module)?.validate(true).encode()
}

fn relative(path: &Path) -> &Path {
    path.strip_prefix(workspace_root()).unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_name_and_target() {
        let h = parse_manifest(
            "[package]\nname = \"wasi_snoop\" # comment\nversion.workspace = true\n\n\
             [lib]\nname = \"other\"\n\n[package.metadata.wprobe]\ntarget = \"wasm32-wasip2\"\n",
        )
        .unwrap();
        assert_eq!((h.name.as_str(), h.target.as_str()), ("wasi_snoop", WASI_TARGET));
        let h = parse_manifest("[package]\nname = \"count\"\n[dependencies]\nname = \"x\"\n").unwrap();
        assert_eq!((h.name.as_str(), h.target.as_str()), ("count", DEFAULT_TARGET));
        assert!(parse_manifest("[package.metadata.wprobe]\ntarget = \"x86_64\"\n[package]\nname = \"a\"").is_err());
        assert!(parse_manifest("[lib]\nname = \"a\"").is_err());
    }

    #[test]
    fn tells_components_from_modules() {
        assert!(is_component(b"\0asm\x0d\0\x01\0"));
        assert!(!is_component(b"\0asm\x01\0\0\0"));
        assert!(!is_component(b"\0asm"));
    }
}
