//! The classic tools side by side with bpftrace's one-liners (Debian's bpftrace, which
//! `.ci/setup` installs), on one deterministic workload (tests/targets/wprobe_workload.c):
//! the same file names, the same per-syscall counts, the same latency buckets, the same
//! exec'd names. As root; where bpftrace is missing the tests say so and pass.
//!
//! Latency rule: a call near a bucket edge may land in the neighbouring bucket in one tool
//! and not the other (the two take their timestamps a few hundred ns apart), so the sorted
//! bucket of every call may differ by at most one bucket between the tools. The workload's
//! sleeps sit in the middle of their buckets, so on a quiet machine they agree exactly.

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

/// A fresh directory for one run of the workload, short enough for bpftrace's 64-byte
/// strings.
fn workload_dir(tag: &str) -> PathBuf {
    let dir = PathBuf::from(format!("/tmp/wpw-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `'text'` for /bin/sh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// One run of the workload watched by both tools at once, so that they see the very same
/// calls: `wprobe run TOOL.wasm ARGS… -o OURS -c "bpftrace -e PROGRAM -o THEIRS -c 'WORKLOAD
/// DIR'"` (wprobe's -c scope is bpftrace's process tree, the workload included). Returns
/// (wprobe's output, bpftrace's output).
fn side_by_side(tool: &str, args: &[&str], bpftrace: &Path, program: &str, dir: &Path) -> (String, String) {
    let (ours, theirs) = (dir.with_extension("wprobe"), dir.with_extension("bpftrace"));
    let inner = format!("{} {}", workload().display(), dir.display());
    let cmd = format!("{} -e {} -o {} -c {}", bpftrace.display(), quote(program), theirs.display(), quote(&inner));
    let h = handler(tool);
    let mut all = vec!["run", h.to_str().unwrap()];
    all.extend_from_slice(args);
    let ours_path = ours.display().to_string();
    all.extend_from_slice(&["-o", &ours_path, "-c", &cmd]);
    let out = wprobe(&all);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    assert!(
        out.status.success() && stderr(&out).contains("the command exited with status 0"),
        "wprobe {all:?} failed:\n{}\n{}\nbpftrace wrote:\n{}",
        stdout(&out),
        stderr(&out),
        read(&theirs)
    );
    (read(&ours), read(&theirs))
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
    let dir = workload_dir("open");
    let (ours, theirs) = side_by_side(
        "opensnoop",
        &["--syscall", "openat"],
        &bt,
        r#"tracepoint:syscalls:sys_enter_openat /pid == cpid/ { printf("%s\n", str(args->filename)); }"#,
        &dir,
    );
    let (ours, theirs) = (names_under(&ours, &dir), names_under(&theirs, &dir));
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
    let dir = workload_dir("sysc");
    // Both count the processes called wprobe_workload: the workload, and its children until
    // they exec (wprobe in the kernel with --comm, bpftrace with its predicate).
    let (ours, theirs) = side_by_side(
        "syscount",
        &["--tracepoint", "raw_syscalls:sys_enter", "--comm", "wprobe_workload", "--arg", "top=0"],
        &bt,
        r#"tracepoint:raw_syscalls:sys_enter /comm == "wprobe_workload"/ { @[args->id] = count(); }"#,
        &dir,
    );
    let ours = map_lines(&ours, "@total");
    let theirs: BTreeMap<String, u64> = map_lines(&theirs, "@")
        .into_iter()
        .map(|(id, n)| (wprobe_common::syscalls::name(Arch::X86_64, id.parse().unwrap()).unwrap().to_owned(), n))
        .collect();
    assert_eq!(ours.get("getsid"), Some(&37), "{ours:?}");
    assert_eq!(ours.get("sched_yield"), Some(&11), "{ours:?}");
    assert_eq!(ours, theirs, "wprobe's counts, then bpftrace's");
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
    let dir = workload_dir("lat");
    let (ours, theirs) = side_by_side(
        "funclatency",
        &["--uretprobe", &format!("{w}:workload_sleep")],
        &bt,
        &format!(
            "uprobe:{w}:workload_sleep {{ @s[tid] = nsecs; }} \
             uretprobe:{w}:workload_sleep /@s[tid]/ {{ @ns = hist(nsecs - @s[tid]); delete(@s[tid]); }} \
             END {{ clear(@s); }}"
        ),
        &dir,
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
    // The sleeps themselves (1.5 to 24 ms; longer on a busy machine): from [1M, 2M) up.
    assert!(a.iter().chain(&b).all(|&i| bound(&labels[i]) >= 1 << 20), "{ours:?} {theirs:?}");
}

#[test]
fn execsnoop_sees_the_same_execs_as_bpftrace() {
    require_root();
    let Some(bt) = bpftrace() else { return };
    let _s = serial();
    let dir = workload_dir("exec");
    let (ours, theirs) = side_by_side(
        "execsnoop",
        &["--tracepoint", "sched:sched_process_exec"],
        &bt,
        r#"tracepoint:sched:sched_process_exec { printf("%s\n", str(args->filename)); }"#,
        &dir,
    );
    let (ours, theirs) = (names_under(&ours, &dir), names_under(&theirs, &dir));
    assert_eq!(ours, ["exec-true"; 3]);
    assert_eq!(theirs, ours);
}
