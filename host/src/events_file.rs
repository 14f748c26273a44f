//! The events file: what `wprobe record` writes and `wprobe replay` reads.
//!
//! Version 2, little-endian (version 1 files, which have no field tables and no extension
//! areas, still read):
//!
//! ```text
//! header
//!   0   8  magic          b"WPROBEEV"
//!   8   2  version        2
//!  10   1  arch           1 = x86_64, 2 = aarch64
//!  11   1  reserved       0
//!  12   4  probe_count    at most 65536
//! probe table, probe_count entries, the i-th has probe id i
//!   0   1  flags          bit 0: return probe; bit 1: a field table follows pp (v2)
//!   1   3  reserved       0
//!   4   4  pp_len         at most 4096
//!   8   …  pp             UTF-8, SystemTap's spelling of the probe point
//!   field table (v2, flag bit 1): u16 count (at most 256), then per field
//!      u8 kind (wprobe_common::tracepoint::FieldKind code), u8 reserved 0, u16 offset,
//!      u16 size, u16 name_len (at most 256), name (UTF-8)
//! frames, until the end frame
//!   tag 1  event          followed by one record (wprobe_common::record layout; with
//!                         FLAG_EXT, its extension area, at most 64 KiB)
//!   tag 2  lost           followed by u64: events the kernel dropped at this point
//!   tag 3  batch end      nothing follows: the frames since the previous batch end were
//!                         handed to the handler as one batch (written by live runs, so that
//!                         replay calls the handler with the very same batches)
//!   tag 255 end           followed by u64: number of event frames, as a check
//! ```
//!
//! Tag 3 came after the first files were written; a file without it replays in batches of
//! the reader's size.
//!
//! A reader checks every field, and reports the byte offset of the first thing wrong: a
//! truncated or corrupt file is an error, never a panic.

use crate::batch::BatchBuilder;
use crate::probe::{FieldInfo, ProbeInfo};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use wprobe_common::ext::EXT_HEADER_SIZE;
use wprobe_common::record::{record_size, EventHeader, FLAG_EXT, FLAG_RETURN, HEADER_SIZE, KNOWN_FLAGS};
use wprobe_common::tracepoint::FieldKind;
use wprobe_common::{Arch, EventRef};

pub const MAGIC: [u8; 8] = *b"WPROBEEV";
/// The version this wprobe writes; it reads this one and every earlier one.
pub const VERSION: u16 = 2;
/// The largest extension area a record may carry in a file.
pub const MAX_EXT_BYTES: u32 = 1 << 16;
pub const MAX_FIELDS: u16 = 256;
pub const MAX_FIELD_NAME: u16 = 256;
const PROBE_RETURN: u8 = 1;
const PROBE_FIELDS: u8 = 2;
pub const MAX_PROBES: u32 = 65536;
pub const MAX_PP_LEN: u32 = 4096;

const TAG_EVENT: u8 = 1;
const TAG_LOST: u8 = 2;
const TAG_BATCH_END: u8 = 3;
const TAG_END: u8 = 255;

#[derive(Debug, thiserror::Error)]
pub enum EventsFileError {
    #[error("cannot open events file {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot read events file: {0}")]
    Io(#[from] io::Error),
    #[error("not a wprobe events file (no WPROBEEV magic at the start); record one with `wprobe record`")]
    BadMagic,
    #[error("events file version {0} is not supported by this wprobe, which reads versions 1 to {VERSION}; use the wprobe that recorded it, or a newer one")]
    UnsupportedVersion(u16),
    #[error("corrupt events file at byte {offset}: {what}")]
    Corrupt { offset: u64, what: String },
    #[error("events file is truncated at byte {offset}, inside {inside} (was the recording interrupted?)")]
    Truncated { offset: u64, inside: &'static str },
}

/// The decoded header and probe table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsHeader {
    pub arch: Arch,
    pub probes: Vec<ProbeInfo>,
}

/// One frame of the file, after the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// An event; its record is in the reader's record buffer ([`EventsReader::record`]).
    Event,
    /// Events the kernel dropped at this point.
    Lost(u64),
    /// The live run's batch ended here.
    BatchEnd,
}

