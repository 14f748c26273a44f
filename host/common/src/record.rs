//! One event record: a fixed 48-byte header followed by the raw register snapshot.
//!
//! ```text
//! offset  size  field
//!      0     4  probe_id      index into the session's probe table
//!      4     4  flags         bit 0: return probe (kretprobe / uretprobe)
//!      8     4  pid           thread-group id (SystemTap's pid())
//!     12     4  tid           thread id
//!     16     4  uid           real uid of the task
//!     20     4  cpu           CPU the probe fired on
//!     24     8  timestamp_ns  CLOCK_MONOTONIC at the hit (bpf_ktime_get_ns)
//!     32    16  comm          task command name, NUL-padded
//!     48  8*N   regs          the architecture's snapshot, N = Arch::nregs()
//!      …     …  extension     only with FLAG_EXT: entry values, captures, tracepoint data
//!                             (layout in [`crate::ext`])
//! ```
//!
//! All integers are little-endian. The eBPF program writes exactly these bytes into the ring
//! buffer, the host copies them unchanged into batches and events files, and guests read them
//! in place.

use crate::abi::{self, AccessError, Arch};
use crate::errno;
use crate::ext::{self, Ext, Space};
use core::fmt;

/// Flag bit: the event comes from a return probe.
pub const FLAG_RETURN: u32 = 1;
/// Flag bit: an extension area follows the registers ([`crate::ext`]).
pub const FLAG_EXT: u32 = 2;
/// Every flag bit this version defines; decoders refuse others.
pub const KNOWN_FLAGS: u32 = FLAG_RETURN | FLAG_EXT;

/// Size of [`EventHeader`] in bytes.
pub const HEADER_SIZE: usize = 48;

// Byte offsets of the header's fields (the table above).
pub const OFF_PROBE_ID: usize = 0;
pub const OFF_FLAGS: usize = 4;
pub const OFF_PID: usize = 8;
pub const OFF_TID: usize = 12;
pub const OFF_UID: usize = 16;
pub const OFF_CPU: usize = 20;
pub const OFF_TIMESTAMP: usize = 24;
pub const OFF_COMM: usize = 32;
/// Where the register snapshot starts.
pub const OFF_REGS: usize = HEADER_SIZE;
/// Length of the command name field (the kernel's TASK_COMM_LEN).
pub const COMM_LEN: usize = 16;

/// The header as the eBPF program fills it in. `#[repr(C)]` with no padding, so its bytes
/// are the layout above on a little-endian machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct EventHeader {
    pub probe_id: u32,
    pub flags: u32,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub cpu: u32,
    pub timestamp_ns: u64,
    pub comm: [u8; COMM_LEN],
}

const _: () = assert!(core::mem::size_of::<EventHeader>() == HEADER_SIZE);

impl EventHeader {
    /// The header's bytes in the record layout.
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        b[OFF_PROBE_ID..OFF_PROBE_ID + 4].copy_from_slice(&self.probe_id.to_le_bytes());
        b[OFF_FLAGS..OFF_FLAGS + 4].copy_from_slice(&self.flags.to_le_bytes());
        b[OFF_PID..OFF_PID + 4].copy_from_slice(&self.pid.to_le_bytes());
        b[OFF_TID..OFF_TID + 4].copy_from_slice(&self.tid.to_le_bytes());
        b[OFF_UID..OFF_UID + 4].copy_from_slice(&self.uid.to_le_bytes());
        b[OFF_CPU..OFF_CPU + 4].copy_from_slice(&self.cpu.to_le_bytes());
        b[OFF_TIMESTAMP..OFF_TIMESTAMP + 8].copy_from_slice(&self.timestamp_ns.to_le_bytes());
        b[OFF_COMM..OFF_COMM + COMM_LEN].copy_from_slice(&self.comm);
        b
    }
}

