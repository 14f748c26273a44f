//! Looking probe points up before anything is attached: kernel support, ELF symbols,
//! `/proc/kallsyms`, and close matches for names that do not exist.

use super::error::{ListError, LiveError};
use super::spec::{self, ProbeSpec};
use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Which probe families this kernel offers, from sysfs and tracefs. A kernel built without
/// CONFIG_KPROBES has neither the kprobe PMU nor `kprobe_events`; checking up front lets
/// wprobe say so instead of failing later with ENOENT from `perf_event_open`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeSupport {
    pub kprobes: bool,
    pub uprobes: bool,
}

impl ProbeSupport {
    pub fn detect() -> Self {
        Self::detect_in(Path::new("/"))
    }

    /// Detection against a file system rooted at `root` (tests use a fake one).
    pub(crate) fn detect_in(root: &Path) -> Self {
        let has = |family: &str| {
            root.join("sys/bus/event_source/devices").join(family).join("type").exists()
                || ["sys/kernel/tracing", "sys/kernel/debug/tracing"]
                    .iter()
                    .any(|t| root.join(t).join(format!("{family}_events")).exists())
        };
        Self { kprobes: has("kprobe"), uprobes: has("uprobe") }
    }
}

/// `name` as given when it contains a '/', else the first executable of that name in `$PATH`
/// (as SystemTap's `process("ls")`); then made absolute with symlinks resolved, which is the
/// path `pp()` shows and the one the kernel attaches to.
pub(crate) fn resolve_executable(pp: &str, name: &Path) -> Result<PathBuf, LiveError> {
    let candidate = program_candidate(name)
        .ok_or_else(|| LiveError::ExecutableNotFound { pp: pp.to_string(), name: name.display().to_string() })?;
    fs::canonicalize(&candidate).map_err(|source| LiveError::ReadTarget { pp: pp.to_string(), path: candidate, source })
}

