//! `serve.toml`: where the daemon listens, and one `[[tenant]]` table per tenant.
//!
//! ```toml
//! [server]
//! socket = "/run/wprobe.sock"
//! audit_log = "/var/log/wprobe/audit.log"
//!
//! [[tenant]]
//! name = "web"
//! users = ["alice", 1001]          # user names or uids
//! groups = ["web-team"]            # group names or gids
//! probes = ['process("/srv/web/*").*', 'nd_syscall.*', 'kernel.trace("sched:*")']
//! scope = "user"                   # "user", "cgroup:/sys/fs/cgroup/…" or "all" (admins)
//! [tenant.limits]
//! memory = "32M"
//! ```
//!
//! Sizes are bytes or strings such as "64M". Unknown keys are errors, so that a misspelt
//! right never silently means "no".

use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: Server,
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<Tenant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// The Unix socket tenants connect to.
    pub socket: PathBuf,
    /// Its permission bits: every local user may connect, the policy decides the rest.
    pub socket_mode: u32,
    /// One JSON line per decision: who attached what, when, and every refusal with its rule.
    pub audit_log: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDRESS/metrics (e.g. "127.0.0.1:9464").
    pub metrics: Option<std::net::SocketAddr>,
    /// The compiled-component cache (handlers compile once per content).
    pub cache_dir: Option<PathBuf>,
    /// The largest request frame read from a client (a component travels in one).
    #[serde(deserialize_with = "size")]
    pub max_frame: usize,
    /// Connections served at once; more are refused at once.
    pub max_connections: usize,
    /// Output held for a client that reads slower than its handler writes; past it, output
    /// is dropped and counted (the session's summary says how much).
    #[serde(deserialize_with = "size")]
    pub output_buffer: usize,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            socket: PathBuf::from(crate::cli::DEFAULT_SOCKET),
            socket_mode: 0o666,
            audit_log: None,
            metrics: None,
            cache_dir: None,
            max_frame: 64 << 20,
            max_connections: 256,
            output_buffer: 4 << 20,
        }
    }
}

/// A user or group, by name or number.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Id {
    Number(u32),
    Name(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub name: String,
    #[serde(default)]
    pub users: Vec<Id>,
    #[serde(default)]
    pub groups: Vec<Id>,
    /// Admins may use `scope = "all"`, raw-address probes, and see and stop every session.
    #[serde(default)]
    pub admin: bool,
    /// Globs over the SystemTap spelling of each probe point (after wildcards expand), as
    /// `wprobe list` prints them.
    #[serde(default)]
    pub probes: Vec<String>,
    #[serde(default)]
    pub scope: Scope,
    /// Captures of kernel memory (`kernel_bytes`, `kernel_string_n`).
    #[serde(default)]
    pub kernel_memory: bool,
    /// Captures of user memory (only ever of the tenant's own processes: the scope holds).
    #[serde(default = "yes")]
    pub user_memory: bool,
    /// See kernel addresses as they are; without it every value that is a kernel address
    /// (in registers, arguments, return values, tracepoint fields, captured memory) is 0
    /// before the handler sees it (see `wprobe::redact`).
    #[serde(default)]
    pub kernel_pointers: bool,
    #[serde(default)]
    pub limits: TenantLimits,
}

fn yes() -> bool {
    true
}

