//! Syscalls as this kernel's syscall tracepoints describe them: which exist, and where each
//! one's arguments and return value sit in the `syscalls:sys_enter_NAME` and
//! `syscalls:sys_exit_NAME` records.
//!
//! ```text
//! sys_enter_NAME:  common fields (8) │ __syscall_nr (4) │ pad │ arg 1 @16 │ arg 2 @24 │ … (8 bytes each)
//! sys_exit_NAME:   common fields (8) │ __syscall_nr (4) │ pad │ ret @16 (8 bytes, signed)
//! ```
//!
//! Each argument field holds the whole register the syscall got, whatever its C type says
//! (`int dfd` is 8 bytes, AT_FDCWD reads 0xffffff9c): a reader that wants the C value
//! truncates to the type, as SystemTap's `int_arg` does.

use super::glob_match;
use super::tracefs::{close_matches, EventFormat, EventName, FieldDef, Tracefs, TracefsError};
use wprobe_common::tracepoint::FieldKind;

const CATEGORY: &str = "syscalls";
const ENTER: &str = "sys_enter_";
const EXIT: &str = "sys_exit_";
/// Syscall tracepoints record at most six arguments, the registers the ABI passes them in.
pub const MAX_ARGS: usize = 6;

/// One syscall, from its two tracepoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Syscall {
    /// `openat`.
    pub name: String,
    /// `syscalls:sys_enter_NAME` in full (its ID, for attaching).
    pub enter: EventFormat,
    /// `syscalls:sys_exit_NAME` in full.
    pub exit: EventFormat,
    /// The arguments in order, argument 1 first: 8 bytes each, from offset 16 on.
    pub args: Vec<FieldDef>,
    /// `__syscall_nr` in both records.
    pub nr: FieldDef,
    /// `ret` in the exit record: 8 bytes, signed.
    pub ret: FieldDef,
}

impl Syscall {
    /// Checks the two formats against the layout above.
    pub fn from_formats(name: &str, enter: EventFormat, exit: EventFormat) -> Result<Syscall, TracefsError> {
        let bad = |event: &EventFormat, reason: String| TracefsError::Format {
            path: format!("events/{}/{}/format", event.event.category, event.event.name).into(),
            line: 0,
            reason,
        };
        let int = |event: &EventFormat, field: &str, size: u16| -> Result<FieldDef, TracefsError> {
            let f = event.field(field)?;
            if !matches!(f.kind, FieldKind::Int { .. }) || f.size != size {
                return Err(bad(
                    event,
                    format!("`{field}` is {} bytes of {}, expected a {size}-byte integer", f.size, f.kind),
                ));
            }
            Ok(f.clone())
        };
        let nr = int(&enter, "__syscall_nr", 4)?;
        int(&exit, "__syscall_nr", 4)?;
        let ret = int(&exit, "ret", 8)?;
        let args: Vec<FieldDef> = enter.fields.iter().filter(|f| f.name != "__syscall_nr").cloned().collect();
        if args.len() > MAX_ARGS {
            return Err(bad(&enter, format!("{} arguments, a syscall has at most {MAX_ARGS}", args.len())));
        }
        for (i, a) in args.iter().enumerate() {
            let offset = 16 + 8 * i as u16;
            if a.offset != offset || a.size != 8 || !matches!(a.kind, FieldKind::Int { .. }) {
                return Err(bad(
                    &enter,
                    format!(
                        "argument {} `{}` is {} bytes at offset {}, expected 8 bytes at offset {offset}",
                        i + 1,
                        a.name,
                        a.size,
                        a.offset
                    ),
                ));
            }
        }
        Ok(Syscall { name: name.to_string(), enter, exit, args, nr, ret })
    }

    /// Argument `n`, counting from 1 as SystemTap's accessors do.
    pub fn arg(&self, n: usize) -> Option<&FieldDef> {
        n.checked_sub(1).and_then(|i| self.args.get(i))
    }
}

