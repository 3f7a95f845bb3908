//! Splitting payloads over 2048 bytes into parts, and matching parts back
//! into their message.
//!
//! A split message is a run of frames with `total_count = N` and
//! `current_count = 1..=N`, each carrying up to 2048 bytes of the payload
//! (docs/gmmp.md §6.6). Two forms are in use:
//!
//! - **same T-ID**: every part carries part 1's T-ID (the wire reference's
//!   form, and what [`split`] makes);
//! - **T-ID per part**: each part's T-ID is the previous part's plus one.
//!   SK Telecom's client library increments the T-ID on every
//!   `GO_Delivery` call, and WIZnet's firmware calls it once per part.
//!
//! A [`SplitTracker`] (sans-IO: the caller passes the time in, and keeps
//! the bytes) decides for every part what it is — the start of a split,
//! the next part of one in progress, its last part, a repeat, or a part
//! that fits nothing and must be refused — matching by source (gateway and
//! device, chosen by the caller), total_count, report and media type, the
//! current_count sequence and either T-ID form. Several splits of one
//! source may be open at once (interleaved under different T-IDs). A split
//! that stops short stays open until [`SplitTracker::expire`] or a newer
//! split pushes it out, and is handed back so the caller can keep its
//! parts visible. Limits bound what a hostile peer can hold: parts and
//! bytes per split, open splits per source.

use std::collections::HashMap;
use std::hash::Hash;

use bytes::Bytes;

use crate::error::CodecError;
use crate::frame::Frame;
use crate::header::MAX_PAYLOAD_LEN;

/// Splits a frame whose payload exceeds 2048 bytes into parts with the same
/// header (T-ID included) and counts 1..=N of N. A frame that fits, or that
/// has no payload, comes back alone with counts 1 of 1.
pub fn split(frame: &Frame) -> Result<Vec<Frame>, CodecError> {
    let payload = match frame.message.payload() {
        Some(p) if p.len() > MAX_PAYLOAD_LEN => p.clone(),
        _ => {
            let mut whole = frame.clone();
            whole.header = whole.header.with_parts(1, 1);
            return Ok(vec![whole]);
        }
    };
    let total = payload.len().div_ceil(MAX_PAYLOAD_LEN);
    let total_u16 = u16::try_from(total).map_err(|_| CodecError::TooManyParts {
        len: payload.len(),
        max_parts: u16::MAX as usize,
    })?;
    let mut parts = Vec::with_capacity(total);
    for (i, start) in (0..payload.len()).step_by(MAX_PAYLOAD_LEN).enumerate() {
        let end = (start + MAX_PAYLOAD_LEN).min(payload.len());
        let mut part = frame.clone();
        part.message.set_payload(payload.slice(start..end));
        // i < total ≤ u16::MAX, so i + 1 fits.
        part.header = part.header.with_parts(i as u16 + 1, total_u16);
        parts.push(part);
    }
    Ok(parts)
}

/// Limits of a [`SplitTracker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitLimits {
    /// Most parts one split may have.
    pub max_parts: u16,
    /// Most payload bytes one split may carry in all.
    pub max_bytes: usize,
    /// Most splits open at once for one source; opening one more closes
    /// the oldest.
    pub max_open_per_source: usize,
    /// How long (ms) an open split is kept after its last part.
    pub expiry_ms: i64,
}

impl Default for SplitLimits {
    fn default() -> Self {
        SplitLimits {
            max_parts: 64,
            max_bytes: 64 * MAX_PAYLOAD_LEN,
            max_open_per_source: 4,
            expiry_ms: 120_000,
        }
    }
}

/// One part as received: the header's T-ID and counts, the delivery's
/// report and media type, and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Header T-ID.
    pub tid: u32,
    /// Header current_count.
    pub current: u16,
    /// Header total_count.
    pub total: u16,
    /// report_type of the body.
    pub report_type: u8,
    /// media_type of the body.
    pub media_type: u8,
    /// This part's payload.
    pub payload: Bytes,
}

