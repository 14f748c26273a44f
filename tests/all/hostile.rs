//! Every kind of bad input ends in a clear error, and the host stays intact.

use super::*;
use std::time::Duration;
use wprobe::sandbox::{FaultCause, LoadError, Phase};
use wprobe::session::SessionError;

fn load_err(name: &str, bytes: &[u8]) -> LoadError {
    match runtime().load_bytes(name, bytes) {
        Err(e) => e,
        Ok(_) => panic!("{name} loaded"),
    }
}

#[test]
fn not_wasm_core_module_and_garbage_component() {
    let e = load_err("notes.txt", b"hello, this is text");
    assert!(matches!(e, LoadError::NotWasm { .. }), "{e}");
    assert!(e.to_string().contains("not a WebAssembly file"), "{e}");

    // A core module is componentized by wprobe, if it says which world it implements.
    let e = load_err("core.wasm", b"\0asm\x01\0\0\0");
    assert!(matches!(e, LoadError::NoComponentType { .. }), "{e}");
    assert!(e.to_string().contains("component-type"), "{e}");

    let real = std::fs::read(handler("tcp_connect")).unwrap();
    let e = load_err("cut.wasm", &real[..real.len() / 2]);
    assert!(matches!(e, LoadError::Invalid { .. }), "{e}");
}

