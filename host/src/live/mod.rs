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
//!   previous batch. The eBPF program wakes the reader only when the ring is filling up
//!   ([`LiveOptions::wakeup_bytes`]); otherwise the reader polls every
//!   [`LiveOptions::poll_interval`], so a lone event still arrives within a few milliseconds
//!   while a busy probe costs no wake-up per event. `next_batch` is cancel-safe: a record is
//!   consumed from the ring only once it is in the builder.
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

mod check;
mod embedded;
mod error;
mod partial;
mod resolve;
mod spec;
mod sys;

pub use check::{check_system, Check};
pub use error::{ListError, LiveError, SpecError};
pub use resolve::{glob_match, list_functions, Listing, ProbeSupport};
pub use spec::ProbeSpec;

use crate::batch::BatchBuilder;
use crate::probe::ProbeInfo;
use aya::maps::{Array, MapData, PerCpuArray, RingBuf};
use aya::programs::{KProbe, Program, UProbe};
use aya::{Ebpf, EbpfLoader};
use embedded::Config;
use std::collections::BTreeSet;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;
use sys::{Pmu, Target};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::Instant;
use wprobe_common::record::record_size;
use wprobe_common::Arch;

/// How the live source loads, filters and batches.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Trace only this process (thread group), as `--pid`. Uprobes are then also opened for
    /// that process only, so other processes do not even trap.
    pub pid: Option<u32>,
    /// Ring buffer size in bytes: a power of two, a multiple of the page size. Each event
    /// takes 224 bytes of it on x86_64 (216 + the ring's 8-byte header).
    pub ring_bytes: u32,
    /// The eBPF program wakes the reader when more than this many bytes are waiting.
    pub wakeup_bytes: u64,
    /// How often the reader looks at the ring when it was not woken.
    pub poll_interval: Duration,
    /// A batch is handed over at the latest this long after its first event was recorded.
    pub batch_delay: Duration,
    /// Also attach a do-nothing program beside every uprobe, so that
    /// [`LiveSource::program_stats`] can tell the snapshot's own cost from the fixed cost of
    /// running any program on the probe. For benchmarks.
    pub measure_baseline: bool,
    /// Guru mode (`--guru`, SystemTap's `stap -g`): allows raw-address probes.
    pub guru: bool,
    /// The most probes one glob may expand to (`--max-probes`).
    pub max_probes: usize,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            pid: None,
            ring_bytes: 1 << 20,
            // A quarter of the ring: the reader is woken well before it fills, and polling
            // covers everything below.
            wakeup_bytes: (1 << 20) / 4,
            poll_interval: Duration::from_millis(2),
            batch_delay: Duration::from_millis(4),
            measure_baseline: false,
            guru: false,
            max_probes: 1000,
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

