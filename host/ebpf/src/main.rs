//! wprobe's only kernel code: at each probe hit, one register snapshot into a ring buffer.
//!
//! Every program here does the same fixed, bounded work and never runs user code:
//!
//! 1. drop the hit early if a process filter is set and the hit is from another process;
//! 2. reserve one record in [`WP_EVENTS`] — when the ring is full, count the loss in
//!    [`WP_LOST`] and return;
//! 3. fill the record in exactly the layout of `wprobe_common::record` (48-byte header, then
//!    the raw `struct pt_regs`);
//! 4. submit it without waking the reader unless the ring holds more than
//!    `Config::wakeup_bytes`: the reader polls on a short timer anyway, so per-event wake-ups
//!    would only cost a context switch each.
//!
//! The probe id comes from the BPF attach cookie (kernel ≥ 5.15), which the host sets per
//! attachment to the probe's index in its probe table. One loaded program thus serves every
//! probe of its kind, and the id cannot disagree with the attachment.
#![no_std]
#![no_main]
// For the one atomic add below: core's atomics offer no fetch_add on bpfel-unknown-none.
#![feature(asm_experimental_arch)]

// The names in `config` are for the host; only `Config` is used here.
#[allow(dead_code)]
mod config;

use aya_ebpf::bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP};
use aya_ebpf::helpers::generated::{
    bpf_get_attach_cookie, bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
    bpf_get_smp_processor_id, bpf_ktime_get_ns,
};
use aya_ebpf::macros::{kprobe, kretprobe, map, uprobe, uretprobe};
use aya_ebpf::maps::{Array, PerCpuArray, RingBuf};
use aya_ebpf::programs::{ProbeContext, RetProbeContext};
use core::ffi::c_void;
use wprobe_common::abi::x86_64::NREGS;
use wprobe_common::record::{EventHeader, FLAG_RETURN, HEADER_SIZE};

use config::Config;

/// One record as it sits in the ring: the shared header, then the registers.
#[repr(C)]
struct Record {
    header: EventHeader,
    regs: [u64; NREGS],
}

// The layout the host and the guests decode; a mismatch must fail the build, not the reader.
const _: () = assert!(core::mem::size_of::<Record>() == HEADER_SIZE + 8 * NREGS);
const _: () = assert!(core::mem::size_of::<aya_ebpf::bindings::pt_regs>() == 8 * NREGS);

/// 1 MiB by default; the host may resize it at load time (a power of two, in pages).
#[map]
static WP_EVENTS: RingBuf = RingBuf::with_byte_size(1 << 20, 0);

#[map]
static WP_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[map]
static WP_CONFIG: Array<Config> = Array::with_max_entries(1, 0);

#[uprobe]
pub fn wp_uprobe(ctx: ProbeContext) -> u32 {
    snapshot(ctx.regs.cast(), 0)
}

#[uretprobe]
pub fn wp_uretprobe(ctx: RetProbeContext) -> u32 {
    snapshot(ctx.regs.cast(), FLAG_RETURN)
}

#[kprobe]
pub fn wp_kprobe(ctx: ProbeContext) -> u32 {
    snapshot(ctx.regs.cast(), 0)
}

#[kretprobe]
pub fn wp_kretprobe(ctx: RetProbeContext) -> u32 {
    snapshot(ctx.regs.cast(), FLAG_RETURN)
}

/// Does nothing: attached next to a snapshot program on the same probe, its run time is the
/// fixed cost of running any program there, which the benchmark subtracts.
#[uprobe]
pub fn wp_empty(_ctx: ProbeContext) -> u32 {
    0
}

#[inline(always)]
fn snapshot(regs: *const u64, flags: u32) -> u32 {
    // SAFETY (all helpers below): they take no pointers, or pointers into the record we
    // reserved, which is ours until submitted.
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    let tgid = (pid_tgid >> 32) as u32;

    let (filter_tgid, wakeup_bytes) = match WP_CONFIG.get(0) {
        Some(c) => (c.filter_tgid, c.wakeup_bytes),
        None => (0, 0),
    };
    if filter_tgid != 0 && filter_tgid != tgid {
        return 0;
    }

    let Some(mut entry) = WP_EVENTS.reserve::<Record>(0) else {
        if let Some(lost) = WP_LOST.get_ptr_mut(0) {
            // Per-CPU, yet atomic: uprobe programs run preemptible (migration disabled only),
            // so two tasks on one CPU can both be in here.
            // SAFETY: the map value is a valid, 8-aligned u64 for the program's lifetime.
            unsafe { core::arch::asm!("lock *(u64 *)({p} + 0) += {one}", p = in(reg) lost, one = in(reg) 1u64) };
        }
        return 0;
    };
    let rec = entry.as_mut_ptr();

    // SAFETY: `rec` points to a reserved, writable record of the right size; `regs` is the
    // program's context (the probed task's saved `struct pt_regs`).
    unsafe {
        let h = &raw mut (*rec).header;
        (*h).probe_id = bpf_get_attach_cookie(regs as *mut c_void) as u32;
        (*h).flags = flags;
        (*h).pid = tgid;
        (*h).tid = pid_tgid as u32;
        (*h).uid = bpf_get_current_uid_gid() as u32;
        (*h).cpu = bpf_get_smp_processor_id();
        (*h).timestamp_ns = bpf_ktime_get_ns();
        // Writes straight into the record; on failure the kernel zero-fills the buffer.
        bpf_get_current_comm((&raw mut (*h).comm).cast(), (*h).comm.len() as u32);
        copy_regs(regs, (&raw mut (*rec).regs).cast());
    }

    // Bytes not yet consumed, this record included.
    let pending = WP_EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    let wake = if pending > wakeup_bytes { BPF_RB_FORCE_WAKEUP } else { BPF_RB_NO_WAKEUP };
    entry.submit(wake as u64);
    0
}

/// Copies the context's registers with one fixed-offset load each. The verifier accepts
/// loads from the context only at constant offsets (a loop over a moving pointer is refused
/// as "dereference of modified ctx ptr"), and 21 plain loads are cheaper than a
/// `bpf_probe_read_kernel` call.
#[inline(always)]
unsafe fn copy_regs(src: *const u64, dst: *mut u64) {
    macro_rules! copy {
        ($($i:literal)*) => {
            $( dst.add($i).write(core::ptr::read_volatile(src.add($i))); )*
        };
    }
    // SAFETY: the caller passes the context (NREGS u64) and the record's register array.
    unsafe {
        copy!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20);
    }
}
const _: () = assert!(NREGS == 21, "copy_regs lists x86_64's 21 slots");

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // No panic path survives optimisation (the verifier would refuse the loop otherwise).
    loop {}
}

/// GPL-compatible, as the tracing helpers require; the source is MIT OR Apache-2.0.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
