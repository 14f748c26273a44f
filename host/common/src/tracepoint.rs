//! Tracepoint fields: what a tracepoint's `format` file in tracefs declares, and how to read
//! those fields out of a raw tracepoint record (the bytes a BPF tracepoint program sees at
//! its context, starting with `common_type`).
//!
//! The host parses the `format` file ([`parse_field_line`]), sends the guest the fields as
//! one compact byte table ([`encode_table`], read back with [`FieldTable`]), and both sides
//! decode a record with the same functions ([`field_int`], [`field_str`], [`field_bytes`]),
//! so `field("pid")` gives the same answer whether the host or the guest SDK answered it.
//!
//! Everything here borrows: no allocation, so it builds for `bpfel-unknown-none` and wasm32
//! guests without `alloc`. Decoding never panics on a short or corrupt record; it returns a
//! [`FieldError`] instead.
//!
//! ```
//! use wprobe_common::tracepoint::{field_int, field_str, parse_field_line, FieldInt};
//!
//! let pid = parse_field_line("\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;").unwrap().field;
//! let name = parse_field_line("\tfield:char comm[16];\toffset:16;\tsize:16;\tsigned:0;").unwrap().field;
//! let mut raw = [0u8; 32];
//! raw[12..16].copy_from_slice(&(-7i32).to_le_bytes());
//! raw[16..21].copy_from_slice(b"bash\0");
//! assert_eq!(field_int(&raw, &pid), Ok(FieldInt::Signed(-7)));
//! assert_eq!(field_str(&raw, &name), Ok(&b"bash"[..]));
//! ```

use core::fmt;

/// How a field's bytes are to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// An integer of 1, 2, 4 or 8 bytes (pointers included), little-endian, signed as the
    /// format's `signed:` says.
    Int { signed: bool },
    /// `char NAME[N]`: a string of at most N bytes, ending at the first NUL.
    Chars,
    /// `__data_loc T[] NAME` (or `__rel_loc`): a 4-byte locator of bytes stored after the
    /// fixed fields. The low 16 bits are the offset, the high 16 bits the length (for a
    /// string, including its NUL). `__data_loc` offsets count from the start of the record,
    /// `__rel_loc` offsets (`relative`) from the end of the locator itself. `string` when T
    /// is `char`.
    DataLoc { string: bool, relative: bool },
    /// Anything else: arrays of other types (`__u8 saddr[28]`, `unsigned long args[6]`),
    /// flexible arrays (`[]`, size 0), values of other sizes.
    Bytes,
}

impl FieldKind {
    /// Whether [`field_str`] reads this kind.
    pub const fn is_string(self) -> bool {
        matches!(self, FieldKind::Chars | FieldKind::DataLoc { string: true, .. })
    }

    /// One byte for [`encode_table`] and the events file.
    pub const fn to_u8(self) -> u8 {
        match self {
            FieldKind::Int { signed: false } => 0,
            FieldKind::Int { signed: true } => 1,
            FieldKind::Chars => 2,
            FieldKind::DataLoc { string: true, relative: false } => 3,
            FieldKind::DataLoc { string: false, relative: false } => 4,
            FieldKind::DataLoc { string: true, relative: true } => 5,
            FieldKind::DataLoc { string: false, relative: true } => 6,
            FieldKind::Bytes => 7,
        }
    }

    pub const fn from_u8(v: u8) -> Option<FieldKind> {
        Some(match v {
            0 => FieldKind::Int { signed: false },
            1 => FieldKind::Int { signed: true },
            2 => FieldKind::Chars,
            3 => FieldKind::DataLoc { string: true, relative: false },
            4 => FieldKind::DataLoc { string: false, relative: false },
            5 => FieldKind::DataLoc { string: true, relative: true },
            6 => FieldKind::DataLoc { string: false, relative: true },
            7 => FieldKind::Bytes,
            _ => return None,
        })
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldKind::Int { signed: true } => "signed integer",
            FieldKind::Int { signed: false } => "unsigned integer",
            FieldKind::Chars => "char array",
            FieldKind::DataLoc { string: true, .. } => "dynamic string",
            FieldKind::DataLoc { string: false, .. } => "dynamic array",
            FieldKind::Bytes => "byte array",
        })
    }
}

/// One field of a tracepoint record. Offsets count from the start of the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Field<'a> {
    pub name: &'a str,
    pub offset: u16,
    pub size: u16,
    pub kind: FieldKind,
}

/// An integer field's value, signed as its format says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldInt {
    Signed(i64),
    Unsigned(u64),
}

