//! Tables `delivery_splits` and `delivery_parts`: split deliveries held
//! part by part (migration 0005).
//!
//! Written only by the group-commit [`writer`](super::writer), which owns
//! the [`SplitTracker`](gmmp_codec::SplitTracker) that matches parts to
//! splits: every part answered STATUS_OK is a committed row here, and the
//! last part's transaction assembles the delivery into `deliveries` and
//! removes the split. An open split survives a restart ([`load_open`]
//! hands it back to the tracker); one that never completes is marked
//! `abandoned` and stays readable through [`incomplete`]. The write
//! functions take the caller's connection inside its transaction, as the
//! writer's; they are public so the store can be exercised without it.

use bytes::Bytes;
use gmmp_codec::OpenSplit;

use crate::error::StoreError;
use crate::store::deliveries::DeliveryRow;
use crate::store::{Backend, Conn, Db};
use crate::{on_conn, on_db};

/// Where a split comes from: GW ID and device ID (`''` for the GW).
pub type SplitSource = (String, String);

/// One part of a split delivery, as a session hands it to the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRow {
    /// GW ID (`SC…`).
    pub gw_id: String,
    /// Device ID, `''` for the GW itself.
    pub device_id: String,
    /// report_type byte.
    pub report_type: u8,
    /// media_type byte.
    pub media_type: u8,
    /// Header T-ID.
    pub tid: u32,
    /// Header current_count.
    pub current: u16,
    /// Header total_count.
    pub total: u16,
    /// Header origin_timestamp, Unix seconds as sent.
    pub origin_timestamp: u32,
    /// Receive time, Unix ms.
    pub received_at: i64,
    /// Header encryption_flag as received.
    pub encryption_flag: u8,
    /// This part's payload.
    pub payload: Bytes,
    /// The sender marked it keyed.
    pub keyed: bool,
    /// The sender's address, for the logs.
    pub peer: String,
}

impl PartRow {
    /// Its source for the tracker.
    pub fn source(&self) -> SplitSource {
        (self.gw_id.clone(), self.device_id.clone())
    }

    /// What the tracker matches on.
    pub fn part(&self) -> gmmp_codec::Part {
        gmmp_codec::Part {
            tid: self.tid,
            current: self.current,
            total: self.total,
            report_type: self.report_type,
            media_type: self.media_type,
            payload: self.payload.clone(),
        }
    }
}

/// Why a split was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbandonReason {
    /// No part for the split expiry time.
    Expired,
    /// Its source opened more splits than it may hold at once.
    Superseded,
}

impl AbandonReason {
    /// As stored and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AbandonReason::Expired => "expired",
            AbandonReason::Superseded => "superseded",
        }
    }
}

/// Opens split `id` with its part 1.
pub async fn open(conn: &mut Conn<'_>, id: u64, part: &PartRow) -> Result<(), StoreError> {
    on_conn!(conn, c => {
        sqlx::query(
            "INSERT INTO delivery_splits (id, gw_id, device_id, report_type, media_type,
                 encryption_flag, keyed, total_count, origin_timestamp, last_tid, state, peer,
                 started_at, last_part_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', $11, $12, $13)",
        )
        .bind(id as i64)
        .bind(&part.gw_id)
        .bind(&part.device_id)
        .bind(i64::from(part.report_type))
        .bind(i64::from(part.media_type))
        .bind(i64::from(part.encryption_flag))
        .bind(i64::from(part.keyed))
        .bind(i64::from(part.total))
        .bind(i64::from(part.origin_timestamp))
        .bind(i64::from(part.tid))
        .bind(&part.peer)
        .bind(part.received_at)
        .bind(part.received_at)
        .execute(c)
        .await
        .map(drop)
    })?;
    insert_part(conn, id, part).await
}

/// Adds the next part to open split `id`.
pub async fn add(conn: &mut Conn<'_>, id: u64, part: &PartRow) -> Result<(), StoreError> {
    insert_part(conn, id, part).await?;
    touch(conn, id, part).await
}

/// Records that `part` repeated the last part of split `id` (its T-ID is
/// what the next part follows).
pub async fn touch(conn: &mut Conn<'_>, id: u64, part: &PartRow) -> Result<(), StoreError> {
    on_conn!(conn, c => {
        sqlx::query(
            "UPDATE delivery_splits SET last_tid = $1, last_part_at = $2, peer = $3
             WHERE id = $4 AND state = 'open'",
        )
        .bind(i64::from(part.tid))
        .bind(part.received_at)
        .bind(&part.peer)
        .bind(id as i64)
        .execute(c)
        .await
        .map(drop)
    })?;
    Ok(())
}

