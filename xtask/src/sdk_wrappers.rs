//! `cargo xtask sdk-gen`, the accessors: every SDK's wrapper of each plain function of the
//! WIT's `context` interface, generated from wit/probe.wit, so that a new accessor costs the
//! WIT, the host, the conformance dumps and the guides, not a wrapper per SDK.
//!
//! | file                                  | what                                            |
//! |---------------------------------------|-------------------------------------------------|
//! | `guest-sdk/src/wit_context.rs`        | Rust wrappers, and the prelude's one list       |
//! | `guest-sdk/c/include/wprobe_context.h`| C declarations (plain and `_checked`), short names |
//! | `guest-sdk/c/src/wprobe_context.c`    | their definitions                               |
//! | `guest-sdk/python/wprobe_context.py`  | Python wrappers and `__all__`, re-exported by `wprobe` |
//! | `guest-sdk/js/wprobe_context.js`      | JavaScript wrappers, re-exported by `wprobe.js` |
//!
//! A wrapper asks the host: outside an event a fallible accessor fails with
//! `no-current-event` and an infallible one is the SDK's "called outside an event" error;
//! on the flat path the host's cursor is first moved to the current event. A function whose
//! WIT documentation says "Works anywhere" is called as is. Only the functions in
//! [`HAND_WRITTEN`] are written by hand, each for the reason given there.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use wit_bindgen_core::wit_parser::{Function, Resolve, Type, TypeDefKind};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sdk {
    Rust,
    C,
    Python,
    Js,
}
use Sdk::*;

const ALL: &[Sdk] = &[Rust, C, Python, Js];

/// The `context` functions an SDK writes by hand (all others are generated), and why.
const HAND_WRITTEN: &[(&[&str], &[Sdk], &str)] = &[
    (&["next"], ALL, "the runtimes step the cursor themselves; handlers never call it"),
    (&["lost-events"], ALL, "read once per batch by the runtime"),
    (&["asmlinkage"], ALL, "a hint that changes nothing on x86_64 and aarch64: no host call"),
    (&["printf", "warn", "exit"], ALL, "output is buffered in the guest and sent before these"),
    (&["print-regs"], ALL, "pending output is sent first, so the two stay in order"),
    (&["pp"], ALL, "looked up in the probe table init received: no import call per event"),
    (
        &["pid", "tid", "uid", "cpu", "timestamp-ns", "probe-id", "is-return", "execname"],
        &[Rust, C, Python, Js],
        "read from the flat record, with no import call",
    ),
    (
        &[
            "int-arg",
            "uint-arg",
            "long-arg",
            "ulong-arg",
            "longlong-arg",
            "ulonglong-arg",
            "pointer-arg",
            "s32-arg",
            "u32-arg",
            "s64-arg",
            "u64-arg",
            "returnval",
        ],
        &[Rust, C, Python, Js],
        "decoded from the flat record's registers, with no import call",
    ),
    (
        &[
            "register",
            "u-register",
            "returnstr",
            "entry-timestamp-ns",
            "latency-ns",
            "kernel-string",
            "kernel-string-n",
            "user-string",
            "user-string-n",
            "kernel-char",
            "kernel-short",
            "kernel-int",
            "kernel-long",
            "kernel-pointer",
            "user-char",
            "user-short",
            "user-int",
            "user-long",
            "field",
            "field-string",
        ],
        &[Rust],
        "decoded from the flat record (registers, extension area), with no import call",
    ),
    (
        &["entry-timestamp-ns", "latency-ns"],
        &[C, Python],
        "decoded from the flat record's entry item, with no import call (Rust: in the row above)",
    ),
    (
        &["register", "u-register", "field", "field-string"],
        &[Js],
        "decoded from the flat record (registers, tracepoint data): componentize-js never frees the \
         string an import call passes, so a call per event leaked its name",
    ),
    (&["kernel-bytes", "user-bytes"], &[Rust], "decoded from the flat record's extension area"),
    (&["kernel-bytes", "user-bytes"], &[C], "C has no owned byte list: they copy into the caller's buffer"),
    (&["syscall-name"], &[C], "each name is kept for the session, so memory stays bounded however often it is printed"),
];

