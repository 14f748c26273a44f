//! Names and run-time settings shared by the eBPF program and the host's loader.
//!
//! This file has no dependencies so that both sides compile the very same text: the eBPF
//! crate as `mod config`, the host through `#[path]` (see `host/src/live/embedded.rs`). A
//! change here therefore changes the eBPF sources' hash, and `cargo xtask bpf --check`
//! insists that the checked-in object is rebuilt.

/// The ring buffers the snapshots go through, and the most a session has: one per CPU, CPU `c` writing into ring
/// `c & Config::ring_mask` (a power of two of them, up to this many; the rest take a page).
/// A ring shared between CPUs made a hit cost about 40 % more with two threads than with one
/// (the ring's lock and its producer position's line); a ring per CPU did not.
pub const MAX_RINGS: usize = 8;
pub const EVENTS_MAPS: [&str; MAX_RINGS] = [
    "WP_EVENTS",
    "WP_EVENTS_1",
    "WP_EVENTS_2",
    "WP_EVENTS_3",
    "WP_EVENTS_4",
    "WP_EVENTS_5",
    "WP_EVENTS_6",
    "WP_EVENTS_7",
];
/// Per-CPU `u64`s: snapshots dropped because the ring was full, at entry 0 for a private
/// session, at a subscriber's slot in a shared object. Only ever incremented by the kernel;
/// the host reports differences, never resets them.
pub const LOST_MAP: &str = "WP_LOST";
/// One [`Config`] entry, written by the host before anything is attached.
pub const CONFIG_MAP: &str = "WP_CONFIG";
/// One [`ProbeConf`] per probe id: what to take besides the registers. Sized by the host to
/// the number of probes.
pub const PROBES_MAP: &str = "WP_PROBES";
/// LRU hash [`EntryKey`] → [`EntryVal`]: the entries of calls whose return probe has not
/// fired yet. LRU, so that calls that never return (longjmp, a thread killed mid-call) age
/// out instead of filling it.
pub const ENTRY_MAP: &str = "WP_ENTRY";
/// LRU hash [`EntryKey`] → [`EntryExt`]: captures taken at entry for return probes.
pub const ENTRY_EXT_MAP: &str = "WP_ENTRY_EXT";
/// `u64`s (entry 0 for a private session, a subscriber's slot in a shared object): how the
/// reader waits, set by it before it waits on the ring's fd ([`WAKE_ANY`]
/// or [`WAKE_FULL`]), 0 while it runs. The record that wakes it claims the flag back to 0;
/// every other record is submitted without a wake-up. See `wake_reader` in the eBPF program.
pub const WAKE_MAP: &str = "WP_WAKE";
/// The reader sleeps with nothing to do: the next record wakes it.
pub const WAKE_ANY: u64 = 1;
/// The reader waits for a batch deadline: a record wakes it once the ring holds more than
/// [`Config::wakeup_bytes`].
pub const WAKE_FULL: u64 = 2;
/// Hash `u32` → `u8`: the thread groups in scope when [`Config::scope_tree`] is set.
pub const SCOPE_MAP: &str = "WP_SCOPE";

/// A shared object (`wprobe serve`: sessions probing the same points share one attachment)
/// has up to [`MAX_RINGS`] subscribers, each with a slot: its [`SlotConf`] (its scope) in
/// entry `s` of this array, its ring `EVENTS_MAPS[s]`, its lost count and wake flag at entry
/// `s` of [`LOST_MAP`] and [`WAKE_MAP`].
pub const SLOTS_MAP: &str = "WP_SLOTS";
/// Array `u32` per probe id: the slots subscribed to that probe (bit `s`: slot `s`).
pub const SUBS_MAP: &str = "WP_SUBS";
/// In a shared object a record's flags carry, from this bit up, the generation of the slot
/// conf that admitted it: the reader of a reused slot drops what an earlier subscriber's
/// scope let in, and clears these bits before the handler sees the record.
pub const SLOT_GEN_SHIFT: u32 = 16;

