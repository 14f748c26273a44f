//! `wprobe run` and `wprobe record` end to end on this kernel, as root: uprobes on
//! tests/targets/wprobe_target.c, which calls wprobe_target(7, 0xdeadbeef, 16) → 23.

use super::*;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};
use wprobe::live::KernelObjects;

/// Live tests of this binary run one at a time: several floods at once would only slow
/// each other down on two cores.
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc_geteuid() };
    assert_eq!(euid, 0, "the live tests attach uprobes: run them as root (CI does)");
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// The target, compiled once per test run.
pub(crate) fn target() -> &'static PathBuf {
    static TARGET: OnceLock<PathBuf> = OnceLock::new();
    TARGET.get_or_init(|| compile_target("wprobe_target"))
}

/// `pid P main-tid T1 thread-tid T2` as the target prints it.
pub(crate) fn target_ids(stdout: &str) -> (u32, u32, u32) {
    let line = stdout.lines().find(|l| l.starts_with("pid ")).unwrap_or_else(|| panic!("no pid line in {stdout}"));
    let f: Vec<u32> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (f[0], f[1], f[2])
}

/// No wprobe program is loaded any more. The kernel frees a program after its last link
/// asynchronously (a uprobe multi link after an RCU tasks-trace grace period), so this
/// polls for a while rather than looking once.
pub(super) fn assert_nothing_left() {
    let start = std::time::Instant::now();
    loop {
        let left = wprobe::live::loaded_wprobe_programs().unwrap();
        if left.is_empty() {
            return;
        }
        assert!(start.elapsed().as_secs() < 10, "wprobe programs still loaded after exit: {left:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A `wprobe` process started by a test, with what it holds in the kernel. Other people's
/// wprobe runs may be live on this machine at the same time: a test looks only at the
/// objects of its own process, read from its /proc/PID/fdinfo.
pub(crate) struct Wprobe {
    pub child: std::process::Child,
    pub objects: KernelObjects,
}

impl Wprobe {
    /// Starts `wprobe ARGS` (stdin, stdout and stderr piped) and waits until its probes are
    /// attached. A `-c` command inherits the stdin: `wprobe_target` waits there for a line.
    pub fn attached(args: &[&str]) -> Wprobe {
        Self::attached_with(args, std::process::Stdio::piped())
    }

    /// The same, with stdout going to `stdout`.
    pub fn attached_with(args: &[&str], stdout: std::process::Stdio) -> Wprobe {
        let mut child = std::process::Command::new(wprobe_bin())
            .args(args)
            .env("WPROBE_CACHE_DIR", scratch_dir("cache"))
            .stdin(std::process::Stdio::piped())
            .stdout(stdout)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        loop {
            let objects = kernel_objects_of(child.id());
            if !objects.links.is_empty() {
                return Wprobe { child, objects };
            }
            if let Some(status) = child.try_wait().unwrap() {
                let out = child.wait_with_output().unwrap();
                panic!("wprobe {args:?} exited ({status}) before attaching: {}", stderr(&out));
            }
            assert!(start.elapsed().as_secs() < 120, "wprobe {args:?} did not attach");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Sends the target its go-ahead line.
    pub fn go(&mut self) {
        use std::io::Write;
        self.child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }

    pub fn signal(&self, name: &str) {
        let kill =
            std::process::Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
        assert!(kill.unwrap().success());
    }

    /// Waits for the exit (at most `limit`: a run that does not stop is a failure, not a
    /// hang), and checks that every kernel object wprobe held is gone.
    pub fn finish(mut self, limit: std::time::Duration) -> std::process::Output {
        drop(self.child.stdin.take());
        // Read while waiting: a full pipe would block wprobe's output, and so its exit.
        fn reader(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        }
        let (out, err) = (reader(self.child.stdout.take()), reader(self.child.stderr.take()));
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("wprobe did not stop within {limit:?}: {}", String::from_utf8_lossy(&err.join().unwrap()));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let out = std::process::Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() };
        assert_gone(&self.objects);
        out
    }
}

/// Runs `wprobe ARGS` whose `-c` target waits for its go-ahead on stdin, once the probes
/// are attached; checks that wprobe left nothing in the kernel.
pub(crate) fn run_live(args: &[&str]) -> std::process::Output {
    let mut w = Wprobe::attached(args);
    w.go();
    w.finish(std::time::Duration::from_secs(120))
}

/// The BPF programs, links and maps that process `pid` holds, from its fdinfo.
pub(crate) fn kernel_objects_of(pid: u32) -> KernelObjects {
    let mut objects = KernelObjects::default();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return objects };
    for entry in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        let field =
            |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse::<u32>().ok());
        if let Some(id) = field("link_id:") {
            objects.links.push(id);
        } else if let Some(id) = field("prog_id:") {
            objects.programs.push(id);
        } else if let Some(id) = field("map_id:") {
            objects.maps.push(id);
        }
    }
    objects
}

/// Polls until the kernel has let go of `objects` (it frees them asynchronously).
pub(crate) fn assert_gone(objects: &KernelObjects) {
    let start = std::time::Instant::now();
    loop {
        let left = wprobe::live::still_in_kernel(objects).unwrap();
        if left.is_empty() {
            return;
        }
        assert!(start.elapsed().as_secs() < 10, "still in the kernel after wprobe exited: {left:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn uprobe_run_prints_the_true_arguments_and_record_replays_the_same() {
    require_root();
    let _s = serial();
    let t = target().to_str().unwrap();
    let rec = scratch_dir("live").join("run.events");
    let out = run_live(&[
        "run",
        handler("tcp_connect").to_str().unwrap(),
        "--uprobe",
        &format!("{t}:wprobe_target"),
        "--record",
        rec.to_str().unwrap(),
        "-c",
        &format!("{t} 4 2"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let (pid, _, _) = target_ids(&text);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("process(")).collect();
    assert_eq!(lines.len(), 8, "4 calls on 2 threads:\n{text}");
    let pp = format!("process(\"{}\").function(\"wprobe_target\")", std::fs::canonicalize(t).unwrap().display());
    for l in &lines {
        let prefix = format!("{pp}, {pid}, ");
        assert!(l.starts_with(&prefix) && l.ends_with(", 0x7, 0xdeadbeef, 16"), "{l}");
    }
    assert!(stderr(&out).contains("8 events seen, 8 handled, 0 lost"), "{}", stderr(&out));

    // The recording replays into exactly the handler lines of the live run.
    let replayed = wprobe(&["replay", handler("tcp_connect").to_str().unwrap(), rec.to_str().unwrap()]);
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    assert_eq!(stdout(&replayed), lines.iter().map(|l| format!("{l}\n")).collect::<String>());
}

#[test]
fn uretprobe_run_prints_the_true_return_value_in_systemtap_spelling() {
    require_root();
    let _s = serial();
    let t = target().to_str().unwrap();
    let out = run_live(&[
        "run",
        handler("tcp_connect_ret").to_str().unwrap(),
        &format!("process(\"{t}\").function(\"wprobe_target\").return"),
        "-c",
        &format!("{t} 3 1"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().filter(|l| *l == "23").count(), 3, "{text}");
}

#[test]
fn json_lines_name_the_event_of_each_line() {
    require_root();
    let _s = serial();
    let t = target().to_str().unwrap();
    let out = wprobe(&[
        "run",
        handler("tcp_connect_ret").to_str().unwrap(),
        "--uretprobe",
        &format!("{t}:wprobe_target"),
        "--json",
        "-c",
        &format!("echo | {t} 2 2"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let (pid, tid1, tid2) = target_ids(&text);
    let json: Vec<&str> = text.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(json.len(), 4, "{text}");
    for l in &json {
        assert!(l.contains(&format!("\"pid\":{pid},")), "{l}");
        assert!(l.contains(&format!("\"tid\":{tid1},")) || l.contains(&format!("\"tid\":{tid2},")), "{l}");
        assert!(l.ends_with("\"line\":\"23\"}"), "{l}");
        assert!(l.contains(".return\",\"pid\""), "{l}");
    }
}

#[test]
fn max_events_and_pid_filter_stop_and_select() {
    require_root();
    let _s = serial();
    let t = target().to_str().unwrap();
    let out = run_live(&[
        "run",
        handler("count").to_str().unwrap(),
        "--uprobe",
        &format!("{t}:wprobe_target"),
        "--max-events",
        "5",
        "-c",
        &format!("{t} 50 2"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("total: 5\n"), "{}", stdout(&out));
    assert!(stderr(&out).contains("stopped: --max-events reached"), "{}", stderr(&out));

    // A pid that is not the target's: nothing is handled.
    let out = run_live(&[
        "run",
        handler("count").to_str().unwrap(),
        "--uprobe",
        &format!("{t}:wprobe_target"),
        "--pid",
        "1",
        "-c",
        &format!("{t} 5 1"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("total: 0\n"), "{}", stdout(&out));
}

#[test]
fn bad_probes_fail_clearly_and_attach_nothing() {
    require_root();
    let _s = serial();
    let t = target().to_str().unwrap();
    let h = handler("tcp_connect");
    let kprobes = wprobe::live::ProbeSupport::detect().kprobes;
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--uprobe".into(), format!("{t}:wprobe_targte")], "similar: wprobe_target"),
        (vec!["--uprobe".into(), "/nonexistent/bin:f".into()], "cannot read /nonexistent/bin"),
        (vec!["kernel.function(\"tcp_v4_connect\")".into()], "debuginfo"),
        (vec!["kprobe.statement(0xffffffff81000000).absolute".into()], "--guru"),
        (vec![], "no probe given"),
        if kprobes {
            (vec!["--kprobe".into(), "tcp_v4_conect".into()], "similar: tcp_v4_connect")
        } else {
            (vec!["--kprobe".into(), "tcp_v4_connect".into()], "CONFIG_KPROBES is not set")
        },
    ];
    for (probe_args, expected) in cases {
        let mut args = vec!["run".to_string(), h.display().to_string()];
        args.extend(probe_args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = wprobe(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(expected), "{args:?}: expected {expected:?} in\n{}", stderr(&out));
    }
}

#[test]
fn check_reports_this_kernel() {
    let out = wprobe(&["check"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let line =
        |name: &str| text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}: {text}")).to_string();
    let kprobes = wprobe::live::ProbeSupport::detect().kprobes;
    assert_eq!(line("kprobes ").contains(" yes "), kprobes, "{text}");
    assert!(line("uprobes ").contains(" yes "), "{text}");
}

#[test]
fn sigint_and_sigterm_stop_cleanly_with_the_end_hook() {
    require_root();
    let _s = serial();
    let t = target().to_str().unwrap();
    for signal in ["INT", "TERM"] {
        let w =
            Wprobe::attached(&["run", handler("count").to_str().unwrap(), "--uprobe", &format!("{t}:wprobe_target")]);
        let target = std::process::Command::new("sh").arg("-c").arg(format!("echo | {t} 3 1")).output().unwrap();
        let (pid, _, _) = target_ids(&String::from_utf8_lossy(&target.stdout));
        w.signal(signal);
        let out = w.finish(std::time::Duration::from_secs(60));
        assert!(out.status.success(), "SIG{signal}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("pid {pid} (wprobe_target): 3\ntotal: 3\n"), "SIG{signal}");
        assert!(stderr(&out).contains("stopped: interrupted"), "{}", stderr(&out));
    }
}

#[test]
fn a_flood_of_events_does_not_keep_wprobe_from_stopping() {
    require_root();
    let _s = serial();
    let t = target().to_str().unwrap();
    let started = std::time::Instant::now();
    // The target calls without pause for minutes; --duration must still end the run.
    let out = run_live(&[
        "run",
        handler("bench_flat").to_str().unwrap(),
        "--uprobe",
        &format!("{t}:wprobe_target"),
        "--duration",
        "1s",
        "-c",
        &format!("{t} 100000000 1"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("stopped: --duration reached"), "{}", stderr(&out));
    // Generous: the point is that it stops at all (it used to drain forever).
    assert!(started.elapsed().as_secs() < 20, "took {:?}", started.elapsed());
}

/// `run -o FILE`: the handler's lines go to the file, the command's output stays on stdout.
#[test]
fn run_output_file_keeps_handler_lines_apart_from_the_commands() {
    require_root();
    let _s = serial();
    let t = target().to_str().unwrap();
    let file = scratch_dir("live").join("handler.out");
    let out = run_live(&[
        "run",
        handler("tcp_connect").to_str().unwrap(),
        "--uprobe",
        &format!("{t}:wprobe_target"),
        "-o",
        file.to_str().unwrap(),
        "-c",
        &format!("{t} 2 2"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("pid ") && text.contains("sum 92\n") && !text.contains("process("), "{text}");
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(lines.lines().count(), 4, "{lines}");
    assert!(lines.lines().all(|l| l.starts_with("process(\"") && l.ends_with(", 0x7, 0xdeadbeef, 16")), "{lines}");
}
