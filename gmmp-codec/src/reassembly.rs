//! Splitting payloads over 2048 bytes into parts, and putting them back.
//!
//! A split message is a run of frames with the same T-ID, `total_count = N`
//! and `current_count = 1..=N`, each carrying up to 2048 bytes of the
//! payload (docs/gmmp.md §6.6). [`split`] makes those frames; a [`Reassembler`]
//! (sans-IO: the caller passes the time in) collects the parts of each
//! `(auth_id, tid)` and hands back the whole payload once every part is
//! there. It enforces limits a hostile peer cannot exceed: parts per
//! message, bytes per message, incomplete messages held at once, and how
//! long an incomplete message is kept.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::error::CodecError;
use crate::fixed_str::AuthId;
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

/// Limits of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Most parts one message may have.
    pub max_parts: u16,
    /// Most payload bytes one message may have once reassembled.
    pub max_message_bytes: usize,
    /// Most incomplete messages held at once (over all peers sharing this
    /// reassembler).
    pub max_incomplete: usize,
    /// How long an incomplete message is kept after its last part.
    pub expiry: Duration,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_parts: 64,
            max_message_bytes: 64 * MAX_PAYLOAD_LEN,
            max_incomplete: 64,
            expiry: Duration::from_secs(120),
        }
    }
}

/// Why a part was refused. The incomplete message it belonged to is
/// dropped, so a peer cannot wedge a half-message forever.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    /// `current_count` is 0 or above `total_count`, or `total_count` is 0.
    #[error("part {current} of {total} is out of range")]
    OutOfRange {
        /// The part number received.
        current: u16,
        /// The total received.
        total: u16,
    },
    /// The same part number arrived twice.
    #[error("part {current} of {total} arrived twice")]
    Duplicate {
        /// The part number received.
        current: u16,
        /// The total.
        total: u16,
    },
    /// A later part names a different total from the first part.
    #[error("part says {got} parts but the message started with {expected}")]
    TotalChanged {
        /// The total of the first part.
        expected: u16,
        /// The total of this part.
        got: u16,
    },
    /// More parts than allowed.
    #[error("message of {total} parts exceeds the limit of {max}")]
    TooManyParts {
        /// Parts announced.
        total: u16,
        /// The limit.
        max: u16,
    },
    /// More bytes than allowed.
    #[error("message of {bytes} bytes so far exceeds the limit of {max}")]
    TooLarge {
        /// Bytes collected with this part.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Too many incomplete messages are held already.
    #[error("{max} incomplete split messages are pending already")]
    TooManyIncomplete {
        /// The limit.
        max: usize,
    },
}

#[derive(Debug)]
struct Incomplete {
    total: u16,
    parts: Vec<Option<Bytes>>,
    bytes: usize,
    received: u16,
    last_seen: Instant,
}

/// Collects the parts of split messages, keyed by `(auth_id, tid)`.
#[derive(Debug)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    incomplete: HashMap<(AuthId, u32), Incomplete>,
}

impl Reassembler {
    /// A reassembler with these limits.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits,
            incomplete: HashMap::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &ReassemblyLimits {
        &self.limits
    }

    /// Number of incomplete messages held.
    pub fn incomplete(&self) -> usize {
        self.incomplete.len()
    }

    /// Adds part `current` of `total` of the message `(auth_id, tid)`.
    /// Returns the whole payload when this part completes it. A message of
    /// one part is returned at once and never stored.
    pub fn push(
        &mut self,
        auth_id: AuthId,
        tid: u32,
        current: u16,
        total: u16,
        part: Bytes,
        now: Instant,
    ) -> Result<Option<Bytes>, ReassemblyError> {
        let key = (auth_id, tid);
        if total == 0 || current == 0 || current > total {
            self.incomplete.remove(&key);
            return Err(ReassemblyError::OutOfRange { current, total });
        }
        if total == 1 {
            return Ok(Some(part));
        }
        if total > self.limits.max_parts {
            self.incomplete.remove(&key);
            return Err(ReassemblyError::TooManyParts {
                total,
                max: self.limits.max_parts,
            });
        }
        if !self.incomplete.contains_key(&key) {
            self.expire(now);
            if self.incomplete.len() >= self.limits.max_incomplete {
                return Err(ReassemblyError::TooManyIncomplete {
                    max: self.limits.max_incomplete,
                });
            }
        }
        let entry = self.incomplete.entry(key).or_insert_with(|| Incomplete {
            total,
            parts: vec![None; total as usize],
            bytes: 0,
            received: 0,
            last_seen: now,
        });
        let refusal = if entry.total != total {
            Some(ReassemblyError::TotalChanged {
                expected: entry.total,
                got: total,
            })
        } else if entry.parts[current as usize - 1].is_some() {
            Some(ReassemblyError::Duplicate { current, total })
        } else if entry.bytes + part.len() > self.limits.max_message_bytes {
            Some(ReassemblyError::TooLarge {
                bytes: entry.bytes + part.len(),
                max: self.limits.max_message_bytes,
            })
        } else {
            None
        };
        if let Some(err) = refusal {
            self.incomplete.remove(&key);
            return Err(err);
        }
        entry.bytes += part.len();
        entry.received += 1;
        entry.last_seen = now;
        entry.parts[current as usize - 1] = Some(part);
        if entry.received < entry.total {
            return Ok(None);
        }
        let done = self.incomplete.remove(&key);
        let mut whole = BytesMut::with_capacity(done.as_ref().map_or(0, |d| d.bytes));
        for part in done.into_iter().flat_map(|d| d.parts).flatten() {
            whole.extend_from_slice(&part);
        }
        Ok(Some(whole.freeze()))
    }

