//! `printf!`'s formatter for the common case: `{}` and `{:x}`/`{:#x}`/`{:X}`/`{:#X}` of
//! integers and strings, which is nearly every tracing line.
//!
//! `core::fmt` goes through a `Formatter`, a `dyn Write` and padding logic for every piece,
//! which inside the guest cost two thirds of a typical handler's time. This writes digits
//! straight into the output buffer instead. Anything else (a width, `{:?}`, a named
//! argument, `{:x}` of a type that is not an integer) is left to `core::fmt`, decided before
//! anything is written; the property tests check the output is byte for byte `format!`'s.
//!
//! In the guest, what costs is what wasmtime turns into calls out of the sandbox: a
//! `memory.copy` whose length is not a compile-time constant (every `push_str`, every
//! `copy_from_slice` of digits) is one. So the format string is parsed at compile time, the
//! formatting is unrolled over its directives (literal text becomes fixed-size stores), the
//! line's length is bounded and reserved once, digits are written in place, and strings are
//! copied with word loads and stores.
//!
//! `printf!` turns each argument into an [`Arg`] by method resolution on references
//! (integers first, then any `Display`, then nothing), so that every type `format!` accepts
//! still compiles.

use core::fmt::{Display, Write};
use wprobe_common::digits::{DEC_PAIRS as PAIRS, HEX_LOWER, HEX_UPPER};

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

/// A directive the fast formatter handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `{}`
    Display,
    /// `{:x}`, `{:#x}`, `{:X}`, `{:#X}`
    Hex { alternate: bool, upper: bool },
}

