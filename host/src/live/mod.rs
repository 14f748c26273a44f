//! The live event source: wprobe's eBPF program on kprobes and uprobes, read into batches.
//!
//! ```text
//!  &[ProbeSpec] ──attach──► LiveSource ──next_batch().await──► BatchBuilder (+ lost count)
//!   1. resolve every probe      │ owns: the eBPF object (programs, maps),
//!      (nothing attached yet)   │       one BPF link per probe, the ring buffer reader
//!   2. load, configure, attach  └─drop──► every link closed, programs and maps freed
//! ```
//!
//! * [`LiveSource::attach`] first checks and resolves *every* probe (kernel support, the
//!   ELF symbol or `/proc/kallsyms` entry, close-match suggestions for typos) and only then
//!   loads the embedded eBPF object and attaches, so a bad probe leaves nothing behind. Each
//!   probe's id is its index in `specs`, which is also its index in
//!   [`LiveSource::probes`]; the kernel learns it as the BPF attach cookie of that probe's link.
//! * [`LiveSource::next_batch`] fills a [`BatchBuilder`] until it is full or until
//!   [`LiveOptions::batch_delay`] after the first event of the batch (measured from that
//!   event's kernel timestamp), and adds the events the kernel lost to a full ring since the
//!   previous batch. The eBPF program wakes the reader for the first record after the reader
//!   said it sleeps (then that batch goes out as soon as the ring is empty: a lone event is
//!   handled at once), and otherwise only when the ring fills up while the reader waits for
//!   a batch deadline ([`LiveOptions::wakeup_bytes`]), so an idle probe costs no polling and
//!   a busy one no wake-up per event. `next_batch` is cancel-safe: a record is consumed from the ring only
//!   once it is in the builder.
//! * [`SharedPool::attach`] (`wprobe serve`) attaches into a slot of an object shared with
//!   other sessions instead: probes on the same point with the same captures share one
//!   kernel attachment, each session filtered by its own scope in the kernel and reading its
//!   own ring (see `shared`).
//! * Dropping the source detaches everything. [`LiveSource::kernel_objects`] and
//!   [`still_in_kernel`] let tests check that no program, link or map survives it.
//!
//! Both families attach through the kernel's dynamic `kprobe`/`uprobe` PMUs and BPF links
//! (Linux ≥ 5.15, for attach cookies). A kernel without CONFIG_KPROBES, like the development
//! machine's, gets [`LiveError::KprobesUnsupported`], which names the alternatives.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wprobe::live::LiveError> {
//! use wprobe::batch::BatchBuilder;
//! use wprobe::live::{LiveOptions, LiveSource, ProbeSpec};
//!
//! let specs = [ProbeSpec::parse_uprobe("/usr/bin/bash:readline", true)?];
//! let mut source = LiveSource::attach(&specs, LiveOptions::default())?;
//! let mut batch = BatchBuilder::new(source.arch(), 64);
//! loop {
//!     source.next_batch(&mut batch, None).await?;
//!     batch.finish();
//!     for event in batch.view().iter() {
//!         println!("{} {} {:?}", source.probes()[event.probe_id() as usize].pp, event.pid(), event.returnval());
//!     }
//!     batch.clear();
//! }
//! # }
//! ```

mod captures;
mod check;
mod embedded;
mod error;
mod introspect;
mod multi;
mod nobtf;
mod partial;
mod plan;
mod resolve;
mod ring;
mod rings;
mod scope;
mod shared;
mod source;
mod spec;
mod sys;
pub mod syscalls;
pub mod tracefs;

pub use captures::CaptureError;
pub use check::{check_system, Check};
pub use error::{ListError, LiveError, SpecError};
pub use introspect::{enable_run_time_stats, loaded_wprobe_programs, still_in_kernel};
pub use plan::SyscallPath;
pub use resolve::{glob_match, list_functions, Listing, ProbeSupport};
pub use scope::{ScopeError, TenantScope};
pub use shared::{SharedPool, SharedStats, SHARED_PROBES};
pub use source::{LiveSource, Resolved};
pub use spec::ProbeSpec;

