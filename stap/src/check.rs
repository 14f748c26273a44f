//! Semantic checks and type inference, before anything runs: unknown functions, argument
//! counts, type mismatches, undefined variables. Types are inferred as SystemTap does, by
//! propagating what is known (literals, builtins, annotations, assignments) until nothing
//! changes; a variable whose type is still unknown then is an error.

use crate::ast::*;
use crate::builtins::{self, Builtin, Sig};
use crate::error::{Diag, Pos};
use crate::format;
use crate::stats::{HistKind, MAX_LINEAR_BUCKETS};
use crate::types::Ty;
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct GlobalInfo {
    pub name: String,
    pub pos: Pos,
    /// The value's type (Stat for aggregates).
    pub ty: Ty,
    /// None until used; Some(0) a scalar; Some(n) an array of n keys.
    pub arity: Option<usize>,
    pub keys: Vec<Ty>,
    pub size: Option<i64>,
    pub init: Option<Literal>,
    pub hist: Option<(HistKind, Pos)>,
}

#[derive(Clone, Debug)]
pub struct LocalInfo {
    pub name: String,
    pub ty: Ty,
    pub pos: Pos,
    pub assigned: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub vars: Vec<LocalInfo>,
    index: HashMap<String, usize>,
}

impl Scope {
    pub fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    fn add(&mut self, name: &str, pos: Pos) -> usize {
        if let Some(i) = self.get(name) {
            return i;
        }
        self.vars.push(LocalInfo { name: name.to_string(), ty: Ty::Unknown, pos, assigned: false });
        self.index.insert(name.to_string(), self.vars.len() - 1);
        self.vars.len() - 1
    }
}

#[derive(Clone, Debug)]
pub struct FuncInfo {
    pub name: String,
    pub params: usize,
    pub ret: Ty,
}

/// What the checks learned, which the compiler uses.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    pub globals: Vec<GlobalInfo>,
    pub gindex: HashMap<String, usize>,
    pub funcs: Vec<FuncInfo>,
    pub findex: HashMap<String, usize>,
    /// One per probe, then one per function.
    pub scopes: Vec<Scope>,
}

/// The variable an expression names, if it names one.
#[derive(Clone, Copy, Debug)]
pub enum VarRef {
    Local(usize),
    Global(usize),
}

pub struct Checker<'s> {
    pub script: &'s Script,
    pub t: Tables,
    changed: bool,
    /// The last pass: unknowns are errors now.
    strict: bool,
    scope: usize,
    /// In a function: its index.
    func: Option<usize>,
    loops: usize,
}

type R<T> = Result<T, Diag>;

fn mismatch(want: Ty, got: Ty, at: String, pos: Pos) -> Diag {
    Diag::semantic(format!("type mismatch ({want} vs. {got})"), at, pos)
}

fn describe(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Num(n) => format!("number '{n}'"),
        ExprKind::Str(s) => format!("string '{}'", s.escape_default()),
        ExprKind::Var(n) | ExprKind::Index(n, _) | ExprKind::Call(n, _) => format!("identifier '{n}'"),
        ExprKind::Binary(op, ..) => format!("operator '{}'", op.text()),
        ExprKind::Unary(op, _) => format!(
            "operator '{}'",
            match op {
                UnOp::Neg => "-",
                UnOp::Plus => "+",
                UnOp::Not => "!",
                UnOp::BitNot => "~",
            }
        ),
        ExprKind::And(..) => "operator '&&'".into(),
        ExprKind::Or(..) => "operator '||'".into(),
        ExprKind::Ternary(..) => "operator '?'".into(),
        ExprKind::Assign(op, ..) => format!("operator '{}='", op.map_or("", |o| o.text())),
        ExprKind::IncDec { delta, .. } => format!("operator '{}'", if *delta > 0 { "++" } else { "--" }),
        ExprKind::In(..) => "keyword 'in'".into(),
        ExprKind::Aggregate(..) => "operator '<<<'".into(),
        ExprKind::Stat(..) | ExprKind::Hist(..) => "aggregate operator".into(),
    }
}

