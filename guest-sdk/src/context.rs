//! The current event and SystemTap's accessors on it.
//!
//! On the flat path the current event is a view into the batch the host handed to
//! `handle-batch`, decoded with `wprobe_common::EventRef` (the host's own decoder), so an
//! accessor is a few loads: no import call, no allocation. On the cursor path each accessor
//! is one import call.

use crate::bindings::wprobe::probe::context as ctx;
use crate::error::AccessError;
use crate::text::ShortStr;
use crate::{host, output};
use core::cell::Cell;
use wprobe_common::ext::{write_escaped, Space};
use wprobe_common::tracepoint::{field_int, field_str, Field};
use wprobe_common::EventRef;

/// Where the accessors find the current event.
#[derive(Clone, Copy)]
pub(crate) enum Current {
    /// In `init`, `end`, or between events.
    None,
    /// Flat delivery. The `'static` is a lie told to the cell: the runtime clears it before
    /// the batch buffer it points into is dropped (see [`EventScope`]).
    Flat(EventRef<'static>),
    /// Cursor delivery: the host knows the event; ask it.
    Cursor,
}

/// One probe of the session, as `init` received it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The value [`probe_id()`] returns for this probe's events.
    pub id: u32,
    /// SystemTap's spelling of the probe point, as [`pp()`] returns it.
    pub pp: &'static str,
    /// True for return probes.
    pub is_return: bool,
    /// Tracepoint probes: the fields [`field`] reads; empty for other probes.
    pub fields: &'static [Field<'static>],
}

thread_local! {
    // Wasm guests are single-threaded: with const initializers these are plain statics there.
    static CURRENT: Cell<Current> = const { Cell::new(Current::None) };
    static INDEX: Cell<u32> = const { Cell::new(0) };
    // next() calls made this batch on the flat path: the host's cursor is on event HOST_NEXT - 1.
    static HOST_NEXT: Cell<u32> = const { Cell::new(0) };
    static LOST: Cell<u64> = const { Cell::new(0) };
    static PROBES: Cell<&'static [Probe]> = const { Cell::new(&[]) };
}

#[inline]
fn current() -> Current {
    CURRENT.with(Cell::get)
}

pub(crate) fn set_probes(probes: &'static [Probe]) {
    PROBES.with(|p| p.set(probes));
}

pub(crate) fn probes() -> &'static [Probe] {
    PROBES.with(Cell::get)
}

pub(crate) fn set_lost(lost: u64) {
    LOST.with(|l| l.set(lost));
}

/// Makes an event current for the duration of one `Handler::event` call, and guarantees that
/// no reference into the batch survives the batch, even if the handler unwinds.
pub(crate) struct EventScope(());

impl EventScope {
    pub(crate) fn new() -> Self {
        HOST_NEXT.with(|n| n.set(0));
        Self(())
    }

    /// # Safety
    /// `event` must stay valid until this scope is dropped or `set_flat` is called again.
    #[inline]
    pub(crate) unsafe fn set_flat(&mut self, index: u32, event: EventRef<'_>) {
        // SAFETY: the caller keeps the bytes alive while the cell holds them; `drop` clears it.
        let event: EventRef<'static> = unsafe { core::mem::transmute::<EventRef<'_>, EventRef<'static>>(event) };
        CURRENT.with(|c| c.set(Current::Flat(event)));
        INDEX.with(|i| i.set(index));
    }

    #[inline]
    pub(crate) fn set_cursor(&mut self, index: u32) {
        CURRENT.with(|c| c.set(Current::Cursor));
        INDEX.with(|i| i.set(index));
    }
}

impl Drop for EventScope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(Current::None));
    }
}

/// Puts the host's cursor on the current event: before an accessor that asks the host, and
/// before the handler fails, so that the host, which words every fault's position from the
/// batch it delivered ("event 3 of the batch: pp, pid, tid"), names this event. On the flat
/// path the host's cursor moves only when this is called (a cold path for most handlers).
/// Never panics: the panic hook uses it.
pub(crate) fn point_host_at_current() {
    if let Current::Flat(_) = current() {
        let index = INDEX.with(Cell::get);
        let mut moved = HOST_NEXT.with(Cell::get);
        while moved <= index {
            if !host::next() {
                break;
            }
            moved += 1;
        }
        HOST_NEXT.with(|n| n.set(moved));
    }
}