    /// Drops incomplete messages not added to within the expiry time;
    /// returns how many were dropped.
    pub fn expire(&mut self, now: Instant) -> usize {
        let before = self.incomplete.len();
        let expiry = self.limits.expiry;
        self.incomplete
            .retain(|_, m| now.saturating_duration_since(m.last_seen) < expiry);
        before - self.incomplete.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed_str::FixedStr;
    use crate::header::Header;
    use crate::message::DeliveryRequest;

    fn id(s: &str) -> AuthId {
        FixedStr::new("auth_id", s).unwrap()
    }

    fn delivery(payload: Bytes) -> Frame {
        Frame::new(
            Header::new(id("gw"), AuthId::EMPTY, 7),
            DeliveryRequest {
                domain_code: FixedStr::new("domain_code", "ThingPlug").unwrap(),
                gw_id: FixedStr::new("gw_id", "SC10010254").unwrap(),
                device_id: FixedStr::EMPTY,
                report_type: 1.into(),
                media_type: 1,
                payload,
            },
        )
    }

    #[test]
    fn split_then_reassemble_gives_the_payload_back() {
        let payload: Bytes = (0..5000u32).map(|i| i as u8).collect::<Vec<_>>().into();
        let parts = split(&delivery(payload.clone())).unwrap();
        assert_eq!(parts.len(), 3);
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let now = Instant::now();
        let mut out = None;
        // Out of order on purpose.
        for i in [2usize, 0, 1] {
            let p = &parts[i];
            assert_eq!(p.header.tid, 7);
            assert_eq!(p.header.total_count, 3);
            assert_eq!(p.header.current_count, i as u16 + 1);
            let bytes = p.message.payload().unwrap().clone();
            assert!(bytes.len() <= MAX_PAYLOAD_LEN);
            out = r
                .push(id("gw"), 7, p.header.current_count, 3, bytes, now)
                .unwrap();
        }
        assert_eq!(out.unwrap(), payload);
        assert_eq!(r.incomplete(), 0);
    }

    #[test]
    fn small_payload_is_one_part() {
        let parts = split(&delivery(Bytes::from_static(b"abc"))).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].header.total_count, 1);
        let exact = split(&delivery(Bytes::from(vec![0; MAX_PAYLOAD_LEN]))).unwrap();
        assert_eq!(exact.len(), 1);
    }

    #[test]
    fn out_of_range_and_duplicate_parts_are_refused() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let now = Instant::now();
        let b = Bytes::from_static(b"x");
        assert_eq!(
            r.push(id("a"), 1, 0, 2, b.clone(), now),
            Err(ReassemblyError::OutOfRange {
                current: 0,
                total: 2
            })
        );
        assert_eq!(
            r.push(id("a"), 1, 3, 2, b.clone(), now),
            Err(ReassemblyError::OutOfRange {
                current: 3,
                total: 2
            })
        );
        assert_eq!(r.push(id("a"), 1, 1, 2, b.clone(), now), Ok(None));
        assert_eq!(
            r.push(id("a"), 1, 1, 2, b.clone(), now),
            Err(ReassemblyError::Duplicate {
                current: 1,
                total: 2
            })
        );
        assert_eq!(r.incomplete(), 0, "a refused part drops its message");
        assert_eq!(r.push(id("a"), 1, 1, 2, b.clone(), now), Ok(None));
        assert_eq!(
            r.push(id("a"), 1, 2, 3, b, now),
            Err(ReassemblyError::TotalChanged {
                expected: 2,
                got: 3
            })
        );
    }

    #[test]
    fn limits_hold_against_a_hostile_peer() {
        let limits = ReassemblyLimits {
            max_parts: 4,
            max_message_bytes: 10,
            max_incomplete: 2,
            expiry: Duration::from_secs(5),
        };
        let mut r = Reassembler::new(limits);
        let now = Instant::now();
        let b = Bytes::from_static(b"123456");
        assert_eq!(
            r.push(id("a"), 1, 1, 5, b.clone(), now),
            Err(ReassemblyError::TooManyParts { total: 5, max: 4 })
        );
        assert_eq!(r.push(id("a"), 1, 1, 3, b.clone(), now), Ok(None));
        assert_eq!(
            r.push(id("a"), 1, 2, 3, b.clone(), now),
            Err(ReassemblyError::TooLarge { bytes: 12, max: 10 })
        );
        assert_eq!(r.push(id("a"), 2, 1, 2, b.clone(), now), Ok(None));
        assert_eq!(r.push(id("a"), 3, 1, 2, b.clone(), now), Ok(None));
        assert_eq!(
            r.push(id("a"), 4, 1, 2, b.clone(), now),
            Err(ReassemblyError::TooManyIncomplete { max: 2 })
        );
        // Once the old ones expire there is room again.
        let later = now + Duration::from_secs(6);
        assert_eq!(r.push(id("a"), 4, 1, 2, b, later), Ok(None));
        assert_eq!(r.incomplete(), 1);
    }

    #[test]
    fn same_tid_from_different_gateways_does_not_mix() {
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let now = Instant::now();
        assert_eq!(
            r.push(id("a"), 9, 1, 2, Bytes::from_static(b"A1"), now),
            Ok(None)
        );
        assert_eq!(
            r.push(id("b"), 9, 1, 2, Bytes::from_static(b"B1"), now),
            Ok(None)
        );
        assert_eq!(
            r.push(id("a"), 9, 2, 2, Bytes::from_static(b"A2"), now),
            Ok(Some(Bytes::from_static(b"A1A2")))
        );
        assert_eq!(
            r.push(id("b"), 9, 2, 2, Bytes::from_static(b"B2"), now),
            Ok(Some(Bytes::from_static(b"B1B2")))
        );
    }
}