#[test]
fn component_of_another_world() {
    let e = runtime().load(&handler("wrong_world")).err().unwrap();
    assert!(matches!(e, LoadError::WrongWorld { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("`greet`") && msg.contains(&format!("wprobe:probe/handler@{}", wprobe::sandbox::WIT_VERSION)),
        "{msg}"
    );
}

#[test]
fn component_missing_an_export() {
    let e = runtime().load(&handler("missing_end")).err().unwrap();
    assert!(matches!(e, LoadError::MissingExport { missing: "end", .. }), "{e}");
}

#[test]
fn trap_reports_probe_event_and_panic_and_keeps_earlier_output() {
    let rt = runtime();
    let mut h = start(&rt, "trap", &[("n", "3")], Limits::default()).unwrap();
    let records: Vec<_> = (0..5).map(|i| seed_entry(500 + i, 0)).collect();
    let run = run_records(&mut h, Arch::X86_64, &records, 2);
    // Events 1 and 2 were handled in batch 1; the panic is on event 3, batch 2, index 0.
    assert_eq!(run.stdout, "event 1 pid 500\nevent 2 pid 501\nevent 3 pid 502\n");
    assert!(run.stderr.contains("trap test handler: reached event 3"), "{}", run.stderr);
    let Err(SessionError::Handler(fault)) = run.result else { panic!("{:?}", run.result.err()) };
    assert_eq!(fault.phase, Phase::Batch);
    assert_eq!(fault.batch, 2);
    assert!(
        matches!(&fault.cause, FaultCause::Trap { what, backtrace: Some(_) } if what == "unreachable (panic)"),
        "{fault}"
    );
    // The first line: the cause in words, then the probe and the event; the backtrace after.
    let msg = fault.to_string();
    let mut lines = msg.lines();
    // (A flat-delivery handler steps through a batch without telling the host; on a panic
    // the SDK moves the host's cursor onto the event, so the host names it.)
    assert_eq!(
        lines.next().unwrap(),
        "handler trap.wasm: unreachable (panic) in handle-batch (batch 2, event 1 of the batch: \
         kprobe.function(\"tcp_v4_connect\"), pid 502, tid 502)"
    );
    assert!(lines.next().unwrap().trim_start().starts_with("wasm backtrace:"), "{msg}");
    assert!(msg.lines().skip(1).all(|l| l.starts_with("    ")), "backtrace lines are indented:\n{msg}");
}

#[test]
fn endless_loop_is_stopped_by_the_cpu_bound() {
    let rt = runtime();
    let limits = Limits { cpu_per_call: Duration::from_millis(50), ..Limits::default() };
    let mut h = start(&rt, "spin", &[], limits).unwrap();
    let run = run_records(&mut h, Arch::X86_64, &[seed_entry(1, 0)], 1);
    let Err(SessionError::Handler(fault)) = run.result else { panic!("spin was not stopped") };
    assert_eq!(fault.cause, FaultCause::CpuLimit(Duration::from_millis(50)), "{fault}");
    let msg = fault.to_string();
    assert!(
        msg.starts_with("handler spin.wasm: CPU limit of 50 ms per call exceeded in handle-batch (batch 1, event 1"),
        "{msg}"
    );
    assert!(msg.contains("--cpu-limit-ms"), "{msg}");
}

/// The CPU bound counts the CPU time a call uses, not the wall time it takes: a replay whose
/// handler thread gets a sliver of a CPU (pinned to CPU 0 at nice 19 beside a spinning thread
/// at nice 0) takes ten times longer than its bound per batch and still completes. With a
/// wall-clock bound its first such batch would be cut.
#[test]
fn time_a_handler_waits_for_a_cpu_does_not_count_against_its_cpu_bound() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicBool, Ordering};
    const EVENTS: u32 = 160;
    let events = synthetic_events("cpu-bound", EVENTS);
    // `slow` spins about a millisecond per event: a batch of 16 uses ~16 ms of the 100 ms bound.
    let mut child = Command::new(wprobe_bin())
        .args(["replay", "--cpu-limit-ms", "100", "--batch-size", "16", "--stats-every", "100"])
        .arg(handler("slow"))
        .arg(&events)
        .env("WPROBE_CACHE_DIR", scratch_dir("cpu-bound-cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.starts_with("wprobe: stats: "), "{first}");

    // Handling batches now. Its main thread (the one calling the handler; the epoch clock's
    // thread keeps its CPUs) shares CPU 0 with a spinner, at the lowest priority.
    let cpu0 = || {
        // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        unsafe { libc::CPU_SET(0, &mut set) };
        set
    };
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let spinner = {
        let done = done.clone();
        std::thread::spawn(move || {
            let set = cpu0();
            // SAFETY: sets this thread's own affinity from a valid set.
            unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
            while !done.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })
    };
    let tid = child.id() as libc::pid_t;
    let set = cpu0();
    // SAFETY: both act on our child's main thread (its tid is its pid) with valid arguments.
    assert_eq!(unsafe { libc::sched_setaffinity(tid, std::mem::size_of_val(&set), &set) }, 0);
    assert_eq!(unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19) }, 0);

    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    done.store(true, Ordering::Relaxed);
    spinner.join().unwrap();
    assert!(out.status.success(), "{first}{rest}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("slow: {EVENTS} events")), "{first}{rest}");
}

#[test]
fn memory_bomb_is_stopped_by_the_memory_cap() {
    let rt = runtime();
    let limits = Limits { memory: 16 << 20, ..Limits::default() };
    let mut h = start(&rt, "membomb", &[], limits).unwrap();
    let run = run_records(&mut h, Arch::X86_64, &[seed_entry(1, 0)], 1);
    let Err(SessionError::Handler(fault)) = run.result else { panic!("membomb was not stopped") };
    assert_eq!(fault.cause, FaultCause::MemoryLimit { limit: 16 << 20 }, "{fault}");
    let msg = fault.to_string();
    assert!(msg.starts_with("handler membomb.wasm: memory limit of 16 MiB exceeded in handle-batch (batch 1"), "{msg}");
    assert!(msg.contains("--memory-limit"), "{msg}");
}

#[test]
fn output_flood_is_capped() {
    let rt = runtime();
    let limits = Limits { output_per_call: 100_000, ..Limits::default() };
    let mut h = start(&rt, "flood", &[], limits).unwrap();
    let run = run_records(&mut h, Arch::X86_64, &[seed_entry(1, 0)], 1);
    let Err(SessionError::Handler(fault)) = run.result else { panic!("flood was not stopped") };
    assert_eq!(fault.cause, FaultCause::OutputLimit { limit: 100_000 }, "{fault}");
    assert!(
        fault
            .to_string()
            .starts_with("handler flood.wasm: output limit of 100000 bytes per call exceeded in handle-batch"),
        "{fault}"
    );
    assert!(run.stdout.len() <= 100_000, "{} bytes got through", run.stdout.len());
    assert!(run.stdout.starts_with("1 flood flood"), "{}", &run.stdout[..40]);
}

#[test]
fn access_errors_reach_the_handler_not_the_host() {
    for (what, expected) in [("argument", "argument 9"), ("register", "nope"), ("returnval", "return probe")] {
        let rt = runtime();
        let mut h = start(&rt, "access_error", &[("what", what)], Limits::default()).unwrap();
        let run = run_records(&mut h, Arch::X86_64, &[seed_entry(7, 0)], 1);
        let Err(SessionError::Handler(fault)) = run.result else { panic!("{what}: no error") };
        let FaultCause::HandlerError(msg) = &fault.cause else { panic!("{what}: {fault}") };
        assert!(msg.contains(expected), "{what}: {msg}");
    }
}

#[test]
fn init_refusal_is_reported() {
    let rt = runtime();
    let err = start(&rt, "access_error", &[("what", "bogus")], Limits::default()).err().unwrap();
    assert_eq!(err.phase, Phase::Init);
    assert!(err.to_string().contains("what=bogus"), "{err}");
}

#[test]
fn a_fault_leaves_the_host_and_other_handlers_running() {
    let rt = runtime();
    let mut victim = start(&rt, "tcp_connect", &[], Limits::default()).unwrap();
    let mut bomb = start(&rt, "membomb", &[], Limits { memory: 8 << 20, ..Limits::default() }).unwrap();
    let mut trap = start(&rt, "trap", &[], Limits::default()).unwrap();
    let records = [seed_entry(1, 2)];
    assert!(run_records(&mut bomb, Arch::X86_64, &records, 1).result.is_err());
    assert!(run_records(&mut trap, Arch::X86_64, &records, 1).result.is_err());
    let run = run_records(&mut victim, Arch::X86_64, &records, 1);
    run.result.unwrap();
    assert_eq!(run.stdout, "kprobe.function(\"tcp_v4_connect\"), 1, 2, 0xffff81024ce51380, 0xffff81038aa2fec8, 16\n");
    // And the runtime still starts new handlers.
    start(&rt, "count", &[], Limits::default()).unwrap();
}

#[test]
fn cli_reports_each_hostile_input_and_exits_nonzero() {
    let events = synthetic_events("cli-hostile", 3);
    let events = events.to_str().unwrap();
    let dir = scratch_dir("cli-hostile");
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not wasm").unwrap();
    // Compiled in wprobe's compiler process: its error comes back as the same message.
    let cut = dir.join("cut.wasm");
    let real = std::fs::read(handler("tcp_connect")).unwrap();
    std::fs::write(&cut, &real[..real.len() / 2]).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![text.display().to_string(), events.into()], "not a WebAssembly file"),
        (vec![cut.display().to_string(), events.into()], "cut.wasm is not a valid WebAssembly component: "),
        (vec![handler("wrong_world").display().to_string(), events.into()], "component of another world"),
        (vec![handler("missing_end").display().to_string(), events.into()], "does not export `end`"),
        (
            vec![handler("trap").display().to_string(), events.into()],
            "handler trap.wasm: unreachable (panic) in handle-batch",
        ),
        (
            vec![handler("spin").display().to_string(), events.into(), "--cpu-limit-ms".into(), "20".into()],
            "CPU limit of 20 ms",
        ),
        (
            vec![handler("membomb").display().to_string(), events.into(), "--memory-limit".into(), "8M".into()],
            "memory limit of 8 MiB",
        ),
        (
            vec![handler("flood").display().to_string(), events.into(), "--output-limit".into(), "64K".into()],
            "output limit of 65536 bytes",
        ),
        (vec![handler("tcp_connect").display().to_string(), text.display().to_string()], "not a wprobe events file"),
        (vec![handler("tcp_connect").display().to_string(), "/nonexistent.events".into()], "cannot open events file"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["replay"];
        full.extend(args.iter().map(String::as_str));
        let out = wprobe(&full);
        assert_eq!(out.status.code(), Some(1), "{full:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{full:?}: expected {expected:?} in:\n{}", stderr(&out));
        // The host's own panic message; a handler's panic is reported as `handler panicked at`.
        let host_panic = stderr(&out).lines().any(|l| l.contains("panicked at") && !l.contains("handler panicked at"));
        assert!(!host_panic, "{full:?}: the host panicked:\n{}", stderr(&out));
    }
}