/// Size of the fixed part of a record of `arch` (header and registers): the whole record
/// unless it carries an extension area.
pub const fn record_size(arch: Arch) -> usize {
    HEADER_SIZE + 8 * arch.nregs()
}

/// The length of the record at the start of `bytes`, from its flags and extension header;
/// `None` when `bytes` is too short to hold it.
pub fn record_len(arch: Arch, bytes: &[u8]) -> Option<usize> {
    let base = record_size(arch);
    let flags = u32::from_le_bytes(bytes.get(OFF_FLAGS..OFF_FLAGS + 4)?.try_into().ok()?);
    if flags & FLAG_EXT == 0 {
        return (bytes.len() >= base).then_some(base);
    }
    Some(base + Ext::size_at(bytes.get(base..)?)?)
}

/// A read-only view of one record. Every SystemTap accessor is a method here, so the host
/// and the guest SDK share one implementation of the calling convention.
#[derive(Clone, Copy)]
pub struct EventRef<'a> {
    arch: Arch,
    bytes: &'a [u8],
    ext: Ext<'a>,
}

impl<'a> EventRef<'a> {
    /// Wraps `bytes`, which must be exactly one record: [`record_size`]`(arch)` bytes, plus a
    /// well-formed extension area when the flags say there is one.
    pub fn new(arch: Arch, bytes: &'a [u8]) -> Option<Self> {
        let base = record_size(arch);
        let flags = u32::from_le_bytes(bytes.get(OFF_FLAGS..OFF_FLAGS + 4)?.try_into().ok()?);
        let ext = if flags & FLAG_EXT != 0 {
            Ext::parse(bytes.get(base..)?).ok()?
        } else if bytes.len() == base {
            Ext::default()
        } else {
            return None;
        };
        Some(Self { arch, bytes, ext })
    }

