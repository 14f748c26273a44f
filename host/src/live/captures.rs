//! A handler's declared captures, checked against the probes and turned into the eBPF
//! program's per-probe configuration ([`ProbeConf`]).
//!
//! Everything a capture can ask is checked here, before anything is attached, with an error
//! that names the capture in SystemTap's words (`user_string_n(pointer_arg(2), 256)`) and
//! the probe it applies to: an argument the probe does not have, a field the tracepoint does
//! not have, a return value in an entry probe, and the bounds the eBPF program enforces
//! (count, dereferences, bytes per capture, bytes per event).

use super::embedded::{
    CaptureConf, ProbeConf, BASE_ENTRY_REG, BASE_FIELD, BASE_REG, CAP_AT_ENTRY, CAP_STRING, CAP_USER, MAX_CAPTURES,
    MAX_CAPTURE_BYTES, MAX_DEREFS, MAX_EXT_BYTES, MAX_TRACEPOINT_BYTES,
};
use crate::probe::{CaptureBase, CaptureSpec, ProbeInfo};
use wprobe_common::ext::{pad8, Space, ITEM_HEADER_SIZE};
use wprobe_common::tracepoint::FieldKind;
use wprobe_common::Arch;

/// What kind of probe a capture applies to, as far as its bases go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeShape {
    /// A function or syscall probe: arguments and registers.
    Function { is_return: bool },
    /// A tracepoint: fields, and `tp_bytes` of its record.
    Tracepoint { tp_bytes: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("capture {index} ({capture}) names probe {probe}, but the session has {count} probes (ids 0 to {})", count.saturating_sub(1))]
    NoSuchProbe { index: usize, capture: String, probe: u32, count: usize },
    #[error("capture {index} ({capture}) cannot apply to {pp}: {why}")]
    Invalid { index: usize, capture: String, pp: String, why: String },
    #[error("{pp} has {count} captures, more than the {MAX_CAPTURES} a probe may take")]
    TooMany { pp: String, count: usize },
    #[error(
        "{pp}: the captures take {bytes} bytes per event ({when}), more than the limit of {MAX_EXT_BYTES} \
         (each capture counts its size, rounded up to 8, plus a {ITEM_HEADER_SIZE}-byte header{tp}); \
         capture {index} ({capture}) is the one over: make the sizes smaller"
    )]
    OverBudget { pp: String, bytes: usize, when: &'static str, index: usize, capture: String, tp: &'static str },
}

/// The eBPF configuration of every probe: `confs[id]`, and whether any return probe takes
/// captures at its entry (the host then sizes the entry-captures map).
pub(crate) struct Planned {
    pub confs: Vec<ProbeConf>,
    pub entry_captures: bool,
}

/// Checks `captures` against `probes` and lays them out per probe. `shapes[id]` says what
/// probe `id` is; `tp_bytes` of a tracepoint counts against its budget.
pub(crate) fn plan(
    arch: Arch,
    probes: &[ProbeInfo],
    shapes: &[ProbeShape],
    captures: &[CaptureSpec],
) -> Result<Planned, CaptureError> {
    let mut confs: Vec<ProbeConf> = shapes
        .iter()
        .map(|s| ProbeConf {
            tp_bytes: match s {
                ProbeShape::Tracepoint { tp_bytes } => *tp_bytes,
                ProbeShape::Function { .. } => 0,
            },
            ..ProbeConf::default()
        })
        .collect();
    let mut entry_captures = false;
    // Bytes per probe: at the hit (entry probes, tracepoints, a return's own), at the entry.
    let mut budget = vec![[0usize; 2]; probes.len()];
    for (index, c) in captures.iter().enumerate() {
        let ids: Vec<usize> = match c.probe {
            Some(id) if (id as usize) < probes.len() => vec![id as usize],
            Some(probe) => {
                return Err(CaptureError::NoSuchProbe { index, capture: c.to_string(), probe, count: probes.len() })
            }
            None => (0..probes.len()).collect(),
        };
        for id in ids {
            let pp = &probes[id].pp;
            let invalid = |why: String| CaptureError::Invalid { index, capture: c.to_string(), pp: pp.clone(), why };
            let mut cc = configure(arch, &probes[id], shapes[id], c).map_err(invalid)?;
            cc.index = index.min(255) as u8;
            let conf = &mut confs[id];
            if conf.ncap as usize >= MAX_CAPTURES {
                let count = captures.iter().filter(|x| x.probe.is_none_or(|p| p as usize == id)).count();
                return Err(CaptureError::TooMany { pp: pp.clone(), count });
            }
            let at_entry = cc.flags & CAP_AT_ENTRY != 0;
            entry_captures |= at_entry;
            let slot = &mut budget[id][at_entry as usize];
            *slot += ITEM_HEADER_SIZE + pad8(c.size as usize);
            let tp = if at_entry { 0 } else { conf.tp_bytes as usize };
            let used = *slot + if tp > 0 { ITEM_HEADER_SIZE + pad8(tp) } else { 0 };
            if used > MAX_EXT_BYTES as usize {
                return Err(CaptureError::OverBudget {
                    pp: pp.clone(),
                    bytes: used,
                    when: if at_entry { "at the entry" } else { "at the hit" },
                    index,
                    capture: c.to_string(),
                    tp: if tp > 0 { ", and the tracepoint's own record" } else { "" },
                });
            }
            conf.caps[conf.ncap as usize] = cc;
            conf.ncap += 1;
        }
    }
    Ok(Planned { confs, entry_captures })
}

