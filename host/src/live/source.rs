//! The live source: the loaded eBPF object, its attachments, and the ring reader.

use super::captures::{self, ProbeShape};
use super::embedded::{self, Config, ProbeConf};
use super::multi;
use super::nobtf;
use super::partial;
use super::plan::{self, Attach, Planned};
use super::ring::RingReader;
use super::rings::RingSet;
use super::shared;
use super::sys::{self, Target};
use super::tracefs::{EventName, Tracefs};
use super::{BatchStatus, KernelObjects, LiveError, LiveOptions, ProbeSpec, ProgramStats};
use crate::batch::BatchBuilder;
use crate::probe::{CaptureSpec, ProbeInfo};
use aya::maps::{Array, HashMap, MapData, PerCpuArray};
use aya::programs::{KProbe, Program, TracePoint, UProbe};
use aya::{Ebpf, EbpfLoader};
use std::collections::BTreeSet;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::Instant;
use wprobe_common::{Arch, EventRef};

/// Attached probes and the reader of their events. See the module docs.
pub struct LiveSource {
    // Fields drop in this order: the object first (its links: the probes disappear; then its
    // programs), then the reader and its maps.
    object: Object,
    ring: Ring,
    /// The lost counters and the wake flag, and this reader's entry in each (0, or a shared
    /// object's slot).
    lost: PerCpuArray<MapData, u64>,
    /// The reader's "asleep" flag the program reads after each record (`WAKE_MAP`).
    wake: Array<MapData, u64>,
    index: u32,
    /// A shared object's records carry its probe ids and the slot's generation: what this
    /// reader keeps of them and how it renumbers them (see `shared`).
    retag: Option<shared::Retag>,
    /// The reader set the flag to `WAKE_ANY` and has not been woken since (as far as it knows).
    asleep: bool,
    /// What the reader last wrote into the flag and believes is still there (the record that
    /// wakes it claims it back to 0).
    wake_armed: u64,
    /// Records came in while the reader was asleep: the batch goes out as soon as the ring
    /// is empty, instead of at its deadline.
    woken_idle: bool,
    /// After such an early batch, the reader does not go to sleep before this instant, so
    /// that a steady stream of events is batched, not woken for one by one.
    quiet_until: Option<Instant>,
    probes: Vec<ProbeInfo>,
    kernel_objects: KernelObjects,
    opts: LiveOptions,
    arch: Arch,
    /// Kernel timestamp of the first event in the batch being filled.
    batch_first_ns: Option<u64>,
    lost_seen: u64,
    lost_total: u64,
    events_total: u64,
    /// Ring records that were not well-formed records (never expected; counted as lost).
    malformed: u64,
    /// What a glob skipped because the kernel rejected it, to show once.
    attach_warning: Option<String>,
}

/// Where the probes are attached: an object of the source's own, or a slot in one shared
/// with other sessions (`wprobe serve`).
enum Object {
    Own(Box<OwnObject>),
    Shared(shared::Subscription),
}

