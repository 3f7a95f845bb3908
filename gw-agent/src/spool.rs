//! The on-disk delivery spool: every delivery is written here (and synced)
//! before it is sent, and removed only when the OMP answered STATUS_OK.
//!
//! # Design (crash safety)
//!
//! The spool is a directory of append-only *segment* files named after the
//! first sequence number they may hold (`00000000000000000042.seg`). A
//! segment is a run of records:
//!
//! ```text
//! off size field
//!   0   4  len        u32 BE: bytes from `kind` to the end of `body`
//!   4   4  crc        u32 BE: CRC-32 (IEEE) of those `len` bytes
//!   8   1  kind       0x01 delivery, 0x02 done (acknowledged or dropped)
//!   9   8  seq        u64 BE: the delivery's sequence number
//!  17   …  body       kind 0x01: the encoded [`SpooledDelivery`]; 0x02: empty
//! ```
//!
//! Appending a delivery writes one record and `fdatasync`s the file before
//! [`Spool::append`] returns; removing one appends a `done` record (also
//! synced). Opening the spool replays every segment in order: pending =
//! deliveries without a `done`. A record whose length is impossible or
//! whose CRC does not match — the torn tail a SIGKILL or power cut leaves —
//! ends that segment: the file is truncated there (so the next append does
//! not follow garbage) and the loss is reported, never a crash.
//!
//! Segments roll over at `segment_bytes`. A segment is deleted once none of
//! its deliveries is pending *and* every older segment is gone: a `done`
//! record may refer to a delivery in an older segment, so segments go
//! oldest first. The size bound counts the pending deliveries' bytes
//! (what the spool must keep), not the acknowledged garbage still on disk
//! in segments that cannot be deleted yet; in the usual in-order flow
//! that garbage is at most about one segment.
//!
//! A delivery acknowledged by the OMP whose `done` record did not reach
//! the disk before a crash is sent again. It goes out keyed (the engine's
//! `delivery.keyed`): the same T-ID, from its sequence number, and the same
//! `origin_timestamp`, its [`spooled_at`](SpooledDelivery::spooled_at), as
//! the first time, so the OMP acknowledges it without storing it twice.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};

/// Bytes before `kind`: `len` and `crc`.
const FRAME_PREFIX: usize = 8;
/// `kind` + `seq`.
const RECORD_FIXED: usize = 9;
/// Largest record accepted when reading: anything longer is a torn or
/// corrupted length field.
const MAX_RECORD: usize = 16 * 1024 * 1024;
const KIND_DELIVERY: u8 = 0x01;
/// A delivery body's format version now written, and the one before it.
const FORMAT: u8 = 0x02;
const FORMAT_01: u8 = 0x01;
/// A body's bytes besides the device name and payload: version,
/// `spooled_at`, report type, media type, name length.
const BODY_FIXED: usize = 8;
const KIND_DONE: u8 = 0x02;
const SEGMENT_SUFFIX: &str = "seg";

/// What the spool does when a new delivery would exceed its size bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FullPolicy {
    /// Drop the oldest pending deliveries to make room (the agent drops
    /// those not on the wire first, and records each in `dropped.jsonl`).
    #[default]
    DropOldest,
    /// Refuse the new delivery; the source is told.
    RejectNew,
}

/// Limits of a [`Spool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolLimits {
    /// Most bytes of pending deliveries kept.
    pub max_bytes: u64,
    /// Size at which a new segment file is started.
    pub segment_bytes: u64,
    /// What to do when full.
    pub when_full: FullPolicy,
}

impl Default for SpoolLimits {
    fn default() -> Self {
        SpoolLimits {
            max_bytes: 8 * 1024 * 1024,
            segment_bytes: 1024 * 1024,
            when_full: FullPolicy::DropOldest,
        }
    }
}

