//! What can go wrong between a probe spec and a batch of live events.

use std::io;
use std::path::PathBuf;

/// A probe argument that does not parse (`--uprobe`, `--kprobe` … values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("`{arg}`: expected PATH:FUNCTION, PATH:FUNCTION+OFFSET, PATH:GLOB or PATH:0xADDR")]
    UprobeSyntax { arg: String },
    #[error(
        "`{arg}`: expected a hexadecimal virtual address of the ELF file, such as 0x401136 (as `nm` or \
         `objdump -d` print it)"
    )]
    UserAddressSyntax { arg: String },
    #[error("`{arg}`: a wildcard cannot take an offset; name one function for FUNCTION+OFFSET")]
    GlobWithOffset { arg: String },
    #[error("`{arg}`: expected FUNCTION or MODULE:FUNCTION")]
    KprobeSyntax { arg: String },
    #[error("`{arg}`: `{offset}` is not an offset (decimal, or hexadecimal with 0x)")]
    BadOffset { arg: String, offset: String },
    #[error("`{arg}`: a return probe cannot take an offset; it fires when the function returns")]
    ReturnWithOffset { arg: String },
    #[error("`{arg}`: wildcards are allowed in function names, not in module names; name one module")]
    Wildcard { arg: String },
    #[error("`{arg}`: expected a hexadecimal kernel address such as 0xffffffff81a00000")]
    AddressSyntax { arg: String },
    #[error(
        "`{arg}` is not a probe point wprobe knows; use kprobe.function(\"F\")[.return], \
         kprobe.module(\"M\").function(\"F\")[.return], kprobe.statement(0xADDR).absolute, \
         process(\"PATH\").function(\"F\")[.return] or process(\"PATH\").statement(0xADDR).absolute"
    )]
    StapSyntax { arg: String },
    #[error(
        "`{arg}` needs the kernel's debuginfo (DWARF), which wprobe does not use; probe the same function \
         with kprobe.function(\"F\") and read its arguments by position (pointer_arg(1), ...), as SystemTap's \
         DWARF-less probes do"
    )]
    NeedsDebuginfo { arg: String },
    #[error("`{arg}`: expected a system call name such as openat, or a glob such as 'open*'")]
    SyscallSyntax { arg: String },
    #[error("`{arg}`: expected a tracepoint CATEGORY:NAME such as sched:sched_process_exec (see `wprobe list 'tracepoint:*'`)")]
    TracepointSyntax { arg: String },
}

