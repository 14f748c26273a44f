//! A tenant's scope, kept in the kernel: only its own processes (by real uid), or only the
//! tasks of one cgroup v2 subtree. `wprobe serve` sets it for every session; events outside
//! it are dropped by the eBPF program before they reach the ring.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Which tasks a session may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantScope {
    /// Tasks whose real uid is this one.
    Uid(u32),
    /// Tasks in this cgroup v2 subtree: its id (the directory's inode number) and its depth
    /// below the hierarchy's root, as `bpf_get_current_ancestor_cgroup_id` counts.
    Cgroup { path: PathBuf, id: u64, level: u32 },
}

/// The cgroup2 file system's magic number (`statfs(2)`).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("cannot read cgroup {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not a directory of a cgroup v2 hierarchy (mounted at /sys/fs/cgroup on most systems): give a cgroup's directory", path.display())]
    NotCgroup2 { path: PathBuf },
}

impl TenantScope {
    /// The scope of a cgroup v2 directory, e.g. `/sys/fs/cgroup/system.slice/app.service`.
    pub fn cgroup(path: &Path) -> Result<TenantScope, ScopeError> {
        let read = |p: &Path| std::fs::metadata(p).map_err(|source| ScopeError::Read { path: p.into(), source });
        let meta = read(path)?;
        if !meta.is_dir() || !is_cgroup2(path) {
            return Err(ScopeError::NotCgroup2 { path: path.into() });
        }
        // The depth: ancestors on the same cgroup2 mount (the root's parent is on another
        // file system).
        let path = std::fs::canonicalize(path).map_err(|source| ScopeError::Read { path: path.into(), source })?;
        let mut level = 0;
        let mut at = path.as_path();
        while let Some(parent) = at.parent() {
            if read(parent)?.dev() != meta.dev() || !is_cgroup2(parent) {
                break;
            }
            level += 1;
            at = parent;
        }
        Ok(TenantScope::Cgroup { path: path.clone(), id: meta.ino(), level })
    }

    /// Whether a process is in the scope now (for `--pid`, checked before attaching).
    pub fn contains_process(&self, pid: u32) -> bool {
        match self {
            TenantScope::Uid(uid) => std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == *uid),
            TenantScope::Cgroup { path, .. } => process_cgroup(pid).is_some_and(|cg| {
                let root = Path::new("/sys/fs/cgroup").join(cg.trim_start_matches('/'));
                root.starts_with(path)
            }),
        }
    }
}

impl std::fmt::Display for TenantScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TenantScope::Uid(uid) => write!(f, "processes of uid {uid}"),
            TenantScope::Cgroup { path, .. } => write!(f, "cgroup {}", path.display()),
        }
    }
}

fn is_cgroup2(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else { return false };
    // SAFETY: statfs writes into the zeroed struct; `c` is a valid C string.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0) && st.f_type as i64 == CGROUP2_SUPER_MAGIC
}

/// The process's cgroup v2 path (`0::/…` in /proc/PID/cgroup).
fn process_cgroup(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines().find_map(|l| l.strip_prefix("0::")).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_cgroup_is_level_0_and_a_file_is_refused() {
        let root = Path::new("/sys/fs/cgroup");
        if !is_cgroup2(root) {
            return; // no cgroup v2 hierarchy on this machine: nothing to measure
        }
        match TenantScope::cgroup(root).unwrap() {
            TenantScope::Cgroup { level, id, .. } => {
                assert_eq!(level, 0);
                assert!(id > 0);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(TenantScope::cgroup(Path::new("/etc")), Err(ScopeError::NotCgroup2 { .. })));
        // This process is in the root's subtree.
        assert!(TenantScope::cgroup(root).unwrap().contains_process(std::process::id()));
    }

    #[test]
    fn a_uid_scope_holds_its_own_processes() {
        let me = std::fs::metadata(format!("/proc/{}", std::process::id())).unwrap().uid();
        assert!(TenantScope::Uid(me).contains_process(std::process::id()));
        assert!(!TenantScope::Uid(me.wrapping_add(4242)).contains_process(std::process::id()));
    }
}