/// Why a spool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file of the spool could not be read, written or synced.
    #[error("spool {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The spool is full and its policy is to refuse new deliveries.
    #[error("spool full: {pending_bytes} of {max_bytes} bytes pending, {needed} more needed")]
    Full {
        /// Bytes pending now.
        pending_bytes: u64,
        /// The bound.
        max_bytes: u64,
        /// Size of the refused delivery.
        needed: u64,
    },
    /// One delivery is larger than the whole spool may hold.
    #[error("delivery of {size} bytes exceeds the spool bound of {max_bytes} bytes")]
    TooLarge {
        /// Size of the delivery record.
        size: u64,
        /// The bound.
        max_bytes: u64,
    },
    /// A pending record could not be decoded (its CRC matched, so this is
    /// a record written by an incompatible version).
    #[error("spool record {seq} is not a delivery this version understands")]
    BadRecord {
        /// The record's sequence number.
        seq: u64,
    },
    /// No pending delivery has this sequence number.
    #[error("no pending delivery {seq} in the spool")]
    NotPending {
        /// The sequence number asked for.
        seq: u64,
    },
}

/// One delivery as the spool keeps it: where it goes and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledDelivery {
    /// Name of a configured device, or `None` for the GW itself.
    pub device: Option<String>,
    /// GMMP report type byte.
    pub report_type: u8,
    /// GMMP media type byte.
    pub media_type: u8,
    /// The data (any length; the engine splits it over 2048 bytes).
    pub payload: Bytes,
    /// Unix seconds when the spool took it: [`Spool::append`] stamps the
    /// clock when this is 0. It is the delivery's `origin_timestamp` on the
    /// wire, in every (re)send. 0 in records written by format 01.
    pub spooled_at: u32,
}

impl SpooledDelivery {
    /// Encoded form, the body of a delivery record:
    ///
    /// ```text
    /// 02            format version
    /// 69 fd 0b 80   spooled_at, u32 BE (not in format 01)
    /// 01            report_type
    /// 01            media_type
    /// 07 "sensor1"  device name length (0 = the GW) and name
    /// …             payload
    /// ```
    ///
    /// Format 01 records (no `spooled_at`) are still read, with
    /// `spooled_at` 0: they are sent unkeyed. `spooled_at` is written in
    /// place of the field's value (the spool stamps it).
    fn encode(&self, spooled_at: u32) -> Bytes {
        let name = self.device.as_deref().unwrap_or("").as_bytes();
        let name = &name[..name.len().min(255)];
        let mut buf = BytesMut::with_capacity(BODY_FIXED + name.len() + self.payload.len());
        buf.put_u8(FORMAT);
        buf.put_u32(spooled_at);
        buf.put_u8(self.report_type);
        buf.put_u8(self.media_type);
        buf.put_u8(name.len() as u8);
        buf.put_slice(name);
        buf.put_slice(&self.payload);
        buf.freeze()
    }

    fn decode(body: Bytes) -> Option<Self> {
        let (spooled_at, rest) = match *body.first()? {
            FORMAT_01 => (0, body.slice(1..)),
            FORMAT if body.len() >= 5 => (
                u32::from_be_bytes([body[1], body[2], body[3], body[4]]),
                body.slice(5..),
            ),
            _ => return None,
        };
        if rest.len() < 3 {
            return None;
        }
        let name_len = rest[2] as usize;
        if rest.len() < 3 + name_len {
            return None;
        }
        let device = match name_len {
            0 => None,
            _ => Some(std::str::from_utf8(&rest[3..3 + name_len]).ok()?.to_owned()),
        };
        Some(SpooledDelivery {
            device,
            report_type: rest[0],
            media_type: rest[1],
            payload: rest.slice(3 + name_len..),
            spooled_at,
        })
    }

    /// Bytes this delivery takes in the spool's bound (its whole record).
    pub fn spooled_size(&self) -> u64 {
        let name = self.device.as_deref().map_or(0, |d| d.len().min(255));
        (FRAME_PREFIX + RECORD_FIXED + BODY_FIXED + name) as u64 + self.payload.len() as u64
    }
}

/// What [`Spool::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Pending deliveries recovered.
    pub pending: usize,
    /// Segments whose tail was torn or corrupt, with the bytes cut off.
    pub truncated: Vec<(PathBuf, u64)>,
}

/// Result of [`Spool::append`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appended {
    /// The new delivery's sequence number.
    pub seq: u64,
    /// Older deliveries dropped to make room (drop-oldest policy).
    pub dropped: Vec<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Location {
    segment: u64,
    offset: u64,
    size: u64,
}

#[derive(Debug, Default)]
struct Segment {
    live: usize,
}

