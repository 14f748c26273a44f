//! The record's extension area: what the eBPF program took at the hit besides the registers.
//!
//! A record whose flags carry [`FLAG_EXT`](crate::record::FLAG_EXT) continues after its
//! register snapshot with an extension area; a record without it ends after the registers,
//! exactly as in version 1, so a probe that takes nothing extra costs nothing extra.
//!
//! ```text
//! extension header, 8 bytes
//!   0  u32  len      bytes of items that follow (a multiple of 8)
//!   4  u32  count    number of items
//! items, back to back, each
//!   0  u8   kind     1 = entry, 2 = capture, 3 = tracepoint data
//!   1  u8   status   captures: 0 ok, 1 truncated (no NUL within the size), 2 fault
//!   2  u8   space    captures: 0 kernel, 1 user
//!   3  u8   index    captures: the capture's position in the handler's list
//!   4  u32  len      data bytes (strings: without the NUL)
//!   8  u64  addr     captures: the address read (on a fault: the address that faulted)
//!  16  …    data     `len` bytes, then zero padding to a multiple of 8
//! ```
//!
//! * **entry** (return probes): the paired entry's `u64` timestamp, then its register
//!   snapshot (`8 * nregs` bytes). Absent when the entry was not seen.
//! * **capture**: the bytes read at one declared address.
//! * **tracepoint data**: the tracepoint's raw record, from its first byte (the `common_*`
//!   fields) on; the fields' offsets come from the tracepoint's `format` file.

/// Size of the extension header.
pub const EXT_HEADER_SIZE: usize = 8;
/// Size of an item's header.
pub const ITEM_HEADER_SIZE: usize = 16;

// Byte offsets in the extension header and in an item's header (the table above).
pub const OFF_EXT_LEN: usize = 0;
pub const OFF_EXT_COUNT: usize = 4;
pub const OFF_ITEM_KIND: usize = 0;
pub const OFF_ITEM_STATUS: usize = 1;
pub const OFF_ITEM_SPACE: usize = 2;
pub const OFF_ITEM_INDEX: usize = 3;
pub const OFF_ITEM_LEN: usize = 4;
pub const OFF_ITEM_ADDR: usize = 8;

pub const KIND_ENTRY: u8 = 1;
pub const KIND_CAPTURE: u8 = 2;
pub const KIND_TRACEPOINT: u8 = 3;

pub const STATUS_OK: u8 = 0;
pub const STATUS_TRUNCATED: u8 = 1;
pub const STATUS_FAULT: u8 = 2;

pub const SPACE_KERNEL: u8 = 0;
pub const SPACE_USER: u8 = 1;

/// Rounds `n` up to a multiple of 8.
pub const fn pad8(n: usize) -> usize {
    (n + 7) & !7
}

/// Which address space a capture read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    Kernel,
    User,
}

impl Space {
    pub const fn code(self) -> u8 {
        match self {
            Space::Kernel => SPACE_KERNEL,
            Space::User => SPACE_USER,
        }
    }
    pub const fn name(self) -> &'static str {
        match self {
            Space::Kernel => "kernel",
            Space::User => "user",
        }
    }
}

/// Writes bytes from memory as text: valid UTF-8 as it is, every byte that is not part of
/// valid UTF-8 as `\xNN`, so that what the kernel had stays visible and nothing is lost
/// silently. (A `\` in the input is written as is: the rule is for showing, not for
/// round-tripping; the byte accessors give the exact bytes.)
pub fn write_escaped(bytes: &[u8], out: &mut dyn core::fmt::Write) -> core::fmt::Result {
    for chunk in bytes.utf8_chunks() {
        out.write_str(chunk.valid())?;
        for b in chunk.invalid() {
            write!(out, "\\x{b:02x}")?;
        }
    }
    Ok(())
}

/// One item of the extension area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    pub kind: u8,
    pub status: u8,
    pub space: u8,
    pub index: u8,
    pub addr: u64,
    pub data: &'a [u8],
}

/// The validated extension area of one record (possibly empty).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ext<'a> {
    items: &'a [u8],
    count: u32,
}

/// Why an extension area is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtError {
    /// The area's header or an item runs past the record.
    Truncated,
    /// The header's length is not a multiple of 8 or disagrees with the items.
    BadLength,
}

impl<'a> Ext<'a> {
    /// The total size of the area at the start of `bytes` (header included), checked only
    /// for fitting: [`Ext::parse`] checks the items.
    pub fn size_at(bytes: &[u8]) -> Option<usize> {
        let len = u32::from_le_bytes(bytes.get(OFF_EXT_LEN..OFF_EXT_LEN + 4)?.try_into().ok()?) as usize;
        EXT_HEADER_SIZE.checked_add(len).filter(|&n| n <= bytes.len())
    }

