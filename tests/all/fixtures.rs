//! The examples over events recorded from real uprobe runs (`cargo xtask fixtures`): the
//! target calls wprobe_target(7, 0xdeadbeef, 16), which returns 23, on two threads.

use super::*;
use wprobe::events_file::{EventsReader, Frame};

struct Recorded {
    pp: Vec<String>,
    /// (probe id, pid, tid, cpu) of every event.
    events: Vec<(u32, u32, u32, u32)>,
}

fn recorded(name: &str) -> Recorded {
    let mut r = EventsReader::open(&fixture(name)).unwrap();
    let pp = r.header().probes.iter().map(|p| p.pp.clone()).collect();
    let mut events = vec![];
    while let Some(f) = r.next_frame().unwrap() {
        if f == Frame::Event {
            let e = wprobe_common::EventRef::new(r.header().arch, r.record()).unwrap();
            events.push((e.probe_id(), e.pid(), e.tid(), e.cpu()));
        }
    }
    Recorded { pp, events }
}

fn replay(handler_name: &str, fixture_name: &str) -> String {
    let out = wprobe(&["replay", handler(handler_name).to_str().unwrap(), fixture(fixture_name).to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn the_recordings_are_what_the_target_did() {
    let r = recorded("target_both.events");
    assert_eq!(r.pp.len(), 2);
    assert!(r.pp[0].starts_with("process(\"/") && r.pp[0].ends_with("/wprobe_target\").function(\"wprobe_target\")"));
    assert_eq!(r.pp[1], format!("{}.return", r.pp[0]));
    assert_eq!(r.events.len(), 12, "3 calls on each of 2 threads, entry and return");
    let pid = r.events[0].1;
    assert!(r.events.iter().all(|e| e.1 == pid), "one process");
    let tids: std::collections::BTreeSet<u32> = r.events.iter().map(|e| e.2).collect();
    assert_eq!(tids.len(), 2, "two threads");
    assert!(tids.contains(&pid), "the main thread's tid is the pid");
}

#[test]
fn tcp_connect_prints_the_true_arguments() {
    let r = recorded("target_entry.events");
    let expected: String = r
        .events
        .iter()
        .map(|&(id, pid, _, cpu)| format!("{}, {pid}, {cpu}, 0x7, 0xdeadbeef, 16\n", r.pp[id as usize]))
        .collect();
    assert_eq!(r.events.len(), 6);
    assert_eq!(replay("tcp_connect", "target_entry.events"), expected);
}

#[test]
fn tcp_connect_ret_prints_the_true_return_value() {
    assert_eq!(replay("tcp_connect_ret", "target_return.events"), "23\n".repeat(6));
}

#[test]
fn regs_shows_the_argument_registers() {
    let out = replay("regs", "target_entry.events");
    let r = recorded("target_entry.events");
    let first = out.lines().next().unwrap();
    let (pid, cpu) = (r.events[0].1, r.events[0].3);
    assert!(first.starts_with(&format!("{pid}, {cpu}, ")), "{first}");
    assert!(out.contains("RDX: 0000000000000010 RSI: 00000000deadbeef RDI: 0000000000000007\n"), "{out}");
    // rip is the same in the first line and in the dump.
    let rip = first.rsplit(", ").next().unwrap();
    assert!(out.contains(&format!("RIP: {rip:0>16}\n")), "{out}");
    assert_eq!(out.lines().count(), 6 * 9);
}

#[test]
fn count_summarises_the_recording() {
    let r = recorded("target_both.events");
    assert_eq!(
        replay("count", "target_both.events"),
        format!("pid {} (wprobe_target): 12\ntotal: 12\n", r.events[0].1)
    );
}

#[test]
fn cursor_and_flat_agree_on_real_events() {
    let flat = replay("dump_flat", "target_both.events");
    assert_eq!(flat, replay("dump_cursor", "target_both.events"));
    assert!(flat.contains("23"), "{flat}");
}