/// Attached probes and the reader of their events. See the module docs.
pub struct LiveSource {
    // Fields drop in this order: links first (the probes disappear), then the reader and the
    // maps, then the object with its programs.
    links: Vec<OwnedFd>,
    ring: Ring,
    lost: PerCpuArray<MapData, u64>,
    config: Array<MapData, Config>,
    ebpf: Ebpf,
    probes: Vec<ProbeInfo>,
    loaded: Vec<(&'static str, u32)>,
    kernel_objects: KernelObjects,
    opts: LiveOptions,
    arch: Arch,
    record_len: usize,
    /// Kernel timestamp of the first event in the batch being filled.
    batch_first_ns: Option<u64>,
    lost_seen: u64,
    lost_total: u64,
    events_total: u64,
    /// What a glob skipped because the kernel rejected it, to show once.
    attach_warning: Option<String>,
}

/// The ring is registered with tokio on first use, so that `attach` works outside a runtime.
enum Ring {
    Plain(RingBuf<MapData>),
    Async(AsyncFd<RingBuf<MapData>>),
    Poisoned,
}

/// A probe after resolution, ready to attach.
struct Planned {
    pmu: Pmu,
    is_return: bool,
    /// Kernel: `sym` or `module:sym`. User: the symbol, for messages only.
    function: String,
    /// The pp of the glob probe point this is one match of; None for a probe named exactly.
    glob: Option<String>,
    /// User: the absolute path and file offset. Kernel address: the address.
    path: PathBuf,
    file_offset: u64,
}

impl LiveSource {
    /// Resolves every probe, then loads the eBPF program and attaches it to each. On error
    /// nothing stays attached or loaded.
    pub fn attach(specs: &[ProbeSpec], opts: LiveOptions) -> Result<LiveSource, LiveError> {
        let arch = match Arch::native() {
            Some(Arch::X86_64) => Arch::X86_64,
            Some(other) => return Err(LiveError::UnsupportedArch { arch: other.name() }),
            None => return Err(LiveError::UnsupportedArch { arch: std::env::consts::ARCH }),
        };

        let (probes, plan) = resolve_all(specs, &opts)?;

        raise_memlock_limit();
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(embedded::EVENTS_MAP, opts.ring_bytes)
            .load(embedded::bytes())
            .map_err(|source| LiveError::LoadObject { source })?;

        // Configure before attaching, so that the filter holds from the first hit on.
        let mut config: Array<MapData, Config> = take_map(&mut ebpf, embedded::CONFIG_MAP)?;
        let settings = Config { filter_tgid: opts.pid.unwrap_or(0), reserved: 0, wakeup_bytes: opts.wakeup_bytes };
        config.set(0, settings, 0).map_err(|source| LiveError::Map {
            map: embedded::CONFIG_MAP,
            what: "writing",
            source,
        })?;
        let lost: PerCpuArray<MapData, u64> = take_map(&mut ebpf, embedded::LOST_MAP)?;
        let ring: RingBuf<MapData> = take_map(&mut ebpf, embedded::EVENTS_MAP)?;

        let mut source = LiveSource {
            links: Vec::with_capacity(plan.len()),
            ring: Ring::Plain(ring),
            lost,
            config,
            ebpf,
            probes,
            loaded: Vec::new(),
            kernel_objects: KernelObjects::default(),
            opts,
            arch,
            record_len: record_size(arch),
            batch_first_ns: None,
            lost_seen: 0,
            lost_total: 0,
            events_total: 0,
            attach_warning: None,
        };
        // A glob's match the kernel rejects is skipped (see `partial`); the probe table keeps
        // only what attached, so ids (the attach cookies) stay the table's indices.
        let mut partial = partial::PartialAttach::default();
        let resolved = std::mem::take(&mut source.probes);
        for (p, info) in plan.iter().zip(resolved) {
            let program = match (p.pmu, p.is_return) {
                (Pmu::Uprobe, false) => embedded::PROG_UPROBE,
                (Pmu::Uprobe, true) => embedded::PROG_URETPROBE,
                (Pmu::Kprobe, false) => embedded::PROG_KPROBE,
                (Pmu::Kprobe, true) => embedded::PROG_KRETPROBE,
            };
            let id = source.probes.len();
            source.probes.push(info);
            let result = source.attach_one(id, p, program);
            if result.is_err() {
                source.probes.pop();
            }
            let attached = result.is_ok();
            partial.record(p.glob.as_deref(), &p.function, result)?;
            if attached && source.opts.measure_baseline && p.pmu == Pmu::Uprobe {
                source.attach_one(id, p, embedded::PROG_EMPTY)?;
            }
        }
        source.attach_warning = partial.finish()?;
        source.kernel_objects = source.collect_kernel_objects()?;
        Ok(source)
    }

    /// The probe table: `probes()[id]` is the probe whose events carry probe id `id`.
    pub fn probes(&self) -> &[ProbeInfo] {
        &self.probes
    }

    /// When a glob attached only some of its matches because the kernel rejected the others:
    /// a line saying how many attached and which were skipped, to show the user once.
    pub fn attach_warning(&self) -> Option<&str> {
        self.attach_warning.as_deref()
    }

    /// The architecture of the records (the machine's).
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// Events the kernel dropped because the ring was full, since attach.
    pub fn lost_total(&self) -> u64 {
        self.lost_total
    }

    /// Events delivered into batches since attach.
    pub fn events_total(&self) -> u64 {
        self.events_total
    }

