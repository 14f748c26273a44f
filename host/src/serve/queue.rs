//! Output on its way to a client: a queue bounded in bytes between the session's worker
//! (which never blocks on the socket) and the connection's writer thread. A client that
//! stops reading loses output, counted, instead of stalling its handler or growing the
//! daemon's memory.

use super::protocol::Reply;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

pub struct OutQueue {
    state: Mutex<State>,
    ready: Condvar,
    capacity: usize,
    /// Output bytes dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Output bytes queued.
    pub queued: AtomicU64,
}

struct State {
    replies: VecDeque<Reply>,
    bytes: usize,
    closed: bool,
}

impl OutQueue {
    pub fn new(capacity: usize) -> OutQueue {
        OutQueue {
            state: Mutex::new(State { replies: VecDeque::new(), bytes: 0, closed: false }),
            ready: Condvar::new(),
            capacity,
            dropped: AtomicU64::new(0),
            queued: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues handler output, or drops and counts it when the client is that far behind.
    pub fn output(&self, reply: Reply, len: usize) {
        let mut s = self.lock();
        if s.closed || s.bytes + len > self.capacity {
            self.dropped.fetch_add(len as u64, Ordering::Relaxed);
            return;
        }
        s.bytes += len;
        self.queued.fetch_add(len as u64, Ordering::Relaxed);
        s.replies.push_back(reply);
        self.ready.notify_one();
    }

    /// Queues a control reply (small, a few per session): never dropped.
    pub fn control(&self, reply: Reply) {
        let mut s = self.lock();
        if !s.closed {
            s.replies.push_back(reply);
            self.ready.notify_one();
        }
    }

    /// The next reply for the writer, with its output length; `None` once closed and empty.
    pub fn next(&self) -> Option<Reply> {
        let mut s = self.lock();
        loop {
            if let Some(r) = s.replies.pop_front() {
                if let Reply::Stdout(b) | Reply::Stderr(b) = &r {
                    s.bytes -= b.len();
                }
                return Some(r);
            }
            if s.closed {
                return None;
            }
            s = self.ready.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// No more replies: the writer ends once the queue is empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The client is gone: drop everything queued.
    pub fn abandon(&self) {
        let mut s = self.lock();
        s.closed = true;
        s.replies.clear();
        s.bytes = 0;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_past_the_bound_is_dropped_and_counted_control_is_not() {
        let q = OutQueue::new(10);
        q.output(Reply::Stdout(vec![1; 6]), 6);
        q.output(Reply::Stdout(vec![2; 6]), 6);
        q.control(Reply::Done);
        assert_eq!(q.dropped.load(Ordering::Relaxed), 6);
        assert!(matches!(q.next(), Some(Reply::Stdout(b)) if b == [1; 6]));
        // Room again once the writer took it.
        q.output(Reply::Stdout(vec![3; 6]), 6);
        q.close();
        assert!(matches!(q.next(), Some(Reply::Done)));
        assert!(matches!(q.next(), Some(Reply::Stdout(b)) if b == [3; 6]));
        assert!(q.next().is_none());
    }
}