async fn insert_part(conn: &mut Conn<'_>, id: u64, part: &PartRow) -> Result<(), StoreError> {
    on_conn!(conn, c => {
        sqlx::query(
            "INSERT INTO delivery_parts (split_id, current_count, tid, received_at, payload)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id as i64)
        .bind(i64::from(part.current))
        .bind(i64::from(part.tid))
        .bind(part.received_at)
        .bind(part.payload.as_ref())
        .execute(c)
        .await
        .map(drop)
    })?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct SplitHead {
    gw_id: String,
    device_id: String,
    report_type: i64,
    media_type: i64,
    encryption_flag: i64,
    // 0/1: PostgreSQL's BIGINT does not decode as `bool`.
    keyed: i64,
    origin_timestamp: i64,
}

/// Completes split `id` with its last part: returns the whole delivery
/// (parts in order, part 1's T-ID, origin_timestamp, encryption flag) and
/// removes the split and its parts. The caller inserts the delivery in the
/// same transaction.
pub async fn complete(
    conn: &mut Conn<'_>,
    split: &OpenSplit,
    last: &PartRow,
) -> Result<DeliveryRow, StoreError> {
    let id = split.id as i64;
    let (head, parts) = on_conn!(conn, c => {
        let head: SplitHead = sqlx::query_as(
            "SELECT gw_id, device_id, report_type, media_type, encryption_flag, keyed,
                 origin_timestamp
             FROM delivery_splits WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *c)
        .await?;
        let parts: Vec<(Vec<u8>,)> = sqlx::query_as(
            "SELECT payload FROM delivery_parts WHERE split_id = $1 ORDER BY current_count",
        )
        .bind(id)
        .fetch_all(&mut *c)
        .await?;
        sqlx::query("DELETE FROM delivery_parts WHERE split_id = $1")
            .bind(id)
            .execute(&mut *c)
            .await?;
        sqlx::query("DELETE FROM delivery_splits WHERE id = $1")
            .bind(id)
            .execute(&mut *c)
            .await?;
        (head, parts)
    });
    let mut payload = Vec::with_capacity(split.bytes);
    for (bytes,) in &parts {
        payload.extend_from_slice(bytes);
    }
    payload.extend_from_slice(&last.payload);
    let narrow = |field: &'static str, value: i64| StoreError::BadStoredValue {
        field,
        value: value.to_string(),
    };
    Ok(DeliveryRow {
        gw_id: head.gw_id,
        device_id: head.device_id,
        report_type: u8::try_from(head.report_type)
            .map_err(|_| narrow("report_type", head.report_type))?,
        media_type: u8::try_from(head.media_type)
            .map_err(|_| narrow("media_type", head.media_type))?,
        tid: split.tids.first().copied().unwrap_or(last.tid),
        origin_timestamp: u32::try_from(head.origin_timestamp)
            .map_err(|_| narrow("origin_timestamp", head.origin_timestamp))?,
        received_at: last.received_at,
        encryption_flag: u8::try_from(head.encryption_flag)
            .map_err(|_| narrow("encryption_flag", head.encryption_flag))?,
        payload: payload.into(),
        keyed: head.keyed != 0,
    })
}

/// Marks open split `id` abandoned at `at` (Unix ms); its parts stay.
pub async fn abandon(
    conn: &mut Conn<'_>,
    id: u64,
    reason: AbandonReason,
    at: i64,
) -> Result<(), StoreError> {
    on_conn!(conn, c => {
        sqlx::query(
            "UPDATE delivery_splits SET state = 'abandoned', reason = $1, closed_at = $2
             WHERE id = $3 AND state = 'open'",
        )
        .bind(reason.as_str())
        .bind(at)
        .bind(id as i64)
        .execute(c)
        .await
        .map(drop)
    })?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct OpenRow {
    id: i64,
    gw_id: String,
    device_id: String,
    report_type: i64,
    media_type: i64,
    total_count: i64,
    last_tid: i64,
    started_at: i64,
    last_part_at: i64,
}

/// Every open split with what the tracker needs of it, and the lowest id a
/// new split may take.
pub async fn load_open(
    conn: &mut Conn<'_>,
) -> Result<(Vec<(SplitSource, OpenSplit)>, u64), StoreError> {
    let (next_id, heads) = on_conn!(conn, c => {
        let next_id: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM delivery_splits")
                .fetch_one(&mut *c)
                .await?;
        let heads: Vec<OpenRow> = sqlx::query_as(
            "SELECT id, gw_id, device_id, report_type, media_type, total_count, last_tid,
                 started_at, last_part_at
             FROM delivery_splits WHERE state = 'open' ORDER BY id",
        )
        .fetch_all(&mut *c)
        .await?;
        (next_id, heads)
    });
    let mut open = Vec::with_capacity(heads.len());
    for head in heads {
        let parts: Vec<(i64, Vec<u8>)> = on_conn!(conn, c => {
            sqlx::query_as(
                "SELECT tid, payload FROM delivery_parts WHERE split_id = $1
                 ORDER BY current_count",
            )
            .bind(head.id)
            .fetch_all(c)
            .await
        })?;
        let bad = |field: &'static str, value: i64| StoreError::BadStoredValue {
            field,
            value: value.to_string(),
        };
        let split = OpenSplit {
            id: u64::try_from(head.id).map_err(|_| bad("delivery_splits.id", head.id))?,
            total: u16::try_from(head.total_count)
                .map_err(|_| bad("total_count", head.total_count))?,
            report_type: u8::try_from(head.report_type)
                .map_err(|_| bad("report_type", head.report_type))?,
            media_type: u8::try_from(head.media_type)
                .map_err(|_| bad("media_type", head.media_type))?,
            tids: parts.iter().map(|(tid, _)| *tid as u32).collect(),
            last_tid: head.last_tid as u32,
            bytes: parts.iter().map(|(_, p)| p.len()).sum(),
            started_at: head.started_at,
            last_part_at: head.last_part_at,
            last_payload: parts
                .last()
                .map(|(_, p)| Bytes::copy_from_slice(p))
                .unwrap_or_default(),
        };
        open.push(((head.gw_id, head.device_id), split));
    }
    Ok((open, next_id.max(1) as u64))
}

/// A split delivery not (yet) whole, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteDelivery {
    /// Split id.
    pub id: i64,
    /// GW ID.
    pub gw_id: String,
    /// Device ID or `''`.
    pub device_id: String,
    /// `open` (waiting for parts) or `abandoned`.
    pub state: String,
    /// Why abandoned (`expired`, `superseded`).
    pub reason: Option<String>,
    /// report_type.
    pub report_type: i64,
    /// media_type.
    pub media_type: i64,
    /// total_count the parts announced.
    pub total_count: i64,
    /// Address of the last part's sender.
    pub peer: String,
    /// Unix ms of part 1.
    pub started_at: i64,
    /// Unix ms of the last part.
    pub last_part_at: i64,
    /// Unix ms it was abandoned.
    pub closed_at: Option<i64>,
    /// The parts received, in order.
    pub parts: Vec<StoredPart>,
}