/// `name` itself when it has a '/', else the first file of that name in `$PATH`.
fn program_candidate(name: &Path) -> Option<PathBuf> {
    if name.components().count() > 1 || name.is_absolute() {
        return Some(name.to_path_buf());
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// A function found in an ELF file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ElfFunction {
    /// Where its first instruction lies in the file: what the uprobe PMU wants.
    pub file_offset: u64,
    /// Its size from the symbol table, 0 when unknown.
    pub size: u64,
}

/// Why an ELF file could not be read; the callers say what it was read for.
pub(crate) enum ElfProblem {
    Read(std::io::Error),
    NotElf(String),
}

/// Reads and parses the ELF file `path`, then runs `f` on it.
pub(crate) fn with_elf<T>(path: &Path, f: impl FnOnce(&object::File<'_>) -> T) -> Result<T, ElfProblem> {
    let data = fs::read(path).map_err(ElfProblem::Read)?;
    let file = object::File::parse(&*data).map_err(|e| ElfProblem::NotElf(e.to_string()))?;
    if file.format() != object::BinaryFormat::Elf {
        return Err(ElfProblem::NotElf(format!("{:?} format", file.format())));
    }
    Ok(f(&file))
}

/// [`with_elf`] for attaching: the problems as [`LiveError`]s naming the probe.
fn with_elf_for<T>(pp: &str, path: &Path, f: impl FnOnce(&object::File<'_>) -> T) -> Result<T, LiveError> {
    with_elf(path, f).map_err(|problem| match problem {
        ElfProblem::Read(source) => LiveError::ReadTarget { pp: pp.to_string(), path: path.to_path_buf(), source },
        ElfProblem::NotElf(reason) => LiveError::NotElf { pp: pp.to_string(), path: path.to_path_buf(), reason },
    })
}

/// The defined functions of an ELF file, from `.symtab` and `.dynsym`: (name, address, size).
fn elf_functions<'a>(file: &'a object::File<'_>) -> impl Iterator<Item = (&'a str, u64, u64)> + 'a {
    file.symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
        .filter_map(|s| s.name().ok().filter(|n| !n.is_empty()).map(|n| (n, s.address(), s.size())))
}

/// Virtual address to file offset through the loadable segment holding it; the program
/// headers are what the loader maps, so this holds even without section headers (stripped
/// files). `None` when no segment holds `addr`, or, with `executable`, no executable one.
fn file_offset_of(file: &object::File<'_>, addr: u64, executable: bool) -> Option<u64> {
    file.segments().find_map(|seg| {
        let (off, len) = seg.file_range();
        let exec = match seg.flags() {
            object::SegmentFlags::Elf { p_flags } => p_flags & object::elf::PF_X != 0,
            _ => true,
        };
        (addr >= seg.address() && addr < seg.address() + len && (exec || !executable))
            .then(|| addr - seg.address() + off)
    })
}

/// Finds the function `symbol` in the ELF file `path`, in `.symtab` or `.dynsym`.
pub(crate) fn elf_function(pp: &str, path: &Path, symbol: &str) -> Result<ElfFunction, LiveError> {
    with_elf_for(pp, path, |file| {
        let Some((_, addr, size)) = elf_functions(file).find(|&(name, _, _)| name == symbol) else {
            let names: BTreeSet<&str> = elf_functions(file).map(|(n, _, _)| n).collect();
            return Err(LiveError::UnknownSymbol {
                pp: pp.to_string(),
                symbol: symbol.to_string(),
                where_: path.display().to_string(),
                close: close_matches(symbol, names.iter().copied()),
            });
        };
        let file_offset = file_offset_of(file, addr, false).ok_or_else(|| LiveError::SymbolNotMapped {
            pp: pp.to_string(),
            symbol: symbol.to_string(),
            path: path.to_path_buf(),
        })?;
        Ok(ElfFunction { file_offset, size })
    })?
}

/// The functions of the ELF file `path` that the glob `pattern` picks (see [`is_glob_target`]),
/// sorted by name, as (name, file offset). Aliases (several names of one address, common in
/// libc) become one probe, under the shortest name, so that a hit is not reported twice.
pub(crate) fn expand_elf_glob(
    pp: &str,
    path: &Path,
    pattern: &str,
    cap: usize,
) -> Result<Vec<(String, u64)>, LiveError> {
    let found = with_elf_for(pp, path, |file| {
        one_name_per_address(
            elf_functions(file)
                .filter(|&(name, _, _)| glob_match(pattern, name) && is_glob_target(pattern, name))
                .filter_map(|(name, addr, _)| Some((name, file_offset_of(file, addr, false)?))),
        )
    })?;
    if found.is_empty() {
        return Err(LiveError::NoMatch {
            pp: pp.to_string(),
            pattern: pattern.to_string(),
            where_: path.display().to_string(),
            list: format!("{}:{pattern}", path.display()),
        });
    }
    if found.len() > cap {
        return Err(LiveError::TooManyMatches { pp: pp.to_string(), count: found.len(), cap });
    }
    Ok(found)
}

/// One (name, offset) per offset, the shortest name (then the first in sorting order) of
/// those sharing it; sorted by name.
fn one_name_per_address<'a>(found: impl Iterator<Item = (&'a str, u64)>) -> Vec<(String, u64)> {
    let mut by_offset: std::collections::BTreeMap<u64, &str> = Default::default();
    for (name, off) in found {
        let best = by_offset.entry(off).or_insert(name);
        if (name.len(), name) < (best.len(), *best) {
            *best = name;
        }
    }
    let mut out: Vec<(String, u64)> = by_offset.into_iter().map(|(off, name)| (name.to_string(), off)).collect();
    out.sort();
    out
}

/// The file offset of the virtual address `addr` of the ELF file `path`, which must lie in an
/// executable segment.
pub(crate) fn elf_address(pp: &str, path: &Path, addr: u64) -> Result<u64, LiveError> {
    with_elf_for(pp, path, |file| file_offset_of(file, addr, true))?.ok_or_else(|| LiveError::AddressNotMapped {
        pp: pp.to_string(),
        addr,
        path: path.to_path_buf(),
    })
}