/// The syscalls this kernel has tracepoints for (`events/syscalls/sys_enter_*`), sorted.
pub fn syscall_names(tracefs: &Tracefs) -> Result<Vec<String>, TracefsError> {
    let enter = tracefs.events(&super::tracefs::EventPattern { category: CATEGORY.into(), name: format!("{ENTER}*") });
    // A kernel without CONFIG_FTRACE_SYSCALLS has no syscalls category: no syscalls, not an error.
    let enter = match enter {
        Ok(e) => e,
        Err(TracefsError::NoMatch { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(enter.into_iter().filter_map(|e| e.name.strip_prefix(ENTER).map(str::to_string)).collect())
}

/// The syscalls a glob names (`open*`), sorted; [`TracefsError::UnknownSyscall`] with close
/// names when none.
pub fn expand_syscalls(tracefs: &Tracefs, pattern: &str) -> Result<Vec<String>, TracefsError> {
    let names = syscall_names(tracefs)?;
    let hits: Vec<String> = names.iter().filter(|n| glob_match(pattern, n)).cloned().collect();
    if hits.is_empty() {
        return Err(TracefsError::UnknownSyscall {
            name: pattern.to_string(),
            close: close_matches(pattern, names.iter().map(String::as_str)),
        });
    }
    Ok(hits)
}

/// The syscall `name` (no glob) with its argument and return fields.
pub fn syscall(tracefs: &Tracefs, name: &str) -> Result<Syscall, TracefsError> {
    let event = |prefix: &str| EventName { category: CATEGORY.into(), name: format!("{prefix}{name}") };
    let formats = tracefs.format(&event(ENTER)).and_then(|enter| Ok((enter, tracefs.format(&event(EXIT))?)));
    match formats {
        Ok((enter, exit)) => Syscall::from_formats(name, enter, exit),
        Err(TracefsError::UnknownEvent { .. }) => {
            let names = syscall_names(tracefs)?;
            Err(TracefsError::UnknownSyscall {
                name: name.to_string(),
                close: close_matches(name, names.iter().map(String::as_str)),
            })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tracefs::tests::fixtures;
    use super::*;

    #[test]
    fn names_come_from_the_enter_tracepoints() {
        let names = syscall_names(&fixtures()).unwrap();
        assert_eq!(
            names,
            ["exit_group", "getpid", "mmap", "open", "open_by_handle_at", "open_tree", "openat", "openat2"]
        );
    }

    #[test]
    fn globs_expand_and_typos_suggest() {
        let t = fixtures();
        assert_eq!(
            expand_syscalls(&t, "open*").unwrap(),
            ["open", "open_by_handle_at", "open_tree", "openat", "openat2"]
        );
        assert_eq!(expand_syscalls(&t, "openat").unwrap(), ["openat"]);
        let err = expand_syscalls(&t, "opnat").unwrap_err();
        assert!(matches!(&err, TracefsError::UnknownSyscall { close, .. } if close[0] == "openat"), "{err:?}");
        assert!(err.to_string().contains("no syscall `opnat`"), "{err}");
        let err = syscall(&t, "getpidd").unwrap_err();
        assert!(err.to_string().contains("(did you mean getpid"), "{err}");
    }

    #[test]
    fn openat_has_four_arguments_and_a_return() {
        let s = syscall(&fixtures(), "openat").unwrap();
        let args: Vec<(&str, &str, u16)> =
            s.args.iter().map(|a| (a.name.as_str(), a.c_type.as_str(), a.offset)).collect();
        assert_eq!(
            args,
            [("dfd", "int", 16), ("filename", "const char *", 24), ("flags", "int", 32), ("mode", "umode_t", 40)]
        );
        assert_eq!(s.arg(2).unwrap().name, "filename");
        assert!(s.arg(0).is_none() && s.arg(5).is_none());
        assert_eq!((s.ret.offset, s.ret.size, s.ret.signed()), (16, 8, true));
        assert_eq!((s.nr.offset, s.nr.size), (8, 4));
        assert_eq!((s.enter.id, s.exit.id), (782, 781));
    }

    #[test]
    fn argument_counts_from_zero_to_six() {
        let t = fixtures();
        let count = |n| syscall(&t, n).unwrap().args.len();
        assert_eq!(count("getpid"), 0);
        assert_eq!(count("exit_group"), 1);
        assert_eq!(count("openat2"), 4);
        assert_eq!(count("mmap"), 6);
        let mmap = syscall(&t, "mmap").unwrap();
        assert_eq!(mmap.args.iter().map(|a| a.offset).collect::<Vec<_>>(), [16, 24, 32, 40, 48, 56]);
    }

    #[test]
    fn records_that_break_the_layout_are_refused() {
        let t = fixtures();
        let enter = t.format(&EventName { category: CATEGORY.into(), name: "sys_enter_openat".into() }).unwrap();
        let exit = t.format(&EventName { category: CATEGORY.into(), name: "sys_exit_openat".into() }).unwrap();
        let mut gap = enter.clone();
        gap.fields[2].offset = 32;
        let err = Syscall::from_formats("openat", gap, exit.clone()).unwrap_err();
        assert!(
            err.to_string().contains("argument 2 `filename` is 8 bytes at offset 32, expected 8 bytes at offset 24"),
            "{err}"
        );
        let mut no_ret = exit.clone();
        no_ret.fields.retain(|f| f.name != "ret");
        let err = Syscall::from_formats("openat", enter.clone(), no_ret).unwrap_err();
        assert!(matches!(err, TracefsError::UnknownField { .. }), "{err:?}");
        // raw_syscalls:sys_enter has an args array, not one field per argument.
        let raw = t.format(&EventName { category: "raw_syscalls".into(), name: "sys_enter".into() }).unwrap();
        assert!(Syscall::from_formats("raw", raw, exit).is_err());
    }

    #[test]
    fn every_syscall_of_this_kernel_fits_the_layout() {
        let t = Tracefs::open().expect("tracefs: the tests run as root");
        let names = syscall_names(&t).unwrap();
        assert!(names.len() > 100, "{}", names.len());
        for n in &names {
            syscall(&t, n).unwrap_or_else(|e| panic!("{n}: {e}"));
        }
    }
}