/// The benchmark-only programs that each do a growing part of the snapshot's work, in that
/// order (for [`LiveOptions::cost_programs`]).
pub const COST_PARTS: &[&str] = &embedded::PROG_COST_PARTS;
/// Those that write the record into rings of their own, or a smaller one into the CPU's ring
/// (for [`LiveOptions::cost_programs`]; [`LiveSource::take_cost_rings`] drains their rings).
pub const COST_RINGS: &[&str] = &embedded::PROG_COST_RINGS;

use std::time::Duration;

/// How the live source loads, filters and batches.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Trace only this process (thread group), as `--pid`. Uprobes are then also opened for
    /// that process only, so other processes do not even trap.
    pub pid: Option<u32>,
    /// The ring buffers' size in bytes, all together: a power of two, a multiple of the page
    /// size. Each CPU writes into a ring of its own (up to eight; CPUs beyond share them),
    /// and each ring has an equal share, at least a page. Each event takes 224 bytes of it
    /// on x86_64 (216 + the ring's 8-byte header).
    pub ring_bytes: u32,
    /// The eBPF program wakes a reader waiting for a batch deadline when more than this many
    /// bytes are waiting (of all rings: each ring wakes it past its share).
    pub wakeup_bytes: u64,
    /// A batch is handed over at the latest this long after its first event was recorded.
    pub batch_delay: Duration,
    /// Also attach a do-nothing program beside every uprobe, so that
    /// [`LiveSource::program_stats`] can tell the snapshot's own cost from the fixed cost of
    /// running any program on the probe. For benchmarks.
    pub measure_baseline: bool,
    /// With `measure_baseline`, on probes without captures, also attach these benchmark-only
    /// programs: those that each do a growing part of the snapshot's work ([`COST_PARTS`]:
    /// the differences give each part's cost), or those that write the record into another
    /// ring ([`COST_RINGS`]). They run before the snapshot program on each hit and
    /// warm its cache lines, so the snapshot's own cost is measured without them.
    pub cost_programs: &'static [&'static str],
    /// Guru mode (`--guru`, SystemTap's `stap -g`): allows raw-address probes.
    pub guru: bool,
    /// The most probes one glob may expand to (`--max-probes`).
    pub max_probes: usize,
    /// How syscall probes attach (`--syscall-path`).
    pub syscall_path: SyscallPath,
    /// Record wprobe's own process too (`--include-self`); by default it is left out in
    /// the kernel, so that a probe on `write` does not see wprobe's own output.
    pub include_self: bool,
    /// Record only the thread groups added with [`LiveSource::add_to_scope`] and their
    /// descendants (the `-c` command's process tree).
    pub scope_tree: bool,
    /// Record only tasks with this command name (`--comm`, at most 15 bytes).
    pub comm: Option<String>,
    /// Record only a tenant's tasks (`wprobe serve`), filtered in the kernel.
    pub tenant: Option<TenantScope>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            pid: None,
            ring_bytes: 1 << 20,
            // A quarter of the ring: a busy reader is woken well before it fills; batch
            // deadlines cover everything below.
            wakeup_bytes: (1 << 20) / 4,
            batch_delay: Duration::from_millis(4),
            measure_baseline: false,
            cost_programs: &[],
            guru: false,
            max_probes: 1000,
            syscall_path: SyscallPath::Auto,
            include_self: false,
            scope_tree: false,
            comm: None,
            tenant: None,
        }
    }
}

/// Why [`LiveSource::next_batch`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchStatus {
    /// The builder is at capacity; more events may be waiting.
    Full,
    /// The batch delay passed since the batch's first event.
    Flushed,
    /// The caller's deadline passed; the builder may hold events, or none.
    TimedOut,
}

/// Kernel object ids a source created, to check that they are gone after it is dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelObjects {
    pub programs: Vec<u32>,
    pub links: Vec<u32>,
    pub maps: Vec<u32>,
}

impl KernelObjects {
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty() && self.links.is_empty() && self.maps.is_empty()
    }
}

/// Run-time statistics of one loaded program (only counted while BPF statistics are enabled,
/// see [`enable_run_time_stats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramStats {
    pub name: &'static str,
    pub id: u32,
    pub run_time_ns: u64,
    pub run_count: u64,
}