/// Why probes could not be attached, or live events not read.
///
/// Every variant names what the user asked for (the probe, the file, the symbol) and, where
/// there is one, what to do instead. None of them is a bare errno.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Spec(#[from] SpecError),

    #[error(transparent)]
    Tracefs(#[from] super::tracefs::TracefsError),

    #[error(transparent)]
    Capture(#[from] super::captures::CaptureError),

    #[error(
        "cannot attach {pp}: this kernel has no kprobe support (CONFIG_KPROBES is not set: there is no kprobe \
         PMU at /sys/bus/event_source/devices/kprobe and no kprobe_events in tracefs), so no kernel function \
         can be probed here. Alternatives: probe user-space functions with uprobes (--uprobe PATH:FUNCTION, \
         process(\"PATH\").function(\"FUNCTION\")), or run wprobe in a virtual machine whose kernel has CONFIG_KPROBES \
         (a Debian kernel boots under QEMU in seconds)"
    )]
    KprobesUnsupported { pp: String },

    #[error(
        "cannot attach {pp}: this kernel has no uprobe support (CONFIG_UPROBE_EVENTS is not set: there is no \
         uprobe PMU at /sys/bus/event_source/devices/uprobe)"
    )]
    UprobesUnsupported { pp: String },

    #[error("cannot attach {pp}: cannot find `{name}` (not a path, and not in $PATH)")]
    ExecutableNotFound { pp: String, name: String },

    #[error("cannot attach {pp}: cannot read {}: {source}", path.display())]
    ReadTarget {
        pp: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot attach {pp}: {} is not an ELF file wprobe can read ({reason})", path.display())]
    NotElf { pp: String, path: PathBuf, reason: String },

    #[error("cannot attach {pp}: no function `{symbol}` in {where_}{}", similar(close))]
    UnknownSymbol { pp: String, symbol: String, where_: String, close: Vec<String> },

    #[error("cannot attach {pp}: `{symbol}` in {} has no file offset (it is not in a loaded segment)", path.display())]
    SymbolNotMapped { pp: String, symbol: String, path: PathBuf },

    #[error("cannot attach {pp}: offset {offset:#x} lies outside `{symbol}`, which is {size} bytes long")]
    OffsetOutsideFunction { pp: String, symbol: String, offset: u64, size: u64 },

    #[error("cannot attach {pp}: kernel module `{module}` is not loaded{}", similar(close))]
    UnknownModule { pp: String, module: String, close: Vec<String> },

    #[error("cannot attach {pp}: no function in {where_} matches `{pattern}` (see `wprobe list '{list}'`)")]
    NoMatch { pp: String, pattern: String, where_: String, list: String },

    #[error(
        "cannot attach {pp}: {addr:#x} is not in an executable segment of {} (the address is a virtual \
         address of the file, as `nm` or `objdump -d` print it, not a file offset)",
        path.display()
    )]
    AddressNotMapped { pp: String, addr: u64, path: PathBuf },

    #[error(
        "cannot attach {pp}: the kernel rejected {} it matches: {skipped}{hint}",
        if *count == 1 { "the one function".to_string() } else { format!("every one of the {count} functions") }
    )]
    NothingAttached { pp: String, count: usize, skipped: String, hint: &'static str },

    #[error("cannot attach {pp}: the pattern matches {count} functions, more than the limit of {cap}; narrow it, or raise the limit with --max-probes")]
    TooManyMatches { pp: String, count: usize, cap: usize },

    #[error("cannot attach {pp}: a raw address can point anywhere, including the middle of an instruction; it needs guru mode (--guru), as SystemTap's `stap -g`")]
    GuruRequired { pp: String },

    #[error("cannot attach {pp}: {addr:#x} is not inside any kernel function in /proc/kallsyms (reading addresses there needs root)")]
    AddressNotInFunction { pp: String, addr: u64 },

    #[error("cannot attach {pp}: the kernel refuses to probe `{symbol}` ({reason})")]
    ProbeRefused { pp: String, symbol: String, reason: String },

    #[error("cannot read {what}: {source}")]
    KernelInfo {
        what: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("live probes run on x86_64 and aarch64; this machine is {arch} (build wprobe for one of those)")]
    UnsupportedArch { arch: &'static str },

    #[error("{}", permission_hint("loading wprobe's eBPF object", source))]
    LoadObject {
        #[source]
        source: aya::EbpfError,
    },

    #[error("{}", permission_hint(&format!("loading the eBPF program {program}"), source))]
    LoadProgram {
        program: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },

    #[error("the embedded eBPF object lacks {what}; it does not match this wprobe build (run `cargo xtask bpf`)")]
    ObjectMismatch { what: String },

    #[error("{}", permission_hint(&format!("{what} of the eBPF map {map}"), source))]
    Map {
        map: &'static str,
        what: &'static str,
        #[source]
        source: aya::maps::MapError,
    },

    #[error("cannot attach {pp}: {}", attach_hint(source))]
    Attach {
        pp: String,
        #[source]
        source: io::Error,
    },

    /// Loading a program for uprobe multi links (only errors other than the kernel not
    /// offering them: then each probe attaches on its own).
    #[error("{what}: {source}")]
    Multi {
        what: String,
        #[source]
        source: io::Error,
    },

    #[error("reading the ring buffer: {0}")]
    Ring(#[source] io::Error),

    #[error("a runtime error in the kernel introspection: {0}")]
    Introspect(String),

    /// A stop was asked for while attaching: what was attached is detached again.
    #[error("interrupted while attaching")]
    Interrupted,

    #[error("{what} is not available to a session whose probes are shared with others (`wprobe serve`)")]
    NotInSharedObject { what: &'static str },

    #[error("the shared probe table is full ({capacity} probes in use by all sessions): {hint}")]
    SharedTableFull { capacity: u32, hint: &'static str },
}

/// Why `wprobe list` could not list. Listing attaches nothing, so none of these speak of
/// attaching.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot find the program `{name}`: it is not a path, and not in $PATH")]
    ProgramNotFound { name: String },

    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{} is not an ELF file wprobe can read ({reason})", path.display())]
    NotElf { path: PathBuf, reason: String },

    #[error("kernel module `{module}` is not loaded (load it with `modprobe {module}`){}", similar(close))]
    ModuleNotLoaded { module: String, close: Vec<String> },

    #[error(
        "`{pattern}` names one address or an offset, not functions to list; list the functions with \
         process(\"PATH\").function(\"GLOB\") or PATH:GLOB"
    )]
    NotAList { pattern: String },

    #[error("no loaded kernel module matches `{pattern}` (loaded ones are in /proc/modules){}", similar(close))]
    NoModuleMatches { pattern: String, close: Vec<String> },

    #[error(
        "`{name}` is neither a loaded kernel module (load it with `modprobe {name}`) nor a program in $PATH \
         (give a path for a binary elsewhere){}",
        similar(close)
    )]
    NotLoadedNorProgram { name: String, close: Vec<String> },

    #[error("cannot read {what}: {source}")]
    KernelInfo {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

fn similar(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!(" (similar: {})", close.join(", "))
    }
}

/// Names the missing privilege when the kernel said EPERM/EACCES, instead of only the errno.
fn permission_hint(what: &str, err: &(dyn std::error::Error + 'static)) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut denied = false;
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            denied |= io.kind() == io::ErrorKind::PermissionDenied;
        }
        source = e.source();
    }
    if denied {
        format!("{what} was refused: wprobe needs root, or CAP_BPF and CAP_PERFMON ({err})")
    } else {
        format!("{what} failed: {err}")
    }
}

fn attach_hint(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            format!("the kernel refused ({err}): wprobe needs root, or CAP_BPF and CAP_PERFMON")
        }
        Some(libc::ENOENT) => format!("the kernel does not know this function ({err})"),
        Some(libc::EINVAL) => format!("the kernel rejected this probe point ({err})"),
        _ => err.to_string(),
    }
}