/// Entry probe programs (kprobe and uprobe are the same program type, but aya picks its
/// attach API from the ELF section, so each probe family has its own copy). They take
/// the registers only: the cheapest path, used by every probe without captures.
pub const PROG_UPROBE: &str = "wp_uprobe";
pub const PROG_KPROBE: &str = "wp_kprobe";
/// The same with the probe's [`ProbeConf`]: captures.
pub const PROG_UPROBE_X: &str = "wp_uprobe_x";
pub const PROG_KPROBE_X: &str = "wp_kprobe_x";
/// Entry halves of return probes: remember the entry, emit nothing. Here and below, the
/// `_PLAIN` twin of a program takes no captures (for probes that have none): cheaper per hit
/// and much quicker to verify.
pub const PROG_UPROBE_ENTRY: &str = "wp_uprobe_entry";
pub const PROG_KPROBE_ENTRY: &str = "wp_kprobe_entry";
pub const PROG_UPROBE_ENTRY_PLAIN: &str = "wp_uprobe_entry_plain";
pub const PROG_KPROBE_ENTRY_PLAIN: &str = "wp_kprobe_entry_plain";
/// Return probes: the return registers, the paired entry and the probe's captures.
pub const PROG_URETPROBE: &str = "wp_uretprobe";
pub const PROG_KRETPROBE: &str = "wp_kretprobe";
pub const PROG_URETPROBE_PLAIN: &str = "wp_uretprobe_plain";
pub const PROG_KRETPROBE_PLAIN: &str = "wp_kretprobe_plain";
/// Syscalls through their `__x64_sys_*` wrapper (kernels with kprobes): the wrapper's one
/// argument is the user's `struct pt_regs *`, whose argument registers are copied into the
/// function-call argument slots, so the accessors give the syscall's arguments.
pub const PROG_KPROBE_SYSCALL: &str = "wp_kprobe_syscall";
pub const PROG_KPROBE_SYSCALL_ENTRY: &str = "wp_kprobe_syscall_entry";
pub const PROG_KRETPROBE_SYSCALL: &str = "wp_kretprobe_syscall";
pub const PROG_KPROBE_SYSCALL_PLAIN: &str = "wp_kprobe_syscall_plain";
pub const PROG_KPROBE_SYSCALL_ENTRY_PLAIN: &str = "wp_kprobe_syscall_entry_plain";
pub const PROG_KRETPROBE_SYSCALL_PLAIN: &str = "wp_kretprobe_syscall_plain";
/// Syscalls through the `syscalls:sys_enter_*` / `sys_exit_*` tracepoints (kernels without
/// kprobes): the arguments are copied into the same slots.
pub const PROG_TP_SYS_ENTER: &str = "wp_tp_sys_enter";
pub const PROG_TP_SYS_ENTER_ENTRY: &str = "wp_tp_sys_enter_entry";
pub const PROG_TP_SYS_EXIT: &str = "wp_tp_sys_exit";
pub const PROG_TP_SYS_ENTER_PLAIN: &str = "wp_tp_sys_enter_plain";
pub const PROG_TP_SYS_ENTER_ENTRY_PLAIN: &str = "wp_tp_sys_enter_entry_plain";
pub const PROG_TP_SYS_EXIT_PLAIN: &str = "wp_tp_sys_exit_plain";
/// Any tracepoint: its raw record and the probe's captures.
pub const PROG_TRACEPOINT: &str = "wp_tracepoint";
/// `sched:sched_process_fork`: adds children of scoped processes to [`SCOPE_MAP`].
pub const PROG_FORK: &str = "wp_fork";
/// A uprobe program that does nothing: the baseline when measuring the snapshot's cost.
pub const PROG_EMPTY: &str = "wp_empty";
/// Benchmark-only uprobe programs, each doing a growing prefix of the snapshot's work
/// (context, filters, ring reserve and commit, header, registers): attached beside
/// `wp_empty` when measuring, never in a session.
pub const PROG_COST_PARTS: [&str; 5] =
    ["wp_cost_context", "wp_cost_filters", "wp_cost_reserve", "wp_cost_header", "wp_cost_regs"];
/// Benchmark-only uprobe programs that write the whole record into another ring every CPU
/// shares, into a ring per CPU, and a smaller record into the session's ring: what a ring per
/// CPU and a smaller record would save.
pub const PROG_COST_RINGS: [&str; 3] = ["wp_cost_one", "wp_cost_percpu", "wp_cost_small"];
/// Their own rings (a page each unless the benchmark runs).
pub const COST_RING_MAPS: [&str; 3] = ["WP_COST_ONE", "WP_COST_CPU0", "WP_COST_CPU1"];

