//! Probe-time data end to end, as root on this kernel: memory captures, entry values and
//! latency in return probes, syscall probes (through the syscalls:* tracepoints here: this
//! kernel has no kprobes) and tracepoints, on tests/targets/wprobe_data.c and
//! tests/targets/wprobe_target.c. The kprobe paths run in the VM (`cargo xtask vm-test`).

use super::live::{assert_nothing_left, require_root, serial};
use super::*;
use std::path::PathBuf;
use std::sync::OnceLock;

fn data_target() -> &'static PathBuf {
    static TARGET: OnceLock<PathBuf> = OnceLock::new();
    TARGET.get_or_init(|| compile_target("wprobe_data"))
}

/// `pid P` as the data target prints it.
fn target_pid(stdout: &str) -> u32 {
    let line = stdout.lines().find(|l| l.starts_with("pid ")).unwrap_or_else(|| panic!("no pid line in {stdout}"));
    line[4..].trim().parse().unwrap()
}

/// Runs `wprobe run HANDLER ARGS…` and returns (stdout, stderr), asserting success.
fn run_ok(handler_name: &str, args: &[&str]) -> (String, String) {
    let h = handler(handler_name);
    let mut all = vec!["run", h.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = wprobe(&all);
    assert!(out.status.success(), "wprobe {all:?} failed:\n{}", stderr(&out));
    (stdout(&out), stderr(&out))
}

/// A file name no other process on the machine opens.
fn unusual_name(tag: &str) -> String {
    format!("/tmp/wprobe-{tag}-{}-ünïcode", std::process::id())
}

#[test]
fn opensnoop_sees_the_file_name_an_openat_was_given() {
    require_root();
    let _s = serial();
    let t = data_target().to_str().unwrap();
    let name = unusual_name("open");
    let (out, _) = run_ok("opensnoop", &["nd_syscall.openat", "-c", &format!("{t} open '{name}'")]);
    let pid = target_pid(&out);
    let line = out.lines().find(|l| l.ends_with(&name)).unwrap_or_else(|| panic!("no line for {name}:\n{out}"));
    assert_eq!(line, format!("{pid} wprobe_data 0o0 {name}"));
    assert_nothing_left();
}

#[test]
fn a_syscall_return_carries_the_entry_arguments_and_captures() {
    require_root();
    let _s = serial();
    let t = data_target().to_str().unwrap();
    let name = unusual_name("openret");
    // The spelling with flags and the SystemTap one are the same probe.
    for spec in [&["--syscall-return", "openat"][..], &["nd_syscall.openat.return"][..]] {
        let mut args = spec.to_vec();
        let cmd = format!("{t} open '{name}'");
        args.extend_from_slice(&["-c", &cmd]);
        let (out, _) = run_ok("opensnoop", &args);
        let pid = target_pid(&out);
        let line = out.lines().find(|l| l.contains(&name)).unwrap_or_else(|| panic!("no line for {name}:\n{out}"));
        assert_eq!(line, format!("{pid} wprobe_data 0o0 {name} = -2 (ENOENT)"));
    }
    assert_nothing_left();
}

#[test]
fn funclatency_shows_entry_arguments_and_a_latency_that_follows_the_call() {
    require_root();
    let _s = serial();
    let t = super::live::target().to_str().unwrap();
    let (out, _) = run_ok(
        "funclatency",
        &["--uretprobe", &format!("{t}:wprobe_target"), "--arg", "calls=1", "-c", &format!("echo | {t} 3 2")],
    );
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("process(")).collect();
    assert_eq!(lines.len(), 6, "3 calls on 2 threads:\n{out}");
    for l in &lines {
        assert!(l.contains(".return: (7, 0xdeadbeef, 16) = 23 in "), "{l}");
    }
    assert!(out.contains("6 calls, mean "), "{out}");

    // The latency is the call's: a function that sleeps 0 ms, then one that sleeps 60 ms.
    let d = data_target().to_str().unwrap();
    let latency = |ms: u32| -> u64 {
        let (out, _) = run_ok(
            "funclatency",
            &[
                "--uretprobe",
                &format!("{d}:wprobe_sleep"),
                "--arg",
                "args=1",
                "--arg",
                "calls=1",
                "-c",
                &format!("{d} sleep {ms}"),
            ],
        );
        let line = out.lines().find(|l| l.contains(".return: (")).unwrap_or_else(|| panic!("{out}"));
        assert!(line.contains(&format!(": ({ms}) = {ms} in ")), "{line}");
        line.rsplit(" in ").next().unwrap().trim_end_matches(" ns").parse().unwrap()
    };
    let (short, long) = (latency(0), latency(60));
    assert!(long >= 60_000_000, "slept 60 ms, measured {long} ns");
    assert!(short < long, "slept 0 ms: {short} ns, 60 ms: {long} ns");
    assert_nothing_left();
}

