//! Live probes on this kernel, end to end: uprobes and uretprobes on a real process, through
//! the very eBPF program and ring reader that `wprobe run` uses.
//!
//! These tests need root (CAP_BPF, CAP_PERFMON) and a kernel with uprobes; without root they
//! print why and pass, so that an unprivileged `cargo test` stays green. CI runs as root.
//!
//! The probed process is `tests/targets/wprobe_target.c`, compiled here with `cc`: it calls
//! `wprobe_target(7, 0xdeadbeef, 16)` (which returns 23) N times on each of two threads, after
//! a go-ahead on stdin, so that every test can first point its process filter at it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;
use wprobe::batch::BatchBuilder;
use wprobe::live::{self, BatchStatus, LiveError, LiveOptions, LiveSource, ProbeSpec, ProbeSupport};
use wprobe::probe::{CaptureBase, CaptureSpec};
use wprobe_common::abi::x86_64;

const SYMBOL: &str = "wprobe_target";

fn privileged() -> bool {
    // SAFETY: no arguments, no side effects.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: live probe tests need root");
        return false;
    }
    true
}

/// The target binary, compiled once per test run.
fn target() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/targets/wprobe_target.c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wprobe_target");
        let status = std::process::Command::new(std::env::var_os("CC").unwrap_or("cc".into()))
            .args(["-O2", "-pthread", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("running cc");
        assert!(status.success(), "compiling {}", src.display());
        out
    })
}

/// A started target, stopped before its first call.
struct Target {
    child: tokio::process::Child,
    pid: u32,
    main_tid: u32,
    thread_tid: u32,
    stdout: BufReader<tokio::process::ChildStdout>,
}

impl Target {
    async fn spawn(calls: u64) -> Target {
        Self::spawn_threads(calls, 2).await
    }

    /// `threads` 1: only the main thread calls.
    async fn spawn_threads(calls: u64, threads: u32) -> Target {
        Self::spawn_with(&[calls.to_string(), threads.to_string()]).await
    }

    /// With the target's arguments (see `tests/targets/wprobe_target.c`).
    async fn spawn_with(args: &[String]) -> Target {
        let mut child = tokio::process::Command::new(target())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawning the target");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).await.unwrap();
        // "pid P main-tid T1 thread-tid T2"
        let f: Vec<u32> = line.split_whitespace().skip(1).step_by(2).map(|v| v.parse().unwrap()).collect();
        let [pid, main_tid, thread_tid] = f[..] else { panic!("unexpected first line {line:?}") };
        assert_eq!(pid, child.id().unwrap());
        Target { child, pid, main_tid, thread_tid, stdout }
    }

    /// Lets it run; returns its "sum" line once it has exited.
    async fn go_and_wait(mut self) -> String {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(b"go\n").await.unwrap();
        drop(stdin);
        let mut line = String::new();
        self.stdout.read_line(&mut line).await.unwrap();
        assert!(self.child.wait().await.unwrap().success());
        line.trim().to_string()
    }
}

fn uprobe(is_return: bool) -> ProbeSpec {
    ProbeSpec::parse_uprobe(&format!("{}:{SYMBOL}", target().display()), is_return).unwrap()
}

/// Every record the source delivers until `want` events have arrived or were reported lost,
/// or until `limit` passes, with the lost count the batches reported.
async fn collect(source: &mut LiveSource, want: usize, limit: Duration) -> (Vec<Vec<u8>>, u64) {
    let mut batch = BatchBuilder::new(source.arch(), 64);
    let (mut records, mut lost) = (Vec::new(), 0);
    let give_up = Instant::now() + limit;
    while records.len().saturating_add(lost as usize) < want && Instant::now() < give_up {
        source.next_batch(&mut batch, Some(give_up)).await.unwrap();
        batch.finish();
        let view = batch.view();
        lost += view.header().lost;
        records.extend(view.iter().map(|e| e.bytes().to_vec()));
        batch.clear();
    }
    (records, lost)
}

fn event(bytes: &[u8]) -> wprobe_common::EventRef<'_> {
    wprobe_common::EventRef::new(wprobe_common::Arch::X86_64, bytes).unwrap()
}

