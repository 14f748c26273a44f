//! The compiled eBPF program, embedded, and the settings it shares with the host.
//!
//! `wprobe.bpf.o` is built from `host/ebpf` by `cargo xtask bpf` and checked in, so that
//! building the host needs only stable Rust. `cargo xtask bpf --check` keeps it in step with
//! its sources.

/// Names and the `Config` record, compiled from the eBPF crate's own file so that both sides
/// cannot disagree about them.
#[path = "../../ebpf/src/config.rs"]
// Some names are for the eBPF side only (the entry map's layout, the scratch size).
#[allow(dead_code)]
mod config;

pub(crate) use config::*;

// SAFETY: each is `#[repr(C)]`, made of integers only, with no padding.
unsafe impl aya::Pod for Config {}
unsafe impl aya::Pod for ProbeConf {}
unsafe impl aya::Pod for SlotConf {}

/// The object's bytes, 8-aligned as ELF parsing wants: the one built for this machine's
/// `struct pt_regs` (`cargo xtask bpf` builds both).
#[cfg(not(target_arch = "aarch64"))]
pub(crate) fn bytes() -> &'static [u8] {
    aya::include_bytes_aligned!("../../ebpf/wprobe.bpf.o")
}
#[cfg(target_arch = "aarch64")]
pub(crate) fn bytes() -> &'static [u8] {
    aya::include_bytes_aligned!("../../ebpf/wprobe-aarch64.bpf.o")
}
