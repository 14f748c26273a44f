//! The live pipeline at increasing rates: a uprobe'd thread calls at a paced rate, wprobe
//! runs the flat-path counting handler on every event; reported: handled/s and lost/s.
//!
//! Needs root, uprobes and the handlers: `cargo xtask handlers`, then
//! `cargo bench -p wprobe --bench live_pipeline`.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn main() {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let wprobe = target_dir.join("release/wprobe");
    let handler = target_dir.join("handlers/bench_flat.wasm");
    assert!(
        wprobe.exists() && handler.exists(),
        "build first: cargo build --release -p wprobe && cargo xtask handlers"
    );
    let target = target_dir.join("tmp/wprobe_target_bench");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    let status = Command::new("cc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&target)
        .arg(root().join("tests/targets/wprobe_target.c"))
        .status()
        .expect("cc");
    assert!(status.success());
    let t = target.to_str().unwrap();

    println!("{:>12} {:>10} {:>12} {:>10} {:>12}", "asked/s", "calls", "handled/s", "lost", "lost/s");
    for rate in [1_000u64, 10_000, 30_000, 60_000, 0] {
        // About one second of calls at the asked rate; the unpaced run makes 200k calls.
        let calls = if rate == 0 { 200_000 } else { rate };
        let out = Command::new(&wprobe)
            .arg("run")
            .arg(&handler)
            .args(["--uprobe", &format!("{t}:wprobe_target"), "--batch-size", "1024"])
            .args(["-c", &format!("echo | {t} {calls} 1 {rate}")])
            .output()
            .expect("cannot run wprobe");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        // "wprobe: N events seen, H handled, L lost, in B batches over S s ..."
        let summary = stderr.lines().find(|l| l.contains("events seen")).expect("summary line");
        let num = |after: &str| -> f64 {
            let i = summary.find(after).unwrap();
            summary[..i].split_whitespace().last().unwrap().trim_end_matches(',').parse().unwrap()
        };
        let (handled, lost, secs) = (num(" handled"), num(" lost"), num(" s ("));
        let asked = if rate == 0 { "max".to_string() } else { rate.to_string() };
        println!("{asked:>12} {calls:>10} {:>12.0} {lost:>10.0} {:>12.0}", handled / secs, lost / secs);
        assert_eq!(handled + lost, calls as f64, "every call is handled or counted as lost");
    }
}
