//! The `wprobe:probe/context` imports: SystemTap's accessors over the current event.
//!
//! Every accessor reads the record the cursor stands on through `wprobe_common::EventRef`,
//! the same code the Rust SDK uses on the fast path, so both paths agree bit for bit.

use super::bindings::wprobe::probe::context::Host;
use super::bindings::wprobe::probe::types::{AccessError, Host as TypesHost};
use super::{Cursor, HandlerState};
use std::fmt::Write as _;
use wprobe_common::abi::AccessError as RawAccessError;
use wprobe_common::EventRef;

impl TypesHost for HandlerState {}

fn convert(e: RawAccessError, register: &str) -> AccessError {
    match e {
        RawAccessError::NoSuchArgument { n, .. } => AccessError::NoSuchArgument(n),
        RawAccessError::NoSuchRegister => AccessError::NoSuchRegister(register.to_owned()),
        RawAccessError::NotAReturnProbe => AccessError::NotAReturnProbe,
    }
}

impl HandlerState {
    #[inline]
    fn event(&self) -> Result<EventRef<'_>, AccessError> {
        self.current().ok_or(AccessError::NoCurrentEvent)
    }

    #[inline]
    fn arg<T>(&self, n: u32, f: impl FnOnce(u64) -> T) -> Result<T, AccessError> {
        self.event()?.arg(n).map(f).map_err(|e| convert(e, ""))
    }
}

impl Host for HandlerState {
    fn next(&mut self) -> bool {
        self.cursor = match self.cursor {
            Cursor::Before if self.batch_len > 0 => Cursor::At(0),
            Cursor::At(i) if i + 1 < self.batch_len => Cursor::At(i + 1),
            Cursor::Outside => Cursor::Outside,
            _ => Cursor::Done,
        };
        matches!(self.cursor, Cursor::At(_))
    }

    fn lost_events(&mut self) -> u64 {
        self.batch_lost
    }

    fn pid(&mut self) -> Result<u32, AccessError> {
        Ok(self.event()?.pid())
    }
    fn tid(&mut self) -> Result<u32, AccessError> {
        Ok(self.event()?.tid())
    }
    fn uid(&mut self) -> Result<u32, AccessError> {
        Ok(self.event()?.uid())
    }
    fn cpu(&mut self) -> Result<u32, AccessError> {
        Ok(self.event()?.cpu())
    }
    fn pp(&mut self) -> Result<String, AccessError> {
        let id = self.event()?.probe_id() as usize;
        // Batches only carry probe ids of the session's table (the events file reader and
        // the ring reader both check), so the lookup cannot miss.
        Ok(self.probes.get(id).map(|p| p.pp.clone()).unwrap_or_default())
    }
    fn execname(&mut self) -> Result<String, AccessError> {
        let mut s = String::new();
        let _ = self.event()?.execname_lossy(&mut s);
        Ok(s)
    }
    fn timestamp_ns(&mut self) -> Result<u64, AccessError> {
        Ok(self.event()?.timestamp_ns())
    }
    fn probe_id(&mut self) -> Result<u32, AccessError> {
        Ok(self.event()?.probe_id())
    }
    fn is_return(&mut self) -> Result<bool, AccessError> {
        Ok(self.event()?.is_return())
    }

    fn asmlinkage(&mut self) {
        // Arguments travel in registers on every architecture wprobe supports; noted only.
        self.asmlinkage = true;
    }
    fn int_arg(&mut self, n: u32) -> Result<i32, AccessError> {
        self.arg(n, |v| v as u32 as i32)
    }
    fn uint_arg(&mut self, n: u32) -> Result<u32, AccessError> {
        self.arg(n, |v| v as u32)
    }
    fn long_arg(&mut self, n: u32) -> Result<i64, AccessError> {
        self.arg(n, |v| v as i64)
    }
    fn ulong_arg(&mut self, n: u32) -> Result<u64, AccessError> {
        self.arg(n, |v| v)
    }
    fn longlong_arg(&mut self, n: u32) -> Result<i64, AccessError> {
        self.arg(n, |v| v as i64)
    }
    fn ulonglong_arg(&mut self, n: u32) -> Result<u64, AccessError> {
        self.arg(n, |v| v)
    }
    fn pointer_arg(&mut self, n: u32) -> Result<u64, AccessError> {
        self.arg(n, |v| v)
    }
    fn s32_arg(&mut self, n: u32) -> Result<i32, AccessError> {
        self.arg(n, |v| v as u32 as i32)
    }
    fn u32_arg(&mut self, n: u32) -> Result<u32, AccessError> {
        self.arg(n, |v| v as u32)
    }
    fn s64_arg(&mut self, n: u32) -> Result<i64, AccessError> {
        self.arg(n, |v| v as i64)
    }
    fn u64_arg(&mut self, n: u32) -> Result<u64, AccessError> {
        self.arg(n, |v| v)
    }

    fn returnval(&mut self) -> Result<i64, AccessError> {
        self.event()?.returnval().map_err(|e| convert(e, ""))
    }
    fn returnstr(&mut self) -> Result<String, AccessError> {
        let mut s = String::new();
        let _ = self.event()?.returnstr(&mut s).map_err(|e| convert(e, ""))?;
        Ok(s)
    }
    fn register(&mut self, name: String) -> Result<i64, AccessError> {
        self.event()?.register(&name).map_err(|e| convert(e, &name))
    }
    fn u_register(&mut self, name: String) -> Result<u64, AccessError> {
        self.event()?.u_register(&name).map_err(|e| convert(e, &name))
    }
    fn print_regs(&mut self) -> wasmtime::Result<Result<(), AccessError>> {
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

    fn printf(&mut self, text: String) -> wasmtime::Result<()> {
        self.output.stdout(text.as_bytes())?;
        Ok(())
    }
    fn warn(&mut self, text: String) -> wasmtime::Result<()> {
        let mut line = String::with_capacity(text.len() + 10);
        let _ = write!(line, "WARNING: {}", text.trim_end_matches('\n'));
        line.push('\n');
        self.output.stderr(line.as_bytes())?;
        Ok(())
    }
    fn exit(&mut self) {
        self.exit_requested = true;
    }
}
