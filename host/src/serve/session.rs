//! One tenant session: checked against the policy, then run on its own worker thread
//! through the same path as a local `wprobe run`, its output queued for the client.
//!
//! ```text
//!  connection thread ── policy ─► load ─► resolve ─► check probes ─► worker (this thread):
//!     reader thread: Interrupt / EOF ──► stop switch       run_live(…) ─► OutQueue
//!     writer thread: OutQueue ──► socket                    summary, Exit{code}
//! ```

use super::policy::{Peer, Refusal, ResolvedTenant};
use super::protocol::{self, FrameError, Reply, Request, RunRequest, SessionInfo};
use super::queue::OutQueue;
use super::{audit::Who, Daemon};
use crate::cli::ProbeArgs;
use std::io;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wprobe::live::{LiveSource, TenantScope};
use wprobe::probe::CaptureSpec;
use wprobe::run::{self, LiveCounters, LiveRun, LiveRunOutcome, RunHooks, Signals, Status};
use wprobe::sandbox::Limits;
use wprobe::session::{HandlerSwap, Sink};

/// A running session, as `wprobe sessions` lists it and `wprobe stop` reaches it.
pub struct SessionEntry {
    pub id: u64,
    pub tenant: String,
    pub uid: u32,
    pub handler: String,
    pub probes: std::sync::Mutex<Vec<String>>,
    pub started_unix: u64,
    pub stop: Signals,
    pub queue: Arc<OutQueue>,
    /// The run's counters, kept up to date by its worker.
    pub counters: Arc<LiveCounters>,
    /// BPF links the session holds.
    pub attachments: AtomicU64,
    /// What a replacement handler needs: the session it starts into, its limits, the
    /// captures the attachments were made for; set once the session is attached.
    pub running: std::sync::Mutex<Option<Running>>,
    pub swap: Arc<HandlerSwap>,
}

/// A running session's handler setup, for `wprobe swap`.
pub struct Running {
    pub session: wprobe::sandbox::Session,
    pub limits: Limits,
    pub target: Option<u32>,
    pub captures: Vec<CaptureSpec>,
}

impl SessionEntry {
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.id,
            tenant: self.tenant.clone(),
            uid: self.uid,
            handler: self.handler.clone(),
            probes: self.probes.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            started_unix: self.started_unix,
            events: self.counters.seen.load(Ordering::Relaxed),
            lost: self.counters.lost.load(Ordering::Relaxed),
            output_dropped: self.queue.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Serves one `Run` request on this thread, to the end of the session.
pub fn run(daemon: &Arc<Daemon>, stream: UnixStream, peer: &Peer, req: Box<RunRequest>) {
    let who = |tenant, session| Who { uid: peer.uid, pid: peer.pid, tenant, session, handler: Some(&req.handler_name) };
    let refuse = |who: Who<'_>, rule: Option<&str>, message: String| {
        daemon.audit.log("refused", &who, &[], rule, Some(&message));
        if let Some(tenant) = who.tenant {
            daemon.lock_totals().entry(tenant.to_owned()).or_default().refusals += 1;
        }
        let _ = protocol::write_frame(&mut &stream, &Reply::Error(message));
    };
    let tenant = match daemon.policy.tenant_for(peer) {
        Ok(t) => t,
        Err(message) => return refuse(who(None, None), Some("tenant"), message),
    };
    let name = Some(tenant.tenant.name.as_str());
    if req.version != protocol::VERSION {
        let message = format!(
            "the client speaks protocol version {}, this daemon {}: use the same wprobe on both sides",
            req.version,
            protocol::VERSION
        );
        return refuse(who(name, None), None, message);
    }
    if let Err(r) = tenant.check_request(&req) {
        return refuse(who(name, None), Some(r.rule), r.to_string());
    }
    let entry = match daemon.register(tenant, peer, &req.handler_name) {
        Ok(e) => e,
        Err(r) => return refuse(who(name, None), Some(r.rule), r.to_string()),
    };
    let result = prepare_and_run(daemon, &stream, who(name, Some(entry.id)), tenant, &req, &entry);
    daemon.unregister(entry.id);
    match result {
        Ok(()) => {}
        Err(Prepare::Refused(r)) => refuse(who(name, Some(entry.id)), Some(r.rule), r.to_string()),
        Err(Prepare::Failed(message)) => {
            daemon.audit.log("failed", &who(name, Some(entry.id)), &[], None, Some(&message));
            let _ = protocol::write_frame(&mut &stream, &Reply::Error(message));
        }
    }
}