    /// Changes the eBPF program's process filter after attach; `None` lets every process
    /// through. Kprobes, and uprobes attached without [`LiveOptions::pid`], then follow the
    /// new filter. Uprobes attached with a pid stay armed in that process only, so for them
    /// this can only narrow. (For `-c CMD`, start the command stopped and attach with its
    /// pid instead: that filters from the first instruction and spares other processes the
    /// uprobe trap.)
    pub fn set_pid_filter(&mut self, pid: Option<u32>) -> Result<(), LiveError> {
        let settings = Config { filter_tgid: pid.unwrap_or(0), reserved: 0, wakeup_bytes: self.opts.wakeup_bytes };
        self.config.set(0, settings, 0).map_err(|source| LiveError::Map {
            map: embedded::CONFIG_MAP,
            what: "writing",
            source,
        })
    }

    /// The ids of the programs, links and maps this source holds in the kernel.
    pub fn kernel_objects(&self) -> &KernelObjects {
        &self.kernel_objects
    }

    /// Run counts and times of the loaded programs (zero unless BPF statistics are on).
    pub fn program_stats(&self) -> Result<Vec<ProgramStats>, LiveError> {
        self.loaded
            .iter()
            .map(|&(name, id)| {
                let info =
                    self.program(name)?.info().map_err(|source| LiveError::LoadProgram { program: name, source })?;
                Ok(ProgramStats {
                    name,
                    id,
                    run_time_ns: info.run_time().as_nanos() as u64,
                    run_count: info.run_count(),
                })
            })
            .collect()
    }

    /// Fills `batch` with live events. Returns when the batch is full, when
    /// [`LiveOptions::batch_delay`] has passed since its first event, or at `until` (if
    /// given) — whichever comes first. Lost events since the previous call are added to the
    /// batch with [`BatchBuilder::add_lost`]. Must run inside a tokio runtime with I/O and
    /// time enabled.
    pub async fn next_batch(
        &mut self,
        batch: &mut BatchBuilder,
        until: Option<Instant>,
    ) -> Result<BatchStatus, LiveError> {
        debug_assert_eq!(batch.arch(), self.arch);
        if batch.is_empty() {
            self.batch_first_ns = None;
        } else if self.batch_first_ns.is_none() {
            self.batch_first_ns = Some(monotonic_ns());
        }
        let status = loop {
            self.drain(batch)?;
            if batch.is_full() {
                break BatchStatus::Full;
            }
            let now = Instant::now();
            let flush_at = self.batch_first_ns.map(|first| {
                let age = Duration::from_nanos(monotonic_ns().saturating_sub(first));
                now + self.opts.batch_delay.saturating_sub(age)
            });
            if flush_at.is_some_and(|f| f <= now) {
                break BatchStatus::Flushed;
            }
            if until.is_some_and(|u| u <= now) {
                break BatchStatus::TimedOut;
            }
            let wake_at =
                [Some(now + self.opts.poll_interval), flush_at, until].into_iter().flatten().min().unwrap_or(now);
            let ring = self.async_ring()?;
            tokio::select! {
                ready = ring.readable_mut() => {
                    // Cleared before draining: whatever arrives after the drain wakes us again.
                    ready.map_err(LiveError::Ring)?.clear_ready();
                }
                () = tokio::time::sleep_until(wake_at) => {}
            }
        };
        let lost = self.take_lost()?;
        batch.add_lost(lost);
        self.batch_first_ns = None;
        Ok(status)
    }

    /// Moves records from the ring into `batch` until it is full or the ring is empty.
    fn drain(&mut self, batch: &mut BatchBuilder) -> Result<(), LiveError> {
        let expected = self.record_len;
        let ring = match &mut self.ring {
            Ring::Plain(r) => r,
            Ring::Async(a) => a.get_mut(),
            Ring::Poisoned => unreachable!("the ring is only poisoned while being moved"),
        };
        while !batch.is_full() {
            let Some(item) = ring.next() else { break };
            if item.len() != expected {
                return Err(LiveError::BadRecord { len: item.len(), expected });
            }
            if batch.is_empty() && self.batch_first_ns.is_none() {
                let ts = u64::from_le_bytes(item[24..32].try_into().expect("8 bytes"));
                self.batch_first_ns = Some(ts);
            }
            batch.push_record(&item);
            self.events_total += 1;
        }
        Ok(())
    }

