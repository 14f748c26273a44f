//! Kernel pointer redaction, for `wprobe serve`'s tenants without the `kernel_pointers`
//! right (as `kptr_restrict` does for /proc files): before a handler sees a batch, every
//! 8-byte word of every event after its header (the registers, so the arguments and return
//! value, and the extension area: a return's entry registers, captured memory, a
//! tracepoint's raw record, a capture's address) whose value is a kernel address becomes 0.
//!
//! A kernel address is one in the kernel's half of the address space and not an error value
//! (-4095..=-1, the kernel's `IS_ERR_VALUE`, never a mapped address), so that `returnval()`
//! still gives -ENOENT. A negative number below -4095 in a register looks like a kernel
//! address and is redacted too. The headers of events and of extension items never match.
//!
//! The kernel's half starts where it does with the widest virtual addresses the
//! architecture has: 0xff00_0000_0000_0000 on x86_64 (5-level paging, LA57; with 4-level
//! paging it starts at 0xffff_8000_0000_0000 and nothing in between is a valid address),
//! 0xfff0_0000_0000_0000 on aarch64 (52-bit VAs; 0xffff_0000_0000_0000 with 48 bits). So a
//! machine's paging mode never lets its kernel addresses through.

use wprobe_common::record::{record_len, HEADER_SIZE};
use wprobe_common::Arch;

/// The lowest kernel address of `arch`.
fn kernel_base(arch: Arch) -> u64 {
    match arch {
        Arch::X86_64 => 0xff00_0000_0000_0000,
        Arch::Aarch64 => 0xfff0_0000_0000_0000,
    }
}

/// Whether `v` would be redacted on `arch`.
pub fn is_kernel_address(arch: Arch, v: u64) -> bool {
    v >= kernel_base(arch) && (v as i64) < -4095
}

/// Redacts the records in `records` (back to back, as in a batch). Returns the words
/// replaced.
pub fn kernel_pointers(arch: Arch, records: &mut [u8]) -> u64 {
    let mut redacted = 0;
    let mut at = 0;
    while at < records.len() {
        let Some(len) = record_len(arch, &records[at..]) else { break };
        let end = (at + len).min(records.len());
        let words = records.get_mut(at + HEADER_SIZE..end).unwrap_or_default();
        for word in words.chunks_exact_mut(8) {
            let v = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            if is_kernel_address(arch, v) {
                word.copy_from_slice(&0u64.to_le_bytes());
                redacted += 1;
            }
        }
        at += len;
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events_file::make_record;
    use wprobe_common::abi::x86_64::{NREGS, RAX, RDI, RSI};
    use wprobe_common::EventHeader;

    #[test]
    fn kernel_addresses_go_error_values_and_user_addresses_stay() {
        let a = Arch::X86_64;
        assert!(is_kernel_address(a, 0xffff_ffff_8100_0000));
        assert!(is_kernel_address(a, 0xffff_8881_0000_0000));
        // 5-level paging (LA57): the direct map at 0xff11…, the heap seen at 0xff38….
        assert!(is_kernel_address(a, 0xff38_a2b1_0234_5678));
        assert!(!is_kernel_address(a, 0x00ff_ffff_ffff_f000), "the top of a 5-level user space");
        assert!(is_kernel_address(Arch::Aarch64, 0xfff0_0000_1000_0000), "aarch64, 52-bit VAs");
        assert!(!is_kernel_address(a, 0x7fff_ffff_e000));
        assert!(!is_kernel_address(a, -2i64 as u64), "-ENOENT");
        assert!(!is_kernel_address(a, -4095i64 as u64));
        assert!(is_kernel_address(a, -4096i64 as u64));

        let mut regs = [0u64; NREGS];
        regs[RDI] = 0xffff_8881_0234_5678;
        regs[RSI] = 0x5555_5555_4000;
        regs[RAX] = -2i64 as u64;
        let header = EventHeader { pid: 7, timestamp_ns: u64::MAX, ..EventHeader::default() };
        let one = make_record(a, &header, &regs);
        let mut records = [one.clone(), one].concat();
        assert_eq!(kernel_pointers(a, &mut records), 2);
        let first = wprobe_common::EventRef::new(a, &records[..records.len() / 2]).unwrap();
        assert_eq!(first.arg(1).unwrap(), 0);
        assert_eq!(first.arg(2).unwrap(), 0x5555_5555_4000);
        assert_eq!(first.reg(RAX), -2i64 as u64);
        // The header (a timestamp of all ones included) is left alone.
        assert_eq!(first.timestamp_ns(), u64::MAX);
        assert_eq!(first.pid(), 7);
    }
}
