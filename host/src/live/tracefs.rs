//! tracefs, where the kernel describes its tracepoints: finding (or mounting) it, listing
//! events by glob, and reading an event's `format` into typed fields.
//!
//! ```text
//! Tracefs::open() ──► events(&EventPattern) ──► [EventName] ──► format(&EventName) ──► EventFormat
//!  (mounts tracefs at         `sched:*`                            ID, common fields, fields,
//!   /sys/kernel/tracing                                            FieldTable bytes for guests
//!   if nothing has events/)
//! ```
//!
//! Decoding a field from a raw record lives in [`wprobe_common::tracepoint`], shared with the
//! guest SDK; this module only reads tracefs.
//!
//! ```no_run
//! use wprobe::live::tracefs::{EventPattern, Tracefs};
//!
//! let tracefs = Tracefs::open()?;
//! if tracefs.mounted_here() {
//!     eprintln!("mounted tracefs at {}", tracefs.root().display());
//! }
//! for event in tracefs.events(&EventPattern::parse("tracepoint:sched:sched_process_*")?)? {
//!     let format = tracefs.format(&event)?;
//!     println!("{} id {}: {} fields", event, format.id, format.fields.len());
//! }
//! # Ok::<(), wprobe::live::tracefs::TracefsError>(())
//! ```

use super::glob_match;
use std::ffi::CString;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use wprobe_common::tracepoint::{
    encode_table_vec, field_int, field_str, parse_field_line, Field, FieldError, FieldInt, FieldKind, FormatError,
};

/// Where tracefs is mounted when nothing else mounted it, and where wprobe mounts it.
pub const TRACEFS_PATH: &str = "/sys/kernel/tracing";
/// The older place: debugfs's automount of tracefs.
pub const DEBUGFS_TRACING_PATH: &str = "/sys/kernel/debug/tracing";

const MAX_SUGGESTIONS: usize = 5;

/// What can go wrong reading tracefs. Each names the file or the name asked for and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    #[error("tracefs is not mounted, and mounting it at {path} failed: {}", mount_hint(source))]
    Mount {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot read {}: {}", path.display(), read_hint(source))]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{}, line {line}: {reason}", path.display())]
    Format { path: PathBuf, line: usize, reason: String },

    #[error(
        "`{arg}` is not a tracepoint; expected CAT:NAME, tracepoint:CAT:NAME or kernel.trace(\"CAT:NAME\") \
         (globs allowed: tracepoint:sched:*)"
    )]
    Syntax { arg: String },

    #[error("no tracepoint `{event}` in this kernel{}; `wprobe list 'tracepoint:*'` lists them", similar(close))]
    UnknownEvent { event: String, close: Vec<String> },

    #[error("no tracepoint matches `{pattern}`{}; `wprobe list 'tracepoint:*'` lists them", similar(close))]
    NoMatch { pattern: String, close: Vec<String> },

    #[error("tracepoint {event} has no field `{field}`{}; its fields are: {}", similar(close), fields.join(", "))]
    UnknownField { event: String, field: String, close: Vec<String>, fields: Vec<String> },

    #[error("tracepoint {event}, field `{field}`: {source}")]
    FieldRead {
        event: String,
        field: String,
        #[source]
        source: FieldError,
    },

    #[error(
        "no syscall `{name}` among this kernel's syscall tracepoints (events/syscalls/sys_enter_*){}",
        similar(close)
    )]
    UnknownSyscall { name: String, close: Vec<String> },
}

fn similar(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", close.join(", "))
    }
}

fn mount_hint(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => format!(
            "{err}: mounting needs root (CAP_SYS_ADMIN); run wprobe as root, or have root run \
             `mount -t tracefs nodev {TRACEFS_PATH}`"
        ),
        Some(libc::ENODEV) => {
            format!("{err}: this kernel has no tracefs (CONFIG_TRACING is not set), so it has no tracepoints")
        }
        Some(libc::ENOENT) => format!("{err}: {TRACEFS_PATH} does not exist (is sysfs mounted at /sys?)"),
        _ => err.to_string(),
    }
}

