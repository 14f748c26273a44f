//! `printf` formats: parsed once when the script is compiled, applied per call with the
//! rules of SystemTap's runtime (every integer directive works on the full 64-bit value;
//! `%p` is `%#x`; `#` with `%x` prefixes `0x` even to 0).

use crate::types::Ty;
use wprobe_common::digits::{DEC_PAIRS as PAIRS, HEX_LOWER, HEX_UPPER};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub left: bool,
    pub plus: bool,
    pub space: bool,
    pub special: bool,
    pub zero: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv {
    Signed,
    Unsigned,
    Octal,
    Hex { upper: bool },
    Pointer,
    Char,
    Str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Spec(Spec),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub flags: Flags,
    /// None: not given; `*` widths and precisions are not supported.
    pub width: Option<usize>,
    pub precision: Option<usize>,
    pub conv: Conv,
}

impl Spec {
    pub fn arg_type(&self) -> Ty {
        match self.conv {
            Conv::Str => Ty::Str,
            _ => Ty::Long,
        }
    }
}

/// Splits a format into literal text and directives; the error names the bad directive.
pub fn parse(fmt: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = fmt.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        let mut flags = Flags::default();
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '-' => flags.left = true,
                '+' => flags.plus = true,
                ' ' => flags.space = true,
                '#' => flags.special = true,
                '0' => flags.zero = true,
                _ => break,
            }
            chars.next();
        }
        let number = |chars: &mut core::iter::Peekable<core::str::CharIndices<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(&(_, d)) = chars.peek() {
                match d.to_digit(10) {
                    Some(v) => {
                        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(v as usize).min(4096));
                        chars.next();
                    }
                    None => break,
                }
            }
            n
        };
        let width = number(&mut chars);
        let precision = if chars.peek().map(|&(_, c)| c) == Some('.') {
            chars.next();
            Some(number(&mut chars).unwrap_or(0))
        } else {
            None
        };
        // Length modifiers change nothing: every value is 64 bits.
        while matches!(chars.peek(), Some(&(_, 'l' | 'h' | 'L'))) {
            chars.next();
        }
        let Some((end, conv)) = chars.next() else {
            return Err(format!("incomplete directive '{}' at the end of the format", &fmt[start..]));
        };
        let conv = match conv {
            '%' => {
                lit.push('%');
                continue;
            }
            'd' | 'i' => Conv::Signed,
            'u' => Conv::Unsigned,
            'o' => Conv::Octal,
            'x' => Conv::Hex { upper: false },
            'X' => Conv::Hex { upper: true },
            'p' => Conv::Pointer,
            'c' => Conv::Char,
            's' => Conv::Str,
            '*' => return Err("'*' widths and precisions are not supported; build the format with sprintf".into()),
            other => {
                let text = &fmt[start..end + other.len_utf8()];
                return Err(format!("unsupported format directive '{text}'"));
            }
        };
        if !lit.is_empty() {
            out.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        out.push(Piece::Spec(Spec { flags, width, precision, conv }));
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}

/// Appends `v` formatted by an integer directive, as SystemTap's runtime `number()` does.
pub fn int(out: &mut String, v: i64, spec: &Spec) {
    let (base, upper, signed, special) = match spec.conv {
        Conv::Signed => (10, false, true, false),
        Conv::Unsigned => (10, false, false, false),
        Conv::Octal => (8, false, false, spec.flags.special),
        Conv::Hex { upper } => (16, upper, false, spec.flags.special),
        Conv::Pointer => (16, false, false, true),
        Conv::Char => {
            char(out, v, spec);
            return;
        }
        Conv::Str => unreachable!("a string directive given a number"),
    };
    number(out, v as u64, base, upper, signed, special, spec);
}

