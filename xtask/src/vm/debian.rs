//! Debian packages for the VM: the kernel image packages and busybox-static, fetched with
//! `apt-get download`, unpacked with `dpkg-deb -x`, both cached under `target/vm/`.
//!
//! ```text
//! target/vm/debs/PKG_VERSION_amd64.deb     downloads, reused while the package name stays
//! target/vm/pkgs/PKG/                      the unpacked package (written to PKG.tmp, renamed)
//! target/vm/arm64/{debs,pkgs}/             the same for arm64 guests (`apt-get download PKG:arm64`,
//!                                          which needs `dpkg --add-architecture arm64`)
//! ```
//!
//! Below, `amd64` stands for the guest's Debian architecture.
//! Which package a kernel series means comes from apt's package lists: `6.1` (or `default`)
//! is the package `linux-image-amd64` depends on (bookworm's kernel), `6.12` the one
//! `linux-image-6.12-amd64` depends on (bookworm's backported kernel), falling back to the
//! highest `linux-image-6.12.*-amd64` that `apt-cache search` lists. A full package name
//! (`linux-image-6.1.0-50-amd64`) picks that package. When the lists are missing,
//! `apt-get update` runs once; when apt cannot answer at all, the newest kernel of that series
//! already unpacked in the cache is used.

use anyhow::{bail, ensure, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An unpacked kernel image package.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub package: String,
    /// `uname -r` of the kernel, the directory name under lib/modules.
    pub release: String,
    pub vmlinuz: PathBuf,
    /// `lib/modules/RELEASE` of the unpacked package.
    pub modules: PathBuf,
    /// The package version, from the .deb's file name (e.g. `6.1.192-2`).
    pub version: String,
}

pub struct Apt {
    /// `target/vm` (or `target/vm/arm64`).
    root: PathBuf,
    updated: bool,
    /// Debian's architecture name of the packages: `amd64`, `arm64`.
    arch: &'static str,
}

impl Apt {
    pub fn new(root: &Path, arch: &'static str) -> Self {
        Apt { root: root.to_path_buf(), updated: false, arch }
    }

    /// `PKG:ARCH`, as apt names a package of a (possibly foreign) architecture.
    fn qualified(&self, package: &str) -> String {
        format!("{package}:{}", self.arch)
    }

    /// Resolves `series` to a package, downloads and unpacks it (or reuses the cache).
    pub fn kernel(&mut self, series: &str) -> Result<Kernel> {
        let package = match self.kernel_package(series) {
            Ok(p) => p,
            Err(e) => match self.cached_kernel(series) {
                Some(p) => {
                    eprintln!("vm: apt cannot resolve kernel {series} ({e:#}); using the cached {p}");
                    p
                }
                None => return Err(e),
            },
        };
        let (dir, version) = self.unpacked(&package)?;
        let modules_root = dir.join("lib/modules");
        let release = fs::read_dir(&modules_root)
            .with_context(|| format!("{}: no lib/modules in {package}", modules_root.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .next()
            .with_context(|| format!("{package} holds no lib/modules/RELEASE"))?;
        let vmlinuz = dir.join("boot").join(format!("vmlinuz-{release}"));
        ensure!(vmlinuz.is_file(), "{package} holds no {}", vmlinuz.display());
        Ok(Kernel { package, modules: modules_root.join(&release), release, vmlinuz, version })
    }

    /// The unpacked busybox-static package's `bin/busybox`.
    pub fn busybox(&mut self) -> Result<PathBuf> {
        let (dir, _) = self.unpacked("busybox-static")?;
        let path = dir.join("bin/busybox");
        ensure!(path.is_file(), "busybox-static holds no bin/busybox");
        Ok(path)
    }

    fn kernel_package(&mut self, series: &str) -> Result<String> {
        if series.starts_with("linux-image-") {
            self.apt_cache(&["show", "--no-all-versions", &self.qualified(series)])
                .with_context(|| format!("apt knows no package {series}"))?;
            return Ok(series.to_string());
        }
        let arch = self.arch;
        let meta = match series {
            "6.1" | "default" => format!("linux-image-{arch}"),
            s => format!("linux-image-{s}-{arch}"),
        };
        let wanted = |p: &str| {
            series == "default"
                || p.starts_with(&format!("linux-image-{series}."))
                || p.starts_with(&format!("linux-image-{series}-"))
        };
        if let Ok(out) = self.apt_cache(&["depends", &self.qualified(&meta)]) {
            // A foreign architecture's dependencies carry it: `linux-image-6.1.0-57-arm64:arm64`.
            let suffix = format!(":{arch}");
            if let Some(dep) = out
                .lines()
                .filter_map(|l| l.trim().strip_prefix("Depends:"))
                .map(|d| d.trim().trim_matches(|c| c == '<' || c == '>'))
                .map(|d| d.strip_suffix(suffix.as_str()).unwrap_or(d))
                .find(|d| d.starts_with("linux-image-") && wanted(d))
            {
                return Ok(dep.to_string());
            }
        }
        // No meta package for this series: the highest signed generic image apt lists.
        let pattern = format!("^linux-image-{}[.-].*-{arch}$", series.replace('.', "\\."));
        let out = self.apt_cache(&["search", "--names-only", &pattern])?;
        let mut names: Vec<&str> = out
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|p| !p.contains("-cloud-") && !p.contains("-rt-") && wanted(p))
            .collect();
        names.sort_by(|a, b| version_cmp(a, b));
        names
            .last()
            .map(|s| s.to_string())
            .with_context(|| format!("apt lists no kernel package for {series} ({meta})"))
    }

    /// `apt-cache ARGS`, running `apt-get update` once if it finds nothing.
    fn apt_cache(&mut self, args: &[&str]) -> Result<String> {
        let attempt = || -> Result<String> {
            let out =
                Command::new("apt-cache").args(args).output().context("cannot run apt-cache (not a Debian system?)")?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            ensure!(
                out.status.success() && !text.trim().is_empty(),
                "apt-cache {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            Ok(text)
        };
        match attempt() {
            Ok(t) => Ok(t),
            Err(_) if !self.updated => {
                self.updated = true;
                eprintln!("vm: apt-cache {} found nothing; running apt-get update", args.join(" "));
                let status =
                    Command::new("apt-get").args(["update", "-qq"]).status().context("cannot run apt-get update")?;
                ensure!(status.success(), "apt-get update failed ({status})");
                attempt()
            }
            Err(e) => Err(e),
        }
    }

    /// The newest kernel of `series` already unpacked in the cache.
    fn cached_kernel(&self, series: &str) -> Option<String> {
        let prefix = match series {
            s if s.starts_with("linux-image-") => s.to_string(),
            "default" => "linux-image-".to_string(),
            s => format!("linux-image-{s}"),
        };
        let mut names: Vec<String> = fs::read_dir(self.root.join("pkgs"))
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&prefix) && !n.ends_with(".tmp"))
            .filter(|n| n == &prefix || n[prefix.len()..].starts_with(['.', '-']))
            .collect();
        names.sort_by(|a, b| version_cmp(a, b));
        names.pop()
    }

