//! MAXACTION on bodies without loops: the interpreter skips counting a body's statements only
//! when it has no more of them than the limit, so a smaller limit must still stop it, at the
//! same statement as before, naming the event's probe.

#[allow(dead_code)] // The shared runner: this file drives a Session itself.
mod common;
use common::{Event, MockEnv};
use wprobe_stap::{Limits, Script, Session};

/// Runs `src`'s first probe body on one event with MAXACTION `max_action`.
fn run(src: &str, max_action: u64) -> Result<String, String> {
    let script = Script::parse(src, "<input>", &[]).map_err(|e| e.report)?;
    let mut session = Session::new(&script, Limits { max_action, ..Limits::default() });
    let mut env = MockEnv {
        ev: Some(Event { pp: "kprobe.function(\"vfs_read\")".into(), pid: 7, ..Event::default() }),
        ..MockEnv::default()
    };
    let r = session.event(&[0], &mut env);
    session.flush(&mut env);
    r.map(|()| env.out).map_err(|e| e.to_string())
}

/// Five statements, the fourth on line 2.
const FIVE: &str = r#"global n; probe kprobe.function("vfs_read") { n++; n++; n++
  n++; printf("%d\n", n) }"#;

#[test]
fn a_body_within_the_limit_runs_whole() {
    assert_eq!(run(FIVE, 5).unwrap(), "4\n");
    assert_eq!(run(FIVE, 1000).unwrap(), "4\n");
}

#[test]
fn a_body_over_the_limit_stops_at_the_statement_past_it() {
    let e = run(FIVE, 3).unwrap_err();
    assert!(e.starts_with("MAXACTION exceeded"), "{e}");
    assert!(e.ends_with("near statement at <input>:2:4 in probe kprobe.function(\"vfs_read\")"), "{e}");
}

#[test]
fn nested_blocks_and_branches_count_as_before() {
    // 2 statements in the body, 3 in the branch taken: 5 run, 6 written.
    let src = r#"probe kprobe.function("vfs_read") { if (pid() == 7) { print("a"); print("b"); print("c") } else { print("d") } print("\n") }"#;
    assert_eq!(run(src, 6).unwrap(), "abc\n");
    assert_eq!(run(src, 5).unwrap(), "abc\n");
    let e = run(src, 4).unwrap_err();
    assert!(e.contains("near statement at <input>:1:112"), "{e}");
}

#[test]
fn a_function_call_counts_the_callee_statements() {
    let src = r#"function f() { print("x"); print("y"); print("z") } probe kprobe.function("vfs_read") { f() }"#;
    assert_eq!(run(src, 4).unwrap(), "xyz");
    assert!(run(src, 3).unwrap_err().starts_with("MAXACTION exceeded"));
}
