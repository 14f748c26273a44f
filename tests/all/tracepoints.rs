//! `wprobe list 'tracepoint:…'` and `wprobe list --fields` on this machine's real tracefs,
//! as root. Mounting is tested in a private mount namespace (`unshare -m`), so unmounting
//! tracefs there never disturbs anyone else on the machine.

use super::*;
use std::process::Command;
use wprobe::live::tracefs::Tracefs;

fn require_root() {
    let out = Command::new("id").arg("-u").output().expect("cannot run id");
    assert_eq!(stdout(&out).trim(), "0", "the tracepoint tests read tracefs: run them as root (CI does)");
}

/// The live tracefs, as the tests' ground truth.
fn tracefs() -> Tracefs {
    require_root();
    Tracefs::open().expect("cannot open tracefs")
}

/// Splits a `--fields` row into its columns (separated by two or more spaces).
fn columns(row: &str) -> Vec<String> {
    row.trim().split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_string).collect()
}

/// Runs `script` with `sh` in a private mount namespace where no tracefs is mounted, with
/// `$WPROBE` set to the binary.
fn without_tracefs(script: &str) -> std::process::Output {
    require_root();
    let unmount =
        "for m in $(awk '$3 == \"tracefs\" || $3 == \"debugfs\" { print $2 }' /proc/self/mounts | sort -r); do \
                   umount -l \"$m\" || exit 99; done; \
                   if grep -q tracefs /proc/self/mounts; then exit 98; fi";
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &format!("{unmount}; {script}")])
        .env("WPROBE", wprobe_bin())
        .output()
        .expect("cannot run unshare")
}

