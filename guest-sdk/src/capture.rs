//! Memory to take at each hit: declared in `init`, taken by wprobe's eBPF program, read back
//! in `event` with [`kernel_string`](crate::kernel_string), [`user_string`](crate::user_string)
//! and the other memory accessors.
//!
//! A handler cannot read kernel or user memory itself: it runs later, in a sandbox, when the
//! memory has changed. So it says *what* to read, as data, and the kernel side reads it at the
//! hit:
//!
//! ```ignore
//! fn init(session: &Session) -> Result<Self, String> {
//!     // openat(dfd, filename, flags, mode): the file name, a user-space string.
//!     session.capture(Capture::user_string(Base::Arg(2), 256));
//!     Ok(Opensnoop)
//! }
//! ```

use crate::bindings::wprobe::probe::types as wit;

/// Where a capture's address starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// Argument n (from 1): the syscall's for syscall probes, the entry's in a return probe.
    Arg(u32),
    /// A register by name (`"rdi"`, `"x0"`).
    Register(String),
    /// The return value (return probes; read at the return).
    ReturnValue,
    /// A tracepoint field holding a pointer.
    Field(String),
}

/// One capture: `base + offset`, then for each [`deref`](Capture::deref) `*(u64 *)addr + d`,
/// then a string or bytes there. At most 8 a probe, 4 derefs, 4096 bytes each, 4096 bytes of
/// captures per event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    probe: Option<u32>,
    base: Base,
    offset: i64,
    derefs: Vec<i64>,
    string: bool,
    size: u32,
    user: bool,
    at_return: bool,
}

impl Capture {
    fn new(base: Base, size: u32, string: bool, user: bool) -> Self {
        Self { probe: None, base, offset: 0, derefs: Vec::new(), string, size, user, at_return: false }
    }
    /// A NUL-terminated user-space string of at most `max - 1` bytes.
    pub fn user_string(base: Base, max: u32) -> Self {
        Self::new(base, max, true, true)
    }
    /// A NUL-terminated kernel string of at most `max - 1` bytes.
    pub fn kernel_string(base: Base, max: u32) -> Self {
        Self::new(base, max, true, false)
    }
    /// Exactly `n` bytes of user memory.
    pub fn user_bytes(base: Base, n: u32) -> Self {
        Self::new(base, n, false, true)
    }
    /// Exactly `n` bytes of kernel memory.
    pub fn kernel_bytes(base: Base, n: u32) -> Self {
        Self::new(base, n, false, false)
    }
    /// Adds `offset` to the address (a field of the struct the base points to).
    pub fn offset(mut self, offset: i64) -> Self {
        self.offset = offset;
        self
    }
    /// Follows the pointer at the address so far, then adds `offset`.
    pub fn deref(mut self, offset: i64) -> Self {
        self.derefs.push(offset);
        self
    }
    /// Only for the probe with this id (by default: every probe).
    pub fn probe(mut self, id: u32) -> Self {
        self.probe = Some(id);
        self
    }
    /// Return probes: read at the return, not at the entry (an output buffer is filled only
    /// by then). Entry probes ignore it.
    pub fn at_return(mut self) -> Self {
        self.at_return = true;
        self
    }

    pub(crate) fn to_wit(&self) -> wit::Capture {
        wit::Capture {
            probe: self.probe,
            base: match &self.base {
                Base::Arg(n) => wit::CaptureBase::Arg(*n),
                Base::Register(r) => wit::CaptureBase::Register(r.clone()),
                Base::ReturnValue => wit::CaptureBase::Returnval,
                Base::Field(f) => wit::CaptureBase::Field(f.clone()),
            },
            offset: self.offset,
            derefs: self.derefs.clone(),
            kind: if self.string { wit::CaptureKind::String } else { wit::CaptureKind::Bytes },
            size: self.size,
            space: if self.user { wit::AddressSpace::User } else { wit::AddressSpace::Kernel },
            at: if self.at_return { wit::CaptureTime::Return } else { wit::CaptureTime::Entry },
        }
    }
}
