//! The `wprobe:probe/context` imports: SystemTap's accessors over the current event.
//!
//! Every accessor reads the record the cursor stands on through `wprobe_common::EventRef`,
//! the same code the Rust SDK uses on the fast path, so both paths agree bit for bit.

use super::bindings::wprobe::probe::context::Host;
use super::bindings::wprobe::probe::types::{AccessError, Host as TypesHost};
use super::{Cursor, HandlerState};
use wprobe_common::abi::AccessError as RawAccessError;
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
    }
}

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
}

impl Host for HandlerState {
    fn next(&mut self) -> Trappable<bool> {
        self.cursor = match self.cursor {
            Cursor::Before if self.batch_len > 0 => Cursor::At(0),
            Cursor::At(i) if i + 1 < self.batch_len => Cursor::At(i + 1),
            Cursor::Outside => Cursor::Outside,
            _ => Cursor::Done,
        };
        Ok(matches!(self.cursor, Cursor::At(_)))
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
