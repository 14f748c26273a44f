//! The events file: what `wprobe record` writes and `wprobe replay` reads.
//!
//! Version 1, little-endian:
//!
//! ```text
//! header
//!   0   8  magic          b"WPROBEEV"
//!   8   2  version        1
//!  10   1  arch           1 = x86_64, 2 = aarch64
//!  11   1  reserved       0
//!  12   4  probe_count    at most 65536
//! probe table, probe_count entries, the i-th has probe id i
//!   0   1  flags          bit 0: return probe
//!   1   3  reserved       0
//!   4   4  pp_len         at most 4096
//!   8   …  pp             UTF-8, SystemTap's spelling of the probe point
//! frames, until the end frame
//!   tag 1  event          followed by one record (wprobe_common::record layout)
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
use crate::probe::ProbeInfo;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use wprobe_common::record::{record_size, EventHeader, FLAG_RETURN, HEADER_SIZE, KNOWN_FLAGS};
use wprobe_common::Arch;

pub const MAGIC: [u8; 8] = *b"WPROBEEV";
pub const VERSION: u16 = 1;
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
    #[error("events file version {0} is not supported by this wprobe, which reads version {VERSION}; use the wprobe that recorded it, or a newer one")]
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
        if version != VERSION {
            return Err(EventsFileError::UnsupportedVersion(version));
        }
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
            if entry[0] & !1 != 0 || entry[1..4] != [0, 0, 0] {
                return Err(r.corrupt(at, format!("probe {id} has unknown flags {:02x?}", &entry[..4])));
            }
            let len = u32::from_le_bytes(entry[4..8].try_into().unwrap());
            if len > MAX_PP_LEN {
                return Err(r.corrupt(at + 4, format!("probe {id}'s name is {len} bytes, more than {MAX_PP_LEN}")));
            }
            let mut pp = vec![0u8; len as usize];
            r.read_exact(&mut pp, "the probe table")?;
            let pp = String::from_utf8(pp).map_err(|_| r.corrupt(at + 8, format!("probe {id}'s name is not UTF-8")))?;
            probes.push(ProbeInfo { pp, is_return: entry[0] & 1 != 0 });
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
                let mut record = std::mem::take(&mut self.record);
                let read = self.read_exact(&mut record, "an event record");
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
            out.write_all(&[p.is_return as u8, 0, 0, 0])?;
            out.write_all(&(p.pp.len() as u32).to_le_bytes())?;
            out.write_all(p.pp.as_bytes())?;
        }
        Ok(Self { out, arch, events: 0 })
    }

    /// Appends one event record (`record_size(arch)` bytes).
    pub fn write_record(&mut self, record: &[u8]) -> io::Result<()> {
        if record.len() != record_size(self.arch) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "record size does not match the architecture"));
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
        b[8] = 2;
        assert!(matches!(read_all(&b), Err(EventsFileError::UnsupportedVersion(2))));
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn corrupt_bytes_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
                                    cut in any::<prop::sample::Index>()) {
            let mut b = sample();
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
