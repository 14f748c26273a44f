//! SystemTap scripts through the wprobe binary: `-e`, `.stp` files, replay, errors before
//! anything is attached, run-time errors with the script's position.

use super::*;
use std::process::Output;

/// The seed's three scripts, verbatim.
const SEED_ENTRY: &str = r#"probe kprobe.function("tcp_v4_connect") { asmlinkage(); printf("%s, %d, %d, 0x%x, 0x%x, %d\n", pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3)) }"#;
const SEED_RETURN: &str =
    r#"probe kprobe.function("tcp_v4_connect").return { asmlinkage(); printf("%d\n", returnval()); }"#;
const SEED_REGS: &str =
    r#"probe kprobe.function("tcp_v4_connect") { printf("%d, %d, %x\n", pid(), cpu(), register("rip")); exit() }"#;

fn replay_handler(name: &str, events: &str) -> String {
    let out = wprobe(&["replay", handler(name).to_str().unwrap(), fixture(events).to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

fn replay_script(script: &str, events: &str) -> Output {
    wprobe(&["replay", "-e", script, fixture(events).to_str().unwrap()])
}

#[test]
fn the_seed_scripts_print_what_the_rust_examples_print() {
    for (script, example, events) in
        [(SEED_ENTRY, "tcp_connect", "target_entry.events"), (SEED_RETURN, "tcp_connect_ret", "target_return.events")]
    {
        let out = replay_script(script, events);
        assert!(out.status.success(), "{}", stderr(&out));
        let want = replay_handler(example, events);
        assert!(!want.is_empty());
        assert_eq!(stdout(&out), want, "{script}");
        // The recording's probes are uprobes, not the script's kprobe: said once.
        assert!(stderr(&out).contains("is not one of the script's probe points"), "{}", stderr(&out));
    }
    // exit() ends the session: only the first event's line, the first line of `regs`.
    let out = replay_script(SEED_REGS, "target_entry.events");
    assert!(out.status.success(), "{}", stderr(&out));
    let regs = replay_handler("regs", "target_entry.events");
    assert_eq!(stdout(&out), format!("{}\n", regs.lines().next().unwrap()));
    // The regs example's own script, with print_regs(), gives all of its output.
    let out = replay_script(
        r#"probe kprobe.function("tcp_v4_connect") { printf("%d, %d, %x\n", pid(), cpu(), register("rip")); print_regs() }"#,
        "target_entry.events",
    );
    assert_eq!(stdout(&out), regs);
}

#[test]
fn a_script_file_with_arguments_and_an_end_summary() {
    let dir = scratch_dir("stp");
    let file = dir.join("count.stp");
    std::fs::write(
        &file,
        "global calls, ret\n\
         probe process(\"wprobe_target\").function(\"wprobe_target\") { calls[tid()]++ }\n\
         probe process(\"wprobe_target\").function(\"wprobe_target\").return { ret <<< returnval() }\n\
         probe end { printf(\"%s: %d threads, %d calls, %d returns averaging %d\\n\", @1, $2, @count(ret), @count(ret), @avg(ret))\n\
           foreach (t in calls) n += calls[t]\n\
           printf(\"%d threads made %d calls\\n\", $2, n) }\n",
    )
    .unwrap();
    let out =
        wprobe(&["replay", file.to_str().unwrap(), fixture("target_both.events").to_str().unwrap(), "summary", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "summary: 2 threads, 6 calls, 6 returns averaging 23\n2 threads made 6 calls\n");
}

#[test]
fn begin_only_scripts_run_without_probes() {
    let out =
        wprobe(&["run", "-e", r#"probe begin { printf("%d %s\n", 6 * 7, "hello") } probe end { println("bye") }"#]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "42 hello\nbye\n");
}

#[test]
fn errors_come_before_anything_is_attached() {
    // Not even root is needed to be told: these fail before wprobe looks at the kernel.
    for (script, want) in [
        (r#"probe kprobe.function("x") { prinft("%d", 1) }"#, "semantic error: unresolved function (similar: print"),
        (
            r#"probe kprobe.function("x") { printf("%d\n", execname()) }"#,
            "semantic error: type mismatch (long vs. string)",
        ),
        (r#"probe kprobe.function("x") { printf("%d\n", nope) }"#, "undefined variable 'nope'"),
        (r#"probe kprobe.function("x") { x = 1 + }"#, "parse error: expected an expression"),
        (r#"probe kprobe.function("a b") { }"#, "semantic error: "),
        (r#"probe kernel.function("tcp_v4_connect") { }"#, "debuginfo"),
    ] {
        let out = wprobe(&["run", "-e", script]);
        assert_eq!(out.status.code(), Some(1), "{script}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(want), "{script}: {err}");
        assert!(err.contains("<input>:1:"), "{script}: {err}");
        assert!(err.contains("     source: probe"), "the source line and a caret: {err}");
    }
    let out = wprobe(&["run", "-e", "probe begin { }", "--kprobe", "x"]);
    assert!(stderr(&out).contains("--kprobe with a script"), "{}", stderr(&out));
}

#[test]
fn run_time_errors_end_the_session_with_the_position() {
    let out = replay_script(
        "probe kprobe.function(\"f\") {\n  n = pid() - pid()\n  printf(\"%d\\n\", 1 / n)\n}",
        "target_entry.events",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("division by zero near operator '/' at <input>:3:20"), "{err}");
    assert!(err.contains("process("), "the probe: {err}");
}

#[test]
fn memory_reads_without_a_capture_say_so() {
    // The recording has no captures: the script's user_string() cannot be answered.
    let out =
        replay_script(r#"probe kprobe.function("f") { println(user_string(pointer_arg(2))) }"#, "target_entry.events");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("was not captured at probe time"), "{}", stderr(&out));
}

#[test]
fn timer_probes_tick_on_their_own() {
    // No event probe at all: the session runs on the timer, and exit() ends it.
    let out = wprobe(&[
        "run",
        "-e",
        r#"global n; probe timer.ms(20) { n++; if (n == 3) { printf("tick %d\n", n); exit() } } probe end { println("end") }"#,
        "--duration",
        "10s",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "tick 3\nend\n");
}

/// Replay throughput of the seed's script and of a counting script against the Rust
/// handlers doing the same, in one run (a measurement, not a test: ratios, no assertions
/// on time). Run it alone: it reads the CPU time of all the test process's children.
#[test]
#[ignore = "a measurement: cargo test --release -p wprobe-tests --test all -- --ignored --nocapture script_speed"]
fn script_speed() {
    use std::time::Instant;
    use wprobe::events_file::EventsWriter;
    let n: u32 = 1_000_000;
    let path = scratch_dir("speed").join("speed.events");
    let mut w = EventsWriter::create(&path, wprobe_common::Arch::X86_64, &seed_probes()).unwrap();
    for i in 0..n {
        w.write_record(&seed_entry(30_000 + i % 17, i % 2)).unwrap();
    }
    w.finish().unwrap();
    let events = path.to_str().unwrap();
    let count = r#"global a; probe kprobe.function("tcp_v4_connect") { a[pid()] <<< 1 }"#;
    let (tcp, cnt) = (handler("tcp_connect"), handler("count"));
    let runs: [(&str, Vec<&str>); 5] = [
        (
            "empty script (fixed costs: file, batches, calls)",
            vec!["replay", "-e", r#"probe kprobe.function("f") { }"#, events],
        ),
        ("tcp_connect.wasm (Rust)", vec!["replay", tcp.to_str().unwrap(), events]),
        ("the seed's script", vec!["replay", "-e", SEED_ENTRY, events]),
        ("count.wasm (Rust, per-pid counts)", vec!["replay", cnt.to_str().unwrap(), events]),
        ("a[pid()] <<< 1", vec!["replay", "-e", count, events]),
    ];
    // CPU seconds (user + system, every thread) of the children waited for so far: on a
    // shared machine the wall time says how busy the others were, the CPU time what one run
    // cost, which is the "per core" figure.
    fn children_cpu() -> f64 {
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) }, 0);
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        secs(u.ru_utime) + secs(u.ru_stime)
    }
    for (label, args) in &runs {
        // Once to fill the compile cache, then timed.
        let _ = wprobe(args);
        let (t, cpu) = (Instant::now(), children_cpu());
        let out = wprobe(args);
        let (secs, cpu) = (t.elapsed().as_secs_f64(), children_cpu() - cpu);
        assert!(out.status.success(), "{label}: {}", stderr(&out));
        println!(
            "{label}: {:.2} M events/s per CPU second ({cpu:.2} s of CPU), {:.2} M/s of wall time ({secs:.2} s) for {n}",
            f64::from(n) / cpu / 1e6,
            f64::from(n) / secs / 1e6
        );
    }
}