enum Prepare {
    Refused(Refusal),
    Failed(String),
}

impl From<Refusal> for Prepare {
    fn from(r: Refusal) -> Self {
        Prepare::Refused(r)
    }
}

fn failed(e: impl Into<anyhow::Error>) -> Prepare {
    Prepare::Failed(crate::cli::message(&e.into()))
}

fn prepare_and_run(
    daemon: &Arc<Daemon>,
    stream: &UnixStream,
    who: Who<'_>,
    tenant: &ResolvedTenant,
    req: &RunRequest,
    entry: &Arc<SessionEntry>,
) -> Result<(), Prepare> {
    let t = &tenant.tenant;
    let probe_args = probe_args(req, t.limits.probes, t.limits.ring_size);
    let specs = probe_args.specs().map_err(failed)?;
    let mut opts = probe_args.live_options().map_err(failed)?;
    let scope = tenant.scope(who.uid)?;
    if let Some(pid) = req.probes.pid {
        tenant.check_pid(scope.as_ref(), pid)?;
    }
    opts.tenant = scope.clone();
    let stop = probe_args.stop_conditions().map_err(failed)?;
    let loaded = daemon.runtime.load_bytes(&req.handler_name, &req.component).map_err(failed)?;
    let rt = wprobe::sandbox::live_runtime().map_err(failed)?;
    let _guard = rt.enter();
    let resolved = LiveSource::resolve(&specs, opts).map_err(failed)?;
    tenant.check_probes(resolved.probes())?;
    let probes: Vec<String> = resolved.probes().iter().map(|p| p.pp.clone()).collect();
    *entry.probes.lock().unwrap_or_else(|p| p.into_inner()) = probes.clone();

    // From here on the session runs: the client hears of it through the queue.
    let writer = spawn_writer(stream, entry.clone()).map_err(failed)?;
    let reader = spawn_reader(stream, entry.clone()).map_err(failed)?;
    let live = LiveRun {
        runtime: &daemon.runtime,
        loaded: &loaded,
        resolved,
        args: req.args.clone(),
        limits: limits(req, t),
        target: req.probes.pid,
        json: req.json,
        batch_size: req.limits.batch_size.clamp(1, 65536) as usize,
        record: None,
        stop,
        swap: Some(entry.swap.clone()),
        redact_kernel_pointers: !t.kernel_pointers,
        stats_every: None,
    };
    let running = Running {
        session: wprobe::sandbox::Session {
            args: req.args.clone(),
            probes: Arc::from(live.resolved.probes().to_vec()),
            arch: live.resolved.arch(),
        },
        limits: live.limits.clone(),
        target: live.target,
        captures: Vec::new(),
    };
    *entry.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(running);
    let mut sink = QueueSink { queue: &entry.queue, cpu: CpuShare::new(t.limits.cpu_share) };
    let mut hooks = Hooks { daemon, who, tenant, entry, probes: &probes, scope: scope.as_ref() };
    let LiveRunOutcome { summary, result, recorded: _ } =
        run::run_live(live, &mut sink, &entry.stop, &Status::counting(entry.counters.clone()), &rt, &mut hooks);
    entry.counters.store(&summary);
    if result.as_ref().is_err_and(is_fault) {
        daemon.lock_totals().entry(t.name.clone()).or_default().faults += 1;
    }
    let ran = summary != run::RunSummary::default();
    let reason = match &result {
        Ok(reason) => reason.to_string(),
        Err(_) => "by the error below".into(),
    };
    if ran {
        entry.queue.control(Reply::Message(run::summary_line(&reason, &summary)));
    }
    let dropped = entry.queue.dropped.load(Ordering::Relaxed);
    if dropped > 0 {
        entry.queue.control(Reply::Message(format!(
            "wprobe: {dropped} bytes of handler output dropped: this client read slower than the handler wrote"
        )));
    }
    let error = match result {
        Ok(_) => None,
        Err(run::LiveRunError::Refused(why)) => Some(why),
        Err(e) => Some(crate::cli::message(&e.into())),
    };
    daemon.audit.log("ended", &who, &probes, None, Some(error.as_deref().unwrap_or(&reason)));
    let code = if error.is_some() { crate::cli::FAILURE } else { 0 };
    entry.queue.control(Reply::Exit { code, error });
    entry.queue.close();
    let _ = writer.join();
    // The reader ends when the client closes its end, or now.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = reader.join();
    Ok(())
}