/// Polls until the kernel has let go of `objects` (links and maps are freed asynchronously).
async fn assert_gone(objects: &live::KernelObjects) {
    assert!(!objects.programs.is_empty() && !objects.links.is_empty() && !objects.maps.is_empty(), "{objects:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = live::still_in_kernel(objects).unwrap();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still in the kernel after drop: {left:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn uprobe_and_uretprobe_carry_the_true_arguments_return_value_pid_and_tid() {
    if !privileged() {
        return;
    }
    const CALLS: u64 = 50;
    // The target exists (stopped before its first call) before anything is attached, as
    // with `-c CMD`, so the probes can be restricted to it from the start.
    let t = Target::spawn(CALLS).await;
    let (pid, tids) = (t.pid, [t.main_tid, t.thread_tid]);
    let opts = LiveOptions { pid: Some(pid), ..LiveOptions::default() };
    let mut source = LiveSource::attach(&[uprobe(false), uprobe(true)], opts).unwrap();
    let abs = std::fs::canonicalize(target()).unwrap();
    assert_eq!(source.probes()[0].pp, format!("process(\"{}\").function(\"{SYMBOL}\")", abs.display()));
    assert_eq!(source.probes()[1].pp, format!("process(\"{}\").function(\"{SYMBOL}\").return", abs.display()));
    assert!(!source.probes()[0].is_return && source.probes()[1].is_return);

    assert_eq!(t.go_and_wait().await, format!("sum {}", 2 * CALLS * 23));

    let want = 4 * CALLS as usize; // two threads, entry and return
    let (records, lost) = collect(&mut source, want, Duration::from_secs(10)).await;
    assert_eq!((records.len(), lost), (want, 0));

    let (mut entries, mut returns) = (0, 0);
    let mut seen_tids = std::collections::BTreeSet::new();
    for r in &records {
        let e = event(r);
        assert_eq!(e.pid(), pid);
        assert!(tids.contains(&e.tid()), "tid {} not one of {tids:?}", e.tid());
        seen_tids.insert(e.tid());
        assert_eq!(e.comm(), b"wprobe_target");
        assert_eq!(e.uid(), 0);
        if e.is_return() {
            returns += 1;
            assert_eq!(e.probe_id(), 1);
            assert_eq!(e.returnval(), Ok(23));
        } else {
            entries += 1;
            assert_eq!(e.probe_id(), 0);
            assert_eq!(e.pointer_arg(1), Ok(7));
            assert_eq!(e.pointer_arg(2), Ok(0xdeadbeef));
            assert_eq!(e.uint_arg(3), Ok(16));
            assert_eq!(e.reg(x86_64::RDI), 7);
            assert_eq!(e.reg(x86_64::RSI), 0xdeadbeef);
            assert_eq!(e.reg(x86_64::RDX), 16);
            // At a uprobe on the function's first instruction, rip is that instruction.
            assert_eq!(e.reg(x86_64::RIP) & 0xfff, wprobe_target_address() & 0xfff);
        }
    }
    assert_eq!((entries, returns), (2 * CALLS, 2 * CALLS));
    assert_eq!(seen_tids.len(), 2, "both threads were seen");
    // Timestamps are in ring order per CPU; at least they are all from this run and nonzero.
    assert!(records.iter().all(|r| event(r).timestamp_ns() > 0));

    let objects = source.kernel_objects().clone();
    assert_eq!(live::still_in_kernel(&objects).unwrap(), objects, "everything is loaded while attached");
    drop(source);
    assert_gone(&objects).await;
}

/// The symbol's address in the target's ELF file (its low 12 bits survive relocation).
fn wprobe_target_address() -> u64 {
    let out = std::process::Command::new("nm").arg(target()).output().expect("nm");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_suffix(&format!(" T {SYMBOL}")).map(|a| u64::from_str_radix(a, 16).unwrap()))
        .expect("wprobe_target in nm's output")
}