/// Checks that the kernel function `symbol` (in `module`, or in vmlinux) exists and may be
/// probed, from `/proc/kallsyms` and the kprobe blacklist.
pub(crate) fn check_kernel_function(pp: &str, module: Option<&str>, symbol: &str) -> Result<(), LiveError> {
    let kallsyms = fs::read_to_string("/proc/kallsyms")
        .map_err(|source| LiveError::KernelInfo { what: "/proc/kallsyms", source })?;
    check_kallsyms(pp, &kallsyms, module, symbol)?;
    // Only root can read it, and only with debugfs mounted; without it the kernel still
    // refuses blacklisted functions at attach time, with EINVAL.
    {
        if blacklist_names(&read_blacklist()).contains(symbol) {
            return Err(LiveError::ProbeRefused {
                pp: pp.to_string(),
                symbol: symbol.to_string(),
                reason: "it is on the kernel's kprobe blacklist: probing it could crash or deadlock the kernel"
                    .to_string(),
            });
        }
    }
    Ok(())
}

/// The lookup itself, over the text of `/proc/kallsyms`
/// (`ADDRESS TYPE NAME [MODULE]` per line).
pub(crate) fn check_kallsyms(pp: &str, kallsyms: &str, module: Option<&str>, symbol: &str) -> Result<(), LiveError> {
    let functions = kernel_functions(kallsyms).map(|f| (f.name, f.module));

    if let Some(m) = module {
        if !functions.clone().any(|(_, fm)| fm == Some(m)) {
            let modules: BTreeSet<&str> = functions.filter_map(|(_, fm)| fm).collect();
            return Err(LiveError::UnknownModule {
                pp: pp.to_string(),
                module: m.to_string(),
                close: close_matches(m, modules.iter().copied()),
            });
        }
    }
    if functions.clone().any(|(name, fm)| name == symbol && fm == module) {
        return Ok(());
    }
    let mut close: Vec<String> = Vec::new();
    if module.is_none() {
        // Present only in a module: SystemTap wants kprobe.module("M") for it.
        close.extend(
            functions
                .clone()
                .filter(|&(n, fm)| n == symbol && fm.is_some())
                .map(|(n, fm)| format!("{}:{n}", fm.unwrap_or_default())),
        );
    }
    let names: BTreeSet<&str> = functions.filter(|&(_, fm)| fm == module).map(|(n, _)| n).collect();
    close.extend(close_matches(symbol, names.iter().copied()));
    close.truncate(MAX_SUGGESTIONS);
    Err(LiveError::UnknownSymbol {
        pp: pp.to_string(),
        symbol: symbol.to_string(),
        where_: match module {
            Some(m) => format!("kernel module {m}"),
            None => "the kernel (/proc/kallsyms)".to_string(),
        },
        close,
    })
}

/// One function of `/proc/kallsyms` (`ADDRESS TYPE NAME [MODULE]` per line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KernelFunction<'a> {
    pub addr: u64,
    pub name: &'a str,
    pub module: Option<&'a str>,
}

/// The text symbols (functions) of a kallsyms listing.
pub(crate) fn kernel_functions(kallsyms: &str) -> impl Iterator<Item = KernelFunction<'_>> + Clone {
    kallsyms.lines().filter_map(|line| {
        let mut f = line.split_whitespace();
        let (addr, ty, name) = (f.next()?, f.next()?, f.next()?);
        let module = f.next().and_then(|m| m.strip_prefix('[')).and_then(|m| m.strip_suffix(']'));
        let addr = u64::from_str_radix(addr, 16).ok()?;
        matches!(ty, "t" | "T").then_some(KernelFunction { addr, name, module })
    })
}

