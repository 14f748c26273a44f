//! The classic tools on recordings of the workload (tests/targets/wprobe_workload.c,
//! recorded by `cargo xtask fixtures`): what each prints, and the same bytes from the Rust
//! tool and its C, Python or JavaScript twin.

use super::*;

/// `wprobe replay HANDLER FIXTURE ARGS…`: its stdout.
fn replay(handler_name: &str, fixture_name: &str, args: &[&str]) -> String {
    let h = handler(handler_name);
    let f = fixture(fixture_name);
    // The Python and JavaScript components take a while to compile on a busy machine.
    let mut all = vec!["replay", h.to_str().unwrap(), f.to_str().unwrap(), "--compile-timeout", "900"];
    all.extend_from_slice(args);
    let out = wprobe(&all);
    assert!(out.status.success(), "wprobe {all:?} failed:\n{}", stderr(&out));
    stdout(&out)
}

#[test]
fn syscount_counts_the_workloads_syscalls_in_rust_and_python() {
    let rust = replay("syscount", "workload_syscalls.events", &["--arg", "top=0"]);
    assert!(rust.contains("@total[getsid]: 37\n"), "{rust}");
    assert!(rust.contains("@total[sched_yield]: 11\n"), "{rust}");
    assert!(rust.contains("@total[openat]: "), "{rust}");
    // Sorted by count, the largest last, as bpftrace prints a map.
    let counts: Vec<u64> = rust.lines().filter_map(|l| l.rsplit_once(": ")).map(|(_, n)| n.parse().unwrap()).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{rust}");
    assert_eq!(replay("syscount_py", "workload_syscalls.events", &["--arg", "top=0"]), rust);
    // The top 3 are the last 3 lines of the whole table.
    let top3 = replay("syscount", "workload_syscalls.events", &["--arg", "top=3"]);
    let last3: Vec<&str> = rust.lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect();
    assert_eq!(top3, format!("{}\n", last3.join("\n")));
    assert_eq!(replay("syscount_py", "workload_syscalls.events", &["--arg", "top=3"]), top3);
}

#[test]
fn syscount_refuses_a_probe_without_an_id_field() {
    let h = handler("syscount");
    let f = fixture("workload_exec.events");
    let out = wprobe(&["replay", h.to_str().unwrap(), f.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--tracepoint raw_syscalls:sys_enter"), "{}", stderr(&out));
}

#[test]
fn funclatency_histogram_in_rust_and_c() {
    let rust = replay("funclatency", "workload_sleep.events", &[]);
    // Fifteen sleeps of 1.5, 6 and 24 ms (a busy machine makes some longer): every call
    // in a bucket from [1M, 2M) up.
    let rows: Vec<(&str, u64)> = rust
        .lines()
        .filter(|l| l.starts_with('['))
        .map(|l| {
            let (label, rest) = l.split_once(')').unwrap();
            (label, rest.split_whitespace().next().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(rows.iter().map(|r| r.1).sum::<u64>(), 15, "{rust}");
    assert_eq!(rows[0].0, "[1M, 2M", "{rust}");
    assert!(rust.starts_with("@ns: \n") || rust.starts_with("@ns:\n"), "{rust}");
    assert!(rust.contains("\n15 calls, mean "), "{rust}");
    assert_eq!(replay("funclatency_c", "workload_sleep.events", &[]), rust);
}

#[test]
fn execsnoop_names_the_workloads_execs_in_rust_and_javascript() {
    let rust = replay("execsnoop", "workload_exec.events", &[]);
    let execs: Vec<&str> = rust.lines().filter(|l| l.ends_with(" /tmp/wprobe-workload/exec-true")).collect();
    assert_eq!(execs.len(), 3, "{rust}");
    assert_eq!(replay("execsnoop_js", "workload_exec.events", &[]), rust);
}

#[test]
fn fieldhist_counts_every_event_in_its_buckets() {
    let text = replay("fieldhist", "workload_syscalls.events", &["--arg", "field=id", "--arg", "lhist=0,500,100"]);
    let events = wprobe_tests::events_in(&fixture("workload_syscalls.events"));
    let total: u64 = text
        .lines()
        .filter(|l| l.starts_with('['))
        .map(|l| l.split_once(')').unwrap().1.split_whitespace().next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, events, "{text}");
    assert!(text.starts_with("@id: \n") || text.starts_with("@id:\n"), "{text}");
    let out = wprobe(&[
        "replay",
        handler("fieldhist").to_str().unwrap(),
        fixture("workload_syscalls.events").to_str().unwrap(),
        "--arg",
        "field=nope",
    ]);
    assert!(
        !out.status.success() && stderr(&out).contains("no probe of this session has a field named nope"),
        "{}",
        stderr(&out)
    );
}
