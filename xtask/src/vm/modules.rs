//! Kernel modules from an unpacked kernel package, with their dependencies, for `insmod`.
//!
//! Debian's package ships no `modules.dep` (depmod writes it at install time), so the
//! dependencies come from each module's own `.modinfo` section (`depends=a,b`). Compressed
//! modules (`.ko.xz`, `.ko.zst`, `.ko.gz`, as 6.12 ships them) are decompressed here, so the
//! guest's busybox `insmod` needs no decompressor. Debian signs a module before compressing
//! it, so the decompressed file keeps its signature.

use anyhow::{bail, ensure, Context, Result};
use object::{Object, ObjectSection};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A module ready for the initramfs.
pub struct Module {
    pub name: String,
    /// The uncompressed `.ko`.
    pub bytes: Vec<u8>,
    /// Names of this module and every module it needs, in load order (dependencies first).
    pub load_order: Vec<String>,
}

pub struct Modules {
    /// `lib/modules/RELEASE`.
    root: PathBuf,
    /// Module name (with `_`, as the kernel spells it) → its file.
    files: BTreeMap<String, PathBuf>,
    builtin: BTreeSet<String>,
}

impl Modules {
    pub fn index(root: &Path) -> Result<Self> {
        let mut files = BTreeMap::new();
        let mut stack = vec![root.join("kernel")];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Some(name) = module_name(&path) {
                    files.insert(name, path);
                }
            }
        }
        let builtin = fs::read_to_string(root.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| module_name(Path::new(l)))
            .collect();
        Ok(Modules { root: root.to_path_buf(), files, builtin })
    }

    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&normalize(name))
    }

    /// `names` and everything they depend on, each once, dependencies before dependents.
    /// A module built into the kernel is left out (there is nothing to load).
    pub fn resolve(&self, names: &[String]) -> Result<Vec<Module>> {
        let mut loaded: BTreeMap<String, (Vec<u8>, Vec<String>)> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for name in names {
            let name = normalize(name);
            if self.is_builtin(&name) {
                continue;
            }
            self.visit(&name, &mut loaded, &mut order, &mut Vec::new())?;
        }
        let deps: BTreeMap<String, Vec<String>> = loaded.iter().map(|(k, (_, d))| (k.clone(), d.clone())).collect();
        Ok(order
            .iter()
            .map(|name| {
                let mut load_order = Vec::new();
                closure(name, &deps, &mut load_order);
                Module { name: name.clone(), bytes: loaded[name].0.clone(), load_order }
            })
            .collect())
    }

    fn visit(
        &self,
        name: &str,
        loaded: &mut BTreeMap<String, (Vec<u8>, Vec<String>)>,
        order: &mut Vec<String>,
        path: &mut Vec<String>,
    ) -> Result<()> {
        if loaded.contains_key(name) {
            return Ok(());
        }
        ensure!(!path.iter().any(|p| p == name), "module dependency cycle: {} -> {name}", path.join(" -> "));
        let Some(file) = self.files.get(name) else {
            let close: Vec<&String> =
                self.files.keys().filter(|k| k.contains(name) || name.contains(k.as_str())).take(8).collect();
            bail!("no module {name} in {} (similar: {close:?})", self.root.display());
        };
        let bytes = read_module(file)?;
        let mut deps = depends(&bytes).with_context(|| format!("{}", file.display()))?;
        // `softdep=pre: crc32c`: a module (or an alias, which only depmod's index resolves)
        // to load first; try the name and its `_generic` implementation (crypto's usual one).
        for soft in soft_pre(&bytes) {
            match [soft.clone(), format!("{soft}_generic")].into_iter().find(|n| self.files.contains_key(n)) {
                Some(n) if !deps.contains(&n) => deps.push(n),
                Some(_) => {}
                None if self.is_builtin(&soft) || self.is_builtin(&format!("{soft}_generic")) => {}
                None => {
                    eprintln!("vm: {name} wants {soft} loaded first (softdep), which names no module here; skipped")
                }
            }
        }
        path.push(name.to_string());
        for dep in &deps {
            if !self.is_builtin(dep) {
                self.visit(dep, loaded, order, path)?;
            }
        }
        path.pop();
        let deps = deps.into_iter().filter(|d| !self.is_builtin(d)).collect();
        loaded.insert(name.to_string(), (bytes, deps));
        order.push(name.to_string());
        Ok(())
    }
}

fn closure(name: &str, deps: &BTreeMap<String, Vec<String>>, out: &mut Vec<String>) {
    if out.iter().any(|n| n == name) {
        return;
    }
    for d in deps.get(name).into_iter().flatten() {
        closure(d, deps, out);
    }
    out.push(name.to_string());
}

/// `kernel/drivers/net/tun.ko.xz` → `tun`; `-` becomes `_` as in /proc/modules.
fn module_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    let stem = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"].iter().find_map(|ext| file.strip_suffix(ext))?;
    Some(normalize(stem))
}

fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

fn read_module(path: &Path) -> Result<Vec<u8>> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        "xz"
    } else if name.ends_with(".zst") {
        "zstd"
    } else if name.ends_with(".gz") {
        "gzip"
    } else {
        return fs::read(path).with_context(|| format!("cannot read {name}"));
    };
    let out =
        Command::new(tool).arg("-dc").arg(path).output().with_context(|| format!("cannot run {tool} for {name}"))?;
    ensure!(out.status.success(), "{tool} -dc {name} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(out.stdout)
}

/// The module's `.modinfo` entries with this key (`key=value`, NUL-separated).
fn modinfo(ko: &[u8], key: &str) -> Result<Vec<String>> {
    let elf = object::File::parse(ko).context("not an ELF module")?;
    let section = elf.section_by_name(".modinfo").context("no .modinfo section")?;
    let prefix = format!("{key}=");
    Ok(section
        .data()?
        .split(|&b| b == 0)
        .filter_map(|e| e.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect())
}

/// The `depends=` list: modules whose symbols this one uses.
fn depends(ko: &[u8]) -> Result<Vec<String>> {
    Ok(modinfo(ko, "depends")?.iter().flat_map(|l| l.split(',')).filter(|s| !s.is_empty()).map(normalize).collect())
}

/// The `pre:` names of `softdep=pre: a b post: c` entries.
fn soft_pre(ko: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for entry in modinfo(ko, "softdep").unwrap_or_default() {
        let mut pre = false;
        for word in entry.split_whitespace() {
            match word {
                "pre:" => pre = true,
                "post:" => pre = false,
                w if pre => out.push(normalize(w)),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_closure() {
        assert_eq!(module_name(Path::new("a/b/nf-nat.ko.xz")).as_deref(), Some("nf_nat"));
        assert_eq!(module_name(Path::new("a/b/tun.ko")).as_deref(), Some("tun"));
        assert_eq!(module_name(Path::new("a/b/README")), None);
        let deps: BTreeMap<String, Vec<String>> = [
            ("btrfs".to_string(), vec!["xor".to_string(), "raid6_pq".to_string()]),
            ("raid6_pq".to_string(), vec!["xor".to_string()]),
            ("xor".to_string(), vec![]),
        ]
        .into();
        let mut out = Vec::new();
        closure("btrfs", &deps, &mut out);
        assert_eq!(out, ["xor", "raid6_pq", "btrfs"]);
    }
}
