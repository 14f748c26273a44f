//! Handlers in C, Python and JavaScript, built by `cargo xtask handlers` beside the Rust ones:
//!
//! | source                  | output                             | toolchain                          |
//! |-------------------------|------------------------------------|------------------------------------|
//! | `examples/c/NAME.c`     | `target/handlers/NAME_c.wasm`      | clang-19 + wasi-libc, wit-component |
//! | `examples/python/NAME.py` | `target/handlers/NAME_py.wasm`   | componentize-py                    |
//! | `examples/js/NAME.js`   | `target/handlers/NAME_js.wasm`     | componentize-js (guest-sdk/js)     |
//!
//! `--only NAME_c` (…`_py`, …`_js`) builds one of them; `--skip-languages` builds none of
//! them, for developers without these toolchains. A missing toolchain fails the build with
//! the command that installs it. A handler is rebuilt only when one of its inputs (its
//! source, its language's SDK, the WIT, the tool's version) changed: these builds take
//! seconds to a minute each.
//!
//! C components import nothing but wprobe's context (the C SDK answers wasi-libc's WASI calls
//! itself); JavaScript ones WASI stdio too (the SDK's output path; componentize-js runs with
//! every other WASI feature disabled).
//! Python components import WASI, which wprobe satisfies with a context that grants nothing.

use crate::handlers::Args;
use crate::{run, target_dir, workspace_root};
use anyhow::{bail, ensure, Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The versions CI installs; the install hints name them.
const CLANG: &str = "clang-19";
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    C,
    Python,
    Js,
}

impl Lang {
    const ALL: [Lang; 3] = [Lang::C, Lang::Python, Lang::Js];

    fn dir(self) -> &'static str {
        match self {
            Lang::C => "examples/c",
            Lang::Python => "examples/python",
            Lang::Js => "examples/js",
        }
    }

    fn ext(self) -> &'static str {
        match self {
            Lang::C => "c",
            Lang::Python => "py",
            Lang::Js => "js",
        }
    }

    /// Output names end in `_c`, `_py`, `_js`.
    fn suffix(self) -> &'static str {
        self.ext()
    }

    fn sdk(self) -> &'static str {
        match self {
            Lang::C => "guest-sdk/c",
            Lang::Python => "guest-sdk/python",
            Lang::Js => "guest-sdk/js",
        }
    }

    /// May the component import `wasi:*`? (JavaScript: only for stdout, the SDK's fast
    /// output path; every other WASI feature is disabled at build time.)
    fn allows_wasi(self) -> bool {
        self == Lang::Python || self == Lang::Js
    }
}

/// One handler in another language.
#[derive(Debug)]
struct Guest {
    /// Output name: `tcp_connect_c`.
    name: String,
    lang: Lang,
    source: PathBuf,
}

/// Builds the C, Python and JavaScript handlers that `args` asks for. Returns the arguments
/// for the Rust build that follows: `--only` without the names handled here, or `None` when
/// `--only` named nothing but handlers in these languages.
pub fn build(args: &Args) -> Result<Option<Args>> {
    let root = workspace_root();
    let guests = discover(&root)?;
    let (mine, rust): (Vec<String>, Vec<String>) =
        args.only.iter().cloned().partition(|name| guests.iter().any(|g| &g.name == name));
    let selected: Vec<&Guest> = if !args.only.is_empty() {
        guests.iter().filter(|g| mine.contains(&g.name)).collect()
    } else if args.skip_languages {
        Vec::new()
    } else {
        guests.iter().collect()
    };

    if !selected.is_empty() {
        let mut missing = Vec::new();
        for lang in Lang::ALL {
            if selected.iter().any(|g| g.lang == lang) {
                if let Err(e) = check_toolchain(&root, lang) {
                    missing.push(format!("{e:#}"));
                }
            }
        }
        if !missing.is_empty() {
            bail!(
                "cannot build the C, Python and JavaScript handlers:\n  {}\n\
                 (or build only the Rust handlers: cargo xtask handlers --skip-languages)",
                missing.join("\n  ")
            );
        }
        // The SDKs' generated files (layouts, error texts, C bindings) must match wit/ and
        // host/common, or the handlers would be built on stale copies.
        crate::sdk_gen::check()?;
        let out_dir =
            std::path::absolute(target_dir()).context("cannot resolve the target directory")?.join("handlers");
        fs::create_dir_all(out_dir.join(".stamps")).with_context(|| format!("cannot create {}", out_dir.display()))?;
        for g in selected {
            build_one(&root, &out_dir, g)
                .with_context(|| format!("building {} from {}", g.name, g.source.display()))?;
        }
    }

    if !args.only.is_empty() && rust.is_empty() {
        return Ok(None);
    }
    let mut rest = args.clone();
    rest.only = rust;
    Ok(Some(rest))
}

