//! The interpreter: the checked script compiled into closures (one per node, typed: a
//! long-valued expression is a `Fn -> i64`, a string-valued one appends to a buffer), run
//! against an [`Env`]. No value is boxed at run time and the per-event path allocates
//! nothing once its buffers have grown.

use crate::ast::*;
use crate::builtins::Builtin;
use crate::check::{builtin_of, Checker, Tables, VarRef};
use crate::env::Env;
use crate::error::{Pos, RunError};
use crate::format::{self, Piece, Spec};
use crate::stats::{HistKind, Stat};
use crate::types::Ty;
use crate::value::{AVal, Array, GVal, KPart, KeyVal};
use core::marker::PhantomData;

/// SystemTap's MAXSTRINGLEN: longer strings are cut when stored.
pub const MAX_STRING: usize = 512;

/// Limits, SystemTap's `-D` settings.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Statements one event's probe body may run (MAXACTION).
    pub max_action: u64,
    /// Statements `begin` and `end` may run (SystemTap's MAXACTION_INTERRUPTIBLE).
    pub max_action_interruptible: u64,
    /// Default size of an array (MAXMAPENTRIES).
    pub max_map_entries: usize,
    /// Function call depth (MAXNESTING).
    pub max_nesting: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_action: 1000, max_action_interruptible: 10_000, max_map_entries: 2048, max_nesting: 10 }
    }
}

pub(crate) struct Fault {
    message: String,
    near: String,
    pos: Pos,
}

type R<T> = Result<T, Box<Fault>>;

#[cold]
fn fault(message: impl Into<String>, near: impl Into<String>, pos: Pos) -> Box<Fault> {
    Box::new(Fault { message: message.into(), near: near.into(), pos })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Next,
    Break,
    Continue,
    Return,
}

pub struct State {
    globals: Vec<GVal>,
    li: Vec<i64>,
    ls: Vec<String>,
    bi: usize,
    bs: usize,
    ret_i: i64,
    ret_s: String,
    out: String,
    actions: u64,
    max_actions: u64,
    depth: usize,
    max_nesting: usize,
    exiting: bool,
    /// Spare strings, so that temporaries do not allocate.
    pool: Vec<String>,
    /// String arguments of the printf being formatted (a stack: printfs nest).
    sargs: Vec<String>,
    /// Spare keys of arrays with string or several keys: a lookup then allocates nothing,
    /// only an insertion copies its key into the array.
    keys: Vec<Vec<KPart>>,
}

impl State {
    #[inline]
    fn tmp(&mut self) -> String {
        self.pool.pop().unwrap_or_default()
    }

    #[inline]
    fn give(&mut self, mut s: String) {
        s.clear();
        if self.pool.len() < 64 {
            self.pool.push(s);
        }
    }

    /// Zeroed locals for a probe body with `nli` long and `nls` string locals.
    #[inline(never)]
    fn fresh_locals(&mut self, nli: usize, nls: usize) {
        self.li.clear();
        self.li.resize(nli, 0);
        for s in self.ls.iter_mut() {
            s.clear();
        }
        self.ls.resize(nls, String::new());
    }

    /// Takes back a key made by a key closure, once the array is done with it.
    #[inline]
    fn recycle(&mut self, key: KeyVal) {
        if let KeyVal::G(mut parts) = key {
            for p in parts.drain(..) {
                if let KPart::S(s) = p {
                    self.give(s);
                }
            }
            if self.keys.len() < 16 {
                self.keys.push(parts);
            }
        }
    }

    #[inline]
    fn array(&mut self, g: usize) -> &mut Array {
        match &mut self.globals[g] {
            GVal::A(a) => a,
            _ => unreachable!("checked: an array"),
        }
    }
}

/// What a closure runs against. Generic over the environment, so that the script handler's
/// accessors are direct calls, inlined into the code that reads them.
pub struct Rt<'a, E: ?Sized + 'static> {
    st: &'a mut State,
    env: &'a mut E,
    code: &'a Code<E>,
}

/// A compiled piece of code that makes a `T`.
type ValF<E, T> = Box<dyn Fn(&mut Rt<'_, E>) -> R<T>>;
type IntF<E> = ValF<E, i64>;
type StrF<E> = Box<dyn Fn(&mut Rt<'_, E>, &mut String) -> R<()>>;
/// Statements, and expressions run for their effect (they return `Flow::Normal`), so that an
/// expression statement runs without a wrapper.
type StmtF<E> = ValF<E, Flow>;
type KeyF<E> = ValF<E, KeyVal>;
type FmtF<E> = Box<dyn Fn(&mut Rt<'_, E>, Option<&mut String>) -> R<()>>;

/// A long-valued expression. The common leaves (literals, variables, event fields, arguments
/// with a literal number) are evaluated in place by a `match`: in the sandbox a closure's
/// indirect call, with the engine's checks at every function entry and its result passed
/// through memory, costs several times the work of a leaf. Anything else is a closure.
enum Int<E: ?Sized + 'static> {
    Num(i64),
    Local(usize),
    Global(usize),
    Event(Field, Pos),
    /// `pointer_arg(N)`, `uint_arg(N)`, … with a literal N: (N, bits, signed).
    Arg(i64, u8, bool, Box<Site>),
    Dyn(IntF<E>),
}

/// Event fields read by [`Int::Event`].
#[derive(Clone, Copy)]
enum Field {
    Pid,
    Tid,
    Uid,
    Cpu,
}

/// Where a call is, for its run-time error.
struct Site {
    near: String,
    pos: Pos,
}

impl<E: Env + ?Sized> Int<E> {
    #[inline(always)]
    fn eval(&self, rt: &mut Rt<'_, E>) -> R<i64> {
        match self {
            Int::Num(n) => Ok(*n),
            Int::Local(s) => Ok(rt.st.li[rt.st.bi + s]),
            Int::Global(g) => match &rt.st.globals[*g] {
                GVal::L(v) => Ok(*v),
                _ => unreachable!("checked: a long"),
            },
            Int::Event(f, pos) => {
                let r = match f {
                    Field::Pid => rt.env.pid(),
                    Field::Tid => rt.env.tid(),
                    Field::Uid => rt.env.uid(),
                    Field::Cpu => rt.env.cpu(),
                };
                r.map_err(|m| f.fault(m, *pos))
            }
            Int::Arg(n, bits, signed, site) => match rt.env.arg(*n) {
                Ok(raw) => Ok(narrow_arg(raw, *bits, *signed)),
                Err(m) => Err(fault(m, site.near.clone(), site.pos)),
            },
            Int::Dyn(f) => f(rt),
        }
    }
}

impl Field {
    #[cold]
    fn fault(self, message: String, pos: Pos) -> Box<Fault> {
        let name = match self {
            Field::Pid => "pid",
            Field::Tid => "tid",
            Field::Uid => "uid",
            Field::Cpu => "cpu",
        };
        fault(message, near_ident(name), pos)
    }
}

/// An argument register's raw bits as the accessor's C type.
#[inline]
fn narrow_arg(raw: u64, bits: u8, signed: bool) -> i64 {
    match (bits, signed) {
        (32, true) => raw as u32 as i32 as i64,
        (32, false) => raw as u32 as i64,
        _ => raw as i64,
    }
}

struct FuncCode<E: ?Sized + 'static> {
    body: StmtF<E>,
    nli: usize,
    nls: usize,
}

struct ProbeCode<E: ?Sized + 'static> {
    body: StmtF<E>,
    nli: usize,
    nls: usize,
}

pub struct Code<E: ?Sized + 'static> {
    probes: Vec<ProbeCode<E>>,
    funcs: Vec<FuncCode<E>>,
}

/// A compiled script with its state.
pub struct Program<E: ?Sized + 'static> {
    code: Code<E>,
    st: State,
    limits: Limits,
    file: String,
    reads_time: bool,
}