impl FieldInt {
    /// The value as an `i64`; an unsigned value above `i64::MAX` wraps.
    pub const fn as_i64(self) -> i64 {
        match self {
            FieldInt::Signed(v) => v,
            FieldInt::Unsigned(v) => v as i64,
        }
    }

    /// The value as a `u64`; a negative value is its two's complement (sign-extended).
    pub const fn as_u64(self) -> u64 {
        match self {
            FieldInt::Signed(v) => v as u64,
            FieldInt::Unsigned(v) => v,
        }
    }
}

impl fmt::Display for FieldInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldInt::Signed(v) => v.fmt(f),
            FieldInt::Unsigned(v) => v.fmt(f),
        }
    }
}

/// Why a field could not be read from a record. The caller knows the field's name and adds
/// it; these say what is wrong with the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// The record ends before the field does (a truncated or corrupt record, or a field
    /// table that belongs to another tracepoint).
    Truncated { offset: u16, size: u16, record_len: usize },
    /// A `__data_loc` locator points outside the record.
    BadDataLoc { start: usize, len: usize, record_len: usize },
    /// [`field_int`] on a field that is not a 1, 2, 4 or 8-byte integer.
    NotAnInteger { kind: FieldKind, size: u16 },
    /// [`field_str`] on a field that is not a `char` array or a `__data_loc char[]`.
    NotAString { kind: FieldKind },
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FieldError::Truncated { offset, size, record_len } => write!(
                f,
                "the record is {record_len} bytes, too short for the field's {size} bytes at offset {offset} \
                 (a truncated record, or a field table of another tracepoint)"
            ),
            FieldError::BadDataLoc { start, len, record_len } => write!(
                f,
                "the field's data location ({len} bytes at offset {start}) lies outside the {record_len}-byte \
                 record (a corrupt or truncated record)"
            ),
            FieldError::NotAnInteger { kind, size } => {
                write!(f, "the field is a {kind} of {size} bytes, not an integer; read it as a string or as bytes")
            }
            FieldError::NotAString { kind } => {
                write!(f, "the field is a {kind}, not a string; read it as an integer or as bytes")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FieldError {}

/// The bytes of `field` in `raw`, for every kind: an integer's own bytes, a whole `char`
/// array (NULs included), the region a `__data_loc` points to (a string's NUL included).
pub fn field_bytes<'r>(raw: &'r [u8], field: &Field<'_>) -> Result<&'r [u8], FieldError> {
    let start = field.offset as usize;
    let fixed = raw.get(start..start + field.size as usize).ok_or(FieldError::Truncated {
        offset: field.offset,
        size: field.size,
        record_len: raw.len(),
    })?;
    let FieldKind::DataLoc { relative, .. } = field.kind else {
        return Ok(fixed);
    };
    // A locator is 4 bytes; a hand-made Field claiming otherwise must not be trusted.
    let loc: [u8; 4] =
        fixed.try_into().map_err(|_| FieldError::Truncated { offset: field.offset, size: 4, record_len: raw.len() })?;
    let loc = u32::from_le_bytes(loc);
    let (mut begin, len) = ((loc & 0xffff) as usize, (loc >> 16) as usize);
    if relative {
        begin += start + 4;
    }
    raw.get(begin..begin + len).ok_or(FieldError::BadDataLoc { start: begin, len, record_len: raw.len() })
}

/// A string field: a `char` array or a `__data_loc char[]`, up to its first NUL (all of it
/// when it has none). The bytes are as the kernel wrote them, not necessarily UTF-8.
pub fn field_str<'r>(raw: &'r [u8], field: &Field<'_>) -> Result<&'r [u8], FieldError> {
    if !field.kind.is_string() {
        return Err(FieldError::NotAString { kind: field.kind });
    }
    let bytes = field_bytes(raw, field)?;
    Ok(match bytes.iter().position(|&b| b == 0) {
        Some(nul) => &bytes[..nul],
        None => bytes,
    })
}

/// An integer field, sign-extended when the format says it is signed.
pub fn field_int(raw: &[u8], field: &Field<'_>) -> Result<FieldInt, FieldError> {
    let FieldKind::Int { signed } = field.kind else {
        return Err(FieldError::NotAnInteger { kind: field.kind, size: field.size });
    };
    let bytes = field_bytes(raw, field)?;
    let mut le = [0u8; 8];
    let n = bytes.len();
    if !matches!(n, 1 | 2 | 4 | 8) {
        return Err(FieldError::NotAnInteger { kind: field.kind, size: field.size });
    }
    le[..n].copy_from_slice(bytes);
    let v = u64::from_le_bytes(le);
    Ok(if signed {
        // Shift the sign bit to the top and back: an arithmetic shift extends it.
        let unused = 64 - 8 * n as u32;
        FieldInt::Signed(((v << unused) as i64) >> unused)
    } else {
        FieldInt::Unsigned(v)
    })
}

/// A field line of a `format` file, as parsed by [`parse_field_line`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDecl<'a> {
    pub field: Field<'a>,
    /// The C type as declared, without the name or an array suffix: `const char *`,
    /// `__data_loc char[]`, `char` for `char comm[16]`.
    pub c_type: &'a str,
    /// The array suffix after the name, if any: `[16]`, `[]`.
    pub array: Option<&'a str>,
}