/// Streams frames from an events file, checking each.
pub struct EventsReader<R> {
    input: R,
    header: EventsHeader,
    offset: u64,
    record: Vec<u8>,
    version: u16,
    events: u64,
    done: bool,
    /// A lost count read while filling a batch, owed to the next batch.
    pending_lost: u64,
}

impl EventsReader<BufReader<File>> {
    pub fn open(path: &Path) -> Result<Self, EventsFileError> {
        let file = File::open(path).map_err(|e| EventsFileError::Open { path: path.to_owned(), source: e })?;
        Self::new(BufReader::with_capacity(1 << 16, file))
    }
}

impl<R: Read> EventsReader<R> {
    /// Reads and checks the header and the probe table.
    pub fn new(input: R) -> Result<Self, EventsFileError> {
        let mut r = Self {
            input,
            header: EventsHeader { arch: Arch::X86_64, probes: Vec::new() },
            offset: 0,
            record: Vec::new(),
            version: VERSION,
            events: 0,
            done: false,
            pending_lost: 0,
        };
        let mut head = [0u8; 16];
        r.read_exact(&mut head, "the file header").map_err(|e| match e {
            EventsFileError::Truncated { .. } if head[..8] != MAGIC => EventsFileError::BadMagic,
            e => e,
        })?;
        if head[..8] != MAGIC {
            return Err(EventsFileError::BadMagic);
        }
        let version = u16::from_le_bytes([head[8], head[9]]);
        if version == 0 || version > VERSION {
            return Err(EventsFileError::UnsupportedVersion(version));
        }
        r.version = version;
        let arch =
            Arch::from_u8(head[10]).ok_or_else(|| r.corrupt(10, format!("unknown architecture {}", head[10])))?;
        let count = u32::from_le_bytes(head[12..16].try_into().unwrap());
        if count > MAX_PROBES {
            return Err(r.corrupt(12, format!("{count} probes, more than the limit of {MAX_PROBES}")));
        }
        let mut probes = Vec::with_capacity(count.min(1024) as usize);
        for id in 0..count {
            let at = r.offset;
            let mut entry = [0u8; 8];
            r.read_exact(&mut entry, "the probe table")?;
            let known = if version >= 2 { PROBE_RETURN | PROBE_FIELDS } else { PROBE_RETURN };
            if entry[0] & !known != 0 || entry[1..4] != [0, 0, 0] {
                return Err(r.corrupt(at, format!("probe {id} has unknown flags {:02x?}", &entry[..4])));
            }
            let len = u32::from_le_bytes(entry[4..8].try_into().unwrap());
            if len > MAX_PP_LEN {
                return Err(r.corrupt(at + 4, format!("probe {id}'s name is {len} bytes, more than {MAX_PP_LEN}")));
            }
            let mut pp = vec![0u8; len as usize];
            r.read_exact(&mut pp, "the probe table")?;
            let pp = String::from_utf8(pp).map_err(|_| r.corrupt(at + 8, format!("probe {id}'s name is not UTF-8")))?;
            let fields = if entry[0] & PROBE_FIELDS != 0 { r.read_fields(id)? } else { Vec::new() };
            probes.push(ProbeInfo { pp, is_return: entry[0] & PROBE_RETURN != 0, fields });
        }
        r.header = EventsHeader { arch, probes };
        r.record = vec![0u8; record_size(arch)];
        Ok(r)
    }

    pub fn header(&self) -> &EventsHeader {
        &self.header
    }

    /// The record of the last [`Frame::Event`].
    pub fn record(&self) -> &[u8] {
        &self.record
    }

    /// Event frames read so far.
    pub fn events_read(&self) -> u64 {
        self.events
    }

