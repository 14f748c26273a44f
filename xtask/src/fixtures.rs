//! `cargo xtask fixtures`: records the events files under tests/fixtures/ from real uprobe
//! runs of tests/targets/wprobe_target.c (needs root and a kernel with uprobes).
//!
//! The target calls `wprobe_target(7, 0xdeadbeef, 16)`, which returns 23, three times on
//! each of two threads; the replay tests check the handlers' lines against those values and
//! against the pids, tids and CPUs the recording holds.

use crate::{cargo, run, target_dir, workspace_root};
use anyhow::{ensure, Context, Result};
use std::process::Command;

/// (file, wprobe record probe arguments)
const FIXTURES: [(&str, &[&str]); 3] = [
    ("target_entry.events", &["--uprobe", "{T}:wprobe_target"]),
    ("target_return.events", &["--uretprobe", "{T}:wprobe_target"]),
    ("target_both.events", &["--uprobe", "{T}:wprobe_target", "--uretprobe", "{T}:wprobe_target"]),
];

pub fn record() -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "wprobe"]))?;
    let target = target_dir().join("tmp").join("wprobe_target");
    std::fs::create_dir_all(target.parent().unwrap())?;
    let src = workspace_root().join("tests/targets/wprobe_target.c");
    run(Command::new(std::env::var_os("CC").unwrap_or("cc".into()))
        .args(["-O2", "-pthread", "-o"])
        .arg(&target)
        .arg(&src))?;
    let wprobe = target_dir().join("release").join("wprobe");
    let dir = workspace_root().join("tests/fixtures");
    std::fs::create_dir_all(&dir)?;
    let t = target.to_str().context("target path is not UTF-8")?;
    for (file, probes) in FIXTURES {
        let out = dir.join(file);
        let mut cmd = Command::new(&wprobe);
        cmd.arg("record").args(probes.iter().map(|a| a.replace("{T}", t)));
        cmd.arg("-o").arg(&out).arg("-c").arg(format!("echo | {t} 3 2"));
        let status = cmd.status().with_context(|| format!("cannot run {}", wprobe.display()))?;
        ensure!(status.success(), "recording {file} failed ({status}); it needs root and uprobes");
        println!("recorded {}", out.display());
    }
    Ok(())
}