fn read_hint(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::PermissionDenied => format!("{err}: tracefs is readable by root only; run wprobe as root"),
        _ => err.to_string(),
    }
}

/// A tracefs mount (or a directory laid out like one, for tests).
#[derive(Clone, Debug)]
pub struct Tracefs {
    root: PathBuf,
    mounted_here: bool,
}

impl Tracefs {
    /// The mounted tracefs; when none is, mounts it at [`TRACEFS_PATH`]
    /// ([`mounted_here`](Self::mounted_here) then says so).
    ///
    /// What this mounts stays mounted, as perf and libtracefs leave it: another wprobe (or
    /// tool) may be reading it by then, and unmounting would pull it away from under them.
    pub fn open() -> Result<Tracefs, TracefsError> {
        if let Some(found) = Self::find()? {
            return Ok(found);
        }
        let target = PathBuf::from(TRACEFS_PATH);
        mount_tracefs(&target).map_err(|source| TracefsError::Mount { path: target.clone(), source })?;
        let mounted = Tracefs { root: target, mounted_here: true };
        // A tracefs without events/ is a kernel without tracepoints; say so rather than
        // failing later on a missing directory.
        match fs::metadata(mounted.events_dir()) {
            Ok(m) if m.is_dir() => Ok(mounted),
            Ok(_) => Err(TracefsError::Read {
                path: mounted.events_dir(),
                source: io::Error::new(io::ErrorKind::NotFound, "not a directory"),
            }),
            Err(source) => Err(TracefsError::Read { path: mounted.events_dir(), source }),
        }
    }

