//! A subset of SystemTap's script language for wprobe: parsed and checked before anything
//! is attached, then run by an interpreter inside wprobe's script handler component (a
//! sandbox like any other handler). Pure Rust with no OS dependency, so it builds for
//! wasm32 as well as natively (for the host's checks and for tests).
//!
//! ```
//! use wprobe_stap::Script;
//! let s = Script::parse(r#"probe begin { printf("%d\n", 6 * 7); exit() }"#, "<input>", &[]).unwrap();
//! assert_eq!(s.points().len(), 1);
//! ```

pub mod ast;
mod bind;
mod builtins;
mod captures;
mod check;
pub mod env;
pub mod error;
pub mod format;
mod interp;
mod lexer;
mod parser;
pub mod stats;
mod types;
mod value;

pub use bind::{bind, glob, Binding};
pub use captures::{CaptureBase, CaptureReq, DEFAULT_STRING};
pub use env::Env;
pub use error::{Diag, DiagKind, Pos, RunError};
pub use interp::{Limits, MAX_STRING};

use core::fmt;

/// What a probe point is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointKind {
    Begin,
    End,
    /// `timer.ms(N)`, `timer.s(N)`: every `period_ms`.
    Timer {
        period_ms: u64,
    },
    /// A kernel or user probe, attached by the host from its text.
    Event,
}

/// One probe point of the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// The index of its `probe` clause (several points may share one body).
    pub probe: usize,
    pub kind: PointKind,
    /// SystemTap's spelling: `kprobe.function("tcp_v4_connect")`.
    pub text: String,
    pub pos: Pos,
}

/// A parse or semantic error, with the report rendered against the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    pub diag: Diag,
    pub report: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.report.trim_end())
    }
}

impl std::error::Error for ScriptError {}

/// A parsed and checked script.
#[derive(Clone, Debug)]
pub struct Script {
    src: String,
    file: String,
    ast: ast::Script,
    tables: check::Tables,
    points: Vec<Point>,
}

impl Script {
    /// Parses and checks `src`. `file` names it in messages (`<input>` for `-e`); `args`
    /// are the command-line arguments `$1`/`@1` stand for.
    pub fn parse(src: &str, file: &str, args: &[String]) -> Result<Script, ScriptError> {
        let fail = |diag: Diag| ScriptError { report: diag.render(src, file), diag };
        let toks = lexer::lex(src, args).map_err(fail)?;
        let ast = parser::Parser::new(toks).script().map_err(fail)?;
        if ast.probes.is_empty() {
            let pos = Pos { line: 1, col: 1 };
            return Err(fail(Diag::semantic(
                "no probes found: a script needs at least one `probe … { }`",
                "script",
                pos,
            )));
        }
        let mut points = Vec::new();
        for (i, p) in ast.probes.iter().enumerate() {
            for point in &p.points {
                let kind = classify(point).map_err(fail)?;
                points.push(Point { probe: i, kind, text: point.text(), pos: point.pos });
            }
        }
        let tables = check::Checker::run(&ast).map_err(fail)?;
        Ok(Script { src: src.to_string(), file: file.to_string(), ast, tables, points })
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }

