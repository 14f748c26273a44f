//! Every way a live run stops, as root with uprobes on tests/targets/wprobe_target.c: the
//! events file is complete and holds every event wprobe read (replayed, it gives the
//! summary's counts), the `-c` command's process group is gone, wprobe's kernel objects are
//! gone, and the stop is reported as what it was.

use super::live::{require_root, serial, target, target_ids, Wprobe};
use super::*;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

/// A generous bound on any run here: a run that does not stop is a failure, not a hang.
const LIMIT: Duration = Duration::from_secs(60);

/// The counters of wprobe's summary line.
#[derive(Debug)]
struct Summary {
    seen: u64,
    handled: u64,
    dropped: u64,
    lost: u64,
}

fn number_before(line: &str, words: &str) -> Option<u64> {
    let at = line.find(words)?;
    line[..at].split_whitespace().last()?.trim_start_matches('(').parse().ok()
}

fn summary(out: &Output) -> Summary {
    let err = stderr(out);
    let line = err
        .lines()
        .find(|l| l.starts_with("wprobe: ") && l.contains(" events seen, "))
        .unwrap_or_else(|| panic!("no summary line in:\n{err}"));
    Summary {
        seen: number_before(line, " events seen").unwrap(),
        handled: number_before(line, " handled").unwrap(),
        dropped: number_before(line, " dropped at stop").unwrap_or(0),
        lost: number_before(line, " lost").unwrap(),
    }
}

/// Replays `file` with the count handler; the file must be complete. Returns the events
/// and lost events replayed.
fn replay_complete(file: &Path) -> (u64, u64) {
    let out = wprobe(&["replay", handler("count").to_str().unwrap(), file.to_str().unwrap()]);
    assert!(out.status.success(), "{} is not a complete events file: {}", file.display(), stderr(&out));
    replayed(&out)
}

/// "replayed N events (L lost)" from a replay's stderr.
fn replayed(out: &Output) -> (u64, u64) {
    let err = stderr(out);
    let line = err.lines().find(|l| l.starts_with("wprobe: replayed ")).unwrap_or_else(|| panic!("{err}"));
    (number_before(line, " events").unwrap(), number_before(line, " lost").unwrap())
}

/// The `-c` command of these tests: says its process group, then becomes the target, which
/// waits for the go-ahead on stdin.
fn command(calls: u64, threads: u32) -> String {
    format!("echo group $$; exec {} {calls} {threads}", target().display())
}

/// The group id the command said.
fn group(out: &Output) -> i32 {
    let text = stdout(out);
    let line = text.lines().find_map(|l| l.strip_prefix("group ")).unwrap_or_else(|| panic!("no group in {text}"));
    line.trim().parse().unwrap()
}

fn assert_group_gone(out: &Output) {
    let members = wprobe::run::group_members(group(out));
    assert!(members.is_empty(), "processes of the -c command still run after wprobe: {members:?}");
}

fn events_file(name: &str) -> PathBuf {
    let path = scratch_dir("stops").join(format!("{name}.events"));
    let _ = std::fs::remove_file(&path);
    path
}

