//! `printf!`'s formatter for the common case: `{}` and `{:x}`/`{:#x}`/`{:X}`/`{:#X}` of
//! integers and strings, which is nearly every tracing line.
//!
//! `core::fmt` goes through a `Formatter`, a `dyn Write` and padding logic for every piece,
//! which inside the guest cost two thirds of a typical handler's time. This writes digits
//! straight into the output buffer instead. Anything else (a width, `{:?}`, a named
//! argument, `{:x}` of a type that is not an integer) is left to `core::fmt`, decided before
//! anything is written; the property tests check the output is byte for byte `format!`'s.
//!
//! `printf!` turns each argument into an [`Arg`] by method resolution on references
//! (integers first, then any `Display`, then nothing), so that every type `format!` accepts
//! still compiles.

use core::fmt::{Display, Write};

/// One argument as the fast formatter sees it.
#[derive(Clone, Copy)]
pub enum Arg<'a> {
    Unsigned(u64),
    /// The value and the type's width in bits (hex of a negative number is its two's
    /// complement at that width, as `core::fmt` prints it).
    Signed(i64, u32),
    Str(&'a str),
    Display(&'a dyn Display),
    /// No `Display`: only `core::fmt` (with `{:?}` and the like) can format it.
    Other,
}

/// The argument wrapper the resolution works on.
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

/// Integers and strings (highest priority: implemented on `&&Wrap`).
pub trait ViaValue<'a> {
    fn wp_arg(&self) -> Arg<'a>;
}
/// Any other `Display`.
pub trait ViaDisplay<'a> {
    fn wp_arg(&self) -> Arg<'a>;
}
/// Everything else.
pub trait ViaNothing<'a> {
    fn wp_arg(&self) -> Arg<'a>;
}

macro_rules! unsigned {
    ($($t:ty)*) => {$(
        impl<'a> ViaValue<'a> for &&Wrap<'a, $t> {
            #[inline(always)]
            fn wp_arg(&self) -> Arg<'a> { Arg::Unsigned(*self.0 as u64) }
        }
    )*};
}
unsigned!(u8 u16 u32 u64 usize);

macro_rules! signed {
    ($($t:ty)*) => {$(
        impl<'a> ViaValue<'a> for &&Wrap<'a, $t> {
            #[inline(always)]
            fn wp_arg(&self) -> Arg<'a> { Arg::Signed(*self.0 as i64, <$t>::BITS) }
        }
    )*};
}
signed!(i8 i16 i32 i64 isize);

macro_rules! string {
    ($($t:ty)*) => {$(
        impl<'a> ViaValue<'a> for &&Wrap<'a, $t> {
            #[inline(always)]
            fn wp_arg(&self) -> Arg<'a> { Arg::Str(self.0) }
        }
    )*};
}
string!(&str str std::string::String crate::ShortStr);

impl<'a, T: Display> ViaDisplay<'a> for &Wrap<'a, T> {
    #[inline(always)]
    fn wp_arg(&self) -> Arg<'a> {
        Arg::Display(self.0)
    }
}

impl<'a, T: ?Sized> ViaNothing<'a> for Wrap<'a, T> {
    #[inline(always)]
    fn wp_arg(&self) -> Arg<'a> {
        Arg::Other
    }
}

