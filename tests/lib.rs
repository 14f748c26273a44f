//! Helpers for wprobe's integration tests: where the built handlers and the `wprobe` binary
//! are, and synthetic events files for the sandbox tests (the fixture files under
//! `tests/fixtures/` are recordings of real runs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use wprobe::events_file::{make_record, EventsWriter};
use wprobe::probe::ProbeInfo;
use wprobe_common::abi::x86_64;
use wprobe_common::record::FLAG_RETURN;
use wprobe_common::{Arch, EventHeader};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The build's target directory (`$CARGO_TARGET_DIR`, else the workspace's `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

/// `target/handlers/NAME.wasm`, built by `cargo xtask handlers`.
pub fn handler(name: &str) -> PathBuf {
    let path = target_dir().join("handlers").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run `cargo xtask handlers` (or `cargo xtask test`) first", path.display());
    path
}

/// `tests/targets/NAME.c` compiled with `cc -O2 -pthread` into this test run's scratch
/// directory (once per name and process).
pub fn compile_target(name: &str) -> PathBuf {
    let out = scratch_dir("target").join(name);
    if !out.exists() {
        let status = Command::new(std::env::var_os("CC").unwrap_or("cc".into()))
            .args(["-O2", "-pthread", "-o"])
            .arg(&out)
            .arg(workspace_root().join("tests/targets").join(format!("{name}.c")))
            .status()
            .expect("cannot run cc");
        assert!(status.success(), "cc failed on tests/targets/{name}.c");
    }
    out
}

pub fn fixture(name: &str) -> PathBuf {
    workspace_root().join("tests").join("fixtures").join(name)
}

/// The `wprobe` binary built beside this test executable.
pub fn wprobe_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/all-HASH -> target/<profile>/wprobe
    let bin = exe.parent().unwrap().parent().unwrap().join("wprobe");
    assert!(bin.exists(), "{} is missing: build it with `cargo build --release -p wprobe`", bin.display());
    bin
}

/// Runs `wprobe ARGS` with a private cache directory.
pub fn wprobe(args: &[&str]) -> Output {
    Command::new(wprobe_bin())
        .args(args)
        .env("WPROBE_CACHE_DIR", scratch_dir("cache"))
        .output()
        .expect("cannot run wprobe")
}

/// A fresh directory under the target dir, unique to this process and `name`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = target_dir().join("test-scratch").join(format!("{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The probe table of the synthetic file: the seed's probe and its return.
pub fn seed_probes() -> Arc<[ProbeInfo]> {
    Arc::from(vec![
        ProbeInfo::new("kprobe.function(\"tcp_v4_connect\")", false),
        ProbeInfo::new("kprobe.function(\"tcp_v4_connect\").return", true),
    ])
}

/// A synthetic x86_64 entry event with the seed's register values.
pub fn seed_entry(pid: u32, cpu: u32) -> Vec<u8> {
    let mut regs = [0u64; x86_64::NREGS];
    regs[x86_64::RDI] = 0xffff_8102_4ce5_1380;
    regs[x86_64::RSI] = 0xffff_8103_8aa2_fec8;
    regs[x86_64::RDX] = 16;
    regs[x86_64::RIP] = 0xffff_ffff_8025_b538;
    let header =
        EventHeader { probe_id: 0, pid, tid: pid, cpu, comm: *b"curl\0\0\0\0\0\0\0\0\0\0\0\0", ..Default::default() };
    make_record(Arch::X86_64, &header, &regs)
}

/// A synthetic x86_64 return event returning `ret`.
pub fn seed_return(pid: u32, ret: i64) -> Vec<u8> {
    let mut regs = [0u64; x86_64::NREGS];
    regs[x86_64::RAX] = ret as u64;
    let header = EventHeader { probe_id: 1, flags: FLAG_RETURN, pid, tid: pid, ..Default::default() };
    make_record(Arch::X86_64, &header, &regs)
}

/// Writes an events file of `n` synthetic entry events (pids 1000, 1001, ...).
pub fn synthetic_events(name: &str, n: u32) -> PathBuf {
    let path = scratch_dir("events").join(format!("{name}.events"));
    let mut w = EventsWriter::create(&path, Arch::X86_64, &seed_probes()).unwrap();
    for i in 0..n {
        w.write_record(&seed_entry(1000 + i, i % 4)).unwrap();
    }
    w.finish().unwrap();
    path
}

/// The number of events an events file holds.
pub fn events_in(path: &Path) -> u64 {
    let mut reader = wprobe::events_file::EventsReader::open(path).unwrap();
    let mut batch = wprobe::batch::BatchBuilder::new(reader.header().arch, 1024);
    let mut n = 0;
    loop {
        let more = reader.fill(&mut batch).unwrap();
        n += batch.len() as u64;
        batch.clear();
        if !more {
            return n;
        }
    }
}
