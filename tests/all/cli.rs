//! The command line's own behaviour, without privileges: replay's options and messages.

use super::*;

#[test]
fn replay_json_names_the_event_of_each_line() {
    let plain =
        wprobe(&["replay", handler("tcp_connect").to_str().unwrap(), fixture("target_entry.events").to_str().unwrap()]);
    assert!(plain.status.success(), "{}", stderr(&plain));
    let out = wprobe(&[
        "replay",
        handler("tcp_connect").to_str().unwrap(),
        fixture("target_entry.events").to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (plain, json) = (stdout(&plain), stdout(&out));
    assert_eq!(json.lines().count(), plain.lines().count(), "{json}");
    for (j, p) in json.lines().zip(plain.lines()) {
        // The line itself, quoted as JSON, comes last; the event's fields before it.
        let quoted = format!("\"line\":\"{}\"}}", p.replace('"', "\\\""));
        assert!(j.starts_with("{\"probe\":\"process(\\\"") && j.ends_with(&quoted), "{j}\n{p}");
        assert!(j.contains(",\"pid\":") && j.contains(",\"tid\":") && j.contains(",\"timestamp_ns\":"), "{j}");
    }
}

#[test]
fn swapped_replay_arguments_are_named_as_such() {
    let (h, f) = (handler("count"), fixture("target_both.events"));
    let out = wprobe(&["replay", f.to_str().unwrap(), h.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("the arguments are swapped"), "{err}");
    assert!(err.contains(&format!("wprobe replay {} {}", h.display(), f.display())), "{err}");
    // One of the two in the wrong place is named too.
    let out = wprobe(&["replay", f.to_str().unwrap(), f.to_str().unwrap()]);
    assert!(stderr(&out).contains("is an events file, not a handler"), "{}", stderr(&out));
}

#[test]
fn an_os_error_is_printed_once() {
    let out = wprobe(&["replay", handler("count").to_str().unwrap(), "/nonexistent/x.events"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(err.contains("/nonexistent/x.events"), "{err}");
}

/// `wprobe replay … | head -1`: the reader goes away; replay ends quietly with status 0.
#[test]
fn replay_into_a_closed_pipe_ends_quietly() {
    use std::io::BufRead;
    // Far more output than a pipe holds, so that wprobe is still writing when it closes.
    let events = synthetic_events("closed-pipe", 50_000);
    let mut child = std::process::Command::new(wprobe_bin())
        .args(["replay", handler("tcp_connect").to_str().unwrap(), events.to_str().unwrap()])
        .env("WPROBE_CACHE_DIR", scratch_dir("cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("kprobe.function(\"tcp_v4_connect\"), 1000, "), "{first}");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("error") && !err.contains("thread '"), "{err}");
}