#[test]
fn recursive_calls_pair_each_return_with_its_own_entry() {
    require_root();
    let _s = serial();
    let d = data_target().to_str().unwrap();
    let (out, _) = run_ok(
        "funclatency",
        &[
            "--uretprobe",
            &format!("{d}:wprobe_recurse"),
            "--arg",
            "args=1",
            "--arg",
            "calls=1",
            "-c",
            &format!("{d} recurse 5"),
        ],
    );
    let lines: Vec<&str> = out.lines().filter(|l| l.contains(".return: (")).collect();
    assert_eq!(lines.len(), 5, "{out}");
    let mut last_latency = 0u64;
    // Innermost first: wprobe_recurse(1) returns 1, its caller (2) returns 2, ...
    for (i, l) in lines.iter().enumerate() {
        let n = i + 1;
        assert!(l.contains(&format!(": ({n}) = {n} in ")), "return {n} paired with another entry: {l}");
        let ns: u64 = l.rsplit(" in ").next().unwrap().trim_end_matches(" ns").parse().unwrap();
        assert!(ns >= last_latency, "an outer call ({ns} ns) cannot be shorter than the inner one ({last_latency} ns)");
        last_latency = ns;
    }
    assert_nothing_left();
}

#[test]
fn execsnoop_sees_a_known_command_through_a_tracepoint() {
    require_root();
    let _s = serial();
    let d = data_target().to_str().unwrap();
    for spec in ["kernel.trace(\"sched:sched_process_exec\")", "tracepoint:sched:sched_process_exec"] {
        let (out, _) = run_ok("execsnoop", &[spec, "-c", &format!("{d} open /")]);
        let pid = target_pid(&out);
        let canonical = std::fs::canonicalize(d).unwrap();
        let expected = format!("{pid} wprobe_data {}", canonical.display());
        assert!(
            out.lines().any(|l| l == expected || l == format!("{pid} wprobe_data {d}")),
            "no `{expected}` in\n{out}"
        );
    }
    assert_nothing_left();
}

#[test]
fn a_tracepoint_capture_follows_a_pointer_field() {
    require_root();
    let _s = serial();
    let d = data_target().to_str().unwrap();
    let name = unusual_name("tpfield");
    let (out, _) = run_ok(
        "captures",
        &[
            "--tracepoint",
            "syscalls:sys_enter_openat",
            "--arg",
            "cap=user,string,field:filename,256",
            "--arg",
            "readfield=filename",
            "--arg",
            "field=nope",
            "-c",
            &format!("{d} open '{name}'"),
        ],
    );
    let pid = target_pid(&out);
    let line = out.lines().find(|l| l.contains(&name)).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        line,
        format!(
            "{pid} *filename={name:?} nope: no tracepoint field \"nope\" (the fields are: __syscall_nr, dfd, filename, \
             flags, mode)"
        )
    );
    assert_nothing_left();
}

#[test]
fn faults_and_uncaptured_addresses_are_errors_not_values() {
    require_root();
    let _s = serial();
    let t = super::live::target().to_str().unwrap();
    let probe = format!("{t}:wprobe_target");
    let cmd = format!("echo | {t} 1 1");
    // wprobe_target(7, 0xdeadbeef, 16): 0xdeadbeef is not mapped; argument 1 is not captured;
    // a dereference of 7 faults at 7.
    let (out, _) = run_ok(
        "captures",
        &[
            "--uprobe",
            &probe,
            "--arg",
            "cap=user,string,arg2,16",
            "--arg",
            "read=arg2",
            "--arg",
            "read=arg1",
            "-c",
            &cmd,
        ],
    );
    let line = out.lines().find(|l| l.contains("arg2")).unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.ends_with(
            " arg2: reading memory at 0xdeadbeef faulted at probe time (a bad or paged-out address) \
         arg1: memory at 0x7 was not captured at probe time: add a capture of pointer_arg(1) in init"
        ),
        "{line}"
    );
    let (out, _) = run_ok(
        "captures",
        &["--uprobe", &probe, "--arg", "cap=user,bytes,arg1,8,0,0;8", "--arg", "read=arg1", "-c", &cmd],
    );
    assert!(out.contains(" arg1: reading memory at 0x7 faulted at probe time"), "{out}");
    assert_nothing_left();
}

