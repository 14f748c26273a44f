//! `cargo xtask demo`: the main job in one command. Builds wprobe and the handlers, runs the
//! seed's `tcp_connect` handler live on a uprobe (this machine's kernel has no kprobes; the
//! VM has them: `cargo xtask vm -- …`), recording the events, then replays the recording.

use crate::{cargo, handlers, run, target_dir, workspace_root};
use anyhow::{Context, Result};
use std::process::Command;

pub fn main() -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "wprobe"]))?;
    handlers::build(&handlers::Args::default())?;
    let tmp = target_dir().join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let target = tmp.join("wprobe_target");
    run(Command::new(std::env::var_os("CC").unwrap_or("cc".into()))
        .args(["-O2", "-pthread", "-o"])
        .arg(&target)
        .arg(workspace_root().join("tests/targets/wprobe_target.c")))?;
    let wprobe = target_dir().join("release/wprobe");
    let handler = target_dir().join("handlers/tcp_connect.wasm");
    let events = tmp.join("demo.events");
    let t = target.to_str().context("target path is not UTF-8")?;
    println!("\n$ wprobe run tcp_connect.wasm --uprobe {t}:wprobe_target --record demo.events -c '{t} 3 1'");
    run(Command::new(&wprobe)
        .arg("run")
        .arg(&handler)
        .args(["--uprobe", &format!("{t}:wprobe_target"), "--record"])
        .arg(&events)
        .args(["-c", &format!("echo | {t} 3 1")]))?;
    println!("\n$ wprobe replay tcp_connect.wasm demo.events");
    run(Command::new(&wprobe).arg("replay").arg(&handler).arg(&events))
}