/// Appends `fmt` with `args` to `out`, as `format!` would; false (and `out` unchanged)
/// when `fmt` or an argument needs `core::fmt`.
pub fn write(out: &mut std::string::String, fmt: &str, args: &[Arg<'_>]) -> bool {
    let start = out.len();
    if write_inner(out, fmt, args).is_none() {
        out.truncate(start);
        return false;
    }
    true
}

fn write_inner(out: &mut std::string::String, fmt: &str, args: &[Arg<'_>]) -> Option<()> {
    let b = fmt.as_bytes();
    let mut next = 0;
    let mut lit = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' if b.get(i + 1) == Some(&b'{') => {
                out.push_str(&fmt[lit..=i]);
                i += 2;
                lit = i;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => {
                out.push_str(&fmt[lit..=i]);
                i += 2;
                lit = i;
            }
            b'{' => {
                out.push_str(&fmt[lit..i]);
                let close = i + b[i..].iter().position(|&c| c == b'}')?;
                let spec = &b[i + 1..close];
                let arg = *args.get(next)?;
                next += 1;
                match spec {
                    b"" => display(out, arg)?,
                    b":x" => hex(out, arg, false, false)?,
                    b":#x" => hex(out, arg, true, false)?,
                    b":X" => hex(out, arg, false, true)?,
                    b":#X" => hex(out, arg, true, true)?,
                    _ => return None,
                }
                i = close + 1;
                lit = i;
            }
            // A lone `}` is a compile error for `format_args!`; never reached.
            b'}' => return None,
            _ => i += 1,
        }
    }
    out.push_str(&fmt[lit..]);
    // Unused arguments are a compile error for `format_args!` too.
    (next == args.len()).then_some(())
}

fn display(out: &mut std::string::String, arg: Arg<'_>) -> Option<()> {
    match arg {
        Arg::Unsigned(v) => decimal(out, v, false),
        Arg::Signed(v, _) => decimal(out, v.unsigned_abs(), v < 0),
        Arg::Str(s) => out.push_str(s),
        // Still `core::fmt`, but for this argument only.
        Arg::Display(d) => write!(out, "{d}").ok()?,
        Arg::Other => return None,
    }
    Some(())
}

fn hex(out: &mut std::string::String, arg: Arg<'_>, alternate: bool, upper: bool) -> Option<()> {
    let v = match arg {
        Arg::Unsigned(v) => v,
        Arg::Signed(v, bits) => (v as u64) & (u64::MAX >> (64 - bits)),
        _ => return None,
    };
    if alternate {
        // `{:#X}` too: the prefix stays lower case.
        out.push_str("0x");
    }
    let digits = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
    let mut buf = [0u8; 16];
    let mut n = 16;
    let mut v = v;
    loop {
        n -= 1;
        buf[n] = digits[(v & 0xf) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    // SAFETY: hex digits are ASCII.
    out.push_str(unsafe { core::str::from_utf8_unchecked(&buf[n..]) });
    Some(())
}

const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

fn decimal(out: &mut std::string::String, v: u64, negative: bool) {
    let mut buf = [0u8; 21];
    let mut n = buf.len();
    let mut v = v;
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        n -= 2;
        buf[n..n + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        n -= 2;
        buf[n..n + 2].copy_from_slice(&PAIRS[d..d + 2]);
    } else {
        n -= 1;
        buf[n] = b'0' + v as u8;
    }
    if negative {
        n -= 1;
        buf[n] = b'-';
    }
    // SAFETY: digits and '-' are ASCII.
    out.push_str(unsafe { core::str::from_utf8_unchecked(&buf[n..]) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `printf!` would give for `fmt` (the same resolution on references).
    macro_rules! fast {
        ($fmt:literal $(, $arg:expr)*) => {{
            #[allow(unused_imports)]
            use super::{ViaDisplay as _, ViaNothing as _, ViaValue as _};
            let mut out = std::string::String::from("kept|");
            let ok = write(&mut out, $fmt, &[$((&&&Wrap(&$arg)).wp_arg()),*]);
            (ok, out)
        }};
    }

    /// Byte for byte `format!`'s text, behind what was already in the buffer.
    macro_rules! same {
        ($fmt:literal $(, $arg:expr)*) => {{
            let (ok, out) = fast!($fmt $(, $arg)*);
            prop_assert!(ok, "the fast path declined {}", $fmt);
            prop_assert_eq!(out, format!(concat!("kept|", $fmt) $(, $arg)*));
        }};
    }

    proptest! {
        #[test]
        fn integers_match_core_fmt(
            a in any::<u64>(), b in any::<i64>(), c in any::<u32>(), d in any::<i32>(),
            e in any::<u8>(), f in any::<i8>(), g in any::<u16>(), h in any::<i16>(),
            i in any::<usize>(), j in any::<isize>(),
        ) {
            same!("{}, {:#x}, {:x}, {:X}, {:#X}\n", a, a, a, a, a);
            same!("{} {:#x} {:x} {:X} {:#X}", b, b, b, b, b);
            same!("{}{:#x}{:x}{:X}{:#X}", c, c, c, c, c);
            same!("[{}|{:#x}|{:x}|{:X}|{:#X}]", d, d, d, d, d);
            same!("{} {:x} {} {:#x} {} {:X} {} {:#X}", e, f, g, h, f, e, h, g);
            same!("{} {:#x} {} {:#x}", i, i, j, j);
        }

        #[test]
        fn strings_and_literal_text_match_core_fmt(s in ".*", t in "[a-z{}]{0,8}", n in any::<u64>()) {
            same!("{}", s);
            same!("{{{}}} }} {{ {}: {}\n", s, n, t);
            same!("{}{}", s.as_str(), crate::ShortStr::from_str_truncating(t.as_str()));
            same!("plain text, no directive");
        }

        #[test]
        fn other_display_types_match_core_fmt(c in any::<char>(), b in any::<bool>(), x in any::<f64>()) {
            same!("{} {} {}", c, b, x);
        }
    }

    #[test]
    fn anything_else_is_declined_and_leaves_the_buffer_as_it_was() {
        // A width, debug, a named or numbered argument, hex of a non-integer, no Display.
        assert_eq!(fast!("{:8}", 1u32), (false, "kept|".to_string()));
        assert_eq!(fast!("a {:?}", "x"), (false, "kept|".to_string()));
        assert_eq!(fast!("{0} {0}", 1u32), (false, "kept|".to_string()));
        assert_eq!(fast!("{} {:x}", 1u32, 'c'), (false, "kept|".to_string()));
        assert_eq!(fast!("{:x}", 1.5f64), (false, "kept|".to_string()));
        assert_eq!(fast!("{}", [1u8]), (false, "kept|".to_string()));
        assert_eq!(fast!("{}", 1u128), (true, "kept|1".to_string()));
    }

    #[test]
    fn printf_takes_either_path_with_the_same_text() {
        crate::host::imp::take();
        let x = 7u32;
        let pid = 4242u32;
        crate::printf!("{}, {:#x}, {}\n", "pp", 0xdead_beefu64, -3i32);
        crate::printf!("{x:>4}|{:?}|{pid}\n", "dbg");
        crate::printf!("{}{}\n", x, String::from("s"),);
        crate::output::flush();
        let sent = crate::host::imp::take();
        assert_eq!(sent, [crate::host::imp::Sent::Printf("pp, 0xdeadbeef, -3\n   7|\"dbg\"|4242\n7s\n".into())]);
    }
}
