//! The words of every access error: the one table that every SDK takes them from.
//!
//! Rust reads these constants; `cargo xtask sdk-gen` writes them into the C, Python and
//! JavaScript SDKs (`guest-sdk/*/wprobe_common.*`), so the four SDKs say the same thing in
//! the same words. A template's holes are `{n}` and `{arg}` (decimal), `{addr}` (hex with
//! `0x`) and `{name}`, `{what}` (text as given); [`fill`] fills them.
//!
//! The position of a fault ("event 3 of the batch: pp, pid 7, tid 7") is not here: the
//! host words it from the batch it delivered, and the SDKs send only the message.

use core::fmt;

/// `no-such-argument(n)`.
pub const NO_SUCH_ARGUMENT: &str =
    "argument {n} is not passed in a register (arguments count from 1; x86_64 passes 6 in registers, aarch64 8)";
/// `no-such-register(name)`.
pub const NO_SUCH_REGISTER: &str = "no register named \"{name}\" on this architecture";
/// `not-a-return-probe`.
pub const NOT_A_RETURN_PROBE: &str =
    "the return value exists only in a return probe (`.return`, --kretprobe, --uretprobe)";
/// `no-current-event`.
pub const NO_CURRENT_EVENT: &str = "no current event: accessors work in the event handler, not in init or end";
/// `not-captured({addr, arg: 0})`: no argument held the address.
pub const NOT_CAPTURED: &str =
    "memory at {addr} was not captured at probe time: declare a capture that covers it in init";
/// `not-captured({addr, arg})`: argument `arg` held it, so the message names the capture.
pub const NOT_CAPTURED_ARG: &str =
    "memory at {addr} was not captured at probe time: add a capture of pointer_arg({arg}) in init";
/// `fault(addr)`.
pub const FAULT: &str = "reading memory at {addr} faulted at probe time (a bad or paged-out address)";
/// `no-entry`.
pub const NO_ENTRY: &str = "the entry of this return was not seen (attached mid-call, or the entry event was lost): \
                            entry arguments and latency are unknown";
/// `not-a-tracepoint`.
pub const NOT_A_TRACEPOINT: &str = "fields exist only in tracepoint probes (--tracepoint, kernel.trace(\"CAT:NAME\"))";
/// `no-such-field(what)`: `what` is the host's text (the name and the fields there are).
pub const NO_SUCH_FIELD: &str = "no tracepoint field {what}";

/// Every template, by the WIT `access-error` case it words (`not-captured` has two: with
/// and without the argument), in the WIT's order. The SDK generator writes this list.
pub const ACCESS_ERRORS: [(&str, &str); 10] = [
    ("no-such-argument", NO_SUCH_ARGUMENT),
    ("no-such-register", NO_SUCH_REGISTER),
    ("not-a-return-probe", NOT_A_RETURN_PROBE),
    ("no-current-event", NO_CURRENT_EVENT),
    ("not-captured", NOT_CAPTURED),
    ("not-captured-arg", NOT_CAPTURED_ARG),
    ("fault", FAULT),
    ("no-entry", NO_ENTRY),
    ("not-a-tracepoint", NOT_A_TRACEPOINT),
    ("no-such-field", NO_SUCH_FIELD),
];

/// A value for a hole.
#[derive(Clone, Copy, Debug)]
pub enum Hole<'a> {
    /// `{n}`, `{arg}`: decimal.
    Dec(u64),
    /// `{addr}`: hex with `0x`.
    Hex(u64),
    /// `{name}`, `{what}`: as given.
    Text(&'a str),
}

/// Writes `template` with each `{hole}` replaced by its value from `holes`; a hole without
/// a value is written as it stands (a bug the tests catch, not a crash).
pub fn fill(template: &str, holes: &[(&str, Hole<'_>)], out: &mut dyn fmt::Write) -> fmt::Result {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.write_str(&rest[..open])?;
        let after = &rest[open + 1..];
        let close = after.find('}').map(|c| (c, &after[..c]));
        match close.and_then(|(c, name)| holes.iter().find(|(h, _)| *h == name).map(|(_, v)| (c, *v))) {
            Some((c, value)) => {
                match value {
                    Hole::Dec(v) => write!(out, "{v}")?,
                    Hole::Hex(v) => write!(out, "{v:#x}")?,
                    Hole::Text(t) => out.write_str(t)?,
                }
                rest = &after[c + 1..];
            }
            None => {
                out.write_char('{')?;
                rest = after;
            }
        }
    }
    out.write_str(rest)
}

/// The holes a template has, in order (for the generators, which turn them into arguments).
pub fn holes(template: &str) -> impl Iterator<Item = &str> {
    template.split('{').skip(1).filter_map(|s| s.split_once('}').map(|(h, _)| h))
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn fills_every_hole_and_names_them() {
        let mut s = String::new();
        fill(NOT_CAPTURED_ARG, &[("addr", Hole::Hex(0x7ffd)), ("arg", Hole::Dec(2))], &mut s).unwrap();
        assert_eq!(s, "memory at 0x7ffd was not captured at probe time: add a capture of pointer_arg(2) in init");
        let mut s = String::new();
        fill("a {x} b {y", &[("y", Hole::Text("!"))], &mut s).unwrap();
        assert_eq!(s, "a {x} b {y");
        assert_eq!(holes(NOT_CAPTURED_ARG).collect::<std::vec::Vec<_>>(), ["addr", "arg"]);
        // Every template's holes are ones the generators know.
        for (_, t) in ACCESS_ERRORS {
            assert!(holes(t).all(|h| ["n", "arg", "addr", "name", "what"].contains(&h)), "{t}");
        }
    }
}
