//! wprobe's only kernel code: at each probe hit, one snapshot into a ring buffer.
//!
//! Every program here does fixed, bounded work and never runs user code. What a probe takes
//! beyond the registers is *data* the host wrote into [`WP_PROBES`] before attaching
//! (captures: a base, an offset, a bounded chain of dereferences, a size), never code.
//!
//! 1. drop the hit early if a filter says so ([`admit`]: `--pid`, wprobe's own process, the
//!    `-c` command's process tree, `--comm`, a `wprobe serve` tenant's uid or cgroup);
//! 2. a probe without captures reserves one fixed-size record in its CPU's ring (one of
//!    [`WP_EVENTS`]' set, see [`with_ring`]: a ring shared by CPUs costs each hit its lock) and fills it
//!    in exactly the layout of `wprobe_common::record` (48-byte header, then the raw
//!    registers): the cheapest path, unchanged by everything below;
//! 3. a probe with captures, a return probe (which carries its paired entry) or a tracepoint
//!    assembles the record and its extension area (`wprobe_common::ext`) in a per-CPU
//!    scratch buffer, then copies it into the ring with `bpf_ringbuf_output`;
//! 4. records are submitted without a wake-up; the reader says through [`WP_WAKE`] when it
//!    waits (asleep: the first record after that wakes it; at a batch deadline: the first
//!    record that finds the ring holding more than `Config::wakeup_bytes`), and while it
//!    runs a record asks for nothing.
//!
//! When the ring is full (or the scratch buffer is in use by a preempted program on the same
//! CPU), the hit is counted in [`WP_LOST`].
//!
//! A *shared* object (`wprobe serve`: sessions that probe the same points share one
//! attachment) runs each program's `_s` twin and has up to eight subscribers instead of one
//! reader. Each has a slot with its own scope ([`WP_SLOTS`]), ring, lost count and wake flag;
//! [`WP_SUBS`] says which slots want each probe. A hit is assembled once in the scratch
//! buffer and copied into the ring of every subscribed slot whose scope admits it (`fan_out`),
//! tagged with the slot
//! conf's generation so that a reused slot's reader drops what the previous conf admitted.
//!
//! The probe id comes from the BPF attach cookie (kernel ≥ 5.15), which the host sets per
//! attachment to the probe's index in its probe table. One loaded program thus serves every
//! probe of its kind, and the id cannot disagree with the attachment.
#![no_std]
#![no_main]
// For the atomic operations below: core's atomics offer no fetch_add on bpfel-unknown-none.
#![feature(asm_experimental_arch)]

// The names in `config` are for the host; the eBPF side uses only some of them.
mod arch;
#[allow(dead_code)]
mod config;

use arch::{copy_regs, NREGS};
use aya_ebpf::bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP};
use aya_ebpf::helpers::generated::{
    bpf_get_attach_cookie, bpf_get_current_ancestor_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
    bpf_get_current_uid_gid, bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_probe_read_kernel,
    bpf_probe_read_kernel_str, bpf_probe_read_user, bpf_probe_read_user_str,
};
use aya_ebpf::macros::{kprobe, kretprobe, map, tracepoint, uprobe, uretprobe};
use aya_ebpf::maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf};
use aya_ebpf::programs::{ProbeContext, RetProbeContext, TracePointContext};
use aya_ebpf::EbpfContext;
use core::ffi::c_void;
use wprobe_common::ext::{
    pad8, EXT_HEADER_SIZE, ITEM_HEADER_SIZE, KIND_CAPTURE, KIND_ENTRY, KIND_TRACEPOINT, SPACE_KERNEL, SPACE_USER,
    STATUS_FAULT, STATUS_OK, STATUS_TRUNCATED,
};
use wprobe_common::record::{EventHeader, FLAG_EXT, FLAG_RETURN, HEADER_SIZE};

use config::*;

/// One record as it sits in the ring: the shared header, then the registers.
#[repr(C)]
struct Record {
    header: EventHeader,
    regs: [u64; NREGS],
}

// The layout the host and the guests decode; a mismatch must fail the build, not the reader.
const _: () = assert!(core::mem::size_of::<Record>() == HEADER_SIZE + 8 * NREGS);
const _: () = assert!(core::mem::size_of::<aya_ebpf::bindings::pt_regs>() == 8 * NREGS);

const BASE: usize = HEADER_SIZE + 8 * NREGS;
/// Where items start in the scratch record.
const ITEMS: usize = BASE + EXT_HEADER_SIZE;
/// The entry item: header, timestamp, registers.
const ENTRY_ITEM: usize = ITEM_HEADER_SIZE + 8 + 8 * NREGS;
/// The furthest an item may start: the entry item, the entry's captures and this hit's
/// captures and tracepoint data, each bounded by the host.
const POS_MAX: usize = ITEMS + ENTRY_ITEM + MAX_ENTRY_EXT_BYTES as usize + MAX_EXT_BYTES as usize;

/// The per-CPU buffer an extended record is assembled in. `busy` guards it (and
/// [`WP_ENTRY_SCRATCH`]): uprobe programs run preemptible (migration disabled only), so two
/// tasks on one CPU can both be here.
#[repr(C)]
struct Scratch {
    busy: u64,
    rec: [u8; SCRATCH_BYTES],
}

/// Offsets into `rec` are masked with this before use, lengths with [`LEN_MASK`]: the
/// verifier bounds a pointer by the register the compiler passes, which need not be the one
/// that was checked, so the masks make the bound hold for any register.
const POS_MASK: usize = 0x3fff;
const LEN_MASK: u64 = 0x1fff;
const _: () = assert!(POS_MAX <= POS_MASK);
const _: () = assert!(MAX_CAPTURE_BYTES as u64 <= LEN_MASK && MAX_ENTRY_EXT_BYTES as u64 <= LEN_MASK);
// Every masked write (a start up to POS_MASK plus an item header, a length up to LEN_MASK)
// stays inside `rec`, and a masked entry-captures length inside `EntryExt::items`.
const _: () = assert!(POS_MASK + ITEM_HEADER_SIZE + LEN_MASK as usize <= SCRATCH_BYTES);
const _: () = assert!(LEN_MASK as usize <= 2 * MAX_ENTRY_EXT_BYTES as usize);
const _: () = assert!(MAX_TRACEPOINT_BYTES <= MAX_CAPTURE_BYTES);

