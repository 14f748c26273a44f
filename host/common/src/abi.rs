//! Calling conventions and register names of the architectures wprobe decodes.
//!
//! A snapshot holds the kernel's own register layout (`struct pt_regs` on x86_64,
//! `struct user_pt_regs` on aarch64) as little-endian `u64`s. This module says which slot
//! holds argument *n*, the return value, or the register called `name`, so that no guest
//! language has to know any of it.

use core::fmt;

/// The architecture a snapshot was taken on. Stored in batches and events files, so that a
/// recording made on one machine replays on any other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Arch {
    X86_64 = 1,
    Aarch64 = 2,
}

/// Register slots of x86_64 `struct pt_regs`, in the kernel's order.
pub mod x86_64 {
    pub const R15: usize = 0;
    pub const R14: usize = 1;
    pub const R13: usize = 2;
    pub const R12: usize = 3;
    pub const RBP: usize = 4;
    pub const RBX: usize = 5;
    pub const R11: usize = 6;
    pub const R10: usize = 7;
    pub const R9: usize = 8;
    pub const R8: usize = 9;
    pub const RAX: usize = 10;
    pub const RCX: usize = 11;
    pub const RDX: usize = 12;
    pub const RSI: usize = 13;
    pub const RDI: usize = 14;
    pub const ORIG_RAX: usize = 15;
    pub const RIP: usize = 16;
    pub const CS: usize = 17;
    pub const EFLAGS: usize = 18;
    pub const RSP: usize = 19;
    pub const SS: usize = 20;
    /// Number of slots in `struct pt_regs`.
    pub const NREGS: usize = 21;
    /// System V AMD64: rdi, rsi, rdx, rcx, r8, r9.
    pub const ARGS: [usize; 6] = [RDI, RSI, RDX, RCX, R8, R9];
}

/// Register slots of aarch64 `struct user_pt_regs`: x0..x30, then sp, pc, pstate.
pub mod aarch64 {
    pub const SP: usize = 31;
    pub const PC: usize = 32;
    pub const PSTATE: usize = 33;
    /// Number of slots in `struct user_pt_regs`.
    pub const NREGS: usize = 34;
    /// AAPCS64: x0..x7.
    pub const ARGS: [usize; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
}

/// The largest register snapshot of any supported architecture.
pub const MAX_REGS: usize = aarch64::NREGS;

/// Where a register name points: a slot, read whole or as its low 32 bits (`eax`, `w0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterRef {
    pub slot: usize,
    pub low32: bool,
}

/// Why an accessor could not answer. The handler sees it as an error value; it never
/// reaches the host as a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// `n` is 0 or past the arguments this architecture passes in registers.
    NoSuchArgument { n: u32, max: u32 },
    /// The register name is not one this architecture has.
    NoSuchRegister,
    /// `returnval()` or `returnstr()` in an entry probe.
    NotAReturnProbe,
    /// The memory at `addr` was not captured at probe time. `arg` names the argument
    /// (from 1) whose value `addr` is, when one is; 0 otherwise.
    NotCaptured { addr: u64, arg: u8 },
    /// The capture at `addr` faulted in the kernel (a bad or paged-out address).
    Fault { addr: u64 },
    /// A return probe whose entry was not seen: the entry arguments and latency are unknown.
    NoEntry,
    /// A tracepoint accessor on a probe that is not a tracepoint.
    NotATracepoint,
    /// The tracepoint has no field of that name.
    NoSuchField,
}