    fn async_ring(&mut self) -> Result<&mut AsyncFd<RingBuf<MapData>>, LiveError> {
        if let Ring::Plain(_) = self.ring {
            let Ring::Plain(ring) = std::mem::replace(&mut self.ring, Ring::Poisoned) else { unreachable!() };
            // SAFETY: the RingBuf owns its map fd, keeps it open and returns the same fd for
            // as long as it lives, which is as long as the AsyncFd.
            match unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) } {
                Ok(registered) => self.ring = Ring::Async(registered),
                Err(e) => {
                    let (ring, cause) = e.into_parts();
                    self.ring = Ring::Plain(ring);
                    return Err(LiveError::Ring(cause));
                }
            }
        }
        match &mut self.ring {
            Ring::Async(a) => Ok(a),
            _ => unreachable!("registered above"),
        }
    }

    /// Lost events since the previous call. The kernel only ever increments its per-CPU
    /// counters; resetting them from here would race with increments on other CPUs, so the
    /// difference to the previous sum is what was lost in between.
    fn take_lost(&mut self) -> Result<u64, LiveError> {
        let per_cpu = self.lost.get(&0, 0).map_err(|source| LiveError::Map {
            map: embedded::LOST_MAP,
            what: "reading",
            source,
        })?;
        let sum = per_cpu.iter().fold(0u64, |a, &b| a.wrapping_add(b));
        let new = sum.wrapping_sub(self.lost_seen);
        self.lost_seen = sum;
        self.lost_total += new;
        Ok(new)
    }

    fn program(&self, name: &'static str) -> Result<&Program, LiveError> {
        self.ebpf.program(name).ok_or_else(|| LiveError::ObjectMismatch { what: format!("the program {name}") })
    }

    /// Loads `program` if needed and links it to the probe `p` with cookie `id`.
    fn attach_one(&mut self, id: usize, p: &Planned, program: &'static str) -> Result<(), LiveError> {
        if !self.loaded.iter().any(|&(n, _)| n == program) {
            let prog = self
                .ebpf
                .program_mut(program)
                .ok_or_else(|| LiveError::ObjectMismatch { what: format!("the program {program}") })?;
            let load_err = |source| LiveError::LoadProgram { program, source };
            match prog {
                Program::UProbe(u) => UProbe::load(u).map_err(load_err)?,
                Program::KProbe(k) => KProbe::load(k).map_err(load_err)?,
                _ => return Err(LiveError::ObjectMismatch { what: format!("{program} as a probe program") }),
            }
            let info = self.program(program)?.info().map_err(load_err)?;
            self.loaded.push((program, info.id()));
        }
        let prog_fd = self.program(program)?.fd().map_err(|source| LiveError::LoadProgram { program, source })?;
        let target = match p.pmu {
            Pmu::Kprobe if p.function.is_empty() => Target::KernelAddr { addr: p.file_offset },
            Pmu::Kprobe => Target::Kernel { function: &p.function },
            Pmu::Uprobe => Target::User { path: &p.path, file_offset: p.file_offset, pid: self.opts.pid },
        };
        let link = sys::attach_probe(prog_fd.as_fd(), p.pmu, &target, p.is_return, id as u64)
            .map_err(|source| LiveError::Attach { pp: self.probes[id].pp.clone(), source })?;
        self.links.push(link);
        Ok(())
    }

    fn collect_kernel_objects(&self) -> Result<KernelObjects, LiveError> {
        let programs: Vec<u32> = self.loaded.iter().map(|&(_, id)| id).collect();
        let mut maps = BTreeSet::new();
        for &(name, _) in &self.loaded {
            let info = self.program(name)?.info().map_err(|source| LiveError::LoadProgram { program: name, source })?;
            if let Ok(Some(ids)) = info.map_ids() {
                maps.extend(ids);
            }
        }
        let links = aya::programs::loaded_links()
            .filter_map(Result::ok)
            .filter(|l| programs.contains(&l.program_id()))
            .map(|l| l.id())
            .collect();
        Ok(KernelObjects { programs, links, maps: maps.into_iter().collect() })
    }
}

