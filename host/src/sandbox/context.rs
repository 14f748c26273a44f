//! The `wprobe:probe/context` imports: SystemTap's accessors over the current event.
//!
//! Every accessor reads the record the cursor stands on through `wprobe_common::EventRef`,
//! the same code the Rust SDK uses on the fast path, so both paths agree bit for bit.

use super::bindings::wprobe::probe::context::Host;
use super::bindings::wprobe::probe::types::{AccessError, Host as TypesHost, Uncaptured};
use super::{Cursor, HandlerState};
use wprobe_common::abi::AccessError as RawAccessError;
use wprobe_common::ext::{write_escaped, Space};
use wprobe_common::tracepoint::{field_int, field_str};
use wprobe_common::EventRef;

impl TypesHost for HandlerState {}

/// The most of an unknown register's name an access error hands back.
const REGISTER_NAME_CAP: usize = 64;

fn convert(e: RawAccessError, register: &str) -> AccessError {
    match e {
        RawAccessError::NoSuchArgument { n, .. } => AccessError::NoSuchArgument(n),
        // The name is the handler's own, possibly huge: hand back enough to recognise it.
        RawAccessError::NoSuchRegister => {
            AccessError::NoSuchRegister(super::output::cap_str(register, REGISTER_NAME_CAP))
        }
        RawAccessError::NotAReturnProbe => AccessError::NotAReturnProbe,
        RawAccessError::NotCaptured { addr, arg } => AccessError::NotCaptured(Uncaptured { addr, arg: arg.into() }),
        RawAccessError::Fault { addr } => AccessError::Fault(addr),
        RawAccessError::NoEntry => AccessError::NoEntry,
        RawAccessError::NotATracepoint => AccessError::NotATracepoint,
        RawAccessError::NoSuchField => AccessError::NoSuchField(register.to_owned()),
    }
}

