//! Tokens of the script, with their positions. `$N` and `@N` (command-line arguments) are
//! substituted here, as SystemTap does.

use crate::error::{Diag, Pos};

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    Num(i64),
    Str(String),
    Op(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

impl Token {
    /// How SystemTap describes a token in a parse error: `operator '+'`, `identifier 'x'`.
    pub fn describe(&self) -> String {
        match &self.tok {
            Tok::Ident(s) if crate::parser::is_keyword(s) => format!("keyword '{s}'"),
            Tok::Ident(s) => format!("identifier '{s}'"),
            Tok::Num(n) => format!("number '{n}'"),
            Tok::Str(s) => format!("string '{}'", s.escape_default()),
            Tok::Op(o) => format!("operator '{o}'"),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// Longest first, so that `<<<` wins over `<<` and `<`.
const OPS: [&str; 52] = [
    "<<<", "<<=", ">>=", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "++", "--", "+=", "-=", "*=", "/=", "%=",
    "&=", "|=", "^=", ".=", "=~", "!~", "%{", "%}", "+", "-", "*", "/", "%", "<", ">", "=", "!", "~", "&", "|", "^",
    ".", ",", ";", ":", "?", "(", ")", "[", "]", "{", "}", "$", "@",
];

pub fn lex(src: &str, args: &[String]) -> Result<Vec<Token>, Diag> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    // Advances over n bytes, keeping line and column (columns count characters).
    macro_rules! bump {
        ($n:expr) => {{
            for _ in 0..$n {
                if b[i] == b'\n' {
                    line += 1;
                    col = 1;
                } else if b[i] & 0xc0 != 0x80 {
                    col += 1;
                }
                i += 1;
            }
        }};
    }
    while i < b.len() {
        let c = b[i];
        let pos = Pos { line, col };
        if c.is_ascii_whitespace() {
            bump!(1);
            continue;
        }
        if c == b'#' || (c == b'/' && b.get(i + 1) == Some(&b'/')) {
            while i < b.len() && b[i] != b'\n' {
                bump!(1);
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            bump!(2);
            loop {
                if i >= b.len() {
                    return Err(Diag::parse("unterminated comment", pos));
                }
                if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    bump!(2);
                    break;
                }
                bump!(1);
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || (c == b'@' && b.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()))
        {
            let start = i;
            bump!(1);
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                bump!(1);
            }
            out.push(Token { tok: Tok::Ident(src[start..i].to_string()), pos });
            continue;
        }
        if (c == b'$' || c == b'@') && b.get(i + 1).is_some_and(|c| c.is_ascii_digit() || *c == b'#') {
            bump!(1);
            let tok = if b[i] == b'#' {
                bump!(1);
                if c == b'$' {
                    Tok::Num(args.len() as i64)
                } else {
                    Tok::Str(args.len().to_string())
                }
            } else {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    bump!(1);
                }
                let n: usize = src[start..i].parse().unwrap_or(usize::MAX);
                let Some(arg) = n.checked_sub(1).and_then(|k| args.get(k)) else {
                    return Err(Diag::parse(
                        format!("command line argument index {n} out of range [1-{}]", args.len()),
                        pos,
                    ));
                };
                if c == b'@' {
                    Tok::Str(arg.clone())
                } else {
                    match parse_number(arg.trim()) {
                        Some(v) => Tok::Num(v),
                        None => {
                            return Err(Diag::parse(
                                format!("command line argument ${n} is {arg:?}, not a number (use @{n} for a string)"),
                                pos,
                            ))
                        }
                    }
                }
            };
            out.push(Token { tok, pos });
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                bump!(1);
            }
            let text = &src[start..i];
            let n = parse_number(text).ok_or_else(|| Diag::parse(format!("malformed number '{text}'"), pos))?;
            out.push(Token { tok: Tok::Num(n), pos });
            continue;
        }
        if c == b'"' {
            bump!(1);
            let mut s = Vec::new();
            loop {
                if i >= b.len() || b[i] == b'\n' {
                    return Err(Diag::parse("unterminated string", pos));
                }
                match b[i] {
                    b'"' => {
                        bump!(1);
                        break;
                    }
                    b'\\' => {
                        let epos = Pos { line, col };
                        bump!(1);
                        if i >= b.len() {
                            return Err(Diag::parse("unterminated string", pos));
                        }
                        let e = b[i];
                        bump!(1);
                        match e {
                            b'n' => s.push(b'\n'),
                            b't' => s.push(b'\t'),
                            b'r' => s.push(b'\r'),
                            b'a' => s.push(7),
                            b'b' => s.push(8),
                            b'f' => s.push(12),
                            b'v' => s.push(11),
                            b'\\' | b'"' | b'\'' => s.push(e),
                            b'0'..=b'7' => {
                                let mut v = u32::from(e - b'0');
                                for _ in 0..2 {
                                    if i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                                        v = v * 8 + u32::from(b[i] - b'0');
                                        bump!(1);
                                    }
                                }
                                s.push(v as u8);
                            }
                            b'x' => {
                                let mut v = 0u32;
                                let mut digits = 0;
                                while digits < 2 && i < b.len() && b[i].is_ascii_hexdigit() {
                                    v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                                    bump!(1);
                                    digits += 1;
                                }
                                if digits == 0 {
                                    return Err(Diag::parse("\\x with no hex digits in a string", epos));
                                }
                                s.push(v as u8);
                            }
                            _ => {
                                return Err(Diag::parse(format!("unknown escape sequence '\\{}'", e as char), epos));
                            }
                        }
                    }
                    _ => {
                        s.push(b[i]);
                        bump!(1);
                    }
                }
            }
            out.push(Token { tok: Tok::Str(String::from_utf8_lossy(&s).into_owned()), pos });
            continue;
        }
        let rest = &src[i..];
        match OPS.iter().find(|op| rest.starts_with(**op)) {
            Some(&"%{") | Some(&"%}") => {
                return Err(Diag::parse("embedded C (%{ %}) is not supported: scripts run in a sandbox", pos))
            }
            Some(op) => {
                bump!(op.len());
                out.push(Token { tok: Tok::Op(op), pos });
            }
            None => {
                let ch = rest.chars().next().unwrap_or('?');
                return Err(Diag::parse(format!("unexpected character '{ch}'"), pos));
            }
        }
    }
    out.push(Token { tok: Tok::Eof, pos: Pos { line, col } });
    Ok(out)
}

/// Decimal, `0x` hexadecimal or `0` octal, as in C; values up to 2^64-1 wrap to negative
/// (`0xffffffffffffffff` is -1), as SystemTap's 64-bit literals do.
pub fn parse_number(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        u64::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse::<u64>().ok()?
    };
    let v = v as i64;
    Some(if neg { v.wrapping_neg() } else { v })
}