#[test]
fn corrupt_events_file_still_handles_what_precedes_and_runs_end() {
    let good = std::fs::read(synthetic_events("cut", 4)).unwrap();
    let cut = scratch_dir("cut").join("cut.events");
    // Cut inside the third record.
    let header_len = good.len() - 4 * (1 + 216) - 9;
    std::fs::write(&cut, &good[..header_len + 2 * 217 + 100]).unwrap();
    let out = wprobe(&["replay", handler("count").to_str().unwrap(), cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("truncated at byte"), "{}", stderr(&out));
    assert!(stdout(&out).contains("total: 2"), "end hook output missing:\n{}", stdout(&out));
}

/// Runs the `hostile` test handler in `mode` over `n` events, one per batch.
fn hostile(mode: &str, args: &[(&str, &str)], limits: Limits, n: u32) -> Run {
    let mut all = vec![("mode", mode)];
    all.extend_from_slice(args);
    let rt = runtime();
    let mut h = start(&rt, "hostile", &all, limits).unwrap();
    let records: Vec<_> = (0..n).map(|i| seed_entry(100 + i, 0)).collect();
    run_records(&mut h, Arch::X86_64, &records, 1)
}

fn fault_of(run: &Run) -> &wprobe::sandbox::HandlerFault {
    match &run.result {
        Err(SessionError::Handler(fault)) => fault,
        other => panic!("the handler was not stopped: {other:?}\nstdout: {}\nstderr: {}", run.stdout, run.stderr),
    }
}

const ESC: char = '\x1b';

#[test]
fn escape_sequences_are_shown_visibly_when_asked_and_always_in_diagnostics() {
    let run = hostile("escape", &[], Limits { escape_output: true, ..Limits::default() }, 1);
    run.result.unwrap();
    assert_eq!(
        run.stdout,
        "title\\x1b]0;pwned\\x07 clear\\x1b[2J\\x1b[31mred\\x1b[0m cr\\x0d bell\\x07 csi\\u{9b}1m\n\
         [handler] wprobe: error: forged by the handler\n"
    );
    assert_eq!(run.stderr, "WARNING: warn\\x1b[2J\n[handler] wprobe: error: forged warning\n");

    // Into a pipe or file printf stays byte-exact; diagnostics are escaped all the same.
    let run = hostile("escape", &[], Limits::default(), 1);
    assert!(run.stdout.starts_with("title\x1b]0;pwned\x07 clear\x1b[2J"), "{:?}", run.stdout);
    assert!(run.stdout.contains("\nwprobe: error: forged by the handler\n"), "{:?}", run.stdout);
    assert!(!run.stderr.contains(ESC), "{:?}", run.stderr);
}

#[test]
fn a_handlers_error_is_quoted_on_wprobes_line() {
    let run = hostile("forge", &[], Limits::default(), 1);
    let msg = fault_of(&run).to_string();
    assert!(!msg.contains('\n') && !msg.contains(ESC), "{msg:?}");
    assert!(
        msg.ends_with(r#"(batch 1, event 1 of the batch: kprobe.function("tcp_v4_connect"), pid 100, tid 100): "all good\nwprobe: error: forged\x1b[2J""#),
        "{msg}"
    );

    // Through the CLI: the only `wprobe:` lines are wprobe's own.
    let events = synthetic_events("forge", 2);
    let out =
        wprobe(&["replay", handler("hostile").to_str().unwrap(), events.to_str().unwrap(), "--arg", "mode=forge"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let own: Vec<&str> = err.lines().filter(|l| l.starts_with("wprobe:")).collect();
    assert_eq!(own.len(), 2, "{err}");
    assert!(own[0].starts_with("wprobe: replayed"), "{err}");
    assert!(
        own[1].starts_with("wprobe: error: replay of")
            && own[1].contains("handler hostile.wasm: error returned in handle-batch"),
        "{err}"
    );
}

#[test]
fn huge_error_and_panic_messages_are_capped() {
    let cap = wprobe::sandbox::MESSAGE_CAP;
    for (mode, phase) in [("huge_error", Phase::Batch), ("huge_end_error", Phase::End)] {
        let run = hostile(mode, &[], Limits::default(), 1);
        let fault = fault_of(&run);
        assert_eq!(fault.phase, phase, "{mode}");
        let FaultCause::HandlerError(m) = &fault.cause else { panic!("{mode}: {fault}") };
        assert!(m.len() < cap + 32 && m.ends_with(" bytes cut)"), "{mode}: {} bytes: …{}", m.len(), &m[m.len() - 40..]);
    }
    let rt = runtime();
    let fault = start(&rt, "hostile", &[("mode", "huge_init_error")], Limits::default()).err().unwrap();
    let FaultCause::HandlerError(m) = &fault.cause else { panic!("{fault}") };
    assert!(m.len() < cap + 32 && m.ends_with(&format!("({} bytes cut)", (1 << 20) - cap)), "{}", m.len());

    // The message counts against the output bound: with 100 bytes per call, 100 at most.
    let run = hostile("huge_error", &[], Limits { output_per_call: 100, ..Limits::default() }, 1);
    let FaultCause::HandlerError(m) = &fault_of(&run).cause else { panic!() };
    assert!(m.len() < 100 + 32 && m.ends_with(" bytes cut)"), "{m}");

    // A panic message goes through the SDK's warning: capped the same way.
    let run = hostile("huge_panic", &[], Limits::default(), 1);
    assert!(matches!(&fault_of(&run).cause, FaultCause::Trap { what, .. } if what == "unreachable (panic)"));
    assert!(run.stderr.starts_with("WARNING: handler panicked at "), "{}", &run.stderr[..80]);
    // The host names the event (the SDK put its cursor there before the trap).
    assert!(fault_of(&run).to_string().contains("(batch 1, event 1 of the batch: "), "{}", fault_of(&run));
    assert!(run.stderr.len() < cap + 64 && run.stderr.ends_with(" bytes cut)\n"), "{} bytes", run.stderr.len());
}

#[test]
fn a_huge_register_name_is_not_handed_back_whole() {
    let run = hostile("register", &[], Limits::default(), 1);
    run.result.unwrap();
    let len: usize = run.stdout.strip_prefix("error of ").unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(len < 200, "the access error the handler got back is {len} bytes");
}

#[test]
fn output_total_and_rate_end_the_handler() {
    // 1000 bytes per event, 5000 per run: the sixth event is cut and ends the handler.
    let limits = Limits { output_total: 5000, ..Limits::default() };
    let run = hostile("chatty", &[], limits, 10);
    let fault = fault_of(&run);
    assert_eq!(fault.cause, FaultCause::OutputTotal { limit: 5000 }, "{fault}");
    assert_eq!(fault.batch, 6);
    assert_eq!(run.stdout.len(), 5000);
    assert!(
        fault.to_string().contains("output total of 5000 bytes per run exceeded")
            && fault.to_string().contains("--output-total")
    );

    // 100 000 bytes at once against 10 000 bytes per second: refused at the first event.
    let limits = Limits { output_rate: Some(10_000), ..Limits::default() };
    let run = hostile("chatty", &[("bytes", "100000")], limits, 3);
    let fault = fault_of(&run);
    assert_eq!(fault.cause, FaultCause::OutputRate { rate: 10_000 }, "{fault}");
    assert_eq!(fault.batch, 1);
    assert!(run.stdout.len() <= 11_000, "{} bytes got through", run.stdout.len());
    assert!(fault.to_string().contains("--output-rate"), "{fault}");
}

#[test]
fn each_trap_is_named_in_words_on_the_first_line() {
    for (mode, words) in [("stack", "stack overflow"), ("oob", "out-of-bounds memory access")] {
        let run = hostile(mode, &[], Limits::default(), 1);
        let msg = fault_of(&run).to_string();
        let first = msg.lines().next().unwrap();
        assert!(
            first.starts_with(&format!("handler hostile.wasm: {words}"))
                && first.ends_with("in handle-batch (batch 1, event 1 of the batch: kprobe.function(\"tcp_v4_connect\"), pid 100, tid 100)"),
            "{mode}: {msg}"
        );
        assert!(msg.contains("wasm backtrace:"), "{mode}: {msg}");
        assert!(msg.len() < 2 * wprobe::sandbox::MESSAGE_CAP, "{mode}: a {}-byte report", msg.len());
    }
}

#[test]
fn cli_output_bounds_and_escape_flag() {
    let events = synthetic_events("cli-output", 10);
    let events = events.to_str().unwrap();
    let h = handler("hostile");
    let h = h.to_str().unwrap();
    let out = wprobe(&["replay", h, events, "--arg", "mode=chatty", "--output-total", "5K"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("output total of 5120 bytes per run exceeded"), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), 5120);

    let out = wprobe(&["replay", h, events, "--arg", "mode=chatty", "--arg", "bytes=100000", "--output-rate", "10K"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("output rate limit of 10240 bytes per second exceeded"), "{}", stderr(&out));

    // Into a pipe: byte-exact, unless --escape.
    let out = wprobe(&["replay", h, events, "--arg", "mode=escape"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("title\x1b]0;pwned\x07"), "{:?}", stdout(&out));
    assert!(!stderr(&out).contains(ESC), "{:?}", stderr(&out));
    let out = wprobe(&["replay", h, events, "--arg", "mode=escape", "--escape"]);
    assert!(stdout(&out).contains("title\\x1b]0;pwned\\x07") && !stdout(&out).contains(ESC), "{:?}", stdout(&out));
}

#[test]
fn on_a_terminal_handler_text_is_escaped() {
    let events = synthetic_events("tty-escape", 1);
    let out = pty::run(&wprobe_bin(), &["replay", handler("hostile").to_str().unwrap(), events.to_str().unwrap()]);
    assert!(out.contains("title\\x1b]0;pwned\\x07 clear\\x1b[2J"), "{out:?}");
    assert!(out.contains("[handler] wprobe: error: forged by the handler"), "{out:?}");
    assert!(!out.contains("\x1b]0;pwned"), "{out:?}");
}

#[test]
fn an_oversize_component_is_refused_before_compiling() {
    let rt = Runtime::new(RuntimeConfig { max_component_size: 1024, ..Default::default() }).unwrap();
    let e = rt.load(&handler("tcp_connect")).err().unwrap();
    assert!(matches!(e, LoadError::TooLarge { max: 1024, .. }), "{e}");

    let events = synthetic_events("oversize", 1);
    let out = wprobe(&[
        "replay",
        handler("tcp_connect").to_str().unwrap(),
        events.to_str().unwrap(),
        "--max-component-size",
        "1K",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("tcp_connect.wasm is ")
            && err.contains("more than the 1.0 KiB a component may have (--max-component-size)"),
        "{err}"
    );
}

#[test]
fn a_pathological_component_hits_the_compile_bounds() {
    let dir = scratch_dir("slow-compile");
    let slow = dir.join("slow.wasm");
    std::fs::write(&slow, slow_to_compile()).unwrap();
    let slow = slow.to_str().unwrap();
    let out = wprobe(&["compile", slow, "--compile-timeout", "0.5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("compiling slow.wasm took longer than 0.5 s and was stopped (--compile-timeout)"),
        "{}",
        stderr(&out)
    );

    // It needs over 300 MiB.
    let out = wprobe(&["compile", slow, "--compile-memory-limit", "200M"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "compiling slow.wasm needed more than 200.0 MiB of memory (--compile-memory-limit) and was stopped"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn compile_fills_the_cache_and_shows_progress_on_a_terminal() {
    let cache = scratch_dir("compile-cmd");
    let h = handler("count");
    let h = h.to_str().unwrap();
    let cache_arg = cache.to_str().unwrap();
    let out = pty::run(&wprobe_bin(), &["compile", h, "--cache-dir", cache_arg]);
    assert!(out.contains("compiling count.wasm (") && out.contains("KiB, first run only)"), "{out:?}");
    assert!(out.contains("wprobe: compiled"), "{out:?}");

    let out = wprobe(&["compile", h, "--cache-dir", cache_arg]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("is already compiled in"), "{}", stderr(&out));
    // The library finds the CLI's artifact: the same engine settings.
    let rt = Runtime::new(RuntimeConfig { cache_dir: Some(cache.clone()), ..Default::default() }).unwrap();
    assert_eq!(rt.load(std::path::Path::new(h)).unwrap().cache_outcome(), wprobe::sandbox::CacheOutcome::Hit);

    // No terminal, no progress.
    let out = wprobe(&["compile", h, "--cache-dir", scratch_dir("compile-cmd-2").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("compiling"), "{}", stderr(&out));
}

/// A component whose one function Cranelift takes long and much memory on: deep nesting
/// of `if` blocks over many locals, every local read after them all (each read walks back
/// through every block, making block parameters for every local at every merge).
fn slow_to_compile() -> Vec<u8> {
    use wasm_encoder::{
        BlockType, CodeSection, Function, FunctionSection, Instruction as I, Module, TypeSection, ValType,
    };
    const LOCALS: u32 = 3000;
    const DEPTH: u32 = 600;
    let mut types = TypeSection::new();
    types.ty().function([ValType::I64], [ValType::I64]);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    let mut f = Function::new([(LOCALS, ValType::I64)]);
    for d in 0..DEPTH {
        f.instruction(&I::LocalGet(0));
        f.instruction(&I::I32WrapI64);
        f.instruction(&I::If(BlockType::Empty));
        f.instruction(&I::LocalGet(1 + (d * 7) % LOCALS));
        f.instruction(&I::I64Const(d as i64));
        f.instruction(&I::I64Add);
        f.instruction(&I::LocalSet(1 + (d * 13) % LOCALS));
    }
    for _ in 0..DEPTH {
        f.instruction(&I::End);
    }
    f.instruction(&I::LocalGet(0));
    for l in 1..=LOCALS {
        f.instruction(&I::LocalGet(l));
        f.instruction(&I::I64Add);
    }
    f.instruction(&I::End);
    let mut code = CodeSection::new();
    code.function(&f);
    let mut module = Module::new();
    module.section(&types).section(&funcs).section(&code);
    let mut component = wasm_encoder::Component::new();
    component.section(&wasm_encoder::ModuleSection(&module));
    component.finish()
}

/// Runs a command with stdout and stderr on a pseudo-terminal and returns what it wrote.
mod pty {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::path::Path;
    use std::process::{Command, Stdio};

    pub fn run(program: &Path, args: &[&str]) -> String {
        let (mut master, slave) = open();
        let mut child = Command::new(program)
            .args(args)
            .env("WPROBE_CACHE_DIR", super::scratch_dir("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        // Reads until every copy of the terminal's other end is closed (EIO on Linux).
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        child.wait().unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    fn open() -> (std::fs::File, OwnedFd) {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two new descriptors into the integers we pass; the others
        // may be null.
        let rc =
            unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors are fresh and owned by nobody else.
        unsafe { (std::fs::File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
    }
}