/// `num`'s digits in `base` (8, 10 or 16). Constant divisors and shifts: a division by a
/// variable base was the slowest instruction of `printf`.
#[inline]
fn digits(mut num: u64, base: u64, upper: bool) -> Ascii<24> {
    let bits = 64 - num.leading_zeros();
    let n = match base {
        16 => bits.div_ceil(4).max(1),
        8 => bits.div_ceil(3).max(1),
        _ => num.checked_ilog10().unwrap_or(0) + 1,
    } as usize;
    let mut buf = [0u8; 24];
    let mut i = n;
    match base {
        10 => {
            while num >= 100 {
                let d = (num % 100) as usize * 2;
                num /= 100;
                i -= 2;
                buf[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
            }
            if num >= 10 {
                let d = num as usize * 2;
                i -= 2;
                buf[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
            } else {
                i -= 1;
                buf[i] = b'0' + num as u8;
            }
        }
        16 => {
            let pairs = if upper { &HEX_UPPER } else { &HEX_LOWER };
            while num >= 0x100 {
                let d = (num & 0xff) as usize * 2;
                num >>= 8;
                i -= 2;
                buf[i..i + 2].copy_from_slice(&pairs[d..d + 2]);
            }
            if num >= 0x10 {
                let d = num as usize * 2;
                i -= 2;
                buf[i..i + 2].copy_from_slice(&pairs[d..d + 2]);
            } else {
                i -= 1;
                buf[i] = pairs[num as usize * 2 + 1];
            }
        }
        _ => loop {
            i -= 1;
            buf[i] = b'0' + (num & 7) as u8;
            num >>= 3;
            if num == 0 {
                break;
            }
        },
    }
    debug_assert_eq!(i, 0);
    Ascii { buf, len: n }
}

/// Short ASCII text kept in a fixed-size buffer, appended with one fixed-size copy. Inside
/// the sandbox a `memcpy` of a variable length becomes wasmtime's `memory.copy`, a call out
/// of the guest that costs more than the few bytes it copies; a copy of a size known at
/// compile time is a few loads and stores instead.
#[derive(Clone, Copy, Debug)]
pub struct Ascii<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Ascii<N> {
    /// `text` if it is ASCII and fits.
    pub fn new(text: &str) -> Option<Self> {
        if !text.is_ascii() || text.len() > N {
            return None;
        }
        let mut buf = [0u8; N];
        buf[..text.len()].copy_from_slice(text.as_bytes());
        Some(Ascii { buf, len: text.len() })
    }

    #[inline]
    pub fn push_to(&self, out: &mut String) {
        let n = self.len.min(N);
        // SAFETY: `buf[..n]` is ASCII (checked by `new`; `digits` writes only digits and
        // letters), so the string stays UTF-8; the other copied bytes land in the spare
        // capacity reserved just before and are not part of the string.
        unsafe {
            let v = out.as_mut_vec();
            v.reserve(N);
            let len = v.len();
            core::ptr::copy_nonoverlapping(self.buf.as_ptr(), v.as_mut_ptr().add(len), N);
            v.set_len(len + n);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn number(out: &mut String, num: u64, base: u64, upper: bool, signed: bool, special: bool, spec: &Spec) {
    let f = spec.flags;
    let mut num = num;
    let negative = signed && (num as i64) < 0;
    if negative {
        num = (num as i64).wrapping_neg() as u64;
    }
    let text = digits(num, base, upper);
    // The common directive (`%d`, `%x`, `%#x`, `%p` with no width, precision or sign flag):
    // sign, prefix, digits, nothing to pad.
    if spec.width.is_none() && spec.precision.is_none() && !(signed && (f.plus || f.space)) {
        if negative {
            out.push('-');
        }
        if special {
            out.push_str(match (base, upper) {
                (8, _) => "0",
                (16, false) => "0x",
                (16, true) => "0X",
                _ => "",
            });
        }
        text.push_to(out);
        return;
    }
    let zero = f.zero && !f.left;
    let mut size = spec.width.map_or(-1i64, |w| w as i64);
    let mut sign = None;
    if signed {
        if negative {
            sign = Some('-');
            size -= 1;
        } else if f.plus {
            sign = Some('+');
            size -= 1;
        } else if f.space {
            sign = Some(' ');
            size -= 1;
        }
    }
    if special {
        size -= if base == 16 {
            2
        } else if base == 8 {
            1
        } else {
            0
        };
    }
    let i = text.len;
    let precision = spec.precision.map_or(i as i64, |p| (p as i64).max(i as i64));
    size -= precision;
    if !zero && !f.left {
        while size > 0 {
            out.push(' ');
            size -= 1;
        }
    }
    if let Some(s) = sign {
        out.push(s);
    }
    if special {
        if base == 8 {
            out.push('0');
        } else if base == 16 {
            out.push('0');
            out.push(if upper { 'X' } else { 'x' });
        }
    }
    if !f.left {
        while size > 0 {
            out.push(if zero { '0' } else { ' ' });
            size -= 1;
        }
    }
    for _ in i as i64..precision {
        out.push('0');
    }
    text.push_to(out);
    while size > 0 {
        out.push(' ');
        size -= 1;
    }
}

/// `%c`: one byte; with `#`, C's escapes for unprintable ones.
fn char(out: &mut String, v: i64, spec: &Spec) {
    let c = v as u8;
    let mut text = String::new();
    if spec.flags.special && (!(0x20..0x7f).contains(&c) || c == b'\'' || c == b'\\') {
        text.push('\\');
        match c {
            7 => text.push('a'),
            8 => text.push('b'),
            12 => text.push('f'),
            b'\n' => text.push('n'),
            b'\r' => text.push('r'),
            b'\t' => text.push('t'),
            11 => text.push('v'),
            b'\'' | b'\\' => text.push(c as char),
            _ => text += &format!("{:03o}", c),
        }
    } else if c < 0x80 {
        text.push(c as char);
    } else {
        // Not UTF-8 on its own: shown as the hex escape the memory accessors use.
        text += &format!("\\x{c:02x}");
    }
    pad(out, &text, spec);
}

/// `%s`: at most `precision` bytes, padded to the width.
pub fn string(out: &mut String, s: &str, spec: &Spec) {
    let s = match spec.precision {
        Some(p) if p < s.len() => {
            let mut end = p;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            &s[..end]
        }
        _ => s,
    };
    pad(out, s, spec);
}

fn pad(out: &mut String, s: &str, spec: &Spec) {
    let width = spec.width.unwrap_or(0);
    let len = s.chars().count();
    if !spec.flags.left {
        for _ in len..width {
            out.push(' ');
        }
    }
    out.push_str(s);
    if spec.flags.left {
        for _ in len..width {
            out.push(' ');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(fmt: &str, v: i64) -> String {
        let pieces = parse(fmt).unwrap();
        let Piece::Spec(spec) = pieces[0] else { panic!() };
        let mut s = String::new();
        int(&mut s, v, &spec);
        s
    }

    #[test]
    fn integers_as_systemtap_prints_them() {
        assert_eq!(f("%d", -5), "-5");
        assert_eq!(f("%5d", 42), "   42");
        assert_eq!(f("%-5d", 42), "42   ");
        assert_eq!(f("%05d", -42), "-0042");
        assert_eq!(f("%+d", 7), "+7");
        assert_eq!(f("% d", 7), " 7");
        assert_eq!(f("%.3d", 7), "007");
        assert_eq!(f("%u", -1), "18446744073709551615");
        assert_eq!(f("%x", -1), "ffffffffffffffff");
        assert_eq!(f("%X", 255), "FF");
        assert_eq!(f("%#x", 255), "0xff");
        assert_eq!(f("%#x", 0), "0x0");
        assert_eq!(f("%#o", 8), "010");
        assert_eq!(f("%o", 8), "10");
        assert_eq!(f("%p", 0x1234), "0x1234");
        assert_eq!(f("%#08x", 255), "0x0000ff");
        assert_eq!(f("%c", 65), "A");
        assert_eq!(f("%#c", 10), "\\n");
        assert_eq!(f("%3c", 65), "  A");
        assert_eq!(f("%d", i64::MIN), "-9223372036854775808");
        assert_eq!(f("%30d", i64::MIN), "          -9223372036854775808");
        assert_eq!(f("%o", -1), "1777777777777777777777");
        assert_eq!(f("%#X", -1), "0XFFFFFFFFFFFFFFFF");
        assert_eq!(f("%u", 0), "0");
    }

    #[test]
    fn short_ascii_text_is_appended_exactly() {
        let mut out = String::from("a");
        Ascii::<16>::new(", ").unwrap().push_to(&mut out);
        Ascii::<16>::new("").unwrap().push_to(&mut out);
        Ascii::<16>::new("0123456789abcdef").unwrap().push_to(&mut out);
        assert_eq!(out, "a, 0123456789abcdef");
        assert!(Ascii::<16>::new("0123456789abcdefg").is_none(), "too long");
        assert!(Ascii::<16>::new("é").is_none(), "not ASCII");
    }

    #[test]
    fn bad_directives() {
        assert!(parse("%q").unwrap_err().contains("'%q'"));
        assert!(parse("abc %").is_err());
        assert!(parse("%*d").is_err());
        assert_eq!(parse("100%%").unwrap(), vec![Piece::Lit("100%".into())]);
    }
}
