//! What differs between the architectures this program is built for: which slot holds the
//! stack pointer and the return value, where a syscall's arguments and number sit, and how
//! many slots `struct pt_regs` has. `cargo xtask bpf` builds one object per architecture,
//! selected by the `bpf_target_arch` cfg that `build.rs` sets.

#[cfg(bpf_target_arch = "x86_64")]
mod imp {
    use wprobe_common::abi::x86_64 as a;

    pub const NREGS: usize = a::NREGS;
    pub const SP: usize = a::RSP;
    pub const RET: usize = a::RAX;
    /// Where a return probe finds the stack pointer its entry saw: `ret` has popped the
    /// return address, so the entry's sp plus 8.
    pub const ENTRY_SP_AT_RETURN: u64 = 8;
    /// The function-call argument slots a syscall's six arguments are shown in.
    pub const CALL_ARGS6: [usize; 6] = a::ARGS;
    pub const SYSCALL_NR: usize = a::ORIG_RAX;

    /// The syscall convention passes argument 4 in r10; the function-call convention the
    /// accessors read uses rcx, so it moves there.
    ///
    /// SAFETY: `dst` is a register array.
    #[inline(always)]
    pub unsafe fn syscall_to_call_convention(dst: *mut u64) {
        unsafe { dst.add(a::RCX).write(dst.add(a::R10).read()) };
    }
}

#[cfg(bpf_target_arch = "aarch64")]
mod imp {
    use wprobe_common::abi::aarch64 as a;

    pub const NREGS: usize = a::NREGS;
    pub const SP: usize = a::SP;
    pub const RET: usize = 0;
    /// `ret` jumps to x30 and leaves sp alone: the return sees the entry's sp.
    pub const ENTRY_SP_AT_RETURN: u64 = 0;
    /// The function-call argument slots a syscall's six arguments are shown in.
    pub const CALL_ARGS6: [usize; 6] = [a::ARGS[0], a::ARGS[1], a::ARGS[2], a::ARGS[3], a::ARGS[4], a::ARGS[5]];
    /// The syscall number is in x8.
    pub const SYSCALL_NR: usize = 8;

    /// Syscalls and calls both pass arguments in x0..x5: nothing moves.
    ///
    /// SAFETY: none needed; kept `unsafe` to match the x86_64 version.
    #[inline(always)]
    pub unsafe fn syscall_to_call_convention(_dst: *mut u64) {}
}

#[cfg(not(any(bpf_target_arch = "x86_64", bpf_target_arch = "aarch64")))]
compile_error!("wprobe's eBPF program is built for x86_64 or aarch64: set AYA_BPF_TARGET_ARCH");

pub use imp::*;

/// Copies the context's registers with one fixed-offset load each. The verifier accepts
/// loads from the context only at constant offsets (a loop over a moving pointer is refused
/// as "dereference of modified ctx ptr"), and plain loads are cheaper than a
/// `bpf_probe_read_kernel` call.
///
/// SAFETY: `src` is the context (NREGS u64), `dst` the record's register array.
#[inline(always)]
pub unsafe fn copy_regs(src: *const u64, dst: *mut u64) {
    macro_rules! copy {
        ($($i:literal)*) => {
            $( dst.add($i).write(core::ptr::read_volatile(src.add($i))); )*
        };
    }
    unsafe {
        copy!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20);
        #[cfg(bpf_target_arch = "aarch64")]
        copy!(21 22 23 24 25 26 27 28 29 30 31 32 33);
    }
}
#[cfg(bpf_target_arch = "x86_64")]
const _: () = assert!(NREGS == 21, "copy_regs lists x86_64's 21 slots");
#[cfg(bpf_target_arch = "aarch64")]
const _: () = assert!(NREGS == 34, "copy_regs lists aarch64's 34 slots");