    /// The extension area (empty for a record without one).
    pub fn ext(&self) -> Ext<'a> {
        self.ext
    }

    #[inline]
    fn u32_at(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.bytes[off..off + 4].try_into().unwrap())
    }

    #[inline]
    fn u64_at(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.bytes[off..off + 8].try_into().unwrap())
    }

    pub fn arch(&self) -> Arch {
        self.arch
    }
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn probe_id(&self) -> u32 {
        self.u32_at(OFF_PROBE_ID)
    }
    pub fn flags(&self) -> u32 {
        self.u32_at(OFF_FLAGS)
    }
    pub fn is_return(&self) -> bool {
        self.flags() & FLAG_RETURN != 0
    }
    pub fn pid(&self) -> u32 {
        self.u32_at(OFF_PID)
    }
    pub fn tid(&self) -> u32 {
        self.u32_at(OFF_TID)
    }
    pub fn uid(&self) -> u32 {
        self.u32_at(OFF_UID)
    }
    pub fn cpu(&self) -> u32 {
        self.u32_at(OFF_CPU)
    }
    pub fn timestamp_ns(&self) -> u64 {
        self.u64_at(OFF_TIMESTAMP)
    }
    /// The command name without its NUL padding.
    pub fn comm(&self) -> &'a [u8] {
        let raw = &self.bytes[OFF_COMM..OFF_COMM + COMM_LEN];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
        &raw[..end]
    }
    /// The command name as text (the kernel does not promise UTF-8; invalid bytes become
    /// U+FFFD in `execname()`, see [`EventRef::execname_lossy`]).
    pub fn execname_lossy(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        for chunk in self.comm().utf8_chunks() {
            out.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                out.write_char(char::REPLACEMENT_CHARACTER)?;
            }
        }
        Ok(())
    }

    /// Register slot `i` of the snapshot.
    #[inline]
    pub fn reg(&self, slot: usize) -> u64 {
        self.u64_at(OFF_REGS + 8 * slot)
    }

    /// All register slots, in the kernel's order.
    pub fn regs(&self) -> impl Iterator<Item = u64> + 'a {
        self.bytes[OFF_REGS..].chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()))
    }

    /// Argument `n` (from 1) as the raw 64-bit register value. In a return probe the
    /// argument registers are clobbered by the time the function returns, so this reads the
    /// paired entry's snapshot (SystemTap's `@entry`), or fails with
    /// [`AccessError::NoEntry`] when the entry was not seen.
    #[inline]
    pub fn arg(&self, n: u32) -> Result<u64, AccessError> {
        let slot = self.arch.arg_slot(n)?;
        if !self.is_return() {
            return Ok(self.reg(slot));
        }
        let (_, regs) = self.entry().ok_or(AccessError::NoEntry)?;
        Ok(u64::from_le_bytes(regs[8 * slot..8 * slot + 8].try_into().unwrap()))
    }

    /// A return probe's paired entry: its timestamp and its register snapshot's bytes.
    pub fn entry(&self) -> Option<(u64, &'a [u8])> {
        let item = self.ext.find(ext::KIND_ENTRY)?;
        let regs = item.data.get(8..8 + 8 * self.arch.nregs())?;
        Some((u64::from_le_bytes(item.data[..8].try_into().unwrap()), regs))
    }

    /// When the paired entry hit, CLOCK_MONOTONIC ns. Return probes only.
    pub fn entry_timestamp_ns(&self) -> Result<u64, AccessError> {
        if !self.is_return() {
            return Err(AccessError::NotAReturnProbe);
        }
        self.entry().map(|(ts, _)| ts).ok_or(AccessError::NoEntry)
    }

    /// Time from the paired entry to this return, in ns. Return probes only.
    pub fn latency_ns(&self) -> Result<u64, AccessError> {
        Ok(self.timestamp_ns().saturating_sub(self.entry_timestamp_ns()?))
    }

    /// The tracepoint's raw record (tracepoint probes only).
    pub fn tracepoint_data(&self) -> Result<&'a [u8], AccessError> {
        self.ext.find(ext::KIND_TRACEPOINT).map(|i| i.data).ok_or(AccessError::NotATracepoint)
    }

    /// `len` bytes of `space` memory at `addr`, from the regions captured at the hit.
    pub fn read(&self, space: Space, addr: u64, len: usize) -> Result<&'a [u8], AccessError> {
        let end = addr.checked_add(len as u64).ok_or(AccessError::NotCaptured { addr, arg: 0 })?;
        let rest = self.captured_from(space, addr, |item_end| end <= item_end)?;
        Ok(&rest[..len])
    }

    /// The NUL-terminated string at `addr`, at most `max` bytes (without the NUL), from the
    /// captured regions. A region captured as a string ends where the string ended.
    pub fn read_string(&self, space: Space, addr: u64, max: usize) -> Result<&'a [u8], AccessError> {
        // An empty string captured at `addr` (ending right there) is still an answer.
        let rest = self.captured_from(space, addr, |_| true)?;
        let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len()).min(max);
        Ok(&rest[..len])
    }

    /// The captured bytes from `addr` to the end of the first region of `space` that holds
    /// `addr` and whose end `fits`; a faulted capture of `addr` is the fault.
    fn captured_from(&self, space: Space, addr: u64, fits: impl Fn(u64) -> bool) -> Result<&'a [u8], AccessError> {
        for item in self.ext.iter().filter(|i| i.kind == ext::KIND_CAPTURE && i.space == space.code()) {
            if item.status == ext::STATUS_FAULT {
                if item.addr == addr {
                    return Err(AccessError::Fault { addr });
                }
                continue;
            }
            let item_end = item.addr + item.data.len() as u64;
            if addr >= item.addr && addr <= item_end && fits(item_end) {
                return Ok(&item.data[(addr - item.addr) as usize..]);
            }
        }
        Err(self.not_captured(addr))
    }

    /// Names the argument that held `addr`, so the error can say which capture to declare.
    fn not_captured(&self, addr: u64) -> AccessError {
        let arg = (1..=self.arch.arg_slots().len() as u32).find(|&n| self.arg(n) == Ok(addr)).unwrap_or(0);
        AccessError::NotCaptured { addr, arg: arg as u8 }
    }

    /// `int_arg(n)`: the low 32 bits, signed.
    pub fn int_arg(&self, n: u32) -> Result<i32, AccessError> {
        self.arg(n).map(|v| v as u32 as i32)
    }
    /// `uint_arg(n)`: the low 32 bits, unsigned.
    pub fn uint_arg(&self, n: u32) -> Result<u32, AccessError> {
        self.arg(n).map(|v| v as u32)
    }
    /// `long_arg(n)`: a C `long`, 64 bits on every supported architecture, signed.
    pub fn long_arg(&self, n: u32) -> Result<i64, AccessError> {
        self.arg(n).map(|v| v as i64)
    }
    /// `ulong_arg(n)`: a C `unsigned long`, 64 bits.
    pub fn ulong_arg(&self, n: u32) -> Result<u64, AccessError> {
        self.arg(n)
    }
    /// `pointer_arg(n)`: a pointer, 64 bits.
    pub fn pointer_arg(&self, n: u32) -> Result<u64, AccessError> {
        self.arg(n)
    }

    /// `returnval()`: the integer return register, signed. Only in return probes.
    pub fn returnval(&self) -> Result<i64, AccessError> {
        if !self.is_return() {
            return Err(AccessError::NotAReturnProbe);
        }
        Ok(self.reg(self.arch.return_slot()) as i64)
    }

    /// `returnstr()`: the return value in decimal, with the errno name appended when the
    /// value looks like a negated errno, as SystemTap's `returnstr(1)` prints it.
    pub fn returnstr(&self, out: &mut dyn fmt::Write) -> Result<fmt::Result, AccessError> {
        let v = self.returnval()?;
        Ok(match errno::name_of_negated(v) {
            Some(name) => write!(out, "{v} ({name})"),
            None => write!(out, "{v}"),
        })
    }

    /// `u_register(name)`: the register, unsigned; 32-bit names are zero-extended.
    pub fn u_register(&self, name: &str) -> Result<u64, AccessError> {
        let r = self.arch.register(name)?;
        let v = self.reg(r.slot);
        Ok(if r.low32 { v as u32 as u64 } else { v })
    }

    /// `register(name)`: the register, signed; 32-bit names are sign-extended.
    pub fn register(&self, name: &str) -> Result<i64, AccessError> {
        let r = self.arch.register(name)?;
        let v = self.reg(r.slot);
        Ok(if r.low32 { v as u32 as i32 as i64 } else { v as i64 })
    }

    /// `print_regs()` output.
    pub fn write_regs(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut regs = [0u64; abi::MAX_REGS];
        for (dst, v) in regs.iter_mut().zip(self.regs()) {
            *dst = v;
        }
        abi::write_regs(self.arch, &regs[..self.arch.nregs()], out)
    }
}