/// `v & mask`, in a way the compiler cannot drop (it knows `v` is already in range, but the
/// verifier may look at another register).
#[inline(always)]
fn bound(v: u64, mask: u64) -> u64 {
    let mut v = v;
    // SAFETY: arithmetic on a register.
    unsafe { core::arch::asm!("{v} &= {m}", v = inout(reg) v, m = in(reg) mask) };
    v
}

/// The rings, one per CPU (`Config::ring_mask`, [`with_ring`]). 1 MiB by default; the host
/// sizes those in use at load time (a power of two, in pages) and shrinks the others to a page.
#[map]
static WP_EVENTS: RingBuf = RingBuf::with_byte_size(1 << 20, 0);
#[map]
static WP_EVENTS_1: RingBuf = RingBuf::with_byte_size(1 << 20, 0);
#[map]
static WP_EVENTS_2: RingBuf = RingBuf::with_byte_size(1 << 20, 0);
#[map]
static WP_EVENTS_3: RingBuf = RingBuf::with_byte_size(1 << 20, 0);
#[map]
static WP_EVENTS_4: RingBuf = RingBuf::with_byte_size(1 << 20, 0);
#[map]
static WP_EVENTS_5: RingBuf = RingBuf::with_byte_size(1 << 20, 0);
#[map]
static WP_EVENTS_6: RingBuf = RingBuf::with_byte_size(1 << 20, 0);
#[map]
static WP_EVENTS_7: RingBuf = RingBuf::with_byte_size(1 << 20, 0);
const _: () = assert!(MAX_RINGS == 8);

/// Evaluates `$body` with `$r` naming ring `$i` (masked by the caller). Each arm names its
/// map itself: the verifier wants a map pointer it can see, not one loaded from a table.
macro_rules! with_ring {
    ($i:expr, $r:ident => $body:expr) => {
        match $i {
            0 => {
                let $r = &WP_EVENTS;
                $body
            }
            1 => {
                let $r = &WP_EVENTS_1;
                $body
            }
            2 => {
                let $r = &WP_EVENTS_2;
                $body
            }
            3 => {
                let $r = &WP_EVENTS_3;
                $body
            }
            4 => {
                let $r = &WP_EVENTS_4;
                $body
            }
            5 => {
                let $r = &WP_EVENTS_5;
                $body
            }
            6 => {
                let $r = &WP_EVENTS_6;
                $body
            }
            _ => {
                let $r = &WP_EVENTS_7;
                $body
            }
        }
    };
}

// After `with_ring!`, which it uses.
mod cost;

/// Entry 0 for a private session; a shared object's slot `s` at entry `s`.
#[map]
static WP_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(MAX_RINGS as u32, 0);

/// Set by the reader before it waits; see [`wake_reader`]. Indexed as [`WP_LOST`].
#[map]
static WP_WAKE: Array<u64> = Array::with_max_entries(MAX_RINGS as u32, 0);

/// A shared object's subscribers (see the module docs).
#[map]
static WP_SLOTS: Array<SlotConf> = Array::with_max_entries(MAX_RINGS as u32, 0);

/// Per probe id, the slots subscribed to it. Sized by the host (one entry for a private session).
#[map]
static WP_SUBS: Array<u32> = Array::with_max_entries(1, 0);

#[map]
static WP_CONFIG: Array<Config> = Array::with_max_entries(1, 0);

/// Sized by the host to its probe count.
#[map]
static WP_PROBES: Array<ProbeConf> = Array::with_max_entries(1, 0);

/// Sized by the host (it shrinks them to one entry when no probe needs them).
#[map]
static WP_ENTRY: LruHashMap<EntryKey, EntryVal> = LruHashMap::with_max_entries(10240, 0);
#[map]
static WP_ENTRY_EXT: LruHashMap<EntryKey, EntryExt> = LruHashMap::with_max_entries(1, 0);

#[map]
static WP_SCOPE: HashMap<u32, u8> = HashMap::with_max_entries(4096, 0);

#[map]
static WP_SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// Where the entry half of a return probe assembles its captures for [`WP_ENTRY_EXT`].
#[map]
static WP_ENTRY_SCRATCH: PerCpuArray<EntryExt> = PerCpuArray::with_max_entries(1, 0);

// ---- The programs ------------------------------------------------------------------------

