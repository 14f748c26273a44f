//! `wprobe serve`: one privileged daemon, many unprivileged tenants.
//!
//! ```text
//!  /run/wprobe.sock ─accept─► connection thread: SO_PEERCRED → tenant (policy.rs)
//!     Run      ─► session.rs: policy checks → load → resolve → check → worker runs the
//!                 handler (run::run_live, as `wprobe run` does) with the tenant's scope in
//!                 the kernel; output through a bounded queue (queue.rs) to the client
//!     Sessions ─► the caller's sessions (all of them for admins)
//!     Stop{id} ─► that session stops as Ctrl-C would stop it
//!     Swap{id} ─► the new handler starts here, the session's worker swaps it in
//!  SIGTERM / SIGINT ─► every session stops (drain, end hook), then the daemon exits
//!  start after a SIGKILL ─► leftovers.rs removes what the killed daemon left in the kernel
//! ```
//!
//! Every session loads its own copy of the eBPF program, so it has its own ring buffer and
//! lost count: one tenant's flood fills only its own ring. The kernel drops events outside a
//! tenant's scope (its uid, or its cgroup) before they reach that ring.

mod audit;
pub mod config;
mod leftovers;
mod metrics;
mod policy;
pub mod protocol;
mod queue;
mod session;

use anyhow::{bail, Context, Result};
use policy::{Peer, Policy, ResolvedTenant};
use protocol::{FrameError, Reply, Request};
use session::SessionEntry;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wprobe::run::Signals;
use wprobe::sandbox::{CompileBounds, Compiler, Runtime, RuntimeConfig};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The daemon's config: the socket, and one [[tenant]] table per tenant with its rights.
    #[arg(long, value_name = "FILE", default_value = "/etc/wprobe/serve.toml")]
    pub config: PathBuf,
    /// Listen here instead of the config's `server.socket`.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

/// How long a new connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long SIGTERM waits for the sessions' end hooks.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(15);

pub struct Daemon {
    policy: Policy,
    runtime: Runtime,
    max_frame: usize,
    output_buffer: usize,
    max_connections: usize,
    connections: AtomicUsize,
    sessions: Mutex<BTreeMap<u64, Arc<SessionEntry>>>,
    next_id: AtomicU64,
    audit: audit::Audit,
    /// Per tenant: what its ended sessions add up to, and its refusals.
    totals: Mutex<BTreeMap<String, metrics::Totals>>,
    /// Attachments sessions share (probes on the same point with the same captures).
    shared: wprobe::live::SharedPool,
}

pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let config = config::Config::load(&args.config)?;
    let socket = args.socket.unwrap_or_else(|| config.server.socket.clone());
    let server = &config.server;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(server.cache_dir.clone().unwrap_or_else(|| "/var/cache/wprobe".into())),
        max_component_size: config.tenants.iter().map(|t| t.limits.component_size as u64).max().unwrap_or(0),
        // Hostile components compile in a child process with bounded time and memory.
        compiler: Compiler::Child {
            program: std::env::current_exe().context("cannot find wprobe's own executable, to compile in")?,
            args: vec![crate::cli::CHILD_SUBCOMMAND.into()],
            bounds: CompileBounds::default(),
        },
        progress: None,
    })
    .context("cannot set up the WebAssembly runtime")?;
    let audit = audit::Audit::open(server.audit_log.as_deref())
        .with_context(|| format!("cannot open the audit log {}", server.audit_log.as_ref().unwrap().display()))?;
    let (max_frame, output_buffer, max_connections, mode, metrics_addr) =
        (server.max_frame, server.output_buffer, server.max_connections, server.socket_mode, server.metrics);
    let policy = Policy::new(config).map_err(|e| anyhow::anyhow!("{}: {e}", args.config.display()))?;
    let listener = bind(&socket, mode)?;
    // The socket is ours: a daemon that held it before us and died left its pid here.
    let pid_file = leftovers::pid_file(&socket);
    if let Some(found) = leftovers::clean_and_claim(&pid_file)? {
        crate::cli::say(&format!(
            "wprobe serve: the previous daemon (pid {}) was killed; removed {} probe events it left{}",
            found.pid,
            found.removed.len(),
            if found.removed.is_empty() { String::new() } else { format!(": {}", found.removed.join(" ")) }
        ));
    }
    let daemon = Arc::new(Daemon {
        policy,
        runtime,
        max_frame,
        output_buffer,
        max_connections,
        connections: AtomicUsize::new(0),
        sessions: Mutex::new(BTreeMap::new()),
        next_id: AtomicU64::new(1),
        audit,
        totals: Mutex::new(BTreeMap::new()),
        shared: wprobe::live::SharedPool::new(),
    });
    if let Some(addr) = metrics_addr {
        let bound = metrics::serve(&daemon, addr).with_context(|| format!("cannot serve metrics on {addr}"))?;
        crate::cli::say(&format!("wprobe serve: metrics on http://{bound}/metrics"));
    }
    let signals = Signals::install()?;
    crate::cli::say(&format!("wprobe serve: listening on {}", socket.display()));
    let accepting = daemon.clone();
    std::thread::Builder::new().name("wprobe-accept".into()).spawn(move || accept(&accepting, listener))?;
    while signals.count() == 0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGTERM: no new sessions; every running one stops as Ctrl-C would stop it.
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&pid_file);
    let running: Vec<_> = daemon.lock_sessions().values().cloned().collect();
    crate::cli::say(&format!("wprobe serve: stopping {} sessions", running.len()));
    for s in &running {
        s.stop.raise();
    }
    let start = std::time::Instant::now();
    while !daemon.lock_sessions().is_empty() {
        if start.elapsed() > SHUTDOWN_LIMIT {
            bail!(
                "sessions still running {SHUTDOWN_LIMIT:?} after SIGTERM: exiting (the kernel detaches their probes)"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    crate::cli::say("wprobe serve: every session ended");
    Ok(ExitCode::SUCCESS)
}

/// Listens at `path`. A socket file left by a daemon that was killed is replaced; one that
/// a running daemon answers on is not.
fn bind(path: &std::path::Path, mode: u32) -> Result<UnixListener> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            bail!("another daemon listens on {} already: stop it first, or pass --socket", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let listener = UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the permissions of {}", path.display()))?;
    Ok(listener)
}

fn accept(daemon: &Arc<Daemon>, listener: UnixListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if daemon.connections.fetch_add(1, Ordering::SeqCst) >= daemon.max_connections {
            daemon.connections.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = protocol::write_frame(
                &mut &stream,
                &Reply::Error(format!(
                    "the daemon serves {} connections already: try again later",
                    daemon.max_connections
                )),
            );
            continue;
        }
        let d = daemon.clone();
        let spawned = std::thread::Builder::new().name("wprobe-conn".into()).spawn(move || {
            connection(&d, stream);
            d.connections.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            daemon.connections.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn connection(daemon: &Arc<Daemon>, stream: UnixStream) {
    let Ok(peer) = Peer::of(&stream) else { return };
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let request = match protocol::read_frame::<Request>(&mut &stream, daemon.max_frame) {
        Ok(r) => r,
        Err(FrameError::Closed) => return,
        Err(e) => {
            let _ = protocol::write_frame(&mut &stream, &Reply::Error(format!("bad request: {e}")));
            return;
        }
    };
    let reply = match request {
        Request::Run(req) => return session::run(daemon, stream, &peer, req),
        Request::Sessions => daemon.tenant(&peer).map(|t| Reply::Sessions(daemon.visible(t, &peer))),
        Request::Stop { id } => daemon.tenant(&peer).and_then(|t| daemon.stop(t, &peer, id)),
        Request::Swap { id, handler_name, component } => {
            daemon.tenant(&peer).and_then(|t| daemon.swap(t, &peer, id, &handler_name, &component))
        }
        Request::Interrupt => Err("Interrupt is for a running session's own connection".into()),
    };
    let _ = protocol::write_frame(&mut &stream, &reply.unwrap_or_else(Reply::Error));
}

impl Daemon {
    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<SessionEntry>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_totals(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, metrics::Totals>> {
        self.totals.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tenant(&self, peer: &Peer) -> Result<&ResolvedTenant, String> {
        self.policy.tenant_for(peer)
    }

    /// The sessions `peer` may see: its own uid's, or all for admins.
    fn visible(&self, tenant: &ResolvedTenant, peer: &Peer) -> Vec<protocol::SessionInfo> {
        self.lock_sessions().values().filter(|s| tenant.tenant.admin || s.uid == peer.uid).map(|s| s.info()).collect()
    }

    fn stop(&self, tenant: &ResolvedTenant, peer: &Peer, id: u64) -> Result<Reply, String> {
        let sessions = self.lock_sessions();
        match sessions.get(&id) {
            Some(s) if tenant.tenant.admin || s.uid == peer.uid => {
                s.stop.raise();
                let who = audit::Who {
                    uid: peer.uid,
                    pid: peer.pid,
                    tenant: Some(&tenant.tenant.name),
                    session: Some(id),
                    handler: Some(&s.handler),
                };
                self.audit.log("stop", &who, &[], None, None);
                Ok(Reply::Done)
            }
            _ => Err(format!("no session {id} of yours: `wprobe sessions` lists them")),
        }
    }

    fn swap(
        &self,
        tenant: &ResolvedTenant,
        peer: &Peer,
        id: u64,
        name: &str,
        component: &[u8],
    ) -> Result<Reply, String> {
        let entry = self.lock_sessions().get(&id).cloned();
        let entry = match entry {
            Some(s) if tenant.tenant.admin || s.uid == peer.uid => s,
            _ => return Err(format!("no session {id} of yours: `wprobe sessions` lists them")),
        };
        let who = audit::Who {
            uid: peer.uid,
            pid: peer.pid,
            tenant: Some(&tenant.tenant.name),
            session: Some(id),
            handler: Some(name),
        };
        session::swap(self, tenant, who, &entry, component).map(|()| Reply::Done)
    }

    /// Counts the tenant's sessions against its limit and registers a new one.
    fn register(
        &self,
        tenant: &ResolvedTenant,
        peer: &Peer,
        handler: &str,
    ) -> Result<Arc<SessionEntry>, policy::Refusal> {
        let mut sessions = self.lock_sessions();
        let running = sessions.values().filter(|s| s.tenant == tenant.tenant.name).count();
        if running >= tenant.tenant.limits.sessions {
            return Err(policy::Refusal {
                tenant: tenant.tenant.name.clone(),
                rule: "limits.sessions",
                why: format!("{running} sessions run already, the limit is {}", tenant.tenant.limits.sessions),
            });
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let entry = Arc::new(SessionEntry {
            id,
            tenant: tenant.tenant.name.clone(),
            uid: peer.uid,
            handler: handler.to_owned(),
            probes: Mutex::new(Vec::new()),
            started_unix: session::now_unix(),
            stop: Signals::manual(),
            queue: Arc::new(queue::OutQueue::new(self.output_buffer)),
            counters: Default::default(),
            attachments: AtomicU64::new(0),
            running: Mutex::new(None),
            swap: Default::default(),
        });
        sessions.insert(id, entry.clone());
        self.lock_totals().entry(entry.tenant.clone()).or_default().sessions += 1;
        Ok(entry)
    }

    /// The session ended: its counters join its tenant's totals.
    fn unregister(&self, id: u64) {
        let mut sessions = self.lock_sessions();
        if let Some(s) = sessions.remove(&id) {
            self.lock_totals().entry(s.tenant.clone()).or_default().add(&s);
        }
    }
}