/// The doc phrase that marks a function that needs no current event.
const ANYWHERE: &str = "Works anywhere";

/// A value a generated wrapper can pass or return.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ty {
    Int { bits: u8, signed: bool },
    Bool,
    Str,
    Bytes,
}

#[derive(Clone, Copy, Debug)]
enum Ret {
    Unit,
    Val(Ty),
    Opt(Ty),
    /// `result<T, access-error>`, T none for `_`.
    Fallible(Option<Ty>),
}

struct Accessor {
    /// The WIT name, kebab-case.
    name: String,
    params: Vec<(String, Ty)>,
    ret: Ret,
    anywhere: bool,
    docs: Vec<String>,
}

impl Accessor {
    fn snake(&self) -> String {
        self.name.replace('-', "_")
    }

    /// componentize-js's spelling: `kernel-string-n` -> `kernelStringN`.
    fn camel(&self) -> String {
        let mut out = String::new();
        for (i, part) in self.name.split('-').enumerate() {
            let mut chars = part.chars();
            if i > 0 {
                if let Some(c) = chars.next() {
                    out.extend(c.to_uppercase());
                }
            }
            out.extend(chars);
        }
        out
    }

    fn hand_written(&self, sdk: Sdk) -> bool {
        hand_written(&self.name, sdk)
    }
}

fn hand_written(name: &str, sdk: Sdk) -> bool {
    HAND_WRITTEN.iter().any(|(names, sdks, _)| names.contains(&name) && sdks.contains(&sdk))
}

fn ty(resolve: &Resolve, t: &Type) -> Option<Ty> {
    Some(match t {
        Type::U8 => Ty::Int { bits: 8, signed: false },
        Type::U16 => Ty::Int { bits: 16, signed: false },
        Type::U32 => Ty::Int { bits: 32, signed: false },
        Type::U64 => Ty::Int { bits: 64, signed: false },
        Type::S8 => Ty::Int { bits: 8, signed: true },
        Type::S16 => Ty::Int { bits: 16, signed: true },
        Type::S32 => Ty::Int { bits: 32, signed: true },
        Type::S64 => Ty::Int { bits: 64, signed: true },
        Type::Bool => Ty::Bool,
        Type::String => Ty::Str,
        Type::Id(id) => match &resolve.types[*id].kind {
            TypeDefKind::List(Type::U8) => Ty::Bytes,
            TypeDefKind::Type(t) => return ty(resolve, t),
            _ => return None,
        },
        _ => return None,
    })
}

fn is_access_error(resolve: &Resolve, t: &Type) -> bool {
    match t {
        Type::Id(id) => match &resolve.types[*id].kind {
            TypeDefKind::Type(t) => is_access_error(resolve, t),
            _ => resolve.types[*id].name.as_deref() == Some("access-error"),
        },
        _ => false,
    }
}

/// The function's shape, or None when the generator cannot wrap it.
fn shape(resolve: &Resolve, f: &Function) -> Option<(Vec<(String, Ty)>, Ret)> {
    let mut params = Vec::new();
    for p in &f.params {
        let t = ty(resolve, &p.ty)?;
        if t == Ty::Bytes {
            return None;
        }
        params.push((p.name.replace('-', "_"), t));
    }
    let ret = match &f.result {
        None => Ret::Unit,
        Some(Type::Id(id)) => match &resolve.types[*id].kind {
            TypeDefKind::Option(t) => Ret::Opt(ty(resolve, t)?),
            TypeDefKind::Result(r) if r.err.as_ref().is_some_and(|e| is_access_error(resolve, e)) => {
                Ret::Fallible(match &r.ok {
                    None => None,
                    Some(t) => Some(ty(resolve, t)?),
                })
            }
            _ => Ret::Val(ty(resolve, &Type::Id(*id))?),
        },
        Some(t) => Ret::Val(ty(resolve, t)?),
    };
    Some((params, ret))
}