/// Runs `wprobe run HANDLER --uprobe TARGET --record FILE EXTRA… -c CMD`, lets the target
/// go, and waits for the end. Checks what holds for every stop: the exit status, the
/// reason, the command's group and the kernel objects gone, and a complete events file
/// holding every event seen.
fn stop_path(name: &str, handler_name: &str, extra: &[&str], cmd: &str, code: i32, reason: &str) -> (Output, Summary) {
    let file = events_file(name);
    let mut args = vec![
        "run".to_string(),
        handler(handler_name).display().to_string(),
        "--uprobe".into(),
        format!("{}:wprobe_target", target().display()),
        "--record".into(),
        file.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["-c".to_string(), cmd.to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut w = Wprobe::attached(&args);
    w.go();
    let out = w.finish(LIMIT);
    check_stop(name, &out, &file, code, reason)
}

fn check_stop(name: &str, out: &Output, file: &Path, code: i32, reason: &str) -> (Output, Summary) {
    assert_eq!(out.status.code(), Some(code), "{name}: {}", stderr(out));
    assert!(stderr(out).contains(reason), "{name}: expected {reason:?} in\n{}", stderr(out));
    assert!(!stderr(out).contains("thread '"), "{name}: wprobe panicked: {}", stderr(out));
    assert_group_gone(out);
    let s = summary(out);
    assert!(s.seen > 0, "{name}: {s:?}");
    assert_eq!(replay_complete(file), (s.seen, s.lost), "{name}: the file holds every event seen: {s:?}");
    (out.clone(), s)
}

#[test]
fn stop_by_a_handler_trap_keeps_the_events_file() {
    require_root();
    let _s = serial();
    let (out, _) =
        stop_path("trap", "trap", &["--arg", "n=5"], &command(100, 2), 1, "unreachable (panic) in handle-batch");
    assert!(stderr(&out).contains("trap test handler: reached event 5"), "{}", stderr(&out));
}

#[test]
fn stop_by_the_cpu_limit_keeps_the_events_file() {
    require_root();
    let _s = serial();
    stop_path("cpu", "spin", &["--cpu-limit-ms", "50"], &command(10, 1), 1, "CPU limit of 50 ms per call exceeded");
}

#[test]
fn stop_by_the_memory_limit_keeps_the_events_file() {
    require_root();
    let _s = serial();
    stop_path("memory", "membomb", &["--memory-limit", "16M"], &command(10, 1), 1, "memory limit of 16 MiB exceeded");
}

#[test]
fn stop_by_the_output_limit_keeps_the_events_file() {
    require_root();
    let _s = serial();
    stop_path(
        "output",
        "flood",
        &["--output-limit", "64K"],
        &command(10, 1),
        1,
        "output limit of 65536 bytes per call exceeded",
    );
}

#[test]
fn stop_by_a_handler_error_keeps_the_events_file() {
    require_root();
    let _s = serial();
    stop_path("error", "access_error", &[], &command(10, 1), 1, "error returned in handle-batch");
}

#[test]
fn stop_by_exit_keeps_the_events_file() {
    require_root();
    let _s = serial();
    // The target would call for minutes: only exit() can end this run.
    let cmd = command(100_000_000, 1);
    let (out, s) =
        stop_path("exit", "count", &["--arg", "exit_after=5"], &cmd, 0, "stopped: the handler called exit()");
    // The batch in progress is finished, then the end hook runs.
    assert!(s.handled >= 5 && stdout(&out).contains(&format!("total: {}\n", s.handled)), "{}", stdout(&out));
}

#[test]
fn stop_by_max_events_keeps_the_events_file() {
    require_root();
    let _s = serial();
    let (out, s) = stop_path("max", "count", &["--max-events", "7"], &command(100, 2), 0, "stopped: --max-events");
    assert!(stdout(&out).contains("total: 7\n"), "{}", stdout(&out));
    assert_eq!(s.seen, 7);
}

#[test]
fn stop_by_duration_keeps_the_events_file() {
    require_root();
    let _s = serial();
    stop_path("duration", "count", &["--duration", "1s"], &command(100_000_000, 1), 0, "stopped: --duration reached");
}

#[test]
fn stop_by_the_commands_exit_keeps_the_events_file() {
    require_root();
    let _s = serial();
    let (out, s) = stop_path("command", "count", &[], &command(20, 2), 0, "stopped: the command exited with status 0");
    assert!(stdout(&out).contains("total: 40\n"), "{}", stdout(&out));
    assert_eq!((s.seen, s.handled, s.lost), (40, 40, 0));
}

/// SIGINT and SIGTERM during a flood: the run stops, the end hook runs, the file is whole.
#[test]
fn stop_by_sigint_and_sigterm_keeps_the_events_file() {
    require_root();
    let _s = serial();
    for sig in ["INT", "TERM"] {
        let file = events_file(&format!("sig{sig}"));
        let mut w = Wprobe::attached(&[
            "run",
            handler("count").to_str().unwrap(),
            "--uprobe",
            &format!("{}:wprobe_target", target().display()),
            "--record",
            file.to_str().unwrap(),
            "-c",
            &command(100_000_000, 1),
        ]);
        w.go();
        std::thread::sleep(Duration::from_millis(300));
        w.signal(sig);
        let out = w.finish(LIMIT);
        let (out, s) = check_stop(sig, &out, &file, 0, "stopped: interrupted");
        assert!(stdout(&out).contains(&format!("total: {}\n", s.handled)), "the end hook ran: {}", stdout(&out));
    }
}

/// A handler far slower than the events: Ctrl-C still stops the run after at most the
/// handler call in progress (the ring is full all along, which used to starve the signal),
/// and the summary says what was read but not handled.
#[test]
fn sigint_stops_promptly_under_a_flood_with_a_slow_handler() {
    require_root();
    let _s = serial();
    let file = events_file("slow");
    let mut w = Wprobe::attached(&[
        "run",
        handler("slow").to_str().unwrap(),
        "--uprobe",
        &format!("{}:wprobe_target", target().display()),
        "--record",
        file.to_str().unwrap(),
        "-c",
        &command(100_000_000, 1),
    ]);
    w.go();
    // Long enough for the ring to fill: the handler takes about a millisecond an event.
    std::thread::sleep(Duration::from_secs(1));
    w.signal("INT");
    // The target would call for many minutes: stopping at all within the bound is the point.
    let out = w.finish(Duration::from_secs(30));
    let (out, s) = check_stop("slow", &out, &file, 0, "stopped: interrupted");
    assert!(stdout(&out).contains(&format!("slow: {} events\n", s.handled)), "{}", stdout(&out));
    assert!(s.dropped > 0, "the ring was full at the stop: {s:?}");
    assert_eq!(s.seen, s.handled + s.dropped, "{s:?}");
    assert!(stderr(&out).contains(&format!("{} dropped at stop", s.dropped)), "{}", stderr(&out));
}

/// A second Ctrl-C while the handler is busy: wprobe stops at once, skipping the end hook,
/// says so, and still leaves a complete events file and no command behind.
#[test]
fn a_second_sigint_stops_at_once() {
    require_root();
    let _s = serial();
    let file = events_file("second");
    let mut w = Wprobe::attached(&[
        "run",
        handler("slow").to_str().unwrap(),
        // Each event takes many seconds: the first signal has to wait for the call.
        "--arg",
        "spins=100000000000",
        "--cpu-limit-ms",
        "600000",
        "--uprobe",
        &format!("{}:wprobe_target", target().display()),
        "--record",
        file.to_str().unwrap(),
        "-c",
        &command(100_000_000, 1),
    ]);
    w.go();
    std::thread::sleep(Duration::from_millis(500));
    w.signal("INT");
    std::thread::sleep(Duration::from_millis(200));
    w.signal("INT");
    let out = w.finish(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(wprobe::run::ABORT_STATUS), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("stopped at once, the end hook skipped"), "{err}");
    assert!(err.contains(&format!("{} is complete", file.display())), "{err}");
    assert!(!stdout(&out).contains("slow:"), "the end hook did not run: {}", stdout(&out));
    assert_group_gone(&out);
    let (events, _) = replay_complete(&file);
    assert!(events > 0, "the batch in the handler was recorded");
}

/// stdout that cannot be written (a full disk): one clear error, the run stopped cleanly.
#[test]
fn stop_by_a_stdout_write_error_keeps_the_events_file() {
    require_root();
    let _s = serial();
    let file = events_file("stdout");
    let mut w = Wprobe::attached_with(
        &[
            "run",
            handler("tcp_connect").to_str().unwrap(),
            "--uprobe",
            &format!("{}:wprobe_target", target().display()),
            "--record",
            file.to_str().unwrap(),
            "-c",
            &format!("exec {} 100 1", target().display()),
        ],
        std::fs::File::options().write(true).open("/dev/full").unwrap().into(),
    );
    w.go();
    let out = w.finish(LIMIT);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("No space left on device").count(), 1, "said once: {err}");
    assert!(err.contains("wprobe: error: cannot write output"), "{err}");
    let s = summary(&out);
    assert_eq!(replay_complete(&file), (s.seen, s.lost));
}

/// `wprobe … | head -1`: the reader goes away; wprobe ends quietly with status 0, still
/// detaching, ending the command and finishing the events file.
#[test]
fn a_closed_output_pipe_ends_the_run_quietly() {
    require_root();
    let _s = serial();
    let file = events_file("pipe");
    let mut w = Wprobe::attached(&[
        "run",
        handler("tcp_connect").to_str().unwrap(),
        "--uprobe",
        &format!("{}:wprobe_target", target().display()),
        "--record",
        file.to_str().unwrap(),
        "-c",
        &command(100_000_000, 1),
    ]);
    let mut reader = std::io::BufReader::new(w.child.stdout.take().unwrap());
    w.go();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut reader, &mut first).unwrap();
    // The target's own line too: it must not be the one that finds the pipe closed.
    let mut second = String::new();
    std::io::BufRead::read_line(&mut reader, &mut second).unwrap();
    assert!(second.starts_with("pid "), "{second}");
    let pgid: i32 = first.strip_prefix("group ").unwrap_or_else(|| panic!("{first}")).trim().parse().unwrap();
    drop(reader);
    let out = w.finish(LIMIT);
    assert!(wprobe::run::group_members(pgid).is_empty(), "the command still runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains("error") && !err.contains("thread '"), "{err}");
    assert!(err.contains("stopped: the output was closed"), "{err}");
    let s = summary(&out);
    assert_eq!(replay_complete(&file), (s.seen, s.lost));
}

/// `--pid PID` ends the run when that process exits, as `bpftrace -p`.
#[test]
fn pid_ends_the_run_when_the_process_exits() {
    require_root();
    let _s = serial();
    let mut t = std::process::Command::new(target())
        .args(["10", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    // Kept open: the target prints its sum at the end.
    let mut t_out = std::io::BufReader::new(t.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut t_out, &mut line).unwrap();
    let (pid, _, _) = target_ids(&line);
    let w = Wprobe::attached(&[
        "run",
        handler("count").to_str().unwrap(),
        "--uprobe",
        &format!("{}:wprobe_target", target().display()),
        "--pid",
        &pid.to_string(),
    ]);
    std::io::Write::write_all(t.stdin.as_mut().unwrap(), b"go\n").unwrap();
    assert!(t.wait().unwrap().success());
    let out = w.finish(LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("stopped: process {pid} exited")), "{}", stderr(&out));
    assert!(stdout(&out).contains("total: 10\n"), "{}", stdout(&out));
}

#[test]
fn pid_of_no_process_fails_up_front() {
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let pid = gone.id().to_string();
    let out = wprobe(&[
        "run",
        handler("count").to_str().unwrap(),
        "--uprobe",
        &format!("{}:wprobe_target", target().display()),
        "--pid",
        &pid,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("no process {pid}")), "{}", stderr(&out));
}

/// The command's whole process group ends with the run: a background child too, and one
/// that ignores SIGTERM (SIGKILL after the grace period).
#[test]
fn the_commands_process_group_ends_with_the_run() {
    require_root();
    let _s = serial();
    let t = target().display().to_string();
    for cmd in [
        format!("sleep 1000 & echo group $$; exec {t} 100000000 1"),
        format!("trap '' TERM; sleep 1000 & echo group $$; exec {t} 100000000 1"),
    ] {
        let mut w = Wprobe::attached(&[
            "run",
            handler("count").to_str().unwrap(),
            "--uprobe",
            &format!("{t}:wprobe_target"),
            "--max-events",
            "3",
            "-c",
            &cmd,
        ]);
        w.go();
        let out = w.finish(LIMIT);
        assert!(out.status.success(), "{cmd}: {}", stderr(&out));
        assert_group_gone(&out);
    }
}

/// A full disk while recording: one clear error, the probes detached, the command ended,
/// and the file readable up to its last complete frame.
#[test]
fn a_full_disk_stops_the_recording_with_one_clear_error() {
    require_root();
    let _s = serial();
    let mnt = Tmpfs::mount("full", "64k");
    let file = mnt.0.join("x.events");
    let mut w = Wprobe::attached(&[
        "record",
        "--uprobe",
        &format!("{}:wprobe_target", target().display()),
        "-o",
        file.to_str().unwrap(),
        "-c",
        &command(100_000_000, 1),
    ]);
    w.go();
    let out = w.finish(LIMIT);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("wprobe: error")).collect();
    assert_eq!(errors.len(), 1, "one error: {err}");
    assert!(errors[0].contains(&format!("cannot write the events file {}", file.display())), "{err}");
    assert_eq!(err.matches("No space left on device").count(), 1, "{err}");
    assert_group_gone(&out);
    // Replay handles every complete event, then names the truncation.
    let replay = wprobe(&["replay", handler("count").to_str().unwrap(), file.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(1));
    assert!(stderr(&replay).contains("truncated"), "{}", stderr(&replay));
    let (events, _) = replayed(&replay);
    assert!(events > 100, "{}", stderr(&replay));
    assert!(stdout(&replay).contains(&format!("total: {events}\n")), "{}", stdout(&replay));
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Tmpfs {
        let dir = scratch_dir(name).join("mnt");
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "wprobe-test"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "cannot mount a tmpfs on {}", dir.display());
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Record a crash, replay it: the file recorded by a run whose handler faulted replays into
/// the same handler as the very same fault report (same batch, same event, same cause).
#[test]
fn a_recorded_fault_replays_as_the_same_fault() {
    require_root();
    let _s = serial();
    let cases: [(&str, &[&str], String); 3] = [
        // Paced calls (200 a second) make many small live batches: event 5 is in a later
        // batch, which replay must rebuild from the file.
        ("trap", &["--arg", "n=5"], format!("echo group $$; exec {} 20 1 200", target().display())),
        ("spin", &["--cpu-limit-ms", "50"], command(3, 1)),
        ("access_error", &["--arg", "what=register"], command(3, 2)),
    ];
    for (name, extra, cmd) in cases {
        let (live, _) = stop_path(&format!("crash-{name}"), name, extra, &cmd, 1, "wprobe: error: ");
        let file = scratch_dir("stops").join(format!("crash-{name}.events"));
        let h = handler(name);
        let mut args = vec!["replay", h.to_str().unwrap(), file.to_str().unwrap()];
        args.extend_from_slice(extra);
        let replay = wprobe(&args);
        assert_eq!(replay.status.code(), Some(1), "{name}: {}", stderr(&replay));
        let (live_err, replay_err) = (stderr(&live), stderr(&replay));
        let (a, b) = (fault_report(&live_err), fault_report(&replay_err));
        assert!(a.contains(" in handle-batch (batch "), "{name}: {a}");
        assert_eq!(a, b, "{name}: the replayed fault differs from the live one");
        if name == "trap" {
            assert!(!a.contains("(batch 1)"), "the live run made several batches: {a}");
        }
        // A panic names its event in the SDK's warning, before the report.
        let warnings =
            |err: &str| err.lines().filter(|l| l.starts_with("WARNING: ")).map(String::from).collect::<Vec<_>>();
        assert_eq!(warnings(&live_err), warnings(&replay_err), "{name}");
    }
}

/// From "handler NAME stopped …" to the end: the report of the last error.
fn fault_report(stderr: &str) -> &str {
    let last = &stderr[stderr.rfind("wprobe: error: ").unwrap_or_else(|| panic!("no error in {stderr}"))..];
    &last[last.find("handler ").unwrap_or_else(|| panic!("no fault report in {last}"))..]
}