#[tokio::test]
async fn events_already_waiting_go_out_at_the_batch_deadline() {
    if !privileged() {
        return;
    }
    // Both events are in the ring before the reader first looks, and the program never
    // wakes it for fill level (wakeup_bytes is huge): the batch deadline hands them over.
    let t = Target::spawn(1).await;
    let opts = LiveOptions { pid: Some(t.pid), wakeup_bytes: u64::MAX, ..LiveOptions::default() };
    let mut source = LiveSource::attach(&[uprobe(false)], opts).unwrap();
    t.go_and_wait().await;

    let mut batch = BatchBuilder::new(source.arch(), 64);
    let give_up = Instant::now() + Duration::from_secs(5);
    let status = source.next_batch(&mut batch, Some(give_up)).await.unwrap();
    batch.finish();
    assert_eq!(status, BatchStatus::Flushed, "delivered by the batch deadline, not the caller's timeout");
    assert_eq!(batch.view().len(), 2, "one call on each thread");
}

#[tokio::test]
async fn a_sleeping_reader_is_woken_by_the_first_event_and_hands_it_over_at_once() {
    if !privileged() {
        return;
    }
    // A batch deadline far beyond the caller's: only the wake-up for a sleeping reader, and
    // the early hand-over after it, can deliver before the caller gives up.
    let t = Target::spawn_threads(1, 1).await;
    let opts = LiveOptions {
        pid: Some(t.pid),
        wakeup_bytes: u64::MAX,
        batch_delay: Duration::from_secs(600),
        ..LiveOptions::default()
    };
    let mut source = LiveSource::attach(&[uprobe(false)], opts).unwrap();
    let mut batch = BatchBuilder::new(source.arch(), 64);
    // Nothing to read: the reader tells the program it sleeps, and times out.
    let status = source.next_batch(&mut batch, Some(Instant::now() + Duration::from_millis(20))).await.unwrap();
    assert_eq!((status, batch.len()), (BatchStatus::TimedOut, 0));

    t.go_and_wait().await;
    let status = source.next_batch(&mut batch, Some(Instant::now() + Duration::from_secs(60))).await.unwrap();
    assert_eq!(status, BatchStatus::Flushed, "handed over without waiting for the deadline or the caller");
    assert_eq!(batch.len(), 1);
}

#[tokio::test]
async fn overload_loses_events_and_counts_every_one() {
    if !privileged() {
        return;
    }
    const CALLS: u64 = 20_000;
    // 4 pages hold 73 records; nobody reads while the target runs.
    let t = Target::spawn(CALLS).await;
    let opts = LiveOptions { pid: Some(t.pid), ring_bytes: 4 * 4096, wakeup_bytes: 4 * 4096, ..LiveOptions::default() };
    let mut source = LiveSource::attach(&[uprobe(false)], opts).unwrap();
    t.go_and_wait().await;

    let (records, lost) = collect(&mut source, usize::MAX, Duration::from_millis(300)).await;
    assert!(lost > 0, "the ring overflowed");
    assert_eq!(records.len() as u64 + lost, 2 * CALLS, "generated = delivered + lost, exactly");
    assert_eq!((source.events_total(), source.lost_total()), (records.len() as u64, lost));
}

#[tokio::test]
async fn pid_given_at_attach_filters_in_the_kernel() {
    if !privileged() {
        return;
    }
    let t = Target::spawn(10).await;
    let other = Target::spawn(10).await;
    let opts = LiveOptions { pid: Some(t.pid), ..LiveOptions::default() };
    let mut source = LiveSource::attach(&[uprobe(false)], opts).unwrap();
    let pid = t.pid;
    let (a, b) = tokio::join!(t.go_and_wait(), other.go_and_wait());
    assert_eq!((a.as_str(), b.as_str()), ("sum 460", "sum 460"));
    let (records, _) = collect(&mut source, 20, Duration::from_secs(5)).await;
    assert_eq!(records.len(), 20);
    assert!(records.iter().all(|r| event(r).pid() == pid));
    // Nothing from the other process arrives later either.
    let (late, _) = collect(&mut source, 1, Duration::from_millis(50)).await;
    assert!(late.is_empty());
}

