//! The seed's examples, through the library and through `wprobe replay`.

use super::*;

const SEED_LINE: &str = "kprobe.function(\"tcp_v4_connect\"), 32372, 11, 0xffff81024ce51380, 0xffff81038aa2fec8, 16\n";

#[test]
fn tcp_connect_prints_the_seed_line() {
    let rt = runtime();
    let mut h = start(&rt, "tcp_connect", &[], Limits::default()).unwrap();
    let run = run_records(&mut h, Arch::X86_64, &[seed_entry(32372, 11)], 64);
    run.result.unwrap();
    assert_eq!(run.stdout, SEED_LINE);
}

#[test]
fn tcp_connect_ret_prints_return_values() {
    let rt = runtime();
    let mut h = start(&rt, "tcp_connect_ret", &[], Limits::default()).unwrap();
    let records = [seed_return(1, 0), seed_return(1, -111), seed_return(2, i64::MAX)];
    let run = run_records(&mut h, Arch::X86_64, &records, 2);
    run.result.unwrap();
    assert_eq!(run.stdout, format!("0\n-111\n{}\n", i64::MAX));
}

#[test]
fn regs_prints_rip_then_the_register_dump() {
    let rt = runtime();
    let mut h = start(&rt, "regs", &[], Limits::default()).unwrap();
    let run = run_records(&mut h, Arch::X86_64, &[seed_entry(4859, 10)], 1);
    run.result.unwrap();
    let mut lines = run.stdout.lines();
    assert_eq!(lines.next(), Some("4859, 10, ffffffff8025b538"));
    assert_eq!(lines.next(), Some("RIP: ffffffff8025b538"));
    assert_eq!(lines.next(), Some("RSP: 0000000000000000  EFLAGS: 00000000"));
    assert_eq!(lines.next(), Some("RAX: 0000000000000000 RBX: 0000000000000000 RCX: 0000000000000000"));
    assert_eq!(lines.next(), Some("RDX: 0000000000000010 RSI: ffff81038aa2fec8 RDI: ffff81024ce51380"));
    assert_eq!(run.stdout.lines().count(), 1 + 8);
}

#[test]
fn count_summarises_per_pid_from_the_end_hook() {
    let rt = runtime();
    let mut h = start(&rt, "count", &[], Limits::default()).unwrap();
    let records: Vec<_> = [7, 9, 7, 7, 9, 3].iter().map(|&pid| seed_entry(pid, 0)).collect();
    let run = run_records(&mut h, Arch::X86_64, &records, 4);
    run.result.unwrap();
    assert_eq!(run.stdout, "pid 7 (curl): 3\npid 9 (curl): 2\npid 3 (curl): 1\ntotal: 6\n");
}

#[test]
fn exit_stops_after_the_batch_and_runs_end() {
    // The count handler exits after `--arg max=N` events, as `stap`'s `exit()`.
    let rt = runtime();
    let mut h = start(&rt, "count", &[("exit_after", "3")], Limits::default()).unwrap();
    let records: Vec<_> = (0..10).map(|i| seed_entry(100 + i, 0)).collect();
    let run = run_records(&mut h, Arch::X86_64, &records, 2);
    run.result.unwrap();
    // Batches of 2: the third event is in batch 2, which is finished; batches 3.. never run.
    assert!(run.stdout.ends_with("total: 4\n"), "{}", run.stdout);
}

#[test]
fn cli_replay_matches_the_library() {
    let events = synthetic_events("cli-replay", 5);
    let out = wprobe(&["replay", handler("tcp_connect").to_str().unwrap(), events.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected: String = (0..5)
        .map(|i| {
            format!(
                "kprobe.function(\"tcp_v4_connect\"), {}, {}, 0xffff81024ce51380, 0xffff81038aa2fec8, 16\n",
                1000 + i,
                i % 4
            )
        })
        .collect();
    assert_eq!(stdout(&out), expected);
    assert!(stderr(&out).contains("replayed 5 events (0 lost) in 1 batches"), "{}", stderr(&out));
}