/// The request's probe flags, as `wprobe run` parses them, less what the daemon does for
/// nobody (`-c` would run a command as root; the scope is the tenant's), and within the
/// tenant's limits.
fn probe_args(req: &RunRequest, max_probes: usize, ring_max: usize) -> ProbeArgs {
    let mut p = req.probes.clone();
    p.command = None;
    p.all_processes = false;
    p.include_self = false;
    p.max_probes = p.max_probes.clamp(1, max_probes.max(1));
    // The ring: what was asked, at most the tenant's (rounded down to a power of two).
    let ring_max = u32::try_from(ring_max.max(4096)).unwrap_or(u32::MAX);
    p.ring_size = p.ring_size.min(1 << (31 - ring_max.leading_zeros()));
    p
}

/// The client's limits, each lowered to the tenant's.
fn limits(req: &RunRequest, t: &super::config::Tenant) -> Limits {
    let l = &req.limits;
    let max = &t.limits;
    Limits {
        cpu_per_call: Duration::from_millis(l.cpu_limit_ms.clamp(1, max.cpu_ms_per_call)),
        memory: l.memory.min(max.memory),
        output_per_call: l.output_per_call.min(max.output_per_call),
        output_total: l.output_total.min(max.output_total) as u64,
        output_rate: match (l.output_rate, max.output_rate) {
            (Some(a), Some(b)) => Some(a.min(b) as u64),
            (a, b) => a.or(b).map(|r| r as u64),
        },
        escape_output: l.escape,
    }
}

struct Hooks<'a> {
    daemon: &'a Daemon,
    who: Who<'a>,
    tenant: &'a ResolvedTenant,
    entry: &'a SessionEntry,
    probes: &'a [String],
    scope: Option<&'a TenantScope>,
}

impl RunHooks for Hooks<'_> {
    fn attach(
        &mut self,
        resolved: wprobe::live::Resolved,
        captures: &[CaptureSpec],
        stop: &dyn Fn() -> bool,
    ) -> Result<LiveSource, wprobe::live::LiveError> {
        self.daemon.shared.attach(resolved, captures, stop)
    }

    fn before_attach(&mut self, captures: &[CaptureSpec]) -> Result<(), String> {
        if let Some(r) = self.entry.running.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            r.captures = captures.to_vec();
        }
        self.tenant.check_captures(captures).map_err(|r| {
            self.daemon.audit.log("refused", &self.who, self.probes, Some(r.rule), Some(&r.why));
            r.to_string()
        })
    }

    fn attached(&mut self, source: &LiveSource) {
        self.entry.attachments.store(source.kernel_objects().links.len() as u64, Ordering::Relaxed);
        let scope = self.scope.map_or_else(|| "every process".to_string(), |s| s.to_string());
        self.daemon.audit.log("attached", &self.who, self.probes, None, Some(&format!("scope: {scope}")));
        self.entry.queue.control(Reply::Started { id: self.entry.id });
    }

    fn warning(&mut self, text: &str) {
        self.entry.queue.control(Reply::Message(format!("wprobe: warning: {text}")));
    }
}

/// Handler output into the client's queue; also where the tenant's CPU share is held.
struct QueueSink<'a> {
    queue: &'a OutQueue,
    cpu: CpuShare,
}

impl Sink for QueueSink<'_> {
    fn stdout(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.queue.output(Reply::Stdout(bytes.to_vec()), bytes.len());
        Ok(())
    }
    fn stderr(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.queue.output(Reply::Stderr(bytes.to_vec()), bytes.len());
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        // Called after every handler call.
        self.cpu.hold();
        Ok(())
    }
}

/// `limits.cpu_share`: when the worker thread has used more than its share of the time
/// since the session began, it sleeps until it is back within it. Meanwhile its own ring
/// fills: a spinning tenant loses its own events, never another's.
struct CpuShare {
    share: f64,
    start: Instant,
}

impl CpuShare {
    /// Below this much time the share is not looked at (compiling, init, the first batch).
    const GRACE: Duration = Duration::from_millis(500);

    fn new(share: f64) -> CpuShare {
        CpuShare { share, start: Instant::now() }
    }

    fn hold(&self) {
        if self.share >= 1.0 {
            return;
        }
        let wall = self.start.elapsed();
        if wall < Self::GRACE {
            return;
        }
        let cpu = wprobe::sandbox::thread_cpu_time();
        let allowed = wall.mul_f64(self.share);
        if cpu > allowed {
            // Sleep until cpu / (wall + pause) = share.
            let pause = cpu.div_f64(self.share).saturating_sub(wall);
            std::thread::sleep(pause.min(Duration::from_secs(1)));
        }
    }
}

