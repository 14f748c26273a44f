//! `wprobe new NAME --lang rust|c|python|js`: writes a ready handler project (the seed's
//! tcp_v4_connect probe body) that builds with one command, printed at the end.
//!
//! The project uses the SDK of a wprobe checkout by path: the SDKs are not published to
//! crates.io, PyPI or npm, and a checkout's SDK speaks exactly its WIT. The checkout is
//! `--sdk DIR`, else `$WPROBE_SDK`, else the one this binary was built from.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The project's name: its folder, and its handler's file name (NAME.wasm).
    pub name: String,
    /// The handler's language.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The wprobe checkout whose guest SDK and WIT the project uses (default: $WPROBE_SDK,
    /// else the checkout this wprobe was built from).
    #[arg(long, value_name = "DIR")]
    pub sdk: Option<PathBuf>,
    /// Where to create the project's folder (default: the current folder).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Rust,
    C,
    Python,
    Js,
}

/// A template's files: path in the project (`{{name}}` replaced), text, whether executable.
type Template = &'static [(&'static str, &'static str, bool)];

const RUST: Template = &[
    ("Cargo.toml", include_str!("../../templates/rust/Cargo.toml"), false),
    ("src/lib.rs", include_str!("../../templates/rust/src/lib.rs"), false),
    (".gitignore", include_str!("../../templates/rust/gitignore"), false),
];
const C: Template = &[
    ("Makefile", include_str!("../../templates/c/Makefile"), false),
    ("{{name}}.c", include_str!("../../templates/c/handler.c"), false),
];
const PYTHON: Template = &[
    ("{{name}}.py", include_str!("../../templates/python/handler.py"), false),
    ("build.sh", include_str!("../../templates/python/build.sh"), true),
];
const JS: Template = &[
    ("{{name}}.js", include_str!("../../templates/js/handler.js"), false),
    ("build.sh", include_str!("../../templates/js/build.sh"), true),
];

/// Names the SDKs or the languages' tools keep for themselves: the SDK modules (C, Python,
/// JavaScript), componentize-py's own modules, Rust's built-in crates, and keywords of Rust
/// and Python (the name is also the handler function's).
const RESERVED: &[&str] = &[
    "wprobe",
    "wprobe_agg",
    "wprobe_common",
    "wprobe_sdk",
    "wit_world",
    "handler",
    "componentize_py_types",
    "std",
    "core",
    "alloc",
    "test",
    "proc_macro",
    "build",
    "target",
    "src", // Rust and the project's own folders
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "macro",
    "override",
    "priv",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "try",
    "gen", // Rust
    "and",
    "assert",
    "class",
    "def",
    "del",
    "elif",
    "except",
    "finally",
    "from",
    "global",
    "import",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "with",
    "none", // Python
];

const MAX_NAME: usize = 64;

/// Why a project name is refused, or `None`.
fn bad_name(name: &str) -> Option<String> {
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok
        || name.len() > MAX_NAME
        || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Some(format!(
            "{name:?} is not a usable handler name: use a lowercase letter then lowercase letters, digits and `_`, \
             at most {MAX_NAME} characters (it names the folder, the Rust crate, the C, Python or JavaScript \
             module and the handler function), e.g. `my_probe`"
        ));
    }
    RESERVED.contains(&name).then(|| {
        format!("{name:?} is reserved (a keyword, a built-in crate, or a module of the SDKs or their tools); pick another name, e.g. `my_{name}`")
    })
}

/// The wprobe checkout whose SDK the project uses.
fn sdk_root(given: Option<&Path>) -> Result<PathBuf> {
    let (root, from) = match given {
        Some(dir) => (dir.to_path_buf(), "--sdk"),
        None => match std::env::var_os("WPROBE_SDK") {
            Some(dir) => (PathBuf::from(dir), "$WPROBE_SDK"),
            None => (Path::new(env!("CARGO_MANIFEST_DIR")).join(".."), "the checkout this wprobe was built from"),
        },
    };
    if !root.join("guest-sdk/Cargo.toml").is_file() || !root.join("wit/probe.wit").is_file() {
        bail!(
            "{} ({from}) is not a wprobe checkout (no guest-sdk/Cargo.toml and wit/probe.wit there); \
             pass --sdk /path/to/wprobe, the source tree of this wprobe",
            root.display()
        );
    }
    std::path::absolute(&root)
        .map(|p| p.canonicalize().unwrap_or(p))
        .with_context(|| format!("cannot resolve {}", root.display()))
}