/// Whether `sdk`'s generator can wrap this shape.
fn supported(sdk: Sdk, a: &Accessor) -> bool {
    match sdk {
        // C returns strings that live until the event ends, so it needs an event; it has no
        // owned byte list and no optional scalars.
        C => match a.ret {
            Ret::Unit | Ret::Fallible(None) => true,
            Ret::Val(Ty::Str) | Ret::Fallible(Some(Ty::Str)) => !a.anywhere,
            Ret::Val(t) | Ret::Fallible(Some(t)) => t != Ty::Bytes,
            Ret::Opt(_) => false,
        },
        Rust | Python | Js => true,
    }
}

/// The `context` interface's functions with a shape, from wit/.
fn accessors(root: &std::path::Path) -> Result<Vec<Accessor>> {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve.push_path(root.join("wit")).context("cannot parse wit/")?;
    let iface = *resolve.packages[pkg].interfaces.get("context").context("wit/: no `context` interface")?;
    let source = std::fs::read_to_string(root.join("wit/probe.wit")).context("cannot read wit/probe.wit")?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for f in resolve.interfaces[iface].functions.values() {
        let docs = own_docs(&source, &f.name);
        let anywhere = docs.iter().any(|l| l.contains(ANYWHERE));
        match shape(&resolve, f) {
            Some((params, ret)) => {
                let a = Accessor { name: f.name.clone(), params, ret, anywhere, docs };
                for &sdk in ALL {
                    if !a.hand_written(sdk) && !supported(sdk, &a) {
                        problems.push(format!("{} ({sdk:?}: a shape its generator does not wrap)", f.name));
                    }
                }
                out.push(a);
            }
            None => {
                let missing: Vec<String> =
                    ALL.iter().filter(|s| !hand_written(&f.name, **s)).map(|s| format!("{s:?}")).collect();
                if !missing.is_empty() {
                    problems.push(format!(
                        "{} (a shape no generator wraps; by hand in {})",
                        f.name,
                        missing.join(", ")
                    ));
                }
            }
        }
    }
    for (names, _, _) in HAND_WRITTEN {
        for n in *names {
            if !resolve.interfaces[iface].functions.contains_key(*n) {
                problems.push(format!("{n} (listed in HAND_WRITTEN but not in wit/probe.wit)"));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "cannot generate the SDKs' accessors for: {}\n\
             write a wrapper by hand in each SDK named and list it in HAND_WRITTEN in xtask/src/sdk_wrappers.rs, \
             or give the function a simpler shape (scalars, strings, option or result<_, access-error> of those)",
            problems.join("; ")
        );
    }
    Ok(out)
}

/// The `///` lines right above `name: func` in the WIT. (wit-parser's docs also take in the
/// plain `//` section comments before a function.)
fn own_docs(source: &str, name: &str) -> Vec<String> {
    let lines: Vec<&str> = source.lines().collect();
    let decl = format!("{name}: func(");
    let Some(at) = lines.iter().position(|l| l.trim_start().starts_with(&decl)) else { return Vec::new() };
    let mut docs: Vec<String> = lines[..at]
        .iter()
        .rev()
        .map_while(|l| l.trim_start().strip_prefix("///"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d).to_string())
        .collect();
    docs.reverse();
    docs
}

/// Every generated file: its path from the workspace root and its text.
pub fn generate(root: &std::path::Path) -> Result<Vec<(String, String)>> {
    let all = accessors(root)?;
    let version = crate::wit::version(root)?;
    Ok(vec![
        ("guest-sdk/src/wit_context.rs".into(), rust(&all)),
        ("guest-sdk/c/include/wprobe_context.h".into(), c_header(&all)),
        ("guest-sdk/c/src/wprobe_context.c".into(), c_source(&all)),
        ("guest-sdk/python/wprobe_context.py".into(), python(&all)),
        ("guest-sdk/js/wprobe_context.js".into(), js(&all, &version)),
    ])
}

const ORIGIN: &str = "Generated by `cargo xtask sdk-gen` from wit/probe.wit's `context` interface.\n\
Do not edit: change the WIT (or xtask/src/sdk_wrappers.rs) and run the command again (CI checks with --check).";

fn generated(all: &[Accessor], sdk: Sdk) -> impl Iterator<Item = &Accessor> {
    all.iter().filter(move |a| !a.hand_written(sdk))
}

// ---- Rust ---------------------------------------------------------------------------------

fn rust_ty(t: Ty, param: bool) -> String {
    match t {
        Ty::Int { bits, signed } => format!("{}{bits}", if signed { "i" } else { "u" }),
        Ty::Bool => "bool".into(),
        Ty::Str if param => "&str".into(),
        Ty::Str => "String".into(),
        Ty::Bytes => "Vec<u8>".into(),
    }
}

fn rust(all: &[Accessor]) -> String {
    let mut s = String::new();
    for line in ORIGIN.lines() {
        let _ = writeln!(s, "//! {line}");
    }
    s.push_str("//!\n//! Every wrapper asks the host (one import call); the accessors the flat path decodes itself\n");
    s.push_str("//! are in context.rs.\n\n");
    s.push_str("#[allow(unused_imports)]\nuse crate::bindings::wprobe::probe::context as ctx;\n");
    s.push_str("#[allow(unused_imports)]\nuse crate::error::AccessError;\n");
    for a in generated(all, Rust) {
        s.push('\n');
        for d in &a.docs {
            let _ = writeln!(s, "///{}{d}", if d.is_empty() { "" } else { " " });
        }
        let params: Vec<String> = a.params.iter().map(|(n, t)| format!("{n}: {}", rust_ty(*t, true))).collect();
        let args: Vec<&str> = a.params.iter().map(|(n, _)| n.as_str()).collect();
        let ret = match a.ret {
            Ret::Unit => String::new(),
            Ret::Val(t) => format!(" -> {}", rust_ty(t, false)),
            Ret::Opt(t) => format!(" -> Option<{}>", rust_ty(t, false)),
            Ret::Fallible(t) => format!(" -> Result<{}, AccessError>", t.map_or("()".into(), |t| rust_ty(t, false))),
        };
        let call = format!("ctx::{}({})", a.snake(), args.join(", "));
        let body = match (a.anywhere, a.ret) {
            (true, _) => call,
            (false, Ret::Fallible(_)) => {
                format!("crate::context::host_event_fallible()?;\n    {call}.map_err(AccessError::from)")
            }
            (false, _) => format!("crate::context::host_event({:?});\n    {call}", a.snake()),
        };
        if !a.anywhere && !matches!(a.ret, Ret::Fallible(_)) {
            s.push_str("///\n/// Panics outside an event (in `init` or `end`).\n#[track_caller]\n");
        }
        let _ = writeln!(s, "pub fn {}({}){ret} {{\n    {body}\n}}", a.snake(), params.join(", "));
    }
    s.push_str(
        "\n/// Every `context` function the SDK offers by its WIT name: the prelude's one list\n\
         /// (tests/all/sdk_parity.rs checks it against the WIT). `next` is the runtime's; `warn`\n\
         /// is the macro `wprobe_sdk::warn!`, left out because a glob-imported `warn` would make\n\
         /// `#[warn(…)]` ambiguous.\n\
         pub mod exports {\n",
    );
    let hand: Vec<String> = all
        .iter()
        .filter(|a| a.hand_written(Rust) && !["next", "warn", "printf"].contains(&a.name.as_str()))
        .map(Accessor::snake)
        .collect();
    let gen: Vec<String> = generated(all, Rust).map(Accessor::snake).collect();
    s.insert_str(s.rfind("pub mod exports {").expect("just written"), "#[rustfmt::skip]\n");
    let _ = writeln!(s, "    pub use crate::context::{{{}}};", hand.join(", "));
    s.push_str("    pub use crate::printf;\n");
    if !gen.is_empty() {
        let _ = writeln!(s, "    pub use super::{{{}}};", gen.join(", "));
    }
    s.push_str("}\n");
    s
}

// ---- C ------------------------------------------------------------------------------------

fn c_ty(t: Ty) -> &'static str {
    match t {
        Ty::Int { bits: 8, signed: true } => "int8_t",
        Ty::Int { bits: 16, signed: true } => "int16_t",
        Ty::Int { bits: 32, signed: true } => "int32_t",
        Ty::Int { signed: true, .. } => "int64_t",
        Ty::Int { bits: 8, .. } => "uint8_t",
        Ty::Int { bits: 16, .. } => "uint16_t",
        Ty::Int { bits: 32, .. } => "uint32_t",
        Ty::Int { .. } => "uint64_t",
        Ty::Bool => "bool",
        Ty::Str => "const char *",
        Ty::Bytes => unreachable!("C never wraps byte lists"),
    }
}

