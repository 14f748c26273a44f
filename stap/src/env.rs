//! What the interpreter needs from its host: the current event and an output. The script
//! handler implements it over the guest SDK; tests implement it over plain data.

/// The current event's accessors and the session's output. The accessors fail with a
/// message (an argument the architecture does not pass in a register, memory that was not
/// captured, no current event in `begin`/`end`, …), which ends the session as a runtime
/// error with the script's position.
pub trait Env {
    fn pid(&self) -> Result<i64, String>;
    fn tid(&self) -> Result<i64, String>;
    fn uid(&self) -> Result<i64, String>;
    fn cpu(&self) -> Result<i64, String>;
    /// The probe point, SystemTap's spelling.
    fn pp(&self, out: &mut String) -> Result<(), String>;
    fn execname(&self, out: &mut String) -> Result<(), String>;
    fn probe_id(&self) -> Result<i64, String>;
    fn is_return(&self) -> Result<bool, String>;
    /// `target()`: the pid of `-c`'s command or of `--pid`, 0 without either.
    fn target(&self) -> i64;
    /// CLOCK_MONOTONIC at the hit (outside an event: at the last event seen).
    fn timestamp_ns(&self) -> Result<i64, String>;
    fn entry_timestamp_ns(&self) -> Result<i64, String>;
    fn latency_ns(&self) -> Result<i64, String>;
    /// The raw 64 bits of argument n (from 1); the interpreter narrows them.
    fn arg(&self, n: i64) -> Result<u64, String>;
    fn returnval(&self) -> Result<i64, String>;
    /// The return value as text, with the errno name for a negated errno.
    fn returnstr(&self, out: &mut String) -> Result<(), String>;
    fn register(&self, name: &str, unsigned: bool) -> Result<i64, String>;
    fn print_regs(&self, out: &mut String) -> Result<(), String>;
    /// The string at `addr` in user or kernel memory, from what was captured at the hit, at
    /// most `max` bytes.
    fn string(&self, user: bool, addr: u64, max: u32, out: &mut String) -> Result<(), String>;
    /// `size` bytes (1, 2, 4 or 8) at `addr`, little-endian, zero-extended.
    fn read(&self, user: bool, addr: u64, size: u8) -> Result<u64, String>;
    fn field(&self, name: &str) -> Result<i64, String>;
    fn field_string(&self, name: &str, out: &mut String) -> Result<(), String>;
    /// Appends to the session's output (the interpreter buffers its own text and hands it
    /// over in large pieces).
    fn print(&mut self, text: &str);
    /// `warn()`: a diagnostic line.
    fn warn(&mut self, text: &str);
    /// `exit()`: end the session after the current batch.
    fn exit(&mut self);
}