impl<'s> Checker<'s> {
    pub fn run(script: &'s Script) -> R<Tables> {
        let mut c =
            Checker { script, t: Tables::default(), changed: false, strict: false, scope: 0, func: None, loops: 0 };
        c.declare()?;
        // Propagate until stable (bounded: each round fixes at least one type).
        for _ in 0..64 {
            c.changed = false;
            c.pass()?;
            if !c.changed {
                break;
            }
        }
        c.strict = true;
        c.pass()?;
        c.finish()?;
        Ok(c.t)
    }

    fn declare(&mut self) -> R<()> {
        for g in &self.script.globals {
            if self.t.gindex.contains_key(&g.name) {
                return Err(Diag::semantic("duplicate global variable", format!("identifier '{}'", g.name), g.pos));
            }
            let ty = match &g.init {
                Some(Literal::Num(_)) => Ty::Long,
                Some(Literal::Str(_)) => Ty::Str,
                None => Ty::Unknown,
            };
            let arity = if g.size.is_some() {
                None
            } else if g.init.is_some() {
                Some(0)
            } else {
                None
            };
            self.t.gindex.insert(g.name.clone(), self.t.globals.len());
            self.t.globals.push(GlobalInfo {
                name: g.name.clone(),
                pos: g.pos,
                ty,
                arity,
                keys: Vec::new(),
                size: g.size,
                init: g.init.clone(),
                hist: None,
            });
        }
        self.t.scopes = vec![Scope::default(); self.script.probes.len() + self.script.functions.len()];
        for (i, f) in self.script.functions.iter().enumerate() {
            if self.t.findex.contains_key(&f.name) {
                return Err(Diag::semantic("duplicate function", format!("identifier '{}'", f.name), f.pos));
            }
            let scope = &mut self.t.scopes[self.script.probes.len() + i];
            for (p, ty, ppos) in &f.params {
                if scope.get(p).is_some() {
                    return Err(Diag::semantic("duplicate parameter", format!("identifier '{p}'"), *ppos));
                }
                let k = scope.add(p, *ppos);
                scope.vars[k].assigned = true;
                scope.vars[k].ty = match ty {
                    Some(TypeName::Long) => Ty::Long,
                    Some(TypeName::String) => Ty::Str,
                    None => Ty::Unknown,
                };
            }
            let ret = match f.ret {
                Some(TypeName::Long) => Ty::Long,
                Some(TypeName::String) => Ty::Str,
                None => Ty::Unknown,
            };
            self.t.findex.insert(f.name.clone(), i);
            self.t.funcs.push(FuncInfo { name: f.name.clone(), params: f.params.len(), ret });
        }
        Ok(())
    }

