//! The on-disk delivery spool: every delivery is written here (and synced)
//! before it is sent, and removed only when the OMP answered STATUS_OK.
//!
//! # Design (crash safety)
//!
//! The spool is a directory of append-only *segment* files named after the
//! first sequence number they may hold (`00000000000000000042.seg`). A
//! segment is a run of records, each framed with its length and CRC-32
//! (the layout is in the `record` module).
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

mod record;
mod segments;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::Bytes;

pub use record::SpooledDelivery;
use record::{FRAME_PREFIX, KIND_DELIVERY, KIND_DONE, RECORD_FIXED, parse_record};
use segments::io_err;

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

    /// Number of segment files (for tests and the status line).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
