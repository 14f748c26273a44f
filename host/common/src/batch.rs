//! The flat batch: the fast path's wire format, handed to a guest as one `list<u8>`.
//!
//! ```text
//! offset  size  field
//!      0     4  magic        b"WPB2"
//!      4     1  arch         1 = x86_64, 2 = aarch64
//!      5     3  reserved     zero
//!      8     4  count        number of records
//!     12     4  record_size  bytes of a record's fixed part = 48 + 8 * nregs(arch)
//!     16     8  lost         events the kernel dropped since the previous batch
//!     24     …  records      `count` records, back to back (see [`crate::record`]); a
//!                            record with FLAG_EXT is longer by its extension area
//! ```
//!
//! Version 2 (`WPB2`) added the extension area; a batch without any is byte for byte a
//! version 1 batch but for the magic.
//!
//! Little-endian throughout. The host builds one of these per batch in a reused buffer;
//! the per-accessor path reads the same buffer, so both paths see identical bytes.

use crate::abi::Arch;
use crate::record::{record_len, record_size, EventRef};
use core::fmt;

pub const MAGIC: [u8; 4] = *b"WPB2";
pub const BATCH_HEADER_SIZE: usize = 24;

// Byte offsets of the header's fields (the table above).
pub const OFF_MAGIC: usize = 0;
pub const OFF_ARCH: usize = 4;
pub const OFF_COUNT: usize = 8;
pub const OFF_RECORD_SIZE: usize = 12;
pub const OFF_LOST: usize = 16;

/// The decoded batch header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub arch: Arch,
    pub count: u32,
    pub lost: u64,
}

impl BatchHeader {
    pub fn to_bytes(&self) -> [u8; BATCH_HEADER_SIZE] {
        let mut b = [0u8; BATCH_HEADER_SIZE];
        b[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&MAGIC);
        b[OFF_ARCH] = self.arch as u8;
        b[OFF_COUNT..OFF_COUNT + 4].copy_from_slice(&self.count.to_le_bytes());
        b[OFF_RECORD_SIZE..OFF_RECORD_SIZE + 4].copy_from_slice(&(record_size(self.arch) as u32).to_le_bytes());
        b[OFF_LOST..OFF_LOST + 8].copy_from_slice(&self.lost.to_le_bytes());
        b
    }
}

/// Why bytes are not a valid batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchError {
    TooShort,
    BadMagic,
    UnknownArch(u8),
    RecordSize {
        expected: u32,
        found: u32,
    },
    Length {
        expected: usize,
        found: usize,
    },
    /// Record `index` is malformed (its extension area, or it runs past the batch).
    BadRecord {
        index: u32,
    },
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::TooShort => f.write_str("batch shorter than its header"),
            BatchError::BadMagic => f.write_str("batch does not start with WPB2"),
            BatchError::UnknownArch(a) => write!(f, "batch names unknown architecture {a}"),
            BatchError::RecordSize { expected, found } => {
                write!(f, "batch record size is {found}, the architecture needs {expected}")
            }
            BatchError::Length { expected, found } => write!(f, "batch is {found} bytes, its header says {expected}"),
            BatchError::BadRecord { index } => write!(f, "record {index} of the batch is malformed"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BatchError {}

/// A validated view of a flat batch.
#[derive(Clone, Copy, Debug)]
pub struct BatchRef<'a> {
    header: BatchHeader,
    records: &'a [u8],
}

impl<'a> BatchRef<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BatchError> {
        let head = bytes.get(..BATCH_HEADER_SIZE).ok_or(BatchError::TooShort)?;
        if head[OFF_MAGIC..OFF_MAGIC + 4] != MAGIC {
            return Err(BatchError::BadMagic);
        }
        let arch = Arch::from_u8(head[OFF_ARCH]).ok_or(BatchError::UnknownArch(head[OFF_ARCH]))?;
        let count = u32::from_le_bytes(head[OFF_COUNT..OFF_COUNT + 4].try_into().unwrap());
        let rsize = u32::from_le_bytes(head[OFF_RECORD_SIZE..OFF_RECORD_SIZE + 4].try_into().unwrap());
        let lost = u64::from_le_bytes(head[OFF_LOST..OFF_LOST + 8].try_into().unwrap());
        let expected_rsize = record_size(arch) as u32;
        if rsize != expected_rsize {
            return Err(BatchError::RecordSize { expected: expected_rsize, found: rsize });
        }
        let records = &bytes[BATCH_HEADER_SIZE..];
        // Walk every record once, so that iterating later needs no checks that could fail.
        let mut at = 0usize;
        for index in 0..count {
            let len = record_len(arch, &records[at..]).ok_or(BatchError::BadRecord { index })?;
            EventRef::new(arch, &records[at..at + len]).ok_or(BatchError::BadRecord { index })?;
            at += len;
        }
        if at != records.len() {
            return Err(BatchError::Length { expected: BATCH_HEADER_SIZE + at, found: bytes.len() });
        }
        Ok(Self { header: BatchHeader { arch, count, lost }, records })
    }

    pub fn header(&self) -> BatchHeader {
        self.header
    }
    pub fn len(&self) -> usize {
        self.header.count as usize
    }
    pub fn is_empty(&self) -> bool {
        self.header.count == 0
    }

    /// Record `i`, or `None` past the end. Records vary in length, so this walks from the
    /// start: step through a batch with [`BatchRef::iter`].
    pub fn get(&self, i: usize) -> Option<EventRef<'a>> {
        self.iter().nth(i)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = EventRef<'a>> + 'a {
        Records { arch: self.header.arch, rest: self.records, left: self.header.count as usize }
    }
}