/// In the words of [`crate::texts`], the SDKs' table. This value does not keep a register's
/// or a field's name (the host and the SDKs add it): those holes read `?`.
impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::texts::{self, fill, Hole};
        match *self {
            AccessError::NoSuchArgument { n, .. } => fill(texts::NO_SUCH_ARGUMENT, &[("n", Hole::Dec(n.into()))], f),
            AccessError::NoSuchRegister => fill(texts::NO_SUCH_REGISTER, &[("name", Hole::Text("?"))], f),
            AccessError::NotAReturnProbe => f.write_str(texts::NOT_A_RETURN_PROBE),
            AccessError::NotCaptured { addr, arg: 0 } => fill(texts::NOT_CAPTURED, &[("addr", Hole::Hex(addr))], f),
            AccessError::NotCaptured { addr, arg } => {
                fill(texts::NOT_CAPTURED_ARG, &[("addr", Hole::Hex(addr)), ("arg", Hole::Dec(arg.into()))], f)
            }
            AccessError::Fault { addr } => fill(texts::FAULT, &[("addr", Hole::Hex(addr))], f),
            AccessError::NoEntry => f.write_str(texts::NO_ENTRY),
            AccessError::NotATracepoint => f.write_str(texts::NOT_A_TRACEPOINT),
            AccessError::NoSuchField => fill(texts::NO_SUCH_FIELD, &[("what", Hole::Text("?"))], f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for AccessError {}

impl Arch {
    /// The architecture this code was compiled for, if wprobe supports it.
    pub const fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    pub const fn from_u8(v: u8) -> Option<Arch> {
        match v {
            1 => Some(Arch::X86_64),
            2 => Some(Arch::Aarch64),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Number of `u64` slots in this architecture's snapshot.
    pub const fn nregs(self) -> usize {
        match self {
            Arch::X86_64 => x86_64::NREGS,
            Arch::Aarch64 => aarch64::NREGS,
        }
    }

    /// Slots of the register-passed integer arguments, first argument first.
    pub const fn arg_slots(self) -> &'static [usize] {
        match self {
            Arch::X86_64 => &x86_64::ARGS,
            Arch::Aarch64 => &aarch64::ARGS,
        }
    }

    /// Slot of argument `n`, counting from 1 as SystemTap does.
    pub fn arg_slot(self, n: u32) -> Result<usize, AccessError> {
        let slots = self.arg_slots();
        match n.checked_sub(1).and_then(|i| slots.get(i as usize)) {
            Some(&slot) => Ok(slot),
            None => Err(AccessError::NoSuchArgument { n, max: slots.len() as u32 }),
        }
    }

    /// Slot of the integer return value (rax, x0).
    pub const fn return_slot(self) -> usize {
        match self {
            Arch::X86_64 => x86_64::RAX,
            Arch::Aarch64 => 0,
        }
    }

    /// Slot of the instruction pointer (rip, pc).
    pub const fn ip_slot(self) -> usize {
        match self {
            Arch::X86_64 => x86_64::RIP,
            Arch::Aarch64 => aarch64::PC,
        }
    }

    /// Resolves a register name the way SystemTap's `register()` does, case-insensitively.
    ///
    /// x86_64 accepts the 64-bit names (`rax`, `r8`, `rip`, `eflags`, `orig_rax`, `cs`, `ss`),
    /// SystemTap's short aliases (`ax`, `ip`, `sp`, `flags`, `orig_ax`, …) and the 32-bit
    /// names (`eax`, `esp`, `r8d`, …), which read the low half. aarch64 accepts `x0`..`x30`,
    /// `w0`..`w30` (low half), `fp` (x29), `lr` (x30), `sp`, `pc` and `pstate`.
    pub fn register(self, name: &str) -> Result<RegisterRef, AccessError> {
        let mut buf = [0u8; 12];
        let name = ascii_lower(name, &mut buf).ok_or(AccessError::NoSuchRegister)?;
        let found = match self {
            Arch::X86_64 => x86_64_register(name),
            Arch::Aarch64 => aarch64_register(name),
        };
        found.ok_or(AccessError::NoSuchRegister)
    }
}

impl Arch {
    /// Every name [`Arch::register`] accepts, in lower case, with what it reads: for the SDKs
    /// that resolve names in the guest (`cargo xtask sdk-gen`).
    #[cfg(feature = "std")]
    pub fn register_names(self) -> std::vec::Vec<(std::string::String, RegisterRef)> {
        use std::string::ToString;
        match self {
            Arch::X86_64 => {
                X86_64_REGISTERS.iter().map(|&(n, slot, low32)| (n.to_string(), RegisterRef { slot, low32 })).collect()
            }
            Arch::Aarch64 => {
                let named = AARCH64_NAMED.iter().map(|&(n, slot)| (n.to_string(), RegisterRef { slot, low32: false }));
                let numbered = (0..=30usize).flat_map(|slot| {
                    [
                        (std::format!("x{slot}"), RegisterRef { slot, low32: false }),
                        (std::format!("w{slot}"), RegisterRef { slot, low32: true }),
                    ]
                });
                named.chain(numbered).collect()
            }
        }
    }
}

fn ascii_lower<'a>(name: &str, buf: &'a mut [u8; 12]) -> Option<&'a str> {
    let bytes = name.as_bytes();
    let out = buf.get_mut(..bytes.len())?;
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = b.to_ascii_lowercase();
    }
    core::str::from_utf8(out).ok()
}

