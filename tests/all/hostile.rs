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

    let e = load_err("core.wasm", b"\0asm\x01\0\0\0");
    assert!(matches!(e, LoadError::CoreModule { .. }), "{e}");
    assert!(e.to_string().contains("wasm-tools component new"), "{e}");

    let real = std::fs::read(handler("tcp_connect")).unwrap();
    let e = load_err("cut.wasm", &real[..real.len() / 2]);
    assert!(matches!(e, LoadError::Invalid { .. }), "{e}");
}

#[test]
fn component_of_another_world() {
    let e = runtime().load(&handler("wrong_world")).err().unwrap();
    assert!(matches!(e, LoadError::WrongWorld { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("`greet`") && msg.contains("wprobe:probe/handler@0.2.0"), "{msg}");
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
    assert!(matches!(fault.cause, FaultCause::Trap(_)), "{fault}");
    let msg = fault.to_string();
    assert!(msg.contains("trap.wasm") && msg.contains("batch 2"), "{msg}");
}

#[test]
fn endless_loop_is_stopped_by_the_cpu_bound() {
    let rt = runtime();
    let limits = Limits { cpu_per_call: Duration::from_millis(50), ..Limits::default() };
    let mut h = start(&rt, "spin", &[], limits).unwrap();
    let run = run_records(&mut h, Arch::X86_64, &[seed_entry(1, 0)], 1);
    let Err(SessionError::Handler(fault)) = run.result else { panic!("spin was not stopped") };
    assert_eq!(fault.cause, FaultCause::CpuLimit(Duration::from_millis(50)), "{fault}");
    assert!(fault.to_string().contains("--cpu-limit-ms"), "{fault}");
}

#[test]
fn memory_bomb_is_stopped_by_the_memory_cap() {
    let rt = runtime();
    let limits = Limits { memory: 16 << 20, ..Limits::default() };
    let mut h = start(&rt, "membomb", &[], limits).unwrap();
    let run = run_records(&mut h, Arch::X86_64, &[seed_entry(1, 0)], 1);
    let Err(SessionError::Handler(fault)) = run.result else { panic!("membomb was not stopped") };
    assert_eq!(fault.cause, FaultCause::MemoryLimit { limit: 16 << 20 }, "{fault}");
    assert!(fault.to_string().contains("--memory-limit"), "{fault}");
}

#[test]
fn output_flood_is_capped() {
    let rt = runtime();
    let limits = Limits { output_per_call: 100_000, ..Limits::default() };
    let mut h = start(&rt, "flood", &[], limits).unwrap();
    let run = run_records(&mut h, Arch::X86_64, &[seed_entry(1, 0)], 1);
    let Err(SessionError::Handler(fault)) = run.result else { panic!("flood was not stopped") };
    assert_eq!(fault.cause, FaultCause::OutputLimit { limit: 100_000 }, "{fault}");
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
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![text.display().to_string(), events.into()], "not a WebAssembly file"),
        (vec![handler("wrong_world").display().to_string(), events.into()], "component of another world"),
        (vec![handler("missing_end").display().to_string(), events.into()], "does not export `end`"),
        (vec![handler("trap").display().to_string(), events.into()], "trapped"),
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
        assert!(!stderr(&out).contains("panicked at"), "{full:?}: the host panicked:\n{}", stderr(&out));
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
