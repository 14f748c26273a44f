//! Handlers in C, Python and JavaScript next to Rust: component size, first start (compile,
//! instantiate, init), cached start (the same from the compiled-code cache), and events per
//! second on the dispatch path of `dispatch.rs` (flat batches of 256 seed-like events).
//!
//! Needs the handlers: `cargo xtask handlers`, then
//! `cargo bench -p wprobe --bench languages`. The start times print as a table first; then
//! Criterion reports throughput in events per second ("elem/s") for `tcp_connect` (the seed's
//! printf line per event) and `count` (pid and execname per event). A language whose
//! components are missing is left out.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wprobe::batch::BatchBuilder;
use wprobe::events_file::make_record;
use wprobe::probe::ProbeInfo;
use wprobe::sandbox::{Handler, Limits, Runtime, RuntimeConfig, Session};
use wprobe_common::abi::x86_64;
use wprobe_common::{Arch, EventHeader};

const BATCH: usize = 256;
/// (label, file-name suffix): `tcp_connect` + suffix.
const LANGUAGES: [(&str, &str); 4] = [("rust", ""), ("c", "_c"), ("python", "_py"), ("javascript", "_js")];

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn handler_path(name: &str) -> Option<PathBuf> {
    let path = target_dir().join("handlers").join(format!("{name}.wasm"));
    if path.exists() {
        Some(path)
    } else {
        eprintln!("{} is missing (cargo xtask handlers): left out", path.display());
        None
    }
}

fn session() -> Session {
    Session {
        args: vec![],
        probes: Arc::from(vec![ProbeInfo::new("kprobe.function(\"tcp_v4_connect\")", false)]),
        arch: Arch::X86_64,
    }
}

/// One full batch of seed-like events with varying pids and CPUs, as in dispatch.rs.
fn batch() -> Vec<u8> {
    let mut b = BatchBuilder::new(Arch::X86_64, BATCH);
    let mut regs = [0u64; x86_64::NREGS];
    regs[x86_64::RSI] = 0xffff_8103_8aa2_fec8;
    regs[x86_64::RDX] = 16;
    for i in 0..BATCH as u32 {
        regs[x86_64::RDI] = 0xffff_8102_4ce5_1380 + u64::from(i) * 64;
        let h = EventHeader {
            pid: 30_000 + i % 17,
            tid: 30_000 + i,
            cpu: i % 2,
            comm: *b"curl\0\0\0\0\0\0\0\0\0\0\0\0",
            ..Default::default()
        };
        b.push_record(&make_record(Arch::X86_64, &h, &regs));
    }
    b.finish().to_vec()
}

/// Load (compile or fetch from the cache), instantiate and run `init`.
fn start(rt: &Runtime, path: &std::path::Path) -> Handler {
    let loaded = rt.load(path).unwrap();
    rt.start(&loaded, &session(), Limits::default()).unwrap()
}

fn secs(d: Duration) -> String {
    if d.as_secs_f64() >= 1.0 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

/// The start-time table, measured once per component (compiling Python takes many seconds).
fn start_times() {
    println!("\n| handler | component size | first start (compile) | cached start |");
    println!("|---|---:|---:|---:|");
    for name in ["tcp_connect", "count"] {
        for (label, suffix) in LANGUAGES {
            let Some(path) = handler_path(&format!("{name}{suffix}")) else { continue };
            let size = std::fs::metadata(&path).unwrap().len();
            let cache =
                std::env::temp_dir().join(format!("wprobe-bench-languages-{}-{name}{suffix}", std::process::id()));
            let _ = std::fs::remove_dir_all(&cache);
            let t = Instant::now();
            let rt = Runtime::new(RuntimeConfig { cache_dir: Some(cache.clone()), ..Default::default() }).unwrap();
            drop(start(&rt, &path));
            let first = t.elapsed();
            drop(rt);
            let mut cached: Vec<Duration> = (0..5)
                .map(|_| {
                    let t = Instant::now();
                    let rt =
                        Runtime::new(RuntimeConfig { cache_dir: Some(cache.clone()), ..Default::default() }).unwrap();
                    drop(start(&rt, &path));
                    t.elapsed()
                })
                .collect();
            cached.sort();
            let _ = std::fs::remove_dir_all(&cache);
            println!(
                "| {name} ({label}) | {:.1} KiB | {} | {} |",
                size as f64 / 1024.0,
                secs(first),
                secs(cached[cached.len() / 2])
            );
        }
    }
    println!();
}

fn bench(c: &mut Criterion) {
    start_times();
    let rt = Runtime::new(RuntimeConfig { cache_dir: Some(target_dir().join("bench-cache")), ..Default::default() })
        .unwrap();
    let flat = batch();
    let mut sink = Vec::with_capacity(1 << 16);
    for name in ["tcp_connect", "count"] {
        let mut g = c.benchmark_group(format!("languages_{name}"));
        g.throughput(Throughput::Elements(BATCH as u64));
        for (label, suffix) in LANGUAGES {
            let Some(path) = handler_path(&format!("{name}{suffix}")) else { continue };
            let mut h = start(&rt, &path);
            g.bench_function(label, |bench| {
                bench.iter(|| {
                    h.handle_batch(black_box(&flat)).unwrap();
                    h.output().drain(|out, _| {
                        sink.clear();
                        sink.extend_from_slice(out);
                    });
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = bench
}
criterion_main!(benches);