/// The records of a parsed batch (lengths were checked by [`BatchRef::parse`]).
struct Records<'a> {
    arch: Arch,
    rest: &'a [u8],
    left: usize,
}

impl<'a> Iterator for Records<'a> {
    type Item = EventRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<EventRef<'a>> {
        if self.left == 0 {
            return None;
        }
        let len = record_len(self.arch, self.rest)?;
        let (record, rest) = self.rest.split_at(len);
        self.rest = rest;
        self.left -= 1;
        EventRef::new(self.arch, record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Records<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_every_kind_of_damage() {
        let header = BatchHeader { arch: Arch::X86_64, count: 2, lost: 7 };
        let mut b = [0u8; BATCH_HEADER_SIZE + 2 * 216];
        b[..BATCH_HEADER_SIZE].copy_from_slice(&header.to_bytes());
        let ok = BatchRef::parse(&b).unwrap();
        assert_eq!(ok.header(), header);
        assert_eq!(ok.iter().len(), 2);
        assert!(ok.get(2).is_none());

        assert_eq!(BatchRef::parse(&b[..10]).unwrap_err(), BatchError::TooShort);
        assert_eq!(BatchRef::parse(&b[..b.len() - 1]).unwrap_err(), BatchError::BadRecord { index: 1 });
        let mut long = b.to_vec();
        long.extend_from_slice(&[0; 8]);
        assert!(matches!(BatchRef::parse(&long), Err(BatchError::Length { .. })));
        let mut bad = b;
        bad[0] = b'X';
        assert_eq!(BatchRef::parse(&bad).unwrap_err(), BatchError::BadMagic);
        let mut bad = b;
        bad[4] = 9;
        assert_eq!(BatchRef::parse(&bad).unwrap_err(), BatchError::UnknownArch(9));
        let mut bad = b;
        bad[12] = 1;
        assert!(matches!(BatchRef::parse(&bad), Err(BatchError::RecordSize { .. })));
        let mut bad = b;
        bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(BatchRef::parse(&bad).unwrap_err(), BatchError::BadRecord { index: 2 });
        let mut bad = b;
        bad[BATCH_HEADER_SIZE + 4] = crate::record::FLAG_EXT as u8; // an extension that is not there
        assert!(BatchRef::parse(&bad).is_err());
    }

    #[cfg(feature = "std")]
    #[test]
    fn records_with_and_without_extensions_mix() {
        use crate::ext::{ExtWriter, KIND_CAPTURE, SPACE_USER, STATUS_OK};
        use crate::record::{FLAG_EXT, FLAG_RETURN};
        let size = record_size(Arch::X86_64);
        let mut b = std::vec::Vec::new();
        b.extend_from_slice(&BatchHeader { arch: Arch::X86_64, count: 3, lost: 0 }.to_bytes());
        let plain = |b: &mut std::vec::Vec<u8>, pid: u32, flags: u32| {
            let mut r = std::vec![0u8; size];
            r[4..8].copy_from_slice(&flags.to_le_bytes());
            r[8..12].copy_from_slice(&pid.to_le_bytes());
            b.extend_from_slice(&r);
        };
        plain(&mut b, 1, 0);
        plain(&mut b, 2, FLAG_EXT | FLAG_RETURN);
        b.extend_from_slice(
            &ExtWriter::default()
                .entry(10, &[7; 21])
                .item(KIND_CAPTURE, STATUS_OK, SPACE_USER, 0, 0x5000, b"/tmp/x")
                .finish(),
        );
        plain(&mut b, 3, 0);
        let batch = BatchRef::parse(&b).unwrap();
        let pids: std::vec::Vec<u32> = batch.iter().map(|e| e.pid()).collect();
        assert_eq!(pids, [1, 2, 3]);
        let e = batch.get(1).unwrap();
        assert_eq!(e.entry_timestamp_ns(), Ok(10));
        assert_eq!(e.pointer_arg(1), Ok(7));
        assert_eq!(e.read_string(crate::ext::Space::User, 0x5000, 4096), Ok(&b"/tmp/x"[..]));
        assert_eq!(e.read(crate::ext::Space::User, 0x5001, 2), Ok(&b"tm"[..]));
        assert_eq!(
            e.read(crate::ext::Space::Kernel, 0x5000, 1),
            Err(crate::AccessError::NotCaptured { addr: 0x5000, arg: 0 })
        );
        assert_eq!(batch.get(2).unwrap().entry_timestamp_ns(), Err(crate::AccessError::NotAReturnProbe));
    }
}