/// Which of `objects` the kernel still holds. Needs the same privileges as attaching.
pub fn still_in_kernel(objects: &KernelObjects) -> Result<KernelObjects, LiveError> {
    fn present<T, E: std::fmt::Display>(
        all: impl Iterator<Item = Result<T, E>>,
        id: impl Fn(&T) -> u32,
        wanted: &[u32],
    ) -> Result<Vec<u32>, LiveError> {
        let (mut found, mut seen, mut first_err) = (Vec::new(), 0, None);
        for item in all {
            match item {
                Ok(t) => {
                    seen += 1;
                    if wanted.contains(&id(&t)) {
                        found.push(id(&t));
                    }
                }
                // An object can vanish between listing its id and opening it; that is fine.
                // Only a listing that yields nothing but errors means we cannot look.
                Err(e) => first_err = first_err.or(Some(e.to_string())),
            }
        }
        match first_err {
            Some(e) if seen == 0 => Err(LiveError::Introspect(e)),
            _ => Ok(found),
        }
    }
    Ok(KernelObjects {
        programs: present(aya::programs::loaded_programs(), |p| p.id(), &objects.programs)?,
        links: present(aya::programs::loaded_links(), |l| l.id(), &objects.links)?,
        maps: present(aya::maps::loaded_maps(), |m| m.id(), &objects.maps)?,
    })
}

/// Ids and names of every loaded program that is one of wprobe's (named `wp_*`), whoever
/// loaded it: after wprobe exits there should be none.
pub fn loaded_wprobe_programs() -> Result<Vec<(u32, String)>, LiveError> {
    let mut found = Vec::new();
    for p in aya::programs::loaded_programs() {
        let p = p.map_err(|e| LiveError::Introspect(e.to_string()))?;
        let name = p.name_as_str().unwrap_or_default().to_string();
        if name.starts_with("wp_") {
            found.push((p.id(), name));
        }
    }
    Ok(found)
}

/// Turns on the kernel's BPF run-time statistics (as `sysctl kernel.bpf_stats_enabled=1`)
/// for as long as the returned fd is open.
pub fn enable_run_time_stats() -> Result<OwnedFd, LiveError> {
    aya::sys::enable_stats(aya::sys::Stats::RunTime)
        .map_err(|e| LiveError::KernelInfo { what: "BPF run-time statistics", source: e.io_error })
}

