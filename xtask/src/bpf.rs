//! `cargo xtask bpf`: builds the eBPF program and refreshes the checked-in object.
//!
//! The host embeds `host/ebpf/wprobe.bpf.o` with `include_bytes!`, so building or installing
//! wprobe needs only stable Rust. This task is the one way to regenerate that object:
//!
//! * `cargo xtask bpf` builds `host/ebpf` for `bpfel-unknown-none` once per architecture the
//!   host runs on (the program reads that architecture's `struct pt_regs`) and copies the
//!   results to `host/ebpf/wprobe.bpf.o` (x86_64) and `host/ebpf/wprobe-aarch64.bpf.o`, each
//!   with a stamp file beside it (`….bpf.o.stamp`) recording the SHA-256 of the eBPF sources,
//!   of the object, and the toolchain that built it.
//! * `cargo xtask bpf --check` (CI) fails when the sources no longer hash to the stamp (the
//!   eBPF source changed, the object was not regenerated), when the object is not the one the
//!   stamp names, or when a rebuild into a scratch directory does not give the checked-in
//!   bytes. The build is byte-reproducible for a given toolchain (no debug info, hence no
//!   paths; one codegen unit; locked dependencies), so the byte comparison is exact.
//!   `--sources-only` skips the rebuild, for machines without the eBPF toolchain.
//!
//! Toolchain: the workspace's stable Rust (pinned below, so the bytes do not drift with a
//! moving nightly) with `RUSTC_BOOTSTRAP=1` for `-Z build-std=core`, its `rust-src`
//! component, and `bpf-linker` 0.13 built against LLVM 22.

