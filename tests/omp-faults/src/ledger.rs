//! What the simulated gateways did, for the checker: per gateway and
//! sequence number, how often the delivery was sent, how each attempt
//! ended, and whether the OMP acknowledged it (rc 0). Plus [`Counters`],
//! the live totals the scenarios watch to time their faults.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// One delivery (one sequence number) of one gateway.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeqRecord {
    /// Times it was written to a session.
    pub attempts: u32,
    /// Attempts whose session died before the answer (the OMP may or may
    /// not have stored them).
    pub unanswered: u32,
    /// Attempts answered with an rc other than 0 (the OMP said: not
    /// stored).
    pub error_rcs: u32,
    /// Answered rc 0 once (the OMP said: stored). Never sent again after.
    pub acked: bool,
}

/// Everything one gateway recorded.
#[derive(Debug, Default, Clone)]
pub struct GatewayLedger {
    /// The gateway's index (the `g=` of its payloads).
    pub index: u32,
    /// The GW IDs the OMP gave it (one, unless registration changed it).
    pub gw_ids: BTreeSet<String>,
    /// By sequence number.
    pub seqs: Vec<SeqRecord>,
    /// Sessions registered (1 + reconnects).
    pub sessions: u64,
    /// Connects or registrations that failed.
    pub connect_failures: u64,
    /// The last session error, for the report.
    pub last_error: Option<String>,
}

impl GatewayLedger {
    /// An empty ledger for gateway `index`.
    pub fn new(index: u32) -> Self {
        GatewayLedger {
            index,
            ..GatewayLedger::default()
        }
    }

    /// The record of `seq`, created (with those before it) if new.
    pub fn record(&mut self, seq: u64) -> &mut SeqRecord {
        let i = seq as usize;
        if self.seqs.len() <= i {
            self.seqs.resize(i + 1, SeqRecord::default());
        }
        &mut self.seqs[i]
    }
}

/// Live totals over all gateways of a run.
#[derive(Debug)]
pub struct Counters {
    /// Deliveries written to a session.
    pub attempts: AtomicU64,
    /// Answered rc 0.
    pub acked: AtomicU64,
    /// Answered another rc.
    pub error_rcs: AtomicU64,
    /// Lost with their session.
    pub unanswered: AtomicU64,
    /// Sessions registered.
    pub sessions: AtomicU64,
    /// Failed connects or registrations.
    pub connect_failures: AtomicU64,
    /// Answers by result code.
    pub by_rc: [AtomicU64; 256],
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            attempts: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            error_rcs: AtomicU64::new(0),
            unanswered: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            by_rc: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A copy of [`Counters`] at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// See [`Counters::attempts`].
    pub attempts: u64,
    /// See [`Counters::acked`].
    pub acked: u64,
    /// See [`Counters::error_rcs`].
    pub error_rcs: u64,
    /// See [`Counters::unanswered`].
    pub unanswered: u64,
    /// See [`Counters::sessions`].
    pub sessions: u64,
    /// See [`Counters::connect_failures`].
    pub connect_failures: u64,
}

impl Counters {
    /// The totals now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            attempts: self.attempts.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            error_rcs: self.error_rcs.load(Ordering::Relaxed),
            unanswered: self.unanswered.load(Ordering::Relaxed),
            sessions: self.sessions.load(Ordering::Relaxed),
            connect_failures: self.connect_failures.load(Ordering::Relaxed),
        }
    }

    /// Answers by rc as `0x00:123,0x0c:4` (codes seen only).
    pub fn rc_text(&self) -> String {
        let parts: Vec<String> = self
            .by_rc
            .iter()
            .enumerate()
            .filter_map(|(rc, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then(|| format!("0x{rc:02x}:{n}"))
            })
            .collect();
        parts.join(",")
    }
}

impl Snapshot {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            attempts: self.attempts.saturating_sub(earlier.attempts),
            acked: self.acked.saturating_sub(earlier.acked),
            error_rcs: self.error_rcs.saturating_sub(earlier.error_rcs),
            unanswered: self.unanswered.saturating_sub(earlier.unanswered),
            sessions: self.sessions.saturating_sub(earlier.sessions),
            connect_failures: self
                .connect_failures
                .saturating_sub(earlier.connect_failures),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_grows_the_ledger() {
        let mut l = GatewayLedger::new(3);
        l.record(4).attempts += 1;
        assert_eq!(l.seqs.len(), 5);
        assert_eq!(l.seqs[4].attempts, 1);
        assert_eq!(l.seqs[0], SeqRecord::default());
    }

    #[test]
    fn rc_text_lists_seen_codes() {
        let c = Counters::default();
        c.by_rc[0].fetch_add(5, Ordering::Relaxed);
        c.by_rc[0x0c].fetch_add(2, Ordering::Relaxed);
        assert_eq!(c.rc_text(), "0x00:5,0x0c:2");
    }
}