/// The spool. Synchronous file IO: an append returns once the record is on
/// disk, which is the point.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    limits: SpoolLimits,
    pending: BTreeMap<u64, Location>,
    pending_bytes: u64,
    segments: BTreeMap<u64, Segment>,
    tail: Option<(u64, File, u64)>,
    next_seq: u64,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, replaying what is
    /// there and cutting off torn tails.
    pub fn open(
        dir: impl Into<PathBuf>,
        limits: SpoolLimits,
    ) -> Result<(Spool, OpenReport), SpoolError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut names: Vec<u64> = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_SUFFIX) {
                continue;
            }
            if let Some(first) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
            {
                names.push(first);
            }
        }
        names.sort_unstable();
        let mut spool = Spool {
            dir,
            limits,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            segments: BTreeMap::new(),
            tail: None,
            next_seq: 1,
        };
        let mut report = OpenReport::default();
        for first in names {
            spool.segments.insert(first, Segment::default());
            spool.next_seq = spool.next_seq.max(first);
            if let Some(cut) = spool.replay(first)? {
                report.truncated.push(cut);
            }
        }
        spool.collect_garbage()?;
        report.pending = spool.pending.len();
        Ok((spool, report))
    }

    fn segment_path(&self, first: u64) -> PathBuf {
        self.dir.join(format!("{first:020}.{SEGMENT_SUFFIX}"))
    }

    /// Reads one segment; returns the cut made when its tail was bad.
    fn replay(&mut self, first: u64) -> Result<Option<(PathBuf, u64)>, SpoolError> {
        let path = self.segment_path(first);
        let mut data = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(io_err(&path))?;
        let mut offset = 0usize;
        while offset < data.len() {
            let Some((kind, seq, _, total)) = parse_record(&data[offset..]) else {
                break;
            };
            match kind {
                KIND_DELIVERY => {
                    let size = total as u64;
                    self.pending.insert(
                        seq,
                        Location {
                            segment: first,
                            offset: offset as u64,
                            size,
                        },
                    );
                    self.pending_bytes += size;
                    if let Some(s) = self.segments.get_mut(&first) {
                        s.live += 1;
                    }
                }
                _ => {
                    self.forget(seq);
                }
            }
            self.next_seq = self.next_seq.max(seq + 1);
            offset += total;
        }
        if offset == data.len() {
            return Ok(None);
        }
        let cut = (data.len() - offset) as u64;
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.set_len(offset as u64).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        Ok(Some((path, cut)))
    }

    /// Removes `seq` from the in-memory view (no disk write).
    fn forget(&mut self, seq: u64) -> Option<Location> {
        let loc = self.pending.remove(&seq)?;
        self.pending_bytes -= loc.size;
        if let Some(s) = self.segments.get_mut(&loc.segment) {
            s.live = s.live.saturating_sub(1);
        }
        Some(loc)
    }

    /// Number of pending deliveries.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Bytes of pending deliveries (what the bound counts).
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }

    /// The limits in force.
    pub fn limits(&self) -> &SpoolLimits {
        &self.limits
    }

    /// The first pending sequence number greater than `after` (or the
    /// oldest, for `None`): how the agent walks the spool in order.
    pub fn next_after(&self, after: Option<u64>) -> Option<u64> {
        match after {
            None => self.pending.keys().next().copied(),
            Some(a) => self.pending.range(a + 1..).next().map(|(k, _)| *k),
        }
    }

    /// True when `seq` is still pending.
    pub fn contains(&self, seq: u64) -> bool {
        self.pending.contains_key(&seq)
    }

    /// Writes a delivery and syncs it; returns its sequence number once it
    /// is on disk. A `spooled_at` of 0 is stamped with the clock.
    pub fn append(&mut self, delivery: &SpooledDelivery) -> Result<Appended, SpoolError> {
        let spooled_at = match delivery.spooled_at {
            0 => crate::status::unix_now() as u32,
            at => at,
        };
        let body = delivery.encode(spooled_at);
        let size = (FRAME_PREFIX + RECORD_FIXED + body.len()) as u64;
        debug_assert_eq!(size, delivery.spooled_size());
        if size > self.limits.max_bytes {
            return Err(SpoolError::TooLarge {
                size,
                max_bytes: self.limits.max_bytes,
            });
        }
        let mut dropped = Vec::new();
        while self.pending_bytes + size > self.limits.max_bytes {
            match self.limits.when_full {
                FullPolicy::RejectNew => {
                    return Err(SpoolError::Full {
                        pending_bytes: self.pending_bytes,
                        max_bytes: self.limits.max_bytes,
                        needed: size,
                    });
                }
                FullPolicy::DropOldest => {
                    // The loop condition means something is pending.
                    let Some(oldest) = self.next_after(None) else {
                        break;
                    };
                    self.remove(oldest)?;
                    dropped.push(oldest);
                }
            }
        }
        let seq = self.next_seq;
        let (segment, offset) = self.write_record(KIND_DELIVERY, seq, &body)?;
        self.next_seq += 1;
        self.pending.insert(
            seq,
            Location {
                segment,
                offset,
                size,
            },
        );
        self.pending_bytes += size;
        if let Some(s) = self.segments.get_mut(&segment) {
            s.live += 1;
        }
        Ok(Appended { seq, dropped })
    }

    /// The pending deliveries to drop, oldest first, so that `delivery`
    /// fits under the bound with the drop-oldest policy: the oldest not
    /// `spared` first (the agent spares those on the wire: dropping one
    /// frees no link time and only makes its answer unmatched), then spared
    /// ones if that is not enough. Empty when it fits, under reject-new, or
    /// when it is too large for the spool anyway (the append fails).
    ///
    /// The agent records these, removes them, and then appends, so that no
    /// drop goes unreported even if it is killed in between; an
    /// [`append`](Self::append) on its own drops the plain oldest.
    pub fn room_for(&self, delivery: &SpooledDelivery, spared: impl Fn(u64) -> bool) -> Vec<u64> {
        let size = delivery.spooled_size();
        let max = self.limits.max_bytes;
        if self.limits.when_full != FullPolicy::DropOldest || size > max {
            return Vec::new();
        }
        let mut pending = self.pending_bytes;
        let mut victims = Vec::new();
        for spare_pass in [false, true] {
            for (&seq, loc) in &self.pending {
                if pending + size <= max {
                    return victims;
                }
                if spared(seq) == spare_pass {
                    pending -= loc.size;
                    victims.push(seq);
                }
            }
        }
        victims
    }

    /// Reads a pending delivery back.
    pub fn read(&self, seq: u64) -> Result<SpooledDelivery, SpoolError> {
        let loc = *self
            .pending
            .get(&seq)
            .ok_or(SpoolError::NotPending { seq })?;
        let path = self.segment_path(loc.segment);
        let mut buf = vec![0u8; loc.size as usize];
        File::open(&path)
            .and_then(|mut f| {
                f.seek(SeekFrom::Start(loc.offset))?;
                f.read_exact(&mut buf)
            })
            .map_err(io_err(&path))?;
        match parse_record(&buf) {
            Some((KIND_DELIVERY, s, _, _)) if s == seq => {
                let body = Bytes::from(buf).slice(FRAME_PREFIX + RECORD_FIXED..);
                SpooledDelivery::decode(body).ok_or(SpoolError::BadRecord { seq })
            }
            _ => Err(SpoolError::BadRecord { seq }),
        }
    }

    /// Marks a delivery done (acknowledged, dropped or set aside) and syncs
    /// that; deletes segments that no longer hold anything pending.
    pub fn remove(&mut self, seq: u64) -> Result<(), SpoolError> {
        if !self.pending.contains_key(&seq) {
            return Err(SpoolError::NotPending { seq });
        }
        self.write_record(KIND_DONE, seq, &[])?;
        self.forget(seq);
        self.collect_garbage()
    }

    /// Appends one record to the tail segment (rolling over first when it
    /// is full) and syncs it; returns (segment, offset).
    fn write_record(&mut self, kind: u8, seq: u64, body: &[u8]) -> Result<(u64, u64), SpoolError> {
        let needs_new = match &self.tail {
            None => true,
            Some((_, _, size)) => *size >= self.limits.segment_bytes,
        };
        if needs_new {
            // Names only need to sort in creation order; a `done` record's
            // seq is old, so never name a segment after it.
            let last = self.segments.keys().next_back().map_or(0, |k| k + 1);
            self.start_segment(self.next_seq.max(last))?;
        }
        let path_first = self.tail.as_ref().map_or(seq, |t| t.0);
        let path = self.segment_path(path_first);
        let mut rec = Vec::with_capacity(FRAME_PREFIX + RECORD_FIXED + body.len());
        let len = (RECORD_FIXED + body.len()) as u32;
        rec.extend_from_slice(&len.to_be_bytes());
        rec.extend_from_slice(&[0; 4]);
        rec.push(kind);
        rec.extend_from_slice(&seq.to_be_bytes());
        rec.extend_from_slice(body);
        let crc = crc32(&rec[FRAME_PREFIX..]);
        rec[4..8].copy_from_slice(&crc.to_be_bytes());
        let Some((first, file, size)) = self.tail.as_mut() else {
            return Err(SpoolError::Io {
                path,
                source: std::io::Error::other("no tail segment"),
            });
        };
        let offset = *size;
        let written = file.write_all(&rec).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // Leave no half record behind for the next append to follow.
            let _ = file.set_len(offset);
            return Err(SpoolError::Io { path, source: e });
        }
        *size += rec.len() as u64;
        Ok((*first, offset))
    }

    fn start_segment(&mut self, first: u64) -> Result<(), SpoolError> {
        let path = self.segment_path(first);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let size = file.metadata().map_err(io_err(&path))?.len();
        sync_dir(&self.dir)?;
        self.segments.entry(first).or_default();
        self.tail = Some((first, file, size));
        self.collect_garbage()
    }

    /// Deletes the oldest segments while they hold nothing pending and are
    /// not the one being written.
    fn collect_garbage(&mut self) -> Result<(), SpoolError> {
        let tail = self.tail.as_ref().map(|t| t.0);
        let mut deleted = false;
        while let Some((&first, seg)) = self.segments.iter().next() {
            if seg.live > 0 || Some(first) == tail {
                break;
            }
            let path = self.segment_path(first);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(SpoolError::Io { path, source: e }),
            }
            self.segments.remove(&first);
            deleted = true;
        }
        if deleted {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Number of segment files (for tests and the status line).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Parses the record at the start of `data`: (kind, seq, body length,
/// total bytes), or `None` when it is torn, too long or fails its CRC.
fn parse_record(data: &[u8]) -> Option<(u8, u64, usize, usize)> {
    if data.len() < FRAME_PREFIX + RECORD_FIXED {
        return None;
    }
    let len = u32::from_be_bytes(data[0..4].try_into().ok()?) as usize;
    if !(RECORD_FIXED..=MAX_RECORD).contains(&len) || data.len() < FRAME_PREFIX + len {
        return None;
    }
    let crc = u32::from_be_bytes(data[4..8].try_into().ok()?);
    let rec = &data[FRAME_PREFIX..FRAME_PREFIX + len];
    if crc32(rec) != crc {
        return None;
    }
    let kind = rec[0];
    if kind != KIND_DELIVERY && kind != KIND_DONE {
        return None;
    }
    let seq = u64::from_be_bytes(rec[1..9].try_into().ok()?);
    Some((kind, seq, len - RECORD_FIXED, FRAME_PREFIX + len))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Syncs a directory so that file creations and deletions in it persist.
fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320: the zlib one),
/// the checksum every segment written so far carries.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(text: &str) -> SpooledDelivery {
        SpooledDelivery {
            device: None,
            report_type: 1,
            media_type: 1,
            payload: Bytes::copy_from_slice(text.as_bytes()),
            spooled_at: 0,
        }
    }

    fn limits() -> SpoolLimits {
        SpoolLimits {
            max_bytes: 1024 * 1024,
            segment_bytes: 4096,
            when_full: FullPolicy::DropOldest,
        }
    }

    fn texts(spool: &Spool) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = None;
        while let Some(seq) = spool.next_after(cur) {
            let d = spool.read(seq).unwrap();
            out.push(String::from_utf8(d.payload.to_vec()).unwrap());
            cur = Some(seq);
        }
        out
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn a_record_written_by_the_table_crc_still_verifies() {
        // Bytes of one delivery record (seq 7, GW, "hi") as the earlier
        // hand-written table CRC wrote them.
        let golden = [
            0x00, 0x00, 0x00, 0x13, 0x6b, 0xbf, 0x31, 0xd2, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x07, 0x02, 0x6a, 0xfd, 0x86, 0xc0, 0x01, 0x01, 0x00, 0x68, 0x69,
        ];
        assert_eq!(
            parse_record(&golden),
            Some((KIND_DELIVERY, 7, 10, golden.len()))
        );
    }

    #[test]
    fn deliveries_come_back_in_order_and_removed_ones_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
        let a = spool.append(&delivery("a")).unwrap().seq;
        spool.append(&delivery("b")).unwrap();
        spool.append(&delivery("c")).unwrap();
        spool.remove(a).unwrap();
        assert_eq!(texts(&spool), ["b", "c"]);
        assert_eq!(spool.len(), 2);
    }

    #[test]
    fn device_and_types_survive_the_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
        let d = SpooledDelivery {
            device: Some("sensor1".into()),
            report_type: 3,
            media_type: 0x65,
            payload: Bytes::from_static(b"{\"t\":1}"),
            spooled_at: 1_795_000_000,
        };
        let seq = spool.append(&d).unwrap().seq;
        assert_eq!(spool.read(seq).unwrap(), d);
    }

    #[test]
    fn the_spool_time_is_stamped_once_and_kept_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let before = crate::status::unix_now() as u32;
        let seq = {
            let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
            spool.append(&delivery("a")).unwrap().seq
        };
        let (spool, _) = Spool::open(dir.path(), limits()).unwrap();
        let at = spool.read(seq).unwrap().spooled_at;
        assert!(at >= before && at <= crate::status::unix_now() as u32);
        assert_eq!(spool.read(seq).unwrap().spooled_at, at, "read again, same");
    }

    #[test]
    fn format_01_records_are_still_read_without_a_spool_time() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
            // What the previous version wrote: 01, types, name, payload.
            let mut body = vec![0x01, 3, 0x65, 7];
            body.extend_from_slice(b"sensor1old data");
            spool.write_record(KIND_DELIVERY, 0, &body).unwrap();
        }
        let (mut spool, report) = Spool::open(dir.path(), limits()).unwrap();
        assert_eq!(report.pending, 1);
        let d = spool.read(0).unwrap();
        assert_eq!(
            d,
            SpooledDelivery {
                device: Some("sensor1".into()),
                report_type: 3,
                media_type: 0x65,
                payload: Bytes::from_static(b"old data"),
                spooled_at: 0,
            }
        );
        assert_eq!(spool.append(&delivery("new")).unwrap().seq, 1);
    }

    #[test]
    fn pending_deliveries_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
            for t in ["a", "b", "c", "d"] {
                spool.append(&delivery(t)).unwrap();
            }
            spool.remove(2).unwrap();
        }
        let (mut spool, report) = Spool::open(dir.path(), limits()).unwrap();
        assert_eq!(report.pending, 3);
        assert!(report.truncated.is_empty());
        assert_eq!(texts(&spool), ["a", "c", "d"]);
        // New sequence numbers continue after the old ones.
        assert_eq!(spool.append(&delivery("e")).unwrap().seq, 5);
    }

    #[test]
    fn a_torn_tail_is_dropped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
            spool.append(&delivery("first")).unwrap();
            spool.append(&delivery("second")).unwrap();
        }
        let seg = dir.path().join(format!("{:020}.seg", 1));
        let full = fs::read(&seg).unwrap();
        // Cut the second record in half, as a SIGKILL mid-write would.
        fs::write(&seg, &full[..full.len() - 5]).unwrap();
        let (mut spool, report) = Spool::open(dir.path(), limits()).unwrap();
        assert_eq!(texts(&spool), ["first"]);
        assert_eq!(report.truncated.len(), 1);
        // The file was cut back, so new records follow a clean record.
        spool.append(&delivery("third")).unwrap();
        drop(spool);
        let (spool, report) = Spool::open(dir.path(), limits()).unwrap();
        assert!(report.truncated.is_empty());
        assert_eq!(texts(&spool), ["first", "third"]);
    }

    #[test]
    fn a_corrupted_record_is_detected_by_its_crc() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut spool, _) = Spool::open(dir.path(), limits()).unwrap();
            spool.append(&delivery("first")).unwrap();
            spool.append(&delivery("second")).unwrap();
        }
        let seg = dir.path().join(format!("{:020}.seg", 1));
        let mut full = fs::read(&seg).unwrap();
        let last = full.len() - 1;
        full[last] ^= 0xFF;
        fs::write(&seg, &full).unwrap();
        let (spool, report) = Spool::open(dir.path(), limits()).unwrap();
        assert_eq!(texts(&spool), ["first"]);
        assert_eq!(report.truncated.len(), 1);
    }

    #[test]
    fn drop_oldest_makes_room_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let one = delivery("0123456789").spooled_size();
        let lim = SpoolLimits {
            max_bytes: one * 3,
            ..limits()
        };
        let (mut spool, _) = Spool::open(dir.path(), lim).unwrap();
        for t in ["0123456789", "1123456789", "2123456789"] {
            assert!(spool.append(&delivery(t)).unwrap().dropped.is_empty());
        }
        let next = delivery("3123456789");
        assert_eq!(spool.room_for(&next, |_| false), [1], "the plan");
        let outcome = spool.append(&next).unwrap();
        assert_eq!(outcome.dropped, [1], "what append does on its own");
        assert_eq!(texts(&spool), ["1123456789", "2123456789", "3123456789"]);
        assert!(spool.pending_bytes() <= lim.max_bytes);
        // A larger one needs two gone: the oldest not spared first, then
        // spared ones when that is not enough.
        let big = delivery(big_text());
        assert!(big.spooled_size() > one && big.spooled_size() <= 2 * one);
        assert_eq!(spool.room_for(&big, |_| false), [2, 3]);
        assert_eq!(spool.room_for(&big, |seq| seq == 2), [3, 4]);
        assert_eq!(spool.room_for(&big, |_| true), [2, 3]);
        for seq in spool.room_for(&big, |seq| seq == 2) {
            spool.remove(seq).unwrap();
        }
        assert!(
            spool.append(&big).unwrap().dropped.is_empty(),
            "room was made"
        );
        assert_eq!(texts(&spool), ["1123456789", big_text()], "seq 2 spared");
        assert_eq!(
            spool.room_for(&delivery("x".repeat(4 * one as usize).as_str()), |_| false),
            Vec::<u64>::new(),
            "too large for the spool: nothing dropped, the append fails"
        );
    }

    fn big_text() -> &'static str {
        "4123456789-twice-as-long-as-the-others"
    }

    #[test]
    fn reject_new_refuses_when_full_and_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let one = delivery("0123456789").spooled_size();
        let lim = SpoolLimits {
            max_bytes: one * 2,
            when_full: FullPolicy::RejectNew,
            ..limits()
        };
        let (mut spool, _) = Spool::open(dir.path(), lim).unwrap();
        spool.append(&delivery("0123456789")).unwrap();
        spool.append(&delivery("1123456789")).unwrap();
        let err = spool.append(&delivery("2123456789")).unwrap_err();
        assert!(matches!(err, SpoolError::Full { .. }), "{err}");
        assert_eq!(texts(&spool), ["0123456789", "1123456789"]);
    }

    #[test]
    fn acknowledged_segments_are_deleted_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let lim = SpoolLimits {
            segment_bytes: 64,
            ..limits()
        };
        let (mut spool, _) = Spool::open(dir.path(), lim).unwrap();
        let seqs: Vec<u64> = (0..10)
            .map(|i| {
                spool
                    .append(&delivery(&format!(
                        "payload-{i:02}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                    )))
                    .unwrap()
                    .seq
            })
            .collect();
        assert!(spool.segment_count() >= 5);
        for s in &seqs {
            spool.remove(*s).unwrap();
        }
        assert!(spool.is_empty());
        assert_eq!(spool.segment_count(), 1, "only the tail segment is left");
        drop(spool);
        let (spool, report) = Spool::open(dir.path(), lim).unwrap();
        assert_eq!(report.pending, 0);
        assert!(spool.is_empty());
    }

    #[test]
    fn a_done_record_in_a_later_segment_still_counts_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let lim = SpoolLimits {
            segment_bytes: 64,
            ..limits()
        };
        {
            let (mut spool, _) = Spool::open(dir.path(), lim).unwrap();
            for i in 0..6 {
                spool
                    .append(&delivery(&format!(
                        "record-{i}-yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
                    )))
                    .unwrap();
            }
            // Remove the newest first: the oldest segments must stay.
            spool.remove(6).unwrap();
            spool.remove(2).unwrap();
        }
        let (spool, _) = Spool::open(dir.path(), lim).unwrap();
        let left: Vec<u64> =
            std::iter::successors(spool.next_after(None), |s| spool.next_after(Some(*s))).collect();
        assert_eq!(left, [1, 3, 4, 5]);
    }
}