/// Shell-style glob match: `*` any run, `?` one character, `[abc]` / `[a-z]` / `[!a]` a set.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative matching with one backtrack point for the last `*`: linear in practice.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match_set(&p[pi..], n[ni]).map(|len| pi + len),
            Some(&c) => (c == n[ni]).then_some(pi + 1),
            None => None,
        };
        match step {
            Some(next) => {
                pi = next;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the set at the start of `p` (`[...]`); the set's length if it matches.
fn match_set(p: &[char], c: char) -> Option<usize> {
    let end = p.iter().skip(2).position(|&x| x == ']')? + 2;
    let body = &p[1..end];
    let (negate, body) = match body.first() {
        Some('!') | Some('^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            hit |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    (hit != negate).then_some(end + 1)
}

/// Whether the glob `pattern` may pick the function `name`. `__pfx_*` symbols are the padding
/// the kernel puts before functions (CONFIG_CALL_PADDING), not code anyone calls; `f.cold`,
/// `f.part.0`, `f.isra.0`, `f.constprop.0`, `f.llvm.123` are pieces or specialised copies of
/// `f` made by the compiler, which see only some of `f`'s calls, with arguments that need not
/// follow the calling convention; `.name` symbols are assembler labels inside functions. A
/// pattern that spells them out (`__pfx_*`, `*.cold`) still picks them, and an exact name
/// always works.
pub(crate) fn is_glob_target(pattern: &str, name: &str) -> bool {
    if name.starts_with("__pfx_") && !pattern.starts_with("__pfx_") {
        return false;
    }
    if name.starts_with('.') {
        return pattern.contains('.');
    }
    let clone = name.split_once('.').is_some_and(|(_, suffix)| {
        suffix.split('.').all(|part| {
            matches!(
                part,
                "cold" | "part" | "isra" | "constprop" | "llvm" | "lto_priv" | "localalias" | "cfi" | "cfi_jt"
            ) || (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        })
    });
    !clone || pattern.contains('.')
}

/// The functions a glob names, in kallsyms order without duplicates, leaving out the ones
/// on the kprobe blacklist (SystemTap and bpftrace skip those too) and those
/// [`is_glob_target`] leaves out.
pub(crate) fn expand_kernel_glob(
    pp: &str,
    kallsyms: &str,
    blacklist: &BTreeSet<&str>,
    module: Option<&str>,
    pattern: &str,
    cap: usize,
) -> Result<Vec<String>, LiveError> {
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    for f in kernel_functions(kallsyms) {
        if f.module == module
            && glob_match(pattern, f.name)
            && is_glob_target(pattern, f.name)
            && !blacklist.contains(f.name)
            && seen.insert(f.name)
        {
            names.push(f.name.to_string());
        }
    }
    if names.is_empty() {
        return Err(LiveError::NoMatch {
            pp: pp.to_string(),
            pattern: pattern.to_string(),
            where_: match module {
                Some(m) => format!("kernel module {m}"),
                None => "the kernel (/proc/kallsyms)".to_string(),
            },
            list: match module {
                Some(m) => format!("{m}:{pattern}"),
                None => pattern.to_string(),
            },
        });
    }
    if names.len() > cap {
        return Err(LiveError::TooManyMatches { pp: pp.to_string(), count: names.len(), cap });
    }
    Ok(names)
}

/// The function of a kallsyms listing that contains `addr`, and the offset into it.
pub(crate) fn function_containing<'a>(kallsyms: &'a str, addr: u64) -> Option<(KernelFunction<'a>, u64)> {
    // kallsyms is sorted by address per section, not globally: take the closest start below.
    kernel_functions(kallsyms)
        .filter(|f| f.addr != 0 && f.addr <= addr)
        .max_by_key(|f| f.addr)
        .map(|f| (f, addr - f.addr))
}

/// The names on the kernel's kprobe blacklist, or nothing when it cannot be read (it needs
/// root and debugfs; the kernel refuses blacklisted functions at attach time anyway).
pub(crate) fn read_blacklist() -> String {
    fs::read_to_string("/sys/kernel/debug/kprobes/blacklist").unwrap_or_default()
}

pub(crate) fn blacklist_names(text: &str) -> BTreeSet<&str> {
    text.lines().filter_map(|l| l.split_whitespace().nth(1)).collect()
}

/// What `wprobe list` found: probe points in SystemTap's spelling, each of which `run` takes
/// back as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub probes: Vec<String>,
    /// Kernel functions (kprobes), as opposed to a binary's functions (uprobes).
    pub kernel: bool,
    /// When nothing matched: a guess at what was meant.
    pub hint: Option<String>,
}

/// `wprobe list PATTERN` for functions: `GLOB` (kernel functions), `MODULE:GLOB` (a loaded
/// module's; the module may be a glob too), `PATH[:GLOB]` (an ELF file's), and `NAME:GLOB`
/// where NAME is a program in `$PATH` rather than a loaded module, as `--uprobe NAME:F` takes it.
/// A probe point in SystemTap's spelling (`process("bash").function("read*")`) lists what it
/// would attach.
pub fn list_functions(pattern: &str) -> Result<Listing, ListError> {
    let read_kallsyms = || {
        fs::read_to_string("/proc/kallsyms").map_err(|source| ListError::KernelInfo { what: "/proc/kallsyms", source })
    };
    match ProbeSpec::parse_stap(pattern) {
        Ok(ProbeSpec::Kernel { module, symbol, .. }) => {
            return list_kernel_functions(&read_kallsyms()?, &read_blacklist(), module.as_deref(), &symbol);
        }
        Ok(ProbeSpec::User { path, symbol, offset: 0, .. }) => return list_elf_functions(&path, &symbol),
        Ok(_) => return Err(ListError::NotAList { pattern: pattern.to_string() }),
        Err(_) => {}
    }
    if pattern.contains('/') {
        let (path, glob) = match pattern.rsplit_once(':') {
            Some((p, g)) if !g.contains('/') => (p, g),
            _ => (pattern, "*"),
        };
        return list_elf_functions(Path::new(path), glob);
    }
    let Some((left, glob)) = pattern.split_once(':') else {
        let mut listing = list_kernel_functions(&read_kallsyms()?, &read_blacklist(), None, pattern)?;
        if listing.probes.is_empty() && !spec::is_glob(pattern) {
            if let Some(program) = program_candidate(Path::new(pattern)) {
                listing.hint = Some(format!(
                    "for the functions of the program {}, use `wprobe list '{pattern}:*'`",
                    program.display()
                ));
            }
        }
        return Ok(listing);
    };
    let kallsyms = read_kallsyms()?;
    if spec::is_glob(left) || kernel_functions(&kallsyms).any(|f| f.module == Some(left)) {
        return list_kernel_functions(&kallsyms, &read_blacklist(), Some(left), glob);
    }
    match program_candidate(Path::new(left)) {
        Some(_) => list_elf_functions(Path::new(left), glob),
        None => {
            let modules: BTreeSet<&str> = kernel_functions(&kallsyms).filter_map(|f| f.module).collect();
            Err(ListError::NotLoadedNorProgram {
                name: left.to_string(),
                close: close_matches(left, modules.iter().copied()),
            })
        }
    }
}

/// Kernel functions whose name matches `pattern`, in vmlinux or, with `module`, in the loaded
/// modules it matches; sorted, without blacklisted ones and without what a glob would not
/// attach ([`is_glob_target`]), so that the list is what `--kprobe PATTERN` attaches.
pub(crate) fn list_kernel_functions(
    kallsyms: &str,
    blacklist: &str,
    module: Option<&str>,
    pattern: &str,
) -> Result<Listing, ListError> {
    let blacklist = blacklist_names(blacklist);
    if let Some(mp) = module {
        if !kernel_functions(kallsyms).any(|f| f.module.is_some_and(|m| glob_match(mp, m))) {
            let modules: BTreeSet<&str> = kernel_functions(kallsyms).filter_map(|f| f.module).collect();
            let close = close_matches(mp, modules.iter().copied());
            return Err(if spec::is_glob(mp) {
                ListError::NoModuleMatches { pattern: mp.to_string(), close }
            } else {
                ListError::ModuleNotLoaded { module: mp.to_string(), close }
            });
        }
    }
    let mut out = BTreeSet::new();
    for f in kernel_functions(kallsyms) {
        if blacklist.contains(f.name) || !glob_match(pattern, f.name) || !is_glob_target(pattern, f.name) {
            continue;
        }
        let wanted = match (module, f.module) {
            (None, None) => true,
            (Some(mp), Some(m)) => glob_match(mp, m),
            _ => false,
        };
        if wanted {
            let spec = ProbeSpec::Kernel {
                module: f.module.map(str::to_string),
                symbol: f.name.to_string(),
                is_return: false,
            };
            out.insert(spec.pp());
        }
    }
    Ok(Listing { probes: out.into_iter().collect(), kernel: true, hint: None })
}

/// Functions of the ELF file at `path` (a path or a command in `$PATH`) matching `pattern`,
/// under the resolved absolute path that `run` shows in `pp()`.
pub(crate) fn list_elf_functions(path: &Path, pattern: &str) -> Result<Listing, ListError> {
    let candidate =
        program_candidate(path).ok_or_else(|| ListError::ProgramNotFound { name: path.display().to_string() })?;
    let abs = fs::canonicalize(&candidate).map_err(|source| ListError::Read { path: candidate, source })?;
    let names = with_elf(&abs, |file| {
        elf_functions(file)
            .filter(|&(n, _, _)| glob_match(pattern, n) && is_glob_target(pattern, n))
            .map(|(n, _, _)| n.to_string())
            .collect::<BTreeSet<String>>()
    })
    .map_err(|problem| match problem {
        ElfProblem::Read(source) => ListError::Read { path: abs.clone(), source },
        ElfProblem::NotElf(reason) => ListError::NotElf { path: abs.clone(), reason },
    })?;
    let probes = names
        .into_iter()
        .map(|symbol| ProbeSpec::User { path: abs.clone(), symbol, offset: 0, is_return: false }.pp())
        .collect();
    Ok(Listing { probes, kernel: false, hint: None })
}

const MAX_SUGGESTIONS: usize = 5;

/// Up to five names near `wanted`: by edit distance (optimal string alignment: insertions,
/// deletions, substitutions and swapped neighbours, the usual typos; at most a third of the
/// name's length), then names that contain it or that it contains, closest first.
pub(crate) fn close_matches<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let limit = (wanted.chars().count() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = candidates
        .filter_map(|c| {
            // Cheap length check first: kallsyms has a hundred thousand names.
            if wanted.len().abs_diff(c.len()) <= limit {
                let d = strsim::osa_distance(wanted, c);
                if d <= limit {
                    return Some((d, c));
                }
            }
            // Substring matches rank after every near-miss spelling.
            let contains = wanted.len() >= 3 && c.len() >= 3 && (c.contains(wanted) || wanted.contains(c));
            contains.then(|| (limit + 1 + c.len().abs_diff(wanted.len()), c))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(MAX_SUGGESTIONS).map(|(_, c)| c.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::ObjectSection;

    const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff81a00000 T tcp_v4_connect
ffffffff81a00100 t tcp_v6_connect
ffffffff81a00200 T tcp_connect
ffffffff81a00300 D tcp_v4_conn_data
ffffffff81a00400 T __pfx_tcp_v4_rcv
ffffffff81a00410 T tcp_v4_rcv
ffffffff81a00500 t tcp_v4_send.cold
ffffffff81a00600 t tcp_v4_do_rcv.constprop.0.isra.0
ffffffff81a00700 t tcp_v4_fill.part.3
ffffffff81a00800 t tcp_v4_hash.llvm.1234567
ffffffffc0000000 t ext4_sync_fs\t[ext4]
ffffffffc0000100 t only_in_mod\t[ext4]
";

    #[test]
    fn kallsyms_lookup_suggests_close_names_and_modules() {
        assert!(check_kallsyms("pp", KALLSYMS, None, "tcp_v4_connect").is_ok());
        assert!(check_kallsyms("pp", KALLSYMS, Some("ext4"), "ext4_sync_fs").is_ok());

        let err = check_kallsyms("kprobe.function(\"tcp_v4_conect\")", KALLSYMS, None, "tcp_v4_conect").unwrap_err();
        let LiveError::UnknownSymbol { close, .. } = &err else { panic!("{err}") };
        assert_eq!(close[0], "tcp_v4_connect");
        assert!(!close.contains(&"tcp_v4_conn_data".to_string()), "data symbols are not functions");
        assert!(err.to_string().contains("no function `tcp_v4_conect` in the kernel"), "{err}");

        let err = check_kallsyms("pp", KALLSYMS, None, "only_in_mod").unwrap_err();
        let LiveError::UnknownSymbol { close, .. } = &err else { panic!("{err}") };
        assert_eq!(close, &["ext4:only_in_mod"]);

        let err = check_kallsyms("pp", KALLSYMS, Some("ext3"), "ext4_sync_fs").unwrap_err();
        assert!(matches!(&err, LiveError::UnknownModule { close, .. } if close == &["ext4"]), "{err}");
    }

    #[test]
    fn globs() {
        for (p, n) in [
            ("tcp_*", "tcp_v4_connect"),
            ("*connect", "tcp_v4_connect"),
            ("tcp_v?_connect", "tcp_v6_connect"),
            ("tcp_v[46]_*", "tcp_v4_connect"),
            ("tcp_v[!6]_*", "tcp_v4_connect"),
            ("*", ""),
            ("a*b*c", "aXbYbZc"),
            ("[a-c]x", "bx"),
        ] {
            assert!(glob_match(p, n), "{p} {n}");
        }
        for (p, n) in [
            ("tcp_*", "udp_x"),
            ("tcp_v?_connect", "tcp_v44_connect"),
            ("tcp_v[!4]_*", "tcp_v4_connect"),
            ("a*b*c", "aXbYbZ"),
            ("[a-c]x", "dx"),
            ("abc", "abcd"),
        ] {
            assert!(!glob_match(p, n), "{p} {n}");
        }
    }

    #[test]
    fn kernel_globs_expand_and_are_capped() {
        let blacklist = BTreeSet::from(["tcp_connect"]);
        let got = expand_kernel_glob("pp", KALLSYMS, &blacklist, None, "tcp_*", 10).unwrap();
        assert_eq!(
            got,
            ["tcp_v4_connect", "tcp_v6_connect", "tcp_v4_rcv"],
            "data symbols, blacklisted functions, padding and compiler clones are left out"
        );
        // Spelled out, padding and clones are matched.
        let got = expand_kernel_glob("pp", KALLSYMS, &blacklist, None, "__pfx_*", 10).unwrap();
        assert_eq!(got, ["__pfx_tcp_v4_rcv"]);
        let got = expand_kernel_glob("pp", KALLSYMS, &blacklist, None, "tcp_v4_*.*", 10).unwrap();
        assert_eq!(
            got,
            ["tcp_v4_send.cold", "tcp_v4_do_rcv.constprop.0.isra.0", "tcp_v4_fill.part.3", "tcp_v4_hash.llvm.1234567"]
        );
        let got = expand_kernel_glob("pp", KALLSYMS, &BTreeSet::new(), Some("ext4"), "*", 10).unwrap();
        assert_eq!(got, ["ext4_sync_fs", "only_in_mod"]);
        let err = expand_kernel_glob("pp", KALLSYMS, &blacklist, None, "nothing_*", 10).unwrap_err();
        assert!(matches!(err, LiveError::NoMatch { .. }), "{err}");
        assert!(err.to_string().contains("no function in the kernel (/proc/kallsyms) matches `nothing_*`"), "{err}");
        let err = expand_kernel_glob("pp", KALLSYMS, &BTreeSet::new(), None, "tcp_*", 2).unwrap_err();
        assert!(matches!(err, LiveError::TooManyMatches { count: 4, cap: 2, .. }), "{err}");
    }

    #[test]
    fn padding_and_compiler_clones_are_not_glob_targets_unless_spelled_out() {
        for name in ["tcp_v4_connect", "f.localized_name", "version.1a", "a.b.c"] {
            assert!(is_glob_target("*", name), "{name}");
        }
        for name in [
            "__pfx_tcp_v4_connect",
            ".E_copy",
            "f.cold",
            "f.part.0",
            "f.isra.12",
            "f.constprop.0",
            "f.constprop.0.isra.0",
            "f.llvm.8827379",
            "f.lto_priv.0",
        ] {
            assert!(!is_glob_target("*", name), "{name}");
        }
        assert!(is_glob_target("__pfx_*", "__pfx_tcp_v4_connect"));
        assert!(is_glob_target("*.cold", "f.cold"));
    }

    #[test]
    fn listing_kernel_functions_prints_probe_points_run_takes_back() {
        let got = list_kernel_functions(KALLSYMS, "", None, "tcp_v4_*").unwrap();
        assert!(got.kernel);
        assert_eq!(got.probes, ["kprobe.function(\"tcp_v4_connect\")", "kprobe.function(\"tcp_v4_rcv\")"]);
        for line in &got.probes {
            assert_eq!(&ProbeSpec::parse_stap(line).unwrap().pp(), line);
        }
        let blacklist = "0xffffffff81a00410-0xffffffff81a00500\ttcp_v4_rcv\n";
        let got = list_kernel_functions(KALLSYMS, blacklist, None, "tcp_v4_*").unwrap();
        assert_eq!(got.probes, ["kprobe.function(\"tcp_v4_connect\")"]);
        let got = list_kernel_functions(KALLSYMS, "", Some("ext*"), "*").unwrap();
        assert_eq!(
            got.probes,
            ["kprobe.module(\"ext4\").function(\"ext4_sync_fs\")", "kprobe.module(\"ext4\").function(\"only_in_mod\")"]
        );
        let err = list_kernel_functions(KALLSYMS, "", Some("ext3"), "*").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(&err, ListError::ModuleNotLoaded { close, .. } if close == &["ext4"]), "{msg}");
        assert!(msg.contains("`ext3` is not loaded") && msg.contains("modprobe ext3"), "{msg}");
        let err = list_kernel_functions(KALLSYMS, "", Some("xfs*"), "*").unwrap_err();
        assert!(err.to_string().starts_with("no loaded kernel module matches `xfs*`"), "{err}");
    }

    #[test]
    fn aliases_of_one_address_are_one_probe_under_the_shortest_name() {
        let found = [("__strchr", 0x10), ("strchr", 0x10), ("index", 0x10), ("strlen", 0x20), ("strcat", 0x30)];
        assert_eq!(
            one_name_per_address(found.into_iter()),
            [("index".to_string(), 0x10), ("strcat".to_string(), 0x30), ("strlen".to_string(), 0x20)]
        );
    }

    #[test]
    fn addresses_resolve_to_their_function() {
        let (f, off) = function_containing(KALLSYMS, 0xffffffff81a00104).unwrap();
        assert_eq!((f.name, off), ("tcp_v6_connect", 4));
        assert!(function_containing(KALLSYMS, 0x1000).is_none());
    }

    #[test]
    fn close_matches_rank_typos_before_substrings() {
        let names = ["wprobe_target", "wprobe_target_helper", "main", "wprobe_targte"];
        assert_eq!(close_matches("wprobe_target", names.into_iter())[0], "wprobe_target");
        assert_eq!(
            close_matches("wprobe_targe", names.into_iter()),
            ["wprobe_target", "wprobe_targte", "wprobe_target_helper"]
        );
        assert_eq!(close_matches("mian", ["main", "man", "exit"].into_iter()), ["main", "man"]);
        assert!(close_matches("zzz", names.into_iter()).is_empty());
        // A swap of two neighbours is one typo.
        assert_eq!(
            close_matches("tcp_v4_conenct", ["tcp_v4_connect", "tcp_v6_connect"].into_iter()),
            ["tcp_v4_connect", "tcp_v6_connect"]
        );
    }

    #[test]
    fn support_is_detected_from_pmus_or_tracefs() {
        let root = std::env::temp_dir().join(format!("wprobe-support-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("sys/bus/event_source/devices/uprobe")).unwrap();
        fs::write(root.join("sys/bus/event_source/devices/uprobe/type"), "7\n").unwrap();
        assert_eq!(ProbeSupport::detect_in(&root), ProbeSupport { kprobes: false, uprobes: true });
        fs::create_dir_all(root.join("sys/kernel/tracing")).unwrap();
        fs::write(root.join("sys/kernel/tracing/kprobe_events"), "").unwrap();
        assert_eq!(ProbeSupport::detect_in(&root), ProbeSupport { kprobes: true, uprobes: true });
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn finds_functions_in_this_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let f = elf_function("pp", &exe, "main").unwrap();
        assert!(f.file_offset > 0);

        // A glob and the function's virtual address reach the same file offset.
        assert_eq!(expand_elf_glob("pp", &exe, "mai[n]", 10).unwrap(), [("main".to_string(), f.file_offset)]);
        let data = fs::read(&exe).unwrap();
        let file = object::File::parse(&*data).unwrap();
        let main = file.symbols().find(|s| s.name() == Ok("main")).unwrap();
        assert_eq!(elf_address("pp", &exe, main.address()).unwrap(), f.file_offset);
        // Data is not code: an address outside every executable segment is refused.
        let data_addr = file.sections().find(|s| s.name() == Ok(".data")).map(|s| s.address()).unwrap();
        let err = elf_address("pp", &exe, data_addr).unwrap_err();
        assert!(matches!(err, LiveError::AddressNotMapped { .. }), "{err}");
        assert!(err.to_string().contains("not a file offset"), "{err}");
        let err = expand_elf_glob("pp", &exe, "no_such_fn_*", 10).unwrap_err();
        assert!(err.to_string().contains("see `wprobe list '"), "{err}");
        let err = elf_function("pp", &exe, "mian").unwrap_err();
        assert!(matches!(&err, LiveError::UnknownSymbol { close, .. } if close.iter().any(|c| c == "main")), "{err}");
    }
}
