//! Aggregations (guest-sdk/src/agg.rs and its C, Python and JavaScript twins): the `agg`
//! handler feeds every kind from the events and prints them all in `end`; every language
//! prints the same bytes, and those are what bpftrace's and SystemTap's rules give, worked
//! out by hand below row by row.

use super::languages::same_as_rust;
use wprobe::events_file::make_record;
use wprobe_common::abi::x86_64;
use wprobe_common::{Arch, EventHeader};

/// An entry event of `pid` running `comm`, with `arg1` in rdi and `arg3` in rdx.
fn event(pid: u32, comm: &str, arg1: i64, arg3: u32) -> Vec<u8> {
    let mut regs = [0u64; x86_64::NREGS];
    regs[x86_64::RDI] = arg1 as u64;
    regs[x86_64::RDX] = arg3.into();
    let mut name = [0u8; 16];
    name[..comm.len()].copy_from_slice(comm.as_bytes());
    let header = EventHeader { probe_id: 0, pid, tid: pid, comm: name, ..Default::default() };
    make_record(Arch::X86_64, &header, &regs)
}

/// One row of a bpftrace histogram whose largest count is `max`.
fn bpf_row(label: &str, n: u64, max: u64) -> String {
    let bar = "@".repeat((n as f32 / max as f32 * 52.0) as usize);
    format!("{label:<16}{n:>8} |{bar:<52}|\n")
}

/// bpftrace's power-of-two labels from `[2, 4)` up to `[2^(top-1), 2^top)`.
fn pow2_labels(top: u32) -> Vec<String> {
    let name = |p: u32| format!("{}{}", 1u64 << (p % 10), ["", "K", "M", "G", "T"][(p / 10) as usize]);
    (1..top).map(|p| format!("[{}, {})", name(p), name(p + 1))).collect()
}

/// One row of a SystemTap table: the value column `width` wide, counts of up to
/// `cnt_space` digits, no scaling.
fn stap_row(value: &str, n: usize, width: usize, cnt_space: usize) -> String {
    format!("{value:>width$} |{}{n:>w$}\n", "@".repeat(n), w = 50 - n + 1 + cnt_space)
}

