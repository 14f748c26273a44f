//! Prometheus metrics of the daemon, per tenant and per running session, read at each
//! scrape from the sessions' own counters (the same numbers their summary lines give).
//! Served as `GET /metrics` on `server.metrics` (e.g. "127.0.0.1:9464").

use super::session::SessionEntry;
use super::Daemon;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// What a tenant's ended sessions add up to.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub sessions: u64,
    pub refusals: u64,
    pub faults: u64,
    pub events: u64,
    pub handled: u64,
    pub lost: u64,
    pub handler_ns: u64,
    pub output_bytes: u64,
    pub output_dropped: u64,
}

impl Totals {
    /// Adds a session's counters.
    pub fn add(&mut self, s: &SessionEntry) {
        let c = &s.counters;
        self.events += c.seen.load(Ordering::Relaxed);
        self.handled += c.handled.load(Ordering::Relaxed);
        self.lost += c.lost.load(Ordering::Relaxed);
        self.handler_ns += c.handler_ns.load(Ordering::Relaxed);
        self.output_bytes += s.queue.queued.load(Ordering::Relaxed);
        self.output_dropped += s.queue.dropped.load(Ordering::Relaxed);
    }
}

/// The counters both levels have: (name, help, value of a Totals).
/// A metric: its name, its help, and its value in a [`Totals`].
type Metric<T> = (&'static str, &'static str, fn(&Totals) -> T);

const COUNTERS: [Metric<f64>; 6] = [
    ("events", "Events read from the session's ring buffer", |t| t.events as f64),
    ("handled", "Events handed to the handler", |t| t.handled as f64),
    ("lost", "Events the kernel dropped because the session's ring was full", |t| t.lost as f64),
    ("handler_cpu_seconds", "Time spent running the handler", |t| t.handler_ns as f64 / 1e9),
    ("output_bytes", "Handler output queued for the client", |t| t.output_bytes as f64),
    ("output_dropped_bytes", "Handler output dropped because the client read too slowly", |t| t.output_dropped as f64),
];

struct Metrics(Weak<Daemon>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("wprobe serve metrics")
    }
}

impl Collector for Metrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(daemon) = self.0.upgrade() else { return Ok(()) };
        let sessions: Vec<Arc<SessionEntry>> = daemon.lock_sessions().values().cloned().collect();
        // Per tenant: the ended sessions' totals plus the running ones' counters now.
        let mut tenants = daemon.lock_totals().clone();
        for s in &sessions {
            tenants.entry(s.tenant.clone()).or_default().add(s);
        }
        let per_session: Vec<(Labels, Totals)> = sessions
            .iter()
            .map(|s| {
                let mut t = Totals::default();
                t.add(s);
                let labels = vec![
                    ("tenant".to_string(), s.tenant.clone()),
                    ("session".to_string(), s.id.to_string()),
                    ("uid".to_string(), s.uid.to_string()),
                ];
                (labels, t)
            })
            .collect();
        let tenant_label = |tenant: &String| vec![("tenant".to_string(), tenant.clone())];
        for (name, help, value) in COUNTERS {
            let rows = tenants.iter().map(|(n, t)| (tenant_label(n), ConstCounter::new(value(t))));
            family(&mut encoder, &format!("wprobe_tenant_{name}"), help, rows)?;
            let rows = per_session.iter().map(|(labels, t)| (labels.clone(), ConstCounter::new(value(t))));
            family(&mut encoder, &format!("wprobe_session_{name}"), help, rows)?;
        }
        let tenant_only: [Metric<u64>; 3] = [
            ("sessions", "Sessions started", |t| t.sessions),
            ("refusals", "Requests the policy refused", |t| t.refusals),
            ("faults", "Sessions a handler fault ended", |t| t.faults),
        ];
        for (name, help, value) in tenant_only {
            let rows = tenants.iter().map(|(n, t)| (tenant_label(n), ConstCounter::new(value(t))));
            family(&mut encoder, &format!("wprobe_tenant_{name}"), help, rows)?;
        }
        let rows = sessions
            .iter()
            .zip(&per_session)
            .map(|(s, (labels, _))| (labels.clone(), ConstGauge::new(s.attachments.load(Ordering::Relaxed) as i64)));
        family(&mut encoder, "wprobe_session_attachments", "Kernel attachments (BPF links) the session holds", rows)?;
        let shared = daemon.shared.stats();
        let gauges = [
            ("wprobe_shared_objects", "Loaded eBPF objects whose attachments sessions share", shared.objects),
            ("wprobe_shared_sessions", "Sessions reading a slot of a shared object", shared.sessions),
            (
                "wprobe_shared_attachments",
                "Kernel attachments (BPF links) in shared objects, each counted once",
                shared.links,
            ),
        ];
        for (name, help, value) in gauges {
            family(&mut encoder, name, help, std::iter::once((Labels::new(), ConstGauge::new(value as i64))))?;
        }
        Ok(())
    }
}

type Labels = Vec<(String, String)>;

/// One metric family: its descriptor, then a sample per label set.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl Iterator<Item = (Labels, M)>,
) -> Result<(), std::fmt::Error> {
    let mut rows = rows.peekable();
    let Some((_, first)) = rows.peek() else { return Ok(()) };
    let mut family = encoder.encode_descriptor(name, help, None, first.metric_type())?;
    for (labels, metric) in rows {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Serves `GET /metrics` on `addr`, on a thread of its own.
pub fn serve(daemon: &Arc<Daemon>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Metrics(Arc::downgrade(daemon))));
    std::thread::Builder::new().name("wprobe-metrics".into()).spawn(move || {
        for stream in listener.incoming().flatten() {
            // One at a time: a scrape is small, and a slow client is cut off by the timeouts.
            let _ = answer(stream, &registry);
        }
    })?;
    Ok(bound)
}

fn answer(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    // The request line and headers, bounded: only the path matters.
    let mut buf = [0u8; 4096];
    let mut len = 0;
    while len < buf.len() && !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf[len..])? {
            0 => break,
            n => len += n,
        }
    }
    let request = String::from_utf8_lossy(&buf[..len]);
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let (status, kind, body) = if request.starts_with("GET ") && (path == "/metrics" || path.starts_with("/metrics?")) {
        let mut body = String::new();
        prometheus_client::encoding::text::encode(&mut body, registry).map_err(std::io::Error::other)?;
        ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", body)
    } else {
        ("404 Not Found", "text/plain", "wprobe serve: metrics are at /metrics\n".to_string())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}
