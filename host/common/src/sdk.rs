//! What the C, Python and JavaScript SDKs take from this crate, as one table.
//!
//! `cargo xtask sdk-gen` writes [`LAYOUT`] and [`crate::texts::ACCESS_ERRORS`] into
//! `guest-sdk/c/src/wprobe_common.h`, `guest-sdk/python/wprobe_common.py` and
//! `guest-sdk/js/wprobe_common.js`; `cargo xtask sdk-gen --check` (CI) fails when those are
//! stale. A new layout constant an SDK needs is one line here, never a number typed into an
//! SDK.

use crate::abi::{aarch64, x86_64, Arch};
use crate::{batch, ext, record};

/// One constant: its name in every SDK, its value, what it is.
#[derive(Clone, Copy, Debug)]
pub struct Const {
    pub name: &'static str,
    pub value: u64,
    pub doc: &'static str,
}

const fn c(name: &'static str, value: usize, doc: &'static str) -> Const {
    Const { name, value: value as u64, doc }
}

/// The flat batch, its records and their extension areas (wit/probe.wit, `delivery::flat`).
pub const LAYOUT: &[Const] = &[
    Const {
        name: "BATCH_MAGIC",
        value: u32::from_le_bytes(batch::MAGIC) as u64,
        doc: "\"WPB2\", the batch's first 4 bytes read as a little-endian u32",
    },
    c("BATCH_HEADER_SIZE", batch::BATCH_HEADER_SIZE, "bytes of the batch header"),
    c("B_ARCH", batch::OFF_ARCH, "batch header: u8 arch (ARCH_X86_64, ARCH_AARCH64)"),
    c("B_COUNT", batch::OFF_COUNT, "batch header: u32 number of records"),
    c("B_RECORD_SIZE", batch::OFF_RECORD_SIZE, "batch header: u32 size of a record's fixed part"),
    c("B_LOST", batch::OFF_LOST, "batch header: u64 events the kernel dropped before this batch"),
    c("ARCH_X86_64", Arch::X86_64 as usize, "the batch header's code for x86_64"),
    c("ARCH_AARCH64", Arch::Aarch64 as usize, "the batch header's code for aarch64"),
    c("NREGS_X86_64", x86_64::NREGS, "register slots of an x86_64 record"),
    c("NREGS_AARCH64", aarch64::NREGS, "register slots of an aarch64 record"),
    c("RECORD_HEADER_SIZE", record::HEADER_SIZE, "bytes of a record's header, before its registers"),
    c("R_PROBE_ID", record::OFF_PROBE_ID, "record: u32 probe id"),
    c("R_FLAGS", record::OFF_FLAGS, "record: u32 flags (FLAG_RETURN, FLAG_EXT)"),
    c("R_PID", record::OFF_PID, "record: u32 pid (thread-group id)"),
    c("R_TID", record::OFF_TID, "record: u32 tid"),
    c("R_UID", record::OFF_UID, "record: u32 uid"),
    c("R_CPU", record::OFF_CPU, "record: u32 cpu"),
    c("R_TIME", record::OFF_TIMESTAMP, "record: u64 CLOCK_MONOTONIC ns"),
    c("R_COMM", record::OFF_COMM, "record: the command name, NUL-padded"),
    c("COMM_LEN", record::COMM_LEN, "bytes of the command name field"),
    c("R_REGS", record::OFF_REGS, "record: the u64 register snapshot"),
    c("FLAG_RETURN", record::FLAG_RETURN as usize, "record flag: a return probe"),
    c("FLAG_EXT", record::FLAG_EXT as usize, "record flag: an extension area follows the registers"),
    c("EXT_HEADER_SIZE", ext::EXT_HEADER_SIZE, "bytes of the extension header"),
    c("X_LEN", ext::OFF_EXT_LEN, "extension header: u32 bytes of the items that follow"),
    c("X_COUNT", ext::OFF_EXT_COUNT, "extension header: u32 number of items"),
    c("ITEM_HEADER_SIZE", ext::ITEM_HEADER_SIZE, "bytes of an item's header"),
    c("I_KIND", ext::OFF_ITEM_KIND, "item: u8 kind (KIND_*)"),
    c("I_STATUS", ext::OFF_ITEM_STATUS, "item: u8 status (STATUS_*)"),
    c("I_SPACE", ext::OFF_ITEM_SPACE, "item: u8 address space (SPACE_*)"),
    c("I_INDEX", ext::OFF_ITEM_INDEX, "item: u8 the capture's position in the handler's list"),
    c("I_LEN", ext::OFF_ITEM_LEN, "item: u32 data bytes (padded to a multiple of 8)"),
    c("I_ADDR", ext::OFF_ITEM_ADDR, "item: u64 the address read"),
    c("KIND_ENTRY", ext::KIND_ENTRY as usize, "item: a return probe's entry (u64 time, registers)"),
    c("KIND_CAPTURE", ext::KIND_CAPTURE as usize, "item: memory captured at the hit"),
    c("KIND_TRACEPOINT", ext::KIND_TRACEPOINT as usize, "item: the tracepoint's raw record"),
    c("STATUS_OK", ext::STATUS_OK as usize, "capture read whole"),
    c("STATUS_TRUNCATED", ext::STATUS_TRUNCATED as usize, "capture: no NUL within the size"),
    c("STATUS_FAULT", ext::STATUS_FAULT as usize, "capture faulted in the kernel"),
    c("SPACE_KERNEL", ext::SPACE_KERNEL as usize, "capture of kernel memory"),
    c("SPACE_USER", ext::SPACE_USER as usize, "capture of user memory"),
];
