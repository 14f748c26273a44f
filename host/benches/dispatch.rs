//! The dispatch path: synthetic events in memory → flat batches → handler, and the same
//! work done by native Rust on the same batches as the baseline of the same run.
//!
//! Needs the handlers: `cargo xtask handlers`, then `cargo bench -p wprobe --bench dispatch`.
//! Criterion reports throughput in events per second ("elem/s"), per second of the bench
//! thread's CPU time: on a shared machine the wall clock also counts the time other
//! processes had the core, while "events per second per core" is what is asked.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wprobe::batch::BatchBuilder;
use wprobe::events_file::make_record;
use wprobe::probe::ProbeInfo;
use wprobe::sandbox::{Handler, Limits, Runtime, RuntimeConfig, Session};
use wprobe_common::abi::x86_64;
use wprobe_common::{Arch, BatchRef, EventHeader};

const BATCH: usize = 256;

/// Criterion's clock: the calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), in
/// nanoseconds. Everything measured runs on the bench thread (wasmtime calls the handler
/// there), so this is the work's cost whatever else the machine runs.
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    wprobe::sandbox::thread_cpu_time().as_nanos() as u64
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, shown as WallTime shows them.
        static NS: WallTime = WallTime;
        NS.formatter()
    }
}

fn handler_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("handlers").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run `cargo xtask handlers` first", path.display());
    path
}

fn probes() -> Arc<[ProbeInfo]> {
    Arc::from(vec![ProbeInfo::new("kprobe.function(\"tcp_v4_connect\")", false)])
}

/// One full batch of seed-like events with varying pids and CPUs.
fn batch() -> BatchBuilder {
    let mut b = BatchBuilder::new(Arch::X86_64, BATCH);
    let mut regs = [0u64; x86_64::NREGS];
    regs[x86_64::RSI] = 0xffff_8103_8aa2_fec8;
    regs[x86_64::RDX] = 16;
    for i in 0..BATCH as u32 {
        regs[x86_64::RDI] = 0xffff_8102_4ce5_1380 + u64::from(i) * 64;
        let h = EventHeader { pid: 30_000 + i % 17, tid: 30_000 + i, cpu: i % 2, ..Default::default() };
        b.push_record(&make_record(Arch::X86_64, &h, &regs));
    }
    b.finish();
    b
}

fn start(rt: &Runtime, name: &str) -> Handler {
    start_path(rt, &handler_path(name), vec![])
}

fn start_path(rt: &Runtime, path: &Path, args: Vec<(String, String)>) -> Handler {
    let loaded = rt.load(path).unwrap();
    let session = Session { args, probes: probes(), arch: Arch::X86_64 };
    // The printing handlers write a line per event for as long as criterion iterates, which
    // on a fast machine passes the default 1 GiB a run may print; and in this VM a batch's
    // CPU clock also runs while the host has stolen its core, which can pass 500 ms.
    let limits = Limits { output_total: u64::MAX, cpu_per_call: Duration::from_secs(60), ..Limits::default() };
    rt.start(&loaded, &session, limits).unwrap()
}

/// The script handler on `script`: the component `wprobe run -e` embeds, read from the
/// checked-in file (`cargo xtask stap` rebuilds it) so that no other build step is needed.
fn start_script(rt: &Runtime, script: &str) -> Handler {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("stap/wprobe_stap.wasm");
    start_path(rt, &path, vec![("wprobe.stap.script".into(), script.into())])
}

/// Runs one batch through the handler and discards its output, as a sink would.
fn dispatch(h: &mut Handler, flat: &[u8], sink: &mut Vec<u8>) {
    h.handle_batch(flat).unwrap();
    h.output().drain(|out, _| {
        sink.clear();
        sink.extend_from_slice(out);
    });
}

fn bench(c: &mut Criterion<ThreadCpu>) {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let b = batch();
    let flat = b.view();
    let flat_bytes: Vec<u8> = {
        let mut b = batch();
        b.finish().to_vec()
    };
    let mut sink = Vec::with_capacity(1 << 16);

    // (i) pid() and one argument, counted.
    let mut g = c.benchmark_group("count");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("native", |bench| {
        let (mut n, mut pid_sum, mut arg_sum) = (0u64, 0u64, 0u64);
        bench.iter(|| {
            for e in black_box(&flat).iter() {
                n += 1;
                pid_sum += u64::from(e.pid());
                arg_sum += u64::from(e.uint_arg(3).unwrap());
            }
        });
        black_box((n, pid_sum, arg_sum));
    });
    for (label, name) in [("wasm_flat", "bench_flat"), ("wasm_imports", "bench_cursor")] {
        let mut h = start(&rt, name);
        g.bench_function(label, |bench| bench.iter(|| dispatch(&mut h, black_box(&flat_bytes), &mut sink)));
    }
    // The same kind of work as a SystemTap script: an aggregate per pid.
    let mut h = start_script(&rt, r#"global a; probe kprobe.function("tcp_v4_connect") { a[pid()] <<< 1 }"#);
    g.bench_function("script", |bench| bench.iter(|| dispatch(&mut h, black_box(&flat_bytes), &mut sink)));
    // The script handler's floor (an empty body) and one trivial statement: what any script
    // pays per event before its own work.
    let mut h = start_script(&rt, r#"probe kprobe.function("tcp_v4_connect") { }"#);
    g.bench_function("empty_script", |bench| bench.iter(|| dispatch(&mut h, black_box(&flat_bytes), &mut sink)));
    let mut h = start_script(&rt, r#"global n; probe kprobe.function("tcp_v4_connect") { n++ }"#);
    g.bench_function("incr_script", |bench| bench.iter(|| dispatch(&mut h, black_box(&flat_bytes), &mut sink)));
    g.finish();

    // (ii) the seed's printf line per event, written to a sink.
    let mut g = c.benchmark_group("printf");
    g.throughput(Throughput::Elements(BATCH as u64));
    let pp = probes();
    g.bench_function("native", |bench| {
        let mut out = String::with_capacity(1 << 16);
        bench.iter(|| {
            out.clear();
            for e in BatchRef::parse(black_box(&flat_bytes)).unwrap().iter() {
                let _ = writeln!(
                    out,
                    "{}, {}, {}, {:#x}, {:#x}, {}",
                    pp[e.probe_id() as usize].pp,
                    e.pid(),
                    e.cpu(),
                    e.pointer_arg(1).unwrap(),
                    e.pointer_arg(2).unwrap(),
                    e.uint_arg(3).unwrap()
                );
            }
            sink.clear();
            sink.extend_from_slice(out.as_bytes());
        });
    });
    let mut h = start(&rt, "tcp_connect");
    g.bench_function("wasm_flat", |bench| bench.iter(|| dispatch(&mut h, black_box(&flat_bytes), &mut sink)));
    // The seed's script, verbatim, in the script handler.
    let mut h = start_script(
        &rt,
        r#"probe kprobe.function("tcp_v4_connect") { asmlinkage(); printf("%s, %d, %d, 0x%x, 0x%x, %d\n", pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3)) }"#,
    );
    g.bench_function("script", |bench| bench.iter(|| dispatch(&mut h, black_box(&flat_bytes), &mut sink)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(30);
    targets = bench
}
criterion_main!(benches);