/// C's short name: SystemTap's, with `_` after a C keyword (`register_`).
fn c_short(snake: &str) -> String {
    const KEYWORDS: &[&str] = &["register", "int", "long", "short", "char", "signed", "unsigned", "default"];
    if KEYWORDS.contains(&snake) {
        format!("{snake}_")
    } else {
        snake.to_string()
    }
}

fn c_decl_params(a: &Accessor, out: Option<Ty>) -> String {
    let mut p: Vec<String> = a.params.iter().map(|(n, t)| format!("{}{n}", c_space(c_ty(*t)))).collect();
    if let Some(t) = out {
        p.push(format!("{}*out", c_space(c_ty(t))));
    }
    if p.is_empty() {
        "void".into()
    } else {
        p.join(", ")
    }
}

/// `T ` or `const char *` (no space after the star).
fn c_space(t: &str) -> String {
    if t.ends_with('*') {
        t.to_string()
    } else {
        format!("{t} ")
    }
}

fn c_header(all: &[Accessor]) -> String {
    let mut s = String::from("/*\n");
    for line in ORIGIN.lines() {
        let _ = writeln!(s, " * {line}");
    }
    s.push_str(
        " *\n * Included by wprobe.h: the accessors that ask the host. A fallible one returns 0 (or \"\")\n \
         * and records the error; its `_checked` form returns the error instead. Strings stay valid\n \
         * until the event ends.\n */\n#ifndef WPROBE_CONTEXT_H\n#define WPROBE_CONTEXT_H\n\n",
    );
    let mut shorts = Vec::new();
    for a in generated(all, C) {
        for d in &a.docs {
            let _ = writeln!(s, "/* {} */", d.replace("*/", "* /"));
        }
        let snake = a.snake();
        let args: Vec<&str> = a.params.iter().map(|(n, _)| n.as_str()).collect();
        match a.ret {
            Ret::Unit => {
                let _ = writeln!(s, "void wprobe_{snake}({});", c_decl_params(a, None));
            }
            Ret::Val(t) => {
                let _ = writeln!(s, "{}wprobe_{snake}({});", c_space(c_ty(t)), c_decl_params(a, None));
            }
            Ret::Fallible(t) => {
                let ret = t.map_or("void ".to_string(), |t| c_space(c_ty(t)));
                let _ = writeln!(s, "{ret}wprobe_{snake}({});", c_decl_params(a, None));
                let _ = writeln!(s, "wprobe_error wprobe_{snake}_checked({});", c_decl_params(a, t));
                let mut cargs = args.clone();
                if t.is_some() {
                    cargs.push("out");
                }
                shorts.push(format!("#define {snake}_checked({0}) wprobe_{snake}_checked({0})", cargs.join(", ")));
            }
            Ret::Opt(_) => unreachable!("checked by supported()"),
        }
        shorts.push(format!("#define {}({1}) wprobe_{snake}({1})", c_short(&snake), args.join(", ")));
    }
    s.push_str("\n#ifndef WPROBE_NO_SHORT_NAMES\n");
    for line in shorts {
        let _ = writeln!(s, "{line}");
    }
    s.push_str("#endif\n\n#endif\n");
    s
}