/// Cuts a stored string to MAXSTRINGLEN - 1 bytes, on a character boundary.
#[inline]
fn clip(s: &mut String) {
    if s.len() >= MAX_STRING {
        let mut end = MAX_STRING - 1;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

impl<E: Env + ?Sized> Program<E> {
    pub fn new(script: &Script, t: &Tables, limits: Limits, file: &str) -> Self {
        let globals = t
            .globals
            .iter()
            .map(|g| {
                if g.arity.unwrap_or(0) > 0 {
                    let int_keyed = g.keys.len() == 1 && g.keys[0] == Ty::Long;
                    let max = g.size.map_or(limits.max_map_entries, |s| s as usize);
                    return GVal::A(Array::new(int_keyed, max));
                }
                match (g.ty, &g.init) {
                    (Ty::Str, Some(Literal::Str(s))) => GVal::S(s.clone()),
                    (Ty::Str, _) => GVal::S(String::new()),
                    (Ty::Stat, _) => GVal::T(Stat::new(g.hist.map(|h| h.0))),
                    (_, Some(Literal::Num(n))) => GVal::L(*n),
                    _ => GVal::L(0),
                }
            })
            .collect();
        let mut c = Compiler {
            script,
            t,
            scope: 0,
            slots: Vec::new(),
            counting: false,
            bound: 0,
            unbounded: false,
            reads_time: false,
            env: PhantomData,
        };
        let limit = limits.max_action.min(limits.max_action_interruptible);
        let mut probes = Vec::new();
        for (i, p) in script.probes.iter().enumerate() {
            c.enter(i);
            (c.counting, c.bound, c.unbounded) = (false, 0, false);
            let mut body = c.stmt(&p.body);
            if c.unbounded || c.bound > limit {
                c.enter(i);
                c.counting = true;
                body = c.stmt(&p.body);
            }
            let (nli, nls) = c.counts();
            probes.push(ProbeCode { body, nli, nls });
        }
        let mut funcs = Vec::new();
        c.counting = true;
        for (i, f) in script.functions.iter().enumerate() {
            c.enter(script.probes.len() + i);
            let body = c.stmt(&f.body);
            let (nli, nls) = c.counts();
            funcs.push(FuncCode { body, nli, nls });
        }
        let st = State {
            globals,
            li: Vec::new(),
            ls: Vec::new(),
            bi: 0,
            bs: 0,
            ret_i: 0,
            ret_s: String::new(),
            out: String::new(),
            actions: 0,
            max_actions: limits.max_action,
            depth: 0,
            max_nesting: limits.max_nesting,
            exiting: false,
            pool: Vec::new(),
            sargs: Vec::new(),
            keys: Vec::new(),
        };
        Program { code: Code { probes, funcs }, st, limits, file: file.to_string(), reads_time: c.reads_time }
    }

    /// Whether the script calls a time function (`gettimeofday_ns()`, …): outside an event
    /// they read the time of the last event, which the environment must then keep.
    pub fn reads_time(&self) -> bool {
        self.reads_time
    }

    /// True once `exit()` or a runtime error happened: later events are not run, as in
    /// SystemTap, where no probe body runs after the session starts to stop.
    pub fn exiting(&self) -> bool {
        self.st.exiting
    }

    /// Runs probe `probe`'s body (the index of its `probe` clause) on the current event.
    /// `interruptible`: `begin`/`end`, with the larger statement limit. `pp` names the probe
    /// in a run-time error; `None`: the event's own `pp()`, asked only then.
    #[inline(always)]
    pub fn run(&mut self, probe: usize, interruptible: bool, pp: Option<&str>, env: &mut E) -> Result<(), RunError> {
        let st = &mut self.st;
        let p = &self.code.probes[probe];
        // Nothing to do for the bodies without locals (the common one-liners).
        if p.nli > 0 || p.nls > 0 || !st.li.is_empty() || !st.ls.is_empty() {
            st.fresh_locals(p.nli, p.nls);
        }
        st.bi = 0;
        st.bs = 0;
        st.depth = 0;
        st.actions = 0;
        st.max_actions = if interruptible { self.limits.max_action_interruptible } else { self.limits.max_action };
        let mut rt = Rt { st, env: &mut *env, code: &self.code };
        let result = (p.body)(&mut rt);
        if self.st.out.len() >= 1 << 15 {
            self.flush(env);
        }
        match result {
            Ok(_) => Ok(()),
            Err(f) => Err(self.failed(*f, pp, env)),
        }
    }

    #[cold]
    fn failed(&mut self, f: Fault, pp: Option<&str>, env: &mut E) -> RunError {
        self.st.exiting = true;
        let probe = match pp {
            Some(pp) => pp.to_string(),
            None => {
                let mut s = String::new();
                // The event's probe point; an environment without one leaves it empty.
                let _ = env.pp(&mut s);
                s
            }
        };
        RunError { message: f.message, near: f.near, pos: f.pos, file: self.file.clone(), probe }
    }

    /// Hands the buffered output to the environment.
    pub fn flush(&mut self, env: &mut E) {
        if !self.st.out.is_empty() {
            env.print(&self.st.out);
            self.st.out.clear();
        }
    }
}

struct Compiler<'s, E: ?Sized> {
    script: &'s Script,
    t: &'s Tables,
    scope: usize,
    /// The current scope's locals: (long?, slot).
    slots: Vec<(bool, usize)>,
    /// Whether blocks count their statements against MAXACTION. A probe body without loops
    /// or function calls runs each statement at most once, so when its statements are fewer
    /// than the limit it cannot exceed it and is compiled without counting.
    counting: bool,
    /// Statements in the blocks compiled so far (an upper bound of what runs without loops).
    bound: u64,
    /// A loop or a function call was compiled: no static bound.
    unbounded: bool,
    /// A time function was compiled.
    reads_time: bool,
    env: PhantomData<fn(&mut E)>,
}

fn near_ident(name: &str) -> String {
    format!("identifier '{name}'")
}

macro_rules! binop {
    ($a:ident, $b:ident, |$x:ident, $y:ident| $body:expr) => {
        Box::new(move |rt| {
            let $x = $a.eval(rt)?;
            let $y = $b.eval(rt)?;
            Ok($body)
        })
    };
}

enum LVal<E: ?Sized + 'static> {
    Local(usize),
    Global(usize),
    Elem(usize, KeyF<E>),
}

impl<'s, E: Env + ?Sized> Compiler<'s, E> {
    fn enter(&mut self, scope: usize) {
        self.scope = scope;
        let (mut ni, mut ns) = (0, 0);
        self.slots = self.t.scopes[scope]
            .vars
            .iter()
            .map(|v| {
                if v.ty == Ty::Str {
                    ns += 1;
                    (false, ns - 1)
                } else {
                    ni += 1;
                    (true, ni - 1)
                }
            })
            .collect();
    }

    fn counts(&self) -> (usize, usize) {
        let ni = self.slots.iter().filter(|s| s.0).count();
        (ni, self.slots.len() - ni)
    }

    fn var(&self, name: &str) -> VarRef {
        Checker::lookup(self.t, self.script, self.scope, name)
    }

    /// The type of an expression, all variables being known now.
    fn ty(&self, e: &Expr) -> Ty {
        match &e.kind {
            ExprKind::Num(_) => Ty::Long,
            ExprKind::Str(_) => Ty::Str,
            ExprKind::Var(name) => match self.var(name) {
                VarRef::Global(g) => self.t.globals[g].ty,
                VarRef::Local(l) => self.t.scopes[self.scope].vars[l].ty,
            },
            ExprKind::Index(name, _) => self.t.globals[self.t.gindex[name]].ty,
            ExprKind::Call(name, args) => {
                if let Some(&f) = self.t.findex.get(name) {
                    return self.t.funcs[f].ret;
                }
                match crate::builtins::lookup(name).map(|(_, s)| s) {
                    Some(crate::builtins::Sig::Fixed(_, r)) => r,
                    Some(crate::builtins::Sig::Format(r)) => r,
                    Some(crate::builtins::Sig::AnyScalars { ret, .. }) => ret,
                    None => {
                        let _ = args;
                        Ty::Unknown
                    }
                }
            }
            ExprKind::Stat(..) | ExprKind::In(..) | ExprKind::Unary(..) | ExprKind::And(..) | ExprKind::Or(..) => {
                Ty::Long
            }
            ExprKind::IncDec { .. } => Ty::Long,
            ExprKind::Hist(..) => Ty::Stat,
            ExprKind::Binary(op, ..) => {
                if *op == BinOp::Concat {
                    Ty::Str
                } else {
                    Ty::Long
                }
            }
            ExprKind::Ternary(_, a, b) => {
                let t = self.ty(a);
                if t == Ty::Unknown {
                    self.ty(b)
                } else {
                    t
                }
            }
            ExprKind::Assign(op, lhs, rhs) => match op {
                Some(BinOp::Concat) => Ty::Str,
                Some(_) => Ty::Long,
                None => {
                    let t = self.ty(lhs);
                    if t == Ty::Unknown {
                        self.ty(rhs)
                    } else {
                        t
                    }
                }
            },
            ExprKind::Aggregate(..) => Ty::Void,
        }
    }