/// Why a `format` line is not a field declaration wprobe understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// The line does not start with `field:`.
    NotAField,
    /// `offset:` or `size:` is missing.
    MissingKey(&'static str),
    /// A value is not a decimal number that fits (offsets and sizes are below 65536).
    BadNumber(&'static str),
    /// The declaration has no `TYPE NAME`.
    NoName,
    /// A `__data_loc`/`__rel_loc` locator whose size is not 4.
    LocatorSize(u16),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::NotAField => {
                f.write_str("not a field line (expected `field:TYPE NAME; offset:N; size:N; signed:N;`)")
            }
            FormatError::MissingKey(k) => write!(f, "the field has no `{k}:`"),
            FormatError::BadNumber(k) => write!(f, "`{k}:` is not a number below 65536"),
            FormatError::NoName => f.write_str("the declaration has no `TYPE NAME`"),
            FormatError::LocatorSize(s) => write!(f, "a __data_loc/__rel_loc locator is 4 bytes, this one says {s}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FormatError {}

/// Parses one field line of a tracefs `format` file:
/// `\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;`.
///
/// The kind follows from the declaration and `size:`; `signed:` (absent on very old kernels)
/// defaults to unsigned. Integers keep the format's `size:` even where it differs from the C
/// type: a syscall tracepoint's `int flags` is 8 bytes wide, the whole register.
pub fn parse_field_line(line: &str) -> Result<FieldDecl<'_>, FormatError> {
    let rest = line.trim_start().strip_prefix("field:").ok_or(FormatError::NotAField)?;
    let mut parts = rest.split(';');
    let decl = parts.next().unwrap_or("").trim();
    let (mut offset, mut size, mut signed) = (None, None, false);
    for part in parts {
        let Some((key, value)) = part.split_once(':') else { continue };
        let value = value.trim();
        match key.trim() {
            "offset" => offset = Some(value.parse::<u16>().map_err(|_| FormatError::BadNumber("offset"))?),
            "size" => size = Some(value.parse::<u16>().map_err(|_| FormatError::BadNumber("size"))?),
            "signed" => signed = value.parse::<u8>().map_err(|_| FormatError::BadNumber("signed"))? != 0,
            _ => {}
        }
    }
    let offset = offset.ok_or(FormatError::MissingKey("offset"))?;
    let size = size.ok_or(FormatError::MissingKey("size"))?;

    // An array suffix follows the name (`char comm[16]`); `__data_loc char[] name` has its
    // brackets before the name, so the declaration does not end with `]`.
    let (before_array, array) = match decl.strip_suffix(']').and_then(|_| decl.rfind('[')) {
        Some(open) => (&decl[..open], Some(&decl[open..])),
        None => (decl, None),
    };
    let name_start = before_array.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    let name = &before_array[name_start..];
    let c_type = before_array[..name_start].trim();
    if name.is_empty() || c_type.is_empty() {
        return Err(FormatError::NoName);
    }

    let loc = c_type
        .strip_prefix("__data_loc")
        .map(|t| (t, false))
        .or_else(|| c_type.strip_prefix("__rel_loc").map(|t| (t, true)));
    let kind = if let Some((elem, relative)) = loc {
        if size != 4 {
            return Err(FormatError::LocatorSize(size));
        }
        let elem = elem.trim();
        let elem = elem.strip_suffix("[]").unwrap_or(elem).trim();
        FieldKind::DataLoc { string: is_char(elem), relative }
    } else if array.is_some() {
        if is_char(c_type) && size > 0 {
            FieldKind::Chars
        } else {
            FieldKind::Bytes
        }
    } else if matches!(size, 1 | 2 | 4 | 8) {
        FieldKind::Int { signed }
    } else {
        FieldKind::Bytes
    };
    Ok(FieldDecl { field: Field { name, offset, size, kind }, c_type, array })
}

/// `char` as the kernel spells text; `unsigned char`/`u8` arrays are bytes (MAC addresses).
fn is_char(t: &str) -> bool {
    matches!(t, "char" | "const char" | "signed char")
}

/// Version byte of the [`encode_table`] layout.
pub const TABLE_VERSION: u8 = 1;
const TABLE_HEADER: usize = 4;
const ENTRY_HEADER: usize = 6;

/// A field table as [`encode_table`] wrote it: how the host hands a tracepoint's fields to a
/// guest. Validated once by [`FieldTable::parse`], so reading it cannot fail.
///
/// Layout, little-endian: `u8 version (1), u8 0, u16 count`, then per field
/// `u16 offset, u16 size, u8 kind, u8 name length, name (UTF-8)`.
#[derive(Clone, Copy, Debug)]
pub struct FieldTable<'a> {
    entries: &'a [u8],
    count: u16,
}

/// Why a field table could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// The bytes end inside the header or an entry.
    TooShort,
    /// A table of another layout version.
    Version(u8),
    /// An unknown kind byte.
    BadKind(u8),
    /// A name that is empty or not UTF-8.
    BadName,
    /// Bytes after the last entry.
    TrailingBytes,
    /// Encoding: a name longer than 255 bytes.
    NameTooLong,
    /// Encoding: more than 65535 fields.
    TooManyFields,
    /// Encoding: the output buffer holds fewer bytes than the table needs.
    BufferTooSmall { needed: usize },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableError::TooShort => f.write_str("the field table ends inside an entry (truncated)"),
            TableError::Version(v) => {
                write!(f, "field table version {v}, this build reads version {TABLE_VERSION}: rebuild the handler against the same wprobe")
            }
            TableError::BadKind(k) => write!(f, "field table entry of unknown kind {k}"),
            TableError::BadName => f.write_str("field table entry with an empty or non-UTF-8 name"),
            TableError::TrailingBytes => f.write_str("bytes after the last entry of the field table"),
            TableError::NameTooLong => f.write_str("a field name longer than 255 bytes cannot be encoded"),
            TableError::TooManyFields => f.write_str("more than 65535 fields cannot be encoded"),
            TableError::BufferTooSmall { needed } => write!(f, "the field table needs {needed} bytes"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TableError {}

impl<'a> FieldTable<'a> {
    /// Checks every entry, so that iterating afterwards needs no error handling.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, TableError> {
        let head = bytes.get(..TABLE_HEADER).ok_or(TableError::TooShort)?;
        if head[0] != TABLE_VERSION {
            return Err(TableError::Version(head[0]));
        }
        let count = u16::from_le_bytes([head[2], head[3]]);
        let entries = &bytes[TABLE_HEADER..];
        let mut rest = entries;
        for _ in 0..count {
            let (_, tail) = split_entry(rest)?;
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(TableError::TrailingBytes);
        }
        Ok(Self { entries, count })
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Field<'a>> + 'a {
        let mut rest = self.entries;
        (0..self.count).map_while(move |_| {
            let (field, tail) = split_entry(rest).ok()?;
            rest = tail;
            Some(field)
        })
    }

    /// The field called `name`.
    pub fn get(&self, name: &str) -> Option<Field<'a>> {
        self.iter().find(|f| f.name == name)
    }
}

fn split_entry(bytes: &[u8]) -> Result<(Field<'_>, &[u8]), TableError> {
    let head = bytes.get(..ENTRY_HEADER).ok_or(TableError::TooShort)?;
    let offset = u16::from_le_bytes([head[0], head[1]]);
    let size = u16::from_le_bytes([head[2], head[3]]);
    let kind = FieldKind::from_u8(head[4]).ok_or(TableError::BadKind(head[4]))?;
    let end = ENTRY_HEADER + head[5] as usize;
    let name = bytes.get(ENTRY_HEADER..end).ok_or(TableError::TooShort)?;
    let name = core::str::from_utf8(name).map_err(|_| TableError::BadName)?;
    if name.is_empty() {
        return Err(TableError::BadName);
    }
    Ok((Field { name, offset, size, kind }, &bytes[end..]))
}

/// The bytes [`encode_table`] writes for `fields`.
pub fn encoded_len<'f>(fields: impl IntoIterator<Item = Field<'f>>) -> usize {
    TABLE_HEADER + fields.into_iter().map(|f| ENTRY_HEADER + f.name.len()).sum::<usize>()
}

