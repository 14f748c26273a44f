//! One attachment for all of a glob's uprobes in one file: a `BPF_TRACE_UPROBE_MULTI` link
//! (Linux 6.6), instead of one perf event per function.
//!
//! Why: releasing a perf-event uprobe waits for an RCU grace period while holding the
//! kernel's `event_mutex`, so they are released one after the other, whatever thread closes
//! them: a glob over python3.11's 1 473 functions took about 90 s to detach. A multi link
//! registers every offset at once and unregisters them with one grace period.
//!
//! The kernel only links a program loaded for that attach type (`expected_attach_type`),
//! which aya 0.14 cannot ask for. So such a program is loaded a second time here, from the
//! same embedded object, with its map references pointed at the maps aya created: both
//! copies read the same configuration and write into the same ring. The records are the
//! same; the attach cookie still carries the probe id.

use super::{embedded, LiveError};
use aya::maps::Map;
use aya::Ebpf;
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_PROG_TYPE_KPROBE: u32 = 2;
const BPF_TRACE_UPROBE_MULTI: u32 = 48;
const BPF_F_UPROBE_MULTI_RETURN: u32 = 1;

/// The maps aya created for the object, by the names the object's relocations use. Taken
/// right after loading, before the maps move into the session's own handles.
pub(crate) struct MapFds(HashMap<String, OwnedFd>);

impl MapFds {
    pub fn collect(ebpf: &Ebpf) -> Result<Self, LiveError> {
        let mut fds = HashMap::new();
        for (name, map) in ebpf.maps() {
            // The kinds of map wprobe's object declares (and `.rodata`, an array).
            let data = match map {
                Map::Array(d)
                | Map::PerCpuArray(d)
                | Map::HashMap(d)
                | Map::LruHashMap(d)
                | Map::PerCpuHashMap(d)
                | Map::RingBuf(d)
                | Map::Unsupported(d) => d,
                _ => return Err(LiveError::ObjectMismatch { what: format!("the map {name} (an unexpected kind)") }),
            };
            let fd = data
                .fd()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|source| LiveError::Multi { what: format!("duplicating the fd of the map {name}"), source })?;
            fds.insert(name.to_owned(), fd);
        }
        Ok(Self(fds))
    }
}

/// `union bpf_attr` for `BPF_PROG_LOAD`, up to `expected_attach_type`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}
const _: () = assert!(std::mem::size_of::<ProgLoadAttr>() == 72);

/// Loads the object's `program` for uprobe multi links, its maps those of `maps`.
pub(crate) fn load_program(program: &'static str, maps: &MapFds) -> Result<OwnedFd, LiveError> {
    let err = |what: String| LiveError::ObjectMismatch { what };
    let mut obj = aya_obj::Object::parse(embedded::bytes()).map_err(|e| err(format!("the object: {e}")))?;
    let text_sections: HashSet<usize> = obj.functions.keys().map(|(section, _)| *section).collect();
    let defs = obj.maps.clone();
    let mut refs = Vec::with_capacity(defs.len());
    for (name, def) in &defs {
        let fd = maps.0.get(name).ok_or_else(|| err(format!("the map {name}")))?;
        refs.push((name.as_str(), fd.as_raw_fd(), def));
    }
    obj.relocate_maps(refs.into_iter(), &text_sections).map_err(|e| err(format!("{program}'s maps: {e}")))?;
    obj.relocate_calls(&text_sections).map_err(|e| err(format!("{program}'s calls: {e}")))?;
    let prog = obj.programs.get(program).ok_or_else(|| err(format!("the program {program}")))?;
    let function = obj.functions.get(&prog.function_key()).ok_or_else(|| err(format!("{program}'s code")))?;

    let license = prog.license.clone();
    let mut log = vec![0u8; 1 << 16];
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_KPROBE,
        insn_cnt: function.instructions.len() as u32,
        insns: function.instructions.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_TRACE_UPROBE_MULTI,
        ..Default::default()
    };
    let n = program.len().min(15);
    attr.prog_name[..n].copy_from_slice(&program.as_bytes()[..n]);
    match bpf(BPF_PROG_LOAD, &attr) {
        Ok(fd) => Ok(fd),
        Err(source) => {
            // Once more with the verifier's log, to say why.
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &attr);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            Err(LiveError::Multi {
                what: format!("loading {program} for uprobe multi links ({})", tail.join(" / ")),
                source,
            })
        }
    }
}

