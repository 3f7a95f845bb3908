//! The fault run's accounting, without IO: what the producer was told,
//! what the agent reported dropped or set aside, what is still in its
//! spool, and the rows the OMP stored, sorted into one verdict per
//! produced delivery.
//!
//! Every payload names its delivery: `fault-run 0000000042 ` followed by
//! filler derived from that number, so a stored row can be checked byte
//! for byte ([`payload`], [`seq_of`]).
//!
//! A *produced* delivery is one the agent answered `ok <seq>` for on its
//! data socket (it was fsynced in the spool). Each ends up in exactly one
//! class of [`Tally`]: stored (once, or more: `duplicated`), dropped by
//! the spool's policy and not stored, dropped yet stored anyway (it was in
//! flight, or the agent was killed between recording the drop and
//! dropping), set aside as refused by the OMP, still in the spool when the
//! run ended, or `lost` — none of these, the one class that must stay
//! empty.

use std::collections::{BTreeMap, BTreeSet};

/// Start of every payload of a fault run.
pub const PREFIX: &str = "fault-run ";
/// Digits of the delivery number in the payload.
const DIGITS: usize = 10;

/// Shortest payload: the prefix, the number and a space.
pub const MIN_PAYLOAD: usize = PREFIX.len() + DIGITS + 1;

/// The payload of delivery `seq`, `len` bytes long (at least
/// [`MIN_PAYLOAD`]).
pub fn payload(seq: u64, len: usize) -> Vec<u8> {
    let mut out = format!("{PREFIX}{seq:0DIGITS$} ").into_bytes();
    let mut i = 0u64;
    while out.len() < len {
        out.push(b'a' + ((seq.wrapping_mul(7).wrapping_add(i)) % 26) as u8);
        i += 1;
    }
    out
}

/// The delivery number a payload names, if it is one of ours.
pub fn seq_of(bytes: &[u8]) -> Option<u64> {
    let rest = bytes.strip_prefix(PREFIX.as_bytes())?;
    let digits = rest.get(..DIGITS)?;
    if rest.get(DIGITS) != Some(&b' ') || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// What the producer saw on the agent's data socket.
#[derive(Debug, Default, Clone)]
pub struct Produced {
    /// Answered `ok <spool seq>`: the agent has it on disk.
    pub confirmed: BTreeSet<u64>,
    /// Written, but the agent died before answering: not promised.
    pub unconfirmed: BTreeSet<u64>,
    /// Answered `error …`, with the reason.
    pub refused: BTreeMap<u64, String>,
}

/// What the agent itself reported and kept.
#[derive(Debug, Default, Clone)]
pub struct AgentRecords {
    /// Deliveries named in `dropped.jsonl` (drop-oldest policy).
    pub dropped: BTreeSet<u64>,
    /// Deliveries named in `rejected.jsonl` (refused by the OMP for good).
    pub rejected: BTreeSet<u64>,
    /// Deliveries still pending in the spool at the end.
    pub spooled: BTreeSet<u64>,
    /// Lines of those files that could not be read (a torn last line).
    pub unreadable_lines: usize,
}

/// One row of the OMP's `deliveries` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The GW ID it was stored under.
    pub gw_id: String,
    /// The T-ID of the request that carried it.
    pub tid: i64,
    /// When the OMP received it, Unix ms.
    pub received_at: i64,
    /// The payload as stored.
    pub payload: Vec<u8>,
}

/// A delivery stored more than once: its copies as (T-ID, received at,
/// Unix ms), in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The delivery's number.
    pub seq: u64,
    /// Its rows.
    pub copies: Vec<(i64, i64)>,
}