fn c_source(all: &[Accessor]) -> String {
    let mut s = String::from("/*\n");
    for line in ORIGIN.lines() {
        let _ = writeln!(s, " * {line}");
    }
    s.push_str(
        " */\n#include <string.h>\n\n#include \"handler.h\"\n#include \"wprobe.h\"\n#include \"wprobe_internal.h\"\n",
    );
    for a in generated(all, C) {
        let snake = a.snake();
        s.push('\n');
        // String parameters go to the import as WIT strings.
        let mut pre = String::new();
        let mut args = Vec::new();
        for (n, t) in &a.params {
            if *t == Ty::Str {
                let _ = writeln!(pre, "    handler_string_t {n}_s = {{(uint8_t *){n}, strlen({n})}};");
                args.push(format!("&{n}_s"));
            } else {
                args.push(n.clone());
            }
        }
        let import = format!("wprobe_probe_context_{snake}");
        match a.ret {
            Ret::Unit | Ret::Val(_) => {
                let (ret, t) = match a.ret {
                    Ret::Val(t) => (c_space(c_ty(t)), Some(t)),
                    _ => ("void ".to_string(), None),
                };
                let _ = writeln!(s, "{ret}wprobe_{snake}({}) {{", c_decl_params(a, None));
                if !a.anywhere {
                    let _ = writeln!(s, "    wprobe__enter(\"{snake}\");");
                }
                s.push_str(&pre);
                match t {
                    None => {
                        let _ = writeln!(s, "    {import}({});", args.join(", "));
                    }
                    Some(Ty::Str) => {
                        args.push("&ret".into());
                        let _ = writeln!(s, "    handler_string_t ret;\n    {import}({});", args.join(", "));
                        s.push_str("    return wprobe__keep_string(&ret);\n");
                    }
                    Some(_) => {
                        let _ = writeln!(s, "    return {import}({});", args.join(", "));
                    }
                }
                s.push_str("}\n");
            }
            Ret::Fallible(t) => {
                let _ = writeln!(s, "wprobe_error wprobe_{snake}_checked({}) {{", c_decl_params(a, t));
                match t {
                    Some(Ty::Str) => s.push_str("    *out = \"\";\n"),
                    Some(_) => s.push_str("    *out = 0;\n"),
                    None => {}
                }
                s.push_str("    if (!wprobe__on_event()) return WPROBE_NO_CURRENT_EVENT;\n");
                s.push_str(&pre);
                s.push_str("    wprobe_probe_context_access_error_t err;\n");
                match t {
                    Some(Ty::Str) => {
                        args.extend(["&ret".to_string(), "&err".to_string()]);
                        let _ = writeln!(
                            s,
                            "    handler_string_t ret;\n    if (!{import}({})) return wprobe__convert(&err);",
                            args.join(", ")
                        );
                        s.push_str("    *out = wprobe__keep_string(&ret);\n    return WPROBE_OK;\n");
                    }
                    Some(_) => {
                        args.extend(["out".to_string(), "&err".to_string()]);
                        let _ = writeln!(
                            s,
                            "    if ({import}({})) return WPROBE_OK;\n    return wprobe__convert(&err);",
                            args.join(", ")
                        );
                    }
                    None => {
                        args.push("&err".to_string());
                        let _ = writeln!(
                            s,
                            "    if ({import}({})) return WPROBE_OK;\n    return wprobe__convert(&err);",
                            args.join(", ")
                        );
                    }
                }
                s.push_str("}\n");
                // The message's payload: argument `n`, the first string parameter's name.
                let n = a
                    .params
                    .iter()
                    .find(|(n, t)| n == "n" && *t == Ty::Int { bits: 32, signed: false })
                    .map_or("0", |_| "n");
                let name = a.params.iter().find(|(_, t)| *t == Ty::Str).map_or("NULL", |(n, _)| n.as_str());
                let plain: Vec<&str> = a.params.iter().map(|(n, _)| n.as_str()).collect();
                let ret = t.map_or("void ".to_string(), |t| c_space(c_ty(t)));
                let _ = writeln!(s, "{ret}wprobe_{snake}({}) {{", c_decl_params(a, None));
                match t {
                    Some(t) => {
                        let mut cargs = plain.clone();
                        cargs.push("&v");
                        let _ = writeln!(s, "    {}v;", c_space(c_ty(t)));
                        let _ = writeln!(
                            s,
                            "    wprobe__record(wprobe_{snake}_checked({}), {n}, {name});",
                            cargs.join(", ")
                        );
                        s.push_str("    return v;\n");
                    }
                    None => {
                        let _ = writeln!(
                            s,
                            "    wprobe__record(wprobe_{snake}_checked({}), {n}, {name});",
                            plain.join(", ")
                        );
                    }
                }
                s.push_str("}\n");
            }
            Ret::Opt(_) => unreachable!("checked by supported()"),
        }
    }
    s
}

