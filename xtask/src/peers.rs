//! `cargo xtask bench-peers` (root): wprobe against Debian's bpftrace on one uprobe.
//!
//! Both tracers print one line per call of `wprobe_target` (the seed's `tcp_connect` line:
//! probe, pid, cpu, the first three arguments) to a pipe this task reads. They run one after
//! the other, alternating for `--rounds` (each round starting with the next tracer), each
//! through the same sequence:
//!
//! 1. launch → first event: a pinger already calls the function every millisecond when the
//!    tracer starts; the time from the spawn to the first line read;
//! 2. idle CPU: the tracer's CPU time (every thread, from `/proc/PID/stat`) over
//!    `--idle-secs` with the probe attached and nothing calling it;
//! 3. lone events: `--lone` calls 50 ms apart, each passing its CLOCK_MONOTONIC time as an
//!    argument, which the line prints; latency = when the line is read − that time;
//! 4. as fast as one, then two, threads can call (`--calls` each): lines missing at the end
//!    are lost events; the tracer's CPU time per printed line; and the BPF programs' run time
//!    per hit, from the tracer's program fds (`/proc/PID/fdinfo`, `run_time_ns`/`run_cnt`,
//!    counted while `kernel.bpf_stats_enabled` is on — this task turns it on and back off);
//! 5. peak RSS (`VmHWM`).
//!
//! The BPF figure is each tracer's whole program run time, including the fixed cost of
//! entering any program on a uprobe (about 60–70 ns here; `snapshot_cost` in
//! host/tests/live.rs subtracts it for wprobe alone).

use crate::{run, target_dir, workspace_root};
use anyhow::{bail, ensure, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Rounds; each runs wprobe, then bpftrace.
    #[arg(long, default_value_t = 2)]
    rounds: u32,
    /// Seconds over which idle CPU is measured, per tracer and round.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// Calls per thread in the maximum-rate runs.
    #[arg(long, default_value_t = 200_000)]
    calls: u64,
    /// Lone calls, 50 ms apart, for the latency figures.
    #[arg(long, default_value_t = 100)]
    lone: u64,
    /// Another wprobe binary (say, a build of the previous release) measured in the same
    /// rounds, as a third column.
    #[arg(long, value_name = "WPROBE")]
    baseline: Option<PathBuf>,
}

#[derive(Clone, PartialEq, Eq)]
enum Tracer {
    /// This checkout's build, or the `--baseline` binary.
    Wprobe(PathBuf),
    Bpftrace,
}

impl Tracer {
    fn name(&self) -> String {
        match self {
            Tracer::Wprobe(bin) if *bin == this_wprobe() => "wprobe".into(),
            Tracer::Wprobe(bin) => format!("wprobe ({})", bin.display()),
            Tracer::Bpftrace => "bpftrace 0.17".into(),
        }
    }

    fn command(&self, target: &Path) -> Command {
        let t = target.display();
        match self {
            Tracer::Wprobe(bin) => {
                let mut c = Command::new(bin);
                c.arg("run").arg(target_dir().join("handlers/tcp_connect.wasm"));
                c.args(["--uprobe", &format!("{t}:wprobe_target")]);
                c
            }
            Tracer::Bpftrace => {
                let mut c = Command::new("bpftrace");
                // Its default when stdout is not a terminal is full buffering, which would
                // hold a lone event back until exit.
                c.args(["-B", "none", "-e"]);
                c.arg(format!(
                    "uprobe:{t}:wprobe_target {{ printf(\"%s, %d, %d, 0x%lx, 0x%lx, %d\\n\", probe, pid, cpu, arg0, arg1, arg2); }}"
                ));
                c
            }
        }
    }
}

/// One round's figures for one tracer.
#[derive(Default)]
struct Figures {
    launch_ms: f64,
    idle_pct: f64,
    lone_p50_ms: f64,
    lone_p99_ms: f64,
    /// Per thread count (1, 2): lost, CPU µs per event, BPF ns per hit.
    max_rate: Vec<(u64, f64, f64)>,
    rss_mib: f64,
}

/// Lines read from a tracer: when each was read, and its fifth field (the second argument).
#[derive(Default)]
struct Lines {
    count: u64,
    /// (read at, stamp) for lines whose argument looked like a stamp.
    stamps: Vec<(u64, u64)>,
}