    /// The next frame, or `None` after the end frame (and a check that nothing follows it).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, EventsFileError> {
        if self.done {
            return Ok(None);
        }
        let at = self.offset;
        let mut tag = [0u8; 1];
        if self.input.read(&mut tag)? == 0 {
            return Err(EventsFileError::Truncated { offset: at, inside: "the frames (the end frame is missing)" });
        }
        self.offset += 1;
        match tag[0] {
            TAG_EVENT => {
                let base = record_size(self.header.arch);
                let mut record = std::mem::take(&mut self.record);
                record.resize(base, 0);
                let read = self.read_record(&mut record, at + 1);
                self.record = record;
                read?;
                self.check_record(at + 1)?;
                self.events += 1;
                Ok(Some(Frame::Event))
            }
            TAG_LOST => Ok(Some(Frame::Lost(self.read_u64("a lost-events frame")?))),
            TAG_BATCH_END => Ok(Some(Frame::BatchEnd)),
            TAG_END => {
                let written = self.read_u64("the end frame")?;
                if written != self.events {
                    return Err(self.corrupt(
                        at + 1,
                        format!("the end frame counts {written} events but the file holds {}", self.events),
                    ));
                }
                let mut extra = [0u8; 1];
                if self.input.read(&mut extra)? != 0 {
                    return Err(self.corrupt(self.offset, "data after the end frame".into()));
                }
                self.done = true;
                Ok(None)
            }
            other => Err(self.corrupt(at, format!("unknown frame tag {other}"))),
        }
    }

    /// Reads frames into `batch` until it is full, the recorded batch ends or the file ends;
    /// returns false at the end.
    pub fn fill(&mut self, batch: &mut BatchBuilder) -> Result<bool, EventsFileError> {
        batch.add_lost(std::mem::take(&mut self.pending_lost));
        while !batch.is_full() {
            match self.next_frame()? {
                Some(Frame::Event) => batch.push_record(&self.record),
                Some(Frame::BatchEnd) if !batch.is_empty() || batch.lost() > 0 => return Ok(true),
                Some(Frame::BatchEnd) => {}
                Some(Frame::Lost(n)) => {
                    // Lost events belong before the events that follow them: close the batch.
                    if !batch.is_empty() {
                        self.pending_lost = n;
                        return Ok(true);
                    }
                    batch.add_lost(n);
                }
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Reads the rest of a record whose fixed part is in `record`: its extension area, if
    /// its flags say it has one.
    fn read_record(&mut self, record: &mut Vec<u8>, at: u64) -> Result<(), EventsFileError> {
        let base = record.len();
        self.read_exact(record, "an event record")?;
        let flags = u32::from_le_bytes(record[4..8].try_into().unwrap());
        if flags & FLAG_EXT == 0 {
            return Ok(());
        }
        if self.version < 2 {
            return Err(
                self.corrupt(at + 4, format!("event {} has an extension area in a version 1 file", self.events))
            );
        }
        let mut head = [0u8; EXT_HEADER_SIZE];
        self.read_exact(&mut head, "an event's extension area")?;
        let len = u32::from_le_bytes(head[0..4].try_into().unwrap());
        if len > MAX_EXT_BYTES {
            return Err(self.corrupt(
                at + base as u64,
                format!("event {}'s extension area is {len} bytes, more than {MAX_EXT_BYTES}", self.events),
            ));
        }
        record.extend_from_slice(&head);
        let from = record.len();
        record.resize(from + len as usize, 0);
        self.read_exact(&mut record[from..], "an event's extension area")?;
        Ok(())
    }

    fn read_fields(&mut self, id: u32) -> Result<Vec<FieldInfo>, EventsFileError> {
        let at = self.offset;
        let mut count = [0u8; 2];
        self.read_exact(&mut count, "a field table")?;
        let count = u16::from_le_bytes(count);
        if count > MAX_FIELDS {
            return Err(self.corrupt(at, format!("probe {id} has {count} fields, more than {MAX_FIELDS}")));
        }
        let mut fields = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let at = self.offset;
            let mut f = [0u8; 8];
            self.read_exact(&mut f, "a field table")?;
            let kind = FieldKind::from_u8(f[0])
                .filter(|_| f[1] == 0)
                .ok_or_else(|| self.corrupt(at, format!("probe {id} has a field of unknown kind {}", f[0])))?;
            let [offset, size, len] = [2, 4, 6].map(|i| u16::from_le_bytes([f[i], f[i + 1]]));
            if len > MAX_FIELD_NAME {
                return Err(self.corrupt(at + 6, format!("probe {id} has a field name of {len} bytes")));
            }
            let mut name = vec![0u8; len as usize];
            self.read_exact(&mut name, "a field table")?;
            let name = String::from_utf8(name)
                .map_err(|_| self.corrupt(at + 8, format!("probe {id} has a field name that is not UTF-8")))?;
            fields.push(FieldInfo { name, offset, size, kind });
        }
        Ok(fields)
    }

    fn check_record(&self, at: u64) -> Result<(), EventsFileError> {
        let header: [u8; HEADER_SIZE] = self.record[..HEADER_SIZE].try_into().unwrap();
        let probe_id = u32::from_le_bytes(header[0..4].try_into().unwrap());
        let flags = u32::from_le_bytes(header[4..8].try_into().unwrap());
        let Some(probe) = self.header.probes.get(probe_id as usize) else {
            return Err(self.corrupt(
                at,
                format!("event {} names probe {probe_id}, but the file has {}", self.events, self.header.probes.len()),
            ));
        };
        if flags & !KNOWN_FLAGS != 0 {
            return Err(self.corrupt(at + 4, format!("event {} has unknown flags {flags:#x}", self.events)));
        }
        if (flags & FLAG_RETURN != 0) != probe.is_return {
            return Err(self.corrupt(
                at + 4,
                format!("event {} disagrees with its probe {} about being a return probe", self.events, probe.pp),
            ));
        }
        if EventRef::new(self.header.arch, &self.record).is_none() {
            return Err(self.corrupt(at, format!("event {}'s extension area is malformed", self.events)));
        }
        Ok(())
    }

    fn read_u64(&mut self, inside: &'static str) -> Result<u64, EventsFileError> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b, inside)?;
        Ok(u64::from_le_bytes(b))
    }

    fn read_exact(&mut self, buf: &mut [u8], inside: &'static str) -> Result<(), EventsFileError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.input.read(&mut buf[filled..]) {
                Ok(0) => return Err(EventsFileError::Truncated { offset: self.offset + filled as u64, inside }),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn corrupt(&self, offset: u64, what: String) -> EventsFileError {
        EventsFileError::Corrupt { offset, what }
    }
}

/// Writes an events file. Call [`EventsWriter::finish`] at the end: a file without its end
/// frame reads as truncated.
pub struct EventsWriter<W: Write> {
    out: W,
    arch: Arch,
    events: u64,
}

impl EventsWriter<BufWriter<File>> {
    pub fn create(path: &Path, arch: Arch, probes: &[ProbeInfo]) -> io::Result<Self> {
        Self::new(BufWriter::with_capacity(1 << 16, File::create(path)?), arch, probes)
    }
}

impl<W: Write> EventsWriter<W> {
    pub fn new(mut out: W, arch: Arch, probes: &[ProbeInfo]) -> io::Result<Self> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        if probes.len() > MAX_PROBES as usize {
            return Err(invalid(format!("{} probes, more than {MAX_PROBES}", probes.len())));
        }
        out.write_all(&MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&[arch as u8, 0])?;
        out.write_all(&(probes.len() as u32).to_le_bytes())?;
        for p in probes {
            if p.pp.len() > MAX_PP_LEN as usize {
                return Err(invalid(format!("probe name longer than {MAX_PP_LEN} bytes: {}", p.pp)));
            }
            let flags = p.is_return as u8 | if p.fields.is_empty() { 0 } else { PROBE_FIELDS };
            out.write_all(&[flags, 0, 0, 0])?;
            out.write_all(&(p.pp.len() as u32).to_le_bytes())?;
            out.write_all(p.pp.as_bytes())?;
            if !p.fields.is_empty() {
                if p.fields.len() > MAX_FIELDS as usize {
                    return Err(invalid(format!("{} has more than {MAX_FIELDS} fields", p.pp)));
                }
                out.write_all(&(p.fields.len() as u16).to_le_bytes())?;
                for f in &p.fields {
                    if f.name.len() > MAX_FIELD_NAME as usize {
                        return Err(invalid(format!("a field of {} has a name over {MAX_FIELD_NAME} bytes", p.pp)));
                    }
                    out.write_all(&[f.kind.to_u8(), 0])?;
                    for v in [f.offset, f.size, f.name.len() as u16] {
                        out.write_all(&v.to_le_bytes())?;
                    }
                    out.write_all(f.name.as_bytes())?;
                }
            }
        }
        Ok(Self { out, arch, events: 0 })
    }

    /// Appends one event record (`record_size(arch)` bytes, plus its extension area).
    pub fn write_record(&mut self, record: &[u8]) -> io::Result<()> {
        if EventRef::new(self.arch, record).is_none() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a record of this architecture"));
        }
        self.out.write_all(&[TAG_EVENT])?;
        self.out.write_all(record)?;
        self.events += 1;
        Ok(())
    }

    /// Appends every record of a finished batch, preceded by its lost count if any, and
    /// marks the batch's end.
    pub fn write_batch(&mut self, batch: &wprobe_common::BatchRef<'_>) -> io::Result<()> {
        if batch.header().lost > 0 {
            self.write_lost(batch.header().lost)?;
        }
        for e in batch.iter() {
            self.write_record(e.bytes())?;
        }
        self.out.write_all(&[TAG_BATCH_END])
    }

    pub fn write_lost(&mut self, n: u64) -> io::Result<()> {
        self.out.write_all(&[TAG_LOST])?;
        self.out.write_all(&n.to_le_bytes())
    }

    /// Writes the end frame and flushes; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[TAG_END])?;
        self.out.write_all(&self.events.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Builds a record from its parts (for tests and tools).
pub fn make_record(arch: Arch, header: &EventHeader, regs: &[u64]) -> Vec<u8> {
    let mut r = vec![0u8; record_size(arch)];
    r[..HEADER_SIZE].copy_from_slice(&header.to_bytes());
    for (slot, v) in r[HEADER_SIZE..].chunks_exact_mut(8).zip(regs) {
        slot.copy_from_slice(&v.to_le_bytes());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        let probes =
            [ProbeInfo::new("kprobe.function(\"f\")", false), ProbeInfo::new("kprobe.function(\"f\").return", true)];
        let mut w = EventsWriter::new(Vec::new(), Arch::X86_64, &probes).unwrap();
        for i in 0..5u32 {
            let h = EventHeader { probe_id: i % 2, flags: i % 2, pid: 100 + i, ..Default::default() };
            w.write_record(&make_record(Arch::X86_64, &h, &[i as u64; 21])).unwrap();
            if i == 2 {
                w.write_lost(7).unwrap();
            }
        }
        w.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<(EventsHeader, Vec<u32>, u64), EventsFileError> {
        let mut r = EventsReader::new(bytes)?;
        let (mut pids, mut lost) = (Vec::new(), 0);
        while let Some(f) = r.next_frame()? {
            match f {
                Frame::Event => pids.push(u32::from_le_bytes(r.record()[8..12].try_into().unwrap())),
                Frame::Lost(n) => lost += n,
                Frame::BatchEnd => {}
            }
        }
        Ok((r.header().clone(), pids, lost))
    }

    #[test]
    fn round_trip() {
        let (header, pids, lost) = read_all(&sample()).unwrap();
        assert_eq!(header.arch, Arch::X86_64);
        assert_eq!(header.probes[1].pp, "kprobe.function(\"f\").return");
        assert!(header.probes[1].is_return);
        assert_eq!(pids, [100, 101, 102, 103, 104]);
        assert_eq!(lost, 7);
    }

    #[test]
    fn replay_keeps_the_recorded_batches() {
        let probes = [ProbeInfo::new("kprobe.function(\"f\")", false)];
        let mut w = EventsWriter::new(Vec::new(), Arch::X86_64, &probes).unwrap();
        let mut b = BatchBuilder::new(Arch::X86_64, 8);
        // Batches of 2, 3, and a lost-only one, as a live run hands them over.
        for (events, lost) in [(2u32, 0u64), (3, 4), (0, 9)] {
            for pid in 0..events {
                let h = EventHeader { pid, ..Default::default() };
                b.push_record(&make_record(Arch::X86_64, &h, &[0; 21]));
            }
            b.add_lost(lost);
            b.finish();
            w.write_batch(&b.view()).unwrap();
            b.clear();
        }
        let bytes = w.finish().unwrap();
        let mut r = EventsReader::new(&bytes[..]).unwrap();
        let mut got = Vec::new();
        loop {
            let more = r.fill(&mut b).unwrap();
            b.finish();
            if !b.view().is_empty() || b.lost() > 0 {
                got.push((b.len(), b.lost()));
            }
            b.clear();
            if !more {
                break;
            }
        }
        assert_eq!(got, [(2, 0), (3, 4), (0, 9)]);
    }

    #[test]
    fn every_truncation_is_reported_as_such() {
        let bytes = sample();
        for len in 0..bytes.len() {
            match read_all(&bytes[..len]) {
                Err(EventsFileError::Truncated { .. }) => {}
                Err(EventsFileError::BadMagic) if len < 8 => {}
                other => panic!("truncated at {len}: {other:?}"),
            }
        }
    }

    #[test]
    fn specific_corruptions() {
        let good = sample();
        let mut b = good.clone();
        b[0] = b'X';
        assert!(matches!(read_all(&b), Err(EventsFileError::BadMagic)));
        let mut b = good.clone();
        b[8] = 3;
        assert!(matches!(read_all(&b), Err(EventsFileError::UnsupportedVersion(3))));
        let mut b = good.clone();
        b[10] = 7;
        assert!(matches!(read_all(&b), Err(EventsFileError::Corrupt { offset: 10, .. })));
        let mut b = good.clone();
        b.push(0);
        assert!(matches!(read_all(&b), Err(EventsFileError::Corrupt { .. })));
        // The first event frame starts after the header and two probe entries.
        let first = 16 + (8 + "kprobe.function(\"f\")".len()) + (8 + "kprobe.function(\"f\").return".len());
        assert_eq!(good[first], TAG_EVENT);
        let mut b = good.clone();
        b[first + 1] = 9; // probe id 9 of 2
        let err = read_all(&b).unwrap_err().to_string();
        assert!(err.contains("names probe 9"), "{err}");
        let mut b = good.clone();
        b[first + 5] = 1; // flags: return, for an entry probe
        assert!(read_all(&b).unwrap_err().to_string().contains("return probe"));
        let mut b = good;
        b[first] = 4;
        assert!(read_all(&b).unwrap_err().to_string().contains("unknown frame tag 4"));
    }

    /// A file with a tracepoint probe (a field table) and records with extension areas.
    fn sample_v2() -> Vec<u8> {
        use wprobe_common::ext::{ExtWriter, KIND_CAPTURE, KIND_TRACEPOINT, SPACE_USER, STATUS_OK};
        let mut tp = ProbeInfo::new("kernel.trace(\"sched:sched_process_exec\")", false);
        tp.fields = vec![
            FieldInfo {
                name: "filename".into(),
                offset: 8,
                size: 4,
                kind: FieldKind::DataLoc { string: true, relative: false },
            },
            FieldInfo { name: "pid".into(), offset: 12, size: 4, kind: FieldKind::Int { signed: true } },
        ];
        let probes = [tp, ProbeInfo::new("nd_syscall.openat.return", true)];
        let mut w = EventsWriter::new(Vec::new(), Arch::X86_64, &probes).unwrap();
        let mut raw = [0u8; 24];
        raw[8..12].copy_from_slice(&(16u32 | (6 << 16)).to_le_bytes());
        raw[12..16].copy_from_slice(&42i32.to_le_bytes());
        raw[16..22].copy_from_slice(b"/bin/\0");
        let h = EventHeader { probe_id: 0, flags: FLAG_EXT, pid: 42, ..Default::default() };
        let mut rec = make_record(Arch::X86_64, &h, &[0; 21]);
        rec.extend_from_slice(&ExtWriter::default().item(KIND_TRACEPOINT, STATUS_OK, 0, 0, 0, &raw).finish());
        w.write_record(&rec).unwrap();
        let h = EventHeader { probe_id: 1, flags: FLAG_EXT | FLAG_RETURN, pid: 43, ..Default::default() };
        let mut rec = make_record(Arch::X86_64, &h, &[3; 21]);
        rec.extend_from_slice(
            &ExtWriter::default()
                .entry(5, &[0x1000; 21])
                .item(KIND_CAPTURE, STATUS_OK, SPACE_USER, 0, 0x1000, b"/etc/passwd")
                .finish(),
        );
        w.write_record(&rec).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn version_2_round_trips_fields_and_extensions() {
        let bytes = sample_v2();
        let mut r = EventsReader::new(&bytes[..]).unwrap();
        assert_eq!(r.header().probes[0].fields.len(), 2);
        assert_eq!(r.header().probes[0].field("pid").unwrap().offset, 12);
        assert!(r.header().probes[1].fields.is_empty());
        assert_eq!(r.next_frame().unwrap(), Some(Frame::Event));
        let e = EventRef::new(Arch::X86_64, r.record()).unwrap();
        assert_eq!(e.tracepoint_data().unwrap().len(), 24);
        assert_eq!(r.next_frame().unwrap(), Some(Frame::Event));
        let e = EventRef::new(Arch::X86_64, r.record()).unwrap();
        assert_eq!(e.read_string(wprobe_common::ext::Space::User, 0x1000, 4096).unwrap(), b"/etc/passwd");
        assert_eq!(e.latency_ns(), Ok(0));
        assert_eq!(r.next_frame().unwrap(), None);
        for len in 0..bytes.len() {
            assert!(matches!(
                read_all(&bytes[..len]),
                Err(EventsFileError::Truncated { .. } | EventsFileError::BadMagic)
            ));
        }
    }

    #[test]
    fn version_1_files_still_read_and_refuse_extensions() {
        let mut v1 = sample();
        v1[8] = 1;
        assert_eq!(read_all(&v1).unwrap().1, [100, 101, 102, 103, 104]);
        let first = 16 + (8 + "kprobe.function(\"f\")".len()) + (8 + "kprobe.function(\"f\").return".len());
        v1[first + 5] |= FLAG_EXT as u8;
        assert!(read_all(&v1).unwrap_err().to_string().contains("version 1"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn corrupt_bytes_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                                    cut in any::<prop::sample::Index>(), v2 in any::<bool>()) {
            let mut b = if v2 { sample_v2() } else { sample() };
            for (i, v) in flips {
                let i = i.index(b.len());
                b[i] = v;
            }
            let len = cut.index(b.len() + 1);
            let _ = read_all(&b[..len]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&b);
            let _ = read_all(&b);
            let _ = read_all(&with_magic);
        }
    }
}
