//! The flat batch: the fast path's wire format, handed to a guest as one `list<u8>`.
//!
//! ```text
//! offset  size  field
//!      0     4  magic        b"WPB1"
//!      4     1  arch         1 = x86_64, 2 = aarch64
//!      5     3  reserved     zero
//!      8     4  count        number of records
//!     12     4  record_size  bytes per record = 48 + 8 * nregs(arch)
//!     16     8  lost         events the kernel dropped since the previous batch
//!     24     …  records      `count` records, back to back (see [`crate::record`])
//! ```
//!
//! Little-endian throughout. The host builds one of these per batch in a reused buffer;
//! the per-accessor path reads the same buffer, so both paths see identical bytes.

use crate::abi::Arch;
use crate::record::{record_size, EventRef};
use core::fmt;

pub const MAGIC: [u8; 4] = *b"WPB1";
pub const BATCH_HEADER_SIZE: usize = 24;

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
        b[0..4].copy_from_slice(&MAGIC);
        b[4] = self.arch as u8;
        b[8..12].copy_from_slice(&self.count.to_le_bytes());
        b[12..16].copy_from_slice(&(record_size(self.arch) as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.lost.to_le_bytes());
        b
    }
}

/// Why bytes are not a valid batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchError {
    TooShort,
    BadMagic,
    UnknownArch(u8),
    RecordSize { expected: u32, found: u32 },
    Length { expected: usize, found: usize },
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::TooShort => f.write_str("batch shorter than its header"),
            BatchError::BadMagic => f.write_str("batch does not start with WPB1"),
            BatchError::UnknownArch(a) => write!(f, "batch names unknown architecture {a}"),
            BatchError::RecordSize { expected, found } => {
                write!(f, "batch record size is {found}, the architecture needs {expected}")
            }
            BatchError::Length { expected, found } => write!(f, "batch is {found} bytes, its header says {expected}"),
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
        if head[0..4] != MAGIC {
            return Err(BatchError::BadMagic);
        }
        let arch = Arch::from_u8(head[4]).ok_or(BatchError::UnknownArch(head[4]))?;
        let count = u32::from_le_bytes(head[8..12].try_into().unwrap());
        let rsize = u32::from_le_bytes(head[12..16].try_into().unwrap());
        let lost = u64::from_le_bytes(head[16..24].try_into().unwrap());
        let expected_rsize = record_size(arch) as u32;
        if rsize != expected_rsize {
            return Err(BatchError::RecordSize { expected: expected_rsize, found: rsize });
        }
        let expected = (count as usize)
            .checked_mul(rsize as usize)
            .and_then(|n| n.checked_add(BATCH_HEADER_SIZE))
            .ok_or(BatchError::Length { expected: usize::MAX, found: bytes.len() })?;
        if bytes.len() != expected {
            return Err(BatchError::Length { expected, found: bytes.len() });
        }
        Ok(Self { header: BatchHeader { arch, count, lost }, records: &bytes[BATCH_HEADER_SIZE..] })
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

    /// Record `i`, or `None` past the end.
    #[inline]
    pub fn get(&self, i: usize) -> Option<EventRef<'a>> {
        let size = record_size(self.header.arch);
        let bytes = self.records.get(i * size..(i + 1) * size)?;
        EventRef::new(self.header.arch, bytes)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = EventRef<'a>> + 'a {
        let arch = self.header.arch;
        self.records.chunks_exact(record_size(arch)).map(move |r| EventRef::new(arch, r).unwrap())
    }
}

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
        assert!(matches!(BatchRef::parse(&b[..b.len() - 1]), Err(BatchError::Length { .. })));
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
        assert!(matches!(BatchRef::parse(&bad), Err(BatchError::Length { .. })));
    }
}