/// Before a generated accessor (wit_context.rs) that asks the host about the current event:
/// panics outside one, as the accessors the SDK answers itself do.
#[allow(dead_code)] // used by the generated accessors whose WIT result is infallible
#[track_caller]
pub(crate) fn host_event(name: &str) {
    if let Current::None = current() {
        outside(name)
    }
    point_host_at_current();
}

/// [`host_event`] for a fallible accessor: `no-current-event` outside an event.
#[allow(dead_code)] // used by the generated accessors whose WIT result is fallible
pub(crate) fn host_event_fallible() -> Result<(), AccessError> {
    if let Current::None = current() {
        return Err(AccessError::NoCurrentEvent);
    }
    point_host_at_current();
    Ok(())
}

fn pp_of(id: u32) -> &'static str {
    let probes = probes();
    // The host numbers probes 0..n in table order; search only if it did not.
    match probes.get(id as usize) {
        Some(p) if p.id == id => p.pp,
        _ => probes.iter().find(|p| p.id == id).map_or("<unknown probe>", |p| p.pp),
    }
}

#[cold]
#[track_caller]
fn outside(name: &str) -> ! {
    panic!("wprobe_sdk::{name}() called outside an event: accessors read the current event, in Handler::event")
}

macro_rules! header_accessor {
    ($(#[$doc:meta])* $name:ident -> $t:ty) => {
        $(#[$doc])*
        ///
        /// Panics outside an event (in `init` or `end`).
        #[inline]
        #[track_caller]
        pub fn $name() -> $t {
            match current() {
                Current::Flat(e) => e.$name(),
                Current::Cursor => ctx::$name(),
                Current::None => outside(stringify!($name)),
            }
        }
    };
}

header_accessor!(
    /// Process id: the thread-group id of the task that hit the probe.
    pid -> u32
);
header_accessor!(
    /// Thread id of that task.
    tid -> u32
);
header_accessor!(
    /// Real user id of that task.
    uid -> u32
);
header_accessor!(
    /// CPU the probe fired on.
    cpu -> u32
);
header_accessor!(
    /// CLOCK_MONOTONIC at the hit, in nanoseconds.
    timestamp_ns -> u64
);
header_accessor!(
    /// Index of the event's probe in the session's probe table ([`Session::probes`](crate::Session::probes)).
    probe_id -> u32
);
header_accessor!(
    /// True in a return probe.
    is_return -> bool
);

/// The probe point in SystemTap's spelling, `kprobe.function("tcp_v4_connect")`.
///
/// Looked up in the probe table `init` received, so it costs no import call or copy per event.
/// Panics outside an event.
#[inline]
#[track_caller]
pub fn pp() -> &'static str {
    pp_of(probe_id())
}

/// The task's command name as captured at the hit (up to 15 bytes; invalid UTF-8 becomes
/// U+FFFD). Panics outside an event.
#[track_caller]
pub fn execname() -> ShortStr {
    match current() {
        Current::Flat(e) => {
            let mut s = ShortStr::new();
            // Cannot fail: a ShortStr holds any lossy command name.
            let _ = e.execname_lossy(&mut s);
            s
        }
        Current::Cursor => ShortStr::from_str_truncating(&ctx::execname()),
        Current::None => outside("execname"),
    }
}

/// Events the kernel dropped (ring buffer full) before the current batch.
#[inline]
pub fn lost_events() -> u64 {
    LOST.with(Cell::get)
}

/// SystemTap's calling-convention hint. It matters on i386 only; on x86_64 and aarch64 it
/// changes nothing, so the SDK does not even tell the host.
#[inline]
pub fn asmlinkage() {}

macro_rules! arg_accessor {
    ($(#[$doc:meta])* $name:ident -> $t:ty = $decode:ident) => {
        $(#[$doc])*
        ///
        /// `n` counts from 1. Fails with [`AccessError::NoSuchArgument`] past the arguments the
        /// architecture passes in registers (x86_64: 6, aarch64: 8).
        #[inline]
        pub fn $name(n: u32) -> Result<$t, AccessError> {
            match current() {
                Current::Flat(e) => e.$decode(n).map_err(|e| AccessError::from_common(e, "")),
                Current::Cursor => ctx::$name(n).map_err(AccessError::from),
                Current::None => Err(AccessError::NoCurrentEvent),
            }
        }
    };
}

arg_accessor!(
    /// Argument `n` as a C `int`: the register's low 32 bits, signed.
    int_arg -> i32 = int_arg
);
arg_accessor!(
    /// Argument `n` as a C `unsigned int`: the low 32 bits.
    uint_arg -> u32 = uint_arg
);
arg_accessor!(
    /// Argument `n` as a C `long` (64 bits), signed.
    long_arg -> i64 = long_arg
);
arg_accessor!(
    /// Argument `n` as a C `unsigned long` (64 bits).
    ulong_arg -> u64 = ulong_arg
);
arg_accessor!(
    /// Argument `n` as a C `long long`, signed.
    longlong_arg -> i64 = long_arg
);
arg_accessor!(
    /// Argument `n` as a C `unsigned long long`.
    ulonglong_arg -> u64 = ulong_arg
);
arg_accessor!(
    /// Argument `n` as a pointer (64 bits).
    pointer_arg -> u64 = pointer_arg
);
arg_accessor!(
    /// Argument `n` as a signed 32-bit value.
    s32_arg -> i32 = int_arg
);
arg_accessor!(
    /// Argument `n` as an unsigned 32-bit value.
    u32_arg -> u32 = uint_arg
);
arg_accessor!(
    /// Argument `n` as a signed 64-bit value.
    s64_arg -> i64 = long_arg
);
arg_accessor!(
    /// Argument `n` as an unsigned 64-bit value.
    u64_arg -> u64 = ulong_arg
);

/// The return value register (rax, x0), signed. Return probes only.
#[inline]
pub fn returnval() -> Result<i64, AccessError> {
    match current() {
        Current::Flat(e) => e.returnval().map_err(|e| AccessError::from_common(e, "")),
        Current::Cursor => ctx::returnval().map_err(AccessError::from),
        Current::None => Err(AccessError::NoCurrentEvent),
    }
}

/// The return value as text: decimal, with the errno name for a negated errno,
/// `-111 (ECONNREFUSED)`. Return probes only.
pub fn returnstr() -> Result<ShortStr, AccessError> {
    match current() {
        Current::Flat(e) => {
            let mut s = ShortStr::new();
            // The inner fmt::Result cannot fail: a ShortStr holds any returnstr.
            let _ = e.returnstr(&mut s).map_err(|e| AccessError::from_common(e, ""))?;
            Ok(s)
        }
        Current::Cursor => ctx::returnstr().map(|s| ShortStr::from_str_truncating(&s)).map_err(AccessError::from),
        Current::None => Err(AccessError::NoCurrentEvent),
    }
}

/// A saved register by name, signed (32-bit names such as `eax`, `w0` sign-extended).
/// x86_64: `rax`..`r15`, `rip`, `rsp`, `rbp`, `eflags`, `orig_rax`, `cs`, `ss`, SystemTap's
/// aliases (`ax`, `ip`, `sp`, …) and 32-bit names; aarch64: `x0`..`x30`, `w0`..`w30`, `fp`,
/// `lr`, `sp`, `pc`, `pstate`. Case-insensitive.
#[inline]
pub fn register(name: &str) -> Result<i64, AccessError> {
    match current() {
        Current::Flat(e) => e.register(name).map_err(|e| AccessError::from_common(e, name)),
        Current::Cursor => ctx::register(name).map_err(AccessError::from),
        Current::None => Err(AccessError::NoCurrentEvent),
    }
}

/// [`register`], unsigned (32-bit names zero-extended).
#[inline]
pub fn u_register(name: &str) -> Result<u64, AccessError> {
    match current() {
        Current::Flat(e) => e.u_register(name).map_err(|e| AccessError::from_common(e, name)),
        Current::Cursor => ctx::u_register(name).map_err(AccessError::from),
        Current::None => Err(AccessError::NoCurrentEvent),
    }
}

/// Prints every saved register in SystemTap's `print_regs()` layout, in order with
/// `printf!` output.
pub fn print_regs() -> Result<(), AccessError> {
    match current() {
        Current::Flat(e) => {
            // Writing into a String cannot fail.
            let _ = output::with_buffer(|buf| e.write_regs(buf));
            Ok(())
        }
        Current::Cursor => {
            // The host prints the registers itself: pending printf! text goes first.
            output::flush();
            ctx::print_regs().map_err(AccessError::from)
        }
        Current::None => Err(AccessError::NoCurrentEvent),
    }
}

/// In a return probe: CLOCK_MONOTONIC at the paired entry. Fails with
/// [`AccessError::NoEntry`] when the entry was not seen.
pub fn entry_timestamp_ns() -> Result<u64, AccessError> {
    match current() {
        Current::Flat(e) => e.entry_timestamp_ns().map_err(|e| AccessError::from_common(e, "")),
        Current::Cursor => ctx::entry_timestamp_ns().map_err(AccessError::from),
        Current::None => Err(AccessError::NoCurrentEvent),
    }
}

/// In a return probe: nanoseconds from the paired entry to this return.
pub fn latency_ns() -> Result<u64, AccessError> {
    match current() {
        Current::Flat(e) => e.latency_ns().map_err(|e| AccessError::from_common(e, "")),
        Current::Cursor => ctx::latency_ns().map_err(AccessError::from),
        Current::None => Err(AccessError::NoCurrentEvent),
    }
}

/// The longest string the memory accessors return without an explicit `n`.
const MAX_STRING: u32 = 4096;

fn mem_string(space: Space, addr: u64, n: u32) -> Result<String, AccessError> {
    match current() {
        Current::Flat(e) => {
            let bytes = e.read_string(space, addr, n as usize).map_err(|e| AccessError::from_common(e, ""))?;
            let mut s = String::with_capacity(bytes.len());
            // Writing into a String cannot fail.
            let _ = write_escaped(bytes, &mut s);
            Ok(s)
        }
        Current::Cursor => match space {
            Space::Kernel => ctx::kernel_string_n(addr, n),
            Space::User => ctx::user_string_n(addr, n),
        }
        .map_err(AccessError::from),
        Current::None => Err(AccessError::NoCurrentEvent),
    }
}

fn mem_bytes(space: Space, addr: u64, n: u32) -> Result<Vec<u8>, AccessError> {
    match current() {
        Current::Flat(e) => e
            .read(space, addr, n.min(MAX_STRING) as usize)
            .map(<[u8]>::to_vec)
            .map_err(|e| AccessError::from_common(e, "")),
        Current::Cursor => match space {
            Space::Kernel => ctx::kernel_bytes(addr, n),
            Space::User => ctx::user_bytes(addr, n),
        }
        .map_err(AccessError::from),
        Current::None => Err(AccessError::NoCurrentEvent),
    }
}

fn mem_int<const N: usize>(space: Space, addr: u64) -> Result<[u8; N], AccessError> {
    let bytes = mem_bytes(space, addr, N as u32)?;
    Ok(bytes.try_into().expect("the host gives exactly the bytes asked for"))
}

/// The NUL-terminated string at kernel address `addr`, from the memory captured at the hit
/// (see [`Capture`](crate::Capture)); bytes that are not UTF-8 are shown as `\xNN`.
pub fn kernel_string(addr: u64) -> Result<String, AccessError> {
    mem_string(Space::Kernel, addr, MAX_STRING)
}
/// [`kernel_string`], at most `n` bytes.
pub fn kernel_string_n(addr: u64, n: u32) -> Result<String, AccessError> {
    mem_string(Space::Kernel, addr, n)
}
/// The NUL-terminated string at user address `addr`, from the memory captured at the hit.
pub fn user_string(addr: u64) -> Result<String, AccessError> {
    mem_string(Space::User, addr, MAX_STRING)
}
/// [`user_string`], at most `n` bytes.
pub fn user_string_n(addr: u64, n: u32) -> Result<String, AccessError> {
    mem_string(Space::User, addr, n)
}
/// `n` raw bytes of kernel memory at `addr`, from the memory captured at the hit.
pub fn kernel_bytes(addr: u64, n: u32) -> Result<Vec<u8>, AccessError> {
    mem_bytes(Space::Kernel, addr, n)
}
/// `n` raw bytes of user memory at `addr`, from the memory captured at the hit.
pub fn user_bytes(addr: u64, n: u32) -> Result<Vec<u8>, AccessError> {
    mem_bytes(Space::User, addr, n)
}

macro_rules! mem_int_accessor {
    ($($(#[$doc:meta])* $name:ident($space:ident) -> $t:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(addr: u64) -> Result<$t, AccessError> {
                mem_int::<{ core::mem::size_of::<$t>() }>(Space::$space, addr).map(<$t>::from_le_bytes)
            }
        )*
    };
}

mem_int_accessor! {
    /// A C `char` at kernel address `addr`, from the captured memory.
    kernel_char(Kernel) -> i8;
    /// A C `short` at kernel address `addr`.
    kernel_short(Kernel) -> i16;
    /// A C `int` at kernel address `addr`.
    kernel_int(Kernel) -> i32;
    /// A C `long` at kernel address `addr`.
    kernel_long(Kernel) -> i64;
    /// A pointer at kernel address `addr`.
    kernel_pointer(Kernel) -> u64;
    /// A C `char` at user address `addr`.
    user_char(User) -> i8;
    /// A C `short` at user address `addr`.
    user_short(User) -> i16;
    /// A C `int` at user address `addr`.
    user_int(User) -> i32;
    /// A C `long` at user address `addr`.
    user_long(User) -> i64;
}

/// The current tracepoint event's field table entry `name` and the record's bytes.
fn flat_field(e: EventRef<'static>, name: &str) -> Result<(&'static [u8], &'static Field<'static>), AccessError> {
    let raw = e.tracepoint_data().map_err(|e| AccessError::from_common(e, name))?;
    let fields = probes().get(e.probe_id() as usize).map_or(&[][..], |p| p.fields);
    match fields.iter().find(|f| f.name == name) {
        Some(f) => Ok((raw, f)),
        None => {
            let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
            let shown = &name[..name.floor_char_boundary(256)];
            Err(AccessError::NoSuchField(format!("{shown:?} (the fields are: {})", names.join(", "))))
        }
    }
}

fn wrong_type(name: &str, f: &Field<'_>) -> AccessError {
    AccessError::NoSuchField(format!("{name:?} of that type (it is a {} of {} bytes)", f.kind, f.size))
}

/// A tracepoint's integer field, signed as its format says (an unsigned value above
/// `i64::MAX` wraps: use `as u64`).
pub fn field(name: &str) -> Result<i64, AccessError> {
    match current() {
        Current::Flat(e) => {
            let (raw, f) = flat_field(e, name)?;
            field_int(raw, f).map(|v| v.as_i64()).map_err(|_| wrong_type(name, f))
        }
        Current::Cursor => ctx::field(name).map_err(AccessError::from),
        Current::None => Err(AccessError::NoCurrentEvent),
    }
}

/// A tracepoint's string field (`char[N]`, `__data_loc char[]`).
pub fn field_string(name: &str) -> Result<String, AccessError> {
    match current() {
        Current::Flat(e) => {
            let (raw, f) = flat_field(e, name)?;
            let bytes = field_str(raw, f).map_err(|_| wrong_type(name, f))?;
            let mut s = String::with_capacity(bytes.len());
            let _ = write_escaped(bytes, &mut s);
            Ok(s)
        }
        Current::Cursor => ctx::field_string(name).map_err(AccessError::from),
        Current::None => Err(AccessError::NoCurrentEvent),
    }
}

/// Ends the session after the current batch, as SystemTap's `exit()`: the end hook runs and
/// wprobe exits with status 0. The handler keeps running until it returns.
pub fn exit() {
    output::flush();
    host::exit();
}