#[tokio::test]
async fn records_from_different_cpus_come_out_in_the_order_they_happened() {
    if !privileged() {
        return;
    }
    // Each CPU writes into its own ring and the reader merges them. Here two threads on CPUs
    // 0 and 1 take turns, each call made only after the other CPU's returned, passing its
    // number: whatever ring each record went through, they must come out in that order (a
    // reader that emptied one ring, then the other, fails here at once).
    let calls: u64 = 20_000;
    let args = [calls.to_string(), "2".into(), "0".into(), "pingpong".into()];
    let t = Target::spawn_with(&args).await;
    let mut source =
        LiveSource::attach(&[uprobe(false)], LiveOptions { pid: Some(t.pid), ..LiveOptions::default() }).unwrap();
    let run = tokio::spawn(t.go_and_wait());
    let (records, lost) = collect(&mut source, 2 * calls as usize, Duration::from_secs(60)).await;
    assert_eq!(run.await.unwrap(), format!("sum {}", 2 * calls * 23));
    assert_eq!(records.len() as u64 + lost, 2 * calls);
    let numbers: Vec<u64> = records.iter().map(|r| event(r).pointer_arg(2).unwrap()).collect();
    if let Some(i) = numbers.windows(2).position(|w| w[0] >= w[1]) {
        panic!("record {} is call {} after call {}: out of order", i + 1, numbers[i + 1], numbers[i]);
    }
    let cpus: std::collections::BTreeSet<u32> = records.iter().map(|r| event(r).cpu()).collect();
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        assert_eq!(cpus.into_iter().collect::<Vec<_>>(), [0, 1], "the threads ran on CPUs 0 and 1");
    }
    eprintln!("{} calls in order, {lost} lost", records.len());
}

#[tokio::test]
async fn the_pid_filter_can_change_after_attach() {
    if !privileged() {
        return;
    }
    let t = Target::spawn(10).await;
    let pid = t.pid;
    let mut source =
        LiveSource::attach(&[uprobe(false)], LiveOptions { pid: Some(pid), ..LiveOptions::default() }).unwrap();
    // Pointed elsewhere, the program drops the target's hits.
    source.set_pid_filter(Some(pid + 1)).unwrap();
    t.go_and_wait().await;
    let (records, lost) = collect(&mut source, 1, Duration::from_millis(100)).await;
    assert_eq!((records.len(), lost), (0, 0));

    let t = Target::spawn(10).await;
    source.set_pid_filter(Some(t.pid)).unwrap();
    // The uprobes were opened for the first pid only, so the new one does not even trap.
    t.go_and_wait().await;
    let (records, _) = collect(&mut source, 1, Duration::from_millis(100)).await;
    assert!(records.is_empty());
}

#[test]
fn kprobes_fail_with_the_config_kprobes_message_on_this_kernel() {
    let specs = [ProbeSpec::parse_kprobe("tcp_v4_connect", false).unwrap()];
    if ProbeSupport::detect().kprobes {
        eprintln!("skipped: this kernel has kprobes (the VM tests cover them)");
        return;
    }
    let err = LiveSource::attach(&specs, LiveOptions::default()).err().expect("kprobes cannot attach here");
    assert!(matches!(err, LiveError::KprobesUnsupported { .. }), "{err:?}");
    let msg = err.to_string();
    eprintln!("{msg}");
    for needle in ["kprobe.function(\"tcp_v4_connect\")", "CONFIG_KPROBES", "uprobe", "virtual machine"] {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }
    // The module form and return probes get the same explanation.
    let specs = [ProbeSpec::parse_kprobe("ext4:ext4_sync_fs", true).unwrap()];
    let msg = LiveSource::attach(&specs, LiveOptions::default()).err().unwrap().to_string();
    assert!(
        msg.contains("kprobe.module(\"ext4\").function(\"ext4_sync_fs\").return") && msg.contains("CONFIG_KPROBES")
    );
}

