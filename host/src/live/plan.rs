//! Resolution: probe specs → the probe table and what to attach, before anything is loaded.
//!
//! Every spec is checked here (kernel support, the ELF symbol, `/proc/kallsyms`, the
//! tracepoint's format file), so that a bad probe fails before the first attachment.

use super::captures::{tracepoint_bytes, ProbeShape};
use super::error::LiveError;
use super::resolve::{self, ProbeSupport};
use super::spec::{self, ProbeSpec};
use super::syscalls;
use super::tracefs::{EventPattern, Tracefs};
use super::LiveOptions;
use crate::probe::{FieldInfo, ProbeInfo};
use std::path::PathBuf;

/// Where one probe attaches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Attach {
    /// A uprobe at a file offset of an ELF file (absolute path).
    Uprobe { path: PathBuf, file_offset: u64 },
    /// A kprobe on `sym` or `module:sym`.
    Kprobe { function: String },
    /// A kprobe at a raw address.
    KprobeAddr { addr: u64 },
    /// A syscall through its `__x64_sys_*` wrapper (kernels with kprobes).
    SyscallKprobe { wrapper: String },
    /// A syscall through its `syscalls:sys_enter_*` / `sys_exit_*` tracepoints.
    SyscallTracepoint { enter_id: u32, exit_id: u32 },
    /// A tracepoint, by its event ID.
    Tracepoint { id: u32 },
}

/// One probe, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Planned {
    pub attach: Attach,
    pub is_return: bool,
    pub shape: ProbeShape,
    /// The function (or address, or event), for messages.
    pub function: String,
    /// The pp of the glob probe point this is one match of; None for a probe named exactly
    /// (a glob's matches that the kernel rejects are skipped, see `partial`).
    pub glob: Option<String>,
}

/// How syscall probes attach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum SyscallPath {
    /// Through the `__x64_sys_*` wrappers where the kernel has kprobes, else tracepoints.
    #[default]
    Auto,
    /// Through the wrappers (needs kprobes).
    Kprobe,
    /// Through the `syscalls:*` tracepoints (needs CONFIG_FTRACE_SYSCALLS).
    Tracepoint,
}

impl SyscallPath {
    /// The path this kernel takes, for `Auto`.
    pub fn resolve(self, support: &ProbeSupport) -> SyscallPath {
        match self {
            SyscallPath::Auto if support.kprobes => SyscallPath::Kprobe,
            SyscallPath::Auto => SyscallPath::Tracepoint,
            other => other,
        }
    }
}

