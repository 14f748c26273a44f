//! Benchmark-only programs: each does a growing prefix of [`snapshot`](super::snapshot)'s
//! work, so that attached side by side on one uprobe (with `wp_empty` and the snapshot
//! program itself) the differences of their run times give the cost of each part in the
//! same run. They are attached only when the host is asked to measure
//! (`LiveOptions::cost_programs`); a session never loads them. Records they reserve are
//! discarded, which costs the same as a submit (both are `bpf_ringbuf_commit`) and which
//! readers skip.

use super::*;
use aya_ebpf::maps::ring_buf::RingBufEntry;

/// Keeps `v` alive without storing it anywhere: a branch the compiler cannot drop (the value
/// is never all ones), costing one compare.
#[inline(always)]
fn keep(v: u64) {
    if v == u64::MAX {
        count_lost();
    }
}

/// The context: the thread and the probe id (attach cookie).
#[uprobe]
pub fn wp_cost_context(ctx: ProbeContext) -> u32 {
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    let id = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
    keep(pid_tgid ^ id);
    0
}

/// The context, the config lookup and the scope filters.
#[uprobe]
pub fn wp_cost_filters(ctx: ProbeContext) -> u32 {
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    let Some(admitted) = admit::<false>(ctx.as_ptr(), (pid_tgid >> 32) as u32) else { return 0 };
    let id = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
    keep(admitted.wakeup_bytes ^ id);
    0
}

/// The same, plus reserving a record and committing it (discarded) untouched.
#[uprobe]
pub fn wp_cost_reserve(ctx: ProbeContext) -> u32 {
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    let Some(admitted) = admit::<false>(ctx.as_ptr(), (pid_tgid >> 32) as u32) else { return 0 };
    let id = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
    keep(admitted.wakeup_bytes ^ id);
    let Some(entry) = with_ring!(admitted.ring().0, r => r.reserve::<Record>(0)) else { return 0 };
    entry.discard(BPF_RB_NO_WAKEUP as u64);
    0
}

/// The same, plus the header (cookie, pid, uid, cpu, time, comm).
#[uprobe]
pub fn wp_cost_header(ctx: ProbeContext) -> u32 {
    record_discarded(ctx, false, |ring, _| with_ring!(ring, r => r.reserve::<Record>(0)))
}

/// The same, plus the registers: all of `snapshot` but the wake-up decision (one load of
/// the reader's flag while it runs).
#[uprobe]
pub fn wp_cost_regs(ctx: ProbeContext) -> u32 {
    record_discarded(ctx, true, |ring, _| with_ring!(ring, r => r.reserve::<Record>(0)))
}

/// The header, and the registers `with_regs`, into the record `reserve` takes (given this
/// CPU's ring and the CPU's id), then discarded.
#[inline(always)]
fn record_discarded(
    ctx: ProbeContext,
    with_regs: bool,
    reserve: impl FnOnce(u32, u32) -> Option<RingBufEntry<Record>>,
) -> u32 {
    let regs: *const u64 = ctx.regs.cast();
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    let Some(admitted) = admit::<false>(ctx.as_ptr(), (pid_tgid >> 32) as u32) else { return 0 };
    let (ring, cpu) = admitted.ring();
    let Some(mut entry) = reserve(ring, cpu) else { return 0 };
    let rec = entry.as_mut_ptr();
    // SAFETY: as in `snapshot`.
    unsafe {
        fill_header(&raw mut (*rec).header, regs as *mut c_void, 0, pid_tgid, cpu);
        if with_regs {
            copy_regs(regs, (&raw mut (*rec).regs).cast());
        }
    }
    entry.discard(BPF_RB_NO_WAKEUP as u64);
    0
}

// ---- What a ring per CPU and a smaller record would save ------------------------------
// `wp_cost_one` and `wp_cost_percpu` do all of `wp_cost_regs` into rings of their own, one
// shared by every CPU and one per CPU, drained alike by one thread of the benchmark; their
// difference is what sharing a ring between CPUs costs. `wp_cost_small` writes the header
// and the six argument registers only into the session's ring of its CPU, as the parts do.

#[map]
static WP_COST_ONE: RingBuf = RingBuf::with_byte_size(1 << 20, 0);
#[map]
static WP_COST_CPU0: RingBuf = RingBuf::with_byte_size(1 << 20, 0);
#[map]
static WP_COST_CPU1: RingBuf = RingBuf::with_byte_size(1 << 20, 0);

/// The whole record (header and registers) into one ring every CPU shares.
#[uprobe]
pub fn wp_cost_one(ctx: ProbeContext) -> u32 {
    record_discarded(ctx, true, |_, _| WP_COST_ONE.reserve::<Record>(0))
}

/// The same into the ring of this CPU (two CPUs here).
#[uprobe]
pub fn wp_cost_percpu(ctx: ProbeContext) -> u32 {
    record_discarded(ctx, true, |_, cpu| {
        if cpu & 1 == 0 {
            WP_COST_CPU0.reserve::<Record>(0)
        } else {
            WP_COST_CPU1.reserve::<Record>(0)
        }
    })
}

/// A smaller record: the header and the six argument registers only.
#[repr(C)]
struct SmallRecord {
    header: EventHeader,
    args: [u64; 6],
}

#[uprobe]
pub fn wp_cost_small(ctx: ProbeContext) -> u32 {
    let regs: *const u64 = ctx.regs.cast();
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    let Some(admitted) = admit::<false>(ctx.as_ptr(), (pid_tgid >> 32) as u32) else { return 0 };
    let (ring, cpu) = admitted.ring();
    let Some(mut entry) = with_ring!(ring, r => r.reserve::<SmallRecord>(0)) else { return 0 };
    let rec = entry.as_mut_ptr();
    // SAFETY: as in `snapshot`; the slots are within the saved registers.
    unsafe {
        fill_header(&raw mut (*rec).header, regs as *mut c_void, 0, pid_tgid, cpu);
        for (i, slot) in arch::CALL_ARGS6.iter().enumerate() {
            (*rec).args[i] = core::ptr::read_volatile(regs.add(*slot));
        }
    }
    entry.discard(BPF_RB_NO_WAKEUP as u64);
    0
}
