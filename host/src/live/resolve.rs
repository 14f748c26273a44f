//! Looking probe points up before anything is attached: kernel support, ELF symbols,
//! `/proc/kallsyms`, and close matches for names that do not exist.

use super::error::LiveError;
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
    let candidate = if name.components().count() > 1 || name.is_absolute() {
        name.to_path_buf()
    } else {
        let path_var = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path_var)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
            .ok_or_else(|| LiveError::ExecutableNotFound { pp: pp.to_string(), name: name.display().to_string() })?
    };
    fs::canonicalize(&candidate).map_err(|source| LiveError::ReadTarget { pp: pp.to_string(), path: candidate, source })
}

/// A function found in an ELF file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ElfFunction {
    /// Where its first instruction lies in the file: what the uprobe PMU wants.
    pub file_offset: u64,
    /// Its size from the symbol table, 0 when unknown.
    pub size: u64,
}

/// Finds the function `symbol` in the ELF file `path`, in `.symtab` or `.dynsym`.
pub(crate) fn elf_function(pp: &str, path: &Path, symbol: &str) -> Result<ElfFunction, LiveError> {
    let data = fs::read(path).map_err(|source| LiveError::ReadTarget {
        pp: pp.to_string(),
        path: path.to_path_buf(),
        source,
    })?;
    let not_elf = |reason: String| LiveError::NotElf { pp: pp.to_string(), path: path.to_path_buf(), reason };
    let file = object::File::parse(&*data).map_err(|e| not_elf(e.to_string()))?;
    if file.format() != object::BinaryFormat::Elf {
        return Err(not_elf(format!("{:?} format", file.format())));
    }

    let functions = || {
        file.symbols()
            .chain(file.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
    };
    let Some(found) = functions().find(|s| s.name() == Ok(symbol)) else {
        let names: BTreeSet<&str> = functions().filter_map(|s| s.name().ok()).collect();
        return Err(LiveError::UnknownSymbol {
            pp: pp.to_string(),
            symbol: symbol.to_string(),
            where_: path.display().to_string(),
            close: close_matches(symbol, names.iter().copied()),
        });
    };

    // Virtual address to file offset through the loadable segment holding it; the program
    // headers are what the loader maps, so this holds even without section headers.
    let addr = found.address();
    let file_offset = file
        .segments()
        .find_map(|seg| {
            let (off, len) = seg.file_range();
            (addr >= seg.address() && addr < seg.address() + len).then(|| addr - seg.address() + off)
        })
        .ok_or_else(|| LiveError::SymbolNotMapped {
            pp: pp.to_string(),
            symbol: symbol.to_string(),
            path: path.to_path_buf(),
        })?;
    Ok(ElfFunction { file_offset, size: found.size() })
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

/// The functions a glob names, in kallsyms order without duplicates, leaving out the ones
/// on the kprobe blacklist (SystemTap and bpftrace skip those too).
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
        if f.module == module && glob_match(pattern, f.name) && !blacklist.contains(f.name) && seen.insert(f.name) {
            names.push(f.name.to_string());
        }
    }
    if names.is_empty() {
        return Err(LiveError::NoMatch { pp: pp.to_string(), pattern: pattern.to_string() });
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

/// Functions that `wprobe list` shows: kernel functions whose `name` (or `module:name`)
/// matches `pattern`, sorted, without blacklisted ones.
pub fn list_kernel_functions(pattern: &str) -> Result<Vec<String>, LiveError> {
    let kallsyms = fs::read_to_string("/proc/kallsyms")
        .map_err(|source| LiveError::KernelInfo { what: "/proc/kallsyms", source })?;
    let blacklist_text = read_blacklist();
    let blacklist = blacklist_names(&blacklist_text);
    let (module_pat, name_pat) = match pattern.split_once(':') {
        Some((m, n)) => (Some(m), n),
        None => (None, pattern),
    };
    let mut out: BTreeSet<String> = BTreeSet::new();
    for f in kernel_functions(&kallsyms) {
        if blacklist.contains(f.name) || !glob_match(name_pat, f.name) {
            continue;
        }
        match (module_pat, f.module) {
            (None, None) => {
                out.insert(f.name.to_string());
            }
            (Some(mp), Some(m)) if glob_match(mp, m) => {
                out.insert(format!("{m}:{}", f.name));
            }
            _ => {}
        }
    }
    Ok(out.into_iter().collect())
}

/// Functions of the ELF file at `path` (a path or a command in `$PATH`) matching `pattern`.
pub fn list_elf_functions(path: &Path, pattern: &str) -> Result<Vec<String>, LiveError> {
    let pp = format!("process(\"{}\")", path.display());
    let abs = resolve_executable(&pp, path)?;
    let data = fs::read(&abs).map_err(|source| LiveError::ReadTarget { pp: pp.clone(), path: abs.clone(), source })?;
    let file = object::File::parse(&*data).map_err(|e| LiveError::NotElf {
        pp: pp.clone(),
        path: abs.clone(),
        reason: e.to_string(),
    })?;
    let names: BTreeSet<String> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
        .filter_map(|s| s.name().ok().filter(|n| !n.is_empty() && glob_match(pattern, n)).map(str::to_string))
        .collect();
    Ok(names.into_iter().collect())
}

const MAX_SUGGESTIONS: usize = 5;

/// Up to five names near `wanted`: by edit distance (at most a third of the name's length),
/// then names that contain it or that it contains, closest first.
pub(crate) fn close_matches<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let limit = (wanted.chars().count() / 3).max(1);
    let mut scored: Vec<(usize, &str)> = candidates
        .filter_map(|c| {
            if let Some(d) = edit_distance(wanted, c, limit) {
                return Some((d, c));
            }
            // Substring matches rank after every near-miss spelling.
            let contains = wanted.len() >= 3 && c.len() >= 3 && (c.contains(wanted) || wanted.contains(c));
            contains.then(|| (limit + 1 + c.len().abs_diff(wanted.len()), c))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(MAX_SUGGESTIONS).map(|(_, c)| c.to_string()).collect()
}

/// Edit distance between `a` and `b` (insertions, deletions, substitutions and swaps of two
/// neighbours, the usual typos) if it is at most `limit`.
fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    // Three rows of the optimal-string-alignment matrix: i-2, i-1, i.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    let mut prev_min = 0;
    for i in 0..a.len() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for j in 0..b.len() {
            let mut d = (prev[j] + usize::from(a[i] != b[j])).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                d = d.min(before[j - 1] + 1);
            }
            cur[j + 1] = d;
            row_min = row_min.min(d);
        }
        // Every later cell builds on this row or (through a swap) the one before it plus one,
        // so once both are past the limit, the distance is too.
        if row_min > limit && prev_min > limit {
            return None;
        }
        prev_min = row_min;
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[b.len()] <= limit).then_some(prev[b.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff81a00000 T tcp_v4_connect
ffffffff81a00100 t tcp_v6_connect
ffffffff81a00200 T tcp_connect
ffffffff81a00300 D tcp_v4_conn_data
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
        assert_eq!(got, ["tcp_v4_connect", "tcp_v6_connect"], "data symbols and blacklisted functions are left out");
        let got = expand_kernel_glob("pp", KALLSYMS, &BTreeSet::new(), Some("ext4"), "*", 10).unwrap();
        assert_eq!(got, ["ext4_sync_fs", "only_in_mod"]);
        let err = expand_kernel_glob("pp", KALLSYMS, &blacklist, None, "nothing_*", 10).unwrap_err();
        assert!(matches!(err, LiveError::NoMatch { .. }), "{err}");
        let err = expand_kernel_glob("pp", KALLSYMS, &BTreeSet::new(), None, "tcp_*", 2).unwrap_err();
        assert!(matches!(err, LiveError::TooManyMatches { count: 3, cap: 2, .. }), "{err}");
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
        assert_eq!(edit_distance("kitten", "sitting", 3), Some(3));
        assert_eq!(edit_distance("kitten", "sitting", 2), None);
        assert_eq!(edit_distance("tcp_v4_conenct", "tcp_v4_connect", 1), Some(1));
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
        let err = elf_function("pp", &exe, "mian").unwrap_err();
        assert!(matches!(&err, LiveError::UnknownSymbol { close, .. } if close.iter().any(|c| c == "main")), "{err}");
    }
}