    fn key(&mut self, name: &str, keys: &[Expr]) -> KeyF<E> {
        let g = self.t.gindex[name];
        let kt = &self.t.globals[g].keys;
        if kt.len() == 1 && kt[0] == Ty::Long {
            let f = self.int(&keys[0]);
            return Box::new(move |rt| Ok(KeyVal::I(f.eval(rt)?)));
        }
        enum P<X: ?Sized + 'static> {
            I(Int<X>),
            S(StrF<X>),
        }
        let parts: Vec<P<E>> = keys
            .iter()
            .zip(kt)
            .map(|(k, t)| if *t == Ty::Str { P::S(self.str(k)) } else { P::I(self.int(k)) })
            .collect();
        Box::new(move |rt| {
            let mut v = rt.st.keys.pop().unwrap_or_default();
            for p in &parts {
                match p {
                    P::I(f) => v.push(KPart::I(f.eval(rt)?)),
                    P::S(f) => {
                        let mut s = rt.st.tmp();
                        f(rt, &mut s)?;
                        clip(&mut s);
                        v.push(KPart::S(s));
                    }
                }
            }
            Ok(KeyVal::G(v))
        })
    }

    /// The key of an array keyed by one long, as a plain long (the fast path); None for
    /// other arrays.
    fn int_key(&mut self, name: &str, keys: &[Expr]) -> Option<Int<E>> {
        let kt = &self.t.globals[self.t.gindex[name]].keys;
        (kt.len() == 1 && kt[0] == Ty::Long).then(|| self.int(&keys[0]))
    }

    fn lval(&mut self, e: &Expr) -> LVal<E> {
        match &e.kind {
            ExprKind::Var(name) => match self.var(name) {
                VarRef::Local(l) => LVal::Local(self.slots[l].1),
                VarRef::Global(g) => LVal::Global(g),
            },
            ExprKind::Index(name, keys) => {
                let g = self.t.gindex[name];
                LVal::Elem(g, self.key(name, keys))
            }
            _ => unreachable!("checked: an lvalue"),
        }
    }

    fn overflow(&self, g: usize, pos: Pos) -> Box<Fault> {
        let info = &self.t.globals[g];
        let size = info.size.map_or("MAXMAPENTRIES".to_string(), |s| format!("its size of {s}"));
        fault(format!("Array overflow, check {size}"), near_ident(&info.name), pos)
    }

    // --- long-valued expressions ---

    fn int(&mut self, e: &Expr) -> Int<E> {
        let pos = e.pos;
        Int::Dyn(match &e.kind {
            ExprKind::Num(n) => return Int::Num(*n),
            ExprKind::Var(name) => {
                return match self.var(name) {
                    VarRef::Local(l) => Int::Local(self.slots[l].1),
                    VarRef::Global(g) => Int::Global(g),
                }
            }
            ExprKind::Index(name, keys) => {
                let g = self.t.gindex[name];
                let k = self.key(name, keys);
                Box::new(move |rt| {
                    let key = k(rt)?;
                    let v = match rt.st.array(g).get(&key) {
                        Some(AVal::L(v)) => *v,
                        _ => 0,
                    };
                    rt.st.recycle(key);
                    Ok(v)
                })
            }
            ExprKind::Call(name, args) => return self.call_int(e, name, args),
            ExprKind::Stat(f, operand) => self.stat(*f, operand, pos),
            ExprKind::Unary(op, a) => {
                let a = self.int(a);
                match op {
                    UnOp::Neg => Box::new(move |rt| Ok(a.eval(rt)?.wrapping_neg())),
                    UnOp::Plus => return a,
                    UnOp::Not => Box::new(move |rt| Ok(i64::from(a.eval(rt)? == 0))),
                    UnOp::BitNot => Box::new(move |rt| Ok(!a.eval(rt)?)),
                }
            }
            ExprKind::Binary(op, a, b) => {
                if op.is_comparison() && self.ty(a) == Ty::Str {
                    return Int::Dyn(self.str_compare(*op, a, b));
                }
                let (a, b) = (self.int(a), self.int(b));
                self.arith(*op, a, b, pos)
            }
            ExprKind::And(a, b) => {
                let (a, b) = (self.int(a), self.int(b));
                Box::new(move |rt| Ok(i64::from(a.eval(rt)? != 0 && b.eval(rt)? != 0)))
            }
            ExprKind::Or(a, b) => {
                let (a, b) = (self.int(a), self.int(b));
                Box::new(move |rt| Ok(i64::from(a.eval(rt)? != 0 || b.eval(rt)? != 0)))
            }
            ExprKind::Ternary(c, a, b) => {
                let (c, a, b) = (self.int(c), self.int(a), self.int(b));
                Box::new(move |rt| if c.eval(rt)? != 0 { a.eval(rt) } else { b.eval(rt) })
            }
            ExprKind::Assign(op, lhs, rhs) => self.assign_int(*op, lhs, rhs, pos, |v| v),
            ExprKind::IncDec { pre, delta, target } => {
                let pre = *pre;
                self.modify_int(target, Int::Num(*delta), BinOp::Add, pos, move |old, new| if pre { new } else { old })
            }
            ExprKind::In(keys, name, _) => {
                let g = self.t.gindex[name];
                let k = self.key(name, keys);
                Box::new(move |rt| {
                    let key = k(rt)?;
                    let found = rt.st.array(g).get(&key).is_some();
                    rt.st.recycle(key);
                    Ok(i64::from(found))
                })
            }
            ExprKind::Aggregate(lhs, rhs) => {
                let f = self.aggregate(lhs, rhs);
                Box::new(move |rt| f(rt).map(|_| 0))
            }
            ExprKind::Str(_) | ExprKind::Hist(..) => unreachable!("checked: a long"),
        })
    }

    fn arith(&self, op: BinOp, a: Int<E>, b: Int<E>, pos: Pos) -> IntF<E> {
        match op {
            BinOp::Add => binop!(a, b, |x, y| x.wrapping_add(y)),
            BinOp::Sub => binop!(a, b, |x, y| x.wrapping_sub(y)),
            BinOp::Mul => binop!(a, b, |x, y| x.wrapping_mul(y)),
            BinOp::Div | BinOp::Mod => {
                let div = op == BinOp::Div;
                Box::new(move |rt| {
                    let x = a.eval(rt)?;
                    let y = b.eval(rt)?;
                    if y == 0 {
                        return Err(fault("division by zero", format!("operator '{}'", op.text()), pos));
                    }
                    Ok(if div { x.wrapping_div(y) } else { x.wrapping_rem(y) })
                })
            }
            // Shift counts wrap modulo 64, as the x86 instructions do.
            BinOp::Shl => binop!(a, b, |x, y| x.wrapping_shl(y as u32)),
            BinOp::Shr => binop!(a, b, |x, y| x.wrapping_shr(y as u32)),
            BinOp::BitAnd => binop!(a, b, |x, y| x & y),
            BinOp::BitOr => binop!(a, b, |x, y| x | y),
            BinOp::BitXor => binop!(a, b, |x, y| x ^ y),
            BinOp::Lt => binop!(a, b, |x, y| i64::from(x < y)),
            BinOp::Le => binop!(a, b, |x, y| i64::from(x <= y)),
            BinOp::Gt => binop!(a, b, |x, y| i64::from(x > y)),
            BinOp::Ge => binop!(a, b, |x, y| i64::from(x >= y)),
            BinOp::Eq => binop!(a, b, |x, y| i64::from(x == y)),
            BinOp::Ne => binop!(a, b, |x, y| i64::from(x != y)),
            BinOp::Concat => unreachable!("checked: strings"),
        }
    }

    fn str_compare(&mut self, op: BinOp, a: &Expr, b: &Expr) -> IntF<E> {
        let (a, b) = (self.str(a), self.str(b));
        Box::new(move |rt| {
            let mut x = rt.st.tmp();
            let mut y = rt.st.tmp();
            a(rt, &mut x)?;
            b(rt, &mut y)?;
            let o = x.as_bytes().cmp(y.as_bytes());
            rt.st.give(x);
            rt.st.give(y);
            use core::cmp::Ordering::*;
            Ok(i64::from(match op {
                BinOp::Lt => o == Less,
                BinOp::Le => o != Greater,
                BinOp::Gt => o == Greater,
                BinOp::Ge => o != Less,
                BinOp::Eq => o == Equal,
                _ => o != Equal,
            }))
        })
    }

    /// Read-modify-write of a long lvalue (`x += e`, `a[k]++`); `done(old, new)` makes the
    /// result: the expression's value, or `Flow::Normal` for a statement.
    fn modify_int<T: 'static>(
        &mut self,
        target: &Expr,
        rhs: Int<E>,
        op: BinOp,
        pos: Pos,
        done: impl Fn(i64, i64) -> T + Copy + 'static,
    ) -> ValF<E, T> {
        let apply = move |old: i64, r: i64| -> R<i64> {
            Ok(match op {
                BinOp::Add => old.wrapping_add(r),
                BinOp::Sub => old.wrapping_sub(r),
                BinOp::Mul => old.wrapping_mul(r),
                BinOp::Div | BinOp::Mod => {
                    if r == 0 {
                        return Err(fault("division by zero", format!("operator '{}='", op.text()), pos));
                    }
                    if op == BinOp::Div {
                        old.wrapping_div(r)
                    } else {
                        old.wrapping_rem(r)
                    }
                }
                BinOp::Shl => old.wrapping_shl(r as u32),
                BinOp::Shr => old.wrapping_shr(r as u32),
                BinOp::BitAnd => old & r,
                BinOp::BitOr => old | r,
                BinOp::BitXor => old ^ r,
                _ => unreachable!("checked: an arithmetic assignment"),
            })
        };
        match self.lval(target) {
            LVal::Local(s) => Box::new(move |rt| {
                let r = rhs.eval(rt)?;
                let slot = rt.st.bi + s;
                let old = rt.st.li[slot];
                let new = apply(old, r)?;
                rt.st.li[slot] = new;
                Ok(done(old, new))
            }),
            LVal::Global(g) => Box::new(move |rt| {
                let r = rhs.eval(rt)?;
                let GVal::L(v) = &mut rt.st.globals[g] else { unreachable!("checked: a long") };
                let old = *v;
                let new = apply(old, r)?;
                *v = new;
                Ok(done(old, new))
            }),
            LVal::Elem(g, k) => {
                let over = self.overflow(g, target.pos);
                Box::new(move |rt| {
                    let key = k(rt)?;
                    let r = rhs.eval(rt)?;
                    let e = rt.st.array(g).entry(&key, || AVal::L(0)).map_err(|_| over.clone_box())?;
                    let AVal::L(v) = e else { unreachable!("checked: a long array") };
                    let old = *v;
                    let new = apply(old, r)?;
                    *v = new;
                    rt.st.recycle(key);
                    Ok(done(old, new))
                })
            }
        }
    }

    /// `x = e`, `x op= e` on a long; `done(value)` makes the result as for [`Self::modify_int`].
    fn assign_int<T: 'static>(
        &mut self,
        op: Option<BinOp>,
        lhs: &Expr,
        rhs: &Expr,
        pos: Pos,
        done: impl Fn(i64) -> T + Copy + 'static,
    ) -> ValF<E, T> {
        let r = self.int(rhs);
        if let Some(op) = op {
            return self.modify_int(lhs, r, op, pos, move |_, new| done(new));
        }
        match self.lval(lhs) {
            LVal::Local(s) => Box::new(move |rt| {
                let v = r.eval(rt)?;
                rt.st.li[rt.st.bi + s] = v;
                Ok(done(v))
            }),
            LVal::Global(g) => Box::new(move |rt| {
                let v = r.eval(rt)?;
                rt.st.globals[g] = GVal::L(v);
                Ok(done(v))
            }),
            LVal::Elem(g, k) => {
                let over = self.overflow(g, lhs.pos);
                Box::new(move |rt| {
                    let key = k(rt)?;
                    let v = r.eval(rt)?;
                    let e = rt.st.array(g).entry(&key, || AVal::L(0)).map_err(|_| over.clone_box())?;
                    *e = AVal::L(v);
                    rt.st.recycle(key);
                    Ok(done(v))
                })
            }
        }
    }

    fn stat(&mut self, f: StatFn, operand: &Expr, pos: Pos) -> IntF<E> {
        let name = match &operand.kind {
            ExprKind::Var(n) | ExprKind::Index(n, _) => n.clone(),
            _ => unreachable!("checked"),
        };
        let pick = move |s: Option<&Stat>| -> R<i64> {
            let (count, sum) = s.map_or((0, 0), |s| (s.count, s.sum));
            match f {
                StatFn::Count => Ok(count),
                StatFn::Sum => Ok(sum),
                _ if count == 0 => Err(fault(
                    "empty aggregate",
                    format!(
                        "identifier '{}'",
                        match f {
                            StatFn::Min => "@min",
                            StatFn::Max => "@max",
                            _ => "@avg",
                        }
                    ),
                    pos,
                )),
                StatFn::Min => Ok(s.map_or(0, |s| s.min)),
                StatFn::Max => Ok(s.map_or(0, |s| s.max)),
                StatFn::Avg => Ok(s.map_or(0, Stat::avg)),
            }
        };
        let g = self.t.gindex[&name];
        match &operand.kind {
            ExprKind::Var(_) => Box::new(move |rt| match &rt.st.globals[g] {
                GVal::T(s) => pick(Some(s)),
                _ => unreachable!("checked: an aggregate"),
            }),
            ExprKind::Index(_, keys) => {
                let k = self.key(&name, keys);
                Box::new(move |rt| {
                    let key = k(rt)?;
                    let v = match rt.st.array(g).get(&key) {
                        Some(AVal::T(s)) => pick(Some(s)),
                        _ => pick(None),
                    };
                    rt.st.recycle(key);
                    v
                })
            }
            _ => unreachable!("checked"),
        }
    }

    fn aggregate(&mut self, lhs: &Expr, rhs: &Expr) -> StmtF<E> {
        let v = self.int(rhs);
        let name = match &lhs.kind {
            ExprKind::Var(n) | ExprKind::Index(n, _) => n.clone(),
            _ => unreachable!("checked"),
        };
        let g = self.t.gindex[&name];
        let hist = self.t.globals[g].hist.map(|h| h.0);
        if let ExprKind::Index(_, keys) = &lhs.kind {
            if let Some(k) = self.int_key(&name, keys) {
                let over = self.overflow(g, lhs.pos);
                return Box::new(move |rt| {
                    let key = k.eval(rt)?;
                    let x = v.eval(rt)?;
                    let e = rt.st.array(g).int_entry(key, || AVal::T(Stat::new(hist))).map_err(|_| over.clone_box())?;
                    let AVal::T(s) = e else { unreachable!("checked: an aggregate array") };
                    s.add(x, hist);
                    Ok(Flow::Normal)
                });
            }
        }
        match self.lval(lhs) {
            LVal::Global(_) => Box::new(move |rt| {
                let x = v.eval(rt)?;
                let GVal::T(s) = &mut rt.st.globals[g] else { unreachable!("checked: an aggregate") };
                s.add(x, hist);
                Ok(Flow::Normal)
            }),
            LVal::Elem(_, k) => {
                let over = self.overflow(g, lhs.pos);
                Box::new(move |rt| {
                    let key = k(rt)?;
                    let x = v.eval(rt)?;
                    let e = rt.st.array(g).entry(&key, || AVal::T(Stat::new(hist))).map_err(|_| over.clone_box())?;
                    let AVal::T(s) = e else { unreachable!("checked: an aggregate array") };
                    s.add(x, hist);
                    rt.st.recycle(key);
                    Ok(Flow::Normal)
                })
            }
            LVal::Local(_) => unreachable!("checked: aggregates are global"),
        }
    }

    // --- string-valued expressions (append to `out`) ---

    fn str(&mut self, e: &Expr) -> StrF<E> {
        let pos = e.pos;
        match &e.kind {
            ExprKind::Str(s) => {
                let s = s.clone();
                Box::new(move |_, out| {
                    out.push_str(&s);
                    Ok(())
                })
            }
            ExprKind::Var(name) => match self.var(name) {
                VarRef::Local(l) => {
                    let s = self.slots[l].1;
                    Box::new(move |rt, out| {
                        out.push_str(&rt.st.ls[rt.st.bs + s]);
                        Ok(())
                    })
                }
                VarRef::Global(g) => Box::new(move |rt, out| {
                    match &rt.st.globals[g] {
                        GVal::S(v) => out.push_str(v),
                        _ => unreachable!("checked: a string"),
                    }
                    Ok(())
                }),
            },
            ExprKind::Index(name, keys) => {
                let g = self.t.gindex[name];
                let k = self.key(name, keys);
                Box::new(move |rt, out| {
                    let key = k(rt)?;
                    if let Some(AVal::S(v)) = rt.st.array(g).get(&key) {
                        out.push_str(v);
                    }
                    rt.st.recycle(key);
                    Ok(())
                })
            }
            ExprKind::Call(name, args) => self.call_str(e, name, args),
            ExprKind::Binary(BinOp::Concat, a, b) => {
                let (a, b) = (self.str(a), self.str(b));
                Box::new(move |rt, out| {
                    a(rt, out)?;
                    b(rt, out)
                })
            }
            ExprKind::Ternary(c, a, b) => {
                let (c, a, b) = (self.int(c), self.str(a), self.str(b));
                Box::new(move |rt, out| if c.eval(rt)? != 0 { a(rt, out) } else { b(rt, out) })
            }
            ExprKind::Assign(op, lhs, rhs) => {
                let r = self.str(rhs);
                let append = *op == Some(BinOp::Concat);
                match self.lval(lhs) {
                    LVal::Local(s) => Box::new(move |rt, out| {
                        let mut v = rt.st.tmp();
                        if append {
                            v.push_str(&rt.st.ls[rt.st.bs + s]);
                        }
                        r(rt, &mut v)?;
                        clip(&mut v);
                        out.push_str(&v);
                        let slot = rt.st.bs + s;
                        std::mem::swap(&mut rt.st.ls[slot], &mut v);
                        rt.st.give(v);
                        Ok(())
                    }),
                    LVal::Global(g) => Box::new(move |rt, out| {
                        let mut v = rt.st.tmp();
                        if append {
                            if let GVal::S(old) = &rt.st.globals[g] {
                                v.push_str(old);
                            }
                        }
                        r(rt, &mut v)?;
                        clip(&mut v);
                        out.push_str(&v);
                        if let GVal::S(old) = &mut rt.st.globals[g] {
                            std::mem::swap(old, &mut v);
                        }
                        rt.st.give(v);
                        Ok(())
                    }),
                    LVal::Elem(g, k) => {
                        let over = self.overflow(g, lhs.pos);
                        Box::new(move |rt, out| {
                            let key = k(rt)?;
                            let mut v = String::new();
                            if append {
                                if let Some(AVal::S(old)) = rt.st.array(g).get(&key) {
                                    v.push_str(old);
                                }
                            }
                            r(rt, &mut v)?;
                            clip(&mut v);
                            out.push_str(&v);
                            let e =
                                rt.st.array(g).entry(&key, || AVal::S(String::new())).map_err(|_| over.clone_box())?;
                            *e = AVal::S(v);
                            rt.st.recycle(key);
                            Ok(())
                        })
                    }
                }
            }
            _ => {
                let _ = pos;
                unreachable!("checked: a string expression")
            }
        }
    }

    // --- calls ---

    fn user_call(&mut self, name: &str, args: &[Expr], pos: Pos) -> StmtF<E> {
        // The callee's statements count against the caller's limit.
        self.unbounded = true;
        let f = self.t.findex[name];
        let scope = &self.t.scopes[self.script.probes.len() + f];
        enum A<X: ?Sized + 'static> {
            I(Int<X>, usize),
            S(StrF<X>, usize),
        }
        // Parameter slots in the callee's frame.
        let (mut ni, mut ns) = (0, 0);
        let mut slots = Vec::new();
        for v in &scope.vars {
            if v.ty == Ty::Str {
                slots.push(ns);
                ns += 1;
            } else {
                slots.push(ni);
                ni += 1;
            }
        }
        let compiled: Vec<A<E>> =
            args.iter()
                .enumerate()
                .map(|(k, a)| {
                    if scope.vars[k].ty == Ty::Str {
                        A::S(self.str(a), slots[k])
                    } else {
                        A::I(self.int(a), slots[k])
                    }
                })
                .collect();
        let name = name.to_string();
        Box::new(move |rt| {
            if rt.st.depth >= rt.st.max_nesting {
                return Err(fault("MAXNESTING exceeded", near_ident(&name), pos));
            }
            // Arguments are evaluated in the caller's frame, then moved into the callee's.
            let mut ints = [0i64; 8];
            let mut strs: Vec<String> = Vec::new();
            let mut extra_ints: Vec<i64> = Vec::new();
            for (k, a) in compiled.iter().enumerate() {
                match a {
                    A::I(f, _) => {
                        let v = f.eval(rt)?;
                        if k < 8 {
                            ints[k] = v;
                        } else {
                            extra_ints.push(v);
                        }
                    }
                    A::S(f, _) => {
                        let mut s = rt.st.tmp();
                        f(rt, &mut s)?;
                        clip(&mut s);
                        strs.push(s);
                    }
                }
            }
            let code = rt.code;
            let fc = &code.funcs[f];
            let (obi, obs) = (rt.st.bi, rt.st.bs);
            let (nbi, nbs) = (rt.st.li.len(), rt.st.ls.len());
            rt.st.li.resize(nbi + fc.nli, 0);
            rt.st.ls.resize(nbs + fc.nls, String::new());
            let mut strs = strs.into_iter();
            let mut extra = extra_ints.into_iter();
            for (k, a) in compiled.iter().enumerate() {
                match a {
                    A::I(_, s) => rt.st.li[nbi + s] = if k < 8 { ints[k] } else { extra.next().unwrap_or(0) },
                    A::S(_, s) => rt.st.ls[nbs + s] = strs.next().unwrap_or_default(),
                }
            }
            rt.st.bi = nbi;
            rt.st.bs = nbs;
            rt.st.depth += 1;
            rt.st.ret_i = 0;
            rt.st.ret_s.clear();
            let r = (fc.body)(rt);
            rt.st.depth -= 1;
            rt.st.bi = obi;
            rt.st.bs = obs;
            rt.st.li.truncate(nbi);
            let drop_from = nbs;
            while rt.st.ls.len() > drop_from {
                let s = rt.st.ls.pop().unwrap_or_default();
                rt.st.give(s);
            }
            r.map(|_| Flow::Normal)
        })
    }

    fn call_int(&mut self, e: &Expr, name: &str, args: &[Expr]) -> Int<E> {
        let pos = e.pos;
        if self.t.findex.contains_key(name) {
            let call = self.user_call(name, args, pos);
            return Int::Dyn(Box::new(move |rt| {
                call(rt)?;
                Ok(rt.st.ret_i)
            }));
        }
        let b = builtin_of(self.t, name).expect("checked: a known function");
        let near = near_ident(name);
        let err = move |m: String| fault(m, near.clone(), pos);
        macro_rules! env0 {
            ($m:ident) => {{
                let err = err.clone();
                Box::new(move |rt| rt.env.$m().map_err(&err))
            }};
        }
        let arg0 = |c: &mut Self| c.int(&args[0]);
        Int::Dyn(match b {
            Builtin::Pid => return Int::Event(Field::Pid, pos),
            Builtin::Tid => return Int::Event(Field::Tid, pos),
            Builtin::Uid => return Int::Event(Field::Uid, pos),
            Builtin::Cpu => return Int::Event(Field::Cpu, pos),
            Builtin::ProbeId => env0!(probe_id),
            Builtin::EntryTimestampNs => env0!(entry_timestamp_ns),
            Builtin::LatencyNs => env0!(latency_ns),
            Builtin::IsReturn => Box::new(move |rt| rt.env.is_return().map(i64::from).map_err(&err)),
            Builtin::Target => Box::new(move |rt| Ok(rt.env.target())),
            Builtin::TimeNs | Builtin::TimeUs | Builtin::TimeMs | Builtin::TimeS => {
                self.reads_time = true;
                let div = match b {
                    Builtin::TimeNs => 1,
                    Builtin::TimeUs => 1_000,
                    Builtin::TimeMs => 1_000_000,
                    _ => 1_000_000_000,
                };
                Box::new(move |rt| rt.env.timestamp_ns().map(|t| t / div).map_err(&err))
            }
            Builtin::Arg(bits, signed) => {
                // `pointer_arg(1)`: the number is nearly always a literal.
                if let ExprKind::Num(n) = args[0].kind {
                    return Int::Arg(n, bits, signed, Box::new(Site { near: near_ident(name), pos }));
                }
                let n = arg0(self);
                Box::new(move |rt| {
                    let n = n.eval(rt)?;
                    Ok(narrow_arg(rt.env.arg(n).map_err(&err)?, bits, signed))
                })
            }
            Builtin::Returnval => Box::new(move |rt| rt.env.returnval().map_err(&err)),
            Builtin::Register(unsigned) => {
                let r = self.str(&args[0]);
                Box::new(move |rt| {
                    let mut name = rt.st.tmp();
                    r(rt, &mut name)?;
                    let v = rt.env.register(&name, unsigned).map_err(&err);
                    rt.st.give(name);
                    v
                })
            }
            Builtin::Read(user, size, signed) => {
                let a = arg0(self);
                Box::new(move |rt| {
                    let addr = a.eval(rt)? as u64;
                    let raw = rt.env.read(user, addr, size).map_err(&err)?;
                    Ok(match (size, signed) {
                        (1, true) => raw as u8 as i8 as i64,
                        (2, true) => raw as u16 as i16 as i64,
                        (4, true) => raw as u32 as i32 as i64,
                        _ => raw as i64,
                    })
                })
            }
            Builtin::Field => {
                let r = self.str(&args[0]);
                Box::new(move |rt| {
                    let mut name = rt.st.tmp();
                    r(rt, &mut name)?;
                    let v = rt.env.field(&name).map_err(&err);
                    rt.st.give(name);
                    v
                })
            }
            Builtin::Strlen => {
                let s = self.str(&args[0]);
                Box::new(move |rt| {
                    let mut t = rt.st.tmp();
                    s(rt, &mut t)?;
                    let n = t.len() as i64;
                    rt.st.give(t);
                    Ok(n)
                })
            }
            Builtin::Isinstr => {
                let (a, b) = (self.str(&args[0]), self.str(&args[1]));
                Box::new(move |rt| {
                    let mut x = rt.st.tmp();
                    let mut y = rt.st.tmp();
                    a(rt, &mut x)?;
                    b(rt, &mut y)?;
                    let r = i64::from(x.contains(y.as_str()));
                    rt.st.give(x);
                    rt.st.give(y);
                    Ok(r)
                })
            }
            Builtin::Strtol => {
                let (s, base) = (self.str(&args[0]), self.int(&args[1]));
                Box::new(move |rt| {
                    let mut t = rt.st.tmp();
                    s(rt, &mut t)?;
                    let base = base.eval(rt)?;
                    let r = strtol(&t, base);
                    rt.st.give(t);
                    r.ok_or_else(|| err(format!("strtol: invalid base {base} (2 to 36)")))
                })
            }
            Builtin::Stringat => {
                let (s, i) = (self.str(&args[0]), self.int(&args[1]));
                Box::new(move |rt| {
                    let mut t = rt.st.tmp();
                    s(rt, &mut t)?;
                    let i = i.eval(rt)?;
                    let r = usize::try_from(i).ok().and_then(|i| t.as_bytes().get(i).copied());
                    rt.st.give(t);
                    r.map(i64::from).ok_or_else(|| err(format!("stringat: index {i} out of range")))
                })
            }
            _ => {
                // Statement-like builtins used for their value (checked: only void ones
                // reach here from expression statements).
                let s = self.void_call(e, name, args);
                Box::new(move |rt| s(rt).map(|_| 0))
            }
        })
    }

    fn call_str(&mut self, e: &Expr, name: &str, args: &[Expr]) -> StrF<E> {
        let pos = e.pos;
        if self.t.findex.contains_key(name) {
            let call = self.user_call(name, args, pos);
            return Box::new(move |rt, out| {
                call(rt)?;
                out.push_str(&rt.st.ret_s);
                Ok(())
            });
        }
        let b = builtin_of(self.t, name).expect("checked: a known function");
        let near = near_ident(name);
        let err = move |m: String| fault(m, near.clone(), pos);
        match b {
            Builtin::Pp => Box::new(move |rt, out| rt.env.pp(out).map_err(&err)),
            Builtin::Execname => Box::new(move |rt, out| rt.env.execname(out).map_err(&err)),
            Builtin::Returnstr => {
                let fmt = self.int(&args[0]);
                Box::new(move |rt, out| {
                    if fmt.eval(rt)? == 2 {
                        let v = rt.env.returnval().map_err(&err)?;
                        out.push_str(&format!("{v:#x}"));
                        Ok(())
                    } else {
                        rt.env.returnstr(out).map_err(&err)
                    }
                })
            }
            Builtin::String(user) => {
                let a = self.int(&args[0]);
                Box::new(move |rt, out| {
                    let addr = a.eval(rt)? as u64;
                    rt.env.string(user, addr, MAX_STRING as u32 - 1, out).map_err(&err)
                })
            }
            Builtin::StringN(user) => {
                let (a, n) = (self.int(&args[0]), self.int(&args[1]));
                Box::new(move |rt, out| {
                    let addr = a.eval(rt)? as u64;
                    let n = n.eval(rt)?.clamp(0, MAX_STRING as i64 - 1) as u32;
                    rt.env.string(user, addr, n, out).map_err(&err)
                })
            }
            Builtin::FieldString => {
                let r = self.str(&args[0]);
                Box::new(move |rt, out| {
                    let mut name = rt.st.tmp();
                    r(rt, &mut name)?;
                    let v = rt.env.field_string(&name, out).map_err(&err);
                    rt.st.give(name);
                    v
                })
            }
            Builtin::Substr => {
                let (s, start, len) = (self.str(&args[0]), self.int(&args[1]), self.int(&args[2]));
                Box::new(move |rt, out| {
                    let mut t = rt.st.tmp();
                    s(rt, &mut t)?;
                    let start = start.eval(rt)?.max(0) as usize;
                    let len = len.eval(rt)?.max(0) as usize;
                    let bytes = t.as_bytes();
                    if start < bytes.len() {
                        let end = start.saturating_add(len).min(bytes.len());
                        out.push_str(&String::from_utf8_lossy(&bytes[start..end]));
                    }
                    rt.st.give(t);
                    Ok(())
                })
            }
            Builtin::StrReplace => {
                let (s, from, to) = (self.str(&args[0]), self.str(&args[1]), self.str(&args[2]));
                Box::new(move |rt, out| {
                    let (mut a, mut b, mut c) = (rt.st.tmp(), rt.st.tmp(), rt.st.tmp());
                    s(rt, &mut a)?;
                    from(rt, &mut b)?;
                    to(rt, &mut c)?;
                    if b.is_empty() {
                        out.push_str(&a);
                    } else {
                        out.push_str(&a.replace(b.as_str(), &c));
                    }
                    rt.st.give(a);
                    rt.st.give(b);
                    rt.st.give(c);
                    Ok(())
                })
            }
            Builtin::ErrnoStr => {
                let v = self.int(&args[0]);
                Box::new(move |rt, out| {
                    let v = v.eval(rt)?;
                    out.push_str(errno_name(v));
                    Ok(())
                })
            }
            Builtin::Sprintf => {
                let f = self.formatted(args);
                Box::new(move |rt, out| f(rt, Some(out)))
            }
            Builtin::Sprint | Builtin::Sprintln => {
                let f = self.printed(args, false, b == Builtin::Sprintln);
                Box::new(move |rt, out| f(rt, Some(out)))
            }
            _ => unreachable!("checked: a string function"),
        }
    }

    /// True for a call of `pp()` or `execname()`: a string read from the event that no
    /// statement of the script can change.
    fn event_string(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Call(name, args) if args.is_empty() && !self.t.findex.contains_key(name.as_str()) => {
                matches!(builtin_of(self.t, name), Some(Builtin::Pp | Builtin::Execname))
            }
            _ => false,
        }
    }

    /// `printf`/`sprintf`: the arguments are evaluated first, then formatted into `out`
    /// (or the session's output). `pp()` and `execname()` are written straight into the
    /// output when their turn comes (the script cannot change them in between), which
    /// spares a copy through a temporary.
    fn formatted(&mut self, args: &[Expr]) -> FmtF<E> {
        let ExprKind::Str(fmt) = &args[0].kind else { unreachable!("checked: a literal format") };
        let pieces = format::parse(fmt).expect("checked: a valid format");
        enum A<X: ?Sized + 'static> {
            I(Int<X>),
            S(StrF<X>),
            Direct(StrF<X>),
        }
        let vals: Vec<A<E>> = args[1..]
            .iter()
            .map(|a| {
                if self.event_string(a) {
                    A::Direct(self.str(a))
                } else if self.ty(a) == Ty::Str {
                    A::S(self.str(a))
                } else {
                    A::I(self.int(a))
                }
            })
            .collect();
        enum Out {
            Lit(String),
            /// A literal of a few ASCII bytes (`", "`, `"\n"`).
            Short(format::Ascii<16>),
            Int(usize, Spec),
            Str(usize, Spec),
            /// The index in `vals` of a `Direct` argument.
            Direct(usize, Spec),
        }
        let (mut ni, mut ns) = (0, 0);
        let mut plan = Vec::new();
        let mut k = 0;
        for p in pieces {
            match p {
                Piece::Lit(s) => plan.push(format::Ascii::new(&s).map_or(Out::Lit(s), Out::Short)),
                Piece::Spec(spec) => {
                    match vals[k] {
                        A::I(_) => {
                            plan.push(Out::Int(ni, spec));
                            ni += 1;
                        }
                        A::S(_) => {
                            plan.push(Out::Str(ns, spec));
                            ns += 1;
                        }
                        A::Direct(_) => plan.push(Out::Direct(k, spec)),
                    }
                    k += 1;
                }
            }
        }
        Box::new(move |rt, out| {
            let mut ints = [0i64; 16];
            let mut more: Vec<i64> = Vec::new();
            let base = rt.st.sargs.len();
            let mut i = 0;
            for v in &vals {
                match v {
                    A::I(f) => {
                        let x = f.eval(rt)?;
                        if i < 16 {
                            ints[i] = x;
                        } else {
                            more.push(x);
                        }
                        i += 1;
                    }
                    A::S(f) => {
                        let mut s = rt.st.tmp();
                        f(rt, &mut s)?;
                        rt.st.sargs.push(s);
                    }
                    A::Direct(_) => {}
                }
            }
            // The session's output is moved out for the time of the formatting, so that
            // direct arguments can write into it while `rt` is borrowed.
            let mut own = None;
            let out: &mut String = match out {
                Some(o) => o,
                None => own.insert(std::mem::take(&mut rt.st.out)),
            };
            let written = out.len();
            let mut result = Ok(());
            for p in &plan {
                match p {
                    Out::Lit(s) => out.push_str(s),
                    Out::Short(s) => s.push_to(out),
                    Out::Int(k, spec) => {
                        let v = if *k < 16 { ints[*k] } else { more[*k - 16] };
                        format::int(out, v, spec);
                    }
                    Out::Str(k, spec) => {
                        let s = &rt.st.sargs[base + k];
                        if spec.width.is_none() && spec.precision.is_none() {
                            out.push_str(s);
                        } else {
                            format::string(out, s, spec);
                        }
                    }
                    Out::Direct(k, spec) => {
                        let A::Direct(f) = &vals[*k] else { unreachable!("planned as direct") };
                        result = if spec.width.is_none() && spec.precision.is_none() {
                            f(rt, out)
                        } else {
                            let mut t = rt.st.tmp();
                            let r = f(rt, &mut t);
                            format::string(out, &t, spec);
                            rt.st.give(t);
                            r
                        };
                        if result.is_err() {
                            // Nothing of a line whose arguments failed, as before.
                            out.truncate(written);
                            break;
                        }
                    }
                }
            }
            if let Some(o) = own {
                rt.st.out = o;
            }
            while rt.st.sargs.len() > base {
                let s = rt.st.sargs.pop().unwrap_or_default();
                rt.st.give(s);
            }
            result
        })
    }

    /// `print`, `println`, `sprint`, `printd`…: values one after the other.
    fn printed(&mut self, args: &[Expr], delimited: bool, newline: bool) -> FmtF<E> {
        enum A<X: ?Sized + 'static> {
            I(Int<X>),
            S(StrF<X>),
        }
        let (delim, vals) = if delimited { (Some(self.str(&args[0])), &args[1..]) } else { (None, args) };
        let vals: Vec<A<E>> =
            vals.iter().map(|a| if self.ty(a) == Ty::Str { A::S(self.str(a)) } else { A::I(self.int(a)) }).collect();
        Box::new(move |rt, out| {
            let mut buf = rt.st.tmp();
            let mut d = rt.st.tmp();
            if let Some(f) = &delim {
                f(rt, &mut d)?;
            }
            for (k, v) in vals.iter().enumerate() {
                if k > 0 {
                    buf.push_str(&d);
                }
                match v {
                    A::I(f) => {
                        let x = f.eval(rt)?;
                        buf.push_str(&x.to_string());
                    }
                    A::S(f) => f(rt, &mut buf)?,
                }
            }
            if newline {
                buf.push('\n');
            }
            match out {
                Some(o) => o.push_str(&buf),
                None => rt.st.out.push_str(&buf),
            }
            rt.st.give(buf);
            rt.st.give(d);
            Ok(())
        })
    }

    /// Calls made for their effect.
    fn void_call(&mut self, e: &Expr, name: &str, args: &[Expr]) -> StmtF<E> {
        let pos = e.pos;
        if self.t.findex.contains_key(name) {
            return self.user_call(name, args, pos);
        }
        let b = builtin_of(self.t, name).expect("checked: a known function");
        let near = near_ident(name);
        let err = move |m: String| fault(m, near.clone(), pos);
        match b {
            Builtin::Asmlinkage => Box::new(|_| Ok(Flow::Normal)),
            Builtin::Exit => Box::new(|rt| {
                rt.st.exiting = true;
                rt.env.exit();
                Ok(Flow::Normal)
            }),
            Builtin::PrintRegs => Box::new(move |rt| {
                // What was printed so far goes first: an environment may write the
                // registers straight into its own output.
                if !rt.st.out.is_empty() {
                    rt.env.print(&rt.st.out);
                    rt.st.out.clear();
                }
                let st = &mut *rt.st;
                rt.env.print_regs(&mut st.out).map_err(&err)?;
                Ok(Flow::Normal)
            }),
            Builtin::Printf => {
                let f = self.formatted(args);
                Box::new(move |rt| f(rt, None).map(|()| Flow::Normal))
            }
            Builtin::Print | Builtin::Println if args.len() == 1 && matches!(args[0].kind, ExprKind::Hist(..)) => {
                let ExprKind::Hist(operand, _) = &args[0].kind else { unreachable!() };
                let name = match &operand.kind {
                    ExprKind::Var(n) | ExprKind::Index(n, _) => n.clone(),
                    _ => unreachable!("checked"),
                };
                let g = self.t.gindex[&name];
                let kind: HistKind = self.t.globals[g].hist.expect("checked: a histogram").0;
                match &operand.kind {
                    ExprKind::Index(_, keys) => {
                        let k = self.key(&name, keys);
                        Box::new(move |rt| {
                            let key = k(rt)?;
                            let st = &mut *rt.st;
                            let a = match &st.globals[g] {
                                GVal::A(a) => a,
                                _ => unreachable!(),
                            };
                            match a.get(&key) {
                                Some(AVal::T(s)) => s.print_hist(kind, &mut st.out),
                                _ => Stat::new(Some(kind)).print_hist(kind, &mut st.out),
                            }
                            st.recycle(key);
                            Ok(Flow::Normal)
                        })
                    }
                    _ => Box::new(move |rt| {
                        let st = &mut *rt.st;
                        if let GVal::T(s) = &st.globals[g] {
                            s.print_hist(kind, &mut st.out);
                        }
                        Ok(Flow::Normal)
                    }),
                }
            }
            Builtin::Print | Builtin::Println | Builtin::Printd | Builtin::Printdln => {
                let delimited = matches!(b, Builtin::Printd | Builtin::Printdln);
                let newline = matches!(b, Builtin::Println | Builtin::Printdln);
                let f = self.printed(args, delimited, newline);
                Box::new(move |rt| f(rt, None).map(|()| Flow::Normal))
            }
            Builtin::Warn => {
                let s = self.str(&args[0]);
                Box::new(move |rt| {
                    let mut t = rt.st.tmp();
                    s(rt, &mut t)?;
                    // Output printed so far goes first, so that the two stay in order.
                    if !rt.st.out.is_empty() {
                        rt.env.print(&rt.st.out);
                        rt.st.out.clear();
                    }
                    rt.env.warn(&t);
                    rt.st.give(t);
                    Ok(Flow::Normal)
                })
            }
            Builtin::Error => {
                let s = self.str(&args[0]);
                Box::new(move |rt| {
                    let mut t = String::new();
                    s(rt, &mut t)?;
                    Err(err(t))
                })
            }
            // A value-returning builtin used as a statement: evaluate, drop the value.
            _ => self.discard(e),
        }
    }

    // --- statements ---

    /// An expression statement, compiled for its effect: no value is made only to be dropped.
    fn expr_stmt(&mut self, e: &Expr) -> StmtF<E> {
        let normal = |_| Flow::Normal;
        match &e.kind {
            ExprKind::Call(name, args) if self.ty(e) == Ty::Void => self.void_call(e, name, args),
            ExprKind::Aggregate(lhs, rhs) => self.aggregate(lhs, rhs),
            ExprKind::IncDec { delta, target, .. } => {
                self.modify_int(target, Int::Num(*delta), BinOp::Add, e.pos, |_, _| Flow::Normal)
            }
            ExprKind::Assign(op, lhs, rhs) if self.ty(e) != Ty::Str => self.assign_int(*op, lhs, rhs, e.pos, normal),
            _ => self.discard(e),
        }
    }

    /// Evaluates a valued expression for its effect only.
    fn discard(&mut self, e: &Expr) -> StmtF<E> {
        match self.ty(e) {
            Ty::Str => {
                let f = self.str(e);
                Box::new(move |rt| {
                    let mut t = rt.st.tmp();
                    let r = f(rt, &mut t);
                    rt.st.give(t);
                    r.map(|()| Flow::Normal)
                })
            }
            _ => {
                let f = self.int(e);
                Box::new(move |rt| f.eval(rt).map(|_| Flow::Normal))
            }
        }
    }

    fn stmt(&mut self, s: &Stmt) -> StmtF<E> {
        match s {
            Stmt::Block(v) => {
                self.bound += v.len() as u64;
                if !self.counting {
                    // Uncounted, a statement that does nothing (`asmlinkage()`, `;`) is left out.
                    let live: Vec<&Stmt> = v.iter().filter(|s| !self.does_nothing(s)).collect();
                    let mut stmts: Vec<StmtF<E>> = live.into_iter().map(|s| self.stmt(s)).collect();
                    if stmts.len() == 1 {
                        return stmts.pop().expect("one statement");
                    }
                    return Box::new(move |rt| {
                        for s in &stmts {
                            let f = s(rt)?;
                            if f != Flow::Normal {
                                return Ok(f);
                            }
                        }
                        Ok(Flow::Normal)
                    });
                }
                let stmts: Vec<(StmtF<E>, Pos)> = v.iter().map(|s| (self.stmt(s), stmt_pos(s))).collect();
                Box::new(move |rt| {
                    for (s, pos) in &stmts {
                        rt.st.actions += 1;
                        if rt.st.actions > rt.st.max_actions {
                            return Err(maxaction(*pos));
                        }
                        let f = s(rt)?;
                        if f != Flow::Normal {
                            return Ok(f);
                        }
                    }
                    Ok(Flow::Normal)
                })
            }
            Stmt::Expr(e) => self.expr_stmt(e),
            Stmt::If(c, a, b) => {
                let c = self.int(c);
                let a = self.stmt(a);
                match b {
                    Some(b) => {
                        let b = self.stmt(b);
                        Box::new(move |rt| if c.eval(rt)? != 0 { a(rt) } else { b(rt) })
                    }
                    None => Box::new(move |rt| if c.eval(rt)? != 0 { a(rt) } else { Ok(Flow::Normal) }),
                }
            }
            Stmt::While(c, body) => {
                self.unbounded = true;
                let pos = stmt_pos(s);
                let (c, body) = (self.int(c), self.stmt(body));
                Box::new(move |rt| {
                    while c.eval(rt)? != 0 {
                        rt.st.actions += 1;
                        if rt.st.actions > rt.st.max_actions {
                            return Err(maxaction(pos));
                        }
                        match body(rt)? {
                            Flow::Break => break,
                            Flow::Normal | Flow::Continue => {}
                            f => return Ok(f),
                        }
                    }
                    Ok(Flow::Normal)
                })
            }
            Stmt::For(init, c, step, body) => {
                self.unbounded = true;
                let pos = stmt_pos(s);
                let init = init.as_ref().map(|e| self.expr_stmt(e));
                let c = c.as_ref().map(|e| self.int(e));
                let step = step.as_ref().map(|e| self.expr_stmt(e));
                let body = self.stmt(body);
                Box::new(move |rt| {
                    if let Some(i) = &init {
                        i(rt)?;
                    }
                    loop {
                        if let Some(c) = &c {
                            if c.eval(rt)? == 0 {
                                break;
                            }
                        }
                        rt.st.actions += 1;
                        if rt.st.actions > rt.st.max_actions {
                            return Err(maxaction(pos));
                        }
                        match body(rt)? {
                            Flow::Break => break,
                            Flow::Normal | Flow::Continue => {}
                            f => return Ok(f),
                        }
                        if let Some(st) = &step {
                            st(rt)?;
                        }
                    }
                    Ok(Flow::Normal)
                })
            }
            Stmt::Foreach(f) => self.foreach(f),
            Stmt::Next(_) => Box::new(|_| Ok(Flow::Next)),
            Stmt::Break(_) => Box::new(|_| Ok(Flow::Break)),
            Stmt::Continue(_) => Box::new(|_| Ok(Flow::Continue)),
            Stmt::Return(value, _) => match value {
                None => Box::new(|_| Ok(Flow::Return)),
                Some(e) if self.ty(e) == Ty::Str => {
                    let f = self.str(e);
                    Box::new(move |rt| {
                        let mut t = rt.st.tmp();
                        f(rt, &mut t)?;
                        clip(&mut t);
                        std::mem::swap(&mut rt.st.ret_s, &mut t);
                        rt.st.give(t);
                        Ok(Flow::Return)
                    })
                }
                Some(e) => {
                    let f = self.int(e);
                    Box::new(move |rt| {
                        rt.st.ret_i = f.eval(rt)?;
                        Ok(Flow::Return)
                    })
                }
            },
            Stmt::Delete(e) => match &e.kind {
                ExprKind::Var(name) => {
                    let VarRef::Global(g) = self.var(name) else { unreachable!("checked: a global") };
                    let hist = self.t.globals[g].hist.map(|h| h.0);
                    Box::new(move |rt| {
                        match &mut rt.st.globals[g] {
                            GVal::L(v) => *v = 0,
                            GVal::S(s) => s.clear(),
                            GVal::T(s) => *s = Stat::new(hist),
                            GVal::A(a) => a.clear(),
                        }
                        Ok(Flow::Normal)
                    })
                }
                ExprKind::Index(name, keys) => {
                    let g = self.t.gindex[name];
                    let k = self.key(name, keys);
                    Box::new(move |rt| {
                        let key = k(rt)?;
                        rt.st.array(g).remove(&key);
                        rt.st.recycle(key);
                        Ok(Flow::Normal)
                    })
                }
                _ => unreachable!("checked: delete of a variable or element"),
            },
            Stmt::Empty => Box::new(|_| Ok(Flow::Normal)),
        }
    }

    /// A statement without any effect: the empty statement, `asmlinkage()`.
    fn does_nothing(&self, s: &Stmt) -> bool {
        match s {
            Stmt::Empty => true,
            Stmt::Expr(Expr { kind: ExprKind::Call(name, _), .. }) => {
                !self.t.findex.contains_key(name.as_str()) && builtin_of(self.t, name) == Some(Builtin::Asmlinkage)
            }
            _ => false,
        }
    }

    fn foreach(&mut self, f: &Foreach) -> StmtF<E> {
        self.unbounded = true;
        let g = self.t.gindex[&f.array];
        let info = &self.t.globals[g];
        let key_slots: Vec<(bool, usize)> = f
            .keys
            .iter()
            .map(|(name, _)| match self.var(name) {
                VarRef::Local(l) => self.slots[l],
                VarRef::Global(_) => unreachable!("checked: local keys"),
            })
            .collect();
        let value_slot = f.value.as_ref().map(|(name, _)| match self.var(name) {
            VarRef::Local(l) => self.slots[l],
            VarRef::Global(_) => unreachable!("checked: a local value"),
        });
        let sort = f.sort;
        let limit = f.limit.as_ref().map(|e| self.int(e));
        let body = self.stmt(&f.body);
        let is_stat = info.ty == Ty::Stat;
        let pos = f.pos;
        Box::new(move |rt| {
            let mut items = rt.st.array(g).snapshot();
            if let Some(sort) = sort {
                let by = |x: &(KeyVal, AVal)| -> KPart {
                    if sort.column == 0 {
                        match &x.1 {
                            AVal::L(v) => KPart::I(*v),
                            AVal::S(s) => KPart::S(s.clone()),
                            AVal::T(s) => KPart::I(s.count),
                        }
                    } else {
                        x.0.part(sort.column - 1)
                    }
                };
                items.sort_by(|a, b| {
                    let o = by(a).cmp(&by(b));
                    if sort.descending {
                        o.reverse()
                    } else {
                        o
                    }
                });
            }
            if let Some(l) = &limit {
                let n = l.eval(rt)?.max(0) as usize;
                items.truncate(n);
            }
            let _ = is_stat;
            for (key, value) in items {
                rt.st.actions += 1;
                if rt.st.actions > rt.st.max_actions {
                    return Err(maxaction(pos));
                }
                for (i, (long, slot)) in key_slots.iter().enumerate() {
                    match key.part(i) {
                        KPart::I(v) if *long => rt.st.li[rt.st.bi + slot] = v,
                        KPart::S(s) => rt.st.ls[rt.st.bs + slot] = s,
                        _ => unreachable!("checked: key types"),
                    }
                }
                if let Some((long, slot)) = value_slot {
                    match value {
                        AVal::L(v) if long => rt.st.li[rt.st.bi + slot] = v,
                        AVal::S(s) => rt.st.ls[rt.st.bs + slot] = s,
                        _ => unreachable!("checked: value type"),
                    }
                }
                match body(rt)? {
                    Flow::Break => break,
                    Flow::Normal | Flow::Continue => {}
                    f => return Ok(f),
                }
            }
            Ok(Flow::Normal)
        })
    }
}

