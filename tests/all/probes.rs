//! Probe resolution and discovery end to end: `wprobe list` prints probe points that `run`
//! and `record` take back as they are; user-space globs and address uprobes (for stripped
//! binaries). Live ones run as root on tests/targets/wprobe_target.c, like `live.rs`.

use super::live::{require_root, serial, target};
use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `process("ABS").function("wprobe_target")` for the target binary at `path`.
fn target_pp(path: &Path) -> String {
    format!("process(\"{}\").function(\"wprobe_target\")", std::fs::canonicalize(path).unwrap().display())
}

/// The handler lines (those starting with `pp, `) of a tcp_connect run.
fn lines_of<'a>(text: &'a str, pp: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(&format!("{pp}, "))).collect()
}

/// The virtual address of `wprobe_target` in the target, from `nm` (independently of wprobe).
fn nm_address(path: &Path) -> u64 {
    let out = Command::new("nm").arg(path).output().expect("cannot run nm");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_suffix(" T wprobe_target").map(|a| u64::from_str_radix(a, 16).unwrap()))
        .expect("wprobe_target in nm's output")
}

#[test]
fn a_line_of_list_output_pastes_back_into_run_and_record() {
    require_root();
    // Live tests of `live.rs` check that no wprobe program is loaded after theirs.
    let _s = serial();
    let t = target().to_str().unwrap();
    let out = wprobe(&["list", &format!("{t}:wprobe_*")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&out);
    assert_eq!(listed, format!("{}\n", target_pp(target())));
    let line = listed.trim_end();
    let out = wprobe(&["list", &format!("{t}:no_such_*")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nothing matches"), "{}", stderr(&out));

    let h = handler("tcp_connect");
    let out = wprobe(&["run", h.to_str().unwrap(), line, "-c", &format!("echo | {t} 3 1")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines = lines_of(&text, line);
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines.iter().all(|l| l.ends_with(", 0x7, 0xdeadbeef, 16")), "{text}");

    let rec = scratch_dir("probes").join("listed.events");
    let out = wprobe(&["record", line, "-o", rec.to_str().unwrap(), "-c", &format!("echo | {t} 2 1")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let replayed = wprobe(&["replay", h.to_str().unwrap(), rec.to_str().unwrap()]);
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    assert_eq!(lines_of(&stdout(&replayed), line).len(), 2, "{}", stdout(&replayed));
}

#[test]
fn list_resolves_a_bare_program_name_through_path_as_uprobe_does() {
    let t = target();
    let dir = t.parent().unwrap();
    let path = std::env::join_paths(
        std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let out = Command::new(wprobe_bin()).args(["list", "wprobe_target:wprobe_*"]).env("PATH", &path).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n", target_pp(t)));
    // SystemTap's spelling lists what it would attach, the program found the same way.
    let stap = "process(\"wprobe_target\").function(\"wprobe_*\")";
    let out = Command::new(wprobe_bin()).args(["list", stap]).env("PATH", &path).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n", target_pp(t)));
    // A bare program name is a kernel function pattern, but the miss says what to type.
    let out = Command::new(wprobe_bin()).args(["list", "wprobe_target"]).env("PATH", &path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("use `wprobe list 'wprobe_target:*'`"), "{}", stderr(&out));

    // Neither a module nor a program: both are said, and nothing about attaching.
    let out = wprobe(&["list", "wprobe_no_such_thing:*"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("`wprobe_no_such_thing` is neither a loaded kernel module") && err.contains("$PATH"), "{err}");
    assert!(!err.contains("cannot attach"), "{err}");
    let out = wprobe(&["list", "/nonexistent/wprobe-bin:*"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot read /nonexistent/wprobe-bin"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("cannot attach"), "{}", stderr(&out));
}

#[test]
fn list_says_when_no_module_is_loaded_that_matches() {
    let out = wprobe(&["list", "wprobe_no_such_mod*:*"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no loaded kernel module matches `wprobe_no_such_mod*`"), "{err}");
    assert!(!err.contains("cannot attach"), "{err}");
}

#[test]
fn listed_kernel_functions_are_probe_points_and_a_kernel_without_kprobes_is_noted() {
    let out = wprobe(&["list", "tcp_v4_conn*"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().any(|l| l == "kprobe.function(\"tcp_v4_connect\")"), "{text}");
    for line in text.lines() {
        assert_eq!(wprobe::live::ProbeSpec::parse_stap(line).map(|s| s.pp()).as_deref(), Ok(line));
    }
    let same = wprobe(&["list", "kprobe.function(\"tcp_v4_conn*\")"]);
    assert_eq!(stdout(&same), text, "{}", stderr(&same));
    let err = stderr(&out);
    assert!(!err.contains("cannot attach"), "{err}");
    if wprobe::live::ProbeSupport::detect().kprobes {
        assert!(!err.contains("no kprobes"), "{err}");
    } else {
        for needle in
            ["this kernel has no kprobes", "CONFIG_KPROBES", "cannot be probed here", "uprobes", "tracepoints"]
        {
            assert!(err.contains(needle), "{needle:?} missing from: {err}");
        }
    }
}

#[test]
fn a_uprobe_glob_attaches_one_probe_per_function_each_with_its_own_pp() {
    require_root();
    // Live tests of `live.rs` check that no wprobe program is loaded after theirs.
    let _s = serial();
    let t = target().to_str().unwrap();
    let out = wprobe(&[
        "run",
        handler("tcp_connect").to_str().unwrap(),
        "--uprobe",
        &format!("{t}:[mw]*"),
        "-c",
        &format!("echo | {t} 3 1"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let abs = std::fs::canonicalize(t).unwrap();
    let main_pp = format!("process(\"{}\").function(\"main\")", abs.display());
    assert_eq!(lines_of(&text, &main_pp).len(), 1, "main runs once:\n{text}");
    let target_lines = lines_of(&text, &target_pp(target()));
    assert_eq!(target_lines.len(), 3, "{text}");
    assert!(target_lines.iter().all(|l| l.ends_with(", 0x7, 0xdeadbeef, 16")), "{text}");
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    // Capped by --max-probes, before anything is attached.
    let out = wprobe(&[
        "run",
        handler("tcp_connect").to_str().unwrap(),
        &format!("process(\"{t}\").function(\"*\")"),
        "--max-probes",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("more than the limit of 1") && stderr(&out).contains("--max-probes"),
        "{}",
        stderr(&out)
    );
}

/// A program with `n` functions `f0`…`f{n-1}`, each returning its argument plus its number,
/// each called once by `main` with 1, after a second's pause (time to look at the probes).
fn many_functions_target(n: usize) -> PathBuf {
    let dir = scratch_dir("many-functions");
    let (src, bin) = (dir.join("many.c"), dir.join("many"));
    let mut c = String::from("#include <unistd.h>\n");
    for i in 0..n {
        c += &format!("__attribute__((noinline)) int f{i}(int x) {{ __asm__ volatile(\"\"); return x + {i}; }}\n");
    }
    c += "int main(void) {\n    sleep(1);\n    volatile int s = 0;\n";
    for i in 0..n {
        c += &format!("    s += f{i}(1);\n");
    }
    c += "    return s == 0;\n}\n";
    std::fs::write(&src, c).unwrap();
    let status = Command::new(std::env::var_os("CC").unwrap_or("cc".into()))
        .args(["-O1", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("cannot run cc");
    assert!(status.success());
    bin
}

/// `link_type` and `uprobe_cnt` of every BPF link process `pid` holds, from /proc.
fn links_of(pid: u32) -> Vec<(String, u32)> {
    let mut links = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fdinfo")).into_iter().flatten().flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string());
        if let Some(kind) = field("link_type:") {
            links.push((kind, field("uprobe_cnt:").and_then(|c| c.parse().ok()).unwrap_or(1)));
        }
    }
    links.sort();
    links
}

/// A glob's uprobes in one file share one `uprobe_multi` link (two for return probes: the
/// entry and the return half), each probe still with its own pp and values; releasing one
/// perf event per function took ~60 ms each (an RCU grace period under a kernel mutex).
#[test]
fn a_uprobe_glob_in_one_file_shares_one_multi_link() {
    require_root();
    let _s = serial();
    const N: usize = 300;
    let bin = many_functions_target(N);
    let abs = std::fs::canonicalize(&bin).unwrap();
    let t = abs.to_str().unwrap();
    let (entry, ret) = ("function(\"f[0-9]*\")", "function(\"f[0-9]*\").return");
    let (u, ur) = (("uprobe_multi".to_string(), N as u32), ("uretprobe_multi".to_string(), N as u32));
    for (probe, expect_links) in [(entry, vec![u.clone()]), (ret, vec![u, ur])] {
        let script = format!(
            "probe process(\"{t}\").{probe} {{ printf(\"%s %d\\n\", pp(), {}) }}",
            if probe.ends_with("return") { "returnval()" } else { "int_arg(1)" }
        );
        let child = Command::new(wprobe_bin())
            .args(["run", "-e", &script, "--max-probes", "1000", "-c", t])
            .env("WPROBE_CACHE_DIR", scratch_dir("cache"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // While the target sleeps its first second: the links wprobe holds, once it holds as
        // many multi links as expected (a return's two halves attach one after the other).
        let start = std::time::Instant::now();
        let links = loop {
            let multi = links_of(child.id()).iter().filter(|(k, _)| k.ends_with("_multi")).count();
            if multi >= expect_links.len() || start.elapsed().as_secs() > 20 {
                break links_of(child.id());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let multi: Vec<(String, u32)> = links.iter().filter(|(k, _)| k.ends_with("_multi")).cloned().collect();
        assert_eq!(multi, expect_links, "{probe}: links held: {links:?}");
        // The one perf-event link is -c's fork tracepoint (the command's process tree).
        assert_eq!(links.iter().filter(|(k, _)| k == "perf").count(), 1, "{probe}: links held: {links:?}");
        let text = stdout(&out);
        for i in 0..N {
            let value = if probe.ends_with("return") { 1 + i } else { 1 };
            let line = format!(
                "process(\"{t}\").function(\"f{i}\"){} {value}",
                if probe.ends_with("return") { ".return" } else { "" }
            );
            assert_eq!(text.lines().filter(|l| *l == line).count(), 1, "{line:?} once in:\n{text}");
        }
        assert_eq!(text.lines().count(), N, "{text}");
        super::live::assert_nothing_left();
    }
}

#[test]
fn an_address_uprobe_probes_a_stripped_binary() {
    require_root();
    let _s = serial();
    let addr = nm_address(target());
    let stripped: PathBuf = scratch_dir("probes").join("wprobe_target_stripped");
    let status = Command::new("strip").arg("-o").arg(&stripped).arg(target()).status().unwrap();
    assert!(status.success());
    let s = stripped.to_str().unwrap();
    // No symbols left: only the address can name the function.
    let listed = wprobe(&["list", &format!("{s}:*")]);
    assert!(!stdout(&listed).contains("wprobe_target"), "{}", stdout(&listed));

    let abs = std::fs::canonicalize(&stripped).unwrap();
    let pp = format!("process(\"{}\").statement({addr:#x}).absolute", abs.display());
    for probe in [
        vec![format!("process(\"{s}\").statement({addr:#x}).absolute")],
        vec!["--uprobe".to_string(), format!("{s}:{addr:#x}")],
    ] {
        let mut args = vec!["run".to_string(), handler("tcp_connect").display().to_string()];
        args.extend(probe);
        args.extend(["-c".to_string(), format!("echo | {s} 3 1")]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = wprobe(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let text = stdout(&out);
        let lines = lines_of(&text, &pp);
        assert_eq!(lines.len(), 3, "{args:?}:\n{text}");
        assert!(lines.iter().all(|l| l.ends_with(", 0x7, 0xdeadbeef, 16")), "{text}");
    }

    // An address outside the code fails before anything is attached, saying what it expects.
    let out = wprobe(&["run", handler("tcp_connect").to_str().unwrap(), "--uprobe", &format!("{s}:0x10")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not in an executable segment"), "{}", stderr(&out));
}