#[test]
fn an_unknown_symbol_fails_before_anything_is_attached_naming_close_matches() {
    // A good probe first: resolution of the whole list comes before any loading.
    let specs =
        [uprobe(false), ProbeSpec::parse_uprobe(&format!("{}:wprobe_targte", target().display()), false).unwrap()];
    let err = LiveSource::attach(&specs, LiveOptions::default()).err().expect("unknown symbol");
    let LiveError::UnknownSymbol { symbol, close, .. } = &err else { panic!("{err:?}") };
    assert_eq!(symbol, "wprobe_targte");
    assert_eq!(close.first().map(String::as_str), Some(SYMBOL));
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(msg.contains("no function `wprobe_targte`") && msg.contains("similar: wprobe_target"), "{msg}");

    let err =
        LiveSource::attach(&[ProbeSpec::parse_uprobe("no-such-program-xyz:f", false).unwrap()], LiveOptions::default())
            .err()
            .unwrap();
    assert!(matches!(err, LiveError::ExecutableNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn snapshot_cost_per_hit_against_an_empty_program() {
    if !privileged() {
        return;
    }
    // Reported, never asserted: timing belongs to benchmarks. One calling thread shows the
    // program's own cost; two show what sharing the ring between CPUs adds.
    // `WPROBE_COST_ROUNDS=N` repeats everything (alternating) and prints medians.
    // Every program on a probe runs on each hit, the last attached first, and the first to
    // run pays the cache misses: so the snapshot program is measured beside the empty one
    // only, the parts together (their differences), and each ring variant on its own.
    let rounds: usize = std::env::var("WPROBE_COST_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(1);
    // The snapshot program, the last part (all the snapshot's work but the wake-up decision),
    // and each ring variant.
    let last_part = &live::COST_PARTS[live::COST_PARTS.len() - 1..];
    let mut alone_sets: Vec<(&str, &'static [&'static str])> = vec![("wp_uprobe", &[]), (last_part[0], last_part)];
    alone_sets.extend(live::COST_RINGS.iter().map(|p| (*p, std::slice::from_ref(p))));
    let mut runs: [Vec<Vec<(&'static str, f64)>>; 2] = [Vec::new(), Vec::new()];
    let mut alone: [Vec<Vec<f64>>; 2] = Default::default();
    for _ in 0..rounds {
        for threads in [1, 2] {
            let t = threads as usize - 1;
            alone[t].resize(alone_sets.len(), Vec::new());
            for (i, (name, programs)) in alone_sets.iter().enumerate() {
                let run = measure_snapshot_cost(100_000, threads, None, programs).await;
                let ns = |n: &str| run.iter().find(|(p, _)| *p == n).map_or(f64::NAN, |p| p.1);
                alone[t][i].push(ns(name) - ns("wp_empty"));
            }
            runs[t].push(measure_snapshot_cost(100_000, threads, None, live::COST_PARTS).await);
        }
    }
    for (t, runs) in runs.iter().enumerate() {
        eprintln!("{} thread(s), each program beside the empty one only, its own cost in ns per hit:", t + 1);
        for (i, (name, _)) in alone_sets.iter().enumerate() {
            let mut v = alone[t][i].clone();
            v.sort_by(f64::total_cmp);
            eprintln!("  {name:<16} median {:7.1}  {v:.1?}", v[v.len() / 2]);
        }
        print_part_costs(t + 1, runs);
    }
    // The same probe taking 256 bytes of user memory at each hit (the target's stack, which
    // every call has), through the capture program: what a capture costs over no capture.
    let stack = |string| CaptureSpec {
        probe: None,
        base: CaptureBase::Register("rsp".into()),
        offset: 0,
        derefs: vec![],
        string,
        size: 256,
        space: wprobe_common::ext::Space::User,
        at_entry: true,
    };
    measure_snapshot_cost(100_000, 1, Some(stack(false)), &[]).await;
    measure_snapshot_cost(100_000, 1, Some(stack(true)), &[]).await;
}

/// The median over `runs` of each program's run time per hit, and of each part's cost: the
/// difference between a cost program and the one before it (`wp_cost_*` do growing prefixes
/// of the snapshot's work; the first is compared with the empty program, the snapshot
/// program with the last).
fn print_part_costs(threads: usize, runs: &[Vec<(&'static str, f64)>]) {
    /// One run: each program's run time per hit.
    type Run = [(&'static str, f64)];
    let value = |run: &Run, name: &str| run.iter().find(|(n, _)| *n == name).map(|p| p.1);
    // Of the runs that have every name, the median of `f`.
    let median = |f: &dyn Fn(&Run) -> Option<f64>| {
        let mut v: Vec<f64> = runs.iter().filter_map(|r| f(r)).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    if runs.is_empty() {
        return;
    }
    let mut names: Vec<&str> = vec!["wp_empty"];
    names.extend(live::COST_PARTS);
    names.push("wp_uprobe");
    eprintln!("{threads} thread(s), medians of {} run(s), ns per hit (the part's own cost):", runs.len());
    for (i, name) in names.iter().enumerate() {
        let m = median(&|r| value(r, name));
        if i == 0 {
            eprintln!("  {name:<16} {m:7.1}");
            continue;
        }
        // The median of the per-run differences: each run's programs ran on the same hits.
        let own = median(&|r| Some(value(r, name)? - value(r, names[i - 1])?));
        eprintln!("  {name:<16} {m:7.1}  (+{own:.1})");
    }
}

async fn measure_snapshot_cost(
    calls: u64,
    threads: u32,
    capture: Option<CaptureSpec>,
    cost_programs: &'static [&'static str],
) -> Vec<(&'static str, f64)> {
    let hits = calls * threads as u64;
    let t = Target::spawn_threads(calls, threads).await;
    let stats = live::enable_run_time_stats().unwrap();
    let opts = LiveOptions { pid: Some(t.pid), measure_baseline: true, cost_programs, ..LiveOptions::default() };
    let captures: Vec<CaptureSpec> = capture.clone().into_iter().collect();
    let mut source = LiveSource::resolve(&[uprobe(false)], opts).unwrap().attach(&captures).unwrap();
    // The other rings' programs fill them as the session's ring fills: one thread drains them
    // all the same way, as a reader would.
    let stop = Arc::new(AtomicBool::new(false));
    let drainer = (capture.is_none() && cost_programs.iter().any(|p| live::COST_RINGS.contains(p))).then(|| {
        let mut rings = source.take_cost_rings().unwrap();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for r in &mut rings {
                    while r.next().is_some() {}
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    });
    let started = std::time::Instant::now();
    let run = tokio::spawn(t.go_and_wait());
    // Read while the target runs, so that the snapshot program takes its normal path (a
    // full ring would make it take the cheaper "lost" path instead).
    let (records, lost) = collect(&mut source, hits as usize, Duration::from_secs(60)).await;
    let wall = started.elapsed();
    run.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    if let Some(d) = drainer {
        d.join().unwrap();
    }
    let program_stats = source.program_stats().unwrap();
    drop(stats);

    let per_hit = |name: &str| {
        let s = program_stats.iter().find(|s| s.name == name).unwrap();
        (s.run_time_ns as f64 / s.run_count as f64, s.run_count)
    };
    let (snap, snap_n) = per_hit(if capture.is_some() { "wp_uprobe_x" } else { "wp_uprobe" });
    let (empty, empty_n) = per_hit("wp_empty");
    let what = match &capture {
        Some(c) => format!("capture {c}"),
        None => "no capture".to_string(),
    };
    eprintln!(
        "{threads} thread(s), {what}: snapshot program {snap:.1} ns/hit, empty program {empty:.1} ns/hit, \
         snapshot's own cost {:.1} ns/hit ({snap_n} runs; {} delivered, {lost} lost; {:.2} µs per call in the target)",
        snap - empty,
        records.len(),
        wall.as_secs_f64() * 1e6 / calls as f64,
    );
    assert_eq!((snap_n, empty_n), (hits, hits));
    assert_eq!(records.len() as u64 + lost, hits);
    program_stats.iter().map(|s| (s.name, s.run_time_ns as f64 / s.run_count.max(1) as f64)).collect()
}