#[test]
fn aggregations_print_alike_in_every_language_and_as_bpftrace() {
    let u64_max = -1; // rdi = 0xffff_ffff_ffff_ffff
    let records = [
        event(7, "curl", 5, 5),
        event(9, "sshd", 0, 150),
        event(7, "curl", -3, 0),
        event(7, "curl", 1, 100),
        event(9, "sshd", 1, 55),
        event(3, "bash", 1024, 10),
        event(11, "a b", 3_000_000_000, 99),
        event(100_000, "curl", u64_max, 42),
        event(7, "curl", 1 << 40, 7),
    ];
    let out = same_as_rust("agg", &[], &records, 4);

    let mut want = String::new();
    // count() by pid: ascending, ties by key; print(@pids, 3) keeps the largest three.
    want += "@pids[100000]: 1\n@pids[9]: 2\n@pids[7]: 4\n";
    want += "@pids[3]: 1\n@pids[11]: 1\n@pids[100000]: 1\n@pids[9]: 2\n@pids[7]: 4\n";
    want += "@comm[a b]: 1\n@comm[bash]: 1\n@comm[sshd]: 2\n@comm[curl]: 5\n";
    // sum() of arg 3 by (pid, comm).
    want += "@bytes[3, bash]: 10\n@bytes[100000, curl]: 42\n@bytes[11, a b]: 99\n@bytes[7, curl]: 112\n\
             @bytes[9, sshd]: 205\n";
    // Arg 1, signed: 5 + 0 - 3 + 1 + 1 + 1024 + 3000000000 - 1 + 2^40.
    want += "@sum: 1102511628803\n@min: -3\n@max: 1099511627776\n";
    // avg() truncates (curl: 154 / 5) and ends with an empty line, as stats() does.
    want += "@avg[bash]: 10\n@avg[curl]: 30\n@avg[a b]: 99\n@avg[sshd]: 102\n\n";
    want += "@stats: count 9, average 122501292089, total 1102511628803\n\n";
    // hist() of arg 1: -3 and -1 below zero, 0, 1 twice, 5, 1024, 3e9, 2^40.
    want += "@hist: \n";
    want += &bpf_row("(..., 0)", 2, 2);
    want += &bpf_row("[0]", 1, 2);
    want += &bpf_row("[1]", 2, 2);
    for label in pow2_labels(41) {
        let n = ["[4, 8)", "[1K, 2K)", "[2G, 4G)", "[1T, 2T)"].contains(&label.as_str()) as u64;
        want += &bpf_row(&label, n, 2);
    }
    want += "\n";
    // hist() of arg 3 by comm, top 2 by total count: sshd (150, 55), curl (5, 0, 100, 42, 7).
    want += "@size[sshd]: \n";
    want += &(bpf_row("[32, 64)", 1, 1) + &bpf_row("[64, 128)", 0, 1) + &bpf_row("[128, 256)", 1, 1));
    want += "\n@size[curl]: \n";
    for (label, n) in [
        ("[0]", 1),
        ("[1]", 0),
        ("[2, 4)", 0),
        ("[4, 8)", 2),
        ("[8, 16)", 0),
        ("[16, 32)", 0),
        ("[32, 64)", 1),
        ("[64, 128)", 1),
    ] {
        want += &bpf_row(label, n, 2);
    }
    want += "\n";
    // lhist(arg3, 0, 100, 10): 100 and 150 are [100, ...); bars of 17, 34 and 52.
    want += "@lin: \n";
    for (label, n) in [
        ("[0, 10)", 3),
        ("[10, 20)", 1),
        ("[20, 30)", 0),
        ("[30, 40)", 0),
        ("[40, 50)", 1),
        ("[50, 60)", 1),
        ("[60, 70)", 0),
        ("[70, 80)", 0),
        ("[80, 90)", 0),
        ("[90, 100)", 1),
        ("[100, ...)", 2),
    ] {
        want += &bpf_row(label, n, 3);
    }
    want += "\n";
    // SystemTap's @hist_log of arg 1: two rows of margin (down to -8, up to 2^42, whose 13
    // digits set the value column), rows more than two from any count elided.
    want += &format!("{:>13} |{} count\n", "value", "-".repeat(50));
    for (v, n) in [(-8i64, 0), (-4, 0), (-2, 1), (-1, 1), (0, 1), (1, 2), (2, 0), (4, 1), (8, 0), (16, 0)] {
        want += &stap_row(&v.to_string(), n, 13, 1);
    }
    want += &format!("{:13} ~\n", "");
    for (p, n) in [(8, 0), (9, 0), (10, 1), (11, 0), (12, 0)] {
        want += &stap_row(&(1u64 << p).to_string(), n, 13, 1);
    }
    want += &format!("{:13} ~\n", "");
    for (p, n) in [(29, 0), (30, 0), (31, 1), (32, 0), (33, 0)] {
        want += &stap_row(&(1u64 << p).to_string(), n, 13, 1);
    }
    want += &format!("{:13} ~\n", "");
    for (p, n) in [(38, 0), (39, 0), (40, 1), (41, 0), (42, 0)] {
        want += &stap_row(&(1u64 << p).to_string(), n, 13, 1);
    }
    want += "\n";
    // SystemTap's @hist_linear(arg3, 0, 100, 10): its last step [100, 110) holds 100, the
    // overflow row ">100" holds 150; no underflow row.
    want += &format!("value |{} count\n", "-".repeat(50));
    for (v, n) in [(0, 3), (10, 1), (20, 0), (30, 0), (40, 1), (50, 1), (60, 0), (70, 0), (80, 0), (90, 1), (100, 1)] {
        want += &stap_row(&v.to_string(), n, 5, 1);
    }
    want += &stap_row(">100", 1, 5, 1);
    want += "\n";
    // clear(): a keyed map prints an empty line, a single value is zeroed.
    want += "\n@sum: 0\npids 0 comms 4\n";
    assert_eq!(out, want);
}
