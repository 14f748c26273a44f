//! Who a client is, which tenant that makes it, and what that tenant may do. Every refusal
//! names its rule (`tenant "web": rule probes: …`), so that the tenant can ask for exactly
//! that right and the admin can find it in the config.

use super::config::{Config, Id, Scope, Tenant};
use crate::serve::protocol::RunRequest;
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use wprobe::live::{glob_match, TenantScope};
use wprobe::probe::ProbeInfo;
use wprobe_common::ext::Space;

/// The client, as the kernel vouches for it (SO_PEERCRED), plus its supplementary groups.
#[derive(Clone, Debug)]
pub struct Peer {
    pub pid: u32,
    pub uid: u32,
    pub gids: Vec<u32>,
}

impl Peer {
    pub fn of(stream: &UnixStream) -> std::io::Result<Peer> {
        let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `cred`.
        let r = unsafe {
            libc::getsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PEERCRED, (&raw mut cred).cast(), &mut len)
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // The supplementary groups of the connecting process (the credentials carry only
        // its primary gid).
        let mut gids = vec![cred.gid];
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", cred.pid)) {
            if let Some(line) = status.lines().find_map(|l| l.strip_prefix("Groups:")) {
                gids.extend(line.split_whitespace().filter_map(|g| g.parse::<u32>().ok()));
            }
        }
        Ok(Peer { pid: cred.pid as u32, uid: cred.uid, gids })
    }
}

/// A refusal: the rule, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by the policy: tenant \"{tenant}\": rule {rule}: {why}")]
pub struct Refusal {
    pub tenant: String,
    pub rule: &'static str,
    pub why: String,
}

/// The config with user and group names resolved to numbers.
pub struct Policy {
    pub tenants: Vec<ResolvedTenant>,
}

#[derive(Debug)]
pub struct ResolvedTenant {
    pub tenant: Tenant,
    pub uids: Vec<u32>,
    pub gids: Vec<u32>,
}

impl Policy {
    pub fn new(config: Config) -> Result<Policy, String> {
        let mut tenants = Vec::new();
        for tenant in config.tenants {
            let uids = tenant.users.iter().map(|u| resolve(u, lookup_user)).collect::<Result<_, _>>()?;
            let gids = tenant.groups.iter().map(|g| resolve(g, lookup_group)).collect::<Result<_, _>>()?;
            tenants.push(ResolvedTenant { tenant, uids, gids });
        }
        Ok(Policy { tenants })
    }

    /// The first tenant naming the client's uid, else the first naming one of its groups.
    pub fn tenant_for(&self, peer: &Peer) -> Result<&ResolvedTenant, String> {
        self.tenants
            .iter()
            .find(|t| t.uids.contains(&peer.uid))
            .or_else(|| self.tenants.iter().find(|t| t.gids.iter().any(|g| peer.gids.contains(g))))
            .ok_or_else(|| {
                format!(
                    "uid {} (groups {:?}) is no tenant of this daemon: an admin adds it to a [[tenant]]'s users or groups",
                    peer.uid, peer.gids
                )
            })
    }
}

impl ResolvedTenant {
    fn refuse(&self, rule: &'static str, why: String) -> Refusal {
        Refusal { tenant: self.tenant.name.clone(), rule, why }
    }

    /// What can be said before resolving anything: raw addresses, the component's size.
    pub fn check_request(&self, req: &RunRequest) -> Result<(), Refusal> {
        let t = &self.tenant;
        if req.probes.guru && !t.admin {
            return Err(self.refuse("admin", "--guru (raw-address probes) is for admins only".into()));
        }
        if req.component.len() > t.limits.component_size {
            return Err(self.refuse(
                "limits.component_size",
                format!("the handler is {} bytes, over the limit of {}", req.component.len(), t.limits.component_size),
            ));
        }
        Ok(())
    }

    /// Every resolved probe point: counted, and each matched against the tenant's globs.
    pub fn check_probes(&self, probes: &[ProbeInfo]) -> Result<(), Refusal> {
        let t = &self.tenant;
        if probes.len() > t.limits.probes {
            return Err(self.refuse(
                "limits.probes",
                format!("{} probes after wildcards expand, over the limit of {}", probes.len(), t.limits.probes),
            ));
        }
        for p in probes {
            if p.pp.starts_with("kprobe.statement(") && !t.admin {
                return Err(self.refuse("admin", format!("{} (a raw address) is for admins only", p.pp)));
            }
            if !t.probes.iter().any(|g| glob_match(g, &p.pp)) {
                let allowed = if t.probes.is_empty() { "(none)".to_string() } else { t.probes.join(", ") };
                return Err(
                    self.refuse("probes", format!("{} matches none of the allowed probe points: {allowed}", p.pp))
                );
            }
        }
        Ok(())
    }

