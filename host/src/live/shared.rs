//! Attachments shared between sessions (`wprobe serve`): sessions that probe the same point
//! with the same captures share one kernel attachment, each filtered by its own scope in the
//! kernel and reading its own ring.
//!
//! ```text
//!  SharedPool ── objects by ring size ──► SharedObject (one loaded eBPF object, ≤ 8 slots)
//!                                           points: (probe point, captures) → shared id, links,
//!                                                   subscribed slots  (WP_PROBES, WP_SUBS)
//!                                           slots:  scope + generation (WP_SLOTS), ring,
//!                                                   lost count, wake flag
//!  LiveSource (one session) = Subscription (its slot, its points) + the slot's reader
//! ```
//!
//! The program assembles a hit once and copies it into the ring of every slot that is
//! subscribed to the probe and whose scope admits the task, so one tenant's flood fills only
//! its own ring and events outside a tenant's scope never reach its ring. A point is attached
//! when its first subscriber comes and detached when its last one leaves; the object goes
//! with its last subscription.
//!
//! Records carry the shared probe id and, in their flags' upper half, the generation of the
//! slot conf that admitted them: a reused slot's reader renumbers its own records into its
//! session's probe table ([`Retag`]) and drops what an earlier subscriber's scope let in. A
//! slot and a shared id are reused only after [`QUARANTINE`], so that a hit admitted under the
//! old settings (a preempted uprobe program) has long been written.

use super::captures::{self, ProbeShape};
use super::embedded::{self, Config, ProbeConf, SlotConf, MAX_RINGS, SLOT_GEN_SHIFT};
use super::partial::PartialAttach;
use super::plan::{Attach, Planned};
use super::ring::RingReader;
use super::rings::RingSet;
use super::source::{self, attachments, link_program, load_object, take_map, ObjectSizes};
use super::{multi, KernelObjects, LiveError, LiveOptions, LiveSource, Resolved, TenantScope};
use crate::batch::BatchBuilder;
use crate::probe::CaptureSpec;
use aya::maps::{Array, Map, MapData, PerCpuArray};
use aya::Ebpf;
use std::collections::{BTreeSet, HashMap};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// Probes (point and captures) one shared object holds at once, over all its sessions.
pub const SHARED_PROBES: u32 = 1024;
/// How long a freed slot or shared id rests before it is used again.
const QUARANTINE: Duration = Duration::from_secs(1);
/// Generations fit in the flags' upper half and are never 0.
const GEN_MASK: u32 = u32::MAX >> SLOT_GEN_SHIFT;

/// The daemon's shared objects, one or more per ring size (each has [`MAX_RINGS`] slots).
#[derive(Default)]
pub struct SharedPool {
    objects: Mutex<Vec<Weak<SharedObject>>>,
}

impl SharedPool {
    pub fn new() -> SharedPool {
        SharedPool::default()
    }

    /// What the pool holds now (for metrics).
    pub fn stats(&self) -> SharedStats {
        let live: Vec<Arc<SharedObject>> = lock(&self.objects).iter().filter_map(Weak::upgrade).collect();
        let mut stats = SharedStats { objects: live.len(), ..SharedStats::default() };
        for object in live {
            let inner = object.lock();
            stats.sessions += inner.slots.iter().filter(|s| !matches!(s, Slot::Free { .. })).count();
            stats.links += inner.points.values().map(|p| p.links.len()).sum::<usize>();
        }
        stats
    }

    /// As [`Resolved::attach_unless`], but into a slot of a shared object: the probes other
    /// sessions attached with the same captures are shared, the others attached now. The
    /// session's scope ([`LiveOptions::tenant`], `pid`, `comm`) is its slot's, applied in the
    /// kernel. Falls back to an object of the session's own when the shared probe table is
    /// full.
    pub fn attach(
        &self,
        resolved: Resolved,
        captures: &[CaptureSpec],
        stop: &dyn Fn() -> bool,
    ) -> Result<LiveSource, LiveError> {
        if stop() {
            return Err(LiveError::Interrupted);
        }
        let shapes: Vec<ProbeShape> = resolved.plan.iter().map(|p| p.shape).collect();
        let planned = captures::plan(resolved.arch, &resolved.probes, &shapes, captures)?;
        let (object, slot) = self.slot_for(&resolved.opts)?;
        match SharedObject::subscribe(&object, slot, &resolved, &planned.confs, stop) {
            Ok((sub, reader, warning)) => {
                let Resolved { probes, opts, arch, .. } = resolved;
                let mut source = LiveSource::shared(sub, reader, probes, opts, arch, warning);
                source.skip_earlier_losses()?;
                Ok(source)
            }
            Err(LiveError::SharedTableFull { .. }) => resolved.attach_unless(captures, stop),
            Err(e) => Err(e),
        }
    }