/// x86_64's register names in lower case (`register` ignores case): the 64-bit names,
/// SystemTap's short aliases and the 32-bit names, which read the low half (`true`).
const X86_64_REGISTERS: [(&str, usize, bool); 49] = {
    use x86_64::*;
    [
        ("rax", RAX, false),
        ("ax", RAX, false),
        ("rbx", RBX, false),
        ("bx", RBX, false),
        ("rcx", RCX, false),
        ("cx", RCX, false),
        ("rdx", RDX, false),
        ("dx", RDX, false),
        ("rsi", RSI, false),
        ("si", RSI, false),
        ("rdi", RDI, false),
        ("di", RDI, false),
        ("rbp", RBP, false),
        ("bp", RBP, false),
        ("rsp", RSP, false),
        ("sp", RSP, false),
        ("rip", RIP, false),
        ("ip", RIP, false),
        ("eflags", EFLAGS, false),
        ("flags", EFLAGS, false),
        ("orig_rax", ORIG_RAX, false),
        ("orig_ax", ORIG_RAX, false),
        ("cs", CS, false),
        ("ss", SS, false),
        ("r8", R8, false),
        ("r9", R9, false),
        ("r10", R10, false),
        ("r11", R11, false),
        ("r12", R12, false),
        ("r13", R13, false),
        ("r14", R14, false),
        ("r15", R15, false),
        ("eax", RAX, true),
        ("ebx", RBX, true),
        ("ecx", RCX, true),
        ("edx", RDX, true),
        ("esi", RSI, true),
        ("edi", RDI, true),
        ("ebp", RBP, true),
        ("esp", RSP, true),
        ("eip", RIP, true),
        ("r8d", R8, true),
        ("r9d", R9, true),
        ("r10d", R10, true),
        ("r11d", R11, true),
        ("r12d", R12, true),
        ("r13d", R13, true),
        ("r14d", R14, true),
        ("r15d", R15, true),
    ]
};

/// aarch64's names besides `x0`..`x30` and `w0`..`w30`.
const AARCH64_NAMED: [(&str, usize); 5] =
    [("sp", aarch64::SP), ("pc", aarch64::PC), ("pstate", aarch64::PSTATE), ("fp", 29), ("lr", 30)];

fn x86_64_register(name: &str) -> Option<RegisterRef> {
    X86_64_REGISTERS.iter().find(|(n, ..)| *n == name).map(|&(_, slot, low32)| RegisterRef { slot, low32 })
}

fn aarch64_register(name: &str) -> Option<RegisterRef> {
    if let Some(&(_, slot)) = AARCH64_NAMED.iter().find(|(n, _)| *n == name) {
        return Some(RegisterRef { slot, low32: false });
    }
    let (low32, digits) = match name.as_bytes().first()? {
        b'x' => (false, &name[1..]),
        b'w' => (true, &name[1..]),
        _ => return None,
    };
    // Reject "x01" and "x" so that each register has one spelling.
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let slot: usize = digits.parse().ok()?;
    (slot <= 30).then_some(RegisterRef { slot, low32 })
}