/// A glob's matches in one file that can share a link: same kind (entry or return) and same
/// programs (with or without captures).
pub(crate) struct Group<'p> {
    pub path: &'p Path,
    pub is_return: bool,
    pub with_captures: bool,
    /// Probe ids (the cookies) and their file offsets.
    pub ids: Vec<usize>,
    pub offsets: Vec<u64>,
}

/// The groups of `plan` worth a multi link: a glob's uprobes, two or more per file and kind.
/// `with_captures(id)`: whether probe `id` takes captures.
pub(crate) fn groups<'p>(plan: &'p [super::plan::Planned], with_captures: impl Fn(usize) -> bool) -> Vec<Group<'p>> {
    let mut groups: Vec<Group<'p>> = Vec::new();
    for (id, p) in plan.iter().enumerate() {
        let super::plan::Attach::Uprobe { path, file_offset } = &p.attach else { continue };
        if p.glob.is_none() {
            continue;
        }
        let caps = with_captures(id);
        let same = |g: &Group<'_>| g.path == path.as_path() && g.is_return == p.is_return && g.with_captures == caps;
        match groups.iter_mut().find(|g| same(g)) {
            Some(g) => {
                g.ids.push(id);
                g.offsets.push(*file_offset);
            }
            None => groups.push(Group {
                path,
                is_return: p.is_return,
                with_captures: caps,
                ids: vec![id],
                offsets: vec![*file_offset],
            }),
        }
    }
    groups.retain(|g| g.ids.len() >= 2);
    groups
}

/// The kernel's id of the BPF object behind `fd`, a program or a link (as `bpftool prog` or
/// `bpftool link` lists it).
pub(crate) fn object_id(fd: BorrowedFd<'_>) -> io::Result<u32> {
    #[repr(C)]
    #[derive(Default)]
    struct InfoAttr {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    // `struct bpf_prog_info` and `struct bpf_link_info` both start with `type` and `id`; the
    // kernel fills what fits.
    let mut info = [0u32; 2];
    let attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of_val(&info) as u32,
        info: info.as_mut_ptr() as u64,
    };
    // SAFETY: a valid attr; the kernel writes at most `info_len` bytes into `info`.
    let r = unsafe { libc::syscall(libc::SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, &attr as *const InfoAttr, 16) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info[1])
}

/// `link_create` of `union bpf_attr` for uprobe multi links.
#[repr(C)]
#[derive(Default)]
struct UprobeMultiAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    path: u64,
    offsets: u64,
    ref_ctr_offsets: u64,
    cookies: u64,
    cnt: u32,
    multi_flags: u32,
    pid: u32,
    _pad: u32,
}

/// Links `prog` (from [`load_program`]) to every file offset in `offsets` of `path`, each with
/// its cookie; return probes with `is_return`; only in process `pid` if given.
pub(crate) fn attach_uprobes(
    prog: BorrowedFd<'_>,
    path: &Path,
    offsets: &[u64],
    cookies: &[u64],
    is_return: bool,
    pid: Option<u32>,
) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    assert_eq!(offsets.len(), cookies.len());
    let path = CString::new(path.as_os_str().as_bytes())?;
    let attr = UprobeMultiAttr {
        prog_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_TRACE_UPROBE_MULTI,
        path: path.as_ptr() as u64,
        offsets: offsets.as_ptr() as u64,
        cookies: cookies.as_ptr() as u64,
        cnt: offsets.len() as u32,
        multi_flags: if is_return { BPF_F_UPROBE_MULTI_RETURN } else { 0 },
        pid: pid.unwrap_or(0),
        ..Default::default()
    };
    bpf(BPF_LINK_CREATE, &attr)
}

fn bpf<T>(cmd: libc::c_long, attr: &T) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a valid, fully initialised `bpf_attr` prefix of the size passed; the
    // buffers it points to outlive the call.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *const T, std::mem::size_of::<T>()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