impl fmt::Debug for EventRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRef")
            .field("arch", &self.arch)
            .field("probe_id", &self.probe_id())
            .field("flags", &self.flags())
            .field("pid", &self.pid())
            .field("tid", &self.tid())
            .field("cpu", &self.cpu())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::x86_64;

    fn record(arch: Arch, flags: u32, regs: &[(usize, u64)]) -> [u8; 320] {
        let mut b = [0u8; 320];
        let h = EventHeader {
            probe_id: 3,
            flags,
            pid: 100,
            tid: 101,
            uid: 1000,
            cpu: 2,
            timestamp_ns: 123_456_789,
            comm: *b"curl\0\0\0\0\0\0\0\0\0\0\0\0",
        };
        b[..HEADER_SIZE].copy_from_slice(&h.to_bytes());
        for &(slot, v) in regs {
            b[HEADER_SIZE + 8 * slot..HEADER_SIZE + 8 * slot + 8].copy_from_slice(&v.to_le_bytes());
        }
        let _ = arch;
        b
    }

    #[test]
    fn header_fields_round_trip() {
        let b = record(Arch::X86_64, 0, &[]);
        let e = EventRef::new(Arch::X86_64, &b[..record_size(Arch::X86_64)]).unwrap();
        assert_eq!(
            (e.probe_id(), e.pid(), e.tid(), e.uid(), e.cpu(), e.timestamp_ns()),
            (3, 100, 101, 1000, 2, 123_456_789)
        );
        assert_eq!(e.comm(), b"curl");
        assert!(!e.is_return());
        assert!(EventRef::new(Arch::X86_64, &b[..100]).is_none());
    }

    #[test]
    fn typed_arguments_truncate_and_extend_like_systemtap() {
        let b = record(
            Arch::X86_64,
            0,
            &[(x86_64::RDI, 0xffff_ffff_ffff_fff6), (x86_64::RSI, 0x1234_5678_8000_0000), (x86_64::RDX, 16)],
        );
        let e = EventRef::new(Arch::X86_64, &b[..record_size(Arch::X86_64)]).unwrap();
        assert_eq!(e.int_arg(1), Ok(-10));
        assert_eq!(e.uint_arg(1), Ok(0xffff_fff6));
        assert_eq!(e.long_arg(1), Ok(-10));
        assert_eq!(e.ulong_arg(1), Ok(0xffff_ffff_ffff_fff6));
        assert_eq!(e.int_arg(2), Ok(i32::MIN));
        assert_eq!(e.uint_arg(2), Ok(0x8000_0000));
        assert_eq!(e.pointer_arg(2), Ok(0x1234_5678_8000_0000));
        assert_eq!(e.uint_arg(3), Ok(16));
        assert_eq!(e.arg(7), Err(AccessError::NoSuchArgument { n: 7, max: 6 }));
    }

    #[test]
    fn return_value_only_in_return_probes() {
        let entry = record(Arch::X86_64, 0, &[(x86_64::RAX, (-2i64) as u64)]);
        let e = EventRef::new(Arch::X86_64, &entry[..record_size(Arch::X86_64)]).unwrap();
        assert_eq!(e.returnval(), Err(AccessError::NotAReturnProbe));

        let ret = record(Arch::X86_64, FLAG_RETURN, &[(x86_64::RAX, (-2i64) as u64)]);
        let e = EventRef::new(Arch::X86_64, &ret[..record_size(Arch::X86_64)]).unwrap();
        assert_eq!(e.returnval(), Ok(-2));
        let mut s = Str::default();
        e.returnstr(&mut s).unwrap().unwrap();
        assert_eq!(s.as_str(), "-2 (ENOENT)");
    }

    #[test]
    fn aarch64_return_is_x0_and_w_registers_sign_extend() {
        let b = record(Arch::Aarch64, FLAG_RETURN, &[(0, 0x0000_0001_ffff_ffff), (31, 0x7fff_0000)]);
        let e = EventRef::new(Arch::Aarch64, &b).unwrap();
        assert_eq!(e.returnval(), Ok(0x1_ffff_ffff));
        assert_eq!(e.register("w0"), Ok(-1));
        assert_eq!(e.u_register("w0"), Ok(0xffff_ffff));
        assert_eq!(e.u_register("sp"), Ok(0x7fff_0000));
        assert_eq!(e.register("rax"), Err(AccessError::NoSuchRegister));
    }

    struct Str {
        buf: [u8; 64],
        len: usize,
    }
    impl Default for Str {
        fn default() -> Self {
            Self { buf: [0; 64], len: 0 }
        }
    }
    impl Str {
        fn as_str(&self) -> &str {
            core::str::from_utf8(&self.buf[..self.len]).unwrap()
        }
    }
    impl fmt::Write for Str {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            Ok(())
        }
    }
}
