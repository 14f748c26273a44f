//! `cargo xtask stap`: builds the script handler (`examples/stap_script`, which runs
//! SystemTap scripts in the sandbox) and refreshes the copy the host embeds,
//! `host/stap/wprobe_stap.wasm`, with a stamp recording the SHA-256 of its sources and of
//! the component. Checked in, as the eBPF object is, so that building wprobe needs no
//! wasm32 target. `cargo xtask stap --check` (CI) fails when the sources changed since.

use crate::bpf::{collect_rs, hash_files, hex};
use crate::{handlers, target_dir, workspace_root};
use anyhow::{ensure, Context, Result};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::PathBuf;

const CRATE: &str = "stap_script";

#[derive(clap::Args, Default)]
pub struct Args {
    /// Only check that the checked-in component and its stamp match the sources.
    #[arg(long)]
    check: bool,
}

fn component_path() -> PathBuf {
    workspace_root().join("host/stap/wprobe_stap.wasm")
}
fn stamp_path() -> PathBuf {
    workspace_root().join("host/stap/wprobe_stap.wasm.stamp")
}

/// Everything the component is built from: the interpreter, the handler, the SDK, the
/// shared record code and the WIT.
fn sources_hash() -> Result<String> {
    let root = workspace_root();
    let mut files: Vec<PathBuf> = [
        "stap/Cargo.toml",
        "examples/stap_script/Cargo.toml",
        "guest-sdk/Cargo.toml",
        "host/common/Cargo.toml",
        "wit/probe.wit",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    for dir in ["stap/src", "examples/stap_script/src", "guest-sdk/src", "host/common/src"] {
        collect_rs(&root.join(dir), &mut files)?;
    }
    hash_files(files)
}

pub fn main(args: &Args) -> Result<()> {
    let stamp = fs::read_to_string(stamp_path()).unwrap_or_default();
    if args.check {
        let sources = sources_hash()?;
        let component =
            fs::read(component_path()).context("host/stap/wprobe_stap.wasm is missing: run `cargo xtask stap`")?;
        ensure!(
            stamp.lines().any(|l| l == format!("sources {sources}")),
            "the script handler's sources changed since host/stap/wprobe_stap.wasm was built: run `cargo xtask stap` \
             and commit the component and its stamp"
        );
        ensure!(
            stamp.lines().any(|l| l == format!("component {}", hex(&Sha256::digest(&component)))),
            "host/stap/wprobe_stap.wasm is not the component its stamp records: run `cargo xtask stap`"
        );
        println!("script handler up to date with its sources");
        return Ok(());
    }
    handlers::build(&handlers::Args { only: vec![CRATE.into()], skip_languages: true })?;
    let built = target_dir().join("handlers").join(format!("{CRATE}.wasm"));
    let bytes = fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    fs::write(component_path(), &bytes)?;
    fs::write(stamp_path(), format!("sources {}\ncomponent {}\n", sources_hash()?, hex(&Sha256::digest(&bytes))))?;
    println!("wrote {} ({} bytes) and its stamp", component_path().display(), bytes.len());
    Ok(())
}
