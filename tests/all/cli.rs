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
