//! `wprobe check`: what this kernel and these privileges allow, each with the reason.

use super::resolve::ProbeSupport;
use std::path::Path;

/// One capability and whether it is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub reason: String,
}

/// Probes the system. Reads sysfs, tracefs and /proc, and creates (and closes) one small
/// BPF ring buffer map to see that the kernel and the privileges allow it.
pub fn check_system() -> Vec<Check> {
    let support = ProbeSupport::detect();
    let caps = effective_capabilities();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let mut out = vec![architecture()];
    let kprobe_reason = if support.kprobes {
        "the kprobe PMU (or tracefs kprobe_events) is present".to_string()
    } else {
        "CONFIG_KPROBES is not set: no kprobe PMU in /sys/bus/event_source/devices and no kprobe_events in tracefs; \
         use uprobes, or a VM (cargo xtask vm)"
            .to_string()
    };
    out.push(Check { name: "kprobes", ok: support.kprobes, reason: kprobe_reason.clone() });
    let retprobe = Path::new("/sys/bus/event_source/devices/kprobe/format/retprobe").exists();
    out.push(Check {
        name: "kretprobes",
        ok: support.kprobes && retprobe,
        reason: if support.kprobes && retprobe {
            "the kprobe PMU has the retprobe format bit".to_string()
        } else if support.kprobes {
            "the kprobe PMU lacks the retprobe bit (kernel older than 4.17?)".to_string()
        } else {
            kprobe_reason
        },
    });
    out.push(Check {
        name: "uprobes",
        ok: support.uprobes,
        reason: if support.uprobes {
            "the uprobe PMU is present".to_string()
        } else {
            "CONFIG_UPROBE_EVENTS is not set: no uprobe PMU".to_string()
        },
    });
    let cookies = kernel_at_least(&release, 5, 15);
    out.push(Check {
        name: "attach cookies",
        ok: cookies,
        reason: format!("kernel {release}; BPF attach cookies on kprobe/uprobe links need 5.15 or later"),
    });
    let ring = ringbuf_map_works();
    out.push(Check {
        name: "ring buffer",
        ok: ring.is_ok(),
        reason: match ring {
            Ok(()) => "created a BPF ring buffer map".to_string(),
            Err(e) => format!("cannot create a BPF ring buffer map: {e} (needs kernel 5.8+ and CAP_BPF or root)"),
        },
    });
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    out.push(Check {
        name: "BTF",
        ok: btf,
        reason: if btf {
            "/sys/kernel/btf/vmlinux exists (wprobe does not need it)".to_string()
        } else {
            "no /sys/kernel/btf/vmlinux (wprobe does not need it: it reads registers, not types)".to_string()
        },
    });
    for (name, bit) in [("CAP_BPF", 39), ("CAP_PERFMON", 38), ("CAP_SYS_ADMIN", 21)] {
        let ok = caps.map(|c| c & (1u64 << bit) != 0);
        out.push(Check {
            name,
            ok: ok.unwrap_or(false),
            reason: match ok {
                Some(true) => "in the effective capability set".to_string(),
                Some(false) => "not in the effective capability set: run as root, or grant it (setcap)".to_string(),
                None => "cannot read CapEff from /proc/self/status".to_string(),
            },
        });
    }
    out
}

fn effective_capabilities() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    u64::from_str_radix(hex, 16).ok()
}

fn kernel_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// Creates a 4 KiB BPF_MAP_TYPE_RINGBUF map and closes it.
fn ringbuf_map_works() -> std::io::Result<()> {
    #[repr(C)]
    #[derive(Default)]
    struct MapCreate {
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        map_flags: u32,
        _rest: [u32; 27],
    }
    const BPF_MAP_CREATE: libc::c_long = 0;
    const BPF_MAP_TYPE_RINGBUF: u32 = 27;
    let attr = MapCreate { map_type: BPF_MAP_TYPE_RINGBUF, max_entries: 4096, ..Default::default() };
    // SAFETY: a plain bpf(2) call with a zero-initialised attribute block of the size passed.
    let fd = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_MAP_CREATE, &attr as *const MapCreate, std::mem::size_of_val(&attr))
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us.
    unsafe { libc::close(fd as i32) };
    Ok(())
}

/// The architecture this build runs on, and how that architecture is proven: each one's
/// eBPF object reads its own `struct pt_regs`, and each is tested on real Debian kernels.
fn architecture() -> Check {
    use wprobe_common::Arch;
    let (name, ok) = ("architecture", true);
    match Arch::native() {
        Some(Arch::X86_64) => Check {
            name,
            ok,
            reason: "x86_64 (struct pt_regs): proven on every CI run by the test suite on x86_64 hosts and on \
                     Debian's 6.1 and 6.12 amd64 kernels under QEMU (cargo xtask vm-test); aarch64 is proven too \
                     (vm-test --arch aarch64: 6.12 in CI, 6.1 by hand)"
                .to_string(),
        },
        Some(Arch::Aarch64) => Check {
            name,
            ok,
            reason: "aarch64 (struct user_pt_regs: x0-x30, sp, pc, pstate): proven on Debian's 6.1 and 6.12 arm64 \
                     kernels under QEMU (cargo xtask vm-test --arch aarch64; 6.12 on every CI run, 6.1 by hand); \
                     x86_64 is proven too"
                .to_string(),
        },
        None => Check {
            name: "architecture",
            ok: false,
            reason: format!("{}: live probes run on x86_64 and aarch64 only", std::env::consts::ARCH),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(kernel_at_least("6.18.44-fc-v657", 5, 15));
        assert!(kernel_at_least("5.15.0", 5, 15));
        assert!(!kernel_at_least("5.4.0-100-generic", 5, 15));
        assert!(!kernel_at_least("garbage", 5, 15));
    }
}