/// One part of an [`IncompleteDelivery`].
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredPart {
    /// current_count.
    pub current_count: i64,
    /// Its T-ID.
    pub tid: i64,
    /// Unix ms.
    pub received_at: i64,
    /// Its payload.
    pub payload: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct IncompleteRow {
    id: i64,
    gw_id: String,
    device_id: String,
    state: String,
    reason: Option<String>,
    report_type: i64,
    media_type: i64,
    total_count: i64,
    peer: String,
    started_at: i64,
    last_part_at: i64,
    closed_at: Option<i64>,
}

/// The newest `limit` incomplete deliveries of `gw_id` (open and
/// abandoned), newest first, each with its parts.
pub async fn incomplete(
    db: &Db,
    gw_id: &str,
    limit: i64,
) -> Result<Vec<IncompleteDelivery>, StoreError> {
    // One read transaction: a split completed between the two reads would
    // otherwise show without its parts. SQLite's reads in a transaction
    // share one snapshot; PostgreSQL's need REPEATABLE READ for that (READ
    // COMMITTED, its default, takes a snapshot per statement).
    let begin = match db.backend() {
        Backend::Sqlite => "BEGIN",
        Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    Ok(on_db!(db, pool => {
        let mut tx = pool.begin_with(begin).await?;
        let heads: Vec<IncompleteRow> = sqlx::query_as(
            "SELECT id, gw_id, device_id, state, reason, report_type, media_type, total_count,
                 peer, started_at, last_part_at, closed_at
             FROM delivery_splits WHERE gw_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(gw_id)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(heads.len());
        for h in heads {
            let parts: Vec<StoredPart> = sqlx::query_as(
                "SELECT current_count, tid, received_at, payload FROM delivery_parts
                 WHERE split_id = $1 ORDER BY current_count",
            )
            .bind(h.id)
            .fetch_all(&mut *tx)
            .await?;
            out.push(IncompleteDelivery {
                id: h.id,
                gw_id: h.gw_id,
                device_id: h.device_id,
                state: h.state,
                reason: h.reason,
                report_type: h.report_type,
                media_type: h.media_type,
                total_count: h.total_count,
                peer: h.peer,
                started_at: h.started_at,
                last_part_at: h.last_part_at,
                closed_at: h.closed_at,
                parts,
            });
        }
        tx.commit().await?;
        out
    }))
}