    fn pass(&mut self) -> R<()> {
        let script = self.script;
        for (i, p) in script.probes.iter().enumerate() {
            self.scope = i;
            self.func = None;
            self.stmt(&p.body)?;
        }
        for (i, f) in script.functions.iter().enumerate() {
            self.scope = script.probes.len() + i;
            self.func = Some(i);
            self.stmt(&f.body)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> R<()> {
        for g in &mut self.t.globals {
            if g.arity.is_none() {
                // Declared, never used: a long scalar, as SystemTap would warn and default.
                g.arity = Some(0);
            }
            if g.ty == Ty::Unknown {
                return Err(Diag::semantic("unresolved type", format!("identifier '{}'", g.name), g.pos));
            }
            if let Some(k) = g.keys.iter().position(|t| *t == Ty::Unknown) {
                return Err(Diag::semantic(
                    format!("unresolved type of key {} of array", k + 1),
                    format!("identifier '{}'", g.name),
                    g.pos,
                ));
            }
        }
        for (i, f) in self.t.funcs.iter_mut().enumerate() {
            if f.ret == Ty::Unknown {
                // A function that never returns a value is void.
                f.ret = Ty::Void;
            }
            let scope = &self.t.scopes[self.script.probes.len() + i];
            for v in &scope.vars[..f.params] {
                if v.ty == Ty::Unknown {
                    return Err(Diag::semantic("unresolved type", format!("identifier '{}'", v.name), v.pos));
                }
            }
        }
        Ok(())
    }

    fn set_global_ty(&mut self, g: usize, ty: Ty, at: &Expr) -> R<()> {
        let cur = self.t.globals[g].ty;
        if cur == Ty::Unknown {
            if ty != Ty::Unknown {
                self.t.globals[g].ty = ty;
                self.changed = true;
            }
            return Ok(());
        }
        if ty != Ty::Unknown && ty != cur {
            return Err(mismatch(cur, ty, describe(at), at.pos));
        }
        Ok(())
    }

    fn set_local_ty(&mut self, l: usize, ty: Ty, at: &Expr) -> R<()> {
        let scope = self.scope;
        let cur = self.t.scopes[scope].vars[l].ty;
        if cur == Ty::Unknown {
            if ty == Ty::Stat {
                return Err(Diag::semantic(
                    "statistics aggregates must be global: declare it with `global`",
                    describe(at),
                    at.pos,
                ));
            }
            if ty != Ty::Unknown {
                self.t.scopes[scope].vars[l].ty = ty;
                self.changed = true;
            }
            return Ok(());
        }
        if ty != Ty::Unknown && ty != cur {
            return Err(mismatch(cur, ty, describe(at), at.pos));
        }
        Ok(())
    }

    fn global_shape(&mut self, g: usize, arity: usize, at: &Expr) -> R<()> {
        let info = &mut self.t.globals[g];
        match info.arity {
            None if info.size.is_some() && arity == 0 => {
                Err(Diag::semantic("array used as a scalar", describe(at), at.pos))
            }
            None => {
                info.arity = Some(arity);
                info.keys = vec![Ty::Unknown; arity];
                self.changed = true;
                Ok(())
            }
            Some(a) if a == arity => Ok(()),
            Some(0) => Err(Diag::semantic("scalar variable used as an array", describe(at), at.pos)),
            Some(a) if arity == 0 => {
                Err(Diag::semantic(format!("array ({a} keys) used as a scalar"), describe(at), at.pos))
            }
            Some(a) => Err(Diag::semantic(
                format!("inconsistent arity ({arity} keys here, {a} elsewhere)"),
                describe(at),
                at.pos,
            )),
        }
    }

    /// Resolves a variable name: a global if declared, else a local of the current body.
    fn var(&mut self, name: &str, pos: Pos) -> VarRef {
        if let Some(&g) = self.t.gindex.get(name) {
            // A function parameter or local shadows nothing in SystemTap: globals win,
            // except for parameters.
            if let Some(l) = self.t.scopes[self.scope].get(name) {
                if self.func.is_some() && l < self.script.functions[self.func.unwrap_or(0)].params.len() {
                    return VarRef::Local(l);
                }
            }
            return VarRef::Global(g);
        }
        VarRef::Local(self.t.scopes[self.scope].add(name, pos))
    }

    /// Resolves a name for the compiler (after the checks).
    pub fn lookup(t: &Tables, script: &Script, scope: usize, name: &str) -> VarRef {
        let func = scope.checked_sub(script.probes.len());
        if let Some(&g) = t.gindex.get(name) {
            if let (Some(f), Some(l)) = (func, t.scopes[scope].get(name)) {
                if l < script.functions[f].params.len() {
                    return VarRef::Local(l);
                }
            }
            return VarRef::Global(g);
        }
        VarRef::Local(t.scopes[scope].get(name).expect("checked: every local was seen"))
    }

    fn stmt(&mut self, s: &Stmt) -> R<()> {
        match s {
            Stmt::Block(v) => v.iter().try_for_each(|s| self.stmt(s)),
            Stmt::Expr(e) => {
                self.expr(e)?;
                Ok(())
            }
            Stmt::If(c, a, b) => {
                self.cond(c)?;
                self.stmt(a)?;
                if let Some(b) = b {
                    self.stmt(b)?;
                }
                Ok(())
            }
            Stmt::While(c, body) => {
                self.cond(c)?;
                self.loops += 1;
                let r = self.stmt(body);
                self.loops -= 1;
                r
            }
            Stmt::For(init, c, step, body) => {
                if let Some(e) = init {
                    self.expr(e)?;
                }
                if let Some(c) = c {
                    self.cond(c)?;
                }
                if let Some(e) = step {
                    self.expr(e)?;
                }
                self.loops += 1;
                let r = self.stmt(body);
                self.loops -= 1;
                r
            }
            Stmt::Foreach(f) => self.foreach(f),
            Stmt::Next(pos) => {
                if self.func.is_some() {
                    return Err(Diag::semantic("'next' outside a probe body", "keyword 'next'", *pos));
                }
                Ok(())
            }
            Stmt::Break(pos) | Stmt::Continue(pos) => {
                if self.loops == 0 {
                    let w = if matches!(s, Stmt::Break(_)) { "break" } else { "continue" };
                    return Err(Diag::semantic(format!("'{w}' outside a loop"), format!("keyword '{w}'"), *pos));
                }
                Ok(())
            }
            Stmt::Return(value, pos) => {
                let Some(f) = self.func else {
                    return Err(Diag::semantic("'return' outside a function", "keyword 'return'", *pos));
                };
                let ty = match value {
                    Some(e) => self.value(e)?,
                    None => Ty::Void,
                };
                let cur = self.t.funcs[f].ret;
                if cur == Ty::Unknown {
                    if ty != Ty::Unknown {
                        self.t.funcs[f].ret = ty;
                        self.changed = true;
                    }
                } else if ty != Ty::Unknown && ty != cur {
                    return Err(Diag::semantic(format!("type mismatch ({cur} vs. {ty})"), "keyword 'return'", *pos));
                }
                Ok(())
            }
            Stmt::Delete(e) => match &e.kind {
                ExprKind::Var(name) => match self.var(name, e.pos) {
                    VarRef::Global(_) => Ok(()),
                    VarRef::Local(_) => {
                        Err(Diag::semantic("delete needs a global variable or an array element", describe(e), e.pos))
                    }
                },
                ExprKind::Index(..) => {
                    self.expr(e)?;
                    Ok(())
                }
                _ => Err(Diag::semantic("delete needs a variable or an array element", describe(e), e.pos)),
            },
            Stmt::Empty => Ok(()),
        }
    }

    fn foreach(&mut self, f: &Foreach) -> R<()> {
        let Some(&g) = self.t.gindex.get(&f.array) else {
            return Err(Diag::semantic(
                "foreach over something that is not a global array",
                format!("identifier '{}'", f.array),
                f.array_pos,
            ));
        };
        let at = Expr { kind: ExprKind::Var(f.array.clone()), pos: f.array_pos };
        self.global_shape(g, f.keys.len(), &at)?;
        for (k, (name, pos)) in f.keys.iter().enumerate() {
            let key_expr = Expr { kind: ExprKind::Var(name.clone()), pos: *pos };
            match self.var(name, *pos) {
                VarRef::Global(_) => {
                    return Err(Diag::semantic("foreach keys must be local variables", describe(&key_expr), *pos))
                }
                VarRef::Local(l) => {
                    self.t.scopes[self.scope].vars[l].assigned = true;
                    let kt = self.t.globals[g].keys[k];
                    let lt = self.t.scopes[self.scope].vars[l].ty;
                    if kt == Ty::Unknown && lt != Ty::Unknown {
                        self.t.globals[g].keys[k] = lt;
                        self.changed = true;
                    } else {
                        self.set_local_ty(l, kt, &key_expr)?;
                    }
                }
            }
        }
        if let Some((name, pos)) = &f.value {
            let e = Expr { kind: ExprKind::Var(name.clone()), pos: *pos };
            if self.t.globals[g].ty == Ty::Stat {
                return Err(Diag::semantic(
                    "a value variable cannot hold an aggregate: use @count(a[k]) etc. in the body",
                    describe(&e),
                    *pos,
                ));
            }
            match self.var(name, *pos) {
                VarRef::Global(_) => {
                    return Err(Diag::semantic("the foreach value must be a local variable", describe(&e), *pos))
                }
                VarRef::Local(l) => {
                    self.t.scopes[self.scope].vars[l].assigned = true;
                    let gt = self.t.globals[g].ty;
                    let lt = self.t.scopes[self.scope].vars[l].ty;
                    if gt == Ty::Unknown && lt != Ty::Unknown {
                        self.set_global_ty(g, lt, &at)?;
                    } else {
                        self.set_local_ty(l, gt, &e)?;
                    }
                }
            }
        }
        if let Some(l) = &f.limit {
            self.want(l, Ty::Long)?;
        }
        self.loops += 1;
        let r = self.stmt(&f.body);
        self.loops -= 1;
        r
    }

    fn cond(&mut self, e: &Expr) -> R<()> {
        self.want(e, Ty::Long)
    }

    /// Checks that `e` has type `ty`, pushing it into `e` when `e` is still unknown.
    fn want(&mut self, e: &Expr, ty: Ty) -> R<()> {
        let got = self.expr(e)?;
        if got == Ty::Unknown {
            return self.push(e, ty);
        }
        if got != ty {
            return Err(mismatch(ty, got, describe(e), e.pos));
        }
        Ok(())
    }

    /// An expression used as a value (not void, not an aggregate).
    fn value(&mut self, e: &Expr) -> R<Ty> {
        let ty = self.expr(e)?;
        match ty {
            Ty::Void => Err(Diag::semantic("this function returns no value", describe(e), e.pos)),
            Ty::Stat => Err(Diag::semantic(
                "an aggregate has no value of its own: read it with @count, @sum, @min, @max or @avg",
                describe(e),
                e.pos,
            )),
            t => Ok(t),
        }
    }

    /// Gives an expression of unknown type the type `ty`.
    fn push(&mut self, e: &Expr, ty: Ty) -> R<()> {
        match &e.kind {
            ExprKind::Var(name) => match self.var(name, e.pos) {
                VarRef::Global(g) => self.set_global_ty(g, ty, e),
                VarRef::Local(l) => self.set_local_ty(l, ty, e),
            },
            ExprKind::Index(name, _) => match self.t.gindex.get(name) {
                Some(&g) => self.set_global_ty(g, ty, e),
                None => Ok(()),
            },
            ExprKind::Call(name, _) => {
                if let Some(&f) = self.t.findex.get(name) {
                    if self.t.funcs[f].ret == Ty::Unknown {
                        self.t.funcs[f].ret = ty;
                        self.changed = true;
                    }
                }
                Ok(())
            }
            ExprKind::Assign(None, lhs, rhs) => {
                self.push(lhs, ty)?;
                self.push(rhs, ty)
            }
            ExprKind::Ternary(_, a, b) => {
                self.push(a, ty)?;
                self.push(b, ty)
            }
            _ => Ok(()),
        }
    }

    fn lvalue_ty(&mut self, e: &Expr, assigning: bool) -> R<Ty> {
        match &e.kind {
            ExprKind::Var(name) => match self.var(name, e.pos) {
                VarRef::Global(g) => {
                    self.global_shape(g, 0, e)?;
                    Ok(self.t.globals[g].ty)
                }
                VarRef::Local(l) => {
                    if assigning {
                        self.t.scopes[self.scope].vars[l].assigned = true;
                    }
                    Ok(self.t.scopes[self.scope].vars[l].ty)
                }
            },
            ExprKind::Index(..) => self.expr(e),
            _ => Err(Diag::semantic("expected a variable or an array element here", describe(e), e.pos)),
        }
    }

    pub fn expr(&mut self, e: &Expr) -> R<Ty> {
        match &e.kind {
            ExprKind::Num(_) => Ok(Ty::Long),
            ExprKind::Str(_) => Ok(Ty::Str),
            ExprKind::Var(name) => match self.var(name, e.pos) {
                VarRef::Global(g) => {
                    self.global_shape(g, 0, e)?;
                    Ok(self.t.globals[g].ty)
                }
                VarRef::Local(l) => {
                    let v = &self.t.scopes[self.scope].vars[l];
                    if self.strict && !v.assigned {
                        return Err(Diag::semantic(
                            format!(
                                "undefined variable '{name}': it is never assigned (a global needs `global {name}`)"
                            ),
                            describe(e),
                            e.pos,
                        ));
                    }
                    if self.strict && v.ty == Ty::Unknown {
                        return Err(Diag::semantic("unresolved type", describe(e), e.pos));
                    }
                    Ok(v.ty)
                }
            },
            ExprKind::Index(name, keys) => {
                let Some(&g) = self.t.gindex.get(name) else {
                    return Err(Diag::semantic(
                        format!("'{name}' is not a global array: arrays must be declared with `global {name}`"),
                        describe(e),
                        e.pos,
                    ));
                };
                self.global_shape(g, keys.len(), e)?;
                for (k, key) in keys.iter().enumerate() {
                    let kt = self.value(key)?;
                    let cur = self.t.globals[g].keys[k];
                    if cur == Ty::Unknown {
                        if kt != Ty::Unknown {
                            self.t.globals[g].keys[k] = kt;
                            self.changed = true;
                        }
                    } else if kt == Ty::Unknown {
                        self.push(key, cur)?;
                    } else if kt != cur {
                        return Err(mismatch(cur, kt, describe(key), key.pos));
                    }
                }
                Ok(self.t.globals[g].ty)
            }
            ExprKind::Call(name, args) => self.call(e, name, args),
            ExprKind::Stat(_, operand) => {
                self.stat_operand(operand)?;
                Ok(Ty::Long)
            }
            ExprKind::Hist(operand, params) => {
                let g = self.stat_operand(operand)?;
                let kind = match params {
                    None => HistKind::Log,
                    Some([start, stop, interval]) => {
                        if *interval <= 0 || stop <= start {
                            return Err(Diag::semantic(
                                "@hist_linear needs start < stop and a positive interval",
                                describe(e),
                                e.pos,
                            ));
                        }
                        if (stop - start) / interval + 3 > MAX_LINEAR_BUCKETS {
                            return Err(Diag::semantic(
                                format!(
                                    "@hist_linear: too many buckets ((stop - start) / interval must be at most {})",
                                    MAX_LINEAR_BUCKETS - 2
                                ),
                                describe(e),
                                e.pos,
                            ));
                        }
                        HistKind::Linear { start: *start, stop: *stop, interval: *interval }
                    }
                };
                match self.t.globals[g].hist {
                    None => {
                        self.t.globals[g].hist = Some((kind, e.pos));
                        self.changed = true;
                    }
                    Some((k, _)) if k == kind => {}
                    Some(_) => {
                        return Err(Diag::semantic(
                            "conflicting histogram types or parameters for one aggregate",
                            describe(e),
                            e.pos,
                        ))
                    }
                }
                Ok(Ty::Stat)
            }
            ExprKind::Unary(_, a) => {
                self.want(a, Ty::Long)?;
                Ok(Ty::Long)
            }
            ExprKind::Binary(op, a, b) => {
                let ta = self.value(a)?;
                let tb = self.value(b)?;
                if *op == BinOp::Concat {
                    self.want(a, Ty::Str)?;
                    self.want(b, Ty::Str)?;
                    return Ok(Ty::Str);
                }
                if op.is_comparison() {
                    // Strings or longs, the same on both sides.
                    let t = if ta != Ty::Unknown { ta } else { tb };
                    if t != Ty::Unknown {
                        self.want(a, t)?;
                        self.want(b, t)?;
                    }
                    return Ok(Ty::Long);
                }
                self.want(a, Ty::Long)?;
                self.want(b, Ty::Long)?;
                Ok(Ty::Long)
            }
            ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                self.want(a, Ty::Long)?;
                self.want(b, Ty::Long)?;
                Ok(Ty::Long)
            }
            ExprKind::Ternary(c, a, b) => {
                self.want(c, Ty::Long)?;
                let ta = self.value(a)?;
                let tb = self.value(b)?;
                let t = if ta != Ty::Unknown { ta } else { tb };
                if t != Ty::Unknown {
                    self.want(a, t)?;
                    self.want(b, t)?;
                }
                Ok(t)
            }
            ExprKind::Assign(op, lhs, rhs) => {
                let tl = self.lvalue_ty(lhs, true)?;
                if tl == Ty::Stat {
                    return Err(Diag::semantic(
                        "cannot assign to an aggregate: add values with <<<",
                        describe(lhs),
                        lhs.pos,
                    ));
                }
                let tr = self.value(rhs)?;
                match op {
                    None => {
                        let t = if tl != Ty::Unknown { tl } else { tr };
                        if t != Ty::Unknown {
                            self.want(lhs, t)?;
                            self.want(rhs, t)?;
                        }
                        Ok(t)
                    }
                    Some(BinOp::Concat) => {
                        self.want(lhs, Ty::Str)?;
                        self.want(rhs, Ty::Str)?;
                        Ok(Ty::Str)
                    }
                    Some(_) => {
                        self.want(lhs, Ty::Long)?;
                        self.want(rhs, Ty::Long)?;
                        Ok(Ty::Long)
                    }
                }
            }
            ExprKind::IncDec { target, .. } => {
                self.lvalue_ty(target, true)?;
                self.want(target, Ty::Long)?;
                Ok(Ty::Long)
            }
            ExprKind::In(keys, name, apos) => {
                let idx = Expr { kind: ExprKind::Index(name.clone(), keys.clone()), pos: *apos };
                self.expr(&idx)?;
                Ok(Ty::Long)
            }
            ExprKind::Aggregate(lhs, rhs) => {
                match &lhs.kind {
                    ExprKind::Var(name) | ExprKind::Index(name, _) if self.t.gindex.contains_key(name) => {}
                    _ => {
                        return Err(Diag::semantic(
                            "<<< needs a global variable or array element (aggregates are global)",
                            describe(lhs),
                            lhs.pos,
                        ))
                    }
                }
                let t = self.lvalue_ty(lhs, true)?;
                if t != Ty::Stat {
                    self.push(lhs, Ty::Stat)?;
                    let t2 = self.expr(lhs)?;
                    if t2 != Ty::Stat && t2 != Ty::Unknown {
                        return Err(mismatch(Ty::Stat, t2, describe(lhs), lhs.pos));
                    }
                }
                self.want(rhs, Ty::Long)?;
                Ok(Ty::Void)
            }
        }
    }

    /// `@count(x)`'s operand: a global aggregate or an element of an aggregate array.
    fn stat_operand(&mut self, operand: &Expr) -> R<usize> {
        let name = match &operand.kind {
            ExprKind::Var(n) | ExprKind::Index(n, _) => n,
            _ => unreachable!("the parser gives a name"),
        };
        let Some(&g) = self.t.gindex.get(name) else {
            return Err(Diag::semantic(
                "aggregate operators need a global variable (aggregates are global)",
                describe(operand),
                operand.pos,
            ));
        };
        let t = self.expr(operand)?;
        if t == Ty::Unknown {
            self.set_global_ty(g, Ty::Stat, operand)?;
        } else if t != Ty::Stat {
            return Err(mismatch(Ty::Stat, t, describe(operand), operand.pos));
        }
        Ok(g)
    }

    fn call(&mut self, e: &Expr, name: &str, args: &[Expr]) -> R<Ty> {
        if let Some(&f) = self.t.findex.get(name) {
            let info = &self.t.funcs[f];
            if args.len() != info.params {
                return Err(Diag::semantic(
                    format!(
                        "wrong number of arguments to function '{name}' (it takes {}, {} given)",
                        info.params,
                        args.len()
                    ),
                    describe(e),
                    e.pos,
                ));
            }
            let scope = self.script.probes.len() + f;
            for (k, a) in args.iter().enumerate() {
                let ta = self.value(a)?;
                let tp = self.t.scopes[scope].vars[k].ty;
                if tp == Ty::Unknown {
                    if ta != Ty::Unknown {
                        self.t.scopes[scope].vars[k].ty = ta;
                        self.changed = true;
                    }
                } else {
                    self.want(a, tp)?;
                }
            }
            return Ok(self.t.funcs[f].ret);
        }
        let Some((_, sig)) = builtins::lookup(name) else {
            let mut similar: Vec<(usize, &str)> = builtins::NAMES
                .iter()
                .copied()
                .chain(self.t.funcs.iter().map(|f| f.name.as_str()))
                .map(|n| (strsim::levenshtein(n, name), n))
                .filter(|(d, n)| *d <= 2.max(n.len() / 4))
                .collect();
            similar.sort();
            let hint = if similar.is_empty() {
                String::new()
            } else {
                format!(" (similar: {})", similar.iter().take(3).map(|(_, n)| *n).collect::<Vec<_>>().join(", "))
            };
            return Err(Diag::semantic(format!("unresolved function{hint}"), describe(e), e.pos));
        };
        let wrong_count = |want: String| {
            Diag::semantic(
                format!("wrong number of arguments to function '{name}' (it takes {want}, {} given)", args.len()),
                describe(e),
                e.pos,
            )
        };
        match sig {
            Sig::Fixed(params, ret) => {
                if params.len() != args.len() {
                    return Err(wrong_count(params.len().to_string()));
                }
                for (a, p) in args.iter().zip(params) {
                    self.want(a, *p)?;
                }
                Ok(ret)
            }
            Sig::Format(ret) => {
                let Some(first) = args.first() else { return Err(wrong_count("a format and its values".into())) };
                let ExprKind::Str(fmt) = &first.kind else {
                    return Err(Diag::semantic(
                        format!("the format of {name} must be a string literal"),
                        describe(first),
                        first.pos,
                    ));
                };
                let pieces = format::parse(fmt)
                    .map_err(|m| Diag::semantic(format!("{name}: {m}"), describe(first), first.pos))?;
                let specs: Vec<_> = pieces
                    .iter()
                    .filter_map(|p| match p {
                        format::Piece::Spec(s) => Some(*s),
                        _ => None,
                    })
                    .collect();
                if specs.len() != args.len() - 1 {
                    return Err(Diag::semantic(
                        format!(
                            "wrong number of arguments to {name}: the format asks for {}, {} given",
                            specs.len(),
                            args.len() - 1
                        ),
                        describe(e),
                        e.pos,
                    ));
                }
                for (a, s) in args[1..].iter().zip(&specs) {
                    self.value(a)?;
                    self.want(a, s.arg_type())?;
                }
                Ok(ret)
            }
            Sig::AnyScalars { min, ret, delimiter } => {
                if args.len() < min {
                    return Err(wrong_count(format!("at least {min}")));
                }
                for (k, a) in args.iter().enumerate() {
                    if let ExprKind::Hist(..) = a.kind {
                        if args.len() == 1 && matches!(name, "print" | "println") {
                            self.expr(a)?;
                            continue;
                        }
                    }
                    if delimiter && k == 0 {
                        self.want(a, Ty::Str)?;
                    } else {
                        self.value(a)?;
                        if self.strict && self.expr(a)? == Ty::Unknown {
                            return Err(Diag::semantic("unresolved type", describe(a), a.pos));
                        }
                    }
                }
                Ok(ret)
            }
        }
    }
}

/// The builtin a call names, when no user function of that name exists.
pub fn builtin_of(t: &Tables, name: &str) -> Option<Builtin> {
    if t.findex.contains_key(name) {
        return None;
    }
    builtins::lookup(name).map(|(b, _)| b)
}