    /// The mounted tracefs, without mounting: [`TRACEFS_PATH`], [`DEBUGFS_TRACING_PATH`], then
    /// any other tracefs mount in `/proc/self/mounts`. `None` when there is none; an error
    /// when one exists but cannot be looked into (not root).
    pub fn find() -> Result<Option<Tracefs>, TracefsError> {
        let mut candidates = vec![PathBuf::from(TRACEFS_PATH), PathBuf::from(DEBUGFS_TRACING_PATH)];
        if let Ok(mounts) = fs::read_to_string("/proc/self/mounts") {
            for line in mounts.lines() {
                let mut f = line.split_whitespace();
                if let (Some(_), Some(dir), Some("tracefs")) = (f.next(), f.next(), f.next()) {
                    let dir = PathBuf::from(dir);
                    if !candidates.contains(&dir) {
                        candidates.push(dir);
                    }
                }
            }
        }
        for root in candidates {
            let events = root.join("events");
            match fs::metadata(&events) {
                Ok(m) if m.is_dir() => return Ok(Some(Tracefs { root, mounted_here: false })),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    return Err(TracefsError::Read { path: events, source: e })
                }
                Err(_) => {}
            }
        }
        Ok(None)
    }

    /// A directory laid out as tracefs (`events/CAT/NAME/format`), such as the test fixtures.
    pub fn at(root: impl Into<PathBuf>) -> Tracefs {
        Tracefs { root: root.into(), mounted_here: false }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether [`open`](Self::open) mounted tracefs because nothing else had.
    pub fn mounted_here(&self) -> bool {
        self.mounted_here
    }

    fn events_dir(&self) -> PathBuf {
        self.root.join("events")
    }

    /// Every event, sorted by category and name.
    pub fn all_events(&self) -> Result<Vec<EventName>, TracefsError> {
        self.scan(&EventPattern { category: "*".into(), name: "*".into() })
    }

    /// The events `pattern` matches, sorted; [`TracefsError::NoMatch`] when none does.
    pub fn events(&self, pattern: &EventPattern) -> Result<Vec<EventName>, TracefsError> {
        let found = self.scan(pattern)?;
        if !found.is_empty() {
            return Ok(found);
        }
        let all = self.all_events()?;
        let close = if pattern.is_glob() {
            // A typo in a glob is most likely in the category; name the near ones.
            let mut cats: Vec<&str> = all.iter().map(|e| e.category.as_str()).collect();
            cats.dedup();
            close_matches(&pattern.category, cats.into_iter())
                .into_iter()
                .map(|c| format!("{c}:{}", pattern.name))
                .collect()
        } else {
            close_events(&pattern.to_string(), &pattern.name, &all)
        };
        Err(TracefsError::NoMatch { pattern: pattern.to_string(), close })
    }

    fn scan(&self, pattern: &EventPattern) -> Result<Vec<EventName>, TracefsError> {
        let mut out = Vec::new();
        for category in subdirs(&self.events_dir())? {
            if !glob_match(&pattern.category, &category) {
                continue;
            }
            for name in subdirs(&self.events_dir().join(&category))? {
                if glob_match(&pattern.name, &name) {
                    out.push(EventName { category: category.clone(), name });
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The parsed `events/CAT/NAME/format` of `event`; [`TracefsError::UnknownEvent`], with
    /// close matches, when this kernel has no such event.
    pub fn format(&self, event: &EventName) -> Result<EventFormat, TracefsError> {
        let path = self.events_dir().join(&event.category).join(&event.name).join("format");
        match fs::read_to_string(&path) {
            Ok(text) => EventFormat::parse(event.clone(), &text).map_err(|(line, reason)| TracefsError::Format {
                path,
                line,
                reason,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let all = self.all_events()?;
                Err(TracefsError::UnknownEvent {
                    event: event.to_string(),
                    close: close_events(&event.to_string(), &event.name, &all),
                })
            }
            Err(source) => Err(TracefsError::Read { path, source }),
        }
    }
}

/// The names of the directories in `dir`, unsorted (tracefs control files such as `enable`
/// sit beside them and are skipped).
fn subdirs(dir: &Path) -> Result<Vec<String>, TracefsError> {
    let read = |source| TracefsError::Read { path: dir.to_path_buf(), source };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(read)? {
        let entry = entry.map_err(read)?;
        if entry.file_type().map_err(read)?.is_dir() {
            if let Ok(name) = entry.file_name().into_string() {
                out.push(name);
            }
        }
    }
    Ok(out)
}

fn mount_tracefs(target: &Path) -> io::Result<()> {
    let target = CString::new(target.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: every pointer is a NUL-terminated string that outlives the call; tracefs takes
    // no mount data.
    let rc = unsafe { libc::mount(c"nodev".as_ptr(), target.as_ptr(), c"tracefs".as_ptr(), 0, std::ptr::null()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One tracepoint: `sched:sched_switch`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventName {
    pub category: String,
    pub name: String,
}

impl EventName {
    /// The probe spec `run` takes back: `tracepoint:sched:sched_switch`.
    pub fn probe_spec(&self) -> String {
        format!("tracepoint:{self}")
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.category, self.name)
    }
}

/// A tracepoint or a glob of them, `CAT:NAME`, each part possibly a glob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventPattern {
    pub category: String,
    pub name: String,
}

impl EventPattern {
    /// Parses `tracepoint:CAT:NAME` (bpftrace), `kernel.trace("CAT:NAME")` (SystemTap),
    /// `CAT:NAME`, or a bare `NAME`, which matches that name in every category (as
    /// SystemTap's `kernel.trace("NAME")`).
    pub fn parse(arg: &str) -> Result<EventPattern, TracefsError> {
        let syntax = || TracefsError::Syntax { arg: arg.to_string() };
        let body = strip_tracepoint_spelling(arg).unwrap_or(arg.trim());
        let (category, name) = match body.split_once(':') {
            Some((c, n)) => (c, n),
            None => ("*", body),
        };
        let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-*?[]!^".contains(c));
        if !valid(category) || !valid(name) {
            return Err(syntax());
        }
        Ok(EventPattern { category: category.to_string(), name: name.to_string() })
    }

    /// Whether either part is a glob rather than one name.
    pub fn is_glob(&self) -> bool {
        let g = |s: &str| s.contains(['*', '?', '[']);
        g(&self.category) || g(&self.name)
    }

    /// The one event this names, when it is not a glob.
    pub fn exact(&self) -> Option<EventName> {
        (!self.is_glob()).then(|| EventName { category: self.category.clone(), name: self.name.clone() })
    }
}

impl fmt::Display for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.category, self.name)
    }
}

/// The `CAT:NAME` inside a tracepoint spelling, `tracepoint:CAT:NAME` or
/// `kernel.trace("CAT:NAME")`; `None` for anything else (a kernel function pattern, say).
pub fn strip_tracepoint_spelling(arg: &str) -> Option<&str> {
    let arg = arg.trim();
    if let Some(rest) = arg.strip_prefix("tracepoint:") {
        return Some(rest);
    }
    arg.strip_prefix("kernel.trace(")?.strip_suffix(')')?.trim().strip_prefix('"')?.strip_suffix('"')
}

/// A field of a tracepoint, owned; [`as_field`](Self::as_field) borrows it for decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDef {
    pub name: String,
    /// The C type as the format declares it, array suffix included: `const char *`,
    /// `char[16]`, `__data_loc char[]`.
    pub c_type: String,
    pub offset: u16,
    pub size: u16,
    pub kind: FieldKind,
}

impl FieldDef {
    pub fn as_field(&self) -> Field<'_> {
        Field { name: &self.name, offset: self.offset, size: self.size, kind: self.kind }
    }

    /// Whether `field()` reads it as a signed number (only integers are signed).
    pub fn signed(&self) -> bool {
        matches!(self.kind, FieldKind::Int { signed: true })
    }
}

/// An event's `format` file, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFormat {
    pub event: EventName,
    /// The event's ID, as perf_event_open's `config` and a record's `common_type` give it.
    pub id: u32,
    /// `common_type`, `common_flags`, `common_preempt_count`, `common_pid`: at the start of
    /// every record, not shown to users.
    pub common: Vec<FieldDef>,
    /// The event's own fields, in record order.
    pub fields: Vec<FieldDef>,
}

impl EventFormat {
    /// Parses the text of a `format` file; on failure the 1-based line and the reason.
    pub fn parse(event: EventName, text: &str) -> Result<EventFormat, (usize, String)> {
        let mut id = None;
        let (mut common, mut fields) = (Vec::new(), Vec::new());
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if let Some(v) = trimmed.strip_prefix("ID:") {
                id = Some(v.trim().parse::<u32>().map_err(|_| (i + 1, format!("`{}` is not an event ID", v.trim())))?);
            } else if trimmed.starts_with("field:") {
                let decl = parse_field_line(line).map_err(|e: FormatError| (i + 1, e.to_string()))?;
                let def = FieldDef {
                    name: decl.field.name.to_string(),
                    c_type: format!("{}{}", decl.c_type, decl.array.unwrap_or("")),
                    offset: decl.field.offset,
                    size: decl.field.size,
                    kind: decl.field.kind,
                };
                if def.name.starts_with("common_") {
                    common.push(def);
                } else {
                    fields.push(def);
                }
            } else if trimmed.starts_with("print fmt:") {
                // The print format is C; nothing after it describes the record.
                break;
            }
        }
        let id = id.ok_or_else(|| (0, "no `ID:` line".to_string()))?;
        if common.is_empty() && fields.is_empty() {
            return Err((0, "no `field:` lines".to_string()));
        }
        Ok(EventFormat { event, id, common, fields })
    }

    /// The field called `name`, or [`TracefsError::UnknownField`] listing the fields.
    pub fn field(&self, name: &str) -> Result<&FieldDef, TracefsError> {
        self.fields.iter().find(|f| f.name == name).ok_or_else(|| TracefsError::UnknownField {
            event: self.event.to_string(),
            field: name.to_string(),
            close: close_matches(name, self.fields.iter().map(|f| f.name.as_str())),
            fields: self.fields.iter().map(|f| f.name.clone()).collect(),
        })
    }

    /// `field(name)` as a handler asks it: the integer field `name` of the record `raw`,
    /// signed as the format says. Unknown names and unreadable bytes are errors naming the
    /// event and the field.
    pub fn read_int(&self, raw: &[u8], name: &str) -> Result<FieldInt, TracefsError> {
        let f = self.field(name)?;
        field_int(raw, &f.as_field()).map_err(|source| self.read_error(name, source))
    }

    /// `field_string(name)`: a `char[N]` or `__data_loc char[]` field up to its NUL, as the
    /// kernel wrote it (not necessarily UTF-8).
    pub fn read_str<'r>(&self, raw: &'r [u8], name: &str) -> Result<&'r [u8], TracefsError> {
        let f = self.field(name)?;
        field_str(raw, &f.as_field()).map_err(|source| self.read_error(name, source))
    }

    fn read_error(&self, name: &str, source: FieldError) -> TracefsError {
        TracefsError::FieldRead { event: self.event.to_string(), field: name.to_string(), source }
    }

    /// The event's own fields as a [`wprobe_common::tracepoint::FieldTable`], to hand to a
    /// guest.
    pub fn table(&self) -> Vec<u8> {
        // Names come from a kernel format file: short identifiers, a few dozen at most.
        encode_table_vec(self.fields.iter().map(FieldDef::as_field)).expect("tracepoint field names fit the table")
    }

    /// Where the fixed part of a record ends: the end of its last fixed field. `__data_loc`
    /// data follows it.
    pub fn fixed_size(&self) -> usize {
        self.common.iter().chain(&self.fields).map(|f| f.offset as usize + f.size as usize).max().unwrap_or(0)
    }
}

