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
    if let Ok(blacklist) = fs::read_to_string("/sys/kernel/debug/kprobes/blacklist") {
        if blacklist.lines().any(|l| l.split_whitespace().nth(1) == Some(symbol)) {
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
    let functions = kallsyms.lines().filter_map(|line| {
        let mut f = line.split_whitespace();
        let (_addr, ty, name) = (f.next()?, f.next()?, f.next()?);
        let module = f.next().and_then(|m| m.strip_prefix('[')).and_then(|m| m.strip_suffix(']'));
        matches!(ty, "t" | "T").then_some((name, module))
    });

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
