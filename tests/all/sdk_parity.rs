//! Every function of the WIT's `context` interface exists in every SDK and in every guide's
//! accessor table: the Rust prelude (the Rust SDK's one export list), the C header, Python's
//! `__all__`, the JavaScript module's exports, and the SystemTap tables of guest-sdk/README.md
//! and the C, Python and JavaScript READMEs. Forgetting one fails here, not at a user's.

use super::*;
use std::collections::BTreeSet;

/// WIT functions an SDK does not offer by their own name, and why.
const NOT_EXPORTED: &[(&str, &str, &str)] = &[
    ("*", "next", "the SDK runtimes step the cursor themselves; handlers never call it"),
    ("rust", "warn", "a macro, `wprobe_sdk::warn!`: a glob-imported `warn` would clash with #[warn]"),
];

/// The `context` interface's functions, snake_case, from wit/probe.wit.
fn context_functions() -> Vec<String> {
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve.push_source("probe.wit", &read("wit/probe.wit")).expect("wit/probe.wit parses");
    let iface = resolve.packages[pkg].interfaces["context"];
    let names: Vec<String> = resolve.interfaces[iface].functions.keys().map(|k| k.replace('-', "_")).collect();
    assert!(names.len() > 40, "the context interface has {} functions?", names.len());
    names
}

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn skipped(sdk: &str, name: &str) -> bool {
    NOT_EXPORTED.iter().any(|(s, n, _)| (*s == "*" || *s == sdk) && *n == name)
}

/// Identifiers (runs of `[A-Za-z0-9_]`) in `text`.
fn words(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect()
}

/// The text between `start` and the first `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
    let to = text[from..].find(end).unwrap_or_else(|| panic!("no {end:?} after {start:?}"));
    &text[from..from + to]
}

/// What each SDK exports: names in the WIT's snake_case spelling. Each SDK's hand-written
/// module and its accessors generated from the WIT (`cargo xtask sdk-gen`) count together.
fn exports(sdk: &str) -> BTreeSet<String> {
    match sdk {
        // The prelude is the one list, generated as `wit_context::exports`; the crate root
        // re-exports the prelude (`pub use prelude::*`).
        "rust" => {
            let lib = read("guest-sdk/src/lib.rs");
            assert!(lib.contains("pub use prelude::*;"), "the crate root must re-export the prelude");
            let prelude = between(&lib, "pub mod prelude {", "\n}");
            assert!(
                prelude.contains("pub use crate::wit_context::exports::*;"),
                "the prelude must re-export the generated list"
            );
            let generated = read("guest-sdk/src/wit_context.rs");
            let list = between(&generated, "pub mod exports {", "\n}");
            words(prelude).into_iter().chain(words(list)).map(String::from).collect()
        }
        "c" => {
            let h = read("guest-sdk/c/include/wprobe.h");
            assert!(h.contains("#include \"wprobe_context.h\""), "wprobe.h must include the generated declarations");
            let h = h + &read("guest-sdk/c/include/wprobe_context.h");
            // Declarations: `wprobe_NAME(`.
            h.split("wprobe_")
                .skip(1)
                .filter_map(|s| {
                    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
                    s[end..].starts_with('(').then(|| s[..end].to_string())
                })
                .collect()
        }
        "python" => {
            let py = read("guest-sdk/python/wprobe.py");
            assert!(py.contains("__all__ += _generated"), "wprobe.py must re-export wprobe_context's __all__");
            let generated = read("guest-sdk/python/wprobe_context.py");
            [between(&py, "__all__ = [", "]"), between(&generated, "__all__ = [", "]")]
                .into_iter()
                .flat_map(|list| list.split('"').skip(1).step_by(2).map(String::from))
                .collect()
        }
        "js" => {
            let js = read("guest-sdk/js/wprobe.js");
            assert!(js.contains("export * from './wprobe_context.js';"), "wprobe.js must re-export wprobe_context.js");
            let js = js + &read("guest-sdk/js/wprobe_context.js");
            js.lines()
                .filter_map(|l| {
                    let rest = l.strip_prefix("export function ").or_else(|| l.strip_prefix("export const "))?;
                    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
                    Some(rest[..end].to_string())
                })
                .collect()
        }
        _ => unreachable!(),
    }
}