    /// A free slot in an object for `opts`' ring size, loading a new object if none has one.
    fn slot_for(&self, opts: &LiveOptions) -> Result<(Arc<SharedObject>, u32), LiveError> {
        let ring_bytes = opts.ring_bytes.max(super::sys::page_size() as u32);
        let mut objects = lock(&self.objects);
        objects.retain(|o| o.strong_count() > 0);
        for object in objects.iter().filter_map(Weak::upgrade).filter(|o| o.ring_bytes == ring_bytes) {
            let slot = object.lock().reserve_slot();
            if let Some(slot) = slot {
                return Ok((object, slot));
            }
        }
        let object = Arc::new(SharedObject::load(ring_bytes)?);
        let slot = object.lock().reserve_slot();
        let slot = slot.expect("a new object has free slots");
        objects.push(Arc::downgrade(&object));
        Ok((object, slot))
    }
}

/// See [`SharedPool::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedStats {
    /// Loaded shared objects.
    pub objects: usize,
    /// Sessions subscribed to them.
    pub sessions: usize,
    /// Kernel attachments (BPF links) they hold, each shared by its point's subscribers.
    pub links: usize,
}

/// One loaded object shared by up to [`MAX_RINGS`] sessions.
pub(super) struct SharedObject {
    ring_bytes: u32,
    inner: Mutex<Inner>,
}

struct Inner {
    // Links (in the points) first: the probes disappear before their programs.
    points: HashMap<PointKey, Point>,
    /// Shared ids not in use: never used from `next_id` on, and freed ones with when.
    next_id: u32,
    freed_ids: Vec<(u32, Instant)>,
    slots: [Slot; MAX_RINGS],
    next_gen: u32,
    settings: Config,
    config: Array<MapData, Config>,
    probe_confs: Array<MapData, ProbeConf>,
    subs: Array<MapData, u32>,
    slot_confs: Array<MapData, SlotConf>,
    rings: Vec<MapData>,
    lost: MapData,
    wake: MapData,
    ebpf: Ebpf,
    loaded: Vec<(&'static str, u32)>,
}

/// What makes two sessions' probes the same attachment. `nth` tells apart a session's own
/// repeats of one point (each is a probe of its own in its table).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct PointKey {
    attach: Attach,
    is_return: bool,
    conf: ProbeConf,
    nth: u32,
}

struct Point {
    id: u32,
    links: Vec<OwnedFd>,
    link_ids: Vec<u32>,
    /// Bit `s`: slot `s` is subscribed.
    subscribers: u32,
}

#[derive(Clone, Copy)]
enum Slot {
    /// Free since then (`None`: never used).
    Free { since: Option<Instant> },
    /// Taken by a session that is attaching.
    Reserved,
    /// A subscriber reads it.
    Active,
}