/// One capture for one probe.
fn configure(arch: Arch, probe: &ProbeInfo, shape: ProbeShape, c: &CaptureSpec) -> Result<CaptureConf, String> {
    if c.size == 0 || c.size > MAX_CAPTURE_BYTES {
        return Err(format!("its size is {}; a capture takes 1 to {MAX_CAPTURE_BYTES} bytes", c.size));
    }
    if c.derefs.len() > MAX_DEREFS {
        return Err(format!("it dereferences {} times; at most {MAX_DEREFS}", c.derefs.len()));
    }
    let mut flags = if c.string { CAP_STRING } else { 0 };
    if c.space == Space::User {
        flags |= CAP_USER;
    }
    let mut cc = CaptureConf { offset: c.offset, nderef: c.derefs.len() as u8, size: c.size, ..Default::default() };
    cc.derefs[..c.derefs.len()].copy_from_slice(&c.derefs);
    match (shape, &c.base) {
        (ProbeShape::Tracepoint { .. }, CaptureBase::Field(name)) => {
            let f = probe.field(name).ok_or_else(|| {
                format!("the tracepoint has no field {name:?}; its fields are: {}", probe.field_names())
            })?;
            if !matches!(f.kind, FieldKind::Int { .. }) || !matches!(f.size, 1 | 2 | 4 | 8) {
                return Err(format!("field {name:?} is a {} of {} bytes, not a pointer", f.kind, f.size));
            }
            cc.base_kind = BASE_FIELD;
            cc.base_arg = f.offset;
            cc.field_size = f.size;
        }
        (ProbeShape::Tracepoint { .. }, _) => {
            return Err("a tracepoint has fields, not arguments or registers: use a field as the base".into())
        }
        (ProbeShape::Function { .. }, CaptureBase::Field(_)) => {
            return Err("only tracepoints have fields; use an argument or a register as the base".into())
        }
        (ProbeShape::Function { is_return }, base) => {
            let at_entry = is_return && c.at_entry && !matches!(base, CaptureBase::ReturnValue);
            if at_entry {
                flags |= CAP_AT_ENTRY;
            }
            let (kind, slot) = match base {
                CaptureBase::Arg(n) => {
                    let slot = arch.arg_slot(*n).map_err(|e| e.to_string())?;
                    // At the return the argument registers are clobbered: read the entry's.
                    (if is_return && !at_entry { BASE_ENTRY_REG } else { BASE_REG }, slot)
                }
                CaptureBase::Register(name) => {
                    let r = arch.register(name).map_err(|_| format!("{} has no register {name:?}", arch.name()))?;
                    (BASE_REG, r.slot)
                }
                CaptureBase::ReturnValue if is_return => (BASE_REG, arch.return_slot()),
                CaptureBase::ReturnValue => {
                    return Err("the return value exists only in a return probe".into());
                }
                CaptureBase::Field(_) => unreachable!("matched above"),
            };
            cc.base_kind = kind;
            cc.base_arg = slot as u16;
        }
    }
    cc.flags = flags;
    Ok(cc)
}