use crate::{run, target_dir, workspace_root};
use anyhow::{bail, ensure, Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The toolchain that builds the checked-in object; override with `WPROBE_BPF_TOOLCHAIN`.
const DEFAULT_TOOLCHAIN: &str = "1.95.0";
const TARGET: &str = "bpfel-unknown-none";
/// The binary name in host/ebpf/Cargo.toml.
const BIN: &str = "wprobe";

#[derive(clap::Args, Default)]
pub struct Args {
    /// Rebuild into a scratch directory and fail if the checked-in object or its stamp is stale.
    #[arg(long)]
    check: bool,
    /// With --check: only compare the sources' hash with the stamp, do not rebuild.
    #[arg(long, requires = "check")]
    sources_only: bool,
}

fn ebpf_dir() -> PathBuf {
    workspace_root().join("host/ebpf")
}

/// The architectures the host runs on, each with its own object: `(name, object file)`.
/// The name is the `bpf_target_arch` the program is built for (`AYA_BPF_TARGET_ARCH`).
const ARCHES: [(&str, &str); 2] = [("x86_64", "wprobe.bpf.o"), ("aarch64", "wprobe-aarch64.bpf.o")];

fn object_path(file: &str) -> PathBuf {
    ebpf_dir().join(file)
}
fn stamp_path(file: &str) -> PathBuf {
    ebpf_dir().join(format!("{file}.stamp"))
}
/// A scratch target directory per architecture (x86_64 keeps the historical names), so that
/// switching between them does not rebuild everything.
fn scratch(base: &str, arch: &str) -> PathBuf {
    if arch == "x86_64" {
        target_dir().join(base)
    } else {
        target_dir().join(format!("{base}-{arch}"))
    }
}

pub fn main(args: &Args) -> Result<()> {
    for (arch, file) in ARCHES {
        if args.check {
            check(arch, file, args.sources_only)?;
        } else {
            regenerate(arch, file)?;
        }
    }
    Ok(())
}

fn regenerate(arch: &str, file: &str) -> Result<()> {
    let built = build(arch, &scratch("ebpf", arch))?;
    let bytes = fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    fs::write(object_path(file), &bytes)?;
    let stamp = Stamp { sources: sources_hash()?, object: hex(&Sha256::digest(&bytes)), toolchain: toolchain_id()? };
    fs::write(stamp_path(file), stamp.render(arch))?;
    println!("{arch}: wrote {} ({} bytes) and {file}.stamp", object_path(file).display(), bytes.len());
    Ok(())
}

fn check(arch: &str, file: &str, sources_only: bool) -> Result<()> {
    let stamp_path = stamp_path(file);
    let stamp_text = fs::read_to_string(&stamp_path)
        .with_context(|| format!("{} is missing: run `cargo xtask bpf`", stamp_path.display()))?;
    let stamp = Stamp::parse(&stamp_text, &stamp_path)?;
    let sources = sources_hash()?;
    ensure!(
        sources == stamp.sources,
        "the eBPF sources changed since host/ebpf/{file} was built: run `cargo xtask bpf` and commit \
         the objects and their stamps"
    );
    let object = fs::read(object_path(file)).with_context(|| format!("reading {}", object_path(file).display()))?;
    ensure!(
        hex(&Sha256::digest(&object)) == stamp.object,
        "host/ebpf/{file} is not the object its stamp records: run `cargo xtask bpf`"
    );
    if sources_only {
        println!("{arch}: eBPF object up to date with its sources (hash only, not rebuilt)");
        return Ok(());
    }
    let built = build(arch, &scratch("ebpf-check", arch))?;
    let rebuilt = fs::read(&built)?;
    if rebuilt != object {
        let now = toolchain_id()?;
        bail!(
            "rebuilding the {arch} eBPF program gives different bytes than host/ebpf/{file} \
             (checked in: built by {}; this build: {now}); run `cargo xtask bpf` and commit the result",
            stamp.toolchain
        );
    }
    println!("{arch}: eBPF object up to date: rebuilt {} bytes, identical", rebuilt.len());
    Ok(())
}

/// Builds the eBPF crate for `arch`'s `struct pt_regs` into `target_dir` and returns the
/// object's path.
fn build(arch: &str, target_dir: &Path) -> Result<PathBuf> {
    let mut cmd = toolchain_cmd("cargo");
    cmd.current_dir(ebpf_dir())
        .env("RUSTC_BOOTSTRAP", "1")
        .env("AYA_BPF_TARGET_ARCH", arch)
        .args(["build", "--release", "--locked", "--target", TARGET, "-Z", "build-std=core", "--target-dir"])
        .arg(target_dir);
    run(&mut cmd).context(
        "building the eBPF program needs: rustup toolchain install 1.95.0 --component rust-src; \
         apt-get install llvm-22-dev libpolly-22-dev libzstd-dev zlib1g-dev; \
         LLVM_PREFIX=/usr/lib/llvm-22 cargo install bpf-linker --no-default-features --features llvm-22",
    )?;
    Ok(target_dir.join(TARGET).join("release").join(BIN))
}

fn toolchain() -> String {
    std::env::var("WPROBE_BPF_TOOLCHAIN").unwrap_or_else(|_| DEFAULT_TOOLCHAIN.to_string())
}

/// `rustup run TOOLCHAIN PROGRAM`, with what `cargo xtask` put in the environment removed:
/// it describes the host build (toolchain, rustc, flags), not this one.
fn toolchain_cmd(program: &str) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", &toolchain(), program]);
    for var in [
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO",
        "CARGO_MANIFEST_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// The rustc and bpf-linker versions, for the stamp and for error messages.
fn toolchain_id() -> Result<String> {
    let output = |cmd: &mut Command| -> Result<String> {
        let out = cmd.output().with_context(|| format!("cannot run {cmd:?}"))?;
        ensure!(out.status.success(), "{cmd:?} failed");
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let rustc = output(toolchain_cmd("rustc").arg("-V"))?;
    let linker = output(Command::new("bpf-linker").arg("--version"))?;
    Ok(format!("{rustc}; {linker}"))
}

/// SHA-256 over every file the object is built from: the eBPF crate (manifest, lock file,
/// sources) and the shared record crate it depends on. Paths are relative and sorted, so the
/// hash depends on contents and names only.
fn sources_hash() -> Result<String> {
    let root = workspace_root();
    let mut files = vec![
        root.join("host/ebpf/Cargo.toml"),
        root.join("host/ebpf/Cargo.lock"),
        root.join("host/ebpf/build.rs"),
        root.join("host/common/Cargo.toml"),
    ];
    collect_rs(&root.join("host/ebpf/src"), &mut files)?;
    collect_rs(&root.join("host/common/src"), &mut files)?;
    hash_files(files)
}

/// SHA-256 over the files' paths (relative to the workspace) and contents, in path order.
pub(crate) fn hash_files(mut files: Vec<PathBuf>) -> Result<String> {
    let root = workspace_root();
    files.sort();
    let mut h = Sha256::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        let data = fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        h.update(rel.as_bytes());
        h.update([0]);
        h.update((data.len() as u64).to_le_bytes());
        h.update(&data);
    }
    Ok(hex(&h.finalize()))
}

pub(crate) fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stamp file: `key value` lines, `#` comments.
struct Stamp {
    sources: String,
    object: String,
    toolchain: String,
}

impl Stamp {
    fn render(&self, arch: &str) -> String {
        format!(
            "# Written by `cargo xtask bpf`; checked by `cargo xtask bpf --check`. Do not edit.\n\
             # For {arch}'s struct pt_regs.\n\
             sources-sha256 {}\nobject-sha256 {}\ntoolchain {}\n",
            self.sources, self.object, self.toolchain
        )
    }

    fn parse(text: &str, path: &Path) -> Result<Stamp> {
        let field = |key: &str| -> Result<String> {
            text.lines()
                .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix(' ')))
                .map(|v| v.trim().to_string())
                .with_context(|| format!("{} has no `{key}` line: run `cargo xtask bpf`", path.display()))
        };
        Ok(Stamp { sources: field("sources-sha256")?, object: field("object-sha256")?, toolchain: field("toolchain")? })
    }
}
