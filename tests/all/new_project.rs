//! `wprobe new NAME --lang …`: the project it writes builds with the one command it prints,
//! and the handler prints on a recording what the Rust example `tcp_connect` prints. Bad
//! names, an existing folder and an unknown language are refused before anything is written.

use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn new(dir: &Path, args: &[&str]) -> std::process::Output {
    let root = workspace_root();
    let mut all = vec!["new", "--dir", dir.to_str().unwrap(), "--sdk", root.to_str().unwrap()];
    all.extend_from_slice(args);
    wprobe(&all)
}

/// The `KEY: …` line `wprobe new` printed.
fn printed<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_else(|| panic!("no {key:?} line in {out}")).trim()
}

/// Writes the project, runs the build command it printed through `sh -c`, replays the handler
/// it names on the seed's recording; `env`: extra environment of the build.
fn build_and_replay(lang: &str, name: &str, env: &[(&str, &Path)], handler_at: impl Fn(&Path) -> PathBuf) {
    let dir = scratch_dir(&format!("new-{lang}"));
    let out = new(&dir, &[name, "--lang", lang]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let build = printed(&text, "build:");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(build);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let built = cmd.output().unwrap();
    assert!(built.status.success(), "`{build}` failed:\n{}\n{}", stdout(&built), stderr(&built));
    // `run:   wprobe run PATH --kprobe …`: the handler the build wrote.
    let named = printed(&text, "run:").split_whitespace().nth(2).unwrap().to_owned();
    let handler_path = handler_at(&dir.join(name));
    assert!(handler_path.exists(), "{} was not built ({named})", handler_path.display());
    let got = wprobe(&["replay", handler_path.to_str().unwrap(), fixture("target_entry.events").to_str().unwrap()]);
    assert!(got.status.success(), "{}", stderr(&got));
    let want =
        wprobe(&["replay", handler("tcp_connect").to_str().unwrap(), fixture("target_entry.events").to_str().unwrap()]);
    assert!(!got.stdout.is_empty());
    assert_eq!(stdout(&got), stdout(&want), "{lang}");
}

#[test]
fn a_new_rust_project_builds_and_runs() {
    // A target folder of its own that outlives the test run, so that the SDK's dependencies
    // build once (a fresh one would rebuild them every run).
    let target = workspace_root().join("target/new-project");
    build_and_replay("rust", "my_probe", &[("CARGO_TARGET_DIR", target.as_path())], |_| {
        target.join("wasm32-unknown-unknown/handler/my_probe.wasm")
    });
}

#[test]
fn a_new_c_project_builds_and_runs() {
    build_and_replay("c", "my_probe", &[], |p| p.join("my_probe.wasm"));
}

#[test]
fn a_new_python_project_builds_and_runs() {
    build_and_replay("python", "my_probe", &[], |p| p.join("my_probe.wasm"));
}

#[test]
fn a_new_javascript_project_builds_and_runs() {
    build_and_replay("js", "my_probe", &[], |p| p.join("my_probe.wasm"));
}

#[test]
fn bad_names_an_existing_folder_and_an_unknown_language_are_refused() {
    let dir = scratch_dir("new-refused");
    for (args, says) in [
        (&["My-Probe", "--lang", "rust"][..], "\"My-Probe\" is not a usable handler name"),
        (&["../escape", "--lang", "c"][..], "is not a usable handler name"),
        (&["wprobe", "--lang", "python"][..], "\"wprobe\" is reserved"),
        (&["fn", "--lang", "rust"][..], "\"fn\" is reserved"),
        (&["ok", "--lang", "cobol"][..], "invalid value 'cobol' for '--lang <LANG>'"),
    ] {
        let out = new(&dir, args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "something was written");

    std::fs::create_dir(dir.join("taken")).unwrap();
    std::fs::write(dir.join("taken/keep"), "mine").unwrap();
    let out = new(&dir, &["taken", "--lang", "rust"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already exists; wprobe new writes a new folder and never overwrites"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(dir.join("taken")).unwrap().count(), 1);

    let out = wprobe(&["new", "x", "--lang", "c", "--dir", dir.to_str().unwrap(), "--sdk", "/nonexistent"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not a wprobe checkout") && stderr(&out).contains("--sdk"), "{}", stderr(&out));
}