/// How much of a tracepoint's record to copy: its fixed part, and room for its dynamic
/// (`__data_loc`) data when it has any, within the eBPF program's bound.
pub(crate) fn tracepoint_bytes(fixed_size: usize, dynamic: bool) -> u32 {
    let want = if dynamic { fixed_size + 256 } else { fixed_size };
    (want.min(MAX_TRACEPOINT_BYTES as usize)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::FieldInfo;

    fn cap(base: CaptureBase, size: u32) -> CaptureSpec {
        CaptureSpec {
            probe: None,
            base,
            offset: 0,
            derefs: vec![],
            string: true,
            size,
            space: Space::User,
            at_entry: true,
        }
    }

    fn tracepoint() -> ProbeInfo {
        let mut p = ProbeInfo::new("kernel.trace(\"sched:sched_process_exec\")", false);
        p.fields = vec![
            FieldInfo {
                name: "filename".into(),
                offset: 8,
                size: 4,
                kind: FieldKind::DataLoc { string: true, relative: false },
            },
            FieldInfo { name: "ptr".into(), offset: 16, size: 8, kind: FieldKind::Int { signed: false } },
        ];
        p
    }

    #[test]
    fn bases_map_to_slots_and_times() {
        let probes = [ProbeInfo::new("nd_syscall.openat", false), ProbeInfo::new("nd_syscall.read.return", true)];
        let shapes = [ProbeShape::Function { is_return: false }, ProbeShape::Function { is_return: true }];
        let mut at_return = cap(CaptureBase::Arg(2), 64);
        at_return.at_entry = false;
        at_return.probe = Some(1);
        let planned =
            plan(Arch::X86_64, &probes, &shapes, &[cap(CaptureBase::Arg(2), 256), at_return.clone()]).unwrap();
        let entry = planned.confs[0].caps[0];
        assert_eq!((entry.base_kind, entry.base_arg, entry.flags), (BASE_REG, 13, CAP_STRING | CAP_USER));
        let ret = &planned.confs[1];
        assert_eq!(ret.ncap, 2);
        assert_eq!(ret.caps[0].flags & CAP_AT_ENTRY, CAP_AT_ENTRY);
        assert_eq!((ret.caps[1].base_kind, ret.caps[1].index), (BASE_ENTRY_REG, 1));
        assert!(planned.entry_captures);
    }

    #[test]
    fn every_bad_capture_is_refused_by_name() {
        let f = [ProbeInfo::new("nd_syscall.openat", false)];
        let fs = [ProbeShape::Function { is_return: false }];
        let err = |c: CaptureSpec| plan(Arch::X86_64, &f, &fs, &[c]).err().unwrap().to_string();
        assert!(err(cap(CaptureBase::Arg(7), 8)).contains("argument 7"));
        assert!(err(cap(CaptureBase::Register("xyz".into()), 8)).contains("no register \"xyz\""));
        assert!(err(cap(CaptureBase::ReturnValue, 8)).contains("only in a return probe"));
        assert!(err(cap(CaptureBase::Field("x".into()), 8)).contains("only tracepoints have fields"));
        assert!(err(cap(CaptureBase::Arg(1), 0)).contains("1 to 4096"));
        assert!(err(cap(CaptureBase::Arg(1), 5000)).contains("1 to 4096"));
        let mut deep = cap(CaptureBase::Arg(1), 8);
        deep.derefs = vec![0; 5];
        assert!(err(deep).contains("at most 4"));
        let mut other = cap(CaptureBase::Arg(1), 8);
        other.probe = Some(3);
        assert!(err(other).contains("names probe 3"));
        let e = plan(Arch::X86_64, &f, &fs, &vec![cap(CaptureBase::Arg(1), 8); 9]).err().unwrap().to_string();
        assert!(e.contains("9 captures"), "{e}");
        let e = plan(Arch::X86_64, &f, &fs, &[cap(CaptureBase::Arg(1), 4000), cap(CaptureBase::Arg(2), 200)])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("capture 1 (user_string_n(pointer_arg(2), 200))"), "{e}");

        let t = [tracepoint()];
        let ts = [ProbeShape::Tracepoint { tp_bytes: 512 }];
        let terr = |c: CaptureSpec| plan(Arch::X86_64, &t, &ts, &[c]).err().unwrap().to_string();
        assert!(terr(cap(CaptureBase::Field("nope".into()), 8)).contains("fields are: filename, ptr"));
        assert!(terr(cap(CaptureBase::Field("filename".into()), 8)).contains("not a pointer"));
        assert!(terr(cap(CaptureBase::Arg(1), 8)).contains("fields, not arguments"));
        assert!(terr(cap(CaptureBase::Field("ptr".into()), 3600)).contains("tracepoint's own record"));
        let ok = plan(Arch::X86_64, &t, &ts, &[cap(CaptureBase::Field("ptr".into()), 64)]).unwrap();
        assert_eq!((ok.confs[0].caps[0].base_kind, ok.confs[0].caps[0].base_arg), (BASE_FIELD, 16));
        assert_eq!(ok.confs[0].tp_bytes, 512);
    }
}
