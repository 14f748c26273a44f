//! The calling conventions of both architectures, through real handlers, on both delivery
//! paths (per-accessor imports and the flat fast path).

use super::*;
use wprobe::events_file::make_record;
use wprobe_common::abi::aarch64;
use wprobe_common::record::FLAG_RETURN;
use wprobe_common::EventHeader;

fn aarch64_session() -> Session {
    Session { args: vec![], probes: seed_probes(), arch: Arch::Aarch64 }
}

/// An aarch64 return event (pid 9, tid 10) returning -2, its entry unseen.
pub(super) fn aarch64_return() -> Vec<u8> {
    let mut regs = [0u64; aarch64::NREGS];
    regs[0] = (-2i64) as u64;
    let header = EventHeader { probe_id: 1, flags: FLAG_RETURN, pid: 9, tid: 10, uid: 1000, ..Default::default() };
    make_record(Arch::Aarch64, &header, &regs)
}

pub(super) fn aarch64_entry(pid: u32) -> Vec<u8> {
    let mut regs = [0u64; aarch64::NREGS];
    for (i, r) in regs.iter_mut().enumerate().take(31) {
        *r = 0x1000 + i as u64;
    }
    regs[0] = 0xffff_0000_1234_5678;
    regs[1] = 0xffff_0000_8765_4321;
    regs[2] = 16;
    regs[aarch64::SP] = 0xffff_8000_0000_1000;
    regs[aarch64::PC] = 0xffff_8000_0810_0000;
    regs[aarch64::PSTATE] = 0x6000_0005;
    let header = EventHeader { pid, tid: pid, cpu: 3, ..Default::default() };
    make_record(Arch::Aarch64, &header, &regs)
}

#[test]
fn aarch64_arguments_come_from_x0_x1_x2() {
    let rt = runtime();
    let loaded = rt.load(&handler("tcp_connect")).unwrap();
    let mut h = rt.start(&loaded, &aarch64_session(), Limits::default()).unwrap();
    let run = run_records(&mut h, Arch::Aarch64, &[aarch64_entry(42)], 8);
    run.result.unwrap();
    assert_eq!(run.stdout, "kprobe.function(\"tcp_v4_connect\"), 42, 3, 0xffff000012345678, 0xffff000087654321, 16\n");
}

#[test]
fn aarch64_register_dump_and_pc() {
    let rt = runtime();
    let loaded = rt.load(&handler("regs")).unwrap();
    let mut h = rt.start(&loaded, &aarch64_session(), Limits::default()).unwrap();
    // The regs example reads register("pc") on aarch64 (rip on x86_64), then the kernel-order dump.
    let run = run_records(&mut h, Arch::Aarch64, &[aarch64_entry(42)], 8);
    run.result.unwrap();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        ["42, 3, ffff800008100000", "pc : ffff800008100000", "sp : ffff800000001000 pstate: 60000005"]
    );
    assert!(lines.contains(&"x2 : 0000000000000010 x1 : ffff000087654321"), "{}", run.stdout);
}

#[test]
fn aarch64_return_value_is_x0() {
    let rt = runtime();
    let loaded = rt.load(&handler("tcp_connect_ret")).unwrap();
    let mut h = rt.start(&loaded, &aarch64_session(), Limits::default()).unwrap();
    let mut regs = [0u64; aarch64::NREGS];
    regs[0] = (-22i64) as u64;
    let header = EventHeader { probe_id: 1, flags: FLAG_RETURN, pid: 5, tid: 5, ..Default::default() };
    let run = run_records(&mut h, Arch::Aarch64, &[make_record(Arch::Aarch64, &header, &regs)], 8);
    run.result.unwrap();
    assert_eq!(run.stdout, "-22\n");
}

#[test]
fn cursor_and_flat_paths_agree() {
    let rt = runtime();
    let records: Vec<_> = (0..1000u32).map(|i| seed_entry(i * 7, i % 3)).collect();
    let mut outputs = vec![];
    for name in ["bench_cursor", "bench_flat"] {
        let mut h = start(&rt, name, &[], Limits::default()).unwrap();
        let run = run_records(&mut h, Arch::X86_64, &records, 64);
        run.result.unwrap();
        outputs.push(run.stdout);
    }
    let pid_sum: u64 = (0..1000u64).map(|i| i * 7).sum();
    assert_eq!(outputs[0], format!("events 1000 pid_sum {pid_sum} arg3_sum 16000\n"));
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn every_accessor_agrees_between_cursor_and_flat_on_both_architectures() {
    let rt = runtime();
    let x86: Vec<_> = vec![seed_entry(10, 1), seed_return(10, -111), seed_return(11, 0), seed_entry(12, 3)];
    let arm: Vec<_> = vec![aarch64_entry(42), aarch64_return()];
    for (arch, records) in [(Arch::X86_64, x86), (Arch::Aarch64, arm)] {
        let session = Session { args: vec![], probes: seed_probes(), arch };
        let mut outputs = vec![];
        for name in ["dump_cursor", "dump_flat"] {
            let loaded = rt.load(&handler(name)).unwrap();
            let mut h = rt.start(&loaded, &session, Limits::default()).unwrap();
            let run = run_records(&mut h, arch, &records, 3);
            run.result.unwrap();
            outputs.push(run.stdout);
        }
        assert_eq!(outputs[0], outputs[1], "{arch}");
        // The dump is not trivially empty: it has every event's return value or its error.
        assert!(outputs[0].contains("-111 (ECONNREFUSED)") || arch == Arch::Aarch64, "{}", outputs[0]);
        assert!(outputs[0].contains("-2 (ENOENT)") || arch == Arch::X86_64, "{}", outputs[0]);
    }
}

/// Recorded on a real arm64 kernel (Debian's 6.1 under qemu-system-aarch64; the command is in
/// xtask/src/fixtures.rs): x0..x2 hold the arguments of wprobe_target(7, 0xdeadbeef, 16) and
/// of tcp_v4_connect (two kernel pointers, addr_len 16), and each return carries its entry.
#[test]
fn arm64_recordings_decode() {
    let replay = |events: &str| {
        let (h, e) = (handler("tcp_connect"), fixture(events));
        let out = wprobe(&["replay", h.to_str().unwrap(), e.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let target = replay("arm64_target_both.events");
    assert_eq!(target.lines().count(), 12, "{target}");
    assert!(target.lines().all(|l| l.ends_with(", 0x7, 0xdeadbeef, 16")), "{target}");
    assert_eq!(target.matches(".return, ").count(), 6, "{target}");
    let connect = replay("arm64_tcp_connect.events");
    let lines: Vec<&str> = connect.lines().collect();
    assert_eq!(lines.len(), 2, "{connect}");
    for l in lines {
        let f: Vec<&str> = l.split(", ").collect();
        let ptr = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
        assert!(ptr(f[3]) >= 0xffff_0000_0000_0000 && ptr(f[4]) >= 0xffff_0000_0000_0000, "{l}");
        assert_eq!(f[5], "16", "{l}");
    }
}