/// A literal format string with `N` directives, parsed when the handler is compiled
/// ([`printf_spec!`](crate::__printf_spec) makes it a `const`): formatting an event neither
/// scans the string nor looks its directives up. [`write`] is unrolled over the directives,
/// so each argument's code is specialized on its directive and type, and literal text is
/// copied with fixed-size stores.
#[derive(Debug)]
pub struct Spec<const N: usize> {
    /// The literal text before each directive, escaped braces already collapsed.
    texts: [&'static [u8]; N],
    kinds: [Kind; N],
    tail: &'static [u8],
    /// Bytes of literal text in all.
    text_len: usize,
    /// False when a directive needs `core::fmt` (a width, `{:?}`, a named argument, …).
    fast: bool,
}

/// One step through a format string.
#[derive(Clone, Copy)]
enum Token {
    /// Literal bytes `start..end` of the format string.
    Text(usize, usize),
    /// A directive; None when only `core::fmt` handles it.
    Directive(Option<Kind>),
}

/// The token of `b` at `i` and where the next starts; None at the end.
const fn token(b: &[u8], i: usize) -> Option<(Token, usize)> {
    if i >= b.len() {
        return None;
    }
    let escaped = i + 1 < b.len() && b[i + 1] == b[i];
    Some(match b[i] {
        b'{' | b'}' if escaped => (Token::Text(i, i + 1), i + 2),
        b'{' => {
            let mut close = i + 1;
            while close < b.len() && b[close] != b'}' {
                close += 1;
            }
            // Unterminated: a compile error for `format_args!`, which sees it too.
            if close == b.len() {
                return Some((Token::Directive(None), close));
            }
            (Token::Directive(directive(sub(b, i + 1, close))), close + 1)
        }
        // A lone `}`: a compile error too.
        b'}' => (Token::Directive(None), i + 1),
        _ => {
            let mut end = i + 1;
            while end < b.len() && b[end] != b'{' && b[end] != b'}' {
                end += 1;
            }
            (Token::Text(i, end), end)
        }
    })
}

const fn directive(spec: &[u8]) -> Option<Kind> {
    let (alternate, upper) = match spec {
        b"" => return Some(Kind::Display),
        b":x" => (false, false),
        b":#x" => (true, false),
        b":X" => (false, true),
        b":#X" => (true, true),
        _ => return None,
    };
    Some(Kind::Hex { alternate, upper })
}

const fn sub(b: &[u8], start: usize, end: usize) -> &[u8] {
    b.split_at(end).0.split_at(start).1
}

/// How many directives `fmt` has: the `N` of its [`Spec`].
pub const fn directives(fmt: &str) -> usize {
    let (b, mut at, mut n) = (fmt.as_bytes(), 0, 0);
    while let Some((t, next)) = token(b, at) {
        if let Token::Directive(_) = t {
            n += 1;
        }
        at = next;
    }
    n
}

/// How many bytes of literal text `fmt` has: the `L` of [`text`].
pub const fn text_len(fmt: &str) -> usize {
    let (b, mut at, mut n) = (fmt.as_bytes(), 0, 0);
    while let Some((t, next)) = token(b, at) {
        if let Token::Text(start, end) = t {
            n += end - start;
        }
        at = next;
    }
    n
}

/// The literal text of `fmt`, without its directives and with escaped braces collapsed:
/// what [`Spec::parse`] slices.
pub const fn text<const L: usize>(fmt: &str) -> [u8; L] {
    let (b, mut at, mut n) = (fmt.as_bytes(), 0, 0);
    let mut out = [0u8; L];
    while let Some((t, next)) = token(b, at) {
        if let Token::Text(mut i, end) = t {
            while i < end {
                out[n] = b[i];
                (i, n) = (i + 1, n + 1);
            }
        }
        at = next;
    }
    assert!(n == L, "text::<L>(fmt) needs L == text_len(fmt)");
    out
}

impl<const N: usize> Spec<N> {
    /// Parses `fmt`, with `N` = [`directives`]`(fmt)` and `text` = [`text`]`(fmt)`.
    pub const fn parse(fmt: &str, text: &'static [u8]) -> Self {
        let b = fmt.as_bytes();
        let mut texts: [&'static [u8]; N] = [b""; N];
        let mut kinds = [Kind::Display; N];
        let (mut at, mut n, mut pos, mut from, mut fast) = (0, 0, 0, 0, true);
        while let Some((t, next)) = token(b, at) {
            match t {
                Token::Text(start, end) => pos += end - start,
                Token::Directive(kind) => {
                    texts[n] = sub(text, from, pos);
                    match kind {
                        Some(k) => kinds[n] = k,
                        None => fast = false,
                    }
                    (n, from) = (n + 1, pos);
                }
            }
            at = next;
        }
        assert!(
            n == N && pos == text.len(),
            "Spec::<N>::parse(fmt, text) needs N == directives(fmt), text == text(fmt)"
        );
        Spec { texts, kinds, tail: sub(text, from, pos), text_len: pos, fast }
    }
}

/// The parsed [`Spec`] of a literal format string, as a `&'static` computed at compile time.
#[doc(hidden)]
#[macro_export]
macro_rules! __printf_spec {
    ($fmt:literal) => {{
        const __WPROBE_TEXT_LEN: usize = $crate::__private::fastfmt::text_len($fmt);
        const __WPROBE_TEXT: [u8; __WPROBE_TEXT_LEN] = $crate::__private::fastfmt::text($fmt);
        const __WPROBE_DIRECTIVES: usize = $crate::__private::fastfmt::directives($fmt);
        const __WPROBE_SPEC: $crate::__private::fastfmt::Spec<__WPROBE_DIRECTIVES> =
            $crate::__private::fastfmt::Spec::parse($fmt, &__WPROBE_TEXT);
        &__WPROBE_SPEC
    }};
}

/// Runs `$body` with `$i` = 0, 1, … `$n` - 1, written out for the first 16 so that each
/// copy sees a constant `$i` (LLVM would not unroll a loop this large by itself).
macro_rules! unrolled {
    ($n:expr, |$i:ident| $body:block) => {{
        unrolled!(@ $n, $i, $body, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        let mut $i = 16;
        while $i < $n {
            $body
            $i += 1;
        }
    }};
    (@ $n:expr, $i:ident, $body:block, $($k:literal)*) => {
        $(if $k < $n {
            let $i: usize = $k;
            $body
        })*
    };
}

/// Appends `spec` with `args` to `out`, as `format!` would; false (and `out` unchanged)
/// when the format string or an argument needs `core::fmt`.
#[inline(always)]
pub fn write<const N: usize>(out: &mut String, spec: &Spec<N>, args: &[Arg<'_>]) -> bool {
    // Everything that can decline is decided before anything is written. For `printf!` the
    // kinds of the arguments are known at compile time, so these checks fold away.
    if !spec.fast || args.len() != N {
        return false;
    }
    let mut need = spec.text_len;
    unrolled!(N, |i| {
        need = need.saturating_add(match (args[i], spec.kinds[i]) {
            (Arg::Unsigned(_) | Arg::Signed(..), _) => MAX_INTEGER,
            (Arg::Str(s), Kind::Display) => s.len(),
            (Arg::Display(_), Kind::Display) => 0,
            _ => return false,
        });
    });

    let start = out.len();
    // SAFETY: `need` bytes are reserved before raw writing starts, and again after each
    // `core::fmt` argument (which writes through the String itself); every write below
    // stays within them (see MAX_INTEGER), and only ASCII digits or whole `str`s are
    // written, so the String stays UTF-8 when its length is set.
    unsafe {
        let v = out.as_mut_vec();
        v.reserve(need);
        let mut p = v.as_mut_ptr().add(v.len());
        unrolled!(N, |i| {
            p = put(p, spec.texts[i]);
            p = match (args[i], spec.kinds[i]) {
                (Arg::Unsigned(x), Kind::Display) => decimal(p, x),
                (Arg::Signed(x, _), Kind::Display) => {
                    if x < 0 {
                        *p = b'-';
                        p = p.add(1);
                    }
                    decimal(p, x.unsigned_abs())
                }
                (Arg::Unsigned(x), Kind::Hex { alternate, upper }) => hex(p, x, alternate, upper),
                (Arg::Signed(x, bits), Kind::Hex { alternate, upper }) => {
                    // Two's complement at the type's width, as `core::fmt` prints it.
                    hex(p, (x as u64) & (u64::MAX >> (64 - bits)), alternate, upper)
                }
                (Arg::Str(s), _) => put(p, s.as_bytes()),
                (Arg::Display(d), _) => {
                    let v = out.as_mut_vec();
                    v.set_len(p.offset_from(v.as_ptr()) as usize);
                    // Still `core::fmt`, but for this argument only.
                    if write!(out, "{d}").is_err() {
                        out.truncate(start);
                        return false;
                    }
                    let v = out.as_mut_vec();
                    v.reserve(need);
                    v.as_mut_ptr().add(v.len())
                }
                // Declined by the first pass; kept safe all the same.
                _ => {
                    out.truncate(start);
                    return false;
                }
            };
        });
        p = put(p, spec.tail);
        let v = out.as_mut_vec();
        v.set_len(p.offset_from(v.as_ptr()) as usize);
    }
    true
}

/// The longest integer: `-` and 19 digits (`i64::MIN`), 20 digits (`u64::MAX`), or `0x` and
/// 16 hex digits.
const MAX_INTEGER: usize = 20;

/// Copies `s` to `p`; returns the end. Strings up to 64 bytes (nearly every piece of text
/// and most `%s` arguments) are copied with at most eight word loads and stores: a
/// `memory.copy` of a length not known at compile time is a call out of the sandbox in
/// wasmtime, which costs more than the copy.
#[inline(always)]
unsafe fn put(p: *mut u8, s: &[u8]) -> *mut u8 {
    let (src, n) = (s.as_ptr(), s.len());
    // SAFETY (all): the caller reserved `n` bytes at `p`; the two halves of each pair of
    // copies overlap instead of running past `n`.
    unsafe {
        if n > 64 {
            core::ptr::copy_nonoverlapping(src, p, n);
        } else if n >= 32 {
            copy32(src, p);
            copy32(src.add(n - 32), p.add(n - 32));
        } else if n >= 16 {
            copy16(src, p);
            copy16(src.add(n - 16), p.add(n - 16));
        } else if n >= 8 {
            copy_word::<u64>(src, p);
            copy_word::<u64>(src.add(n - 8), p.add(n - 8));
        } else if n >= 4 {
            copy_word::<u32>(src, p);
            copy_word::<u32>(src.add(n - 4), p.add(n - 4));
        } else if n > 0 {
            *p = *src;
            *p.add(n / 2) = *src.add(n / 2);
            *p.add(n - 1) = *src.add(n - 1);
        }
        p.add(n)
    }
}

#[inline(always)]
unsafe fn copy_word<T: Copy>(src: *const u8, dst: *mut u8) {
    // SAFETY: the caller's.
    unsafe { dst.cast::<T>().write_unaligned(src.cast::<T>().read_unaligned()) }
}

#[inline(always)]
unsafe fn copy16(src: *const u8, dst: *mut u8) {
    // SAFETY: the caller's.
    unsafe {
        copy_word::<u64>(src, dst);
        copy_word::<u64>(src.add(8), dst.add(8));
    }
}

#[inline(always)]
unsafe fn copy32(src: *const u8, dst: *mut u8) {
    // SAFETY: the caller's.
    unsafe {
        copy16(src, dst);
        copy16(src.add(16), dst.add(16));
    }
}

/// Powers of ten for [`decimal32`]'s digit count; 0 first, so that 0 has one digit.
const POW10: [u32; 10] = [0, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

/// Writes `v` in decimal at `p`; returns the end.
#[inline(always)]
unsafe fn decimal(p: *mut u8, v: u64) -> *mut u8 {
    // SAFETY: the caller reserved MAX_INTEGER bytes.
    unsafe {
        match u32::try_from(v) {
            // Pids, CPUs, sizes, counters: 32-bit arithmetic, no 64-bit division.
            Ok(v) => decimal32(p, v),
            Err(_) => decimal64(p, v),
        }
    }
}

#[inline(always)]
unsafe fn pair(p: *mut u8, two_digits: u32) {
    // SAFETY: the caller reserved 2 bytes; two_digits < 100.
    unsafe { copy_word::<u16>(PAIRS.as_ptr().add(2 * two_digits as usize), p) }
}

#[inline(always)]
unsafe fn decimal32(p: *mut u8, mut v: u32) -> *mut u8 {
    // The digit count first (log2 → log10 with a correction), so that digits go straight to
    // their place, two per step, instead of through a scratch buffer.
    let t = ((32 - (v | 1).leading_zeros()) * 1233) >> 12;
    let len = t as usize + usize::from(v >= POW10[t as usize]);
    // SAFETY: the caller reserved MAX_INTEGER ≥ len bytes.
    unsafe {
        let end = p.add(len);
        let mut q = end;
        while v >= 100 {
            // v / 100 for any u32 as a multiply and shift: wasm has no multiply-high, so
            // the compiler would leave a division.
            let hi = ((u64::from(v) * 1_374_389_535) >> 37) as u32;
            q = q.sub(2);
            pair(q, v - hi * 100);
            v = hi;
        }
        if v >= 10 {
            pair(q.sub(2), v);
        } else {
            *q.sub(1) = b'0' + v as u8;
        }
        end
    }
}

/// Above `u32::MAX`: a head of up to ten digits, then groups of exactly eight.
#[cold]
unsafe fn decimal64(p: *mut u8, v: u64) -> *mut u8 {
    const E8: u64 = 100_000_000;
    let (rest, low) = (v / E8, (v % E8) as u32);
    // SAFETY: the caller reserved MAX_INTEGER bytes, and u64::MAX has 20 digits.
    unsafe {
        let p = match u32::try_from(rest) {
            Ok(head) => decimal32(p, head),
            Err(_) => eight(decimal32(p, (rest / E8) as u32), (rest % E8) as u32),
        };
        eight(p, low)
    }
}

/// Exactly eight digits of `v` < 10⁸, leading zeros included.
#[inline(always)]
unsafe fn eight(p: *mut u8, v: u32) -> *mut u8 {
    let (hi, lo) = (v / 10_000, v % 10_000);
    // SAFETY: the caller reserved 8 bytes.
    unsafe {
        pair(p, hi / 100);
        pair(p.add(2), hi % 100);
        pair(p.add(4), lo / 100);
        pair(p.add(6), lo % 100);
        p.add(8)
    }
}

/// Writes `v` in hex at `p` (`0x` first when `alternate`: lower case for `{:#X}` too, as
/// `core::fmt` does); returns the end.
#[inline(always)]
unsafe fn hex(mut p: *mut u8, mut v: u64, alternate: bool, upper: bool) -> *mut u8 {
    let table = if upper { &HEX_UPPER } else { &HEX_LOWER };
    let len = (64 - (v | 1).leading_zeros() as usize).div_ceil(4);
    // SAFETY: the caller reserved MAX_INTEGER ≥ 2 + 16 bytes.
    unsafe {
        if alternate {
            copy_word::<u16>(b"0x".as_ptr(), p);
            p = p.add(2);
        }
        let end = p.add(len);
        let mut q = end;
        for _ in 0..len / 2 {
            q = q.sub(2);
            copy_word::<u16>(table.as_ptr().add(2 * (v & 0xff) as usize), q);
            v >>= 8;
        }
        if len % 2 == 1 {
            *q.sub(1) = table[2 * (v & 0xf) as usize + 1];
        }
        end
    }
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
            let ok = write(&mut out, crate::__printf_spec!($fmt), &[$((&&&Wrap(&$arg)).wp_arg()),*]);
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
            same!("é{}€{{{:x}}}😀 {}", s, n, t);
            // Past the 16 directives written out one by one: the rest in a loop.
            same!("{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{} 17:{:#x} 18:{} 19:{}.", n, s, t, n, s, t, n, s, t, n, s, t, n, s, t, n, n, s, t);
        }

        #[test]
        fn other_display_types_match_core_fmt(c in any::<char>(), b in any::<bool>(), x in any::<f64>(), s in ".{0,80}") {
            same!("{} {} {}", c, b, x);
            // Raw writing resumes after each `core::fmt` argument.
            same!("{}{}{:#x}{}{}|{}", s, c, u64::MAX, s, x, s);
        }

        #[test]
        fn integers_near_the_digit_count_boundaries_match_core_fmt(p in 0u32..20, d in -2i64..=2) {
            let v = 10u64.pow(p).wrapping_add_signed(d);
            same!("{} {:x} {:#X}", v, v, v);
            same!("{} {}", v as u32, v as i64);
            let w = (1u64 << (p * 3)).wrapping_add_signed(d);
            same!("{} {:#x} {}", w, w, w as i64);
        }
    }

    /// Every length of the short-string copies, in arguments and in literal text.
    #[test]
    fn strings_of_every_length_match_core_fmt() {
        let text: String =
            ('a'..='z').chain('A'..='Z').chain('0'..='9').chain("é€😀".chars()).cycle().take(140).collect();
        for end in 0..text.len() {
            if let Some(s) = text.get(..end) {
                let (ok, out) = fast!("{}|{}", s, s.len());
                assert!(ok);
                assert_eq!(out, format!("kept|{s}|{}", s.len()));
            }
        }
        let (ok, out) = fast!("1{}22{}333{}4444{}55555{}666666{}7777777{}88888888{}999999999{}0123456789abcdef{}0123456789abcdef0123456789abcdef{}0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0{}", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
        assert!(ok);
        assert_eq!(out, format!("kept|1{}22{}333{}4444{}55555{}666666{}7777777{}88888888{}999999999{}0123456789abcdef{}0123456789abcdef0123456789abcdef{}0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0{}", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
    }

    #[test]
    fn integer_extremes_match_core_fmt() {
        for v in
            [0, 9, 10, 99, 100, u64::from(u32::MAX), 1 << 32, 99_999_999_999_999_999, 10_000_000_000_000_000, u64::MAX]
        {
            assert_eq!(fast!("{} {:x} {:#X}", v, v, v), (true, format!("kept|{v} {v:x} {v:#X}")));
        }
        for v in [i64::MIN, i64::MIN + 1, -1, i64::MAX] {
            assert_eq!(fast!("{} {:x}", v, v), (true, format!("kept|{v} {v:x}")));
        }
        // Both digit counts' boundaries: every power of two and of ten, and their neighbours.
        let edges = (0..64).map(|k| 1u64 << k).chain((0..20).map(|p| 10u64.pow(p)));
        for v in edges.flat_map(|v| [v - 1, v, v + 1]) {
            assert_eq!(fast!("{},{:x}", v, v), (true, format!("kept|{v},{v:x}")));
            assert_eq!(fast!("{},{:x}", v as u32, v as u32), (true, format!("kept|{},{:x}", v as u32, v as u32)));
        }
        assert_eq!(fast!("{} {:#x}", i8::MIN, i8::MIN), (true, "kept|-128 0x80".to_string()));
        assert_eq!(fast!("{:X}", i32::MIN), (true, "kept|80000000".to_string()));
    }

    #[test]
    fn format_strings_parse_into_pieces() {
        let s = crate::__printf_spec!("a{{b}}c{}d{:#X}e");
        assert_eq!((directives("a{{b}}c{}d{:#X}e"), text_len("a{{b}}c{}d{:#X}e")), (2, 7));
        assert_eq!(
            (s.texts, s.kinds, s.tail),
            ([&b"a{b}c"[..], b"d"], [Kind::Display, Kind::Hex { alternate: true, upper: true }], &b"e"[..])
        );
        assert_eq!((s.text_len, s.fast), (7, true));
        assert!(!crate::__printf_spec!("{} {:08x}").fast);
        assert!(!crate::__printf_spec!("{x}").fast);
        let s = crate::__printf_spec!("no directive");
        assert_eq!((s.texts.len(), s.tail), (0, &b"no directive"[..]));
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
        // A Display impl that fails: declined, the buffer as it was; the slow path then
        // writes what `core::fmt` writes.
        struct Fails;
        impl Display for Fails {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("partial")?;
                Err(core::fmt::Error)
            }
        }
        assert_eq!(fast!("{} {}", 1u32, Fails), (false, "kept|".to_string()));
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