/// Writes `fields` as a [`FieldTable`] into `out`; the number of bytes written.
pub fn encode_table<'f, I>(fields: I, out: &mut [u8]) -> Result<usize, TableError>
where
    I: IntoIterator<Item = Field<'f>>,
    I::IntoIter: Clone,
{
    let fields = fields.into_iter();
    let needed = encoded_len(fields.clone());
    if out.len() < needed {
        return Err(TableError::BufferTooSmall { needed });
    }
    let count = u16::try_from(fields.clone().count()).map_err(|_| TableError::TooManyFields)?;
    let [lo, hi] = count.to_le_bytes();
    out[..TABLE_HEADER].copy_from_slice(&[TABLE_VERSION, 0, lo, hi]);
    let mut at = TABLE_HEADER;
    for f in fields {
        let len = u8::try_from(f.name.len()).map_err(|_| TableError::NameTooLong)?;
        if len == 0 {
            return Err(TableError::BadName);
        }
        out[at..at + 2].copy_from_slice(&f.offset.to_le_bytes());
        out[at + 2..at + 4].copy_from_slice(&f.size.to_le_bytes());
        out[at + 4] = f.kind.to_u8();
        out[at + 5] = len;
        at += ENTRY_HEADER;
        out[at..at + f.name.len()].copy_from_slice(f.name.as_bytes());
        at += f.name.len();
    }
    Ok(at)
}