// ---- Python -------------------------------------------------------------------------------

fn python(all: &[Accessor]) -> String {
    let mut s = String::from("\"\"\"");
    s.push_str(ORIGIN);
    s.push_str(
        "\n\nThe accessors that ask the host; ``wprobe`` re-exports them (``from wprobe import *``).\"\"\"\n\n\
         import wprobe as _w\nfrom componentize_py_types import Err as _Err\nfrom wit_world.imports import context as _ctx\n\n",
    );
    let names: Vec<String> = generated(all, Python).map(|a| format!("\"{}\"", a.snake())).collect();
    let _ = writeln!(s, "__all__ = [{}]", names.join(", "));
    for a in generated(all, Python) {
        let snake = a.snake();
        let params: Vec<&str> = a.params.iter().map(|(n, _)| n.as_str()).collect();
        let params = params.join(", ");
        let _ = write!(s, "\n\ndef {snake}({params}):\n");
        if !a.docs.is_empty() {
            let doc = a.docs.join("\n    ").replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"");
            let _ = writeln!(s, "    \"\"\"{}\"\"\"", doc.trim_end());
        }
        let call = format!("_ctx.{snake}({params})");
        match (a.anywhere, a.ret) {
            (true, _) => {
                let _ = writeln!(s, "    return {call}");
            }
            (false, Ret::Fallible(_)) => {
                let _ = write!(
                    s,
                    "    if not _w._in_event:\n        raise _w.AccessError(\"no-current-event\")\n    _w._to_host()\n    try:\n        \
                     return {call}\n    except _Err as e:\n        raise _w._access_error(e) from None\n"
                );
            }
            (false, _) => {
                let _ = write!(s, "    if not _w._in_event:\n        _w._outside(\"{snake}\")\n    _w._to_host()\n    return {call}\n");
            }
        }
    }
    s
}

