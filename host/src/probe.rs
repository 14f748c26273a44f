//! The session's probe table: what `pp()` says for each probe id, and what each probe's
//! events carry besides the registers.

use wprobe_common::tracepoint::{Field, FieldKind};

/// One attached (or recorded) probe. Its index in the session's table is its probe id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeInfo {
    /// SystemTap's spelling of the probe point: `kprobe.function("tcp_v4_connect")`,
    /// `kprobe.function("tcp_v4_connect").return`, `process("/bin/x").function("f")`,
    /// `nd_syscall.openat`, `kernel.trace("sched:sched_process_exec")`.
    pub pp: String,
    /// True for return probes.
    pub is_return: bool,
    /// Tracepoint probes: the fields of the tracepoint's record (from its `format` file),
    /// which `field(name)` reads; empty for every other probe.
    pub fields: Vec<FieldInfo>,
}

impl ProbeInfo {
    pub fn new(pp: impl Into<String>, is_return: bool) -> Self {
        Self { pp: pp.into(), is_return, fields: Vec::new() }
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&FieldInfo> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The field names, comma-separated, for error messages.
    pub fn field_names(&self) -> String {
        self.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// One field of a tracepoint's record, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    pub name: String,
    pub offset: u16,
    pub size: u16,
    pub kind: FieldKind,
}

impl FieldInfo {
    /// The borrowed form the shared decoders take.
    pub fn as_field(&self) -> Field<'_> {
        Field { name: &self.name, offset: self.offset, size: self.size, kind: self.kind }
    }
}

/// Memory a handler asked to take at each hit (the WIT `capture`), before it is checked
/// against the probes (`live::captures` does that).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureSpec {
    /// The probe id it applies to; `None` for every probe.
    pub probe: Option<u32>,
    pub base: CaptureBase,
    pub offset: i64,
    /// Each: `addr = *(u64 *)addr + d`.
    pub derefs: Vec<i64>,
    /// A NUL-terminated string of at most `size - 1` bytes, or exactly `size` bytes.
    pub string: bool,
    pub size: u32,
    pub space: wprobe_common::ext::Space,
    /// Return probes: take it at the entry (the default) rather than at the return.
    pub at_entry: bool,
}

/// Where a capture's address comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureBase {
    /// Argument n, from 1.
    Arg(u32),
    Register(String),
    ReturnValue,
    /// A tracepoint field.
    Field(String),
}

impl std::fmt::Display for CaptureSpec {
    /// SystemTap-like: `user_string(pointer_arg(2))`, `kernel_bytes(*(field("skb")+16)+8, 16)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let space = match self.space {
            wprobe_common::ext::Space::Kernel => "kernel",
            wprobe_common::ext::Space::User => "user",
        };
        let mut addr = match &self.base {
            CaptureBase::Arg(n) => format!("pointer_arg({n})"),
            CaptureBase::Register(r) => format!("u_register({r:?})"),
            CaptureBase::ReturnValue => "returnval()".to_string(),
            CaptureBase::Field(name) => format!("field({name:?})"),
        };
        if self.offset != 0 {
            addr = format!("{addr}{:+}", self.offset);
        }
        for d in &self.derefs {
            addr = if *d != 0 { format!("*({addr}){d:+}") } else { format!("*({addr})") };
        }
        if self.string {
            write!(f, "{space}_string_n({addr}, {})", self.size)
        } else {
            write!(f, "{space}_bytes({addr}, {})", self.size)
        }
    }
}
