//! The classic tools side by side with bpftrace's one-liners (Debian's bpftrace, which
//! `.ci/setup` installs), on one deterministic workload (tests/targets/wprobe_workload.c):
//! the same file names, the same per-syscall counts, the same latency buckets, the same
//! exec'd names. As root; where bpftrace is missing the tests say so and pass.
//!
//! Latency rule: a call near a bucket edge may land in the neighbouring bucket in one tool
//! and not the other (the two take their timestamps a few hundred ns apart), so the sorted
//! bucket of every call may differ by at most one bucket between the tools. The workload's
//! sleeps sit in the middle of their buckets, so in practice they agree exactly.

use super::live::{require_root, serial};
use super::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bpftrace() -> Option<PathBuf> {
    let found = ["/usr/bin/bpftrace", "/usr/sbin/bpftrace"].iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        eprintln!("skipping the bpftrace comparison: bpftrace is not installed (`apt-get install bpftrace`; .ci/setup does it)");
    }
    found
}

fn workload() -> PathBuf {
    compile_target("wprobe_workload")
}

/// A fresh directory for one run of the workload.
fn workload_dir(tag: &str) -> PathBuf {
    let dir = scratch_dir("peers").join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn command_line(dir: &Path) -> String {
    format!("{} {}", workload().display(), dir.display())
}

/// `wprobe run TOOL.wasm ARGS… -c WORKLOAD DIR`: its stdout.
fn wprobe_tool(tool: &str, args: &[&str], dir: &Path) -> String {
    let h = handler(tool);
    let cmd = command_line(dir);
    let mut all = vec!["run", h.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-c", &cmd]);
    let out = wprobe(&all);
    assert!(out.status.success(), "wprobe {all:?} failed:\n{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("done\n") || stderr(&out).contains("status 0"), "the workload did not finish:\n{text}");
    text
}

/// `bpftrace -e PROGRAM -c 'WORKLOAD DIR'`: its stdout.
fn bpftrace_tool(bpftrace: &Path, program: &str, dir: &Path) -> String {
    let out =
        Command::new(bpftrace).args(["-e", program, "-c", &command_line(dir)]).output().expect("cannot run bpftrace");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "bpftrace -e '{program}' failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// The lines that name a path under `dir`, with `dir` cut off, in order.
fn names_under(text: &str, dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    text.lines()
        .filter_map(|l| l.find(&prefix).map(|at| l[at + prefix.len()..].split(' ').next().unwrap().to_owned()))
        .collect()
}

#[test]
fn opensnoop_sees_the_same_files_as_bpftrace() {
    require_root();
    let Some(bt) = bpftrace() else { return };
    let _s = serial();
    let dir = workload_dir("opensnoop-wprobe");
    let ours = names_under(&wprobe_tool("opensnoop", &["--syscall", "openat"], &dir), &dir);
    let dir_bt = workload_dir("opensnoop-bpftrace");
    let theirs = names_under(
        &bpftrace_tool(
            &bt,
            r#"tracepoint:syscalls:sys_enter_openat /pid == cpid/ { printf("%s\n", str(args->filename)); }"#,
            &dir_bt,
        ),
        &dir_bt,
    );
    let mut expected: Vec<String> = (0..12).map(|i| format!("file-{i:02}")).collect();
    expected.push("exec-true".into());
    assert_eq!(ours, expected);
    assert_eq!(theirs, expected);
}

/// `@NAME[KEY]: VALUE` lines of a printed map.
fn map_lines(text: &str, name: &str) -> BTreeMap<String, u64> {
    let prefix = format!("{name}[");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|l| l.split_once("]: "))
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
        .collect()
}

#[test]
fn syscount_counts_what_bpftrace_counts_for_the_workload() {
    require_root();
    let Some(bt) = bpftrace() else { return };
    let _s = serial();
    let dir = workload_dir("syscount-wprobe");
    // -c's scope is the workload's process tree (its children exec a copy of /bin/true),
    // bpftrace's `pid == cpid` the workload alone: the syscalls only the workload makes
    // agree exactly, and wprobe sees at least what bpftrace sees.
    let ours = map_lines(
        &wprobe_tool("syscount", &["--tracepoint", "raw_syscalls:sys_enter", "--arg", "top=0"], &dir),
        "@total",
    );
    let dir_bt = workload_dir("syscount-bpftrace");
    let by_id = map_lines(
        &bpftrace_tool(&bt, "tracepoint:raw_syscalls:sys_enter /pid == cpid/ { @[args->id] = count(); }", &dir_bt),
        "@",
    );
    let theirs: BTreeMap<String, u64> = by_id
        .into_iter()
        .map(|(id, n)| (wprobe_common::syscalls::name(Arch::X86_64, id.parse().unwrap()).unwrap().to_owned(), n))
        .collect();
    for (name, n) in [("getppid", 37), ("sched_yield", 11)] {
        assert_eq!(ours.get(name), Some(&n), "wprobe's {name}: {ours:?}");
        assert_eq!(theirs.get(name), Some(&n), "bpftrace's {name}: {theirs:?}");
    }
    for (name, n) in &theirs {
        assert!(ours.get(name).is_some_and(|m| m >= n), "{name}: bpftrace {n}, wprobe {:?}", ours.get(name));
    }
}

/// The buckets of a printed bpftrace-style `hist()`: (lower bound in the label's units as
/// text, count), in order.
fn hist_buckets(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter(|l| l.starts_with('['))
        .map(|l| {
            let (label, rest) = l.split_at(l.find(|c: char| c == ')' || c == ']').unwrap() + 1);
            (label.to_owned(), rest.split_whitespace().next().unwrap().parse().unwrap())
        })
        .collect()
}

/// Each call's bucket index, from a histogram's (label, count) rows.
fn call_buckets(rows: &[(String, u64)], labels: &[String]) -> Vec<usize> {
    let mut calls = Vec::new();
    for (label, n) in rows {
        let at = labels.iter().position(|l| l == label).unwrap();
        calls.extend(std::iter::repeat_n(at, *n as usize));
    }
    calls
}

#[test]
fn funclatency_histogram_agrees_with_bpftrace() {
    require_root();
    let Some(bt) = bpftrace() else { return };
    let _s = serial();
    let w = workload();
    let w = w.display();
    let dir = workload_dir("funclatency-wprobe");
    let ours = wprobe_tool("funclatency", &["--uretprobe", &format!("{w}:workload_sleep")], &dir);
    let dir_bt = workload_dir("funclatency-bpftrace");
    let theirs = bpftrace_tool(
        &bt,
        &format!(
            "uprobe:{w}:workload_sleep {{ @s[tid] = nsecs; }} \
             uretprobe:{w}:workload_sleep /@s[tid]/ {{ @ns = hist(nsecs - @s[tid]); delete(@s[tid]); }}"
        ),
        &dir_bt,
    );
    let (ours, theirs) = (hist_buckets(&ours), hist_buckets(&theirs));
    // Both print the same power-of-two labels ([1M, 2M), …); put both on one axis.
    let mut labels: Vec<String> = ours.iter().chain(&theirs).map(|(l, _)| l.clone()).collect();
    let bound = |l: &str| -> u64 {
        let lo = l.trim_start_matches('[').split([',', ']']).next().unwrap().trim();
        let (digits, unit) = lo.split_at(lo.find(|c: char| !c.is_ascii_digit()).unwrap_or(lo.len()));
        digits.parse::<u64>().unwrap()
            << match unit {
                "K" => 10,
                "M" => 20,
                "G" => 30,
                _ => 0,
            }
    };
    labels.sort_by_key(|l| bound(l));
    labels.dedup();
    let (a, b) = (call_buckets(&ours, &labels), call_buckets(&theirs, &labels));
    assert_eq!(a.len(), 15, "15 calls: {ours:?}");
    assert_eq!(b.len(), 15, "15 calls: {theirs:?}");
    for (x, y) in a.iter().zip(&b) {
        assert!(x.abs_diff(*y) <= 1, "wprobe {ours:?} and bpftrace {theirs:?} differ by more than one bucket");
    }
    // The sleeps themselves: 5 calls each in [1M, 2M), [4M, 8M), [16M, 32M).
    for label in ["[1M, 2M)", "[4M, 8M)", "[16M, 32M)"] {
        assert_eq!(ours.iter().find(|(l, _)| l == label).map(|r| r.1), Some(5), "{label} in {ours:?}");
    }
}

#[test]
fn execsnoop_sees_the_same_execs_as_bpftrace() {
    require_root();
    let Some(bt) = bpftrace() else { return };
    let _s = serial();
    let dir = workload_dir("execsnoop-wprobe");
    let ours = names_under(&wprobe_tool("execsnoop", &["--tracepoint", "sched:sched_process_exec"], &dir), &dir);
    let dir_bt = workload_dir("execsnoop-bpftrace");
    let theirs = names_under(
        &bpftrace_tool(&bt, r#"tracepoint:sched:sched_process_exec { printf("%s\n", str(args->filename)); }"#, &dir_bt),
        &dir_bt,
    );
    assert_eq!(ours, ["exec-true"; 3]);
    assert_eq!(theirs, ours);
}
