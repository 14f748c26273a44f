//! `cargo xtask fixtures`: records the events files under tests/fixtures/ from real uprobe
//! and tracepoint runs of tests/targets/wprobe_target.c and tests/targets/wprobe_workload.c
//! (needs root and a kernel with uprobes).
//!
//! The target calls `wprobe_target(7, 0xdeadbeef, 16)`, which returns 23, three times on
//! each of two threads; the replay tests check the handlers' lines against those values and
//! against the pids, tids and CPUs the recording holds.
//!
//! The arm64 recordings (`arm64_target_both.events`: --uprobe and --uretprobe on the target,
//! `echo | wprobe_target 3 2`; `arm64_tcp_connect.events`: --kprobe and --kretprobe
//! tcp_v4_connect around one `nc` connect) come from a real arm64 kernel: `cargo xtask vm
//! --arch aarch64 --kernel 6.1 --file target/vm/arm64/wprobe_target --file rec.sh -- sh
//! /files/rec.sh`, where rec.sh runs those two `wprobe record … -o FILE` commands and prints
//! each file with `base64`, decoded here with `base64 -d`.

use crate::{cargo, run, target_dir, workspace_root};
use anyhow::{ensure, Context, Result};
use std::process::Command;

/// (file, wprobe record probe arguments, command): `{T}` is the target, `{W}` the workload
/// (tests/targets/wprobe_workload.c), which works in [`WORKLOAD_DIR`].
const FIXTURES: [(&str, &[&str], &str); 6] = [
    ("target_entry.events", &["--uprobe", "{T}:wprobe_target"], "echo | {T} 3 2"),
    ("target_return.events", &["--uretprobe", "{T}:wprobe_target"], "echo | {T} 3 2"),
    ("target_both.events", &["--uprobe", "{T}:wprobe_target", "--uretprobe", "{T}:wprobe_target"], "echo | {T} 3 2"),
    // The classic tools' recordings: syscount, execsnoop and funclatency replay these.
    ("workload_syscalls.events", &["--tracepoint", "raw_syscalls:sys_enter"], "{W} {D}"),
    ("workload_exec.events", &["--tracepoint", "sched:sched_process_exec"], "{W} {D}"),
    ("workload_sleep.events", &["--uretprobe", "{W}:workload_sleep"], "{W} {D}"),
];

/// Where the workload creates its files: a fixed path, so that the recordings name it.
const WORKLOAD_DIR: &str = "/tmp/wprobe-workload";

pub fn record() -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "wprobe"]))?;
    let target = target_dir().join("tmp").join("wprobe_target");
    std::fs::create_dir_all(target.parent().unwrap())?;
    let src = workspace_root().join("tests/targets/wprobe_target.c");
    run(Command::new(std::env::var_os("CC").unwrap_or("cc".into()))
        .args(["-O2", "-pthread", "-o"])
        .arg(&target)
        .arg(&src))?;
    let workload = target.with_file_name("wprobe_workload");
    run(Command::new(std::env::var_os("CC").unwrap_or("cc".into()))
        .args(["-O2", "-o"])
        .arg(&workload)
        .arg(workspace_root().join("tests/targets/wprobe_workload.c")))?;
    let wprobe = target_dir().join("release").join("wprobe");
    let dir = workspace_root().join("tests/fixtures");
    std::fs::create_dir_all(&dir)?;
    let t = target.to_str().context("target path is not UTF-8")?;
    let w = workload.to_str().context("workload path is not UTF-8")?;
    let fill = |a: &str| a.replace("{T}", t).replace("{W}", w).replace("{D}", WORKLOAD_DIR);
    for (file, probes, command) in FIXTURES {
        let _ = std::fs::remove_dir_all(WORKLOAD_DIR);
        std::fs::create_dir_all(WORKLOAD_DIR)?;
        let out = dir.join(file);
        let mut cmd = Command::new(&wprobe);
        cmd.arg("record").args(probes.iter().map(|a| fill(a)));
        cmd.arg("-o").arg(&out).arg("-c").arg(fill(command));
        let status = cmd.status().with_context(|| format!("cannot run {}", wprobe.display()))?;
        ensure!(status.success(), "recording {file} failed ({status}); it needs root and uprobes");
        println!("recorded {}", out.display());
    }
    Ok(())
}
