//! The parsed script.

use crate::error::Pos;

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub pos: Pos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Shl,
    Shr,
    BitAnd,
    BitOr,
    BitXor,
    Concat,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl BinOp {
    pub fn text(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::BitAnd => "&",
            BinOp::BitOr => "|",
            BinOp::BitXor => "^",
            BinOp::Concat => ".",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne)
    }

    /// The compound assignment `op=` for this operator.
    pub fn from_assign(op: &str) -> Option<BinOp> {
        Some(match op {
            "+=" => BinOp::Add,
            "-=" => BinOp::Sub,
            "*=" => BinOp::Mul,
            "/=" => BinOp::Div,
            "%=" => BinOp::Mod,
            "<<=" => BinOp::Shl,
            ">>=" => BinOp::Shr,
            "&=" => BinOp::BitAnd,
            "|=" => BinOp::BitOr,
            "^=" => BinOp::BitXor,
            ".=" => BinOp::Concat,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Plus,
    Not,
    BitNot,
}

/// `@count`, `@sum`, `@min`, `@max`, `@avg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatFn {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

impl StatFn {
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "@count" => StatFn::Count,
            "@sum" => StatFn::Sum,
            "@min" => StatFn::Min,
            "@max" => StatFn::Max,
            "@avg" => StatFn::Avg,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Num(i64),
    Str(String),
    /// A scalar variable, local or global.
    Var(String),
    /// `a[k1, k2]`.
    Index(String, Vec<Expr>),
    Call(String, Vec<Expr>),
    /// `@count(x)` and friends; the operand is a `Var` or an `Index`.
    Stat(StatFn, Box<Expr>),
    /// `@hist_log(x)` (no parameters) or `@hist_linear(x, start, stop, interval)`.
    Hist(Box<Expr>, Option<[i64; 3]>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `lhs = rhs` (op None) or `lhs op= rhs`.
    Assign(Option<BinOp>, Box<Expr>, Box<Expr>),
    /// `++x`, `x--`, …
    IncDec {
        pre: bool,
        delta: i64,
        target: Box<Expr>,
    },
    /// `k in a`, `[k1, k2] in a`.
    In(Vec<Expr>, String, Pos),
    /// `lhs <<< rhs`.
    Aggregate(Box<Expr>, Box<Expr>),
}

#[derive(Clone, Debug)]
pub enum Stmt {
    Block(Vec<Stmt>),
    Expr(Expr),
    If(Expr, Box<Stmt>, Option<Box<Stmt>>),
    While(Expr, Box<Stmt>),
    For(Option<Expr>, Option<Expr>, Option<Expr>, Box<Stmt>),
    Foreach(Box<Foreach>),
    Next(Pos),
    Break(Pos),
    Continue(Pos),
    Return(Option<Expr>, Pos),
    Delete(Expr),
    Empty,
}

/// Which column a `foreach` sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    /// 0: the value; k: the k-th key (from 1).
    pub column: usize,
    pub descending: bool,
}

#[derive(Clone, Debug)]
pub struct Foreach {
    /// `v = [k…] in a`: the value variable.
    pub value: Option<(String, Pos)>,
    pub keys: Vec<(String, Pos)>,
    pub array: String,
    pub array_pos: Pos,
    pub sort: Option<Sort>,
    pub limit: Option<Expr>,
    pub body: Stmt,
    pub pos: Pos,
}

/// One component of a probe point: `function("f")`, `return`, `ms(100)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub arg: Option<Literal>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Literal {
    Num(i64),
    Str(String),
}

#[derive(Clone, Debug)]
pub struct ProbePoint {
    pub components: Vec<Component>,
    pub pos: Pos,
}

impl ProbePoint {
    /// SystemTap's spelling, as `pp()` gives it: `kprobe.function("f").return`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (i, c) in self.components.iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            s += &c.name;
            match &c.arg {
                Some(Literal::Num(n)) if c.name == "statement" => s += &format!("({n:#x})"),
                Some(Literal::Num(n)) => s += &format!("({n})"),
                Some(Literal::Str(t)) => s += &format!("(\"{t}\")"),
                None => {}
            }
        }
        s
    }
}

#[derive(Clone, Debug)]
pub struct Probe {
    pub points: Vec<ProbePoint>,
    pub body: Stmt,
    pub pos: Pos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeName {
    Long,
    String,
}

#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub params: Vec<(String, Option<TypeName>, Pos)>,
    pub ret: Option<TypeName>,
    pub body: Stmt,
    pub pos: Pos,
}

#[derive(Clone, Debug)]
pub struct Global {
    pub name: String,
    /// `global a[100]`: the array's size limit.
    pub size: Option<i64>,
    pub init: Option<Literal>,
    pub pos: Pos,
}

#[derive(Clone, Debug, Default)]
pub struct Script {
    pub globals: Vec<Global>,
    pub probes: Vec<Probe>,
    pub functions: Vec<Function>,
}