const SDKS: [(&str, &str); 4] = [
    ("rust", "guest-sdk/README.md"),
    ("c", "guest-sdk/c/README.md"),
    ("python", "guest-sdk/python/README.md"),
    ("js", "guest-sdk/js/README.md"),
];

#[test]
fn every_context_function_is_in_every_sdk() {
    let functions = context_functions();
    let mut missing = Vec::new();
    for (sdk, _) in SDKS {
        let have = exports(sdk);
        for f in &functions {
            if !skipped(sdk, f) && !have.contains(f) {
                missing.push(format!("{sdk}: {f}"));
            }
        }
    }
    assert!(missing.is_empty(), "WIT context functions missing from an SDK's exports:\n  {}", missing.join("\n  "));
}

/// The SDK column of a guide's SystemTap table (the table whose header starts with
/// `| SystemTap |`): every cell, one string per row.
fn table_column(guide: &str) -> Vec<String> {
    let text = read(guide);
    let rows: Vec<&str> =
        text.lines().skip_while(|l| !l.starts_with("| SystemTap |")).take_while(|l| l.starts_with('|')).collect();
    assert!(rows.len() > 10, "{guide}: no `| SystemTap | … |` accessor table");
    rows.iter().skip(2).map(|r| r.split('|').nth(2).unwrap_or("").to_string()).collect()
}

/// A call of `name` in a table cell: `name(`, `name!(` or `name_(` (C's `register_`), with an
/// SDK prefix (`wprobe_`, `wprobe_sdk::`) or none.
fn calls(cell: &str, name: &str) -> bool {
    let mut rest = cell;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().last();
        let after = &rest[at + name.len()..];
        let bounded = !before.is_some_and(|c| c.is_ascii_alphanumeric()) || rest[..at].ends_with("wprobe_");
        let bounded = bounded && (before != Some('_') || rest[..at].ends_with("wprobe_"));
        if bounded && (after.starts_with('(') || after.starts_with("!(") || after.starts_with("_(")) {
            return true;
        }
        rest = &rest[at + name.len()..];
    }
    false
}

#[test]
fn every_context_function_is_in_every_guides_accessor_table() {
    let functions = context_functions();
    let mut missing = Vec::new();
    for (sdk, guide) in SDKS {
        let column = table_column(guide);
        for f in &functions {
            if f == "next" {
                continue;
            }
            if !column.iter().any(|cell| calls(cell, f)) {
                missing.push(format!("{guide}: {f}"));
            }
        }
        let _ = sdk;
    }
    assert!(
        missing.is_empty(),
        "WIT context functions missing from a guide's accessor table:\n  {}",
        missing.join("\n  ")
    );
}

/// The conformance dumps (compared byte for byte in languages.rs) call every accessor, so a
/// new one is compared across the four SDKs as soon as it exists.
#[test]
fn every_conformance_dump_calls_every_accessor() {
    // Output and control: the dump prints through printf; warn and exit would change the run.
    const NOT_DUMPED: [&str; 4] = ["next", "printf", "warn", "exit"];
    let functions = context_functions();
    let mut missing = Vec::new();
    for dump in
        ["tests/handlers/dump_flat/src/dump.rs", "examples/c/dump.c", "examples/python/dump.py", "examples/js/dump.js"]
    {
        let text = read(dump);
        for f in functions.iter().filter(|f| !NOT_DUMPED.contains(&f.as_str())) {
            // A call, or (Python, JavaScript) the function handed to the line printer.
            let named =
                text.lines().any(|l| calls(l, f) || l.contains(&format!(", {f},")) || l.contains(&format!("w.{f},")));
            if !named {
                missing.push(format!("{dump}: {f}"));
            }
        }
    }
    assert!(missing.is_empty(), "accessors the conformance dumps do not call:\n  {}", missing.join("\n  "));
}

#[test]
fn the_table_cell_matcher_is_strict() {
    assert!(calls("`kernel_char(a)`", "kernel_char"));
    assert!(calls("`wprobe_sdk::warn!(fmt, …)`", "warn"));
    assert!(calls("`wprobe_exit()`", "exit"));
    assert!(calls("`register_(\"rip\")`", "register"));
    assert!(!calls("`u_register(\"rip\")`", "register"));
    assert!(!calls("same names", "kernel_short"));
    assert!(!calls("`kernel_char/short(a)`", "kernel_short"));
}