    /// The package's unpacked directory and version, downloading and unpacking as needed.
    fn unpacked(&mut self, package: &str) -> Result<(PathBuf, String)> {
        let dir = self.root.join("pkgs").join(package);
        let deb = match self.cached_deb(package) {
            Some(deb) => deb,
            None => self.download(package)?,
        };
        let version = deb_version(&deb);
        if dir.is_dir() {
            return Ok((dir, version));
        }
        let tmp = self.root.join("pkgs").join(format!("{package}.tmp"));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        eprintln!("vm: unpacking {}", deb.display());
        let status = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tmp).status().context("cannot run dpkg-deb")?;
        ensure!(status.success(), "dpkg-deb -x {} failed ({status})", deb.display());
        fs::rename(&tmp, &dir)?;
        Ok((dir, version))
    }

    fn cached_deb(&self, package: &str) -> Option<PathBuf> {
        let prefix = format!("{package}_");
        let suffix = format!("_{}.deb", self.arch);
        fs::read_dir(self.root.join("debs"))
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| file_name(p).starts_with(&prefix) && file_name(p).ends_with(&suffix))
    }

    fn download(&mut self, package: &str) -> Result<PathBuf> {
        let debs = self.root.join("debs");
        fs::create_dir_all(&debs)?;
        // Make sure apt knows the package (running apt-get update if the lists are missing).
        let qualified = self.qualified(package);
        self.apt_cache(&["show", "--no-all-versions", &qualified]).with_context(|| {
            format!("apt knows no package {qualified} (for arm64: dpkg --add-architecture arm64; apt-get update)")
        })?;
        eprintln!("vm: apt-get download {qualified}");
        let out = Command::new("apt-get")
            .args(["download", "-q", &qualified])
            .current_dir(&debs)
            .output()
            .context("cannot run apt-get")?;
        if !out.status.success() {
            bail!("apt-get download {package} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
        }
        self.cached_deb(package)
            .with_context(|| format!("apt-get download {package} left no .deb in {}", debs.display()))
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// `PKG_VERSION_ARCH.deb` → VERSION (apt escapes the epoch's `:` as `%3a`).
fn deb_version(deb: &Path) -> String {
    let name = file_name(deb);
    let mut parts = name.split('_');
    let version = parts.nth(1).unwrap_or("?");
    version.replace("%3a", ":")
}

/// Orders names by their embedded numbers: `6.12.9` < `6.12.100`.
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn key(s: &str) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut num = String::new();
        let mut text = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                num.push(c);
            } else {
                if !num.is_empty() {
                    out.push((std::mem::take(&mut text), num.parse().unwrap_or(u64::MAX)));
                    num.clear();
                }
                text.push(c);
            }
        }
        out.push((text, num.parse().unwrap_or(0)));
        out
    }
    key(a).cmp(&key(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_numerically() {
        let mut v = vec![
            "linux-image-6.12.117+deb12-amd64",
            "linux-image-6.12.100+deb12-amd64",
            "linux-image-6.12.9+deb12-amd64",
        ];
        v.sort_by(|a, b| version_cmp(a, b));
        assert_eq!(
            v,
            ["linux-image-6.12.9+deb12-amd64", "linux-image-6.12.100+deb12-amd64", "linux-image-6.12.117+deb12-amd64"]
        );
        assert_eq!(
            deb_version(Path::new("x/busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb")),
            "1:1.35.0-4+deb12u1+b1"
        );
    }
}