    /// The memory a handler asked to capture at each hit.
    pub fn check_captures(&self, captures: &[wprobe::probe::CaptureSpec]) -> Result<(), Refusal> {
        for c in captures {
            match c.space {
                Space::Kernel if !self.tenant.kernel_memory => {
                    return Err(self.refuse("kernel_memory", format!("{c} reads kernel memory")));
                }
                Space::User if !self.tenant.user_memory => {
                    return Err(self.refuse("user_memory", format!("{c} reads user memory")));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The kernel-side scope of this tenant's sessions for a client of uid `uid`.
    pub fn scope(&self, uid: u32) -> Result<Option<TenantScope>, Refusal> {
        match &self.tenant.scope {
            Scope::User => Ok(Some(TenantScope::Uid(uid))),
            Scope::All => Ok(None),
            Scope::Cgroup(path) => TenantScope::cgroup(path).map(Some).map_err(|e| self.refuse("scope", e.to_string())),
        }
    }

    /// `--pid` must name a process in scope (events of others would never come anyway).
    pub fn check_pid(&self, scope: Option<&TenantScope>, pid: u32) -> Result<(), Refusal> {
        match scope {
            Some(s) if !s.contains_process(pid) => {
                Err(self.refuse("scope", format!("process {pid} is not one of the tenant's ({s})")))
            }
            _ => Ok(()),
        }
    }
}

fn resolve(id: &Id, lookup: fn(&str) -> Option<u32>) -> Result<u32, String> {
    match id {
        Id::Number(n) => Ok(*n),
        Id::Name(name) => lookup(name).ok_or_else(|| format!("no user or group called `{name}` on this system")),
    }
}

fn lookup_user(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: getpwnam_r fills `pwd` with pointers into `buf`, which outlives its use.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut out = std::ptr::null_mut();
        let r = libc::getpwnam_r(c.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut out);
        (r == 0 && !out.is_null()).then_some(pwd.pw_uid)
    }
}

fn lookup_group(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 65536];
    // SAFETY: as above, for groups.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut out = std::ptr::null_mut();
        let r = libc::getgrnam_r(c.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut out);
        (r == 0 && !out.is_null()).then_some(grp.gr_gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Policy {
        Policy::new(Config::parse(text).unwrap()).unwrap()
    }

    const WEB: &str = r#"
        [[tenant]]
        name = "web"
        users = [1001]
        groups = [2000]
        probes = ['process("/srv/web/*").*', 'nd_syscall.open*']
        [[tenant]]
        name = "ops"
        users = ["root"]
        admin = true
        probes = ["*"]
        scope = "all"
        kernel_memory = true
    "#;

    #[test]
    fn tenants_by_uid_then_group() {
        let p = policy(WEB);
        let peer = |uid, gids: &[u32]| Peer { pid: 1, uid, gids: gids.to_vec() };
        assert_eq!(p.tenant_for(&peer(1001, &[1001])).unwrap().tenant.name, "web");
        assert_eq!(p.tenant_for(&peer(1500, &[1500, 2000])).unwrap().tenant.name, "web");
        assert_eq!(p.tenant_for(&peer(0, &[0])).unwrap().tenant.name, "ops");
        assert!(p.tenant_for(&peer(1500, &[1500])).unwrap_err().contains("no tenant"));
    }

    #[test]
    fn probes_are_globs_over_the_systemtap_spelling() {
        let p = policy(WEB);
        let web = &p.tenants[0];
        let pp = |s: &str| ProbeInfo::new(s, false);
        web.check_probes(&[pp("process(\"/srv/web/app\").function(\"main\")"), pp("nd_syscall.openat")]).unwrap();
        let e = web.check_probes(&[pp("kprobe.function(\"tcp_v4_connect\")")]).unwrap_err();
        assert_eq!(e.rule, "probes");
        assert!(e.to_string().contains("tenant \"web\": rule probes: kprobe.function(\"tcp_v4_connect\")"), "{e}");
        let e = web.check_probes(&[pp("kprobe.statement(0xffffffff81000000).absolute")]).unwrap_err();
        assert_eq!(e.rule, "admin");
        let many: Vec<_> = (0..65).map(|i| pp(&format!("nd_syscall.open{i}"))).collect();
        assert_eq!(web.check_probes(&many).unwrap_err().rule, "limits.probes");
        p.tenants[1].check_probes(&[pp("kprobe.statement(0xffffffff81000000).absolute")]).unwrap();
    }

    #[test]
    fn captures_by_address_space() {
        use wprobe::probe::{CaptureBase, CaptureSpec};
        let p = policy(WEB);
        let cap = |space| CaptureSpec {
            probe: None,
            base: CaptureBase::Arg(1),
            offset: 0,
            derefs: vec![],
            string: true,
            size: 64,
            space,
            at_entry: false,
        };
        p.tenants[0].check_captures(&[cap(Space::User)]).unwrap();
        let e = p.tenants[0].check_captures(&[cap(Space::Kernel)]).unwrap_err();
        assert_eq!(e.rule, "kernel_memory");
        assert!(e.why.contains("kernel_string_n(pointer_arg(1), 64)"), "{e}");
        p.tenants[1].check_captures(&[cap(Space::Kernel)]).unwrap();
    }

    #[test]
    fn request_limits() {
        let p = policy(WEB);
        let mut req = RunRequest { component: vec![0; 17 << 20], ..RunRequest::example() };
        assert_eq!(p.tenants[0].check_request(&req).unwrap_err().rule, "limits.component_size");
        req.component.clear();
        req.probes.guru = true;
        assert_eq!(p.tenants[0].check_request(&req).unwrap_err().rule, "admin");
        p.tenants[1].check_request(&req).unwrap();
    }
}