/// The verdict of a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Deliveries the agent confirmed.
    pub produced: usize,
    /// Produced and stored exactly once.
    pub stored_once: usize,
    /// Produced and stored more than once (at-least-once re-sends).
    pub duplicated: usize,
    /// Rows beyond the first of duplicated deliveries.
    pub extra_rows: usize,
    /// Duplicated deliveries whose copies share one T-ID.
    pub duplicated_same_tid: usize,
    /// The duplicated deliveries and their copies.
    pub duplicates: Vec<Duplicate>,
    /// Reported dropped by the spool policy, not stored.
    pub dropped: usize,
    /// Reported dropped, stored anyway.
    pub dropped_but_stored: usize,
    /// Set aside in `rejected.jsonl`, not stored.
    pub rejected: usize,
    /// Still in the spool at the end, not stored.
    pub spooled: usize,
    /// None of the above: must be empty.
    pub lost: Vec<u64>,
    /// Unconfirmed deliveries (the agent was killed before answering)
    /// that were stored all the same.
    pub unconfirmed_stored: usize,
    /// Unconfirmed deliveries in total.
    pub unconfirmed: usize,
    /// Lines the agent refused (`error …`).
    pub refused: usize,
    /// Rows whose payload differs from the one their number names, or
    /// that name no delivery the producer wrote: must be 0.
    pub corrupt_rows: usize,
    /// Rows stored in total.
    pub rows: usize,
    /// Distinct GW IDs among the rows.
    pub gw_ids: usize,
    /// Produced deliveries whose first copy was stored after a higher
    /// numbered one's (re-sends after a reconnect go first, so this can
    /// happen; counted, not a fault).
    pub out_of_order: usize,
}

impl Tally {
    /// Sorts every produced delivery into its class.
    pub fn new(
        produced: &Produced,
        records: &AgentRecords,
        rows: &[Row],
        payload_len: usize,
    ) -> Tally {
        let mut copies: BTreeMap<u64, Vec<(i64, i64)>> = BTreeMap::new();
        let mut first_order = Vec::new();
        let mut corrupt_rows = 0;
        let written = |seq: &u64| {
            produced.confirmed.contains(seq)
                || produced.unconfirmed.contains(seq)
                || produced.refused.contains_key(seq)
        };
        for row in rows {
            match seq_of(&row.payload) {
                Some(seq) if written(&seq) && row.payload == payload(seq, payload_len) => {
                    let tids = copies.entry(seq).or_default();
                    if tids.is_empty() {
                        first_order.push(seq);
                    }
                    tids.push((row.tid, row.received_at));
                }
                _ => corrupt_rows += 1,
            }
        }
        let gw_ids: BTreeSet<&str> = rows.iter().map(|r| r.gw_id.as_str()).collect();
        let mut t = Tally {
            produced: produced.confirmed.len(),
            unconfirmed: produced.unconfirmed.len(),
            refused: produced.refused.len(),
            corrupt_rows,
            rows: rows.len(),
            gw_ids: gw_ids.len(),
            ..Tally::default()
        };
        for seq in &produced.confirmed {
            let stored = copies.get(seq).map_or(&[][..], Vec::as_slice);
            if records.dropped.contains(seq) {
                if stored.is_empty() {
                    t.dropped += 1;
                } else {
                    t.dropped_but_stored += 1;
                }
                continue;
            }
            match stored.len() {
                0 if records.rejected.contains(seq) => t.rejected += 1,
                0 if records.spooled.contains(seq) => t.spooled += 1,
                0 => t.lost.push(*seq),
                1 => t.stored_once += 1,
                n => {
                    t.duplicated += 1;
                    t.extra_rows += n - 1;
                    if stored.iter().all(|(tid, _)| *tid == stored[0].0) {
                        t.duplicated_same_tid += 1;
                    }
                    t.duplicates.push(Duplicate {
                        seq: *seq,
                        copies: stored.to_vec(),
                    });
                }
            }
        }
        t.unconfirmed_stored = produced
            .unconfirmed
            .iter()
            .filter(|s| copies.contains_key(s))
            .count();
        let confirmed_order: Vec<u64> = first_order
            .into_iter()
            .filter(|s| produced.confirmed.contains(s))
            .collect();
        let mut highest = None;
        for seq in confirmed_order {
            if highest.is_some_and(|h| seq < h) {
                t.out_of_order += 1;
            }
            highest = highest.max(Some(seq));
        }
        t
    }

