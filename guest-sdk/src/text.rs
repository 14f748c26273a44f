//! [`ShortStr`]: a small inline string, so that `execname()` and `returnstr()` can hand out
//! text without allocating per event.

use core::fmt;
use core::ops::Deref;

/// Capacity of a [`ShortStr`] in bytes. Enough for any `returnstr()` (20 digits and the longest
/// errno name) and for a 15-byte command name even if every byte became U+FFFD.
pub const SHORT_STR_CAP: usize = 64;

/// A string of at most [`SHORT_STR_CAP`] bytes, stored inline (`Copy`, no heap).
///
/// Derefs to `&str`, so use it like one: `execname().len()`, `printf!("{}", execname())`,
/// `execname() == "curl"`, `execname().to_string()` to keep it.
#[derive(Clone, Copy)]
pub struct ShortStr {
    len: u8,
    buf: [u8; SHORT_STR_CAP],
}

impl ShortStr {
    pub const fn new() -> Self {
        Self { len: 0, buf: [0; SHORT_STR_CAP] }
    }

    /// Copies `s`, cut at the last character boundary that fits.
    pub fn from_str_truncating(s: &str) -> Self {
        let mut out = Self::new();
        out.push_truncating(s);
        out
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: only whole UTF-8 characters are ever copied in (see `push_truncating`).
        unsafe { core::str::from_utf8_unchecked(&self.buf[..self.len as usize]) }
    }

    fn push_truncating(&mut self, s: &str) {
        let room = SHORT_STR_CAP - self.len as usize;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        let start = self.len as usize;
        self.buf[start..start + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n as u8;
    }
}

impl Default for ShortStr {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for ShortStr {
    /// Never fails: text past the capacity is dropped, which cannot happen for the values the
    /// SDK stores (see [`SHORT_STR_CAP`]).
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_truncating(s);
        Ok(())
    }
}

impl Deref for ShortStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ShortStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` so that width and alignment (`{:>16}`) work as for `str`.
        f.pad(self.as_str())
    }
}

impl fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for ShortStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for ShortStr {}

impl PartialEq<str> for ShortStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ShortStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl core::hash::Hash for ShortStr {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl From<ShortStr> for String {
    fn from(s: ShortStr) -> String {
        s.as_str().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn truncates_on_a_char_boundary() {
        let long = "é".repeat(40); // 80 bytes
        let s = ShortStr::from_str_truncating(&long);
        assert_eq!(s.len(), 64);
        assert_eq!(s.as_str(), &long[..64]);

        let mut s = ShortStr::from_str_truncating(&"a".repeat(63));
        s.write_str("é").unwrap(); // 2 bytes, 1 left: dropped whole
        assert_eq!(s.len(), 63);
    }

    #[test]
    fn behaves_like_str() {
        let s = ShortStr::from_str_truncating("curl");
        assert_eq!(s, "curl");
        assert_eq!(format!("[{s:>6}]"), "[  curl]");
        assert_eq!(format!("{s:?}"), "\"curl\"");
        assert!(s.starts_with("cu"));
    }
}