/// Up to five of `candidates` near `wanted`, closest first.
pub(crate) fn close_matches<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = candidates.filter_map(|c| score(wanted, c).map(|s| (s, c))).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(MAX_SUGGESTIONS).map(|(_, c)| c.to_string()).collect()
}

/// Similarity of a candidate to what was asked: typos by edit distance, then names that
/// contain it (`exec` → `sched_process_exec`). `None` when not close.
fn score(wanted: &str, candidate: &str) -> Option<f64> {
    let s = strsim::normalized_damerau_levenshtein(wanted, candidate);
    if s >= 0.7 {
        Some(s)
    } else if wanted.len() >= 3 && candidate.contains(wanted) {
        // Below every typo match.
        Some(0.5 * wanted.len() as f64 / candidate.len() as f64)
    } else {
        None
    }
}

/// Events near `wanted` (`CAT:NAME`): close in full, or with the right name in another
/// category (`syscalls:sched_switch` → `sched:sched_switch`).
fn close_events(wanted: &str, wanted_name: &str, all: &[EventName]) -> Vec<String> {
    let mut scored: Vec<(f64, String)> = all
        .iter()
        .filter_map(|e| {
            let full = e.to_string();
            let s = score(wanted, &full).into_iter().chain(score(wanted_name, &e.name)).reduce(f64::max)?;
            Some((s, full))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.into_iter().take(MAX_SUGGESTIONS).map(|(_, c)| c).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Copies of this machine's tracefs files, laid out as tracefs.
    pub(crate) fn fixtures() -> Tracefs {
        Tracefs::at(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tracefs"))
    }

    fn event(s: &str) -> EventName {
        EventPattern::parse(s).unwrap().exact().unwrap()
    }

    #[test]
    fn spellings_parse_to_one_pattern() {
        let want = EventPattern { category: "sched".into(), name: "sched_switch".into() };
        for s in [
            "sched:sched_switch",
            "tracepoint:sched:sched_switch",
            "kernel.trace(\"sched:sched_switch\")",
            " kernel.trace( \"sched:sched_switch\" ) ",
        ] {
            assert_eq!(EventPattern::parse(s).unwrap(), want, "{s}");
        }
        let bare = EventPattern::parse("kernel.trace(\"sched_switch\")").unwrap();
        assert_eq!((bare.category.as_str(), bare.name.as_str()), ("*", "sched_switch"));
        assert!(bare.is_glob() && bare.exact().is_none());
        assert!(EventPattern::parse("tracepoint:sched:*").unwrap().is_glob());
        assert!(!want.is_glob());
        for bad in ["", "tracepoint:", "sched:", ":x", "a:b:c", "kernel.trace(sched:x)", "sched:sched switch", "s/x:y"]
        {
            assert!(matches!(EventPattern::parse(bad), Err(TracefsError::Syntax { .. })), "{bad}");
        }
        assert_eq!(strip_tracepoint_spelling("tcp_*"), None);
        assert_eq!(strip_tracepoint_spelling("ext4:*"), None, "a module:function pattern");
        assert_eq!(event("sched:sched_switch").probe_spec(), "tracepoint:sched:sched_switch");
    }

    #[test]
    fn lists_events_by_glob_skipping_control_files() {
        let t = fixtures();
        let names = |p: &str| -> Vec<String> {
            t.events(&EventPattern::parse(p).unwrap()).unwrap().iter().map(ToString::to_string).collect()
        };
        assert_eq!(names("sched:*"), ["sched:sched_process_exec", "sched:sched_process_fork", "sched:sched_switch"]);
        assert_eq!(names("tracepoint:sched:sched_process_*"), ["sched:sched_process_exec", "sched:sched_process_fork"]);
        assert_eq!(names("sys_enter"), ["raw_syscalls:sys_enter"], "a bare name in every category");
        assert_eq!(names("*:sys_e*_openat"), ["syscalls:sys_enter_openat", "syscalls:sys_exit_openat"]);
        let all = t.all_events().unwrap();
        assert_eq!(all.len(), 24);
        assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert!(!all.iter().any(|e| e.name == "enable" || e.category == "enable" || e.category == "header_page"));
    }

    #[test]
    fn a_glob_matching_nothing_names_near_categories() {
        let err = fixtures().events(&EventPattern::parse("schd:*").unwrap()).unwrap_err();
        assert!(matches!(&err, TracefsError::NoMatch { close, .. } if close == &["sched:*"]), "{err:?}");
        assert!(err.to_string().contains("no tracepoint matches `schd:*` (did you mean sched:*?)"), "{err}");
    }

    #[test]
    fn parses_sys_enter_openat() {
        let f = fixtures().format(&event("syscalls:sys_enter_openat")).unwrap();
        assert_eq!(f.id, 782);
        let common: Vec<(&str, u16, u16)> = f.common.iter().map(|c| (c.name.as_str(), c.offset, c.size)).collect();
        assert_eq!(
            common,
            [("common_type", 0, 2), ("common_flags", 2, 1), ("common_preempt_count", 3, 1), ("common_pid", 4, 4)]
        );
        let fields: Vec<(&str, &str, u16, u16, bool)> =
            f.fields.iter().map(|x| (x.name.as_str(), x.c_type.as_str(), x.offset, x.size, x.signed())).collect();
        assert_eq!(
            fields,
            [
                ("__syscall_nr", "int", 8, 4, true),
                ("dfd", "int", 16, 8, false),
                ("filename", "const char *", 24, 8, false),
                ("flags", "int", 32, 8, false),
                ("mode", "umode_t", 40, 8, false),
            ]
        );
        assert_eq!(f.fixed_size(), 48);
    }

    #[test]
    fn parses_strings_arrays_and_pids() {
        let t = fixtures();
        let exec = t.format(&event("sched:sched_process_exec")).unwrap();
        assert_eq!(exec.id, 365);
        let filename = exec.field("filename").unwrap();
        assert_eq!((filename.c_type.as_str(), filename.offset, filename.size), ("__data_loc char[]", 8, 4));
        assert_eq!(filename.kind, FieldKind::DataLoc { string: true, relative: false });
        assert_eq!(exec.field("pid").unwrap().c_type, "pid_t");
        assert!(exec.field("pid").unwrap().signed());

        let switch = t.format(&event("sched:sched_switch")).unwrap();
        let comm = switch.field("prev_comm").unwrap();
        assert_eq!((comm.c_type.as_str(), comm.offset, comm.size, comm.kind), ("char[16]", 8, 16, FieldKind::Chars));
        assert_eq!(switch.field("prev_state").unwrap().c_type, "long");
        assert_eq!(switch.fixed_size(), 64);

        let fork = t.format(&event("sched:sched_process_fork")).unwrap();
        let names: Vec<&str> = fork.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["parent_comm", "parent_pid", "child_comm", "child_pid"]);

        let raw = t.format(&event("raw_syscalls:sys_enter")).unwrap();
        let args = raw.field("args").unwrap();
        assert_eq!(
            (args.c_type.as_str(), args.offset, args.size, args.kind),
            ("unsigned long[6]", 16, 48, FieldKind::Bytes)
        );
        let exit = t.format(&event("syscalls:sys_exit_openat")).unwrap();
        let ret = exit.field("ret").unwrap();
        assert_eq!((ret.c_type.as_str(), ret.offset, ret.size, ret.signed()), ("long", 16, 8, true));
        let mmap = t.format(&event("syscalls:sys_enter_mmap")).unwrap();
        assert_eq!(mmap.field("len").unwrap().c_type, "unsigned long");
        let tcp = t.format(&event("tcp:tcp_probe")).unwrap();
        assert_eq!(tcp.field("saddr").unwrap().kind, FieldKind::Bytes);
        assert_eq!(tcp.field("sock_cookie").unwrap().c_type, "__u64");
    }

    #[test]
    fn the_guest_table_decodes_a_real_record() {
        let exec = fixtures().format(&event("sched:sched_process_exec")).unwrap();
        let bytes = exec.table();
        let table = wprobe_common::tracepoint::FieldTable::parse(&bytes).unwrap();
        assert_eq!(table.len(), 3, "the common fields stay out");
        let raw = fs::read(fixtures().root().join("records/sched_process_exec.bin")).unwrap();
        let name = wprobe_common::tracepoint::field_str(&raw, &table.get("filename").unwrap()).unwrap();
        assert_eq!(name, b"/tmp/wpfx/exec_me_wprobe");
    }

    #[test]
    fn reads_fields_of_real_records_by_name() {
        let t = fixtures();
        let record = |name: &str| fs::read(t.root().join("records").join(format!("{name}.bin"))).unwrap();
        let exec = t.format(&event("sched:sched_process_exec")).unwrap();
        let raw = record("sched_process_exec");
        assert_eq!(exec.read_str(&raw, "filename").unwrap(), b"/tmp/wpfx/exec_me_wprobe");
        assert_eq!(exec.read_int(&raw, "pid").unwrap(), FieldInt::Signed(8792));
        let exit = t.format(&event("syscalls:sys_exit_openat")).unwrap();
        assert_eq!(exit.read_int(&record("sys_exit_openat"), "ret").unwrap(), FieldInt::Signed(-2));

        let err = exec.read_int(&raw, "filename").unwrap_err();
        assert_eq!(
            err.to_string(),
            "tracepoint sched:sched_process_exec, field `filename`: the field is a dynamic string of 4 bytes, \
             not an integer; read it as a string or as bytes"
        );
        let err = exec.read_str(&raw[..10], "filename").unwrap_err();
        assert!(matches!(err, TracefsError::FieldRead { source: FieldError::Truncated { .. }, .. }), "{err:?}");
        assert!(err.to_string().contains("the record is 10 bytes"), "{err}");
        assert!(matches!(exec.read_str(&raw, "nope"), Err(TracefsError::UnknownField { .. })));
    }

    #[test]
    fn unknown_events_and_fields_suggest_close_names() {
        let t = fixtures();
        let err = t.format(&event("sched:sched_proces_exec")).unwrap_err();
        let TracefsError::UnknownEvent { close, .. } = &err else { panic!("{err:?}") };
        assert_eq!(close.first().map(String::as_str), Some("sched:sched_process_exec"));
        assert!(
            err.to_string().starts_with(
                "no tracepoint `sched:sched_proces_exec` in this kernel (did you mean sched:sched_process_exec"
            ),
            "{err}"
        );
        // The right name in the wrong category.
        let err = t.format(&event("syscalls:sched_switch")).unwrap_err();
        assert!(
            matches!(&err, TracefsError::UnknownEvent { close, .. } if close[0] == "sched:sched_switch"),
            "{err:?}"
        );
        // Nothing near: no suggestion, still the hint.
        let err = t.format(&event("zzz:qqqqqqqq")).unwrap_err();
        assert!(matches!(&err, TracefsError::UnknownEvent { close, .. } if close.is_empty()), "{err:?}");

        let exec = t.format(&event("sched:sched_process_exec")).unwrap();
        let err = exec.field("filenme").unwrap_err();
        assert_eq!(
            err.to_string(),
            "tracepoint sched:sched_process_exec has no field `filenme` (did you mean filename?); \
             its fields are: filename, pid, old_pid"
        );
        assert!(
            matches!(exec.field("common_pid"), Err(TracefsError::UnknownField { .. })),
            "common fields are not user fields"
        );
    }

    #[test]
    fn broken_format_files_are_errors_with_the_line() {
        let e = || event("x:y");
        let good = fs::read_to_string(fixtures().root().join("events/sched/sched_switch/format")).unwrap();
        assert!(EventFormat::parse(e(), &good).is_ok());
        let no_id = good.replace("ID: 372", "");
        assert_eq!(EventFormat::parse(e(), &no_id).unwrap_err().0, 0);
        let bad_id = good.replace("ID: 372", "ID: x");
        assert_eq!(EventFormat::parse(e(), &bad_id).unwrap_err(), (2, "`x` is not an event ID".to_string()));
        let bad_field = good.replace("offset:24;", "offset:;");
        let (line, reason) = EventFormat::parse(e(), &bad_field).unwrap_err();
        assert_eq!(line, 10);
        assert!(reason.contains("offset"), "{reason}");
        assert!(EventFormat::parse(e(), "name: y\nID: 1\nformat:\n").is_err());

        // The same through Tracefs names the file.
        let dir = std::env::temp_dir().join(format!("wprobe-tracefs-{}", std::process::id()));
        fs::create_dir_all(dir.join("events/x/y")).unwrap();
        fs::write(dir.join("events/x/y/format"), &bad_field).unwrap();
        let err = Tracefs::at(&dir).format(&e()).unwrap_err();
        assert!(
            err.to_string().ends_with("events/x/y/format, line 10: `offset:` is not a number below 65536"),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_tracefs_directory_is_a_read_error() {
        let err = Tracefs::at("/nonexistent/wprobe").all_events().unwrap_err();
        assert!(matches!(err, TracefsError::Read { .. }), "{err:?}");
        assert!(err.to_string().starts_with("cannot read /nonexistent/wprobe/events"), "{err}");
    }

    #[test]
    fn mount_errors_say_what_to_do() {
        let err =
            |errno| TracefsError::Mount { path: TRACEFS_PATH.into(), source: io::Error::from_raw_os_error(errno) };
        assert!(err(libc::EPERM).to_string().contains("needs root (CAP_SYS_ADMIN)"));
        assert!(err(libc::ENODEV).to_string().contains("CONFIG_TRACING"));
        let read = TracefsError::Read { path: "/x".into(), source: io::Error::from_raw_os_error(libc::EACCES) };
        assert!(read.to_string().contains("readable by root only"));
    }

    /// The live tracefs of this machine, mounted if needed (the tests run as root).
    #[test]
    fn live_tracefs_has_the_fixture_events_with_their_layout() {
        let t = Tracefs::open().expect("tracefs: the tests run as root");
        assert!(t.root().join("events").is_dir());
        let ours = fixtures();
        for name in
            ["syscalls:sys_enter_openat", "syscalls:sys_exit_openat", "sched:sched_process_exec", "sched:sched_switch"]
        {
            let live = t.format(&event(name)).unwrap();
            let copy = ours.format(&event(name)).unwrap();
            // IDs differ between boots and kernels; the layout is what the fixtures stand for.
            assert_eq!((&live.common, &live.fields), (&copy.common, &copy.fields), "{name}");
        }
        // Every format on this machine parses.
        let all = t.all_events().unwrap();
        assert!(all.len() > 100, "{}", all.len());
        for e in &all {
            t.format(e).unwrap_or_else(|err| panic!("{err}"));
        }
        assert!(t.events(&EventPattern::parse("syscalls:sys_enter_*").unwrap()).unwrap().len() > 100);
    }
}