/// Checks every spec and turns it into probe-table entries and an attach plan. A glob
/// becomes one probe per match, each with its own `pp()`.
pub(crate) fn resolve_all(
    specs: &[ProbeSpec],
    opts: &LiveOptions,
) -> Result<(Vec<ProbeInfo>, Vec<Planned>), LiveError> {
    let support = ProbeSupport::detect();
    let mut probes = Vec::with_capacity(specs.len());
    let mut plan = Vec::with_capacity(specs.len());
    // Read once, and only when a probe needs them.
    let mut kallsyms: Option<String> = None;
    let mut blacklist: Option<String> = None;
    let mut tracefs: Option<Tracefs> = None;
    let function = |is_return| ProbeShape::Function { is_return };
    for spec in specs {
        match spec {
            ProbeSpec::User { path, symbol, offset, is_return } => {
                let given_pp = spec.pp();
                let abs = resolve::resolve_executable(&given_pp, path)?;
                let pp = ProbeSpec::User {
                    path: abs.clone(),
                    symbol: symbol.clone(),
                    offset: *offset,
                    is_return: *is_return,
                }
                .pp();
                if !support.uprobes {
                    return Err(LiveError::UprobesUnsupported { pp });
                }
                // A glob becomes one probe per function, each with its own pp().
                let (found, glob) = if spec::is_glob(symbol) {
                    (resolve::expand_elf_glob(&pp, &abs, symbol, opts.max_probes)?, Some(pp))
                } else {
                    let f = resolve::elf_function(&pp, &abs, symbol)?;
                    if *offset != 0 && f.size != 0 && *offset >= f.size {
                        return Err(LiveError::OffsetOutsideFunction {
                            pp,
                            symbol: symbol.clone(),
                            offset: *offset,
                            size: f.size,
                        });
                    }
                    (vec![(symbol.clone(), f.file_offset + offset)], None)
                };
                for (name, file_offset) in found {
                    let one = ProbeSpec::User {
                        path: abs.clone(),
                        symbol: name.clone(),
                        offset: *offset,
                        is_return: *is_return,
                    };
                    probes.push(ProbeInfo::new(one.pp(), *is_return));
                    plan.push(Planned {
                        attach: Attach::Uprobe { path: abs.clone(), file_offset },
                        is_return: *is_return,
                        shape: function(*is_return),
                        function: name,
                        glob: glob.clone(),
                    });
                }
            }
            ProbeSpec::UserAddr { path, addr, is_return } => {
                let abs = resolve::resolve_executable(&spec.pp(), path)?;
                let pp = ProbeSpec::UserAddr { path: abs.clone(), addr: *addr, is_return: *is_return }.pp();
                if !support.uprobes {
                    return Err(LiveError::UprobesUnsupported { pp });
                }
                let file_offset = resolve::elf_address(&pp, &abs, *addr)?;
                plan.push(Planned {
                    attach: Attach::Uprobe { path: abs, file_offset },
                    is_return: *is_return,
                    shape: function(*is_return),
                    function: format!("{addr:#x}"),
                    glob: None,
                });
                probes.push(ProbeInfo::new(pp, *is_return));
            }
            ProbeSpec::Kernel { module, symbol, is_return } => {
                let pp = spec.pp();
                if !support.kprobes {
                    return Err(LiveError::KprobesUnsupported { pp });
                }
                let (symbols, glob) = if spec::is_glob(symbol) {
                    let text = read_kallsyms(&mut kallsyms)?;
                    let bl = resolve::blacklist_names(blacklist.get_or_insert_with(resolve::read_blacklist));
                    (resolve::expand_kernel_glob(&pp, text, &bl, module.as_deref(), symbol, opts.max_probes)?, Some(pp))
                } else {
                    resolve::check_kernel_function(&pp, module.as_deref(), symbol)?;
                    (vec![symbol.clone()], None)
                };
                for symbol in symbols {
                    let one =
                        ProbeSpec::Kernel { module: module.clone(), symbol: symbol.clone(), is_return: *is_return };
                    let function_name = match module {
                        Some(m) => format!("{m}:{symbol}"),
                        None => symbol,
                    };
                    plan.push(Planned {
                        attach: Attach::Kprobe { function: function_name.clone() },
                        is_return: *is_return,
                        shape: function(*is_return),
                        function: function_name,
                        glob: glob.clone(),
                    });
                    probes.push(ProbeInfo::new(one.pp(), *is_return));
                }
            }
            ProbeSpec::KernelAddr { addr } => {
                let pp = spec.pp();
                if !opts.guru {
                    return Err(LiveError::GuruRequired { pp });
                }
                if !support.kprobes {
                    return Err(LiveError::KprobesUnsupported { pp });
                }
                if resolve::function_containing(read_kallsyms(&mut kallsyms)?, *addr).is_none() {
                    return Err(LiveError::AddressNotInFunction { pp, addr: *addr });
                }
                plan.push(Planned {
                    attach: Attach::KprobeAddr { addr: *addr },
                    is_return: false,
                    shape: function(false),
                    function: format!("{addr:#x}"),
                    glob: None,
                });
                probes.push(ProbeInfo::new(pp, false));
            }
            ProbeSpec::Syscall { name, is_return } => {
                let pp = spec.pp();
                let tf = open_tracefs(&mut tracefs)?;
                let names = syscalls::expand_syscalls(tf, name)?;
                if names.len() > opts.max_probes {
                    return Err(LiveError::TooManyMatches { pp, count: names.len(), cap: opts.max_probes });
                }
                let path = opts.syscall_path.resolve(&support);
                let glob = spec::is_glob(name).then(|| pp.clone());
                for name in names {
                    let one = ProbeSpec::Syscall { name: name.clone(), is_return: *is_return };
                    let attach = match path {
                        SyscallPath::Kprobe => {
                            if !support.kprobes {
                                return Err(LiveError::KprobesUnsupported { pp: one.pp() });
                            }
                            let wrapper = format!("{}{name}", SYSCALL_WRAPPER_PREFIX);
                            resolve::check_kernel_function(&one.pp(), None, &wrapper)?;
                            Attach::SyscallKprobe { wrapper }
                        }
                        _ => {
                            let sc = syscalls::syscall(tf, &name)?;
                            Attach::SyscallTracepoint { enter_id: sc.enter.id, exit_id: sc.exit.id }
                        }
                    };
                    plan.push(Planned {
                        attach,
                        is_return: *is_return,
                        shape: function(*is_return),
                        function: name,
                        glob: glob.clone(),
                    });
                    probes.push(ProbeInfo::new(one.pp(), *is_return));
                }
            }
            ProbeSpec::Tracepoint { category, name } => {
                let pattern = EventPattern::parse(&format!("{category}:{name}"))?;
                let tf = open_tracefs(&mut tracefs)?;
                let events = tf.events(&pattern)?;
                if events.len() > opts.max_probes {
                    return Err(LiveError::TooManyMatches { pp: spec.pp(), count: events.len(), cap: opts.max_probes });
                }
                let glob = pattern.is_glob().then(|| spec.pp());
                for event in events {
                    let format = tf.format(&event)?;
                    let one = ProbeSpec::Tracepoint { category: event.category.clone(), name: event.name.clone() };
                    let dynamic = format.fields.iter().any(|f| f.kind.is_string() && f.size == 4);
                    let tp_bytes = tracepoint_bytes(format.fixed_size(), dynamic);
                    let mut info = ProbeInfo::new(one.pp(), false);
                    info.fields = format
                        .fields
                        .iter()
                        .map(|f| FieldInfo { name: f.name.clone(), offset: f.offset, size: f.size, kind: f.kind })
                        .collect();
                    plan.push(Planned {
                        attach: Attach::Tracepoint { id: format.id },
                        is_return: false,
                        shape: ProbeShape::Tracepoint { tp_bytes },
                        function: event.to_string(),
                        glob: glob.clone(),
                    });
                    probes.push(info);
                }
            }
        }
    }
    Ok((probes, plan))
}