/// Writes the snapshot in SystemTap's `print_regs()` layout, as far as the snapshot has the
/// registers (pt_regs holds no segment bases or control registers, so those lines are absent).
pub fn write_regs(arch: Arch, regs: &[u64], out: &mut dyn fmt::Write) -> fmt::Result {
    let r = |i: usize| regs.get(i).copied().unwrap_or(0);
    match arch {
        Arch::X86_64 => {
            use x86_64::*;
            writeln!(out, "RIP: {:016x}", r(RIP))?;
            writeln!(out, "RSP: {:016x}  EFLAGS: {:08x}", r(RSP), r(EFLAGS))?;
            let rows: [[(&str, usize); 3]; 5] = [
                [("RAX", RAX), ("RBX", RBX), ("RCX", RCX)],
                [("RDX", RDX), ("RSI", RSI), ("RDI", RDI)],
                [("RBP", RBP), ("R08", R8), ("R09", R9)],
                [("R10", R10), ("R11", R11), ("R12", R12)],
                [("R13", R13), ("R14", R14), ("R15", R15)],
            ];
            for row in rows {
                let [(a, ia), (b, ib), (c, ic)] = row;
                writeln!(out, "{a}: {:016x} {b}: {:016x} {c}: {:016x}", r(ia), r(ib), r(ic))?;
            }
            writeln!(out, "CS:  {:04x} SS: {:04x} ORIG_RAX: {:016x}", r(CS), r(SS), r(ORIG_RAX))
        }
        Arch::Aarch64 => {
            use aarch64::*;
            writeln!(out, "pc : {:016x}", r(PC))?;
            writeln!(out, "sp : {:016x} pstate: {:08x}", r(SP), r(PSTATE))?;
            // The kernel's own dump order: x30 first, two registers a line.
            let mut i = 30i32;
            while i >= 0 {
                if i >= 1 {
                    writeln!(out, "x{:<2}: {:016x} x{:<2}: {:016x}", i, r(i as usize), i - 1, r(i as usize - 1))?;
                } else {
                    writeln!(out, "x{:<2}: {:016x}", i, r(0))?;
                }
                i -= 2;
            }
            Ok(())
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_64_arguments_follow_system_v() {
        let a = Arch::X86_64;
        let names = ["rdi", "rsi", "rdx", "rcx", "r8", "r9"];
        for (n, name) in (1..=6).zip(names) {
            assert_eq!(a.arg_slot(n).unwrap(), a.register(name).unwrap().slot, "arg {n}");
        }
        assert_eq!(a.arg_slot(7), Err(AccessError::NoSuchArgument { n: 7, max: 6 }));
        assert_eq!(a.arg_slot(0), Err(AccessError::NoSuchArgument { n: 0, max: 6 }));
        assert_eq!(a.return_slot(), x86_64::RAX);
    }

    #[test]
    fn aarch64_arguments_are_x0_to_x7() {
        let a = Arch::Aarch64;
        for n in 1..=8u32 {
            assert_eq!(a.arg_slot(n).unwrap(), (n - 1) as usize);
        }
        assert_eq!(a.arg_slot(9), Err(AccessError::NoSuchArgument { n: 9, max: 8 }));
        assert_eq!(a.return_slot(), 0);
    }

    #[test]
    fn x86_64_names_and_aliases() {
        let a = Arch::X86_64;
        let reg = |n| a.register(n).unwrap();
        assert_eq!(reg("RIP"), reg("ip"));
        assert_eq!(reg("rsp").slot, x86_64::RSP);
        assert_eq!(reg("sp").slot, x86_64::RSP);
        assert_eq!(reg("orig_ax").slot, x86_64::ORIG_RAX);
        assert_eq!(reg("flags").slot, x86_64::EFLAGS);
        assert_eq!(reg("eax"), RegisterRef { slot: x86_64::RAX, low32: true });
        assert_eq!(reg("r9d"), RegisterRef { slot: x86_64::R9, low32: true });
        assert!(a.register("x0").is_err());
        assert!(a.register("").is_err());
        assert!(a.register("a-very-long-register-name").is_err());
    }

    #[test]
    fn aarch64_names() {
        let a = Arch::Aarch64;
        let reg = |n| a.register(n).unwrap();
        assert_eq!(reg("x0").slot, 0);
        assert_eq!(reg("X30").slot, 30);
        assert_eq!(reg("lr").slot, 30);
        assert_eq!(reg("fp").slot, 29);
        assert_eq!(reg("w3"), RegisterRef { slot: 3, low32: true });
        assert_eq!(reg("pc").slot, aarch64::PC);
        assert_eq!(reg("sp").slot, aarch64::SP);
        assert_eq!(reg("pstate").slot, aarch64::PSTATE);
        for bad in ["x31", "x01", "x", "rax", "w31", "x-1"] {
            assert!(a.register(bad).is_err(), "{bad}");
        }
    }

    /// `register_names` is all `register` accepts: each name it lists reads what it says, and
    /// no other name of up to four characters (every name but a few long x86_64 ones) or of
    /// the long ones' shape resolves.
    #[cfg(feature = "std")]
    #[test]
    fn register_names_list_every_name() {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_";
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let names = arch.register_names();
            for (name, r) in &names {
                assert_eq!(arch.register(name), Ok(*r), "{name}");
                assert_eq!(arch.register(&name.to_uppercase()), Ok(*r), "{name}");
            }
            let listed: std::collections::HashSet<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(listed.len(), names.len(), "a name listed twice on {}", arch.name());
            let mut name = std::vec::Vec::new();
            let check = |name: &[u8]| {
                let name = core::str::from_utf8(name).unwrap();
                assert_eq!(arch.register(name).is_ok(), listed.contains(name), "{name} on {}", arch.name());
            };
            for len in 1..=4u32 {
                for i in 0..ALPHABET.len().pow(len) {
                    name.clear();
                    let mut k = i;
                    for _ in 0..len {
                        name.push(ALPHABET[k % ALPHABET.len()]);
                        k /= ALPHABET.len();
                    }
                    check(&name);
                }
            }
            for long in ["eflags", "orig_rax", "orig_ax", "pstate", "orig_eax", "rflags", "xflags", "x100", "w0000"] {
                check(long.as_bytes());
            }
        }
    }

    #[test]
    fn every_slot_has_a_name() {
        // print_regs and register() must cover the whole snapshot.
        let x86 = [
            "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi", "rdi",
            "orig_rax", "rip", "cs", "eflags", "rsp", "ss",
        ];
        for (slot, name) in x86.iter().enumerate() {
            assert_eq!(Arch::X86_64.register(name).unwrap().slot, slot);
        }
        assert_eq!(x86.len(), Arch::X86_64.nregs());
    }
}
