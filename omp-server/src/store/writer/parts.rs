//! Split deliveries in the writer: the parts of a split are matched to
//! their split here, by the one task that writes deliveries, so that two
//! connections of one gateway (the client library opens one per request in
//! its Always-Off mode) cannot race on a split, and so that a part's
//! STATUS_OK waits for the commit of its row like any delivery's.
//!
//! [`Splits::plan`] decides what a part is with the
//! [`SplitTracker`] (a refusal is answered at once, nothing written);
//! [`Splits::apply`] writes the plan inside the batch's transaction. If
//! the transaction fails, the tracker is read back from the database,
//! which is the truth: nothing it had not committed is remembered.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use gmmp_codec::{OpenSplit, PartDecision, PartRefusal, SplitLimits, SplitTracker};

use super::{Committed, WriterMetrics};
use crate::error::StoreError;
use crate::store::Conn;
use crate::store::deliveries::DeliveryRow;
use crate::store::now_millis;
use crate::store::splits::{self, AbandonReason, PartRow, SplitSource};

/// What became of a part handed to the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartOutcome {
    /// Its row is committed; the split waits for more parts.
    Stored,
    /// The last part taken, sent again with the same bytes: held already.
    Repeated,
    /// The last part: the whole delivery is committed (or, keyed, was
    /// stored already).
    Completed(Committed),
    /// Fits no split; nothing was written and no split changed.
    Refused(PartRefusal),
}

/// A write the batch makes for one part.
#[derive(Debug)]
pub(super) enum PartWrite {
    Open(u64, PartRow),
    Add(u64, PartRow),
    Touch(u64, PartRow),
    Complete(OpenSplit, PartRow),
}

impl PartWrite {
    /// The part written.
    pub(super) fn part(&self) -> &PartRow {
        match self {
            PartWrite::Open(_, p)
            | PartWrite::Add(_, p)
            | PartWrite::Touch(_, p)
            | PartWrite::Complete(_, p) => p,
        }
    }
}

/// A split given up, to mark and log.
#[derive(Debug)]
pub(super) struct Abandoned {
    source: SplitSource,
    split: OpenSplit,
    reason: AbandonReason,
}

/// The tracker and what the logs need beside it.
pub(super) struct Splits {
    tracker: SplitTracker<SplitSource>,
    /// Address of each open split's latest sender.
    peers: HashMap<u64, String>,
}

impl Splits {
    /// The open splits as committed.
    pub(super) async fn load(
        conn: &mut Conn<'_>,
        limits: SplitLimits,
    ) -> Result<Splits, StoreError> {
        let (open, next_id) = splits::load_open(conn).await?;
        let mut tracker = SplitTracker::new(limits, next_id);
        for (source, split) in open {
            tracker.restore(source, split);
        }
        Ok(Splits {
            tracker,
            peers: HashMap::new(),
        })
    }

    /// Open splits now.
    pub(super) fn open_count(&self) -> usize {
        self.tracker.open_count()
    }

    /// Decides what `part` is. `Err` is the refusal to answer at once.
    pub(super) fn plan(
        &mut self,
        part: PartRow,
        abandoned: &mut Vec<Abandoned>,
    ) -> Result<PartWrite, PartRefusal> {
        let source = part.source();
        let decision = self.tracker.accept(&source, &part.part(), part.received_at);
        let write = match decision {
            PartDecision::Refused(why) => return Err(why),
            PartDecision::Opened { id, closed } => {
                abandoned.extend(closed.into_iter().map(|split| Abandoned {
                    source: source.clone(),
                    split,
                    reason: AbandonReason::Superseded,
                }));
                PartWrite::Open(id, part)
            }
            PartDecision::Added { id } => PartWrite::Add(id, part),
            PartDecision::Repeated { id } => PartWrite::Touch(id, part),
            PartDecision::Completed(split) => PartWrite::Complete(split, part),
        };
        match &write {
            PartWrite::Open(id, p) | PartWrite::Add(id, p) | PartWrite::Touch(id, p) => {
                self.peers.insert(*id, p.peer.clone());
            }
            PartWrite::Complete(split, _) => {
                self.peers.remove(&split.id);
            }
        }
        Ok(write)
    }

    /// Splits whose last part is older than the expiry.
    pub(super) fn expire(&mut self, abandoned: &mut Vec<Abandoned>) {
        for (source, split) in self.tracker.expire(now_millis()) {
            abandoned.push(Abandoned {
                source,
                split,
                reason: AbandonReason::Expired,
            });
        }
    }

    /// Writes `writes` and `abandoned` inside the caller's transaction;
    /// returns the deliveries the completed splits make, in order.
    pub(super) async fn apply(
        conn: &mut Conn<'_>,
        writes: &[PartWrite],
        abandoned: &[Abandoned],
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let mut whole = Vec::new();
        for write in writes {
            match write {
                PartWrite::Open(id, part) => splits::open(conn, *id, part).await?,
                PartWrite::Add(id, part) => splits::add(conn, *id, part).await?,
                PartWrite::Touch(id, part) => splits::touch(conn, *id, part).await?,
                PartWrite::Complete(split, part) => {
                    whole.push(splits::complete(conn, split, part).await?);
                }
            }
        }
        let now = now_millis();
        for a in abandoned {
            splits::abandon(conn, a.split.id, a.reason, now).await?;
        }
        Ok(whole)
    }

    /// After a commit: count, and log what was given up.
    pub(super) fn committed(
        &mut self,
        writes: &[PartWrite],
        abandoned: &[Abandoned],
        metrics: &WriterMetrics,
    ) {
        let count = |c: &std::sync::atomic::AtomicU64, n: usize| {
            c.fetch_add(n as u64, Ordering::Relaxed);
        };
        for write in writes {
            match write {
                PartWrite::Open(..) | PartWrite::Add(..) => count(&metrics.split_parts_stored, 1),
                PartWrite::Touch(..) => count(&metrics.split_parts_repeated, 1),
                PartWrite::Complete(..) => {
                    count(&metrics.split_parts_stored, 1);
                    count(&metrics.splits_completed, 1);
                }
            }
        }
        count(&metrics.splits_abandoned, abandoned.len());
        for a in abandoned {
            let peer = self.peers.remove(&a.split.id).unwrap_or_default();
            tracing::warn!(%peer, gw_id = %a.source.0, device_id = %a.source.1,
                split_id = a.split.id, tids = ?a.split.tids, parts = a.split.tids.len(),
                total = a.split.total, bytes = a.split.bytes, reason = a.reason.as_str(),
                "split delivery abandoned before its last part; the parts stay readable as an \
                 incomplete delivery (GET /api/v1/gateways/{{gw_id}}/deliveries/incomplete)");
        }
        metrics
            .splits_open
            .store(self.open_count() as u64, Ordering::Relaxed);
    }
}