fn stmt_pos(s: &Stmt) -> Pos {
    match s {
        Stmt::Expr(e) | Stmt::If(e, ..) | Stmt::While(e, _) | Stmt::Delete(e) => e.pos,
        Stmt::Foreach(f) => f.pos,
        Stmt::Next(p) | Stmt::Break(p) | Stmt::Continue(p) | Stmt::Return(_, p) => *p,
        Stmt::For(Some(e), ..) => e.pos,
        Stmt::Block(v) => v.first().map(stmt_pos).unwrap_or_default(),
        _ => Pos::default(),
    }
}

#[cold]
fn maxaction(pos: Pos) -> Box<Fault> {
    fault(
        "MAXACTION exceeded (too many statements in one probe run; SystemTap's limit is 1000 per event, 10000 in begin and end)",
        "statement",
        pos,
    )
}

impl Fault {
    fn clone_box(&self) -> Box<Fault> {
        Box::new(Fault { message: self.message.clone(), near: self.near.clone(), pos: self.pos })
    }
}

/// C's strtol for a whole string: 0 when nothing parses (as SystemTap's tapset does).
fn strtol(s: &str, base: i64) -> Option<i64> {
    if !(2..=36).contains(&base) && base != 0 {
        return None;
    }
    let t = s.trim_start();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (base, t) = match base {
        16 | 0 if t.starts_with("0x") || t.starts_with("0X") => (16, &t[2..]),
        0 if t.starts_with('0') && t.len() > 1 => (8, &t[1..]),
        0 => (10, t),
        b => (b as u32, t),
    };
    let mut v: i64 = 0;
    for c in t.chars() {
        match c.to_digit(base) {
            Some(d) => v = v.wrapping_mul(i64::from(base)).wrapping_add(i64::from(d)),
            None => break,
        }
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// The errno name of a negated (or positive) errno, as SystemTap's `errno_str`.
fn errno_name(v: i64) -> &'static str {
    wprobe_common::errno::name_of_negated(v.checked_abs().map_or(v, |a| -a)).unwrap_or("")
}