fn spawn_writer(stream: &UnixStream, entry: Arc<SessionEntry>) -> io::Result<std::thread::JoinHandle<()>> {
    let mut out = stream.try_clone()?;
    std::thread::Builder::new().name(format!("wprobe-out-{}", entry.id)).spawn(move || {
        while let Some(reply) = entry.queue.next() {
            if protocol::write_frame(&mut out, &reply).is_err() {
                // The client is gone: its session ends.
                entry.queue.abandon();
                entry.stop.raise();
                return;
            }
        }
    })
}

fn spawn_reader(stream: &UnixStream, entry: Arc<SessionEntry>) -> io::Result<std::thread::JoinHandle<()>> {
    let mut input = stream.try_clone()?;
    input.set_read_timeout(None)?;
    std::thread::Builder::new().name(format!("wprobe-in-{}", entry.id)).spawn(move || loop {
        match protocol::read_frame::<Request>(&mut input, 1024) {
            Ok(Request::Interrupt) => entry.stop.raise(),
            Ok(_) => {}
            Err(FrameError::Closed | FrameError::Io(_)) => {
                // The client disconnected: its session ends, its output goes nowhere.
                entry.queue.abandon();
                entry.stop.raise();
                return;
            }
            Err(_) => {
                // A malformed frame from a running session's client: treated as a stop.
                entry.stop.raise();
                return;
            }
        }
    })
}

/// How long `wprobe swap` waits for the session to take the new handler (it does between
/// two batches, or within a quarter of a second when no events come).
const SWAP_LIMIT: Duration = Duration::from_secs(30);

/// `wprobe swap ID NEW.wasm`: the new handler is loaded and its `init` run here, on the
/// requester's connection; it must ask for the captures the attachments were made for. Then
/// the session's worker ends the old handler and continues with the new one between two
/// batches, its probes attached throughout.
pub fn swap(
    daemon: &Daemon,
    tenant: &ResolvedTenant,
    who: Who<'_>,
    entry: &SessionEntry,
    component: &[u8],
) -> Result<(), String> {
    let name = who.handler.unwrap_or("handler");
    if component.len() > tenant.tenant.limits.component_size {
        let r = Refusal {
            tenant: tenant.tenant.name.clone(),
            rule: "limits.component_size",
            why: format!(
                "the handler is {} bytes, over the limit of {}",
                component.len(),
                tenant.tenant.limits.component_size
            ),
        };
        return Err(r.to_string());
    }
    let loaded = daemon.runtime.load_bytes(name, component).map_err(|e| crate::cli::message(&e.into()))?;
    let (session, limits, target, captures) = {
        let running = entry.running.lock().unwrap_or_else(|p| p.into_inner());
        let Some(r) = running.as_ref() else { return Err(format!("session {} is not attached yet", entry.id)) };
        (r.session.clone(), r.limits.clone(), r.target, r.captures.clone())
    };
    let mut next = daemon.runtime.start(&loaded, &session, limits).map_err(|e| crate::cli::message(&e.into()))?;
    if let Some(pid) = target {
        next.set_target(pid);
    }
    if next.captures() != captures.as_slice() {
        return Err(format!(
            "{name} asks for other captures than session {}'s handler, for which its probes were attached: \
             a swap keeps the attachments, so start a new session for other captures",
            entry.id
        ));
    }
    let done = entry.swap.offer(next);
    match done.recv_timeout(SWAP_LIMIT) {
        Ok(ended) => {
            daemon.audit.log("swap", &who, &[], None, Some(&format!("session {}", entry.id)));
            ended.map_err(|e| format!("swapped; the old handler's end hook failed: {e}"))
        }
        Err(_) => Err(format!("session {} ended before it took the new handler", entry.id)),
    }
}

/// Whether the handler ended the session (a trap, a limit, an error it returned).
fn is_fault(e: &run::LiveRunError) -> bool {
    use wprobe::session::SessionError;
    matches!(
        e,
        run::LiveRunError::Handler(_)
            | run::LiveRunError::Session(SessionError::Handler(_))
            | run::LiveRunError::Run(run::RunError::Session(SessionError::Handler(_)))
    )
}

/// Seconds since the epoch, for session listings.
pub fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
