//! The session's rings, one per CPU, read as one stream in time order.
//!
//! The eBPF program writes each hit into the ring of the CPU it ran on (`Config::ring_mask`):
//! a ring shared between CPUs cost each hit its lock and a producer-position line that
//! bounces between CPUs (README, "A cheaper hit"). Within a ring records are in the order
//! they were reserved; across rings the reader merges them by their timestamps.
//!
//! Merging must not reorder cause and effect: a task that records an entry on one CPU and
//! its return on another must be seen entry first, even if the reader looks at the second
//! ring before the entry reaches the first. So a read takes the time *before* it reads any
//! producer position, and hands out only records stamped at or before that time: such a
//! record's task wrote everything it wrote earlier (into whichever ring) before that time,
//! so before the positions were read, and those records are in the same read. Records
//! stamped later wait for the next read, which the reader makes at once (they are there).
//!
//! With one ring (one CPU, or one ring asked for) this is the plain [`RingReader`].

use super::ring::RingReader;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use wprobe_common::record::OFF_TIMESTAMP;

pub(super) struct RingSet {
    rings: Vec<RingReader>,
    /// With several rings: an epoll instance watching them all, the fd the reader waits on.
    epoll: Option<OwnedFd>,
    /// Records were left for the next read (stamped after its time).
    held: bool,
}

impl RingSet {
    pub(super) fn new(rings: Vec<RingReader>) -> io::Result<RingSet> {
        assert!(!rings.is_empty(), "a session has at least one ring");
        let epoll = if rings.len() > 1 {
            // SAFETY: a plain syscall; the fd is owned from here on.
            let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: a fresh fd nobody else owns.
            let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
            for ring in &rings {
                let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 0 };
                // SAFETY: valid fds and a valid event.
                if unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, ring.as_raw_fd(), &mut event) } < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Some(epoll)
        } else {
            None
        };
        Ok(RingSet { rings, epoll, held: false })
    }

    /// Records were left in a ring by the last read because they were stamped after it
    /// began: read again before waiting.
    pub(super) fn held(&self) -> bool {
        self.held
    }

    /// Hands committed records to `take` in time order (see the module's comment) until
    /// `take` returns false (after taking that record) or none is left to hand out now.
    pub(super) fn read(&mut self, mut take: impl FnMut(&[u8]) -> bool) {
        if let [ring] = &mut self.rings[..] {
            return ring.read(take);
        }
        let horizon = crate::timers::monotonic_ns();
        for ring in &mut self.rings {
            ring.refresh();
        }
        self.held = false;
        loop {
            // The ring whose next record is the oldest, among those stamped by `horizon`.
            let mut next: Option<(usize, u64)> = None;
            let mut held = false;
            for (i, ring) in self.rings.iter_mut().enumerate() {
                let Some(record) = ring.peek() else { continue };
                let ts = timestamp(record);
                if ts > horizon {
                    held = true;
                } else if next.is_none_or(|(_, oldest)| ts < oldest) {
                    next = Some((i, ts));
                }
            }
            let Some((i, _)) = next else {
                self.held = held;
                break;
            };
            let ring = &mut self.rings[i];
            let more = take(ring.peek().expect("peeked just above"));
            ring.consume();
            if !more {
                break;
            }
        }
        for ring in &mut self.rings {
            ring.publish();
        }
    }

    /// After a wake-up: empties the epoll instance's list of ready rings, so that it
    /// reports only the next wake-up.
    pub(super) fn clear_wakeups(&self) {
        if let Some(epoll) = &self.epoll {
            let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
            // SAFETY: a valid epoll fd and buffer; a zero timeout never blocks.
            unsafe { libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), events.len() as i32, 0) };
        }
    }
}

/// A record's timestamp; a record too short to hold one sorts first (the reader drops and
/// counts it as malformed).
pub(super) fn timestamp(record: &[u8]) -> u64 {
    record.get(OFF_TIMESTAMP..OFF_TIMESTAMP + 8).map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

impl AsRawFd for RingSet {
    fn as_raw_fd(&self) -> RawFd {
        match &self.epoll {
            Some(epoll) => epoll.as_fd().as_raw_fd(),
            None => self.rings[0].as_raw_fd(),
        }
    }
}
