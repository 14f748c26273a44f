//! Building flat batches (layout in [`wprobe_common::batch`]) in one reused buffer.

use wprobe_common::batch::{BatchHeader, BATCH_HEADER_SIZE};
use wprobe_common::record::record_size;
use wprobe_common::{Arch, BatchRef};

/// Accumulates records into a flat batch. The buffer is allocated once, at the largest
/// batch size, and reused: pushing an event never allocates.
pub struct BatchBuilder {
    arch: Arch,
    buf: Vec<u8>,
    count: u32,
    lost: u64,
    capacity: usize,
    /// Where `is_full` says stop: `capacity`, or less near the end of `--max-events`.
    limit: usize,
}

impl BatchBuilder {
    /// A builder for batches of up to `capacity` events of `arch`.
    pub fn new(arch: Arch, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let mut buf = Vec::with_capacity(BATCH_HEADER_SIZE + capacity * record_size(arch));
        buf.resize(BATCH_HEADER_SIZE, 0);
        Self { arch, buf, count: 0, lost: 0, capacity, limit: capacity }
    }

    pub fn arch(&self) -> Arch {
        self.arch
    }
    pub fn len(&self) -> usize {
        self.count as usize
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    pub fn is_full(&self) -> bool {
        self.len() >= self.limit
    }

    /// Lowers (or restores) how many events the next batches may hold, at most `capacity`.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.clamp(1, self.capacity);
    }
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    /// Events lost since the previous batch, so far.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Appends one record, which must be one well-formed record of the builder's
    /// architecture (the caller has checked it: the ring reader and the events file reader
    /// both do). Records with an extension area are longer than `record_size(arch)`; the
    /// buffer grows for them once and is reused after.
    #[inline]
    pub fn push_record(&mut self, record: &[u8]) {
        debug_assert!(wprobe_common::EventRef::new(self.arch, record).is_some());
        debug_assert!(!self.is_full());
        self.buf.extend_from_slice(record);
        self.count += 1;
    }

    /// Appends `record` with its probe id and flags replaced (a shared object's record, see
    /// `live::shared`). False, and nothing appended, if the result is not a well-formed record.
    pub fn push_record_as(&mut self, record: &[u8], probe_id: u32, flags: u32) -> bool {
        use wprobe_common::record::{OFF_FLAGS, OFF_PROBE_ID};
        debug_assert!(!self.is_full());
        if record.len() < OFF_FLAGS + 4 {
            return false;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(record);
        let rec = &mut self.buf[start..];
        rec[OFF_PROBE_ID..OFF_PROBE_ID + 4].copy_from_slice(&probe_id.to_le_bytes());
        rec[OFF_FLAGS..OFF_FLAGS + 4].copy_from_slice(&flags.to_le_bytes());
        if wprobe_common::EventRef::new(self.arch, rec).is_none() {
            self.buf.truncate(start);
            return false;
        }
        self.count += 1;
        true
    }

    /// Counts events the kernel dropped before the ones that follow.
    pub fn add_lost(&mut self, n: u64) {
        self.lost = self.lost.saturating_add(n);
    }

    /// Writes the header and returns the finished batch. It stays valid until `clear`.
    pub fn finish(&mut self) -> &[u8] {
        let header = BatchHeader { arch: self.arch, count: self.count, lost: self.lost };
        self.buf[..BATCH_HEADER_SIZE].copy_from_slice(&header.to_bytes());
        &self.buf
    }

    /// The finished batch, parsed. Panics if `finish` was not called since the last push,
    /// which would be a bug in the caller.
    pub fn view(&self) -> BatchRef<'_> {
        BatchRef::parse(&self.buf).expect("BatchBuilder::finish was called")
    }

    /// Moves the first `n` events (and the lost count) into `into`, which must be empty,
    /// leaving the rest here: a batch cut at a timer's tick. Neither buffer allocates once
    /// grown.
    pub fn split_front(&mut self, n: usize, into: &mut BatchBuilder) {
        debug_assert!(into.is_empty() && into.arch == self.arch);
        let n = n.min(self.len());
        let mut end = BATCH_HEADER_SIZE;
        for _ in 0..n {
            // Every record was checked when it was pushed.
            end += wprobe_common::record::record_len(self.arch, &self.buf[end..]).expect("records were checked");
        }
        into.buf.extend_from_slice(&self.buf[BATCH_HEADER_SIZE..end]);
        into.count = n as u32;
        into.lost = std::mem::take(&mut self.lost);
        self.buf.drain(BATCH_HEADER_SIZE..end);
        self.count -= n as u32;
    }

    /// The timestamp of each event, in order.
    pub fn timestamps(&self) -> impl Iterator<Item = u64> + '_ {
        let mut at = BATCH_HEADER_SIZE;
        (0..self.count).map(move |_| {
            let len = wprobe_common::record::record_len(self.arch, &self.buf[at..]).expect("records were checked");
            let record = &self.buf[at..at + len];
            at += len;
            wprobe_common::EventRef::new(self.arch, record).map_or(0, |e| e.timestamp_ns())
        })
    }

    /// Replaces kernel addresses in every event with 0 (see [`crate::redact`]); returns how
    /// many words were replaced.
    pub fn redact_kernel_pointers(&mut self) -> u64 {
        crate::redact::kernel_pointers(self.arch, &mut self.buf[BATCH_HEADER_SIZE..])
    }

    /// Empties the builder for the next batch, keeping its buffer.
    pub fn clear(&mut self) {
        self.buf.truncate(BATCH_HEADER_SIZE);
        self.count = 0;
        self.lost = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wprobe_common::EventHeader;

    #[test]
    fn builds_a_batch_that_parses_back() {
        let mut b = BatchBuilder::new(Arch::X86_64, 4);
        let cap = b.buf.capacity();
        for pid in 1..=3u32 {
            let mut rec = vec![0u8; record_size(Arch::X86_64)];
            rec[..48].copy_from_slice(&EventHeader { pid, ..Default::default() }.to_bytes());
            b.push_record(&rec);
        }
        b.add_lost(5);
        b.finish();
        let batch = b.view();
        assert_eq!(batch.header().lost, 5);
        assert_eq!(batch.iter().map(|e| e.pid()).collect::<Vec<_>>(), [1, 2, 3]);
        b.clear();
        b.finish();
        assert!(b.view().is_empty());
        assert_eq!(b.view().header().lost, 0);
        assert_eq!(b.buf.capacity(), cap, "the buffer is reused, not reallocated");
    }
}