#[test]
fn lists_a_category_as_probe_specs() {
    let t = tracefs();
    let mut want: Vec<String> = std::fs::read_dir(t.root().join("events/sched"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| format!("tracepoint:sched:{}", e.file_name().to_str().unwrap()))
        .collect();
    want.sort();
    let out = wprobe(&["list", "tracepoint:sched:*"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(got, want);
    assert!(got.contains(&"tracepoint:sched:sched_process_exec".to_string()));
}

#[test]
fn systemtap_and_bpftrace_spellings_list_the_same() {
    require_root();
    let a = wprobe(&["list", "tracepoint:sched:sched_process_*"]);
    let b = wprobe(&["list", "kernel.trace(\"sched:sched_process_*\")"]);
    assert!(a.status.success() && b.status.success(), "{}{}", stderr(&a), stderr(&b));
    assert_eq!(stdout(&a), stdout(&b));
    assert!(stdout(&a).lines().any(|l| l == "tracepoint:sched:sched_process_exec"), "{}", stdout(&a));
    assert!(stdout(&a).lines().all(|l| l.starts_with("tracepoint:sched:sched_process_")), "{}", stdout(&a));
    // A bare name finds its category, as SystemTap's kernel.trace("NAME").
    let c = wprobe(&["list", "kernel.trace(\"sched_switch\")"]);
    assert_eq!(stdout(&c), "tracepoint:sched:sched_switch\n", "{}", stderr(&c));
}

#[test]
fn listed_specs_paste_back() {
    require_root();
    let out = wprobe(&["list", "tracepoint:syscalls:sys_exit_openat*"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for spec in stdout(&out).lines() {
        let f = wprobe(&["list", "--fields", spec]);
        assert!(f.status.success(), "{spec}: {}", stderr(&f));
        assert!(stdout(&f).starts_with(&format!("{spec} (ID ")), "{}", stdout(&f));
    }
}

#[test]
fn fields_of_sys_enter_openat() {
    let t = tracefs();
    let id = std::fs::read_to_string(t.root().join("events/syscalls/sys_enter_openat/id")).unwrap();
    let out = wprobe(&["list", "--fields", "syscalls:sys_enter_openat"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("tracepoint:syscalls:sys_enter_openat (ID {})", id.trim()));
    assert_eq!(columns(lines[1]), ["FIELD", "TYPE", "OFFSET", "SIZE", "SIGNED", "KIND"]);
    let rows: Vec<Vec<String>> = lines[2..].iter().map(|l| columns(l)).collect();
    let want = [
        ["__syscall_nr", "int", "8", "4", "yes", "signed integer"],
        ["dfd", "int", "16", "8", "no", "unsigned integer"],
        ["filename", "const char *", "24", "8", "no", "unsigned integer"],
        ["flags", "int", "32", "8", "no", "unsigned integer"],
        ["mode", "umode_t", "40", "8", "no", "unsigned integer"],
    ];
    assert_eq!(rows, want, "{text}");
    assert!(!text.contains("common_"), "common fields are not shown");
}

#[test]
fn fields_show_strings_and_arrays() {
    require_root();
    let out = wprobe(&["list", "--fields", "tracepoint:sched:sched_process_exec"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let filename = text.lines().find(|l| l.trim_start().starts_with("filename")).unwrap();
    assert_eq!(columns(filename), ["filename", "__data_loc char[]", "8", "4", "no", "dynamic string"]);
    let out = wprobe(&["list", "--fields", "sched:sched_switch"]);
    let comm = stdout(&out).lines().find(|l| l.trim_start().starts_with("prev_comm")).unwrap().to_string();
    assert_eq!(columns(&comm), ["prev_comm", "char[16]", "8", "16", "no", "char array"]);
    // A glob shows every match, one block each.
    let out = wprobe(&["list", "--fields", "syscalls:sys_e*_openat"]);
    let text = stdout(&out);
    let heads: Vec<&str> =
        text.lines().filter(|l| l.starts_with("tracepoint:")).map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(heads, ["tracepoint:syscalls:sys_enter_openat", "tracepoint:syscalls:sys_exit_openat"]);
}

#[test]
fn unknown_tracepoints_fail_with_close_matches() {
    require_root();
    let out = wprobe(&["list", "--fields", "sched:sched_proces_exec"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("wprobe: error: no tracepoint `sched:sched_proces_exec` in this kernel (did you mean sched:sched_process_exec"),
        "{}",
        stderr(&out)
    );
    let out = wprobe(&["list", "tracepoint:schd:*"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no tracepoint matches `schd:*` (did you mean sched:*"), "{}", stderr(&out));
    let out = wprobe(&["list", "kernel.trace(\"sched sched_switch\")"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not a tracepoint; expected CAT:NAME"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_plain_module_pattern_is_still_kernel_functions() {
    require_root();
    // `sched:*` without the prefix means kernel module `sched`, as before: no tracepoints.
    let out = wprobe(&["list", "sched:*"]);
    assert!(!stdout(&out).contains("tracepoint:"), "{}", stdout(&out));
}

#[test]
fn mounts_tracefs_when_nothing_has_and_says_so() {
    let out = without_tracefs("\"$WPROBE\" list tracepoint:sched:sched_switch && grep -c tracefs /proc/self/mounts");
    assert!(out.status.success(), "status {:?}: {}", out.status, stderr(&out));
    assert_eq!(stderr(&out), "wprobe: mounted tracefs at /sys/kernel/tracing\n");
    assert_eq!(stdout(&out), "tracepoint:sched:sched_switch\n1\n", "listed, and tracefs left mounted");
}

#[test]
fn without_root_mounting_fails_with_the_reason() {
    let out =
        without_tracefs("exec setpriv --reuid 65534 --regid 65534 --clear-groups \"$WPROBE\" list tracepoint:sched:*");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("tracefs is not mounted, and mounting it at /sys/kernel/tracing failed"), "{err}");
    assert!(err.contains("mounting needs root (CAP_SYS_ADMIN)"), "{err}");
}

#[test]
fn without_root_a_mounted_tracefs_says_it_needs_root() {
    let out = without_tracefs(
        "mount -t tracefs nodev /sys/kernel/tracing && \
         exec setpriv --reuid 65534 --regid 65534 --clear-groups \"$WPROBE\" list --fields sched:sched_switch",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("tracefs is readable by root only; run wprobe as root"), "{}", stderr(&out));
}

#[test]
fn finds_tracefs_mounted_elsewhere_without_mounting_it_again() {
    let dir = scratch_dir("tracefs-elsewhere");
    let out = without_tracefs(&format!(
        "mount -t tracefs nodev '{}' && \"$WPROBE\" list tracepoint:sched:sched_switch && \
         grep -c ' /sys/kernel/tracing ' /proc/self/mounts",
        dir.display()
    ));
    assert_eq!(stderr(&out), "", "no mount message");
    // grep counts 0 mounts at /sys/kernel/tracing, and exits 1 for it.
    assert_eq!(stdout(&out), "tracepoint:sched:sched_switch\n0\n");
}

#[test]
fn finds_tracefs_under_debugfs() {
    let out = without_tracefs(
        "mount -t debugfs nodev /sys/kernel/debug && \"$WPROBE\" list --fields sched:sched_process_exec && \
         grep -c ' /sys/kernel/tracing ' /proc/self/mounts",
    );
    assert_eq!(stderr(&out), "", "no mount message");
    let text = stdout(&out);
    assert!(text.starts_with("tracepoint:sched:sched_process_exec (ID "), "{text}");
    assert!(text.ends_with("\n0\n"), "nothing mounted at /sys/kernel/tracing: {text}");
}