// ---- JavaScript ---------------------------------------------------------------------------

fn js(all: &[Accessor], version: &str) -> String {
    let mut s = String::new();
    for line in ORIGIN.lines() {
        let _ = writeln!(s, "// {line}");
    }
    s.push_str("//\n// The accessors that ask the host; wprobe.js re-exports them.\n\n");
    let _ = writeln!(s, "import * as ctx from 'wprobe:probe/context@{version}';");
    s.push_str("import { __rt as rt } from './wprobe.js';\n");
    s.push_str("// wprobe.js reaches the host through this import, so that the WIT's version is written once.\n");
    s.push_str("export { ctx as __ctx };\n");
    for a in generated(all, Js) {
        let snake = a.snake();
        let params: Vec<&str> = a.params.iter().map(|(n, _)| n.as_str()).collect();
        // 64-bit integers are BigInts in the bindings; accept Numbers too.
        let args: Vec<String> = a
            .params
            .iter()
            .map(|(n, t)| match t {
                Ty::Int { bits: 64, .. } => format!("BigInt({n})"),
                _ => n.clone(),
            })
            .collect();
        s.push('\n');
        if !a.docs.is_empty() {
            s.push_str("/**\n");
            for d in &a.docs {
                let _ = writeln!(s, " *{}{}", if d.is_empty() { "" } else { " " }, d.replace("*/", "* /"));
            }
            s.push_str(" */\n");
        }
        let call = format!("ctx.{}({})", a.camel(), args.join(", "));
        let _ = writeln!(s, "export function {snake}({}) {{", params.join(", "));
        match (a.anywhere, a.ret) {
            (true, _) => {
                let _ = writeln!(s, "  return {call};");
            }
            (false, Ret::Fallible(_)) => {
                let _ = write!(
                    s,
                    "  if (!rt.enter()) throw rt.noCurrentEvent();\n  try {{\n    return {call};\n  }} catch (e) {{\n    \
                     throw rt.converted(e);\n  }}\n"
                );
            }
            (false, _) => {
                let _ = write!(s, "  if (!rt.enter()) rt.outside('{snake}');\n  return {call};\n");
            }
        }
        s.push_str("}\n");
    }
    s
}