/// Every `examples/{c,python,js}/NAME.{c,py,js}`, in name order.
fn discover(root: &Path) -> Result<Vec<Guest>> {
    let mut guests = Vec::new();
    for lang in Lang::ALL {
        let dir = root.join(lang.dir());
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some(lang.ext()) {
                continue;
            }
            let stem = path.file_stem().and_then(|s| s.to_str()).context("a non-UTF-8 file name")?;
            // The SDK's own module, should someone copy it next to the examples.
            if stem == "wprobe" {
                continue;
            }
            guests.push(Guest { name: format!("{stem}_{}", lang.suffix()), lang, source: path });
        }
    }
    guests.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(guests)
}

fn clang() -> String {
    std::env::var("WPROBE_CLANG").unwrap_or_else(|_| CLANG.to_string())
}

/// The JavaScript toolchain: componentize-js, installed from guest-sdk/js/package-lock.json.
fn componentize_js(root: &Path) -> PathBuf {
    root.join("guest-sdk/js/node_modules/@bytecodealliance/componentize-js/src/cli.js")
}

/// Fails, naming the missing tool and its install command, unless `lang` can be built.
fn check_toolchain(root: &Path, lang: Lang) -> Result<()> {
    match lang {
        Lang::C => {
            let clang = clang();
            tool_version(Command::new(&clang).arg("--version")).with_context(|| {
                format!(
                    "C: `{clang}` not found; install it with: apt-get install clang-19 lld-19 wasi-libc \
                     libclang-rt-19-dev-wasm32 (or point WPROBE_CLANG at a clang with wasm32 support)"
                )
            })?;
            let sysroot = Path::new("/usr/include/wasm32-wasi/stdio.h");
            ensure!(
                sysroot.exists() || std::env::var_os("WPROBE_WASI_SYSROOT").is_some(),
                "C: wasi-libc not found ({} is missing); install it with: apt-get install wasi-libc",
                sysroot.display()
            );
            let out = Command::new(&clang).args(["--target=wasm32-wasi", "-print-libgcc-file-name"]).output()?;
            let builtins = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            ensure!(
                builtins.exists(),
                "C: clang's wasm32 runtime ({}) is missing; install it with: apt-get install libclang-rt-19-dev-wasm32",
                builtins.display()
            );
        }
        Lang::Python => {
            tool_version(Command::new("componentize-py").arg("--version")).with_context(|| {
                format!("Python: `componentize-py` not found; install it with: pip install {COMPONENTIZE_PY}")
            })?;
        }
        Lang::Js => {
            tool_version(Command::new("node").arg("--version"))
                .context("JavaScript: `node` not found; install it with: apt-get install nodejs npm")?;
            ensure!(
                componentize_js(root).exists(),
                "JavaScript: componentize-js is not installed; install it with: npm ci --prefix guest-sdk/js"
            );
        }
    }
    Ok(())
}

/// The first line a tool prints for `--version`.
fn tool_version(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("cannot run {cmd:?}"))?;
    ensure!(out.status.success(), "{cmd:?} failed");
    Ok(String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().to_string())
}