/// The syscall wrappers' prefix, `__x64_sys_openat(const struct pt_regs *regs)` on x86_64
/// and `__arm64_sys_openat(const struct pt_regs *regs)` on aarch64: the same shape, so the
/// eBPF program reads the user's registers from argument 1 on both.
#[cfg(not(target_arch = "aarch64"))]
pub(crate) const SYSCALL_WRAPPER_PREFIX: &str = "__x64_sys_";
#[cfg(target_arch = "aarch64")]
pub(crate) const SYSCALL_WRAPPER_PREFIX: &str = "__arm64_sys_";

pub(crate) fn open_tracefs(cache: &mut Option<Tracefs>) -> Result<&Tracefs, LiveError> {
    if cache.is_none() {
        let tf = Tracefs::open()?;
        if tf.mounted_here() {
            eprintln!("wprobe: mounted tracefs at {}", tf.root().display());
        }
        *cache = Some(tf);
    }
    Ok(cache.as_ref().expect("set above"))
}

pub(crate) fn read_kallsyms(cache: &mut Option<String>) -> Result<&str, LiveError> {
    if cache.is_none() {
        let text = std::fs::read_to_string("/proc/kallsyms")
            .map_err(|source| LiveError::KernelInfo { what: "/proc/kallsyms", source })?;
        *cache = Some(text);
    }
    Ok(cache.as_deref().unwrap_or_default())
}