#[test]
fn bad_captures_and_bad_tracepoints_fail_before_anything_is_attached() {
    require_root();
    let _s = serial();
    let t = super::live::target().to_str().unwrap();
    let probe = format!("{t}:wprobe_target");
    let cap = |spec: &str| -> String {
        let h = handler("captures");
        let out = wprobe(&["run", h.to_str().unwrap(), "--uprobe", &probe, "--arg", spec, "--duration", "1"]);
        assert!(!out.status.success(), "{spec} was accepted");
        stderr(&out)
    };
    assert!(cap("cap=user,string,arg2,5000").contains("its size is 5000; a capture takes 1 to 4096 bytes"));
    assert!(cap("cap=user,string,arg9,16").contains("argument 9 is not passed in a register"));
    assert!(cap("cap=user,string,ret,16").contains("the return value exists only in a return probe"));
    assert!(cap("cap=user,string,field:x,16").contains("only tracepoints have fields"));
    assert!(cap("cap=user,bytes,arg1,8,0,0;0;0;0;0").contains("dereferences 5 times; at most 4"));
    let over = cap("cap=user,string,arg1,4096");
    assert!(
        over.contains("more than the limit of 4096")
            && over.contains("capture 0 (user_string_n(pointer_arg(1), 4096))"),
        "{over}"
    );

    let run = |args: &[&str]| -> String {
        let h = handler("captures");
        let mut all = vec!["run", h.to_str().unwrap()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--duration", "1"]);
        let out = wprobe(&all);
        assert!(!out.status.success(), "{args:?} was accepted");
        stderr(&out)
    };
    let e = run(&["--tracepoint", "sched:sched_proces_exec"]);
    assert!(e.contains("sched_process_exec"), "a typo gets a suggestion: {e}");
    let e = run(&["--syscall", "opnat"]);
    assert!(e.contains("openat"), "a typo gets a suggestion: {e}");
    let e = run(&["--tracepoint", "sched:sched_process_exec", "--arg", "cap=user,string,field:nope,16"]);
    assert!(e.contains("the tracepoint has no field \"nope\""), "{e}");
    assert_nothing_left();
}

/// A background process (not wprobe's command) that opens files in a loop, for the scope
/// tests; killed when dropped.
struct Opener(std::process::Child);

impl Opener {
    fn start(tag: &str) -> (Opener, String) {
        let name = unusual_name(tag);
        let child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("while :; do cat '{name}' 2>/dev/null; sleep 0.01; done"))
            .spawn()
            .unwrap();
        (Opener(child), name)
    }
}

impl Drop for Opener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn with_a_command_only_its_process_tree_is_recorded_in_the_kernel() {
    require_root();
    let _s = serial();
    let d = data_target().to_str().unwrap();
    let (_opener, outsider) = Opener::start("outsider");
    let mine = unusual_name("insider");
    // The command forks (a subshell) before the target opens its file: children count.
    let cmd = format!("sleep 0.3; ( {d} open '{mine}' )");
    let (out, _) = run_ok("opensnoop", &["nd_syscall.openat", "-c", &cmd]);
    assert!(out.lines().any(|l| l.ends_with(&mine)), "the command's child is in scope:\n{out}");
    assert!(!out.contains(&outsider), "another process leaked into the command's scope:\n{out}");
    let (all, _) = run_ok("opensnoop", &["nd_syscall.openat", "--all-processes", "-c", &cmd]);
    assert!(all.contains(&outsider) && all.contains(&mine), "--all-processes sees everyone:\n{all}");
    // --comm keeps one command name, in the kernel too.
    let (comm, _) = run_ok("opensnoop", &["nd_syscall.openat", "--all-processes", "--comm", "wprobe_data", "-c", &cmd]);
    let lines: Vec<&str> = comm.lines().filter(|l| l.contains(" 0o")).collect();
    assert!(!lines.is_empty() && lines.iter().all(|l| l.split(' ').nth(1) == Some("wprobe_data")), "{comm}");
    assert_nothing_left();
}

#[test]
fn wprobe_does_not_see_itself_unless_asked() {
    require_root();
    let _s = serial();
    // A command named `wprobe` writes one line; every event makes wprobe print one, which is
    // a write by wprobe itself: an event only with --include-self.
    let fake = scratch_dir("self").join("wprobe");
    std::fs::copy(data_target(), &fake).unwrap();
    let run = |extra: &[&str]| -> (u32, String) {
        let h = handler("tcp_connect");
        let cmd = format!("{} open /", fake.display());
        let mut args = vec!["run", h.to_str().unwrap(), "--syscall", "write", "--all-processes", "--comm", "wprobe"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--max-events", "20", "--duration", "3", "-c", &cmd]);
        let child = std::process::Command::new(wprobe_bin())
            .args(&args)
            .env("WPROBE_CACHE_DIR", scratch_dir("cache"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        (pid, stdout(&out))
    };
    let own = |pid: u32, out: &str| {
        out.lines().filter(|l| l.starts_with("nd_syscall.write, ") && l.contains(&format!(", {pid}, "))).count()
    };
    let (pid, out) = run(&[]);
    assert_eq!(own(pid, &out), 0, "wprobe saw its own writes:\n{out}");
    assert!(out.lines().any(|l| l.starts_with("nd_syscall.write, ")), "the command's write is seen:\n{out}");
    let (pid, out) = run(&["--include-self"]);
    assert!(own(pid, &out) > 0, "--include-self shows wprobe's own writes:\n{out}");
    assert_nothing_left();
}
