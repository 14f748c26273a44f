//! Timers: `tick` runs once per period, on the events' clock, between the events stamped
//! before its time and those after; the same ticks whatever the batch size; bounded and
//! reported like a batch.

use super::*;
use wprobe::sandbox::Phase;

const MS: u64 = 1_000_000;
/// An arbitrary CLOCK_MONOTONIC origin for the synthetic events.
const T0: u64 = 5_000 * MS;

/// A seed entry event stamped `at`.
fn event_at(at: u64) -> Vec<u8> {
    let mut r = seed_entry(1000, 0);
    // The header's timestamp_ns (wprobe_common::record's layout).
    r[24..32].copy_from_slice(&at.to_le_bytes());
    r
}

fn ticker(args: &[(&str, &str)], records: &[Vec<u8>], batch_size: usize) -> Run {
    let rt = runtime();
    let mut h = start(&rt, "ticker", args, Limits::default()).unwrap();
    run_records(&mut h, Arch::X86_64, records, batch_size)
}

#[test]
fn ticks_split_the_events_at_their_time_whatever_the_batch_size() {
    // 25 events 1 ms apart from T0; the timer starts at the first event (replay).
    let records: Vec<_> = (0..25).map(|i| event_at(T0 + i * MS)).collect();
    let expected = "timer 0: 10 events\ntimer 0: 10 events\nend: 25 events, 2 ticks\n";
    for batch in [1, 3, 7, 256] {
        let run = ticker(&[("ms", "10")], &records, batch);
        run.result.unwrap();
        assert_eq!(run.stdout, expected, "batch size {batch}");
    }
}

#[test]
fn several_timers_fire_in_time_order_and_idle_periods_still_tick() {
    // Events at 0, 1, 2, 9 ms, then nothing until 31 ms.
    let records: Vec<_> = [0, 1, 2, 9, 31].iter().map(|ms| event_at(T0 + ms * MS)).collect();
    let run = ticker(&[("ms", "10,4")], &records, 256);
    run.result.unwrap();
    // Due: 4 (1), 8 (1), 10 (0), 12 (1), 16 (1), 20 (0, then 1: a tie goes to timer 0),
    // 24 (1), 28 (1), 30 (0); the event at 31 ms comes after all of them.
    assert_eq!(
        run.stdout,
        "timer 1: 3 events\ntimer 1: 0 events\ntimer 0: 4 events\ntimer 1: 1 events\ntimer 1: 0 events\n\
         timer 0: 0 events\ntimer 1: 0 events\ntimer 1: 0 events\ntimer 1: 0 events\ntimer 0: 0 events\n\
         end: 5 events, 10 ticks\n"
    );
}

#[test]
fn a_handler_without_timers_is_never_ticked() {
    let records: Vec<_> = (0..5).map(|i| event_at(T0 + i * 1000 * MS)).collect();
    let rt = runtime();
    let mut h = start(&rt, "count", &[], Limits::default()).unwrap();
    assert!(h.timers().is_empty());
    let run = run_records(&mut h, Arch::X86_64, &records, 2);
    run.result.unwrap();
    assert_eq!(run.stdout, "pid 1000 (curl): 5\ntotal: 5\n");
}

#[test]
fn exit_in_a_tick_stops_the_session_with_the_end_hook() {
    let records: Vec<_> = (0..50).map(|i| event_at(T0 + i * MS)).collect();
    let run = ticker(&[("ms", "10"), ("exit_at_tick", "2")], &records, 256);
    run.result.unwrap();
    assert_eq!(run.stdout, "timer 0: 10 events\ntimer 0: 10 events\nend: 20 events, 2 ticks\n");
}

#[test]
fn an_error_in_a_tick_names_the_tick() {
    let records: Vec<_> = (0..50).map(|i| event_at(T0 + i * MS)).collect();
    let run = ticker(&[("ms", "10"), ("fail_at_tick", "1")], &records, 256);
    let e = run.result.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("tick of timer 0") && msg.contains("failing at tick 1"), "{msg}");
    match e {
        wprobe::session::SessionError::Handler(f) => assert_eq!(f.phase, Phase::Tick(0)),
        e => panic!("not a handler fault: {e}"),
    }
    assert_eq!(run.stdout, "timer 0: 10 events\n", "output before the fault is kept");
}

#[test]
fn a_timer_of_zero_ms_is_refused_at_init() {
    let rt = runtime();
    let e = start(&rt, "ticker", &[("ms", "0")], Limits::default()).err().unwrap();
    assert!(e.to_string().contains("timer 0 has a period of 0 ms"), "{e}");
}

/// Live: ticks come on the wall clock even when no event does, and the replay of what was
/// recorded calls the handler with the same events.
#[test]
fn live_ticks_come_without_events() {
    let _serial = live::serial();
    live::require_root();
    let target = live::target().display().to_string();
    let out = live::run_live(&[
        "run",
        handler("ticker").to_str().unwrap(),
        "--uprobe",
        &format!("{target}:wprobe_target"),
        "--arg",
        "ms=100",
        "--duration",
        "1",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let ticks = text.lines().filter(|l| *l == "timer 0: 0 events").count();
    // About ten in one second; the bound only says ticks came without events.
    assert!((3..=11).contains(&ticks), "{text}");
    assert!(text.ends_with(&format!("end: 0 events, {ticks} ticks\n")), "{text}");
    live::assert_nothing_left();
}