/// A name the handler passed, cut to a length fit to hand back in an error.
fn capped(name: &str) -> &str {
    let mut end = name.len().min(256);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The longest string `kernel_string` and friends return without an explicit `n`: as long
/// as any capture can be.
const MAX_STRING: usize = 4096;

/// Trap raised when a context accessor is called where there is no event.
#[derive(Debug, thiserror::Error)]
#[error("{accessor}() was called outside an event (in init or end, before the first next() or after the last); it reads the current event")]
pub struct OutsideEvent {
    pub accessor: &'static str,
}

type Trappable<T> = wasmtime::Result<T>;

impl HandlerState {
    #[inline]
    fn event(&self) -> Result<EventRef<'_>, AccessError> {
        self.current().ok_or(AccessError::NoCurrentEvent)
    }

    /// The current event for a context accessor, which traps outside an event.
    #[inline]
    fn on_event(&self, accessor: &'static str) -> Trappable<EventRef<'_>> {
        self.current().ok_or_else(|| wasmtime::Error::new(OutsideEvent { accessor }))
    }

    #[inline]
    fn arg<T>(&self, n: u32, f: impl FnOnce(u64) -> T) -> Result<T, AccessError> {
        self.event()?.arg(n).map(f).map_err(|e| convert(e, ""))
    }

    fn string(&self, space: Space, addr: u64, max: usize) -> Result<String, AccessError> {
        let bytes = self.event()?.read_string(space, addr, max).map_err(|e| convert(e, ""))?;
        let mut s = String::with_capacity(bytes.len());
        let _ = write_escaped(bytes, &mut s);
        Ok(s)
    }

    fn bytes(&self, space: Space, addr: u64, n: u32) -> Result<Vec<u8>, AccessError> {
        let n = (n as usize).min(MAX_STRING);
        Ok(self.event()?.read(space, addr, n).map_err(|e| convert(e, ""))?.to_vec())
    }

    fn int<const N: usize>(&self, space: Space, addr: u64) -> Result<[u8; N], AccessError> {
        let b = self.event()?.read(space, addr, N).map_err(|e| convert(e, ""))?;
        Ok(b.try_into().expect("read gives N bytes"))
    }

    /// The current tracepoint event's field `name`, or the error that lists the fields.
    fn with_field<T>(
        &self,
        name: &str,
        read: impl FnOnce(&[u8], &crate::probe::FieldInfo) -> Option<T>,
    ) -> Result<T, AccessError> {
        let e = self.event()?;
        let raw = e.tracepoint_data().map_err(|e| convert(e, name))?;
        let probe = &self.probes[e.probe_id() as usize];
        let field = probe.field(name).ok_or_else(|| {
            AccessError::NoSuchField(format!("{:?} (the fields are: {})", capped(name), probe.field_names()))
        })?;
        read(raw, field).ok_or_else(|| {
            AccessError::NoSuchField(format!("{name:?} of that type (it is a {} of {} bytes)", field.kind, field.size))
        })
    }
}

impl Host for HandlerState {
    fn next(&mut self) -> Trappable<bool> {
        self.cursor = match self.cursor {
            Cursor::Before => self.record_at(0, wprobe_common::batch::BATCH_HEADER_SIZE),
            Cursor::At { index, offset, len } => self.record_at(index + 1, offset + len),
            Cursor::Outside => Cursor::Outside,
            Cursor::Done => Cursor::Done,
        };
        Ok(matches!(self.cursor, Cursor::At { .. }))
    }

    fn lost_events(&mut self) -> Trappable<u64> {
        Ok(self.batch_lost)
    }

    fn pid(&mut self) -> Trappable<u32> {
        Ok(self.on_event("pid")?.pid())
    }
    fn tid(&mut self) -> Trappable<u32> {
        Ok(self.on_event("tid")?.tid())
    }
    fn uid(&mut self) -> Trappable<u32> {
        Ok(self.on_event("uid")?.uid())
    }
    fn cpu(&mut self) -> Trappable<u32> {
        Ok(self.on_event("cpu")?.cpu())
    }
    fn pp(&mut self) -> Trappable<String> {
        let id = self.on_event("pp")?.probe_id() as usize;
        // Batches only carry probe ids of the session's table (the events file reader and
        // the ring reader both check), so the lookup cannot miss.
        Ok(self.probes.get(id).map(|p| p.pp.clone()).unwrap_or_default())
    }
    fn execname(&mut self) -> Trappable<String> {
        let mut s = String::new();
        let _ = self.on_event("execname")?.execname_lossy(&mut s);
        Ok(s)
    }
    fn timestamp_ns(&mut self) -> Trappable<u64> {
        Ok(self.on_event("timestamp_ns")?.timestamp_ns())
    }
    fn probe_id(&mut self) -> Trappable<u32> {
        Ok(self.on_event("probe_id")?.probe_id())
    }
    fn is_return(&mut self) -> Trappable<bool> {
        Ok(self.on_event("is_return")?.is_return())
    }

    fn asmlinkage(&mut self) -> Trappable<()> {
        // Arguments travel in registers on every architecture wprobe supports: nothing to do.
        Ok(())
    }
    fn int_arg(&mut self, n: u32) -> Trappable<Result<i32, AccessError>> {
        Ok(self.arg(n, |v| v as u32 as i32))
    }
    fn uint_arg(&mut self, n: u32) -> Trappable<Result<u32, AccessError>> {
        Ok(self.arg(n, |v| v as u32))
    }
    fn long_arg(&mut self, n: u32) -> Trappable<Result<i64, AccessError>> {
        Ok(self.arg(n, |v| v as i64))
    }
    fn ulong_arg(&mut self, n: u32) -> Trappable<Result<u64, AccessError>> {
        Ok(self.arg(n, |v| v))
    }
    fn longlong_arg(&mut self, n: u32) -> Trappable<Result<i64, AccessError>> {
        Ok(self.arg(n, |v| v as i64))
    }
    fn ulonglong_arg(&mut self, n: u32) -> Trappable<Result<u64, AccessError>> {
        Ok(self.arg(n, |v| v))
    }
    fn pointer_arg(&mut self, n: u32) -> Trappable<Result<u64, AccessError>> {
        Ok(self.arg(n, |v| v))
    }
    fn s32_arg(&mut self, n: u32) -> Trappable<Result<i32, AccessError>> {
        Ok(self.arg(n, |v| v as u32 as i32))
    }
    fn u32_arg(&mut self, n: u32) -> Trappable<Result<u32, AccessError>> {
        Ok(self.arg(n, |v| v as u32))
    }
    fn s64_arg(&mut self, n: u32) -> Trappable<Result<i64, AccessError>> {
        Ok(self.arg(n, |v| v as i64))
    }
    fn u64_arg(&mut self, n: u32) -> Trappable<Result<u64, AccessError>> {
        Ok(self.arg(n, |v| v))
    }

    fn returnval(&mut self) -> Trappable<Result<i64, AccessError>> {
        Ok(self.event().and_then(|e| e.returnval().map_err(|e| convert(e, ""))))
    }
    fn returnstr(&mut self) -> Trappable<Result<String, AccessError>> {
        Ok(self.event().and_then(|e| {
            let mut s = String::new();
            let _ = e.returnstr(&mut s).map_err(|e| convert(e, ""))?;
            Ok(s)
        }))
    }
    fn register(&mut self, name: String) -> Trappable<Result<i64, AccessError>> {
        Ok(self.event().and_then(|e| e.register(&name).map_err(|e| convert(e, &name))))
    }
    fn u_register(&mut self, name: String) -> Trappable<Result<u64, AccessError>> {
        Ok(self.event().and_then(|e| e.u_register(&name).map_err(|e| convert(e, &name))))
    }
    fn print_regs(&mut self) -> Trappable<Result<(), AccessError>> {
        let mut text = String::new();
        match self.event() {
            Ok(e) => {
                let _ = e.write_regs(&mut text);
            }
            Err(e) => return Ok(Err(e)),
        }
        self.output.stdout(text.as_bytes())?;
        Ok(Ok(()))
    }

    fn target(&mut self) -> Trappable<u32> {
        Ok(self.target)
    }

    fn syscall_name(&mut self, nr: u64) -> Trappable<Option<String>> {
        Ok(wprobe_common::syscalls::name(self.batch_arch, nr).map(str::to_owned))
    }

    fn entry_timestamp_ns(&mut self) -> Trappable<Result<u64, AccessError>> {
        Ok(self.event().and_then(|e| e.entry_timestamp_ns().map_err(|e| convert(e, ""))))
    }
    fn latency_ns(&mut self) -> Trappable<Result<u64, AccessError>> {
        Ok(self.event().and_then(|e| e.latency_ns().map_err(|e| convert(e, ""))))
    }

    fn kernel_string(&mut self, addr: u64) -> Trappable<Result<String, AccessError>> {
        Ok(self.string(Space::Kernel, addr, MAX_STRING))
    }
    fn kernel_string_n(&mut self, addr: u64, n: u32) -> Trappable<Result<String, AccessError>> {
        Ok(self.string(Space::Kernel, addr, n as usize))
    }
    fn user_string(&mut self, addr: u64) -> Trappable<Result<String, AccessError>> {
        Ok(self.string(Space::User, addr, MAX_STRING))
    }
    fn user_string_n(&mut self, addr: u64, n: u32) -> Trappable<Result<String, AccessError>> {
        Ok(self.string(Space::User, addr, n as usize))
    }
    fn kernel_bytes(&mut self, addr: u64, n: u32) -> Trappable<Result<Vec<u8>, AccessError>> {
        Ok(self.bytes(Space::Kernel, addr, n))
    }
    fn user_bytes(&mut self, addr: u64, n: u32) -> Trappable<Result<Vec<u8>, AccessError>> {
        Ok(self.bytes(Space::User, addr, n))
    }
    fn kernel_char(&mut self, addr: u64) -> Trappable<Result<i8, AccessError>> {
        Ok(self.int::<1>(Space::Kernel, addr).map(i8::from_le_bytes))
    }
    fn kernel_short(&mut self, addr: u64) -> Trappable<Result<i16, AccessError>> {
        Ok(self.int::<2>(Space::Kernel, addr).map(i16::from_le_bytes))
    }
    fn kernel_int(&mut self, addr: u64) -> Trappable<Result<i32, AccessError>> {
        Ok(self.int::<4>(Space::Kernel, addr).map(i32::from_le_bytes))
    }
    fn kernel_long(&mut self, addr: u64) -> Trappable<Result<i64, AccessError>> {
        Ok(self.int::<8>(Space::Kernel, addr).map(i64::from_le_bytes))
    }
    fn kernel_pointer(&mut self, addr: u64) -> Trappable<Result<u64, AccessError>> {
        Ok(self.int::<8>(Space::Kernel, addr).map(u64::from_le_bytes))
    }
    fn user_char(&mut self, addr: u64) -> Trappable<Result<i8, AccessError>> {
        Ok(self.int::<1>(Space::User, addr).map(i8::from_le_bytes))
    }
    fn user_short(&mut self, addr: u64) -> Trappable<Result<i16, AccessError>> {
        Ok(self.int::<2>(Space::User, addr).map(i16::from_le_bytes))
    }
    fn user_int(&mut self, addr: u64) -> Trappable<Result<i32, AccessError>> {
        Ok(self.int::<4>(Space::User, addr).map(i32::from_le_bytes))
    }
    fn user_long(&mut self, addr: u64) -> Trappable<Result<i64, AccessError>> {
        Ok(self.int::<8>(Space::User, addr).map(i64::from_le_bytes))
    }

    fn field(&mut self, name: String) -> Trappable<Result<i64, AccessError>> {
        Ok(self.with_field(&name, |raw, f| field_int(raw, &f.as_field()).ok().map(|v| v.as_i64())))
    }
    fn field_string(&mut self, name: String) -> Trappable<Result<String, AccessError>> {
        Ok(self.with_field(&name, |raw, f| {
            let bytes = field_str(raw, &f.as_field()).ok()?;
            let mut s = String::with_capacity(bytes.len());
            let _ = write_escaped(bytes, &mut s);
            Some(s)
        }))
    }

    fn printf(&mut self, text: String) -> Trappable<()> {
        self.output.stdout(text.as_bytes())?;
        Ok(())
    }
    fn warn(&mut self, text: String) -> Trappable<()> {
        self.output.warn(text)?;
        Ok(())
    }
    fn exit(&mut self) -> Trappable<()> {
        self.exit_requested = true;
        Ok(())
    }
}