/// A split in progress, as the tracker holds it (the caller holds the
/// parts' bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSplit {
    /// Its id, given by the tracker (increasing).
    pub id: u64,
    /// total_count of its parts.
    pub total: u16,
    /// report_type of its parts.
    pub report_type: u8,
    /// media_type of its parts.
    pub media_type: u8,
    /// T-IDs of the parts taken, in order; `tids.len()` parts are held.
    pub tids: Vec<u32>,
    /// T-ID of the last part seen (a repeat may move it on).
    pub last_tid: u32,
    /// Payload bytes taken so far.
    pub bytes: usize,
    /// When part 1 arrived (caller's clock, ms).
    pub started_at: i64,
    /// When the last part arrived (caller's clock, ms).
    pub last_part_at: i64,
    /// The last part's payload, to tell a repeat from a contradiction.
    pub last_payload: Bytes,
}

impl OpenSplit {
    /// Parts taken so far.
    pub fn received(&self) -> u16 {
        // tids.len() ≤ total ≤ u16::MAX.
        self.tids.len() as u16
    }

    fn takes_next(&self, part: &Part) -> bool {
        self.same_shape(part)
            && self.received() + 1 == part.current
            && (part.tid == self.last_tid || part.tid == self.last_tid.wrapping_add(1))
    }

    fn repeats_last(&self, part: &Part) -> bool {
        self.same_shape(part)
            && self.received() == part.current
            && (part.tid == self.last_tid || part.tid == self.last_tid.wrapping_add(1))
    }

    fn same_shape(&self, part: &Part) -> bool {
        self.total == part.total
            && self.report_type == part.report_type
            && self.media_type == part.media_type
    }
}

/// What a part is, as decided by [`SplitTracker::accept`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartDecision {
    /// Part 1 of a new split `id`. `closed` are the source's open splits
    /// it pushed out (their parts stay the caller's to keep): one that
    /// would take the same next part (a sender that restarted its T-IDs,
    /// say, leaving its old split cut short), and the oldest when the
    /// source had too many open.
    Opened {
        /// The new split.
        id: u64,
        /// The splits pushed out.
        closed: Vec<OpenSplit>,
    },
    /// The next part of split `id`, which stays open.
    Added {
        /// The split.
        id: u64,
    },
    /// The last part: the split is whole and no longer tracked.
    Completed(OpenSplit),
    /// The last part taken by split `id`, sent again with the same bytes:
    /// held already, nothing to store.
    Repeated {
        /// The split.
        id: u64,
    },
    /// Fits nothing; the open splits are unchanged.
    Refused(PartRefusal),
}

/// Why a part was refused. A refusal changes no split: the one in
/// progress can still complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartRefusal {
    /// `current_count` is 0 or above `total_count`, or `total_count` is 0.
    #[error("part {current} of {total} is out of range")]
    OutOfRange {
        /// The part number received.
        current: u16,
        /// The total received.
        total: u16,
    },
    /// More parts than allowed.
    #[error("a split of {total} parts exceeds the limit of {max}")]
    TooManyParts {
        /// Parts announced.
        total: u16,
        /// The limit.
        max: u16,
    },
    /// More bytes than allowed.
    #[error("the split would hold {bytes} bytes, over the limit of {max}")]
    TooLarge {
        /// Bytes with this part.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The last part taken, again, but with other bytes.
    #[error("part {current} of {total} sent again with other bytes")]
    RepeatDiffers {
        /// The part number.
        current: u16,
        /// The total.
        total: u16,
    },
    /// A part under the T-ID of an open split, with another total.
    #[error("part says {got} parts but its split started with {expected}")]
    TotalChanged {
        /// The total of the open split.
        expected: u16,
        /// The total of this part.
        got: u16,
    },
    /// No open split of this source waits for this part.
    #[error("no split in progress expects part {current} of {total} (T-ID {tid})")]
    NotExpected {
        /// The part number.
        current: u16,
        /// The total.
        total: u16,
        /// Its T-ID.
        tid: u32,
    },
}

