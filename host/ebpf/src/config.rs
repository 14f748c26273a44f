//! Names and run-time settings shared by the eBPF program and the host's loader.
//!
//! This file has no dependencies so that both sides compile the very same text: the eBPF
//! crate as `mod config`, the host through `#[path]` (see `host/src/live/embedded.rs`). A
//! change here therefore changes the eBPF sources' hash, and `cargo xtask bpf --check`
//! insists that the checked-in object is rebuilt.

/// The ring buffer the snapshots go through.
pub const EVENTS_MAP: &str = "WP_EVENTS";
/// Per-CPU `u64` (one entry): snapshots dropped because the ring was full. Only ever
/// incremented by the kernel; the host reports differences, never resets it.
pub const LOST_MAP: &str = "WP_LOST";
/// One [`Config`] entry, written by the host before anything is attached.
pub const CONFIG_MAP: &str = "WP_CONFIG";

/// Entry probe programs (kprobe and uprobe are the same program type, but aya picks its
/// attach API from the ELF section, so each probe family has its own copy).
pub const PROG_UPROBE: &str = "wp_uprobe";
pub const PROG_URETPROBE: &str = "wp_uretprobe";
pub const PROG_KPROBE: &str = "wp_kprobe";
pub const PROG_KRETPROBE: &str = "wp_kretprobe";
/// A uprobe program that does nothing: the baseline when measuring the snapshot's cost.
pub const PROG_EMPTY: &str = "wp_empty";

/// The eBPF program's settings, entry 0 of [`CONFIG_MAP`]. Until the host writes it, every
/// field is zero, which means "trace every process, wake the reader on every event".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Config {
    /// Record only this thread group (SystemTap's pid); 0 records every process.
    pub filter_tgid: u32,
    /// Zero; keeps `wakeup_bytes` 8-aligned with no implicit padding.
    pub reserved: u32,
    /// Submit with `BPF_RB_FORCE_WAKEUP` once the ring holds more than this many bytes,
    /// `BPF_RB_NO_WAKEUP` below it. The reader polls on a short timer for the rest.
    pub wakeup_bytes: u64,
}