/// [`encode_table`] into a new vector.
#[cfg(feature = "std")]
pub fn encode_table_vec<'f, I>(fields: I) -> Result<std::vec::Vec<u8>, TableError>
where
    I: IntoIterator<Item = Field<'f>>,
    I::IntoIter: Clone,
{
    let fields = fields.into_iter();
    let mut out = std::vec![0u8; encoded_len(fields.clone())];
    let n = encode_table(fields, &mut out)?;
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! Formats and records are real: copied from this machine's tracefs (kernel 6.18) and
    //! captured with host/tests/fixtures/tracefs/capture_record.c.
    use super::*;

    macro_rules! fixture {
        ($path:literal) => {
            include_str!(concat!("../../tests/fixtures/tracefs/events/", $path, "/format"))
        };
    }
    macro_rules! record {
        ($name:literal) => {
            include_bytes!(concat!("../../tests/fixtures/tracefs/records/", $name, ".bin"))
        };
    }

    /// Every field of a format file, common ones included.
    fn fields(format: &str) -> impl Iterator<Item = FieldDecl<'_>> + Clone {
        format.lines().filter(|l| l.trim_start().starts_with("field:")).map(|l| parse_field_line(l).unwrap())
    }

    fn field<'a>(format: &'a str, name: &str) -> Field<'a> {
        fields(format).find(|d| d.field.name == name).unwrap_or_else(|| panic!("no field {name}")).field
    }

    fn int(raw: &[u8], format: &str, name: &str) -> FieldInt {
        field_int(raw, &field(format, name)).unwrap()
    }

    fn string<'r>(raw: &'r [u8], format: &str, name: &str) -> &'r [u8] {
        field_str(raw, &field(format, name)).unwrap()
    }

    const EXEC: &str = fixture!("sched/sched_process_exec");
    const FORK: &str = fixture!("sched/sched_process_fork");
    const SWITCH: &str = fixture!("sched/sched_switch");
    const ENTER_OPENAT: &str = fixture!("syscalls/sys_enter_openat");
    const EXIT_OPENAT: &str = fixture!("syscalls/sys_exit_openat");
    const RAW_ENTER: &str = fixture!("raw_syscalls/sys_enter");

    #[test]
    fn declarations_parse_to_kinds_offsets_and_sizes() {
        let decl = |l| parse_field_line(l).unwrap();
        let d = decl("\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;");
        assert_eq!(d.field, Field { name: "common_type", offset: 0, size: 2, kind: FieldKind::Int { signed: false } });
        assert_eq!((d.c_type, d.array), ("unsigned short", None));
        let d = decl("\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;");
        assert_eq!(
            (d.field.name, d.c_type, d.field.kind),
            ("filename", "const char *", FieldKind::Int { signed: false })
        );
        let d = decl("\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;");
        assert_eq!(
            (d.field.name, d.c_type, d.array, d.field.kind),
            ("prev_comm", "char", Some("[16]"), FieldKind::Chars)
        );
        let d = decl("\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;");
        assert_eq!((d.field.name, d.c_type), ("filename", "__data_loc char[]"));
        assert_eq!(d.field.kind, FieldKind::DataLoc { string: true, relative: false });
        let d = decl("\tfield:__data_loc cpumask_t cpumask;\toffset:8;\tsize:4;\tsigned:0;");
        assert_eq!(d.field.kind, FieldKind::DataLoc { string: false, relative: false });
        let d = decl("\tfield:__rel_loc char[] msg;\toffset:12;\tsize:4;\tsigned:0;");
        assert_eq!(d.field.kind, FieldKind::DataLoc { string: true, relative: true });
        let d = decl("\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;");
        assert_eq!((d.c_type, d.field.kind), ("pid_t", FieldKind::Int { signed: true }));
        // A syscall argument is the whole register: the format's size wins over the C type.
        let d = decl("\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;");
        assert_eq!((d.field.size, d.field.kind), (8, FieldKind::Int { signed: false }));
        let d = decl("\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;");
        assert_eq!(
            (d.field.name, d.c_type, d.array, d.field.kind),
            ("args", "unsigned long", Some("[6]"), FieldKind::Bytes)
        );
        let d = decl("\tfield:unsigned char addr[6];\toffset:8;\tsize:6;\tsigned:0;");
        assert_eq!(d.field.kind, FieldKind::Bytes, "unsigned char arrays are bytes, not text");
        let d = decl("\tfield:unsigned long args[];\toffset:24;\tsize:0;\tsigned:0;");
        assert_eq!((d.array, d.field.kind), (Some("[]"), FieldKind::Bytes));
        let d = decl("\tfield:void __seg_gs * ptr;\toffset:8;\tsize:8;\tsigned:0;");
        assert_eq!((d.field.name, d.c_type), ("ptr", "void __seg_gs *"));
        // The header_page spelling has a space after `field:` and no `signed:` is needed.
        let d = decl("\tfield: u64 timestamp;\toffset:0;\tsize:8;");
        assert_eq!((d.field.name, d.field.kind), ("timestamp", FieldKind::Int { signed: false }));
    }

    #[test]
    fn bad_declarations_are_errors() {
        assert_eq!(parse_field_line("print fmt: \"x\""), Err(FormatError::NotAField));
        assert_eq!(parse_field_line("\tfield:int x;\tsize:4;"), Err(FormatError::MissingKey("offset")));
        assert_eq!(parse_field_line("\tfield:int x;\toffset:8;"), Err(FormatError::MissingKey("size")));
        assert_eq!(parse_field_line("\tfield:int x;\toffset:70000;\tsize:4;"), Err(FormatError::BadNumber("offset")));
        assert_eq!(parse_field_line("\tfield:int x;\toffset:8;\tsize:four;"), Err(FormatError::BadNumber("size")));
        assert_eq!(parse_field_line("\tfield:x;\toffset:8;\tsize:4;"), Err(FormatError::NoName));
        assert_eq!(
            parse_field_line("\tfield:__data_loc char[] s;\toffset:8;\tsize:8;"),
            Err(FormatError::LocatorSize(8))
        );
    }

    #[test]
    fn every_fixture_format_parses() {
        for format in [EXEC, FORK, SWITCH, ENTER_OPENAT, EXIT_OPENAT, RAW_ENTER, fixture!("tcp/tcp_probe")] {
            let all: usize = format.lines().filter(|l| l.contains("field:")).count();
            assert_eq!(fields(format).count(), all);
            assert!(all > 4, "{format}");
        }
    }

    #[test]
    fn sched_process_exec_reads_the_data_loc_file_name() {
        let raw = record!("sched_process_exec");
        assert_eq!(int(raw, EXEC, "common_type"), FieldInt::Unsigned(365), "the event's ID in the format");
        assert_eq!(string(raw, EXEC, "filename"), b"/tmp/wpfx/exec_me_wprobe");
        // The locator's length counts the NUL; field_bytes keeps it.
        assert_eq!(field_bytes(raw, &field(EXEC, "filename")).unwrap(), b"/tmp/wpfx/exec_me_wprobe\0");
        assert_eq!(int(raw, EXEC, "pid"), FieldInt::Signed(8792));
        assert_eq!(int(raw, EXEC, "old_pid"), FieldInt::Signed(8792));
        assert_eq!(int(raw, EXEC, "common_pid"), FieldInt::Signed(8792));
    }

    #[test]
    fn sched_process_fork_reads_two_data_loc_strings() {
        let raw = record!("sched_process_fork");
        assert_eq!(string(raw, FORK, "parent_comm"), b"sh");
        assert_eq!(string(raw, FORK, "child_comm"), b"sh");
        assert_eq!(int(raw, FORK, "parent_pid"), FieldInt::Signed(8798));
        assert_eq!(int(raw, FORK, "child_pid"), FieldInt::Signed(8799));
    }

    #[test]
    fn sched_switch_reads_char_arrays_up_to_the_nul() {
        let raw = record!("sched_switch");
        assert_eq!(string(raw, SWITCH, "prev_comm"), b"sleep");
        assert_eq!(string(raw, SWITCH, "next_comm"), b"cargo");
        assert_eq!(field_bytes(raw, &field(SWITCH, "prev_comm")).unwrap().len(), 16);
        assert_eq!(int(raw, SWITCH, "prev_pid"), FieldInt::Signed(8811));
        assert_eq!(int(raw, SWITCH, "prev_prio"), FieldInt::Signed(120));
        assert_eq!(int(raw, SWITCH, "prev_state"), FieldInt::Signed(1));
        assert_eq!(int(raw, SWITCH, "next_pid"), FieldInt::Signed(8807));
    }

    #[test]
    fn syscall_records_keep_the_formats_sign() {
        let raw = record!("sys_enter_openat");
        assert_eq!(int(raw, ENTER_OPENAT, "__syscall_nr"), FieldInt::Signed(257));
        // AT_FDCWD as the register held it: `int dfd` is an unsigned 8-byte field.
        assert_eq!(int(raw, ENTER_OPENAT, "dfd"), FieldInt::Unsigned(0xffff_ff9c));
        assert_eq!(int(raw, ENTER_OPENAT, "filename"), FieldInt::Unsigned(0x5652_41b4_9c90));
        assert_eq!(int(raw, ENTER_OPENAT, "flags"), FieldInt::Unsigned(0));
        let raw = record!("sys_exit_openat");
        let ret = int(raw, EXIT_OPENAT, "ret");
        assert_eq!(ret, FieldInt::Signed(-2), "ENOENT");
        assert_eq!((ret.as_i64(), ret.as_u64()), (-2, u64::MAX - 1));
        let raw = record!("raw_sys_enter");
        assert_eq!(int(raw, RAW_ENTER, "id"), FieldInt::Signed(231), "exit_group");
        let args = field_bytes(raw, &field(RAW_ENTER, "args")).unwrap();
        assert_eq!(args.len(), 48);
        assert_eq!(args[..8], 0u64.to_le_bytes(), "exit_group(0)");
    }

    #[test]
    fn small_signed_integers_are_sign_extended() {
        let raw = [0xfe, 0xff, 0x80, 0x7f];
        let f = |offset, size, signed| Field { name: "x", offset, size, kind: FieldKind::Int { signed } };
        assert_eq!(field_int(&raw, &f(0, 1, true)), Ok(FieldInt::Signed(-2)));
        assert_eq!(field_int(&raw, &f(0, 1, false)), Ok(FieldInt::Unsigned(0xfe)));
        assert_eq!(field_int(&raw, &f(0, 2, true)), Ok(FieldInt::Signed(-2)));
        assert_eq!(field_int(&raw, &f(2, 2, true)), Ok(FieldInt::Signed(0x7f80)));
        assert_eq!(field_int(&raw, &f(0, 4, true)), Ok(FieldInt::Signed(0x7f80_fffe)));
        assert_eq!(
            field_int(&raw, &f(0, 3, true)),
            Err(FieldError::NotAnInteger { kind: FieldKind::Int { signed: true }, size: 3 })
        );
    }

    #[test]
    fn reading_the_wrong_way_is_an_error() {
        let raw = record!("sched_switch");
        assert_eq!(
            field_int(raw, &field(SWITCH, "prev_comm")),
            Err(FieldError::NotAnInteger { kind: FieldKind::Chars, size: 16 })
        );
        assert_eq!(
            field_str(raw, &field(SWITCH, "prev_pid")),
            Err(FieldError::NotAString { kind: FieldKind::Int { signed: true } })
        );
        let raw = record!("raw_sys_enter");
        assert_eq!(field_str(raw, &field(RAW_ENTER, "args")), Err(FieldError::NotAString { kind: FieldKind::Bytes }));
    }

    #[test]
    fn short_records_are_errors_at_every_length() {
        let cases: [(&[u8], &str); 6] = [
            (record!("sched_process_exec"), EXEC),
            (record!("sched_process_fork"), FORK),
            (record!("sched_switch"), SWITCH),
            (record!("sys_enter_openat"), ENTER_OPENAT),
            (record!("sys_exit_openat"), EXIT_OPENAT),
            (record!("raw_sys_enter"), RAW_ENTER),
        ];
        for (raw, format) in cases {
            for d in fields(format) {
                let f = d.field;
                let full = field_bytes(raw, &f).unwrap();
                for len in 0..raw.len() {
                    let short = &raw[..len];
                    match field_bytes(short, &f) {
                        Ok(b) => assert_eq!(b, full, "{} at {len} bytes", f.name),
                        Err(FieldError::Truncated { .. }) => assert!(len < (f.offset + f.size) as usize),
                        Err(FieldError::BadDataLoc { .. }) => assert!(matches!(f.kind, FieldKind::DataLoc { .. })),
                        Err(e) => panic!("{}: {e}", f.name),
                    }
                    // Whatever the length, reading never panics.
                    let _ = (field_int(short, &f), field_str(short, &f));
                }
            }
        }
    }

    #[test]
    fn corrupt_locators_are_errors_not_panics() {
        let filename = field(EXEC, "filename");
        let mut raw = record!("sched_process_exec").to_vec();
        let len = raw.len();
        // Past the end, reaching the end exactly, and the largest offset and length.
        for (loc, ok) in [(0x0001_0000 | len as u32, false), (0x0004_0000 | (len as u32 - 4), true), (u32::MAX, false)]
        {
            raw[8..12].copy_from_slice(&loc.to_le_bytes());
            let got = field_str(&raw, &filename);
            assert_eq!(got.is_ok(), ok, "{loc:#x}: {got:?}");
        }
        raw[8..12].copy_from_slice(&(0x0003_0000u32 | 20).to_le_bytes());
        assert_eq!(field_str(&raw, &filename), Ok(&b"/tm"[..]), "a string without NUL ends with its region");
        // Every byte of the record set to every value: decoding stays total.
        let clean = record!("sched_process_exec");
        for at in 0..clean.len() {
            for v in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut r = clean.to_vec();
                r[at] = v;
                for d in fields(EXEC) {
                    let _ = (field_int(&r, &d.field), field_str(&r, &d.field), field_bytes(&r, &d.field));
                }
            }
        }
        // A hand-made locator field of the wrong size is refused rather than misread.
        let odd = Field { size: 2, ..filename };
        assert!(matches!(field_bytes(clean, &odd), Err(FieldError::Truncated { size: 4, .. })));
    }

    #[test]
    fn rel_loc_counts_from_the_end_of_the_locator() {
        let f = Field { name: "msg", offset: 8, size: 4, kind: FieldKind::DataLoc { string: true, relative: true } };
        let mut raw = [0u8; 20];
        raw[8..12].copy_from_slice(&(0x0003_0002u32).to_le_bytes());
        raw[14..17].copy_from_slice(b"hi\0");
        assert_eq!(field_str(&raw, &f), Ok(&b"hi"[..]));
    }

    #[test]
    fn tables_round_trip_real_formats() {
        for format in [EXEC, FORK, SWITCH, ENTER_OPENAT, EXIT_OPENAT, RAW_ENTER, fixture!("ipi/ipi_send_cpumask")] {
            let mut buf = [0u8; 512];
            let all = || fields(format).map(|d| d.field);
            let n = encode_table(all(), &mut buf).unwrap();
            assert_eq!(n, encoded_len(all()));
            let table = FieldTable::parse(&buf[..n]).unwrap();
            assert_eq!(table.len(), all().count());
            assert!(table.iter().eq(all()));
            for f in all() {
                assert_eq!(table.get(f.name), Some(f));
            }
            assert_eq!(table.get("no_such_field"), None);
        }
        // The guest decodes a record with the fields from the table alone.
        let mut buf = [0u8; 256];
        let n = encode_table(fields(EXEC).map(|d| d.field), &mut buf).unwrap();
        let table = FieldTable::parse(&buf[..n]).unwrap();
        let raw = record!("sched_process_exec");
        assert_eq!(field_str(raw, &table.get("filename").unwrap()), Ok(&b"/tmp/wpfx/exec_me_wprobe"[..]));
    }

    #[test]
    fn bad_tables_are_errors() {
        let mut buf = [0u8; 256];
        let n = encode_table(fields(SWITCH).map(|d| d.field), &mut buf).unwrap();
        let good = &buf[..n];
        for len in 0..n {
            assert!(FieldTable::parse(&good[..len]).is_err(), "truncated to {len}");
        }
        let mut b = good.to_vec();
        b[0] = 2;
        assert_eq!(FieldTable::parse(&b).unwrap_err(), TableError::Version(2));
        let mut b = good.to_vec();
        b[4 + 4] = 99;
        assert_eq!(FieldTable::parse(&b).unwrap_err(), TableError::BadKind(99));
        let mut b = good.to_vec();
        b[4 + 6] = 0xff;
        assert_eq!(FieldTable::parse(&b).unwrap_err(), TableError::BadName);
        let mut b = good.to_vec();
        b.push(0);
        assert_eq!(FieldTable::parse(&b).unwrap_err(), TableError::TrailingBytes);
        assert_eq!(
            encode_table(fields(SWITCH).map(|d| d.field), &mut buf[..10]),
            Err(TableError::BufferTooSmall { needed: n })
        );
        let long = [b'x'; 256];
        let name = core::str::from_utf8(&long).unwrap();
        let f = Field { name, offset: 0, size: 1, kind: FieldKind::Bytes };
        let mut big = [0u8; 300];
        assert_eq!(encode_table([f], &mut big), Err(TableError::NameTooLong));
    }
}
