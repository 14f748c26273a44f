//! The reader's side of the BPF ring buffer, mapped directly.
//!
//! aya's `RingBuf` publishes the consumer position after every record. The program reads that
//! position in every reserve (and in its fill query), so while the reader drains, each hit
//! found the line in the reader's cache and paid a cross-CPU miss for it. This reader hands
//! records out the same way but publishes the position once per [`PUBLISH_BYTES`] consumed
//! and when it stops, which is soon enough for the kernel's free-space check (the ring is
//! many times larger) and leaves the line alone between.
//!
//! Layout (`kernel/bpf/ringbuf.c`): page 0 holds the consumer position (the only page user
//! space may write), page 1 the producer position, then the data pages, mapped twice in a
//! row so that a record wrapping around the end reads as one slice. Each record starts with
//! an 8-byte header: its length with the busy and discard bits, and a page offset.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use aya::maps::MapData;

const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HEADER_BYTES: usize = 8;
/// How far the reader may read ahead of the position the kernel sees (at most an eighth of
/// the ring, so that a small ring does not look full while it is being read).
const PUBLISH_BYTES: usize = 16 << 10;

/// A ring buffer map, mapped for reading. Owns the map, so the fd stays valid for as long as
/// the mappings and any `AsyncFd` registration made through [`AsRawFd`].
pub(super) struct RingReader {
    consumer: Mapping,
    producer: Mapping,
    mask: usize,
    page: usize,
    publish_bytes: usize,
    /// The next record to read.
    pos: usize,
    /// The consumer position as the kernel last saw it.
    published: usize,
    /// The producer position as last read: records before it are committed or busy.
    produced: usize,
    map: MapData,
}

impl RingReader {
    pub(super) fn new(map: MapData) -> io::Result<RingReader> {
        let size = map.info().map_err(io::Error::other)?.max_entries() as usize;
        if !size.is_power_of_two() {
            return Err(io::Error::other(format!("ring buffer size {size} is not a power of two")));
        }
        let page = super::sys::page_size();
        let fd = map.fd().as_fd().as_raw_fd();
        let consumer = Mapping::new(fd, page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let producer = Mapping::new(fd, page + 2 * size, libc::PROT_READ, page)?;
        let mut reader = RingReader {
            consumer,
            producer,
            mask: size - 1,
            page,
            publish_bytes: PUBLISH_BYTES.min(size / 8),
            pos: 0,
            published: 0,
            produced: 0,
            map,
        };
        reader.pos = reader.consumer_pos().load(Ordering::Acquire);
        reader.published = reader.pos;
        reader.produced = reader.pos;
        Ok(reader)
    }

    fn consumer_pos(&self) -> &AtomicUsize {
        // SAFETY: the first word of the consumer page, mapped read-write for our lifetime and
        // written by no one else (one reader per ring).
        unsafe { self.consumer.ptr.cast::<AtomicUsize>().as_ref() }
    }

    fn producer_pos(&self) -> &AtomicUsize {
        // SAFETY: the first word of the producer page, mapped for our lifetime.
        unsafe { self.producer.ptr.cast::<AtomicUsize>().as_ref() }
    }

    /// Hands each committed record to `take`, in order, until `take` returns false (after
    /// taking that record), a record is still being written, or the ring is empty. Discarded
    /// records are skipped. The records' bytes are the ring's: `take` copies what it keeps.
    pub(super) fn read(&mut self, mut take: impl FnMut(&[u8]) -> bool) {
        loop {
            if self.pos == self.produced {
                self.refresh();
            }
            let Some(record) = self.peek() else {
                // Past discarded records up to the position read: more may have come since.
                if self.pos == self.produced && self.producer_pos().load(Ordering::Acquire) != self.pos {
                    continue;
                }
                break;
            };
            let more = take(record);
            self.consume();
            if !more {
                break;
            }
        }
        self.publish();
    }

    /// Reads the producer position: [`RingReader::peek`] sees the records before it.
    pub(super) fn refresh(&mut self) {
        // Acquire: pairs with the kernel's release of the producer position after it wrote
        // the busy header, so the headers up to it are readable.
        self.produced = self.producer_pos().load(Ordering::Acquire);
    }

    /// The next committed record before the producer position last read, skipping discarded
    /// ones; `None` at that position or at a record still being written. It stays next
    /// until [`RingReader::consume`].
    pub(super) fn peek(&mut self) -> Option<&[u8]> {
        loop {
            if self.pos == self.produced {
                return None;
            }
            let (header, data) = self.header();
            if header & BUSY_BIT != 0 {
                return None;
            }
            let len = (header & !(BUSY_BIT | DISCARD_BIT)) as usize;
            if header & DISCARD_BIT != 0 || len > self.mask {
                self.skip(len);
                continue;
            }
            // SAFETY: the kernel wrote `len` bytes after the header and will not touch them
            // before the consumer position passes them; the data pages are mapped twice, so
            // a record wrapping around the end is one slice.
            return Some(unsafe { std::slice::from_raw_parts(data.add(HEADER_BYTES), len) });
        }
    }

    /// Moves past the record [`RingReader::peek`] returned.
    pub(super) fn consume(&mut self) {
        let (header, _) = self.header();
        self.skip((header & !(BUSY_BIT | DISCARD_BIT)) as usize);
    }

    /// The header of the record at the read position, and where the record starts.
    fn header(&self) -> (u32, *const u8) {
        let offset = self.pos & self.mask;
        // SAFETY: `offset` < size and the data pages are mapped twice, so the header and a
        // record of at most `size` bytes after it lie inside the mapping.
        let data = unsafe { self.producer.ptr.as_ptr().add(self.page + offset) };
        // Acquire: pairs with the kernel's commit (`xchg` on the header), so the record's
        // bytes are visible once the busy bit is clear.
        // SAFETY: 8-aligned (records are padded to 8), inside the mapping.
        let header = unsafe { &*data.cast::<AtomicU32>() }.load(Ordering::Acquire);
        (header, data)
    }

    fn skip(&mut self, len: usize) {
        self.pos += (HEADER_BYTES + len).next_multiple_of(8);
        if self.pos.wrapping_sub(self.published) >= self.publish_bytes {
            self.publish();
        }
    }

    /// Lets the kernel reuse what was read.
    pub(super) fn publish(&mut self) {
        if self.published != self.pos {
            // Release: the records' bytes were read before the kernel may overwrite them.
            self.consumer_pos().store(self.pos, Ordering::Release);
            self.published = self.pos;
        }
    }
}

impl AsRawFd for RingReader {
    fn as_raw_fd(&self) -> RawFd {
        self.map.fd().as_fd().as_raw_fd()
    }
}

/// A shared mapping of part of the map's fd, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(fd: RawFd, len: usize, prot: libc::c_int, offset: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh shared mapping of a valid fd; the kernel checks length and offset.
        let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd, offset as libc::off_t) };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped; nothing borrows it past `RingReader`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

// SAFETY: the mappings are plain shared memory owned by the reader; moving it to another
// thread moves that ownership.
unsafe impl Send for RingReader {}
