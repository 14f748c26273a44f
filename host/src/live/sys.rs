//! Attaching a loaded program to a kprobe, uprobe or tracepoint with a BPF attach cookie.
//!
//! aya 0.14 sets attach cookies for uprobes but not for kprobes, and wprobe needs the cookie
//! for both: it is how the one shared program learns the probe id of the attachment that
//! fired. So both families attach here the same way, which also means the kprobe path is the
//! uprobe path that the live tests exercise, apart from the PMU's name:
//!
//! 1. `perf_event_open` on the `kprobe` / `uprobe` PMU (dynamic PMUs since Linux 4.17): the
//!    probe exists as long as this perf event does, and nothing is written to tracefs, so
//!    nothing can be left behind if wprobe dies;
//!    (tracepoints: `PERF_TYPE_TRACEPOINT` with the event's ID, the same way bpftrace does);
//! 2. `BPF_LINK_CREATE` with attach type `BPF_PERF_EVENT` and the cookie (Linux 5.15). The
//!    link holds the perf event, so the perf event's fd is closed right away; closing the
//!    link's fd detaches the program and removes the probe.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The size of a memory page (ring buffers are sized and mapped in pages).
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// `perf_event_attr.type` of tracepoints.
const PERF_TYPE_TRACEPOINT: u32 = 2;

/// Where to put the probe.
pub(crate) enum Target<'a> {
    /// A kernel function, `sym` or `module:sym` (the kernel resolves both).
    Kernel { function: &'a str },
    /// A raw kernel address (`kprobe.statement(ADDR).absolute`).
    KernelAddr { addr: u64 },
    /// A file offset in an ELF file (absolute path), optionally only for one process.
    User { path: &'a std::path::Path, file_offset: u64, pid: Option<u32> },
    /// A tracepoint, by the ID in its tracefs `format` file.
    Tracepoint { id: u32 },
}

impl Target<'_> {
    /// The dynamic PMU the probe lives on, in /sys/bus/event_source/devices.
    fn pmu(&self) -> &'static str {
        match self {
            Target::User { .. } => "uprobe",
            _ => "kprobe",
        }
    }
}

/// `struct perf_event_attr` up to `PERF_ATTR_SIZE_VER5`, which every kernel with BPF links
/// accepts. Only `type`, `size`, `config` (the return-probe bit) and `config1`/`config2` (what
/// to probe) are set; the rest stay zero.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    /// `kprobe_func` or `uprobe_path`: a pointer to a NUL-terminated string.
    config1: u64,
    /// `probe_offset`.
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
    aux_watermark: u32,
    sample_max_stack: u16,
    reserved_2: u16,
}
const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == 112);

const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

/// The `link_create` member of `union bpf_attr` for perf-event links.
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    bpf_cookie: u64,
    /// The rest of the union: the kernel checks that bytes it does not know are zero.
    _pad: [u64; 4],
}

const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PERF_EVENT: u32 = 41;

/// Creates the probe and links `prog` to it with `cookie`; the returned fd is the attachment.
pub(crate) fn attach_probe(
    prog: BorrowedFd<'_>,
    target: &Target<'_>,
    is_return: bool,
    cookie: u64,
) -> io::Result<OwnedFd> {
    let perf = match target {
        Target::Tracepoint { id } => open_tracepoint(*id)?,
        _ => open_probe(target, is_return)?,
    };
    let attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: perf.as_raw_fd() as u32,
        attach_type: BPF_PERF_EVENT,
        bpf_cookie: cookie,
        ..Default::default()
    };
    // SAFETY: `attr` is a valid, fully initialised `bpf_attr` prefix of the size we pass.
    let fd = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_LINK_CREATE, &attr as *const LinkCreateAttr, std::mem::size_of_val(&attr))
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn open_tracepoint(id: u32) -> io::Result<OwnedFd> {
    let attr = PerfEventAttr {
        type_: PERF_TYPE_TRACEPOINT,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config: u64::from(id),
        ..Default::default()
    };
    perf_event_open(&attr, -1, 0)
}

fn perf_event_open(attr: &PerfEventAttr, pid: i32, cpu: i32) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a valid perf_event_attr of the size it declares; strings it points
    // to outlive the call, which copies them.
    let fd = unsafe {
        libc::syscall(libc::SYS_perf_event_open, attr as *const PerfEventAttr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC)
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn open_probe(target: &Target<'_>, is_return: bool) -> io::Result<OwnedFd> {
    let dir = format!("/sys/bus/event_source/devices/{}", target.pmu());
    let pmu_type: u32 = read_trimmed(&format!("{dir}/type"))?
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{dir}/type is not a number")))?;

    let mut attr =
        PerfEventAttr { type_: pmu_type, size: std::mem::size_of::<PerfEventAttr>() as u32, ..Default::default() };
    if is_return {
        attr.config = 1 << retprobe_bit(&dir)?;
    }

    // The kprobe PMU takes a function name in config1 and an offset (or, with no name, an
    // absolute address) in config2; the uprobe PMU a path and a file offset.
    let (name, offset, pid, cpu) = match target {
        Target::Kernel { function } => (Some(CString::new(*function)?), 0, -1, 0),
        Target::KernelAddr { addr } => (None, *addr, -1, 0),
        Target::User { path, file_offset, pid } => {
            use std::os::unix::ffi::OsStrExt;
            let path = CString::new(path.as_os_str().as_bytes())?;
            match pid {
                Some(pid) => (Some(path), *file_offset, *pid as i32, -1),
                // Every task: perf wants a CPU then, but the BPF program hangs off the probe's
                // trace event and runs for hits on every CPU, whichever CPU is named here.
                None => (Some(path), *file_offset, -1, 0),
            }
        }
        Target::Tracepoint { .. } => unreachable!("tracepoints open through open_tracepoint"),
    };
    attr.config1 = name.as_ref().map_or(0, |n| n.as_ptr() as u64);
    attr.config2 = offset;
    // `name` lives until here, past the call that copies it.
    let fd = perf_event_open(&attr, pid, cpu);
    drop(name);
    fd
}

/// The `config` bit that makes a return probe, from `format/retprobe` (`config:0`).
fn retprobe_bit(pmu_dir: &str) -> io::Result<u32> {
    let path = format!("{pmu_dir}/format/retprobe");
    let text = read_trimmed(&path)?;
    text.strip_prefix("config:")
        .and_then(|b| b.parse().ok())
        .filter(|&b: &u32| b < 64)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{path}: unexpected `{text}`")))
}

fn read_trimmed(path: &str) -> io::Result<String> {
    fs::read_to_string(path).map(|s| s.trim().to_string()).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}