/// What `wprobe new` writes and prints for one language.
struct Plan {
    files: Template,
    lang: &'static str,
    /// The build command, run in the project's folder.
    build: &'static str,
    /// The handler the build writes, relative to the project's folder.
    output: String,
}

fn plan(lang: Lang, name: &str) -> Plan {
    match lang {
        Lang::Rust => Plan {
            files: RUST,
            lang: "Rust",
            build: "cargo build --target wasm32-unknown-unknown --profile handler",
            output: format!("target/wasm32-unknown-unknown/handler/{name}.wasm"),
        },
        Lang::C => Plan { files: C, lang: "C", build: "make", output: format!("{name}.wasm") },
        Lang::Python => Plan { files: PYTHON, lang: "Python", build: "sh build.sh", output: format!("{name}.wasm") },
        Lang::Js => Plan { files: JS, lang: "JavaScript", build: "sh build.sh", output: format!("{name}.wasm") },
    }
}

/// Shell quoting for the printed commands, only when needed.
fn quote(path: &Path) -> String {
    let s = path.to_string_lossy();
    if s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c)) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub fn run(args: Args) -> Result<ExitCode> {
    if let Some(why) = bad_name(&args.name) {
        bail!(why);
    }
    let sdk = sdk_root(args.sdk.as_deref())?;
    let project = args.dir.join(&args.name);
    if project.symlink_metadata().is_ok() {
        bail!(
            "{} already exists; wprobe new writes a new folder and never overwrites: pick another name or remove it",
            project.display()
        );
    }
    let plan = plan(args.lang, &args.name);
    let fill = |text: &str| text.replace("{{name}}", &args.name).replace("{{sdk}}", &sdk.to_string_lossy());
    std::fs::create_dir_all(&args.dir).with_context(|| format!("cannot create {}", args.dir.display()))?;
    // create_dir, not create_dir_all: a folder made meanwhile by someone else is refused too.
    std::fs::create_dir(&project).with_context(|| format!("cannot create {}", project.display()))?;
    for (path, text, executable) in plan.files {
        let file = project.join(fill(path));
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, fill(text)).with_context(|| format!("cannot write {}", file.display()))?;
        if *executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {} executable", file.display()))?;
        }
    }
    if args.lang == Lang::Rust {
        // The versions of wit-bindgen and the rest that wprobe's own build uses and tests;
        // cargo drops what the project does not need. Without it cargo resolves afresh.
        let lock = sdk.join("Cargo.lock");
        if lock.is_file() {
            std::fs::copy(&lock, project.join("Cargo.lock"))
                .with_context(|| format!("cannot copy {} into the project", lock.display()))?;
        }
    }
    let shown = quote(&project);
    println!("created {shown}/: a {} handler using the SDK of {}", plan.lang, sdk.display());
    println!("build: cd {shown} && {}", plan.build);
    println!("run:   wprobe run {shown}/{} --kprobe tcp_v4_connect", plan.output);
    println!("       wprobe replay {shown}/{} EVENTS", plan.output);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(bad_name("my_probe").is_none());
        assert!(bad_name("p2").is_none());
        for bad in ["", "My", "2x", "a-b", "a b", "../x", "x/y", "é"] {
            assert!(bad_name(bad).unwrap().contains("not a usable handler name"), "{bad}");
        }
        assert!(bad_name(&"a".repeat(MAX_NAME + 1)).is_some());
        for reserved in ["wprobe", "handler", "fn", "class", "std"] {
            assert!(bad_name(reserved).unwrap().contains("is reserved"), "{reserved}");
        }
    }

    #[test]
    fn every_template_names_its_placeholders_only() {
        for lang in [Lang::Rust, Lang::C, Lang::Python, Lang::Js] {
            for (path, text, _) in plan(lang, "x").files {
                let filled = text.replace("{{name}}", "x").replace("{{sdk}}", "/s");
                assert!(!filled.contains("{{"), "{lang:?} {path}: an unknown placeholder");
            }
        }
    }
}