pub fn main(args: &Args) -> Result<()> {
    // SAFETY: no arguments.
    ensure!(unsafe { libc::geteuid() } == 0, "bench-peers attaches probes: run it as root");
    ensure!(
        Command::new("bpftrace").arg("--version").output().is_ok_and(|o| o.status.success()),
        "bpftrace is not installed: `apt-get install bpftrace` (.ci/setup does)"
    );
    run(crate::cargo().args(["build", "--release", "-p", "wprobe"]))?;
    crate::handlers::build(&crate::handlers::Args { only: vec!["tcp_connect".into()], skip_languages: true })?;
    let target = target_dir().join("tmp/wprobe_target_peers");
    std::fs::create_dir_all(target.parent().unwrap())?;
    run(Command::new(std::env::var_os("CC").unwrap_or("cc".into()))
        .args(["-O2", "-pthread", "-o"])
        .arg(&target)
        .arg(workspace_root().join("tests/targets/wprobe_target.c")))?;

    let mut tracers = vec![Tracer::Wprobe(this_wprobe())];
    if let Some(bin) = &args.baseline {
        ensure!(bin.exists(), "--baseline {}: no such file", bin.display());
        tracers.push(Tracer::Wprobe(bin.clone()));
    }
    tracers.push(Tracer::Bpftrace);
    let _stats = BpfStats::enable()?;
    let mut results: Vec<(Tracer, Figures)> = Vec::new();
    for round in 1..=args.rounds {
        // Each round starts with the next tracer, so that none always follows the same one.
        let n = tracers.len();
        for tracer in tracers.iter().cycle().skip(round as usize - 1).take(n) {
            eprintln!("round {round}: {}", tracer.name());
            let f = session(tracer, &target, args).with_context(|| format!("measuring {}", tracer.name()))?;
            results.push((tracer.clone(), f));
        }
    }
    print_table(&tracers, &results);
    Ok(())
}

fn this_wprobe() -> PathBuf {
    target_dir().join("release/wprobe")
}

fn session(tracer: &Tracer, target: &Path, args: &Args) -> Result<Figures> {
    let mut f = Figures::default();
    // 1. Launch → first event, with a pinger already calling every millisecond.
    let mut pinger = spawn_target(target, 100_000, 1, 1000, true)?;
    let launched = Instant::now();
    let mut child = tracer.command(target).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let pid = child.id();
    let lines = read_lines(&mut child);
    let first = wait_for(&lines, Duration::from_secs(30), |l| l.count > 0);
    f.launch_ms = launched.elapsed().as_secs_f64() * 1e3;
    let _ = pinger.kill();
    let _ = pinger.wait();
    if !first {
        stop(&mut child)?;
        bail!("no event within 30 s of launch");
    }
    settle(&lines);

    // 2. Idle.
    let cpu0 = cpu_ticks(pid)?;
    std::thread::sleep(Duration::from_secs(args.idle_secs));
    let ticks = cpu_ticks(pid)? - cpu0;
    f.idle_pct = 100.0 * ticks as f64 / clock_ticks() as f64 / args.idle_secs as f64;

    // 3. Lone events.
    lines.lock().unwrap().stamps.clear();
    run_target(target, args.lone, 1, 20, true)?;
    settle(&lines);
    let mut lat: Vec<f64> =
        lines.lock().unwrap().stamps.iter().map(|&(at, stamp)| at.saturating_sub(stamp) as f64 / 1e6).collect();
    lat.sort_by(f64::total_cmp);
    ensure!(!lat.is_empty(), "no lone event was printed");
    f.lone_p50_ms = percentile(&lat, 0.50);
    f.lone_p99_ms = percentile(&lat, 0.99);

    // 4. Maximum rate with one and two threads.
    for threads in [1u32, 2] {
        let before_lines = lines.lock().unwrap().count;
        let cpu0 = cpu_ticks(pid)?;
        let bpf0 = bpf_run_time(pid)?;
        run_target(target, args.calls, threads, 0, false)?;
        settle(&lines);
        let printed = lines.lock().unwrap().count - before_lines;
        let expected = args.calls * threads as u64;
        let cpu_us = (cpu_ticks(pid)? - cpu0) as f64 / clock_ticks() as f64 * 1e6;
        let bpf = bpf_run_time(pid)?;
        let (ns, runs) = (bpf.0 - bpf0.0, bpf.1 - bpf0.1);
        f.max_rate.push((
            expected.saturating_sub(printed),
            cpu_us / printed.max(1) as f64,
            ns as f64 / runs.max(1) as f64,
        ));
    }
    f.rss_mib = peak_rss_kib(pid)? as f64 / 1024.0;
    stop(&mut child)?;
    Ok(f)
}

/// A reader thread that counts the tracer's lines and keeps the stamps.
fn read_lines(child: &mut Child) -> Arc<Mutex<Lines>> {
    let out = child.stdout.take().expect("piped stdout");
    let lines = Arc::new(Mutex::new(Lines::default()));
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let at = monotonic_ns();
            let stamp = line
                .split(", ")
                .nth(4)
                .and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
                .filter(|&v| v != 0xdeadbeef);
            let mut l = l.lock().unwrap();
            l.count += 1;
            if let Some(s) = stamp {
                l.stamps.push((at, s));
            }
        }
    });
    lines
}