/// A source's own eBPF object and links.
pub(super) struct OwnObject {
    // Links first: the probes disappear before their programs.
    links: Vec<OwnedFd>,
    /// Programs loaded a second time for uprobe multi links (see `multi`): name, fd, id.
    multi_loaded: Vec<(&'static str, OwnedFd, u32)>,
    /// Multi links failed once (an older kernel): the rest attach one by one.
    multi_off: bool,
    config: Array<MapData, Config>,
    settings: Config,
    /// The thread groups in scope (`-c`'s process tree), when scoping is on.
    scope: HashMap<MapData, u32, u8>,
    ebpf: Ebpf,
    loaded: Vec<(&'static str, u32)>,
    /// `--pid`: uprobes are armed in that process only.
    pid: Option<u32>,
}

/// The ring is registered with tokio on first use, so that `attach` works outside a runtime.
enum Ring {
    Plain(RingSet),
    Async(AsyncFd<RingSet>),
    Poisoned,
}

/// Probes resolved and checked, nothing loaded yet: the probe table a handler's `init` sees,
/// before its captures decide what each attachment takes.
pub struct Resolved {
    pub(super) probes: Vec<ProbeInfo>,
    pub(super) plan: Vec<Planned>,
    pub(super) opts: LiveOptions,
    pub(super) arch: Arch,
}

impl Resolved {
    /// The probe table: `probes()[id]` is the probe whose events will carry probe id `id`.
    pub fn probes(&self) -> &[ProbeInfo] {
        &self.probes
    }

    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// Loads the eBPF program, configures each probe's captures and attaches. On error
    /// nothing stays attached or loaded.
    pub fn attach(self, captures: &[CaptureSpec]) -> Result<LiveSource, LiveError> {
        self.attach_unless(captures, &|| false)
    }

    /// As [`Resolved::attach`], but gives up with [`LiveError::Interrupted`] (nothing left
    /// attached) as soon as `stop()` says so between two probes: a Ctrl-C during a long
    /// attach (a wildcard's hundreds of probes, programs that take seconds to verify under
    /// emulation) must not wait for all of it, nor for detaching all of it afterwards.
    pub fn attach_unless(self, captures: &[CaptureSpec], stop: &dyn Fn() -> bool) -> Result<LiveSource, LiveError> {
        // Before loading too: a stop that came during the handler's init costs no verification.
        if stop() {
            return Err(LiveError::Interrupted);
        }
        let Resolved { probes, plan, opts, arch } = self;
        let shapes: Vec<ProbeShape> = plan.iter().map(|p| p.shape).collect();
        let planned = captures::plan(arch, &probes, &shapes, captures)?;
        let has_return = plan.iter().any(|p| p.is_return);
        let scope = opts.scope_tree.then(fork_offsets).transpose()?;

        let rings = ring_count()?;
        let page = sys::page_size() as u32;
        let ring_bytes = (opts.ring_bytes / rings as u32).max(page);
        let cost_rings = opts.cost_programs.iter().any(|p| embedded::PROG_COST_RINGS.contains(p));
        let mut ebpf = load_object(&ObjectSizes {
            rings,
            ring_bytes,
            probes: plan.len().max(1) as u32,
            subs: 1,
            entries: if has_return { ENTRY_SLOTS } else { 1 },
            entry_captures: if planned.entry_captures { ENTRY_EXT_SLOTS } else { 1 },
            cost_rings,
        })?;
        // A glob's uprobes in one file share one link; the cost benchmark wants one per probe.
        let groups =
            if opts.measure_baseline { Vec::new() } else { multi::groups(&plan, |id| planned.confs[id].ncap > 0) };
        let map_fds = (!groups.is_empty()).then(|| multi::MapFds::collect(&ebpf)).transpose()?;

        // Configure before attaching, so that the filters and captures hold from the first hit.
        let mut confs: Array<MapData, ProbeConf> = take_map(&mut ebpf, embedded::PROBES_MAP)?;
        for (id, conf) in planned.confs.iter().enumerate() {
            confs.set(id as u32, *conf, 0).map_err(|source| LiveError::Map {
                map: embedded::PROBES_MAP,
                what: "writing",
                source,
            })?;
        }
        let mut settings = Config {
            filter_tgid: opts.pid.unwrap_or(0),
            exclude_tgid: if opts.include_self { 0 } else { std::process::id() },
            // The same share of each ring as of all of them.
            wakeup_bytes: opts.wakeup_bytes / rings as u64,
            scope_tree: opts.scope_tree as u32,
            ring_mask: rings as u32 - 1,
            ..Config::default()
        };
        if let Some(comm) = &opts.comm {
            settings.filter_comm = 1;
            let n = comm.len().min(15);
            settings.comm[..n].copy_from_slice(&comm.as_bytes()[..n]);
        }
        match &opts.tenant {
            Some(super::TenantScope::Uid(uid)) => {
                settings.scope_uid = 1;
                settings.filter_uid = *uid;
            }
            Some(super::TenantScope::Cgroup { id, level, .. }) => {
                settings.cgroup_id = *id;
                settings.cgroup_level = *level;
            }
            None => {}
        }
        if let Some((parent, child)) = scope {
            settings.fork_parent_off = parent;
            settings.fork_child_off = child;
        }
        let mut config: Array<MapData, Config> = take_map(&mut ebpf, embedded::CONFIG_MAP)?;
        config.set(0, settings, 0).map_err(|source| LiveError::Map {
            map: embedded::CONFIG_MAP,
            what: "writing",
            source,
        })?;
        let lost: PerCpuArray<MapData, u64> = take_map(&mut ebpf, embedded::LOST_MAP)?;
        let rings = embedded::EVENTS_MAPS[..rings]
            .iter()
            .map(|&name| match ebpf.take_map(name) {
                Some(aya::maps::Map::RingBuf(data)) => RingReader::new(data).map_err(LiveError::Ring),
                _ => Err(LiveError::ObjectMismatch { what: format!("the ring buffer {name}") }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ring = RingSet::new(rings).map_err(LiveError::Ring)?;
        let scope_map: HashMap<MapData, u32, u8> = take_map(&mut ebpf, embedded::SCOPE_MAP)?;
        let wake: Array<MapData, u64> = take_map(&mut ebpf, embedded::WAKE_MAP)?;

        let own = OwnObject {
            links: Vec::with_capacity(plan.len()),
            multi_loaded: Vec::new(),
            multi_off: false,
            config,
            settings,
            scope: scope_map,
            ebpf,
            loaded: Vec::new(),
            pid: opts.pid,
        };
        let mut source = LiveSource::reading(Object::Own(Box::new(own)), ring, lost, wake, 0, probes, opts, arch);
        let Object::Own(own) = &mut source.object else { unreachable!("made above") };
        let own = &mut **own;
        if let Some((_, _)) = scope {
            let id = fork_event_id()?;
            let pp = || "sched:sched_process_fork (for -c's process tree)".to_string();
            own.attach_one(&Target::Tracepoint { id }, false, embedded::PROG_FORK, 0, &pp)?;
        }
        // A glob's match the kernel rejects is skipped (see `partial`); its id stays in the
        // table the handler saw, and never fires.
        let mut partial = partial::PartialAttach::default();
        let mut linked = vec![false; plan.len()];
        for g in &groups {
            if stop() {
                return Err(LiveError::Interrupted);
            }
            if own.attach_group(g, &plan, map_fds.as_ref().expect("collected for groups")) {
                for &id in &g.ids {
                    linked[id] = true;
                    partial.record(plan[id].glob.as_deref(), &plan[id].function, Ok(()))?;
                }
            }
        }
        drop(map_fds);
        for (id, p) in plan.iter().enumerate() {
            if linked[id] {
                continue;
            }
            if stop() {
                return Err(LiveError::Interrupted);
            }
            let with_captures = planned.confs[id].ncap > 0;
            let pp = || source.probes[id].pp.clone();
            let result = attachments(p, with_captures).into_iter().try_for_each(|(target, is_return, program)| {
                own.attach_one(&target, is_return, program, id as u64, &pp).map(drop)
            });
            let attached = result.is_ok();
            partial.record(p.glob.as_deref(), &p.function, result)?;
            if attached && source.opts.measure_baseline {
                if let Attach::Uprobe { path, file_offset } = &p.attach {
                    let target = Target::User { path, file_offset: *file_offset, pid: source.opts.pid };
                    // The parts are those of the program without captures.
                    let parts = if with_captures { &[][..] } else { source.opts.cost_programs };
                    for &program in std::iter::once(&embedded::PROG_EMPTY).chain(parts) {
                        own.attach_one(&target, false, program, id as u64, &pp)?;
                    }
                }
            }
        }
        source.attach_warning = partial.finish()?;
        source.kernel_objects = own.collect_kernel_objects()?;
        Ok(source)
    }
}

/// Return probes in flight at once (per thread, per recursion level) before the oldest
/// entries age out of the LRU map.
pub(super) const ENTRY_SLOTS: u32 = 10240;
/// The same for entries holding captures (each up to 4 KiB).
pub(super) const ENTRY_EXT_SLOTS: u32 = 1024;

/// The sizes of an object's maps that depend on its use.
pub(super) struct ObjectSizes {
    /// Rings in use, and the size of each (the others take a page).
    pub rings: usize,
    pub ring_bytes: u32,
    /// Entries of the probe table and of the subscriber table.
    pub probes: u32,
    pub subs: u32,
    /// Entries of the return probes' entry maps.
    pub entries: u32,
    pub entry_captures: u32,
    /// The cost benchmark's own rings are in use.
    pub cost_rings: bool,
}

/// Loads the embedded object (no program yet: each is loaded when first attached). Maps a
/// session does not use shrink to one entry or a page, so that they cost no memory.
pub(super) fn load_object(sizes: &ObjectSizes) -> Result<Ebpf, LiveError> {
    let page = sys::page_size() as u32;
    raise_memlock_limit();
    nobtf::load_without_kernel_btf(|| {
        let mut loader = EbpfLoader::new();
        for (i, name) in embedded::EVENTS_MAPS.into_iter().enumerate() {
            loader.map_max_entries(name, if i < sizes.rings { sizes.ring_bytes } else { page });
        }
        loader
            .map_max_entries(embedded::PROBES_MAP, sizes.probes)
            .map_max_entries(embedded::SUBS_MAP, sizes.subs)
            .map_max_entries(embedded::ENTRY_MAP, sizes.entries)
            .map_max_entries(embedded::ENTRY_EXT_MAP, sizes.entry_captures);
        if !sizes.cost_rings {
            for name in embedded::COST_RING_MAPS {
                loader.map_max_entries(name, page);
            }
        }
        loader.load(embedded::bytes())
    })
    .map_err(|source| LiveError::LoadObject { source })
}

/// The programs and probes one planned probe takes: `(target, is_return, program)`. A return
/// probe takes two, its entry half first, so that the return finds its entry.
pub(super) fn attachments(p: &Planned, with_captures: bool) -> Vec<(Target<'_>, bool, &'static str)> {
    use embedded::*;
    // The plain twin of each program when the probe has no captures (see `config`).
    let pick = |x: &'static str, plain: &'static str| if with_captures { x } else { plain };
    match (&p.attach, p.is_return) {
        (Attach::Uprobe { path, file_offset }, false) => {
            vec![(Target::User { path, file_offset: *file_offset, pid: None }, false, pick(PROG_UPROBE_X, PROG_UPROBE))]
        }
        (Attach::Uprobe { path, file_offset }, true) => vec![
            (
                Target::User { path, file_offset: *file_offset, pid: None },
                false,
                pick(PROG_UPROBE_ENTRY, PROG_UPROBE_ENTRY_PLAIN),
            ),
            (
                Target::User { path, file_offset: *file_offset, pid: None },
                true,
                pick(PROG_URETPROBE, PROG_URETPROBE_PLAIN),
            ),
        ],
        (Attach::Kprobe { function }, false) => {
            vec![(Target::Kernel { function }, false, pick(PROG_KPROBE_X, PROG_KPROBE))]
        }
        (Attach::Kprobe { function }, true) => vec![
            (Target::Kernel { function }, false, pick(PROG_KPROBE_ENTRY, PROG_KPROBE_ENTRY_PLAIN)),
            (Target::Kernel { function }, true, pick(PROG_KRETPROBE, PROG_KRETPROBE_PLAIN)),
        ],
        (Attach::KprobeAddr { addr }, _) => {
            vec![(Target::KernelAddr { addr: *addr }, false, pick(PROG_KPROBE_X, PROG_KPROBE))]
        }
        (Attach::SyscallKprobe { wrapper }, false) => {
            vec![(Target::Kernel { function: wrapper }, false, pick(PROG_KPROBE_SYSCALL, PROG_KPROBE_SYSCALL_PLAIN))]
        }
        (Attach::SyscallKprobe { wrapper }, true) => vec![
            (
                Target::Kernel { function: wrapper },
                false,
                pick(PROG_KPROBE_SYSCALL_ENTRY, PROG_KPROBE_SYSCALL_ENTRY_PLAIN),
            ),
            (Target::Kernel { function: wrapper }, true, pick(PROG_KRETPROBE_SYSCALL, PROG_KRETPROBE_SYSCALL_PLAIN)),
        ],
        (Attach::SyscallTracepoint { enter_id, .. }, false) => {
            vec![(Target::Tracepoint { id: *enter_id }, false, pick(PROG_TP_SYS_ENTER, PROG_TP_SYS_ENTER_PLAIN))]
        }
        (Attach::SyscallTracepoint { enter_id, exit_id }, true) => vec![
            (Target::Tracepoint { id: *enter_id }, false, pick(PROG_TP_SYS_ENTER_ENTRY, PROG_TP_SYS_ENTER_ENTRY_PLAIN)),
            (Target::Tracepoint { id: *exit_id }, false, pick(PROG_TP_SYS_EXIT, PROG_TP_SYS_EXIT_PLAIN)),
        ],
        (Attach::Tracepoint { id }, _) => vec![(Target::Tracepoint { id: *id }, false, PROG_TRACEPOINT)],
    }
}

/// `sched:sched_process_fork`'s ID.
fn fork_event_id() -> Result<u32, LiveError> {
    let tf = Tracefs::open()?;
    Ok(tf.format(&EventName { category: "sched".into(), name: "sched_process_fork".into() })?.id)
}

/// Where `sched_process_fork` keeps the parent's and the child's pid (they moved between
/// kernel versions, so they come from the format file).
fn fork_offsets() -> Result<(u32, u32), LiveError> {
    let tf = Tracefs::open()?;
    let format = tf.format(&EventName { category: "sched".into(), name: "sched_process_fork".into() })?;
    let parent = format.field("parent_pid")?.offset as u32;
    let child = format.field("child_pid")?.offset as u32;
    Ok((parent, child))
}

impl LiveSource {
    /// Resolves every probe (nothing is loaded or attached): see [`Resolved::attach`].
    pub fn resolve(specs: &[ProbeSpec], opts: LiveOptions) -> Result<Resolved, LiveError> {
        // The embedded object reads the `struct pt_regs` of the architecture wprobe was
        // built for, which is this machine's.
        let Some(arch) = Arch::native() else {
            return Err(LiveError::UnsupportedArch { arch: std::env::consts::ARCH });
        };
        let (probes, plan) = plan::resolve_all(specs, &opts)?;
        Ok(Resolved { probes, plan, opts, arch })
    }

    /// Resolves every probe, then loads the eBPF program and attaches it to each, taking no
    /// captures. On error nothing stays attached or loaded.
    pub fn attach(specs: &[ProbeSpec], opts: LiveOptions) -> Result<LiveSource, LiveError> {
        Self::resolve(specs, opts)?.attach(&[])
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
        match &mut self.object {
            Object::Own(own) => {
                own.settings.filter_tgid = pid.unwrap_or(0);
                own.write_settings()
            }
            Object::Shared(sub) => sub.set_pid_filter(pid),
        }
    }

    /// Adds a process (and, from now on, every process it forks) to the scope, when the
    /// source was attached with [`LiveOptions::scope_tree`]. Call it with the `-c`
    /// command's pid before the command runs, so that none of its events is missed.
    pub fn add_to_scope(&mut self, pid: u32) -> Result<(), LiveError> {
        self.own("a command's process tree")?.scope.insert(pid, 1, 0).map_err(|source| LiveError::Map {
            map: embedded::SCOPE_MAP,
            what: "writing",
            source,
        })
    }

    /// Whether the probes are attached in an object shared with other sessions.
    pub fn is_shared(&self) -> bool {
        matches!(self.object, Object::Shared(_))
    }

    /// The source's own object, or an error naming `what` a shared one cannot do.
    fn own(&mut self, what: &'static str) -> Result<&mut OwnObject, LiveError> {
        match &mut self.object {
            Object::Own(own) => Ok(own),
            Object::Shared(_) => Err(LiveError::NotInSharedObject { what }),
        }
    }

    /// A source reading `ring` (and entry `index` of the lost and wake maps) for `object`.
    #[allow(clippy::too_many_arguments)]
    fn reading(
        object: Object,
        ring: RingSet,
        lost: PerCpuArray<MapData, u64>,
        wake: Array<MapData, u64>,
        index: u32,
        probes: Vec<ProbeInfo>,
        opts: LiveOptions,
        arch: Arch,
    ) -> LiveSource {
        LiveSource {
            object,
            ring: Ring::Plain(ring),
            lost,
            wake,
            index,
            retag: None,
            asleep: false,
            wake_armed: 0,
            woken_idle: false,
            quiet_until: None,
            probes,
            kernel_objects: KernelObjects::default(),
            opts,
            arch,
            batch_first_ns: None,
            lost_seen: 0,
            lost_total: 0,
            events_total: 0,
            malformed: 0,
            attach_warning: None,
        }
    }

    /// A shared object's subscription: its probes renumbered by `retag`.
    pub(super) fn shared(
        sub: shared::Subscription,
        reader: shared::SlotReader,
        probes: Vec<ProbeInfo>,
        opts: LiveOptions,
        arch: Arch,
        attach_warning: Option<String>,
    ) -> LiveSource {
        let shared::SlotReader { ring, lost, wake, slot, retag, kernel_objects } = reader;
        let mut source = LiveSource::reading(Object::Shared(sub), ring, lost, wake, slot, probes, opts, arch);
        source.retag = Some(retag);
        source.kernel_objects = kernel_objects;
        source.attach_warning = attach_warning;
        source
    }

    /// The ids of the programs, links and maps this source holds in the kernel.
    pub fn kernel_objects(&self) -> &KernelObjects {
        &self.kernel_objects
    }

    /// The rings of the `PROG_COST_RINGS` programs ([`LiveOptions::cost_programs`]), for the
    /// benchmark to drain: nothing else reads them.
    pub fn take_cost_rings(&mut self) -> Result<Vec<aya::maps::RingBuf<MapData>>, LiveError> {
        let own = self.own("the cost benchmark")?;
        embedded::COST_RING_MAPS.iter().map(|name| take_map(&mut own.ebpf, name)).collect()
    }

    /// Run counts and times of the loaded programs (zero unless BPF statistics are on).
    pub fn program_stats(&self) -> Result<Vec<ProgramStats>, LiveError> {
        match &self.object {
            Object::Own(own) => own.program_stats(),
            Object::Shared(_) => Err(LiveError::NotInSharedObject { what: "program statistics" }),
        }
    }
}

impl OwnObject {
    fn write_settings(&mut self) -> Result<(), LiveError> {
        self.config.set(0, self.settings, 0).map_err(|source| LiveError::Map {
            map: embedded::CONFIG_MAP,
            what: "writing",
            source,
        })
    }

    fn program_stats(&self) -> Result<Vec<ProgramStats>, LiveError> {
        let mut stats: Vec<ProgramStats> = self
            .loaded
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
            .collect::<Result<_, LiveError>>()?;
        if !self.multi_loaded.is_empty() {
            for info in aya::programs::loaded_programs().filter_map(Result::ok) {
                if let Some((name, ..)) = self.multi_loaded.iter().find(|(.., id)| *id == info.id()) {
                    stats.push(ProgramStats {
                        name,
                        id: info.id(),
                        run_time_ns: info.run_time().as_nanos() as u64,
                        run_count: info.run_count(),
                    });
                }
            }
        }
        Ok(stats)
    }
}

impl LiveSource {
    /// Fills `batch` with live events. Returns when the batch is full, when
    /// [`LiveOptions::batch_delay`] has passed since its first event, or at `until` (if
    /// given) — whichever comes first; and at once when events come after a quiet spell and
    /// the ring is then empty (a lone event is not kept waiting for company). Lost events
    /// since the previous call are added to the batch with [`BatchBuilder::add_lost`]. Must
    /// run inside a tokio runtime with I/O and time enabled.
    ///
    /// With nothing to read the reader sleeps on the ring's fd with no timer (`until` aside):
    /// it first tells the program so through [`embedded::WAKE_MAP`], and the next record wakes
    /// it. Waiting for a batch deadline, it asks the program to wake it only when the ring
    /// fills past [`LiveOptions::wakeup_bytes`] (once), and while it runs nothing, so a busy
    /// probe costs no wake-up per event.
    pub async fn next_batch(
        &mut self,
        batch: &mut BatchBuilder,
        until: Option<Instant>,
    ) -> Result<BatchStatus, LiveError> {
        debug_assert_eq!(batch.arch(), self.arch);
        if batch.is_empty() {
            self.batch_first_ns = None;
        } else if self.batch_first_ns.is_none() {
            self.batch_first_ns = Some(crate::timers::monotonic_ns());
        }
        let status = loop {
            let had = batch.len();
            self.drain(batch)?;
            if self.asleep && batch.len() > had {
                // Found on the last look before sleeping: as good as a wake-up.
                self.asleep = false;
                self.woken_idle = true;
            }
            if batch.is_full() {
                break BatchStatus::Full;
            }
            if self.ring_held() {
                // Records stamped after the read began: they are there, read again.
                continue;
            }
            let now = Instant::now();
            if self.woken_idle && !batch.is_empty() {
                self.quiet_until = Some(now + self.opts.batch_delay);
                break BatchStatus::Flushed;
            }
            let flush_at = self.batch_first_ns.map(|first| {
                let age = Duration::from_nanos(crate::timers::monotonic_ns().saturating_sub(first));
                now + self.opts.batch_delay.saturating_sub(age)
            });
            if flush_at.is_some_and(|f| f <= now) {
                break BatchStatus::Flushed;
            }
            if until.is_some_and(|u| u <= now) {
                break BatchStatus::TimedOut;
            }
            let quiet_until = self.quiet_until.filter(|&q| q > now);
            if batch.is_empty() && quiet_until.is_none() && !self.asleep {
                self.fall_asleep()?;
                // One more look: a record committed before the program could see the flag.
                continue;
            }
            let wake_at = [flush_at, until, quiet_until].into_iter().flatten().min();
            if !self.asleep && self.wake_armed != embedded::WAKE_FULL {
                // Waiting for a deadline: the program wakes us only if the ring fills past
                // `wakeup_bytes` meanwhile. (No last look needed: the deadline bounds the wait.)
                self.set_wake(embedded::WAKE_FULL)?;
            }
            let ring = self.async_ring()?;
            let woken = tokio::select! {
                ready = ring.readable_mut() => {
                    // Cleared before draining: whatever arrives after the drain wakes us again.
                    let mut ready = ready.map_err(LiveError::Ring)?;
                    ready.get_inner().clear_wakeups();
                    ready.clear_ready();
                    true
                }
                () = sleep_until(wake_at) => false,
            };
            if woken {
                // The record that woke us claimed the flag.
                self.wake_armed = 0;
                if self.asleep {
                    self.asleep = false;
                    self.woken_idle = true;
                }
            }
        };
        let lost = self.take_lost()?;
        batch.add_lost(lost);
        self.batch_first_ns = None;
        self.woken_idle = false;
        Ok(status)
    }

    /// Sets the "asleep" flag, then makes sure the ring is looked at only after the flag is
    /// visible (the other half of the pairing described in the eBPF program's
    /// `wake_sleeping_reader`: the map update is a store made on this CPU, the fence orders
    /// it before the loads of the next drain).
    fn fall_asleep(&mut self) -> Result<(), LiveError> {
        self.set_wake(embedded::WAKE_ANY)?;
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        self.asleep = true;
        Ok(())
    }

    /// Tells the program how the reader is about to wait (see `embedded::WAKE_MAP`).
    fn set_wake(&mut self, how: u64) -> Result<(), LiveError> {
        self.wake.set(self.index, how, 0).map_err(|source| LiveError::Map {
            map: embedded::WAKE_MAP,
            what: "writing",
            source,
        })?;
        self.wake_armed = how;
        Ok(())
    }

    /// Moves records from the ring into `batch` until it is full or the ring is empty.
    fn drain(&mut self, batch: &mut BatchBuilder) -> Result<(), LiveError> {
        if batch.is_full() {
            return Ok(());
        }
        let LiveSource { ring, arch, malformed, batch_first_ns, events_total, retag, .. } = self;
        let ring = match ring {
            Ring::Plain(r) => r,
            Ring::Async(a) => a.get_mut(),
            Ring::Poisoned => unreachable!("the ring is only poisoned while being moved"),
        };
        ring.read(|item| {
            let first = batch.is_empty();
            // A shared object's record is this subscriber's (renumbered) or not its own. The
            // program writes only well-formed records; one that is not (it cannot happen
            // short of a bug) is dropped and counted rather than handed on.
            let pushed = match retag {
                Some(retag) => retag.push(batch, item),
                None if EventRef::new(*arch, item).is_some() => {
                    batch.push_record(item);
                    shared::Pushed::Yes
                }
                None => shared::Pushed::Malformed,
            };
            match pushed {
                shared::Pushed::Yes => {}
                shared::Pushed::NotOurs => return true,
                shared::Pushed::Malformed => {
                    *malformed += 1;
                    return true;
                }
            }
            if first && batch_first_ns.is_none() {
                *batch_first_ns = Some(super::rings::timestamp(item));
            }
            *events_total += 1;
            !batch.is_full()
        });
        Ok(())
    }

    fn ring_held(&self) -> bool {
        match &self.ring {
            Ring::Plain(r) => r.held(),
            Ring::Async(a) => a.get_ref().held(),
            Ring::Poisoned => false,
        }
    }

    fn async_ring(&mut self) -> Result<&mut AsyncFd<RingSet>, LiveError> {
        if let Ring::Plain(_) = self.ring {
            let Ring::Plain(ring) = std::mem::replace(&mut self.ring, Ring::Poisoned) else { unreachable!() };
            // SAFETY: the reader owns its map fd, keeps it open and returns the same fd for
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

    /// Starts the lost count from what the kernel counted so far (a reused shared slot's
    /// counter holds its earlier subscribers' losses).
    pub(super) fn skip_earlier_losses(&mut self) -> Result<(), LiveError> {
        self.take_lost()?;
        self.lost_total = 0;
        Ok(())
    }

    /// Lost events since the previous call. The kernel only ever increments its per-CPU
    /// counters; resetting them from here would race with increments on other CPUs, so the
    /// difference to the previous sum is what was lost in between.
    fn take_lost(&mut self) -> Result<u64, LiveError> {
        let per_cpu = self.lost.get(&self.index, 0).map_err(|source| LiveError::Map {
            map: embedded::LOST_MAP,
            what: "reading",
            source,
        })?;
        let sum = per_cpu.iter().fold(0u64, |a, &b| a.wrapping_add(b));
        let new = sum.wrapping_sub(self.lost_seen);
        self.lost_seen = sum;
        let new = new + std::mem::take(&mut self.malformed);
        self.lost_total += new;
        Ok(new)
    }
}

impl OwnObject {
    fn program(&self, name: &'static str) -> Result<&Program, LiveError> {
        self.ebpf.program(name).ok_or_else(|| LiveError::ObjectMismatch { what: format!("the program {name}") })
    }

    /// Loads `program` if needed and links it to `target` with `cookie` (the probe id);
    /// `pp` names the probe in an error. Returns the link's id.
    fn attach_one(
        &mut self,
        target: &Target<'_>,
        is_return: bool,
        program: &'static str,
        cookie: u64,
        pp: &dyn Fn() -> String,
    ) -> Result<u32, LiveError> {
        // `--pid` arms uprobes in that process only, so that others do not even trap.
        let link = link_program(&mut self.ebpf, &mut self.loaded, target, self.pid, is_return, program, cookie, pp)?;
        let id = multi::object_id(link.as_fd()).unwrap_or(0);
        self.links.push(link);
        Ok(id)
    }

    /// Attaches group `g` with one uprobe multi link per program (a return probe's entry and
    /// return halves take one each). False if the kernel would not (multi links are Linux
    /// 6.6+; a function it refuses fails the whole link): then the group's probes attach one
    /// by one, which also names what the kernel refused.
    fn attach_group(&mut self, g: &multi::Group<'_>, plan: &[Planned], maps: &multi::MapFds) -> bool {
        if self.multi_off {
            return false;
        }
        let cookies: Vec<u64> = g.ids.iter().map(|&id| id as u64).collect();
        let mut links = Vec::new();
        for (_, is_return, program) in attachments(&plan[g.ids[0]], g.with_captures) {
            let i = match self.multi_loaded.iter().position(|(n, ..)| *n == program) {
                Some(i) => i,
                None => match multi::load_program(program, maps) {
                    Ok(fd) => {
                        let id = multi::object_id(fd.as_fd()).unwrap_or(0);
                        self.multi_loaded.push((program, fd, id));
                        self.multi_loaded.len() - 1
                    }
                    Err(_) => {
                        self.multi_off = true;
                        return false;
                    }
                },
            };
            let prog = self.multi_loaded[i].1.as_fd();
            match multi::attach_uprobes(prog, g.path, &g.offsets, &cookies, is_return, self.pid) {
                Ok(link) => links.push(link),
                // Dropping `links` detaches what this group attached so far.
                Err(_) => return false,
            }
        }
        self.links.extend(links);
        true
    }

    fn collect_kernel_objects(&self) -> Result<KernelObjects, LiveError> {
        let programs: Vec<u32> =
            self.loaded.iter().map(|&(_, id)| id).chain(self.multi_loaded.iter().map(|(_, _, id)| *id)).collect();
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

/// Loads `program` in `ebpf` if needed (noting it in `loaded`) and links it to `target`,
/// uprobes in process `pid` only if given, with `cookie`; `pp` names the probe in an error.
#[allow(clippy::too_many_arguments)]
pub(super) fn link_program(
    ebpf: &mut Ebpf,
    loaded: &mut Vec<(&'static str, u32)>,
    target: &Target<'_>,
    pid: Option<u32>,
    is_return: bool,
    program: &'static str,
    cookie: u64,
    pp: &dyn Fn() -> String,
) -> Result<OwnedFd, LiveError> {
    let missing = || LiveError::ObjectMismatch { what: format!("the program {program}") };
    let load_err = |source| LiveError::LoadProgram { program, source };
    if !loaded.iter().any(|&(n, _)| n == program) {
        let prog = ebpf.program_mut(program).ok_or_else(missing)?;
        match prog {
            Program::UProbe(u) => UProbe::load(u).map_err(load_err)?,
            Program::KProbe(k) => KProbe::load(k).map_err(load_err)?,
            Program::TracePoint(t) => TracePoint::load(t).map_err(load_err)?,
            _ => return Err(LiveError::ObjectMismatch { what: format!("{program} as a probe program") }),
        }
        let info = ebpf.program(program).ok_or_else(missing)?.info().map_err(load_err)?;
        loaded.push((program, info.id()));
    }
    let prog_fd = ebpf.program(program).ok_or_else(missing)?.fd().map_err(load_err)?;
    let target = match target {
        Target::User { path, file_offset, .. } => Target::User { path, file_offset: *file_offset, pid },
        Target::Kernel { function } => Target::Kernel { function },
        Target::KernelAddr { addr } => Target::KernelAddr { addr: *addr },
        Target::Tracepoint { id } => Target::Tracepoint { id: *id },
    };
    sys::attach_probe(prog_fd.as_fd(), &target, is_return, cookie)
        .map_err(|source| LiveError::Attach { pp: pp(), source })
}

pub(super) fn take_map<M>(ebpf: &mut Ebpf, name: &'static str) -> Result<M, LiveError>
where
    M: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf.take_map(name).ok_or_else(|| LiveError::ObjectMismatch { what: format!("the map {name}") })?;
    M::try_from(map).map_err(|source| LiveError::Map { map: name, what: "opening", source })
}

/// One ring per possible CPU, up to `MAX_RINGS` (a power of two: CPU `c` writes into ring
/// `c & (rings - 1)`).
pub(super) fn ring_count() -> Result<usize, LiveError> {
    let cpus = aya::util::nr_cpus().map_err(|(_, e)| LiveError::Ring(e))?;
    Ok(cpus.next_power_of_two().min(embedded::MAX_RINGS))
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; newer ones to the cgroup. Raising
/// the limit needs CAP_SYS_RESOURCE, which a container may lack, so failing is not an error:
/// if the kernel really needed it, loading fails next with a clear EPERM.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: plain syscall with a valid pointer.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