/// Defines each program twice: for a session's own object, and (`_s`, for `wprobe serve`) for
/// an object shared by several sessions, which fans each hit out to its subscribers (see the
/// module docs). Two programs rather than a branch, so that a session's own object verifies
/// and runs exactly what it would without sharing: deciding between the two in one program
/// made the verifier explore everything after the decision twice, and the largest programs
/// (a return with captures) passed its limit of a million instructions on Linux 6.1.
///
/// In each body, `S` is the const generic `SHARED` of the work functions.
macro_rules! programs {
    ($($(#[doc = $doc:literal])* $attr:ident($ctx:ident: $ty:ty) $name:ident, $shared:ident => $body:expr;)*) => {
        $(
            $(#[doc = $doc])*
            #[$attr]
            pub fn $name($ctx: $ty) -> u32 {
                const S: bool = false;
                $body
            }
            $(#[doc = $doc])*
            #[$attr]
            pub fn $shared($ctx: $ty) -> u32 {
                const S: bool = true;
                $body
            }
        )*
    };
}

// Each capture-capable program comes twice: with captures, and `_plain` for probes that have
// none. The plain copy is cheaper per hit, and it costs the verifier a fraction of the time at
// launch (the capture loops dominate verification: seconds for a return probe's pair on a
// busy machine, tens of seconds under emulation).
programs! {
    // ---- Function probes
    /// Entry probes without captures: the registers only, the cheapest path.
    uprobe(ctx: ProbeContext) wp_uprobe, wp_uprobe_s => snapshot::<S>(ctx.regs.cast());
    kprobe(ctx: ProbeContext) wp_kprobe, wp_kprobe_s => snapshot::<S>(ctx.regs.cast());
    uprobe(ctx: ProbeContext) wp_uprobe_x, wp_uprobe_x_s => function_hit::<S>(&ctx);
    kprobe(ctx: ProbeContext) wp_kprobe_x, wp_kprobe_x_s => function_hit::<S>(&ctx);
    uprobe(ctx: ProbeContext) wp_uprobe_entry, wp_uprobe_entry_s => function_entry::<true, S>(&ctx);
    uprobe(ctx: ProbeContext) wp_uprobe_entry_plain, wp_uprobe_entry_plain_s => function_entry::<false, S>(&ctx);
    kprobe(ctx: ProbeContext) wp_kprobe_entry, wp_kprobe_entry_s => function_entry::<true, S>(&ctx);
    kprobe(ctx: ProbeContext) wp_kprobe_entry_plain, wp_kprobe_entry_plain_s => function_entry::<false, S>(&ctx);
    uretprobe(ctx: RetProbeContext) wp_uretprobe, wp_uretprobe_s => function_return::<true, S>(&ctx);
    uretprobe(ctx: RetProbeContext) wp_uretprobe_plain, wp_uretprobe_plain_s => function_return::<false, S>(&ctx);
    kretprobe(ctx: RetProbeContext) wp_kretprobe, wp_kretprobe_s => function_return::<true, S>(&ctx);
    kretprobe(ctx: RetProbeContext) wp_kretprobe_plain, wp_kretprobe_plain_s => function_return::<false, S>(&ctx);

    // ---- Syscalls through the __x64_sys_* / __arm64_sys_* wrappers (kprobes)
    kprobe(ctx: ProbeContext) wp_kprobe_syscall, wp_kprobe_syscall_s => syscall_wrapper_hit::<true, S>(&ctx);
    kprobe(ctx: ProbeContext) wp_kprobe_syscall_plain, wp_kprobe_syscall_plain_s => syscall_wrapper_hit::<false, S>(&ctx);
    kprobe(ctx: ProbeContext) wp_kprobe_syscall_entry, wp_kprobe_syscall_entry_s => syscall_wrapper_entry::<true, S>(&ctx);
    kprobe(ctx: ProbeContext) wp_kprobe_syscall_entry_plain, wp_kprobe_syscall_entry_plain_s =>
        syscall_wrapper_entry::<false, S>(&ctx);
    kretprobe(ctx: RetProbeContext) wp_kretprobe_syscall, wp_kretprobe_syscall_s => syscall_wrapper_return::<true, S>(&ctx);
    kretprobe(ctx: RetProbeContext) wp_kretprobe_syscall_plain, wp_kretprobe_syscall_plain_s =>
        syscall_wrapper_return::<false, S>(&ctx);

    // ---- Syscalls through the syscalls:sys_enter_* / sys_exit_* tracepoints
    tracepoint(ctx: TracePointContext) wp_tp_sys_enter, wp_tp_sys_enter_s => sys_enter_hit::<true, S>(&ctx);
    tracepoint(ctx: TracePointContext) wp_tp_sys_enter_plain, wp_tp_sys_enter_plain_s => sys_enter_hit::<false, S>(&ctx);
    tracepoint(ctx: TracePointContext) wp_tp_sys_enter_entry, wp_tp_sys_enter_entry_s => sys_enter_entry::<true, S>(&ctx);
    tracepoint(ctx: TracePointContext) wp_tp_sys_enter_entry_plain, wp_tp_sys_enter_entry_plain_s =>
        sys_enter_entry::<false, S>(&ctx);
    tracepoint(ctx: TracePointContext) wp_tp_sys_exit, wp_tp_sys_exit_s => sys_exit_return::<true, S>(&ctx);
    tracepoint(ctx: TracePointContext) wp_tp_sys_exit_plain, wp_tp_sys_exit_plain_s => sys_exit_return::<false, S>(&ctx);

    // ---- Any tracepoint: its raw record and the probe's captures
    tracepoint(ctx: TracePointContext) wp_tracepoint, wp_tracepoint_s =>
        extended::<true, S>(ctx.as_ptr(), 0, |dst| unsafe { zero_regs(dst) }, None, Phase::Tracepoint);
}

#[inline(always)]
fn function_hit<const SHARED: bool>(ctx: &ProbeContext) -> u32 {
    let regs: *const u64 = ctx.regs.cast();
    extended::<true, SHARED>(ctx.as_ptr(), 0, |dst| unsafe { copy_regs(regs, dst) }, None, Phase::Hit)
}

#[inline(always)]
fn function_entry<const CAPTURES: bool, const SHARED: bool>(ctx: &ProbeContext) -> u32 {
    let regs: *const u64 = ctx.regs.cast();
    let sp = unsafe { core::ptr::read_volatile(regs.add(arch::SP)) };
    remember_entry::<CAPTURES, SHARED>(ctx.as_ptr(), sp + arch::ENTRY_SP_AT_RETURN, |dst| unsafe {
        copy_regs(regs, dst)
    })
}

#[inline(always)]
fn function_return<const CAPTURES: bool, const SHARED: bool>(ctx: &RetProbeContext) -> u32 {
    let regs: *const u64 = ctx.regs.cast();
    let sp = unsafe { core::ptr::read_volatile(regs.add(arch::SP)) };
    let fill = |dst| unsafe { copy_regs(regs, dst) };
    extended::<CAPTURES, SHARED>(ctx.as_ptr(), FLAG_RETURN, fill, Some(sp), Phase::Hit)
}

#[inline(always)]
fn syscall_wrapper_hit<const CAPTURES: bool, const SHARED: bool>(ctx: &ProbeContext) -> u32 {
    let user = ctx.arg::<*const u64>(0).unwrap_or(core::ptr::null());
    extended::<CAPTURES, SHARED>(ctx.as_ptr(), 0, |dst| unsafe { user_syscall_regs(user, dst) }, None, Phase::Hit)
}

#[inline(always)]
fn syscall_wrapper_entry<const CAPTURES: bool, const SHARED: bool>(ctx: &ProbeContext) -> u32 {
    let user = ctx.arg::<*const u64>(0).unwrap_or(core::ptr::null());
    remember_entry::<CAPTURES, SHARED>(ctx.as_ptr(), 0, |dst| unsafe { user_syscall_regs(user, dst) })
}

#[inline(always)]
fn syscall_wrapper_return<const CAPTURES: bool, const SHARED: bool>(ctx: &RetProbeContext) -> u32 {
    let regs: *const u64 = ctx.regs.cast();
    let ret = unsafe { core::ptr::read_volatile(regs.add(arch::RET)) };
    let fill = |dst| unsafe { return_regs(ret, dst) };
    extended::<CAPTURES, SHARED>(ctx.as_ptr(), FLAG_RETURN, fill, Some(0), Phase::Hit)
}

#[inline(always)]
fn sys_enter_hit<const CAPTURES: bool, const SHARED: bool>(ctx: &TracePointContext) -> u32 {
    let raw = ctx.as_ptr() as *const u8;
    extended::<CAPTURES, SHARED>(ctx.as_ptr(), 0, |dst| unsafe { tracepoint_syscall_regs(raw, dst) }, None, Phase::Hit)
}

#[inline(always)]
fn sys_enter_entry<const CAPTURES: bool, const SHARED: bool>(ctx: &TracePointContext) -> u32 {
    let raw = ctx.as_ptr() as *const u8;
    remember_entry::<CAPTURES, SHARED>(ctx.as_ptr(), 0, |dst| unsafe { tracepoint_syscall_regs(raw, dst) })
}

#[inline(always)]
fn sys_exit_return<const CAPTURES: bool, const SHARED: bool>(ctx: &TracePointContext) -> u32 {
    // `long ret` follows `int __syscall_nr` and its padding in every sys_exit_* record.
    let ret: u64 = unsafe { ctx.read_at(16) }.unwrap_or(0);
    let fill = |dst| unsafe { return_regs(ret, dst) };
    extended::<CAPTURES, SHARED>(ctx.as_ptr(), FLAG_RETURN, fill, Some(0), Phase::Hit)
}

/// `sched:sched_process_fork`: a child of a scoped process is in scope too.
#[tracepoint]
pub fn wp_fork(ctx: TracePointContext) -> u32 {
    let Some(c) = WP_CONFIG.get(0) else { return 0 };
    if c.scope_tree == 0 {
        return 0;
    }
    let parent: u32 = unsafe { ctx.read_at(c.fork_parent_off as usize) }.unwrap_or(0);
    let child: u32 = unsafe { ctx.read_at(c.fork_child_off as usize) }.unwrap_or(0);
    // SAFETY: hash map lookups and updates with keys on the stack.
    if unsafe { WP_SCOPE.get(&parent) }.is_some() {
        let _ = WP_SCOPE.insert(&child, &1u8, 0);
    }
    0
}

/// Does nothing: attached next to a snapshot program on the same probe, its run time is the
/// fixed cost of running any program there, which the benchmark subtracts.
#[uprobe]
pub fn wp_empty(_ctx: ProbeContext) -> u32 {
    0
}

// ---- The work -----------------------------------------------------------------------------

/// What a hit that passed the filters needs of the configuration.
#[derive(Clone, Copy)]
struct Admitted {
    wakeup_bytes: u64,
    ring_mask: u32,
    /// A shared object: the slots subscribed to the probe. Each one's scope is checked as
    /// the record goes out ([`fan_out`]), where what it admitted is used at once: a set of
    /// admitting slots carried from here would be a different constant on each path, which
    /// the verifier would then explore one by one.
    subs: u32,
}

impl Admitted {
    /// This CPU's ring: its index in [`EVENTS_MAPS`], and the CPU's id.
    #[inline(always)]
    fn ring(self) -> (u32, u32) {
        // SAFETY: a helper without arguments.
        let cpu = unsafe { bpf_get_smp_processor_id() };
        (cpu & self.ring_mask, cpu)
    }
}

/// The filters; `Some` when the hit is to be recorded. `ctx` is the program's context (for
/// the probe id, which a shared object needs).
#[inline(always)]
fn admit<const SHARED: bool>(ctx: *mut c_void, tgid: u32) -> Option<Admitted> {
    let Some(c) = WP_CONFIG.get(0) else { return Some(Admitted { wakeup_bytes: 0, ring_mask: 0, subs: 0 }) };
    if SHARED {
        return admit_shared(ctx, tgid, c);
    }
    if (c.filter_tgid != 0 && c.filter_tgid != tgid) || (c.exclude_tgid != 0 && c.exclude_tgid == tgid) {
        return None;
    }
    // SAFETY: a hash map lookup with a key on the stack.
    if c.scope_tree != 0 && unsafe { WP_SCOPE.get(&tgid) }.is_none() {
        return None;
    }
    // A tenant's scope (`wprobe serve`): its uid, or its cgroup subtree.
    // SAFETY (both): helpers without pointer arguments.
    if c.scope_uid != 0 && unsafe { bpf_get_current_uid_gid() } as u32 != c.filter_uid {
        return None;
    }
    if c.cgroup_id != 0 && unsafe { bpf_get_current_ancestor_cgroup_id(c.cgroup_level as i32) } != c.cgroup_id {
        return None;
    }
    if c.filter_comm != 0 && !comm_is(&c.comm) {
        return None;
    }
    Some(Admitted { wakeup_bytes: c.wakeup_bytes, ring_mask: c.ring_mask, subs: 0 })
}

/// Whether the current task's command name is `want` (NUL-padded).
#[inline(always)]
fn comm_is(want: &[u8; 16]) -> bool {
    let mut comm = [0u8; 16];
    // SAFETY: writes 16 bytes into `comm`.
    unsafe { bpf_get_current_comm(comm.as_mut_ptr().cast(), 16) };
    comm == *want
}

/// A shared object's filters: not wprobe's own process, and some slot subscribed to the
/// probe (their scopes come in [`fan_out`]).
#[inline(always)]
fn admit_shared(ctx: *mut c_void, tgid: u32, c: &Config) -> Option<Admitted> {
    if c.exclude_tgid != 0 && c.exclude_tgid == tgid {
        return None;
    }
    // SAFETY: a helper that takes the context.
    let id = unsafe { bpf_get_attach_cookie(ctx) } as u32;
    let subs = *WP_SUBS.get(id)? & c.slots;
    if subs == 0 {
        return None;
    }
    Some(Admitted { wakeup_bytes: c.wakeup_bytes, ring_mask: 0, subs })
}

/// A shared object's slot `s`: its generation if its scope admits the current task.
#[inline(always)]
fn slot_admits(s: u32, tgid: u32, uid: u32) -> Option<u32> {
    let sc = WP_SLOTS.get(s)?;
    // A map value, valid for the program's run. The host writes a slot's conf only while its
    // bit in `Config::slots` is clear, with a new generation each time.
    // SAFETY (here): a read of the map value; a helper without pointers.
    let gen = unsafe { core::ptr::read_volatile(&sc.gen) };
    if gen == 0
        || (sc.filter_tgid != 0 && sc.filter_tgid != tgid)
        || (sc.scope_uid != 0 && sc.filter_uid != uid)
        || (sc.cgroup_id != 0 && unsafe { bpf_get_current_ancestor_cgroup_id(sc.cgroup_level as i32) } != sc.cgroup_id)
    {
        return None;
    }
    if sc.filter_comm != 0 && !comm_is(&sc.comm) {
        return None;
    }
    Some(gen)
}

#[inline(always)]
fn count_lost() {
    count_lost_at(0);
}

/// Counts a hit lost: for a session's own object at entry 0, for a shared one at each
/// subscribed slot whose scope admits it.
#[inline(always)]
fn lose<const SHARED: bool>(admitted: &Admitted, tgid: u32) {
    if !SHARED {
        count_lost_at(0);
        return;
    }
    // SAFETY: a helper without arguments.
    let uid = unsafe { bpf_get_current_uid_gid() } as u32;
    for s in 0..MAX_RINGS {
        if admitted.subs & (1 << s) != 0 && slot_admits(s as u32, tgid, uid).is_some() {
            count_lost_at(s as u32);
        }
    }
}

#[inline(always)]
fn count_lost_at(index: u32) {
    if let Some(lost) = WP_LOST.get_ptr_mut(index) {
        // Per-CPU, yet atomic: uprobe programs run preemptible (migration disabled only),
        // so two tasks on one CPU can both be in here.
        // SAFETY: the map value is a valid, 8-aligned u64 for the program's lifetime.
        unsafe { core::arch::asm!("lock *(u64 *)({p} + 0) += {one}", p = in(reg) lost, one = in(reg) 1u64) };
    }
}

/// Fills a header for the current task.
///
/// SAFETY: `h` points to a writable header.
#[inline(always)]
unsafe fn fill_header(h: *mut EventHeader, ctx: *mut c_void, flags: u32, pid_tgid: u64, cpu: u32) {
    unsafe {
        (*h).probe_id = bpf_get_attach_cookie(ctx) as u32;
        (*h).flags = flags;
        (*h).pid = (pid_tgid >> 32) as u32;
        (*h).tid = pid_tgid as u32;
        (*h).uid = bpf_get_current_uid_gid() as u32;
        (*h).cpu = cpu;
        (*h).timestamp_ns = bpf_ktime_get_ns();
        // Writes straight into the record; on failure the kernel zero-fills the buffer.
        bpf_get_current_comm((&raw mut (*h).comm).cast(), (*h).comm.len() as u32);
    }
}

/// Wakes the reader if it waits for it, once per wait: always when it sleeps with nothing
/// to do ([`WAKE_ANY`]), and when it waits for a batch deadline ([`WAKE_FULL`]) once the ring
/// holds more than `wakeup_bytes`. While the reader runs (the flag is 0) a record costs one
/// load of a line nobody writes, and no wake-up: asking for one per record once the ring
/// passed the threshold (what this did before) raised an irq_work, a self-IPI, per record
/// while a lagging reader caught up, and that was most of a hit's cost.
///
/// Called after a record is committed: the commit is a full barrier (`xchg` on the record's
/// header), and the reader sets the flag, then issues a full barrier, then looks at the ring
/// a last time before sleeping. So either this load sees the flag or the reader's last look
/// sees the record: no record is left waiting for a wake-up that never comes.
///
/// The wake-up itself is an empty record discarded with `BPF_RB_FORCE_WAKEUP` (readers skip
/// discarded records); the record just committed could no longer ask for one.
///
/// `flag` is the reader's entry in [`WP_WAKE`]: 0 for a private session's one reader, a
/// shared object's slot (whose ring it is) otherwise.
#[inline(always)]
fn wake_reader(wakeup_bytes: u64, ring: u32, flag: u32) {
    let Some(flag) = WP_WAKE.get_ptr_mut(flag) else { return };
    // SAFETY: the map value is a valid, 8-aligned u64 for the program's lifetime.
    let wants = unsafe { core::ptr::read_volatile(flag) };
    if wants == 0 {
        return;
    }
    // Bytes not yet consumed, this record included.
    if wants == WAKE_FULL && with_ring!(ring, r => r.query(BPF_RB_AVAIL_DATA as u64)) <= wakeup_bytes {
        return;
    }
    let mut was = 0u64;
    // Claimed atomically, so that of the CPUs racing here only one wakes the reader.
    // SAFETY: as above.
    unsafe { core::arch::asm!("{v} = xchg_64({p} + 0, {v})", p = in(reg) flag, v = inout(reg) was) };
    if was != 0 {
        // Into the same ring: the reader waits on all of them.
        if let Some(e) = with_ring!(ring, r => r.reserve::<u64>(0)) {
            e.discard(BPF_RB_FORCE_WAKEUP as u64);
        }
    }
}

/// The cheapest path: header and registers straight into a reserved ring record.
#[inline(always)]
fn snapshot<const SHARED: bool>(regs: *const u64) -> u32 {
    // SAFETY (all helpers below): they take no pointers, or pointers into the record we
    // reserved, which is ours until submitted.
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    let Some(admitted) = admit::<SHARED>(regs as *mut c_void, (pid_tgid >> 32) as u32) else { return 0 };
    if SHARED {
        // Several readers may want it: assembled once, then copied into each one's ring.
        let fill = |dst| unsafe { copy_regs(regs, dst) };
        return assemble::<false, true>(admitted, pid_tgid, regs as *mut c_void, 0, fill, None, Phase::Hit);
    }
    let (ring, cpu) = admitted.ring();

    let Some(mut entry) = with_ring!(ring, r => r.reserve::<Record>(0)) else {
        count_lost();
        return 0;
    };
    let rec = entry.as_mut_ptr();
    // SAFETY: `rec` points to a reserved, writable record of the right size; `regs` is the
    // program's context (the probed task's saved `struct pt_regs`).
    unsafe {
        fill_header(&raw mut (*rec).header, regs as *mut c_void, 0, pid_tgid, cpu);
        copy_regs(regs, (&raw mut (*rec).regs).cast());
    }
    entry.submit(BPF_RB_NO_WAKEUP as u64);
    wake_reader(admitted.wakeup_bytes, ring, 0);
    0
}

/// What kind of hit a program serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A function or syscall probe.
    Hit,
    /// A tracepoint: its raw record goes into the event, and captures may start at fields.
    Tracepoint,
}

/// Claims this CPU's scratch buffer, or `None` (counted as lost) when a preempted program
/// on this CPU holds it.
#[inline(always)]
fn claim_scratch<const SHARED: bool>(admitted: &Admitted, tgid: u32) -> Option<*mut Scratch> {
    let s = WP_SCRATCH.get_ptr_mut(0)?;
    let mut was = 1u64;
    // SAFETY: `busy` is an 8-aligned u64 in the map value.
    unsafe {
        core::arch::asm!("{v} = xchg_64({p} + 0, {v})", p = in(reg) &raw mut (*s).busy, v = inout(reg) was);
    }
    if was != 0 {
        lose::<SHARED>(admitted, tgid);
        return None;
    }
    Some(s)
}

#[inline(always)]
fn release_scratch(s: *mut Scratch) {
    // SAFETY: as in `claim_scratch`.
    unsafe { core::ptr::write_volatile(&raw mut (*s).busy, 0) };
}

/// A record with an extension area: `fill_regs` writes the register slots; `ret_sp` (return
/// probes) is the stack pointer keying the paired entry.
#[inline(always)]
fn extended<const CAPTURES: bool, const SHARED: bool>(
    ctx: *mut c_void,
    flags: u32,
    fill_regs: impl FnOnce(*mut u64),
    ret_sp: Option<u64>,
    phase: Phase,
) -> u32 {
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    let Some(admitted) = admit::<SHARED>(ctx, (pid_tgid >> 32) as u32) else { return 0 };
    assemble::<CAPTURES, SHARED>(admitted, pid_tgid, ctx, flags, fill_regs, ret_sp, phase)
}

/// [`extended`] past the filters: assembles the record in the scratch buffer and copies it
/// into the CPU's ring, or into each admitting subscriber's.
#[inline(always)]
fn assemble<const CAPTURES: bool, const SHARED: bool>(
    admitted: Admitted,
    pid_tgid: u64,
    ctx: *mut c_void,
    flags: u32,
    fill_regs: impl FnOnce(*mut u64),
    ret_sp: Option<u64>,
    phase: Phase,
) -> u32 {
    let (ring, cpu) = admitted.ring();
    let id = unsafe { bpf_get_attach_cookie(ctx) } as u32;
    let Some(s) = claim_scratch::<SHARED>(&admitted, (pid_tgid >> 32) as u32) else { return 0 };
    // SAFETY: `s` is this CPU's scratch buffer, ours until released; every offset below is
    // bounded as the constants above prove.
    unsafe {
        let rec = (&raw mut (*s).rec) as *mut u8;
        fill_header(rec.cast(), ctx, flags | FLAG_EXT, pid_tgid, cpu);
        fill_regs(rec.add(HEADER_SIZE).cast());
        let mut pos = ITEMS;
        let mut count = 0u32;

        let mut entry_regs: *const u64 = core::ptr::null();
        if let Some(sp) = ret_sp {
            let key = EntryKey { tid: pid_tgid as u32, probe_id: id, sp };
            if let Some(e) = WP_ENTRY.get_ptr(&key) {
                write_item_header(rec.add(pos), KIND_ENTRY, STATUS_OK, 0, 0, (8 + 8 * NREGS) as u32, 0);
                bpf_probe_read_kernel(rec.add(pos + ITEM_HEADER_SIZE).cast(), (8 + 8 * NREGS) as u32, e.cast());
                // The copy, not the map value: the value is freed for reuse by `remove`.
                entry_regs = rec.add(pos + ITEM_HEADER_SIZE + 8) as *const u64;
                pos += ENTRY_ITEM;
                count += 1;
                if !CAPTURES {
                    // No captures: the entry half kept none either.
                } else if let Some(x) = WP_ENTRY_EXT.get_ptr(&key) {
                    let len = (*x).len;
                    if len > 0 && len <= MAX_ENTRY_EXT_BYTES {
                        let n = bound(len as u64, LEN_MASK) as u32;
                        bpf_probe_read_kernel(rec.add(pos).cast(), n, (&raw const (*x).items).cast());
                        pos += len as usize;
                        count += (*x).count;
                    }
                    let _ = WP_ENTRY_EXT.remove(&key);
                }
                let _ = WP_ENTRY.remove(&key);
            }
        }

        if let Some(conf) = WP_PROBES.get(id).filter(|_| CAPTURES) {
            let tp = if phase == Phase::Tracepoint { ctx as *const u8 } else { core::ptr::null() };
            let regs = rec.add(HEADER_SIZE) as *const u64;
            let select = if ret_sp.is_some() { Take::AtReturn } else { Take::All };
            let (p, n) = take_captures(conf, rec, pos, regs, entry_regs, tp, select);
            pos = p;
            count += n;
            if phase == Phase::Tracepoint && conf.tp_bytes > 0 && pos <= POS_MAX {
                let at = bound(pos as u64, POS_MASK as u64) as usize;
                let len = bound(conf.tp_bytes.min(MAX_TRACEPOINT_BYTES) as u64, LEN_MASK) as u32;
                write_item_header(rec.add(at), KIND_TRACEPOINT, STATUS_OK, 0, 0, len, 0);
                let r = bpf_probe_read_kernel(rec.add(at + ITEM_HEADER_SIZE).cast(), len, ctx);
                let len = if r == 0 { len } else { 0 };
                (*(rec.add(at + 4) as *mut u32)) = len;
                pos += ITEM_HEADER_SIZE + pad8(len as usize);
                count += 1;
            }
        }

        (*(rec.add(BASE) as *mut u32)) = (pos - ITEMS) as u32;
        (*(rec.add(BASE + 4) as *mut u32)) = count;
        let size = bound(pos as u64, POS_MASK as u64) as usize;
        let bytes = core::slice::from_raw_parts(rec as *const u8, size);
        if SHARED {
            fan_out(&admitted, (pid_tgid >> 32) as u32, rec, bytes, flags | FLAG_EXT);
        } else if with_ring!(ring, r => r.output::<[u8]>(bytes, BPF_RB_NO_WAKEUP as u64)).is_err() {
            count_lost();
        } else {
            wake_reader(admitted.wakeup_bytes, ring, 0);
        }
    }
    release_scratch(s);
    0
}

/// A shared object: the assembled record (`bytes`, starting at `rec`) into the ring of each
/// subscribed slot whose scope admits the task `tgid`, its flags tagged with that slot's
/// generation.
///
/// SAFETY: `rec` is the scratch record `bytes` covers.
#[inline(always)]
unsafe fn fan_out(admitted: &Admitted, tgid: u32, rec: *mut u8, bytes: &[u8], flags: u32) {
    // SAFETY: a helper without arguments.
    let uid = unsafe { bpf_get_current_uid_gid() } as u32;
    for s in 0..MAX_RINGS {
        if admitted.subs & (1 << s) == 0 {
            continue;
        }
        let Some(gen) = slot_admits(s as u32, tgid, uid) else { continue };
        // SAFETY: the header's flags are inside the record.
        unsafe { *(rec.add(wprobe_common::record::OFF_FLAGS) as *mut u32) = flags | (gen << SLOT_GEN_SHIFT) };
        if with_ring!(s, r => r.output::<[u8]>(bytes, BPF_RB_NO_WAKEUP as u64)).is_err() {
            count_lost_at(s as u32);
        } else {
            wake_reader(admitted.wakeup_bytes, s as u32, s as u32);
        }
    }
}

/// The entry half of a return probe: remembers the time, the registers and the captures
/// marked `CAP_AT_ENTRY`, keyed so that the return finds exactly its own entry.
#[inline(always)]
fn remember_entry<const CAPTURES: bool, const SHARED: bool>(
    ctx: *mut c_void,
    sp: u64,
    fill_regs: impl FnOnce(*mut u64),
) -> u32 {
    let pid_tgid = unsafe { bpf_get_current_pid_tgid() };
    let Some(admitted) = admit::<SHARED>(ctx, (pid_tgid >> 32) as u32) else { return 0 };
    let id = unsafe { bpf_get_attach_cookie(ctx) } as u32;
    let Some(s) = claim_scratch::<SHARED>(&admitted, (pid_tgid >> 32) as u32) else { return 0 };
    // SAFETY: as in `extended`.
    unsafe {
        let rec = (&raw mut (*s).rec) as *mut u8;
        // The entry value is laid out as [timestamp, registers] at the start of `rec`.
        *(rec as *mut u64) = bpf_ktime_get_ns();
        fill_regs(rec.add(8).cast());
        let key = EntryKey { tid: pid_tgid as u32, probe_id: id, sp };
        let _ = WP_ENTRY.insert(&key, &*(rec as *const EntryVal), 0);

        if let Some(conf) = WP_PROBES.get(id).filter(|_| CAPTURES) {
            // Items go after the entry value, then move into the entry-captures map.
            let at = 8 + 8 * NREGS;
            let regs = rec.add(8) as *const u64;
            let (end, n) = take_captures(conf, rec, at, regs, core::ptr::null(), core::ptr::null(), Take::AtEntry);
            let len = (end - at) as u32;
            if let Some(x) = WP_ENTRY_SCRATCH.get_ptr_mut(0) {
                if n > 0 && len <= MAX_ENTRY_EXT_BYTES {
                    (*x).len = len;
                    (*x).count = n;
                    let copy = bound(len as u64, LEN_MASK) as u32;
                    bpf_probe_read_kernel((&raw mut (*x).items).cast(), copy, rec.add(at).cast());
                    let _ = WP_ENTRY_EXT.insert(&key, &*x, 0);
                }
            }
        }
    }
    release_scratch(s);
    0
}

/// Which of a probe's captures a program takes.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
enum Take {
    /// Entry probes and tracepoints: every capture.
    All,
    /// The entry half of a return probe: those marked `CAP_AT_ENTRY`.
    AtEntry,
    /// The return half: the others.
    AtReturn,
}

/// Takes the probe's captures that `select` picks, as items from `pos`. Returns the new
/// position and the number of items.
///
/// After each capture the position and count are masked: every path through a capture (a
/// string, bytes, a fault) then leaves the same verifier state, which it prunes, instead of
/// multiplying the paths through eight captures past its complexity limit. (`bpf_loop`
/// would do the same but needs BTF in the object, which this build leaves out.)
///
/// SAFETY: `rec` is the scratch record; `regs` points at a register snapshot; `entry_regs`
/// and `tp` are null or valid.
#[inline(always)]
unsafe fn take_captures(
    conf: &ProbeConf,
    rec: *mut u8,
    pos: usize,
    regs: *const u64,
    entry_regs: *const u64,
    tp: *const u8,
    select: Take,
) -> (usize, u32) {
    let mut state = Captures { conf, rec, regs, entry_regs, tp, pos: pos as u64, count: 0, select: select as u64 };
    let n = conf.ncap as usize;
    for i in 0..MAX_CAPTURES {
        if i >= n || capture_one(i, &mut state) {
            break;
        }
        state.pos = bound(state.pos, POS_MASK as u64);
        state.count = bound(state.count, 0xff);
    }
    (state.pos as usize, state.count as u32)
}

/// What [`capture_one`] works on.
#[repr(C)]
struct Captures {
    conf: *const ProbeConf,
    rec: *mut u8,
    regs: *const u64,
    entry_regs: *const u64,
    tp: *const u8,
    pos: u64,
    count: u64,
    select: u64,
}

/// Takes capture `i` of the probe into the record at `st.pos`. Returns true to stop.
#[inline(always)]
fn capture_one(i: usize, st: &mut Captures) -> bool {
    // SAFETY: `conf` is the probe's map value, valid for the program's run.
    let c = unsafe { &(*st.conf).caps[i] };
    let at_entry = c.flags & CAP_AT_ENTRY != 0;
    let skip = match st.select {
        s if s == Take::AtEntry as u64 => !at_entry,
        s if s == Take::AtReturn as u64 => at_entry,
        _ => false,
    };
    if skip {
        return false;
    }
    let pos = st.pos as usize;
    if pos > POS_MAX {
        return true;
    }
    let user = c.flags & CAP_USER != 0;
    let slot = c.base_arg as usize;
    // SAFETY (this block): reads of bounded slots and offsets.
    let base = unsafe {
        match c.base_kind {
            BASE_REG if slot < NREGS => core::ptr::read_volatile(st.regs.add(slot)),
            BASE_ENTRY_REG if slot < NREGS && !st.entry_regs.is_null() => {
                core::ptr::read_volatile(st.entry_regs.add(slot))
            }
            BASE_FIELD if !st.tp.is_null() => {
                let mut v = 0u64;
                let size = if c.field_size >= 8 { 8 } else { c.field_size as u32 };
                bpf_probe_read_kernel((&raw mut v).cast(), size, st.tp.add(slot & 0xfff).cast());
                v
            }
            BASE_ABSOLUTE => 0,
            _ => return false,
        }
    };
    let mut addr = base.wrapping_add(c.offset as u64);
    let mut status = STATUS_OK;
    for d in 0..MAX_DEREFS {
        if d >= c.nderef as usize {
            break;
        }
        let mut next = 0u64;
        // SAFETY: reads 8 bytes of kernel or user memory into `next`; failure is reported.
        let r = unsafe {
            if user {
                bpf_probe_read_user((&raw mut next).cast(), 8, addr as *const c_void)
            } else {
                bpf_probe_read_kernel((&raw mut next).cast(), 8, addr as *const c_void)
            }
        };
        if r != 0 {
            status = STATUS_FAULT;
            break;
        }
        addr = next.wrapping_add(c.derefs[d] as u64);
    }
    let size = bound(c.size.min(MAX_CAPTURE_BYTES) as u64, LEN_MASK) as u32;
    let at = bound(pos as u64, POS_MASK as u64) as usize;
    let rec = st.rec;
    // SAFETY: `at` plus an item header plus `size` stays inside the scratch record (the
    // asserts on the masks above).
    let dst = unsafe { rec.add(at + ITEM_HEADER_SIZE) };
    let mut len = 0u32;
    if status == STATUS_OK && size > 0 {
        // SAFETY: `dst` has room for `size` bytes; the helpers read any source safely.
        let r = unsafe {
            match (c.flags & CAP_STRING != 0, user) {
                (true, true) => bpf_probe_read_user_str(dst.cast(), size, addr as *const c_void),
                (true, false) => bpf_probe_read_kernel_str(dst.cast(), size, addr as *const c_void),
                (false, true) => bpf_probe_read_user(dst.cast(), size, addr as *const c_void),
                (false, false) => bpf_probe_read_kernel(dst.cast(), size, addr as *const c_void),
            }
        };
        if r < 0 {
            status = STATUS_FAULT;
        } else if c.flags & CAP_STRING != 0 {
            // The helpers count the NUL they always write; a full buffer may have cut it.
            len = (r as u32).saturating_sub(1);
            if r as u32 >= size {
                status = STATUS_TRUNCATED;
            }
        } else {
            len = size;
        }
    }
    let space = if user { SPACE_USER } else { SPACE_KERNEL };
    // SAFETY: the item header fits at `at`.
    unsafe { write_item_header(rec.add(at), KIND_CAPTURE, status, space, c.index, len, addr) };
    st.pos = (pos + ITEM_HEADER_SIZE + pad8(len as usize)) as u64;
    st.count += 1;
    false
}

/// SAFETY: `at` has room for an item header.
#[inline(always)]
unsafe fn write_item_header(at: *mut u8, kind: u8, status: u8, space: u8, index: u8, len: u32, addr: u64) {
    unsafe {
        *at = kind;
        *at.add(1) = status;
        *at.add(2) = space;
        *at.add(3) = index;
        *(at.add(4) as *mut u32) = len;
        *(at.add(8) as *mut u64) = addr;
    }
}

/// SAFETY: `dst` is a register array.
#[inline(always)]
unsafe fn zero_regs(dst: *mut u64) {
    for i in 0..NREGS {
        unsafe { dst.add(i).write(0) };
    }
}

/// The user's registers at a syscall (`struct pt_regs *` from the wrapper's argument), with
/// the syscall's arguments moved into the function-call argument slots where the two
/// conventions differ (x86_64's r10), so that `pointer_arg(n)` is the syscall's argument n.
///
/// SAFETY: `dst` is a register array; `user` is read with a checked helper.
#[inline(always)]
unsafe fn user_syscall_regs(user: *const u64, dst: *mut u64) {
    unsafe {
        if bpf_probe_read_kernel(dst.cast(), (8 * NREGS) as u32, user.cast()) != 0 {
            zero_regs(dst);
        }
        arch::syscall_to_call_convention(dst);
    }
}

/// A `sys_enter_*` record: `int __syscall_nr` at 8, then the arguments as 8-byte fields from
/// 16 on (as many as the syscall has; the rest of the 48 bytes is whatever follows, which
/// the accessors never reach because the host knows the argument count).
///
/// SAFETY: `dst` is a register array; `raw` is the tracepoint's record.
#[inline(always)]
unsafe fn tracepoint_syscall_regs(raw: *const u8, dst: *mut u64) {
    unsafe {
        zero_regs(dst);
        let mut args = [0u64; 6];
        bpf_probe_read_kernel(args.as_mut_ptr().cast(), 48, raw.add(16).cast());
        let mut nr = 0i32;
        bpf_probe_read_kernel((&raw mut nr).cast(), 4, raw.add(8).cast());
        for (i, slot) in arch::CALL_ARGS6.iter().enumerate() {
            dst.add(*slot).write(args[i]);
        }
        dst.add(arch::SYSCALL_NR).write(nr as i64 as u64);
    }
}

/// A syscall's return: only the return value is known (in rax, x0); the entry carries the rest.
///
/// SAFETY: `dst` is a register array.
#[inline(always)]
unsafe fn return_regs(ret: u64, dst: *mut u64) {
    unsafe {
        zero_regs(dst);
        dst.add(arch::RET).write(ret);
    }
}

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