    pub fn source(&self) -> &str {
        &self.src
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// Number of `probe` clauses.
    pub fn probe_count(&self) -> usize {
        self.ast.probes.len()
    }

    /// A semantic error at a probe point (the host's, when it cannot attach it), rendered.
    pub fn point_error(&self, point: &Point, message: &str) -> ScriptError {
        let diag = Diag::semantic(message, "probe point", point.pos);
        ScriptError { report: diag.render(&self.src, &self.file), diag }
    }

    /// The memory the body of probe clause `probe` reads through the memory accessors.
    pub fn captures(&self, probe: usize) -> Vec<CaptureReq> {
        captures::derive(&self.ast.probes[probe].body)
    }

    pub(crate) fn point_ast(&self, p: &Point) -> ast::ProbePoint {
        let probe = &self.ast.probes[p.probe];
        probe.points.iter().find(|q| q.pos == p.pos).cloned().unwrap_or_else(|| probe.points[0].clone())
    }
}

/// Parses a probe point's spelling (`pp()` text) back into components.
pub(crate) fn parse_point(text: &str) -> Option<ast::ProbePoint> {
    let toks = lexer::lex(text, &[]).ok()?;
    let mut p = parser::Parser::new(toks);
    p.probe_point().ok()
}

fn classify(p: &ast::ProbePoint) -> Result<PointKind, Diag> {
    let c = &p.components;
    let name = |i: usize| c.get(i).map(|c| c.name.as_str());
    let num = |i: usize| match c.get(i).and_then(|c| c.arg.as_ref()) {
        Some(ast::Literal::Num(n)) => Some(*n),
        _ => None,
    };
    match (name(0), c.len()) {
        (Some("begin"), 1) if c[0].arg.is_none() => Ok(PointKind::Begin),
        (Some("end"), 1) if c[0].arg.is_none() => Ok(PointKind::End),
        (Some("timer"), 2) => {
            let n = num(1).filter(|n| *n > 0).ok_or_else(|| {
                Diag::semantic("a timer needs a positive period: timer.ms(100), timer.s(1)", "probe point", p.pos)
            })?;
            let period_ms = match name(1) {
                Some("ms") => n as u64,
                Some("s" | "sec") => (n as u64).saturating_mul(1000),
                _ => {
                    return Err(Diag::semantic(
                        "unsupported timer: wprobe has timer.ms(N) and timer.s(N)",
                        "probe point",
                        p.pos,
                    ))
                }
            };
            Ok(PointKind::Timer { period_ms })
        }
        (Some("kprobe" | "process" | "nd_syscall" | "kernel" | "module"), _) => Ok(PointKind::Event),
        (Some("syscall"), _) => Err(Diag::semantic(
            "syscall.* probes need debuginfo; use nd_syscall.* (the same names, no debuginfo)",
            "probe point",
            p.pos,
        )),
        _ => Err(Diag::semantic(
            format!(
                "unknown probe point '{}': wprobe takes kprobe.*, process(…).*, nd_syscall.*, kernel.trace(…), begin, end, timer.ms/s(N)",
                p.text()
            ),
            "probe point",
            p.pos,
        )),
    }
}

/// A running script: its globals, and the interpreter, compiled for the environment `E`
/// it runs against.
pub struct Session<E: Env + ?Sized + 'static> {
    prog: interp::Program<E>,
    begin: Vec<(usize, String)>,
    end: Vec<(usize, String)>,
    timers: Vec<(usize, String, u64)>,
}

impl<E: Env + ?Sized> Session<E> {
    pub fn new(script: &Script, limits: Limits) -> Self {
        let prog = interp::Program::new(&script.ast, &script.tables, limits, &script.file);
        let pick = |k: fn(&PointKind) -> bool| {
            script.points.iter().filter(|p| k(&p.kind)).map(|p| (p.probe, p.text.clone())).collect::<Vec<_>>()
        };
        let timers = script
            .points
            .iter()
            .filter_map(|p| match p.kind {
                PointKind::Timer { period_ms } => Some((p.probe, p.text.clone(), period_ms)),
                _ => None,
            })
            .collect();
        Session { prog, begin: pick(|k| *k == PointKind::Begin), end: pick(|k| *k == PointKind::End), timers }
    }

    /// Runs every `probe begin` body, in script order.
    pub fn begin(&mut self, env: &mut E) -> Result<(), RunError> {
        for (probe, pp) in &self.begin {
            if self.prog.exiting() {
                break;
            }
            self.prog.run(*probe, true, Some(pp), env)?;
        }
        self.prog.flush(env);
        Ok(())
    }

    /// Runs the bodies bound to the current event (see [`bind`]); nothing after `exit()`.
    /// A run-time error names the probe with the event's `pp()`.
    #[inline]
    pub fn event(&mut self, probes: &[usize], env: &mut E) -> Result<(), RunError> {
        for &probe in probes {
            if self.prog.exiting() {
                return Ok(());
            }
            self.prog.run(probe, false, None, env)?;
        }
        Ok(())
    }

    /// The timers' periods, in the order [`Session::tick`] numbers them.
    pub fn timer_periods(&self) -> Vec<u64> {
        self.timers.iter().map(|t| t.2).collect()
    }

    /// Runs timer `i`'s body.
    pub fn tick(&mut self, i: usize, env: &mut E) -> Result<(), RunError> {
        if self.prog.exiting() {
            return Ok(());
        }
        let (probe, pp) = match self.timers.get(i) {
            Some(t) => (t.0, t.1.clone()),
            None => return Ok(()),
        };
        let r = self.prog.run(probe, false, Some(&pp), env);
        self.prog.flush(env);
        r
    }

    /// Runs every `probe end` body (even after `exit()`, as SystemTap does).
    pub fn end(&mut self, env: &mut E) -> Result<(), RunError> {
        for (probe, pp) in &self.end {
            self.prog.run(*probe, true, Some(pp), env)?;
        }
        self.prog.flush(env);
        Ok(())
    }

    /// Hands buffered output to `env` (call at the end of each batch).
    pub fn flush(&mut self, env: &mut E) {
        self.prog.flush(env);
    }

    pub fn exiting(&self) -> bool {
        self.prog.exiting()
    }

    /// Whether the script calls a time function, which outside an event (in `end`, in a
    /// timer) reads the time of the last event: otherwise the environment need not keep it.
    pub fn reads_time(&self) -> bool {
        self.prog.reads_time()
    }
}