/// Each program a probe attaches, with its twin for a shared object (`_s`: the same work,
/// fanned out to the subscribers whose scope admits the hit).
pub const SHARED_PROGRAMS: [(&str, &str); 25] = [
    (PROG_UPROBE, "wp_uprobe_s"),
    (PROG_KPROBE, "wp_kprobe_s"),
    (PROG_UPROBE_X, "wp_uprobe_x_s"),
    (PROG_KPROBE_X, "wp_kprobe_x_s"),
    (PROG_UPROBE_ENTRY, "wp_uprobe_entry_s"),
    (PROG_UPROBE_ENTRY_PLAIN, "wp_uprobe_entry_plain_s"),
    (PROG_KPROBE_ENTRY, "wp_kprobe_entry_s"),
    (PROG_KPROBE_ENTRY_PLAIN, "wp_kprobe_entry_plain_s"),
    (PROG_URETPROBE, "wp_uretprobe_s"),
    (PROG_URETPROBE_PLAIN, "wp_uretprobe_plain_s"),
    (PROG_KRETPROBE, "wp_kretprobe_s"),
    (PROG_KRETPROBE_PLAIN, "wp_kretprobe_plain_s"),
    (PROG_KPROBE_SYSCALL, "wp_kprobe_syscall_s"),
    (PROG_KPROBE_SYSCALL_PLAIN, "wp_kprobe_syscall_plain_s"),
    (PROG_KPROBE_SYSCALL_ENTRY, "wp_kprobe_syscall_entry_s"),
    (PROG_KPROBE_SYSCALL_ENTRY_PLAIN, "wp_kprobe_syscall_entry_plain_s"),
    (PROG_KRETPROBE_SYSCALL, "wp_kretprobe_syscall_s"),
    (PROG_KRETPROBE_SYSCALL_PLAIN, "wp_kretprobe_syscall_plain_s"),
    (PROG_TP_SYS_ENTER, "wp_tp_sys_enter_s"),
    (PROG_TP_SYS_ENTER_PLAIN, "wp_tp_sys_enter_plain_s"),
    (PROG_TP_SYS_ENTER_ENTRY, "wp_tp_sys_enter_entry_s"),
    (PROG_TP_SYS_ENTER_ENTRY_PLAIN, "wp_tp_sys_enter_entry_plain_s"),
    (PROG_TP_SYS_EXIT, "wp_tp_sys_exit_s"),
    (PROG_TP_SYS_EXIT_PLAIN, "wp_tp_sys_exit_plain_s"),
    (PROG_TRACEPOINT, "wp_tracepoint_s"),
];

/// Captures per probe.
pub const MAX_CAPTURES: usize = 8;
/// Pointer dereferences per capture.
pub const MAX_DEREFS: usize = 4;
/// Bytes one capture may take.
pub const MAX_CAPTURE_BYTES: u32 = 4096;
/// Bytes of extension items one event may carry (captures, tracepoint data).
pub const MAX_EXT_BYTES: u32 = 4096;
/// Bytes of captures taken at entry for one return probe.
pub const MAX_ENTRY_EXT_BYTES: u32 = 4096;
/// Bytes of a tracepoint's raw record the program copies at most.
pub const MAX_TRACEPOINT_BYTES: u32 = 1024;
/// The per-CPU buffer records with an extension area are assembled in. Big enough for the
/// verifier's view of every write: a start masked to 14 bits, a length masked to 13 (the
/// logical bounds, POS_MAX and MAX_CAPTURE_BYTES, are checked before the masks).
pub const SCRATCH_BYTES: usize = 25600;