    /// Every produced delivery is in exactly one class.
    pub fn balances(&self) -> bool {
        self.stored_once
            + self.duplicated
            + self.dropped
            + self.dropped_but_stored
            + self.rejected
            + self.spooled
            + self.lost.len()
            == self.produced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: usize = 40;

    fn row(seq: u64, tid: i64) -> Row {
        Row {
            gw_id: "SC10010001".into(),
            tid,
            received_at: 1_000 + tid,
            payload: payload(seq, LEN),
        }
    }

    #[test]
    fn payloads_name_their_delivery_and_nothing_else_does() {
        let p = payload(42, LEN);
        assert_eq!(p.len(), LEN);
        assert!(p.starts_with(b"fault-run 0000000042 "));
        assert_eq!(seq_of(&p), Some(42));
        assert_eq!(
            payload(42, 0).len(),
            MIN_PAYLOAD,
            "never shorter than its name"
        );
        assert_ne!(payload(42, LEN), payload(43, LEN)[..].to_vec());
        assert_eq!(seq_of(b"fault-run 00000000x2 abc"), None);
        assert_eq!(seq_of(b"fault-run 0000000042"), None);
        assert_eq!(seq_of(b"25.3C"), None);
    }

    #[test]
    fn each_produced_delivery_gets_one_class() {
        let produced = Produced {
            confirmed: (1..=8).collect(),
            unconfirmed: [9, 10].into(),
            refused: [(11, "spool full".to_string())].into(),
        };
        let records = AgentRecords {
            dropped: [3, 4].into(),
            rejected: [5].into(),
            spooled: [6].into(),
            unreadable_lines: 0,
        };
        let mut corrupt = row(2, 99);
        corrupt.payload[LEN - 1] ^= 1;
        let rows = vec![
            row(1, 10),
            row(2, 11),
            row(2, 12), // re-sent under a new T-ID
            row(4, 13), // dropped while in flight, stored anyway
            row(9, 14), // unconfirmed, stored
            corrupt,
            Row {
                gw_id: "SC10010002".into(),
                tid: 1,
                received_at: 0,
                payload: b"someone else's".to_vec(),
            },
        ];
        let t = Tally::new(&produced, &records, &rows, LEN);
        assert_eq!(t.produced, 8);
        assert_eq!(t.stored_once, 1);
        assert_eq!(
            (t.duplicated, t.extra_rows, t.duplicated_same_tid),
            (1, 1, 0)
        );
        assert_eq!(
            t.duplicates,
            [Duplicate {
                seq: 2,
                copies: vec![(11, 1_011), (12, 1_012)]
            }]
        );
        assert_eq!((t.dropped, t.dropped_but_stored), (1, 1));
        assert_eq!((t.rejected, t.spooled), (1, 1));
        assert_eq!(t.lost, [7, 8]);
        assert_eq!((t.unconfirmed, t.unconfirmed_stored, t.refused), (2, 1, 1));
        assert_eq!(t.corrupt_rows, 2);
        assert_eq!((t.rows, t.gw_ids), (7, 2));
        assert!(t.balances());
    }

    #[test]
    fn a_late_first_copy_counts_as_out_of_order() {
        let produced = Produced {
            confirmed: (1..=3).collect(),
            ..Produced::default()
        };
        let rows = vec![row(2, 1), row(1, 2), row(3, 3)];
        let t = Tally::new(&produced, &AgentRecords::default(), &rows, LEN);
        assert_eq!((t.stored_once, t.out_of_order), (3, 1));
        assert!(t.lost.is_empty());
    }
}