impl PartRefusal {
    /// True when the part contradicts a split in progress (as opposed to
    /// fitting none).
    pub fn contradicts(&self) -> bool {
        matches!(
            self,
            PartRefusal::RepeatDiffers { .. } | PartRefusal::TotalChanged { .. }
        )
    }
}

/// Open splits per source `K` (the server uses gateway and device), and
/// the rules that match parts to them.
#[derive(Debug, Clone)]
pub struct SplitTracker<K> {
    limits: SplitLimits,
    open: HashMap<K, Vec<OpenSplit>>,
    /// The splits each source completed last (as many as it may have
    /// open), so that a resend of a last part whose answer was lost is
    /// recognised rather than refused.
    completed: HashMap<K, Vec<OpenSplit>>,
    next_id: u64,
}

impl<K: Hash + Eq + Clone> SplitTracker<K> {
    /// An empty tracker; split ids start at `first_id`.
    pub fn new(limits: SplitLimits, first_id: u64) -> Self {
        SplitTracker {
            limits,
            open: HashMap::new(),
            completed: HashMap::new(),
            next_id: first_id,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &SplitLimits {
        &self.limits
    }

    /// Open splits, over all sources.
    pub fn open_count(&self) -> usize {
        self.open.values().map(Vec::len).sum()
    }

    /// The open splits of `source`, oldest first.
    pub fn open_splits(&self, source: &K) -> &[OpenSplit] {
        self.open.get(source).map_or(&[], Vec::as_slice)
    }

    /// Puts back a split held elsewhere (after a restart); later ids are
    /// above its id.
    pub fn restore(&mut self, source: K, split: OpenSplit) {
        self.next_id = self.next_id.max(split.id + 1);
        let splits = self.open.entry(source).or_default();
        splits.push(split);
        splits.sort_by_key(|s| s.id);
    }

    /// Decides what `part` of `source`, received at `now` (ms), is, and
    /// updates the open splits accordingly. `part.total` must be above 1
    /// for it to be a split at all; a lone part (1 of 1) is the caller's.
    pub fn accept(&mut self, source: &K, part: &Part, now: i64) -> PartDecision {
        let (current, total) = (part.current, part.total);
        if total == 0 || current == 0 || current > total {
            return PartDecision::Refused(PartRefusal::OutOfRange { current, total });
        }
        if total > self.limits.max_parts {
            return PartDecision::Refused(PartRefusal::TooManyParts {
                total,
                max: self.limits.max_parts,
            });
        }
        let splits = self.open.get(source).map_or(&[][..], Vec::as_slice);
        // The same T-ID before T-ID + 1: with two splits interleaved under
        // adjacent T-IDs, a part under its own split's T-ID is that split's.
        // And the newest first.
        let next = splits
            .iter()
            .rposition(|s| s.takes_next(part) && s.last_tid == part.tid)
            .or_else(|| splits.iter().rposition(|s| s.takes_next(part)));
        if let Some(i) = next {
            return self.take(source, i, part, now);
        }
        if let Some(done) = self.completed.get_mut(source).and_then(|done| {
            done.iter_mut()
                .find(|s| s.repeats_last(part) && s.last_payload == part.payload)
        }) {
            done.last_tid = part.tid;
            done.last_part_at = now;
            return PartDecision::Repeated { id: done.id };
        }
        if let Some(i) = splits.iter().position(|s| s.repeats_last(part)) {
            let same_bytes = splits[i].last_payload == part.payload;
            if same_bytes {
                let split = &mut self.open.get_mut(source).expect("found above")[i];
                split.last_tid = part.tid;
                split.last_part_at = now;
                return PartDecision::Repeated { id: split.id };
            }
            if current > 1 {
                return PartDecision::Refused(PartRefusal::RepeatDiffers { current, total });
            }
        }
        if current == 1 {
            return self.open_new(source, part, now);
        }
        let under_same_tid = splits.iter().find(|s| {
            s.total != total && (part.tid == s.last_tid || part.tid == s.last_tid.wrapping_add(1))
        });
        match under_same_tid {
            Some(s) => PartDecision::Refused(PartRefusal::TotalChanged {
                expected: s.total,
                got: total,
            }),
            None => PartDecision::Refused(PartRefusal::NotExpected {
                current,
                total,
                tid: part.tid,
            }),
        }
    }

    fn take(&mut self, source: &K, i: usize, part: &Part, now: i64) -> PartDecision {
        let splits = self.open.get_mut(source).expect("found by the caller");
        let split = &mut splits[i];
        let bytes = split.bytes + part.payload.len();
        if bytes > self.limits.max_bytes {
            return PartDecision::Refused(PartRefusal::TooLarge {
                bytes,
                max: self.limits.max_bytes,
            });
        }
        split.bytes = bytes;
        split.tids.push(part.tid);
        split.last_tid = part.tid;
        split.last_part_at = now;
        split.last_payload = Bytes::copy_from_slice(&part.payload);
        if split.received() < split.total {
            return PartDecision::Added { id: split.id };
        }
        let done = splits.remove(i);
        if splits.is_empty() {
            self.open.remove(source);
        }
        let recent = self.completed.entry(source.clone()).or_default();
        if recent.len() >= self.limits.max_open_per_source.max(1) {
            recent.remove(0);
        }
        recent.push(done.clone());
        PartDecision::Completed(done)
    }

    fn open_new(&mut self, source: &K, part: &Part, now: i64) -> PartDecision {
        if part.payload.len() > self.limits.max_bytes {
            return PartDecision::Refused(PartRefusal::TooLarge {
                bytes: part.payload.len(),
                max: self.limits.max_bytes,
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        let splits = self.open.entry(source.clone()).or_default();
        // An open split that would take this one's next part could never
        // be told apart from it again.
        let mut closed: Vec<OpenSplit> = Vec::new();
        splits.retain(|s| {
            let same = s.same_shape(part) && s.last_tid == part.tid;
            if same {
                closed.push(s.clone());
            }
            !same
        });
        if splits.len() >= self.limits.max_open_per_source.max(1) {
            closed.push(splits.remove(0));
        }
        splits.push(OpenSplit {
            id,
            total: part.total,
            report_type: part.report_type,
            media_type: part.media_type,
            tids: vec![part.tid],
            last_tid: part.tid,
            bytes: part.payload.len(),
            started_at: now,
            last_part_at: now,
            // A copy: a slice would keep the whole read buffer alive.
            last_payload: Bytes::copy_from_slice(&part.payload),
        });
        PartDecision::Opened { id, closed }
    }

    /// Closes and returns the splits whose last part is `expiry_ms` or more
    /// before `now`.
    pub fn expire(&mut self, now: i64) -> Vec<(K, OpenSplit)> {
        let expiry = self.limits.expiry_ms;
        self.completed.retain(|_, done| {
            done.retain(|s| now.saturating_sub(s.last_part_at) < expiry);
            !done.is_empty()
        });
        let mut closed = Vec::new();
        self.open.retain(|source, splits| {
            splits.retain(|s| {
                let keep = now.saturating_sub(s.last_part_at) < expiry;
                if !keep {
                    closed.push((source.clone(), s.clone()));
                }
                keep
            });
            !splits.is_empty()
        });
        closed.sort_by_key(|(_, s)| s.id);
        closed
    }

    /// Closes and returns every open split of `source` (its gateway was
    /// deregistered, say).
    pub fn close_source(&mut self, source: &K) -> Vec<OpenSplit> {
        self.completed.remove(source);
        self.open.remove(source).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