/// The eBPF program's settings, entry 0 of [`CONFIG_MAP`]. Until the host writes it, every
/// field is zero, which means "trace every process, wake the reader on every event".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Config {
    /// Record only this thread group (SystemTap's pid); 0 records every process.
    pub filter_tgid: u32,
    /// Never record this thread group (wprobe itself); 0 excludes nothing.
    pub exclude_tgid: u32,
    /// Wake a reader waiting for a batch deadline once the ring holds more than this many
    /// bytes (see [`WAKE_FULL`]).
    pub wakeup_bytes: u64,
    /// Non-zero: record only thread groups in [`SCOPE_MAP`] (the `-c` command's tree).
    pub scope_tree: u32,
    /// Non-zero: record only tasks whose command name is `comm`.
    pub filter_comm: u32,
    /// `--comm NAME`, NUL-padded.
    pub comm: [u8; 16],
    /// Offsets of `parent_pid` and `child_pid` in `sched_process_fork`'s record (from its
    /// format file: they moved between kernel versions).
    pub fork_parent_off: u32,
    pub fork_child_off: u32,
    /// Non-zero: record only tasks whose real uid is [`Config::filter_uid`] (`wprobe serve`:
    /// a tenant's own processes). A flag beside the uid, since uid 0 is a uid.
    pub scope_uid: u32,
    pub filter_uid: u32,
    /// Non-zero: record only tasks in the cgroup v2 subtree whose root has this id (the
    /// directory's inode number) and sits at [`Config::cgroup_level`] below the root.
    pub cgroup_id: u64,
    pub cgroup_level: u32,
    /// The number of rings in use minus one (a power of two minus one): CPU `c` writes into
    /// ring `c & ring_mask` of [`EVENTS_MAPS`].
    pub ring_mask: u32,
    /// A shared object (its programs are the [`SHARED_PROGRAMS`]): the slots with a
    /// subscriber (bit `s`: slot `s`, see [`SLOTS_MAP`]). The filters above but
    /// `exclude_tgid` do not apply there; each slot has its own.
    pub slots: u32,
    pub reserved: u32,
}

/// One subscriber of a shared object: its scope, as the filters of [`Config`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SlotConf {
    pub filter_tgid: u32,
    pub scope_uid: u32,
    pub filter_uid: u32,
    pub cgroup_level: u32,
    pub cgroup_id: u64,
    pub filter_comm: u32,
    /// Tags the records this conf admits (see [`SLOT_GEN_SHIFT`]); never 0 in use.
    pub gen: u32,
    pub comm: [u8; 16],
}

/// Base values a capture's address starts from.
pub const BASE_ABSOLUTE: u8 = 0;
/// A slot of the register snapshot taken at this hit.
pub const BASE_REG: u8 = 1;
/// A slot of the paired entry's snapshot (return probes: the entry arguments).
pub const BASE_ENTRY_REG: u8 = 2;
/// An integer field of the tracepoint's raw record, at `base_arg`, `field_size` bytes.
pub const BASE_FIELD: u8 = 3;

/// Capture flags.
pub const CAP_STRING: u8 = 1;
pub const CAP_USER: u8 = 2;
/// Return probes: take this capture at the entry, not at the return.
pub const CAP_AT_ENTRY: u8 = 4;

/// One capture: `addr = base + offset`, then for each deref `addr = *(u64 *)addr + deref`,
/// then `size` bytes (or a string of at most `size - 1` bytes) at `addr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct CaptureConf {
    pub base_kind: u8,
    pub flags: u8,
    /// Position in the handler's capture list, reported in each item.
    pub index: u8,
    pub nderef: u8,
    /// Register slot, or field offset.
    pub base_arg: u16,
    /// Field size in bytes (1, 2, 4, 8) for `BASE_FIELD`.
    pub field_size: u16,
    pub size: u32,
    pub reserved: u32,
    pub offset: i64,
    pub derefs: [i64; MAX_DEREFS],
}

/// What one probe takes besides the registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct ProbeConf {
    /// Captures in use, at most [`MAX_CAPTURES`].
    pub ncap: u32,
    /// Bytes of the tracepoint's raw record to copy (tracepoint probes), at most
    /// [`MAX_TRACEPOINT_BYTES`].
    pub tp_bytes: u32,
    pub caps: [CaptureConf; MAX_CAPTURES],
}

/// Pairs a return with its entry: the thread, the probe, and the stack pointer the return
/// will see (x86_64: the entry's plus 8, the popped return address), so that recursive
/// calls pair exactly. Syscalls (which do not nest) use 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct EntryKey {
    pub tid: u32,
    pub probe_id: u32,
    pub sp: u64,
}

/// A remembered entry: its time and registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct EntryVal {
    pub timestamp_ns: u64,
    pub regs: [u64; 21],
}

/// Captures taken at entry: `len` bytes of extension items holding `count` items. `len` is
/// at most [`MAX_ENTRY_EXT_BYTES`]; the buffer is twice that because the verifier bounds the
/// copy's length from how it was computed, not from the check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct EntryExt {
    pub len: u32,
    pub count: u32,
    pub items: [u8; 2 * MAX_ENTRY_EXT_BYTES as usize],
}