fn build_one(root: &Path, out_dir: &Path, g: &Guest) -> Result<()> {
    let output = out_dir.join(format!("{}.wasm", g.name));
    let stamp_path = out_dir.join(".stamps").join(format!("{}.sha256", g.name));
    let stamp = input_hash(root, g)?;
    if output.exists() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str()) {
        let bytes = fs::read(&output)?;
        println!("{:>9} bytes  {:<36} up to date", bytes.len(), relative(&output).display());
        return Ok(());
    }
    let _ = fs::remove_file(&stamp_path);

    let work = target_dir().join("guests").join(&g.name);
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let work = std::path::absolute(&work)?;
    let start = std::time::Instant::now();
    let component = match g.lang {
        Lang::C => build_c(root, &work, g)?,
        Lang::Python => build_python(root, &work, g)?,
        Lang::Js => build_js(root, &work, g)?,
    };
    // C components may import only wprobe's context; Python and JavaScript ones WASI too.
    let imports = crate::wit::check_imports(&format!("{}.wasm", g.name), &component, g.lang.allows_wasi())?;
    fs::write(&output, &component).with_context(|| format!("cannot write {}", output.display()))?;
    fs::write(&stamp_path, &stamp)?;
    println!(
        "{:>9} bytes  {:<36} imports {imports} ({:.1} s)",
        component.len(),
        relative(&output).display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The C examples also linked without the SDK's WASI answers (`wasi_deny.c`), as
/// `target/guests/NAME/NAME.wasip1.core.wasm`: core modules that import WASI preview 1, which
/// wprobe componentizes with the WASI adapter (tests/all/core_module.rs runs them).
const WASIP1_VARIANTS: &[&str] = &["tcp_connect_c", "sandbox_c"];

/// C: clang for wasm32 with wasi-libc, the SDK's runtime and the checked-in bindings, then
/// wit-component (what `wasm-tools component new` does).
fn build_c(root: &Path, work: &Path, g: &Guest) -> Result<Vec<u8>> {
    let core = work.join(format!("{}.core.wasm", g.name));
    link_c(root, g, true, &core)?;
    if WASIP1_VARIANTS.contains(&g.name.as_str()) {
        link_c(root, g, false, &work.join(format!("{}.wasip1.core.wasm", g.name)))?;
    }
    let module = fs::read(&core)?;
    wit_component::ComponentEncoder::default().module(&module)?.validate(true).encode()
}

/// Links `g` into the core module `out`, answering WASI inside the module when `deny_wasi`
/// and importing WASI preview 1 otherwise.
fn link_c(root: &Path, g: &Guest, deny_wasi: bool, out: &Path) -> Result<()> {
    let sdk = root.join(Lang::C.sdk());
    let mut cmd = Command::new(clang());
    cmd.args(["--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-Wall", "-Wextra", "-Werror"]);
    if let Some(sysroot) = std::env::var_os("WPROBE_WASI_SYSROOT") {
        cmd.arg("--sysroot").arg(sysroot);
    }
    cmd.arg("-I").arg(sdk.join("include")).arg("-I").arg(sdk.join("bindings")).arg("-I").arg(sdk.join("src"));
    cmd.arg(&g.source);
    for file in [
        "src/wprobe.c",
        "src/wprobe_agg.c",
        "src/wprobe_fmt.c",
        "src/wprobe_context.c",
        "bindings/handler.c",
        "bindings/handler_component_type.o",
    ] {
        cmd.arg(sdk.join(file));
    }
    if deny_wasi {
        cmd.arg(sdk.join("src/wasi_deny.c"));
    }
    // --fatal-warnings: a WASI stub whose signature disagrees with wasi-libc's import is a
    // linker warning, and would trap at run time.
    cmd.args(["-Wl,--strip-debug", "-Wl,--fatal-warnings", "-o"]).arg(out);
    run(&mut cmd)
}

/// Python: componentize-py with the SDK module and the examples on its path.
fn build_python(root: &Path, work: &Path, g: &Guest) -> Result<Vec<u8>> {
    let module = g.source.file_stem().and_then(|s| s.to_str()).context("bad file name")?;
    ensure!(
        !["wit_world", "handler", "componentize_py_types"].contains(&module),
        "a Python handler module may not be named {module:?} (componentize-py's own modules)"
    );
    let out = work.join(format!("{}.wasm", g.name));
    let mut cmd = Command::new("componentize-py");
    cmd.current_dir(root)
        // Keep __pycache__ out of the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["--wit-path", "wit", "--world", "handler", "componentize", "--python-path"])
        .arg(root.join(Lang::Python.sdk()))
        .arg("--python-path")
        .arg(g.source.parent().context("no parent")?)
        .arg(module)
        .arg("--output")
        .arg(&out);
    run(&mut cmd)?;
    Ok(fs::read(&out)?)
}

/// JavaScript: componentize-js with every WASI feature but stdio disabled. The handler imports
/// `./wprobe.js` (and `./wprobe_agg.js`); the SDK's modules and the handler are copied into a
/// work folder first (componentize-js lets a module import only files at or below its own
/// folder).
fn build_js(root: &Path, work: &Path, g: &Guest) -> Result<Vec<u8>> {
    let file_name = g.source.file_name().context("no file name")?;
    for entry in fs::read_dir(root.join(Lang::Js.sdk()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "js") {
            let name = path.file_name().context("no file name")?;
            ensure!(name != file_name, "a JavaScript handler may not be named {name:?} (a module of the SDK)");
            fs::copy(&path, work.join(name))?;
        }
    }
    let staged = work.join(file_name);
    fs::copy(&g.source, &staged)?;
    let out = work.join(format!("{}.wasm", g.name));
    let mut cmd = Command::new("node");
    cmd.current_dir(root)
        .arg(componentize_js(root))
        .args(["--wit", "wit", "--world-name", "handler"])
        .args(["--disable", "random", "clocks", "http", "fetch-event"])
        .arg("--out")
        .arg(&out)
        .arg(&staged);
    run(&mut cmd)?;
    Ok(fs::read(&out)?)
}

/// Everything a handler's build reads, hashed: its source, its SDK, the WIT, the tool.
fn input_hash(root: &Path, g: &Guest) -> Result<String> {
    let mut h = Sha256::new();
    let mut files = vec![g.source.clone()];
    collect_files(&root.join(g.lang.sdk()), &mut files)?;
    collect_files(&root.join("wit"), &mut files)?;
    files.sort();
    for f in &files {
        h.update(relative(f).to_string_lossy().as_bytes());
        h.update([0]);
        h.update(fs::read(f).with_context(|| format!("cannot read {}", f.display()))?);
        h.update([0]);
    }
    let tool = match g.lang {
        Lang::C => tool_version(Command::new(clang()).arg("--version"))?,
        Lang::Python => tool_version(Command::new("componentize-py").arg("--version"))?,
        Lang::Js => fs::read_to_string(root.join("guest-sdk/js/package-lock.json")).unwrap_or_default(),
    };
    h.update(tool.as_bytes());
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Files under `dir`, skipping node_modules, caches and documentation.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "node_modules" || name == "__pycache__" || name.ends_with(".md") {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn relative(path: &Path) -> &Path {
    path.strip_prefix(workspace_root()).unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_examples_in_every_language() {
        let guests = discover(&workspace_root()).unwrap();
        let names: Vec<&str> = guests.iter().map(|g| g.name.as_str()).collect();
        for name in ["count_c", "count_js", "count_py", "tcp_connect_c", "tcp_connect_js", "tcp_connect_py"] {
            assert!(names.contains(&name), "{name} not in {names:?}");
        }
    }
}