/// Which tasks a tenant's probes see, enforced in the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Its own processes: those whose real uid is the client's.
    #[default]
    User,
    /// One cgroup v2 subtree.
    Cgroup(PathBuf),
    /// Every process (admins only).
    All,
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "user" => Ok(Scope::User),
            "all" => Ok(Scope::All),
            _ => match s.strip_prefix("cgroup:") {
                Some(path) if Path::new(path).is_absolute() => Ok(Scope::Cgroup(path.into())),
                _ => Err(de::Error::custom(format!(
                    "scope `{s}`: use \"user\", \"all\" or \"cgroup:/sys/fs/cgroup/PATH\""
                ))),
            },
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantLimits {
    /// Wall time of one handler call, in milliseconds.
    pub cpu_ms_per_call: u64,
    /// Share of wall time the handler may spend running (0 < share ≤ 1); a session over it
    /// is paused, so that its own ring fills and only it loses events.
    pub cpu_share: f64,
    #[serde(deserialize_with = "size")]
    pub memory: usize,
    #[serde(deserialize_with = "size")]
    pub output_per_call: usize,
    #[serde(deserialize_with = "size")]
    pub output_total: usize,
    #[serde(deserialize_with = "opt_size")]
    pub output_rate: Option<usize>,
    /// Probes one session may attach (after wildcards expand).
    pub probes: usize,
    /// Sessions running at once.
    pub sessions: usize,
    #[serde(deserialize_with = "size")]
    pub component_size: usize,
    /// Kernel ring buffer of one session.
    #[serde(deserialize_with = "size")]
    pub ring_size: usize,
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self {
            cpu_ms_per_call: 200,
            cpu_share: 0.5,
            memory: wprobe::sandbox::Limits::DEFAULT_MEMORY,
            output_per_call: 1 << 20,
            output_total: 256 << 20,
            output_rate: None,
            probes: 64,
            sessions: 4,
            component_size: 16 << 20,
            ring_size: 4 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse { path: path.into(), message })?.checked(path)
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// What the types cannot say: names unique, scopes and shares sensible.
    fn checked(self, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { path: path.into(), message };
        let mut names = std::collections::HashSet::new();
        for t in &self.tenants {
            if !names.insert(t.name.as_str()) {
                return Err(invalid(format!("two tenants are called `{}`: give each its own name", t.name)));
            }
            if t.scope == Scope::All && !t.admin {
                return Err(invalid(format!(
                    "tenant `{}`: scope \"all\" is for admins only (set admin = true, or scope = \"user\")",
                    t.name
                )));
            }
            if !(t.limits.cpu_share > 0.0 && t.limits.cpu_share <= 1.0) {
                return Err(invalid(format!("tenant `{}`: limits.cpu_share must be in (0, 1]", t.name)));
            }
            if t.users.is_empty() && t.groups.is_empty() {
                return Err(invalid(format!(
                    "tenant `{}` names no users and no groups: nobody would match it",
                    t.name
                )));
            }
        }
        Ok(self)
    }
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(usize),
        Text(String),
    }
    match Size::deserialize(d)? {
        Size::Bytes(n) => Ok(n),
        Size::Text(s) => crate::cli::parse_size(&s).map_err(de::Error::custom),
    }
}

fn opt_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    size(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_with_defaults_and_sizes() {
        let c = Config::parse(
            r#"
            [server]
            socket = "/tmp/x.sock"
            [[tenant]]
            name = "web"
            users = ["alice", 1001]
            probes = ['process("/srv/*").*']
            scope = "cgroup:/sys/fs/cgroup/web"
            [tenant.limits]
            memory = "32M"
            sessions = 2
            "#,
        )
        .unwrap();
        let t = &c.tenants[0];
        assert_eq!(t.users, [Id::Name("alice".into()), Id::Number(1001)]);
        assert_eq!(t.scope, Scope::Cgroup("/sys/fs/cgroup/web".into()));
        assert_eq!(t.limits.memory, 32 << 20);
        assert_eq!(t.limits.sessions, 2);
        assert!(t.user_memory && !t.kernel_memory && !t.admin);
        assert_eq!(c.server.max_frame, 64 << 20);
    }

    #[test]
    fn mistakes_are_named() {
        let e = Config::parse("[[tenant]]\nname = \"a\"\nusers = [1]\nkernel_memroy = true\n").unwrap_err();
        assert!(e.contains("kernel_memroy"), "{e}");
        let e = Config::parse("[[tenant]]\nname = \"a\"\nusers = [1]\nscope = \"cgroup:rel\"\n").unwrap_err();
        assert!(e.contains("cgroup:/sys/fs/cgroup/PATH"), "{e}");
        let c = Config::parse("[[tenant]]\nname = \"a\"\nusers = [1]\nscope = \"all\"\n").unwrap();
        let e = c.checked(Path::new("s.toml")).unwrap_err().to_string();
        assert!(e.contains("admins only"), "{e}");
    }
}