impl SharedObject {
    fn load(ring_bytes: u32) -> Result<SharedObject, LiveError> {
        let mut ebpf = load_object(&ObjectSizes {
            rings: MAX_RINGS,
            ring_bytes,
            probes: SHARED_PROBES,
            subs: SHARED_PROBES,
            entries: source::ENTRY_SLOTS,
            entry_captures: source::ENTRY_EXT_SLOTS / 4,
            cost_rings: false,
        })?;
        let settings =
            Config { exclude_tgid: std::process::id(), wakeup_bytes: u64::from(ring_bytes) / 4, ..Config::default() };
        let mut config: Array<MapData, Config> = take_map(&mut ebpf, embedded::CONFIG_MAP)?;
        write(&mut config, embedded::CONFIG_MAP, 0, settings)?;
        let rings = embedded::EVENTS_MAPS
            .iter()
            .map(|&name| match ebpf.take_map(name) {
                Some(Map::RingBuf(data)) => Ok(data),
                _ => Err(LiveError::ObjectMismatch { what: format!("the ring buffer {name}") }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let raw = |ebpf: &mut Ebpf, name: &'static str| match ebpf.take_map(name) {
            Some(Map::PerCpuArray(data) | Map::Array(data)) => Ok(data),
            _ => Err(LiveError::ObjectMismatch { what: format!("the map {name}") }),
        };
        let lost = raw(&mut ebpf, embedded::LOST_MAP)?;
        let wake = raw(&mut ebpf, embedded::WAKE_MAP)?;
        let inner = Inner {
            points: HashMap::new(),
            next_id: 0,
            freed_ids: Vec::new(),
            slots: [Slot::Free { since: None }; MAX_RINGS],
            next_gen: 1,
            settings,
            config,
            probe_confs: take_map(&mut ebpf, embedded::PROBES_MAP)?,
            subs: take_map(&mut ebpf, embedded::SUBS_MAP)?,
            slot_confs: take_map(&mut ebpf, embedded::SLOTS_MAP)?,
            rings,
            lost,
            wake,
            ebpf,
            loaded: Vec::new(),
        };
        Ok(SharedObject { ring_bytes, inner: Mutex::new(inner) })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Subscribes reserved slot `slot` to every probe of `resolved`, attaching those no other
    /// session has, then opens the slot to the kernel with the session's scope.
    fn subscribe(
        object: &Arc<SharedObject>,
        slot: u32,
        resolved: &Resolved,
        confs: &[ProbeConf],
        stop: &dyn Fn() -> bool,
    ) -> Result<(Subscription, SlotReader, Option<String>), LiveError> {
        // Dropped on an error, outside the lock: it undoes what was done so far.
        let mut sub = Subscription { object: object.clone(), slot, keys: Vec::new() };
        let result = object.lock().join_all(slot, resolved, confs, stop, &mut sub.keys);
        let (ids, warning) = result?;
        let reader = object.lock().open_slot(slot, &resolved.opts, ids, &sub.keys)?;
        Ok((sub, reader, warning))
    }
}

impl Inner {
    fn reserve_slot(&mut self) -> Option<u32> {
        let now = Instant::now();
        let slot = self.slots.iter().position(|s| match s {
            Slot::Free { since } => since.is_none_or(|t| now.duration_since(t) >= QUARANTINE),
            _ => false,
        })?;
        self.slots[slot] = Slot::Reserved;
        Some(slot as u32)
    }

    /// Joins (or attaches) each planned probe; `keys` collects the points joined, for
    /// leaving. Returns the shared id → session probe id table and the glob warning.
    fn join_all(
        &mut self,
        slot: u32,
        resolved: &Resolved,
        confs: &[ProbeConf],
        stop: &dyn Fn() -> bool,
        keys: &mut Vec<PointKey>,
    ) -> Result<(Vec<u32>, Option<String>), LiveError> {
        let mut ids = vec![u32::MAX; SHARED_PROBES as usize];
        let mut partial = PartialAttach::default();
        for (local, p) in resolved.plan.iter().enumerate() {
            if stop() {
                return Err(LiveError::Interrupted);
            }
            let conf = confs[local];
            let nth =
                keys.iter().filter(|k| k.attach == p.attach && k.is_return == p.is_return && k.conf == conf).count();
            let key = PointKey { attach: p.attach.clone(), is_return: p.is_return, conf, nth: nth as u32 };
            let pp = || resolved.probes[local].pp.clone();
            let result = self.join(&key, p, 1 << slot, &pp);
            if let Ok(id) = result {
                ids[id as usize] = local as u32;
                keys.push(key);
            }
            match result {
                Err(e @ LiveError::SharedTableFull { .. }) => return Err(e),
                r => partial.record(p.glob.as_deref(), &p.function, r.map(drop))?,
            }
        }
        Ok((ids, partial.finish()?))
    }

    /// Adds `bit` to the point's subscribers, attaching it if it has none yet.
    fn join(&mut self, key: &PointKey, p: &Planned, bit: u32, pp: &dyn Fn() -> String) -> Result<u32, LiveError> {
        if let Some(point) = self.points.get_mut(key) {
            point.subscribers |= bit;
            let (id, subscribers) = (point.id, point.subscribers);
            write(&mut self.subs, embedded::SUBS_MAP, id, subscribers)?;
            return Ok(id);
        }
        let id = self.take_id()?;
        // Configured before linking, so that the first hit finds its captures and subscribers.
        let linked = write(&mut self.probe_confs, embedded::PROBES_MAP, id, key.conf)
            .and_then(|()| write(&mut self.subs, embedded::SUBS_MAP, id, bit))
            .and_then(|()| {
                attachments(p, key.conf.ncap > 0)
                    .into_iter()
                    .map(|(target, is_return, program)| {
                        let program = shared_twin(program)?;
                        link_program(&mut self.ebpf, &mut self.loaded, &target, None, is_return, program, id.into(), pp)
                    })
                    .collect::<Result<Vec<OwnedFd>, _>>()
            });
        match linked {
            Ok(links) => {
                let link_ids = links.iter().map(|l| multi::object_id(l.as_fd()).unwrap_or(0)).collect();
                self.points.insert(key.clone(), Point { id, links, link_ids, subscribers: bit });
                Ok(id)
            }
            Err(e) => {
                let _ = write(&mut self.subs, embedded::SUBS_MAP, id, 0);
                self.freed_ids.push((id, Instant::now()));
                Err(e)
            }
        }
    }

    fn take_id(&mut self) -> Result<u32, LiveError> {
        let now = Instant::now();
        if let Some(i) = self.freed_ids.iter().position(|&(_, t)| now.duration_since(t) >= QUARANTINE) {
            return Ok(self.freed_ids.swap_remove(i).0);
        }
        if self.next_id < SHARED_PROBES {
            self.next_id += 1;
            return Ok(self.next_id - 1);
        }
        Err(LiveError::SharedTableFull { capacity: SHARED_PROBES, hint: "this session attaches probes of its own" })
    }

    /// Writes the slot's scope with a new generation, then lets the kernel admit hits for
    /// it; returns its reader.
    fn open_slot(
        &mut self,
        slot: u32,
        opts: &LiveOptions,
        ids: Vec<u32>,
        keys: &[PointKey],
    ) -> Result<SlotReader, LiveError> {
        let gen = self.next_gen;
        self.next_gen = if gen >= GEN_MASK { 1 } else { gen + 1 };
        let mut conf = SlotConf { filter_tgid: opts.pid.unwrap_or(0), gen, ..SlotConf::default() };
        match &opts.tenant {
            Some(TenantScope::Uid(uid)) => {
                conf.scope_uid = 1;
                conf.filter_uid = *uid;
            }
            Some(TenantScope::Cgroup { id, level, .. }) => {
                conf.cgroup_id = *id;
                conf.cgroup_level = *level;
            }
            None => {}
        }
        if let Some(comm) = &opts.comm {
            conf.filter_comm = 1;
            let n = comm.len().min(15);
            conf.comm[..n].copy_from_slice(&comm.as_bytes()[..n]);
        }
        let dup = |m: &MapData| {
            m.fd().as_fd().try_clone_to_owned().map_err(LiveError::Ring).and_then(|fd: OwnedFd| {
                MapData::from_fd(fd).map_err(|source| LiveError::Map { map: "a shared map", what: "opening", source })
            })
        };
        let ring = RingReader::new(dup(&self.rings[slot as usize])?).map_err(LiveError::Ring)?;
        let ring = RingSet::new(vec![ring]).map_err(LiveError::Ring)?;
        let lost = PerCpuArray::try_from(Map::PerCpuArray(dup(&self.lost)?)).map_err(|source| LiveError::Map {
            map: embedded::LOST_MAP,
            what: "opening",
            source,
        })?;
        let mut wake = Array::try_from(Map::Array(dup(&self.wake)?)).map_err(|source| LiveError::Map {
            map: embedded::WAKE_MAP,
            what: "opening",
            source,
        })?;
        write(&mut wake, embedded::WAKE_MAP, slot, 0u64)?;
        write(&mut self.slot_confs, embedded::SLOTS_MAP, slot, conf)?;
        self.settings.slots |= 1 << slot;
        write(&mut self.config, embedded::CONFIG_MAP, 0, self.settings)?;
        self.slots[slot as usize] = Slot::Active;
        let kernel_objects = self.kernel_objects(keys);
        Ok(SlotReader { ring, lost, wake, slot, retag: Retag { gen, ids }, kernel_objects })
    }

    /// The programs and maps of the object, and the links of `keys`' points.
    fn kernel_objects(&self, keys: &[PointKey]) -> KernelObjects {
        let programs: Vec<u32> = self.loaded.iter().map(|&(_, id)| id).collect();
        let mut maps = BTreeSet::new();
        for &(name, _) in &self.loaded {
            if let Some(Ok(info)) = self.ebpf.program(name).map(|p| p.info()) {
                if let Ok(Some(ids)) = info.map_ids() {
                    maps.extend(ids);
                }
            }
        }
        let links = keys.iter().filter_map(|k| self.points.get(k)).flat_map(|p| p.link_ids.iter().copied()).collect();
        KernelObjects { programs, links, maps: maps.into_iter().collect() }
    }

    /// Takes `slot` out of the kernel's view, then leaves each of `keys`' points, detaching
    /// those no one else is subscribed to.
    fn leave(&mut self, slot: u32, keys: &[PointKey]) {
        let bit = 1u32 << slot;
        if self.settings.slots & bit != 0 {
            self.settings.slots &= !bit;
            let _ = write(&mut self.config, embedded::CONFIG_MAP, 0, self.settings);
        }
        let now = Instant::now();
        for key in keys {
            let Some(point) = self.points.get_mut(key) else { continue };
            point.subscribers &= !bit;
            let (id, subscribers) = (point.id, point.subscribers);
            let _ = write(&mut self.subs, embedded::SUBS_MAP, id, subscribers);
            if subscribers == 0 {
                // Dropping the point closes its links: detached.
                self.points.remove(key);
                self.freed_ids.push((id, now));
            }
        }
        self.slots[slot as usize] = Slot::Free { since: Some(now) };
    }
}

/// A session's place in a shared object; leaving it (on drop) detaches the points no other
/// session uses, and the object goes with its last subscription.
pub(super) struct Subscription {
    object: Arc<SharedObject>,
    slot: u32,
    keys: Vec<PointKey>,
}

impl Subscription {
    /// `--pid` for this session's slot.
    pub(super) fn set_pid_filter(&mut self, pid: Option<u32>) -> Result<(), LiveError> {
        let mut inner = self.object.lock();
        let mut conf = inner.slot_confs.get(&self.slot, 0).map_err(|source| LiveError::Map {
            map: embedded::SLOTS_MAP,
            what: "reading",
            source,
        })?;
        conf.filter_tgid = pid.unwrap_or(0);
        write(&mut inner.slot_confs, embedded::SLOTS_MAP, self.slot, conf)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.object.lock().leave(self.slot, &self.keys);
    }
}

/// What a subscriber reads: its slot's ring, lost count and wake flag.
pub(super) struct SlotReader {
    pub ring: RingSet,
    pub lost: PerCpuArray<MapData, u64>,
    pub wake: Array<MapData, u64>,
    pub slot: u32,
    pub retag: Retag,
    pub kernel_objects: KernelObjects,
}

/// Which of a slot's records are this subscriber's, and their probe ids in its table.
pub(super) struct Retag {
    gen: u32,
    /// Shared id → the session's probe id (`u32::MAX`: not one of its probes).
    ids: Vec<u32>,
}

pub(super) enum Pushed {
    Yes,
    /// Admitted for an earlier subscriber of the slot, or for a probe this one left.
    NotOurs,
    Malformed,
}

impl Retag {
    /// Appends `record` to `batch` with the session's probe id and the flags the handler
    /// knows, if it is this subscriber's.
    pub(super) fn push(&self, batch: &mut BatchBuilder, record: &[u8]) -> Pushed {
        use wprobe_common::record::{OFF_FLAGS, OFF_PROBE_ID};
        let word = |at: usize| record.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
        let (Some(id), Some(flags)) = (word(OFF_PROBE_ID), word(OFF_FLAGS)) else { return Pushed::Malformed };
        if flags >> SLOT_GEN_SHIFT != self.gen {
            return Pushed::NotOurs;
        }
        let Some(&local) = self.ids.get(id as usize).filter(|&&l| l != u32::MAX) else { return Pushed::NotOurs };
        if batch.push_record_as(record, local, flags & ((1 << SLOT_GEN_SHIFT) - 1)) {
            Pushed::Yes
        } else {
            Pushed::Malformed
        }
    }
}

/// The shared object's twin of a session's own program.
fn shared_twin(program: &'static str) -> Result<&'static str, LiveError> {
    embedded::SHARED_PROGRAMS
        .iter()
        .find(|(own, _)| *own == program)
        .map(|(_, twin)| *twin)
        .ok_or_else(|| LiveError::ObjectMismatch { what: format!("a shared twin of the program {program}") })
}

fn write<V: aya::Pod>(map: &mut Array<MapData, V>, name: &'static str, index: u32, value: V) -> Result<(), LiveError> {
    map.set(index, value, 0).map_err(|source| LiveError::Map { map: name, what: "writing", source })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::embedded;

    /// The twins' names are listed beside the `programs!` macro that defines them; one the
    /// object lacks would surface only when a session attaches (`ObjectMismatch`).
    #[test]
    fn every_program_and_its_shared_twin_is_in_the_object() {
        let obj = aya_obj::Object::parse(embedded::bytes()).expect("the embedded BPF object parses");
        for (own, twin) in embedded::SHARED_PROGRAMS {
            for name in [own, twin] {
                assert!(obj.programs.contains_key(name), "{name} is not a program of the BPF object");
            }
        }
        let twins = obj.programs.keys().filter(|name| name.ends_with("_s")).count();
        assert_eq!(twins, embedded::SHARED_PROGRAMS.len(), "a shared twin the table does not name");
    }
}
