//! Memory captures derived from the script: `user_string(pointer_arg(2))` in a probe body
//! means "take the user string argument 2 points to, at the hit". wprobe's fixed BPF
//! program can read only what is declared as data before the session starts.

use crate::ast::*;

/// Where a capture's address starts (the WIT's `capture-base`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CaptureBase {
    Arg(u32),
    Register(String),
    Returnval,
    Field(String),
}

/// One capture: `base + offset`, then `*(u64 *)addr + d` for each deref, then a string of
/// at most `size - 1` bytes or exactly `size` bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CaptureReq {
    pub base: CaptureBase,
    pub offset: i64,
    pub derefs: Vec<i64>,
    pub string: bool,
    pub size: u32,
    pub user: bool,
    /// Taken at the return of a return probe (the return value's memory).
    pub at_return: bool,
}

/// Default bound of a string capture without an explicit length.
pub const DEFAULT_STRING: u32 = 256;

/// The captures probe clause `body` needs, without duplicates, in order of appearance.
pub fn derive(body: &Stmt) -> Vec<CaptureReq> {
    let mut out = Vec::new();
    walk_stmt(body, &mut out);
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(c.clone()));
    out
}

fn walk_stmt(s: &Stmt, out: &mut Vec<CaptureReq>) {
    match s {
        Stmt::Block(v) => v.iter().for_each(|s| walk_stmt(s, out)),
        Stmt::Expr(e) | Stmt::Delete(e) => walk(e, out),
        Stmt::If(c, a, b) => {
            walk(c, out);
            walk_stmt(a, out);
            if let Some(b) = b {
                walk_stmt(b, out);
            }
        }
        Stmt::While(c, b) => {
            walk(c, out);
            walk_stmt(b, out);
        }
        Stmt::For(a, b, c, body) => {
            for e in [a, b, c].into_iter().flatten() {
                walk(e, out);
            }
            walk_stmt(body, out);
        }
        Stmt::Foreach(f) => {
            if let Some(l) = &f.limit {
                walk(l, out);
            }
            walk_stmt(&f.body, out);
        }
        Stmt::Return(Some(e), _) => walk(e, out),
        _ => {}
    }
}

fn walk(e: &Expr, out: &mut Vec<CaptureReq>) {
    match &e.kind {
        ExprKind::Call(name, args) => {
            if let Some(c) = capture_of(name, args) {
                out.push(c);
            }
            args.iter().for_each(|a| walk(a, out));
        }
        ExprKind::Index(_, v) | ExprKind::In(v, ..) => v.iter().for_each(|a| walk(a, out)),
        ExprKind::Stat(_, a) | ExprKind::Hist(a, _) | ExprKind::Unary(_, a) => walk(a, out),
        ExprKind::IncDec { target, .. } => walk(target, out),
        ExprKind::Binary(_, a, b)
        | ExprKind::And(a, b)
        | ExprKind::Or(a, b)
        | ExprKind::Assign(_, a, b)
        | ExprKind::Aggregate(a, b) => {
            walk(a, out);
            walk(b, out);
        }
        ExprKind::Ternary(a, b, c) => {
            walk(a, out);
            walk(b, out);
            walk(c, out);
        }
        ExprKind::Num(_) | ExprKind::Str(_) | ExprKind::Var(_) => {}
    }
}

/// The capture a memory accessor call needs, when its address can be said as data.
fn capture_of(name: &str, args: &[Expr]) -> Option<CaptureReq> {
    let (user, string, size) = match name {
        "kernel_string" => (false, true, DEFAULT_STRING),
        "user_string" => (true, true, DEFAULT_STRING),
        "kernel_string_n" | "user_string_n" => {
            let n = match args.get(1)?.kind {
                ExprKind::Num(n) => n.clamp(1, crate::interp::MAX_STRING as i64 - 1) as u32,
                _ => DEFAULT_STRING - 1,
            };
            (name.starts_with("user"), true, n + 1)
        }
        "kernel_char" => (false, false, 1),
        "kernel_short" => (false, false, 2),
        "kernel_int" => (false, false, 4),
        "kernel_long" | "kernel_pointer" => (false, false, 8),
        "user_char" => (true, false, 1),
        "user_short" => (true, false, 2),
        "user_int" => (true, false, 4),
        "user_long" => (true, false, 8),
        _ => return None,
    };
    let (base, offset, derefs) = address(args.first()?)?;
    let at_return = base == CaptureBase::Returnval;
    Some(CaptureReq { base, offset, derefs, string, size, user, at_return })
}

/// An address expression as base + offset (+ dereferences), when it is one.
fn address(e: &Expr) -> Option<(CaptureBase, i64, Vec<i64>)> {
    match &e.kind {
        ExprKind::Call(name, args) => match (name.as_str(), args.as_slice()) {
            (
                "pointer_arg" | "ulong_arg" | "long_arg" | "ulonglong_arg" | "longlong_arg" | "u64_arg" | "s64_arg",
                [Expr { kind: ExprKind::Num(n), .. }],
            ) if *n >= 1 => Some((CaptureBase::Arg(*n as u32), 0, Vec::new())),
            ("register" | "u_register", [Expr { kind: ExprKind::Str(r), .. }]) => {
                Some((CaptureBase::Register(r.clone()), 0, Vec::new()))
            }
            ("returnval", []) => Some((CaptureBase::Returnval, 0, Vec::new())),
            ("field", [Expr { kind: ExprKind::Str(f), .. }]) => Some((CaptureBase::Field(f.clone()), 0, Vec::new())),
            // A pointer read from memory: the BPF program follows it.
            ("kernel_pointer" | "kernel_long" | "user_long", [inner]) => {
                let (b, o, mut d) = address(inner)?;
                d.push(0);
                Some((b, o, d))
            }
            _ => None,
        },
        ExprKind::Binary(op @ (BinOp::Add | BinOp::Sub), a, b) => {
            let (inner, k) = match (&a.kind, &b.kind) {
                (_, ExprKind::Num(k)) => (a, *k),
                (ExprKind::Num(k), _) if *op == BinOp::Add => (b, *k),
                _ => return None,
            };
            let k = if *op == BinOp::Sub { k.wrapping_neg() } else { k };
            let (base, mut offset, mut derefs) = address(inner)?;
            match derefs.last_mut() {
                Some(d) => *d = d.wrapping_add(k),
                None => offset = offset.wrapping_add(k),
            }
            Some((base, offset, derefs))
        }
        _ => None,
    }
}