fn wait_for(lines: &Mutex<Lines>, limit: Duration, done: impl Fn(&Lines) -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if done(&lines.lock().unwrap()) {
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    false
}

/// Waits until no line has come for half a second.
fn settle(lines: &Mutex<Lines>) {
    let mut last = u64::MAX;
    loop {
        let n = lines.lock().unwrap().count;
        if n == last {
            return;
        }
        last = n;
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn spawn_target(target: &Path, calls: u64, threads: u32, rate: u64, stamp: bool) -> Result<Child> {
    let mut c = Command::new(target);
    c.args([calls.to_string(), threads.to_string(), rate.to_string()]);
    if stamp {
        c.arg("stamp");
    }
    let mut child = c.stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
    child.stdin.take().unwrap().write_all(b"\n")?;
    Ok(child)
}

fn run_target(target: &Path, calls: u64, threads: u32, rate: u64, stamp: bool) -> Result<()> {
    let status = spawn_target(target, calls, threads, rate, stamp)?.wait()?;
    ensure!(status.success(), "the target failed: {status}");
    Ok(())
}

/// SIGINT, as Ctrl-C, then wait.
fn stop(child: &mut Child) -> Result<()> {
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    child.wait()?;
    bail!("the tracer did not stop within 20 s of SIGINT")
}

/// utime + stime of every thread of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = &stat[stat.rfind(')').context("malformed stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Ok(f[11].parse::<u64>()? + f[12].parse::<u64>()?)
}

fn clock_ticks() -> u64 {
    // SAFETY: no arguments.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as u64 }
}

fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM")?;
    Ok(line.split_whitespace().nth(1).context("malformed VmHWM")?.parse()?)
}

/// Total run time (ns) and run count of the BPF programs `pid` holds open.
fn bpf_run_time(pid: u32) -> Result<(u64, u64)> {
    let mut total = (0, 0);
    for entry in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))? {
        let Ok(info) = std::fs::read_to_string(entry?.path()) else { continue };
        if !info.contains("prog_id:") {
            continue;
        }
        let field = |name: &str| -> u64 {
            info.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
        };
        total.0 += field("run_time_ns:");
        total.1 += field("run_cnt:");
    }
    Ok(total)
}

/// `kernel.bpf_stats_enabled` on for as long as this lives, then as it was.
struct BpfStats(String);

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    fn enable() -> Result<BpfStats> {
        let was = std::fs::read_to_string(BPF_STATS).with_context(|| format!("reading {BPF_STATS}"))?;
        std::fs::write(BPF_STATS, "1").with_context(|| format!("writing {BPF_STATS}"))?;
        Ok(BpfStats(was))
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, self.0.trim());
    }
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// One row per figure, one column per tracer, the rounds' values side by side.
fn print_table(tracers: &[Tracer], results: &[(Tracer, Figures)]) {
    type Get = fn(&Figures) -> String;
    let rows: [(&str, Get); 11] = [
        ("lost at max rate, 1 thread", |f| f.max_rate[0].0.to_string()),
        ("lost at max rate, 2 threads", |f| f.max_rate[1].0.to_string()),
        ("tracer CPU per event, 1 thread (µs)", |f| format!("{:.2}", f.max_rate[0].1)),
        ("tracer CPU per event, 2 threads (µs)", |f| format!("{:.2}", f.max_rate[1].1)),
        ("BPF run time per hit, 1 thread (ns)", |f| format!("{:.0}", f.max_rate[0].2)),
        ("BPF run time per hit, 2 threads (ns)", |f| format!("{:.0}", f.max_rate[1].2)),
        ("launch → first event (ms)", |f| format!("{:.0}", f.launch_ms)),
        ("lone event → printed, p50 (ms)", |f| format!("{:.2}", f.lone_p50_ms)),
        ("lone event → printed, p99 (ms)", |f| format!("{:.2}", f.lone_p99_ms)),
        ("idle CPU (%)", |f| format!("{:.3}", f.idle_pct)),
        ("peak RSS (MiB)", |f| format!("{:.1}", f.rss_mib)),
    ];
    let column = |t: &Tracer, get: Get| -> String {
        results.iter().filter(|(r, _)| r == t).map(|(_, f)| get(f)).collect::<Vec<_>>().join(" / ")
    };
    let names: Vec<String> = tracers.iter().map(Tracer::name).collect();
    println!("\n| figure (rounds: a / b / …) | {} |", names.join(" | "));
    println!("|---|{}", "---:|".repeat(tracers.len()));
    for (name, get) in rows {
        let cells: Vec<String> = tracers.iter().map(|t| column(t, get)).collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