/// Checks every spec and turns it into a probe-table entry and an attach plan.
fn resolve_all(specs: &[ProbeSpec], opts: &LiveOptions) -> Result<(Vec<ProbeInfo>, Vec<Planned>), LiveError> {
    let support = ProbeSupport::detect();
    let mut probes = Vec::with_capacity(specs.len());
    let mut plan = Vec::with_capacity(specs.len());
    // Read once, and only when a kernel probe needs them.
    let mut kallsyms: Option<String> = None;
    let mut blacklist: Option<String> = None;
    for spec in specs {
        match spec {
            ProbeSpec::User { path, symbol, offset, is_return } => {
                let given_pp = spec.pp();
                let abs = resolve::resolve_executable(&given_pp, path)?;
                let pp = ProbeSpec::User {
                    path: abs.clone(),
                    symbol: symbol.clone(),
                    offset: *offset,
                    is_return: *is_return,
                }
                .pp();
                if !support.uprobes {
                    return Err(LiveError::UprobesUnsupported { pp });
                }
                // A glob becomes one probe per function, each with its own pp().
                let (found, glob) = if spec::is_glob(symbol) {
                    (resolve::expand_elf_glob(&pp, &abs, symbol, opts.max_probes)?, Some(pp))
                } else {
                    let f = resolve::elf_function(&pp, &abs, symbol)?;
                    if *offset != 0 && f.size != 0 && *offset >= f.size {
                        return Err(LiveError::OffsetOutsideFunction {
                            pp,
                            symbol: symbol.clone(),
                            offset: *offset,
                            size: f.size,
                        });
                    }
                    (vec![(symbol.clone(), f.file_offset + offset)], None)
                };
                for (name, file_offset) in found {
                    let one = ProbeSpec::User {
                        path: abs.clone(),
                        symbol: name.clone(),
                        offset: *offset,
                        is_return: *is_return,
                    };
                    probes.push(ProbeInfo::new(one.pp(), *is_return));
                    plan.push(Planned {
                        pmu: Pmu::Uprobe,
                        is_return: *is_return,
                        function: name,
                        glob: glob.clone(),
                        path: abs.clone(),
                        file_offset,
                    });
                }
            }
            ProbeSpec::UserAddr { path, addr, is_return } => {
                let abs = resolve::resolve_executable(&spec.pp(), path)?;
                let pp = ProbeSpec::UserAddr { path: abs.clone(), addr: *addr, is_return: *is_return }.pp();
                if !support.uprobes {
                    return Err(LiveError::UprobesUnsupported { pp });
                }
                let file_offset = resolve::elf_address(&pp, &abs, *addr)?;
                plan.push(Planned {
                    pmu: Pmu::Uprobe,
                    is_return: *is_return,
                    function: format!("{addr:#x}"),
                    glob: None,
                    path: abs,
                    file_offset,
                });
                probes.push(ProbeInfo::new(pp, *is_return));
            }
            ProbeSpec::Kernel { module, symbol, is_return } => {
                let pp = spec.pp();
                if !support.kprobes {
                    return Err(LiveError::KprobesUnsupported { pp });
                }
                // A glob becomes one probe per function, each with its own pp().
                let (symbols, glob) = if spec::is_glob(symbol) {
                    let text = read_kallsyms(&mut kallsyms)?;
                    let bl = resolve::blacklist_names(blacklist.get_or_insert_with(resolve::read_blacklist));
                    (resolve::expand_kernel_glob(&pp, text, &bl, module.as_deref(), symbol, opts.max_probes)?, Some(pp))
                } else {
                    resolve::check_kernel_function(&pp, module.as_deref(), symbol)?;
                    (vec![symbol.clone()], None)
                };
                for symbol in symbols {
                    let one =
                        ProbeSpec::Kernel { module: module.clone(), symbol: symbol.clone(), is_return: *is_return };
                    plan.push(Planned {
                        pmu: Pmu::Kprobe,
                        is_return: *is_return,
                        function: match module {
                            Some(m) => format!("{m}:{symbol}"),
                            None => symbol,
                        },
                        glob: glob.clone(),
                        path: PathBuf::new(),
                        file_offset: 0,
                    });
                    probes.push(ProbeInfo::new(one.pp(), *is_return));
                }
            }
            ProbeSpec::KernelAddr { addr } => {
                let pp = spec.pp();
                if !opts.guru {
                    return Err(LiveError::GuruRequired { pp });
                }
                if !support.kprobes {
                    return Err(LiveError::KprobesUnsupported { pp });
                }
                if resolve::function_containing(read_kallsyms(&mut kallsyms)?, *addr).is_none() {
                    return Err(LiveError::AddressNotInFunction { pp, addr: *addr });
                }
                plan.push(Planned {
                    pmu: Pmu::Kprobe,
                    is_return: false,
                    function: String::new(),
                    glob: None,
                    path: PathBuf::new(),
                    file_offset: *addr,
                });
                probes.push(ProbeInfo::new(pp, false));
            }
        }
    }
    Ok((probes, plan))
}

fn read_kallsyms(cache: &mut Option<String>) -> Result<&str, LiveError> {
    if cache.is_none() {
        let text = std::fs::read_to_string("/proc/kallsyms")
            .map_err(|source| LiveError::KernelInfo { what: "/proc/kallsyms", source })?;
        *cache = Some(text);
    }
    Ok(cache.as_deref().unwrap_or_default())
}

fn take_map<M>(ebpf: &mut Ebpf, name: &'static str) -> Result<M, LiveError>
where
    M: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf.take_map(name).ok_or_else(|| LiveError::ObjectMismatch { what: format!("the map {name}") })?;
    M::try_from(map).map_err(|source| LiveError::Map { map: name, what: "opening", source })
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; newer ones to the cgroup. Raising
/// the limit needs CAP_SYS_RESOURCE, which a container may lack, so failing is not an error:
/// if the kernel really needed it, loading fails next with a clear EPERM.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: plain syscall with a valid pointer.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
}

/// CLOCK_MONOTONIC in ns, the clock of `bpf_ktime_get_ns` and of the records' timestamps.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