    /// Parses a whole extension area (header included), which must fill `bytes` exactly.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ExtError> {
        if bytes.len() < EXT_HEADER_SIZE {
            return Err(ExtError::Truncated);
        }
        let len = u32::from_le_bytes(bytes[OFF_EXT_LEN..OFF_EXT_LEN + 4].try_into().unwrap()) as usize;
        let count = u32::from_le_bytes(bytes[OFF_EXT_COUNT..OFF_EXT_COUNT + 4].try_into().unwrap());
        if !len.is_multiple_of(8) || EXT_HEADER_SIZE + len != bytes.len() {
            return Err(ExtError::BadLength);
        }
        let ext = Ext { items: &bytes[EXT_HEADER_SIZE..], count };
        // Walk once so that every later walk can index without checks failing.
        let mut seen = 0u32;
        let mut rest = ext.items;
        while !rest.is_empty() {
            let (_, next) = split_item(rest).ok_or(ExtError::Truncated)?;
            rest = next;
            seen += 1;
        }
        if seen != count {
            return Err(ExtError::BadLength);
        }
        Ok(ext)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Item<'a>> + 'a {
        let mut rest = self.items;
        core::iter::from_fn(move || {
            let (item, next) = split_item(rest)?;
            rest = next;
            Some(item)
        })
    }

    /// The first item of `kind`.
    pub fn find(&self, kind: u8) -> Option<Item<'a>> {
        self.iter().find(|i| i.kind == kind)
    }
}

fn split_item(bytes: &[u8]) -> Option<(Item<'_>, &[u8])> {
    let head = bytes.get(..ITEM_HEADER_SIZE)?;
    let len = u32::from_le_bytes(head[OFF_ITEM_LEN..OFF_ITEM_LEN + 4].try_into().unwrap()) as usize;
    let end = ITEM_HEADER_SIZE.checked_add(pad8(len))?;
    let data = bytes.get(ITEM_HEADER_SIZE..ITEM_HEADER_SIZE + len)?;
    let rest = bytes.get(end..)?;
    let item = Item {
        kind: head[OFF_ITEM_KIND],
        status: head[OFF_ITEM_STATUS],
        space: head[OFF_ITEM_SPACE],
        index: head[OFF_ITEM_INDEX],
        addr: u64::from_le_bytes(head[OFF_ITEM_ADDR..OFF_ITEM_ADDR + 8].try_into().unwrap()),
        data,
    };
    Some((item, rest))
}

/// Writes extension areas (the host's tests and synthetic events; the eBPF program writes
/// the same bytes itself). Call [`ExtWriter::item`] for each item, then [`ExtWriter::finish`].
#[cfg(feature = "std")]
#[derive(Default)]
pub struct ExtWriter {
    buf: std::vec::Vec<u8>,
    count: u32,
}

#[cfg(feature = "std")]
impl ExtWriter {
    pub fn item(&mut self, kind: u8, status: u8, space: u8, index: u8, addr: u64, data: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(&[kind, status, space, index]);
        self.buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&addr.to_le_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(pad8(self.buf.len()), 0);
        self.count += 1;
        self
    }

    /// An entry item: the entry's timestamp and its registers.
    pub fn entry(&mut self, timestamp_ns: u64, regs: &[u64]) -> &mut Self {
        let mut data = std::vec::Vec::with_capacity(8 + 8 * regs.len());
        data.extend_from_slice(&timestamp_ns.to_le_bytes());
        for r in regs {
            data.extend_from_slice(&r.to_le_bytes());
        }
        self.item(KIND_ENTRY, STATUS_OK, 0, 0, 0, &data)
    }

    /// The area's bytes, header included.
    pub fn finish(&self) -> std::vec::Vec<u8> {
        let mut out = std::vec::Vec::with_capacity(EXT_HEADER_SIZE + self.buf.len());
        out.extend_from_slice(&(self.buf.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.buf);
        out
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_damage_is_refused() {
        let mut w = ExtWriter::default();
        w.entry(5, &[1, 2, 3]).item(KIND_CAPTURE, STATUS_OK, SPACE_USER, 2, 0x1000, b"hello");
        let bytes = w.finish();
        assert_eq!(Ext::size_at(&bytes), Some(bytes.len()));
        let ext = Ext::parse(&bytes).unwrap();
        let items: std::vec::Vec<_> = ext.iter().collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].kind, KIND_ENTRY);
        assert_eq!(items[0].data.len(), 32);
        assert_eq!((items[1].index, items[1].addr, items[1].data), (2, 0x1000, &b"hello"[..]));

        assert_eq!(Ext::parse(&bytes[..bytes.len() - 8]).unwrap_err(), ExtError::BadLength);
        let mut bad = bytes.clone();
        bad[4] = 3; // count disagrees
        assert_eq!(Ext::parse(&bad).unwrap_err(), ExtError::BadLength);
        let mut bad = bytes.clone();
        // The second item's length runs past the area.
        let second = EXT_HEADER_SIZE + ITEM_HEADER_SIZE + 32;
        bad[second + 4..second + 8].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(Ext::parse(&bad).unwrap_err(), ExtError::Truncated);
        assert_eq!(Ext::parse(&bytes[..4]).unwrap_err(), ExtError::Truncated);
    }
}
