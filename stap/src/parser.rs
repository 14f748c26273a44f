//! Recursive descent over SystemTap's grammar, with its operator precedence (lowest first):
//! assignment, `?:`, `||`, `&&`, `|`, `^`, `&`, `in`, comparisons, `<<` `>>`, `.`, `+` `-`,
//! `*` `/` `%`, unary, `++`/`--`.

use crate::ast::*;
use crate::error::{Diag, Pos};
use crate::lexer::{Tok, Token};

const KEYWORDS: [&str; 16] = [
    "probe", "global", "function", "if", "else", "while", "for", "foreach", "in", "limit", "next", "break", "continue",
    "return", "delete", "private",
];

pub fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s) || matches!(s, "try" | "catch" | "string" | "long")
}

pub struct Parser {
    toks: Vec<Token>,
    i: usize,
}

type P<T> = Result<T, Diag>;

impl Parser {
    pub fn new(toks: Vec<Token>) -> Self {
        Self { toks, i: 0 }
    }

    fn peek(&self) -> &Token {
        &self.toks[self.i]
    }

    fn peek_at(&self, k: usize) -> &Tok {
        &self.toks[(self.i + k).min(self.toks.len() - 1)].tok
    }

    fn next(&mut self) -> Token {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(&self.peek().tok, Tok::Op(o) if *o == op)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s == w)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.is_op(op) {
            self.next();
            true
        } else {
            false
        }
    }

    fn error(&self, expected: &str) -> Diag {
        let t = self.peek();
        Diag::parse(format!("expected {expected}"), t.pos).with_at(t.describe())
    }

    fn expect_op(&mut self, op: &str) -> P<Pos> {
        if self.is_op(op) {
            Ok(self.next().pos)
        } else {
            Err(self.error(&format!("'{op}'")))
        }
    }

    fn ident(&mut self, what: &str) -> P<(String, Pos)> {
        match &self.peek().tok {
            Tok::Ident(s) if !is_keyword(s) && !s.starts_with('@') => {
                let t = self.next();
                let Tok::Ident(s) = t.tok else { unreachable!() };
                Ok((s, t.pos))
            }
            _ => Err(self.error(what)),
        }
    }

    pub fn script(&mut self) -> P<Script> {
        let mut script = Script::default();
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::Eof => return Ok(script),
                Tok::Op(";") => {
                    self.next();
                }
                Tok::Ident(w) if w == "probe" => {
                    self.next();
                    script.probes.push(self.probe(t.pos)?);
                }
                Tok::Ident(w) if w == "global" => {
                    self.next();
                    self.globals(&mut script.globals)?;
                }
                Tok::Ident(w) if w == "function" => {
                    self.next();
                    script.functions.push(self.function(t.pos)?);
                }
                Tok::Ident(w) if w == "private" => {
                    // `private` only scopes names between tapset files; a script is one file.
                    self.next();
                }
                _ => return Err(self.error("'probe', 'global' or 'function'")),
            }
        }
    }

    fn globals(&mut self, out: &mut Vec<Global>) -> P<()> {
        loop {
            let (name, pos) = self.ident("a global variable name")?;
            let mut g = Global { name, size: None, init: None, pos };
            if self.eat_op("[") {
                match self.next() {
                    Token { tok: Tok::Num(n), .. } if n > 0 => g.size = Some(n),
                    t => {
                        return Err(
                            Diag::parse("expected an array size (a positive number)", t.pos).with_at(t.describe())
                        )
                    }
                }
                self.expect_op("]")?;
            } else if self.eat_op("=") {
                let neg = self.eat_op("-");
                let t = self.next();
                g.init = Some(match t.tok {
                    Tok::Num(n) => Literal::Num(if neg { n.wrapping_neg() } else { n }),
                    Tok::Str(s) if !neg => Literal::Str(s),
                    _ => return Err(Diag::parse("expected a literal (number or string)", t.pos).with_at(t.describe())),
                });
            }
            out.push(g);
            if !self.eat_op(",") {
                return Ok(());
            }
        }
    }

    fn type_name(&mut self) -> P<TypeName> {
        match &self.peek().tok {
            Tok::Ident(s) if s == "long" => {
                self.next();
                Ok(TypeName::Long)
            }
            Tok::Ident(s) if s == "string" => {
                self.next();
                Ok(TypeName::String)
            }
            _ => Err(self.error("a type ('long' or 'string')")),
        }
    }

    fn function(&mut self, pos: Pos) -> P<Function> {
        let (name, _) = self.ident("a function name")?;
        let ret = if self.eat_op(":") { Some(self.type_name()?) } else { None };
        self.expect_op("(")?;
        let mut params = Vec::new();
        if !self.is_op(")") {
            loop {
                let (p, ppos) = self.ident("a parameter name")?;
                let ty = if self.eat_op(":") { Some(self.type_name()?) } else { None };
                params.push((p, ty, ppos));
                if !self.eat_op(",") {
                    break;
                }
            }
        }
        self.expect_op(")")?;
        if self.is_op("%{") {
            return Err(self.error("a function body"));
        }
        let body = self.block()?;
        Ok(Function { name, params, ret, body, pos })
    }

    fn probe(&mut self, pos: Pos) -> P<Probe> {
        let mut points = Vec::new();
        loop {
            points.push(self.probe_point()?);
            if !self.eat_op(",") {
                break;
            }
        }
        if self.is_word("if") {
            return Err(Diag::parse("conditional probes (probe P if (…)) are not supported", self.peek().pos));
        }
        let body = self.block()?;
        Ok(Probe { points, body, pos })
    }

    pub fn probe_point(&mut self) -> P<ProbePoint> {
        let pos = self.peek().pos;
        let mut components = Vec::new();
        loop {
            let t = self.peek().clone();
            let name = match &t.tok {
                Tok::Ident(s) => s.clone(),
                Tok::Op("*") => "*".to_string(),
                _ => return Err(self.error("a probe point")),
            };
            self.next();
            // `nd_syscall.open*` and `nd_syscall.*`: a glob is one component.
            let mut name = name;
            while self.is_op("*") && self.peek().pos.col == t.pos.col + name.chars().count() as u32 {
                self.next();
                name.push('*');
                if let Tok::Ident(more) = &self.peek().tok {
                    if self.peek().pos.col == t.pos.col + name.chars().count() as u32 {
                        name += &more.clone();
                        self.next();
                    }
                }
            }
            let arg = if self.eat_op("(") {
                let neg = self.eat_op("-");
                let a = self.next();
                let lit = match a.tok {
                    Tok::Num(n) => Literal::Num(if neg { n.wrapping_neg() } else { n }),
                    Tok::Str(s) if !neg => Literal::Str(s),
                    _ => return Err(Diag::parse("expected a literal in a probe point", a.pos).with_at(a.describe())),
                };
                self.expect_op(")")?;
                Some(lit)
            } else {
                None
            };
            components.push(Component { name, arg });
            if self.is_op("?") || self.is_op("!") {
                return Err(Diag::parse("optional probe points ('?', '!') are not supported", self.peek().pos));
            }
            if !self.eat_op(".") {
                return Ok(ProbePoint { components, pos });
            }
        }
    }

    fn block(&mut self) -> P<Stmt> {
        self.expect_op("{")?;
        let mut stmts = Vec::new();
        while !self.is_op("}") {
            if matches!(self.peek().tok, Tok::Eof) {
                return Err(self.error("'}'"));
            }
            stmts.push(self.statement()?);
        }
        self.next();
        Ok(Stmt::Block(stmts))
    }

    fn statement(&mut self) -> P<Stmt> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Op("{") => self.block(),
            Tok::Op(";") => {
                self.next();
                Ok(Stmt::Empty)
            }
            Tok::Ident(w) => match w.as_str() {
                "if" => {
                    self.next();
                    self.expect_op("(")?;
                    let cond = self.expr()?;
                    self.expect_op(")")?;
                    let then = Box::new(self.statement()?);
                    let otherwise = if self.is_word("else") {
                        self.next();
                        Some(Box::new(self.statement()?))
                    } else {
                        None
                    };
                    Ok(Stmt::If(cond, then, otherwise))
                }
                "while" => {
                    self.next();
                    self.expect_op("(")?;
                    let cond = self.expr()?;
                    self.expect_op(")")?;
                    Ok(Stmt::While(cond, Box::new(self.statement()?)))
                }
                "for" => {
                    self.next();
                    self.expect_op("(")?;
                    let init = if self.is_op(";") { None } else { Some(self.expr()?) };
                    self.expect_op(";")?;
                    let cond = if self.is_op(";") { None } else { Some(self.expr()?) };
                    self.expect_op(";")?;
                    let step = if self.is_op(")") { None } else { Some(self.expr()?) };
                    self.expect_op(")")?;
                    Ok(Stmt::For(init, cond, step, Box::new(self.statement()?)))
                }
                "foreach" => {
                    self.next();
                    self.foreach(t.pos)
                }
                "next" | "break" | "continue" => {
                    self.next();
                    self.eat_op(";");
                    Ok(match w.as_str() {
                        "next" => Stmt::Next(t.pos),
                        "break" => Stmt::Break(t.pos),
                        _ => Stmt::Continue(t.pos),
                    })
                }
                "return" => {
                    self.next();
                    let value = if self.is_op(";") || self.is_op("}") { None } else { Some(self.expr()?) };
                    self.eat_op(";");
                    Ok(Stmt::Return(value, t.pos))
                }
                "delete" => {
                    self.next();
                    let e = self.unary()?;
                    self.eat_op(";");
                    Ok(Stmt::Delete(e))
                }
                "try" => Err(Diag::parse("try/catch is not supported", t.pos).with_at(t.describe())),
                "else" => Err(self.error("a statement")),
                _ => self.expr_statement(),
            },
            _ => self.expr_statement(),
        }
    }

    fn expr_statement(&mut self) -> P<Stmt> {
        let e = self.expr()?;
        // SystemTap allows a newline instead of ';' between statements.
        self.eat_op(";");
        Ok(Stmt::Expr(e))
    }

    fn foreach(&mut self, pos: Pos) -> P<Stmt> {
        self.expect_op("(")?;
        let mut value = None;
        let mut keys = Vec::new();
        let mut sort = None;
        let mut sort_mark = |p: &mut Self, column: usize| -> P<()> {
            let desc = if p.is_op("+") {
                false
            } else if p.is_op("-") {
                true
            } else {
                return Ok(());
            };
            let at = p.next();
            if sort.is_some() {
                return Err(Diag::parse("multiple sort directives in foreach", at.pos).with_at(at.describe()));
            }
            sort = Some(Sort { column, descending: desc });
            Ok(())
        };
        // `v = [k] in a`: a value variable first.
        if matches!(self.peek_at(1), Tok::Op("=")) {
            let v = self.ident("a variable")?;
            self.next();
            value = Some(v);
        }
        if self.eat_op("[") {
            loop {
                keys.push(self.ident("a key variable")?);
                sort_mark(self, keys.len())?;
                if !self.eat_op(",") {
                    break;
                }
            }
            self.expect_op("]")?;
        } else {
            keys.push(self.ident("a key variable or '['")?);
            sort_mark(self, 1)?;
        }
        if !self.is_word("in") {
            return Err(self.error("'in'"));
        }
        self.next();
        let (array, array_pos) = self.ident("an array name")?;
        sort_mark(self, 0)?;
        let limit = if self.is_word("limit") {
            self.next();
            Some(self.expr()?)
        } else {
            None
        };
        self.expect_op(")")?;
        let body = self.statement()?;
        Ok(Stmt::Foreach(Box::new(Foreach { value, keys, array, array_pos, sort, limit, body, pos })))
    }

    pub fn expr(&mut self) -> P<Expr> {
        self.assignment()
    }

    fn assignment(&mut self) -> P<Expr> {
        let lhs = self.ternary()?;
        let t = self.peek().clone();
        if let Tok::Op(op) = t.tok {
            if op == "=" || BinOp::from_assign(op).is_some() {
                self.next();
                let rhs = self.assignment()?;
                return Ok(Expr {
                    kind: ExprKind::Assign(BinOp::from_assign(op), Box::new(lhs), Box::new(rhs)),
                    pos: t.pos,
                });
            }
            if op == "<<<" {
                self.next();
                let rhs = self.assignment()?;
                return Ok(Expr { kind: ExprKind::Aggregate(Box::new(lhs), Box::new(rhs)), pos: t.pos });
            }
        }
        Ok(lhs)
    }

    fn ternary(&mut self) -> P<Expr> {
        let cond = self.logical_or()?;
        if self.is_op("?") {
            let pos = self.next().pos;
            let a = self.expr()?;
            self.expect_op(":")?;
            let b = self.ternary()?;
            return Ok(Expr { kind: ExprKind::Ternary(Box::new(cond), Box::new(a), Box::new(b)), pos });
        }
        Ok(cond)
    }

    fn logical_or(&mut self) -> P<Expr> {
        let mut e = self.logical_and()?;
        while self.is_op("||") {
            let pos = self.next().pos;
            let r = self.logical_and()?;
            e = Expr { kind: ExprKind::Or(Box::new(e), Box::new(r)), pos };
        }
        Ok(e)
    }

    fn logical_and(&mut self) -> P<Expr> {
        let mut e = self.bit_or()?;
        while self.is_op("&&") {
            let pos = self.next().pos;
            let r = self.bit_or()?;
            e = Expr { kind: ExprKind::And(Box::new(e), Box::new(r)), pos };
        }
        Ok(e)
    }

    fn binary_level(&mut self, ops: &[(&str, BinOp)], next: fn(&mut Self) -> P<Expr>) -> P<Expr> {
        let mut e = next(self)?;
        'outer: loop {
            for (text, op) in ops {
                if self.is_op(text) {
                    let pos = self.next().pos;
                    let r = next(self)?;
                    e = Expr { kind: ExprKind::Binary(*op, Box::new(e), Box::new(r)), pos };
                    continue 'outer;
                }
            }
            return Ok(e);
        }
    }

    fn bit_or(&mut self) -> P<Expr> {
        self.binary_level(&[("|", BinOp::BitOr)], Self::bit_xor)
    }

    fn bit_xor(&mut self) -> P<Expr> {
        self.binary_level(&[("^", BinOp::BitXor)], Self::bit_and)
    }

    fn bit_and(&mut self) -> P<Expr> {
        self.binary_level(&[("&", BinOp::BitAnd)], Self::array_in)
    }

    fn array_in(&mut self) -> P<Expr> {
        let pos = self.peek().pos;
        // `[k1, k2] in a`
        if self.is_op("[") {
            self.next();
            let mut keys = Vec::new();
            loop {
                keys.push(self.expr()?);
                if !self.eat_op(",") {
                    break;
                }
            }
            self.expect_op("]")?;
            if !self.is_word("in") {
                return Err(self.error("'in'"));
            }
            self.next();
            let (a, apos) = self.ident("an array name")?;
            return Ok(Expr { kind: ExprKind::In(keys, a, apos), pos });
        }
        let e = self.comparison()?;
        if self.is_word("in") {
            self.next();
            let (a, apos) = self.ident("an array name")?;
            return Ok(Expr { kind: ExprKind::In(vec![e], a, apos), pos });
        }
        Ok(e)
    }

    fn comparison(&mut self) -> P<Expr> {
        if self.is_op("=~") || self.is_op("!~") {
            return Err(self.error("an expression"));
        }
        let e = self.binary_level(
            &[
                ("<=", BinOp::Le),
                (">=", BinOp::Ge),
                ("==", BinOp::Eq),
                ("!=", BinOp::Ne),
                ("<", BinOp::Lt),
                (">", BinOp::Gt),
            ],
            Self::shift,
        )?;
        if self.is_op("=~") || self.is_op("!~") {
            let t = self.peek();
            return Err(
                Diag::parse("regular expression matching (=~, !~) is not supported", t.pos).with_at(t.describe())
            );
        }
        Ok(e)
    }

    fn shift(&mut self) -> P<Expr> {
        self.binary_level(&[("<<", BinOp::Shl), (">>", BinOp::Shr)], Self::concat)
    }

    fn concat(&mut self) -> P<Expr> {
        self.binary_level(&[(".", BinOp::Concat)], Self::additive)
    }

    fn additive(&mut self) -> P<Expr> {
        self.binary_level(&[("+", BinOp::Add), ("-", BinOp::Sub)], Self::multiplicative)
    }

    fn multiplicative(&mut self) -> P<Expr> {
        self.binary_level(&[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Mod)], Self::unary)
    }

    fn unary(&mut self) -> P<Expr> {
        let t = self.peek().clone();
        let op = match t.tok {
            Tok::Op("-") => Some(UnOp::Neg),
            Tok::Op("+") => Some(UnOp::Plus),
            Tok::Op("!") => Some(UnOp::Not),
            Tok::Op("~") => Some(UnOp::BitNot),
            Tok::Op("++") | Tok::Op("--") => {
                self.next();
                let target = self.unary()?;
                let delta = if t.tok == Tok::Op("++") { 1 } else { -1 };
                return Ok(Expr { kind: ExprKind::IncDec { pre: true, delta, target: Box::new(target) }, pos: t.pos });
            }
            _ => None,
        };
        match op {
            Some(op) => {
                self.next();
                // `-9223372036854775808` as one literal.
                if op == UnOp::Neg {
                    if let Tok::Num(n) = self.peek().tok {
                        if !matches!(self.peek_at(1), Tok::Op("++") | Tok::Op("--")) {
                            self.next();
                            let e = Expr { kind: ExprKind::Num(n.wrapping_neg()), pos: t.pos };
                            return self.postfix_rest(e);
                        }
                    }
                }
                let e = self.unary()?;
                Ok(Expr { kind: ExprKind::Unary(op, Box::new(e)), pos: t.pos })
            }
            None => self.postfix(),
        }
    }

    fn postfix(&mut self) -> P<Expr> {
        let e = self.primary()?;
        self.postfix_rest(e)
    }

    fn postfix_rest(&mut self, e: Expr) -> P<Expr> {
        if self.is_op("++") || self.is_op("--") {
            let t = self.next();
            let delta = if t.tok == Tok::Op("++") { 1 } else { -1 };
            return Ok(Expr { kind: ExprKind::IncDec { pre: false, delta, target: Box::new(e) }, pos: t.pos });
        }
        Ok(e)
    }

    fn args(&mut self) -> P<Vec<Expr>> {
        self.expect_op("(")?;
        let mut args = Vec::new();
        if !self.is_op(")") {
            loop {
                args.push(self.expr()?);
                if !self.eat_op(",") {
                    break;
                }
            }
        }
        self.expect_op(")")?;
        Ok(args)
    }

    fn primary(&mut self) -> P<Expr> {
        let t = self.peek().clone();
        let pos = t.pos;
        let what = t.describe();
        match t.tok {
            Tok::Num(n) => {
                self.next();
                Ok(Expr { kind: ExprKind::Num(n), pos })
            }
            Tok::Str(s) => {
                self.next();
                // Adjacent literals join, as in C.
                let mut s = s;
                while let Tok::Str(more) = &self.peek().tok {
                    s += &more.clone();
                    self.next();
                }
                Ok(Expr { kind: ExprKind::Str(s), pos })
            }
            Tok::Op("(") => {
                self.next();
                let e = self.expr()?;
                self.expect_op(")")?;
                Ok(e)
            }
            Tok::Op("$") => Err(Diag::parse(
                "target variables ($name) need debuginfo, which wprobe does not use: read arguments by position (pointer_arg(n), …) or tracepoint fields with field(\"name\")",
                pos,
            )
            .with_at(what)),
            Tok::Ident(name) if name.starts_with('@') => {
                self.next();
                if let Some(f) = StatFn::from_name(&name) {
                    self.expect_op("(")?;
                    let operand = self.stat_operand()?;
                    self.expect_op(")")?;
                    return Ok(Expr { kind: ExprKind::Stat(f, Box::new(operand)), pos });
                }
                match name.as_str() {
                    "@hist_log" => {
                        self.expect_op("(")?;
                        let operand = self.stat_operand()?;
                        self.expect_op(")")?;
                        Ok(Expr { kind: ExprKind::Hist(Box::new(operand), None), pos })
                    }
                    "@hist_linear" => {
                        self.expect_op("(")?;
                        let operand = self.stat_operand()?;
                        let mut params = [0i64; 3];
                        for p in &mut params {
                            self.expect_op(",")?;
                            let neg = self.eat_op("-");
                            let t = self.next();
                            match t.tok {
                                Tok::Num(n) => *p = if neg { n.wrapping_neg() } else { n },
                                _ => {
                                    return Err(Diag::parse("@hist_linear takes number literals", t.pos)
                                        .with_at(t.describe()))
                                }
                            }
                        }
                        self.expect_op(")")?;
                        Ok(Expr { kind: ExprKind::Hist(Box::new(operand), Some(params)), pos })
                    }
                    "@entry" => Err(Diag::parse(
                        "@entry(…) is not needed: in a return probe the argument accessors already give the entry's values",
                        pos,
                    )
                    .with_at(what)),
                    _ => Err(Diag::parse(format!("unknown operator {name}"), pos).with_at(what)),
                }
            }
            Tok::Ident(name) if !is_keyword(&name) => {
                self.next();
                if self.is_op("(") {
                    let args = self.args()?;
                    return Ok(Expr { kind: ExprKind::Call(name, args), pos });
                }
                self.maybe_index(name, pos)
            }
            _ => Err(self.error("an expression")),
        }
    }

    fn stat_operand(&mut self) -> P<Expr> {
        let (name, pos) = self.ident("an aggregate variable")?;
        self.maybe_index(name, pos)
    }

    /// `name` or `name[k1, k2]`.
    fn maybe_index(&mut self, name: String, pos: Pos) -> P<Expr> {
        if !self.eat_op("[") {
            return Ok(Expr { kind: ExprKind::Var(name), pos });
        }
        let keys = self.expr_list()?;
        self.expect_op("]")?;
        Ok(Expr { kind: ExprKind::Index(name, keys), pos })
    }

    fn expr_list(&mut self) -> P<Vec<Expr>> {
        let mut v = vec![self.expr()?];
        while self.eat_op(",") {
            v.push(self.expr()?);
        }
        Ok(v)
    }
}
