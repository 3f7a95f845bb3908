//! Table `deliveries`: every delivery (0x0B) as received, payload
//! byte-exact. Written only by the group-commit [`writer`](super::writer).
//!
//! A keyed delivery (`gmmp_codec::KEYED_DELIVERY`, migration 0004) is
//! stored with `keyed = 1`; [`stored_keyed`] finds stored copies of them.
//!
//! The API's reads ([`newest`], [`history`]) filter on `gw_id` and order
//! by `id DESC`, which the index `deliveries_gw_id (gw_id, id)` serves
//! directly (a test checks the plan): the latest delivery is one index
//! seek, a history page one index range. The other filters (`from`, `to`,
//! `device_id`, `report_type`) are checked on the rows the range visits.
//! `INDEXED BY` pins the plan: once `ANALYZE` statistics say most rows
//! belong to one gateway, SQLite would otherwise prefer a backwards scan
//! of the whole table, which costs a full scan for a gateway that
//! delivered nothing recently.

use std::borrow::Borrow;

use bytes::Bytes;
use sqlx::{AssertSqlSafe, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use crate::error::StoreError;
use crate::store::{Conn, Db};

/// Rows per multi-row INSERT: 10 binds each, far below SQLite's limit, and
/// few enough statements per batch that sqlx's per-statement cost is small.
const ROWS_PER_STATEMENT: usize = 100;

/// One delivery to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// GW ID (`SC…`).
    pub gw_id: String,
    /// Device ID, `''` for the GW itself.
    pub device_id: String,
    /// report_type byte.
    pub report_type: u8,
    /// media_type byte.
    pub media_type: u8,
    /// The request's T-ID (not unique: docs/gmmp.md §7).
    pub tid: u32,
    /// Header origin_timestamp, Unix seconds as sent.
    pub origin_timestamp: u32,
    /// Receive time, Unix ms.
    pub received_at: i64,
    /// Header encryption_flag as received.
    pub encryption_flag: u8,
    /// The payload (reassembled when split).
    pub payload: Bytes,
    /// The sender marked it keyed: (device, T-ID, origin_timestamp) name
    /// this delivery in every resend.
    pub keyed: bool,
}

/// What makes two keyed deliveries the same one: gateway, device, T-ID,
/// origin_timestamp, report and media type, payload.
type Identity<'a> = (&'a str, &'a str, i64, i64, i64, i64, &'a [u8]);

impl DeliveryRow {
    fn identity(&self) -> Identity<'_> {
        (
            &self.gw_id,
            &self.device_id,
            i64::from(self.tid),
            i64::from(self.origin_timestamp),
            i64::from(self.report_type),
            i64::from(self.media_type),
            &self.payload,
        )
    }

    /// True when `other` is the same keyed delivery sent again.
    pub fn is_resend_of(&self, other: &DeliveryRow) -> bool {
        self.keyed && other.keyed && self.identity() == other.identity()
    }
}

/// A stored delivery, as read back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredDelivery {
    /// Row id, increasing in commit order.
    pub id: i64,
    /// GW ID.
    pub gw_id: String,
    /// Device ID or `''`.
    pub device_id: String,
    /// report_type.
    pub report_type: i64,
    /// media_type.
    pub media_type: i64,
    /// T-ID.
    pub tid: i64,
    /// Unix seconds as sent.
    pub origin_timestamp: i64,
    /// Unix ms.
    pub received_at: i64,
    /// Raw header byte 48.
    pub encryption_flag: i64,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// Inserts `rows` on `conn` (inside the caller's transaction).
pub async fn insert_batch<R: Borrow<DeliveryRow>>(
    conn: &mut Conn<'_>,
    rows: &[R],
) -> Result<(), StoreError> {
    let conn = conn.sqlite_only()?;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO deliveries (gw_id, device_id, report_type, media_type, tid,
                 origin_timestamp, received_at, encryption_flag, payload, keyed) ",
        );
        qb.push_values(chunk, |mut b, row| {
            let row: &DeliveryRow = row.borrow();
            b.push_bind(row.gw_id.as_str())
                .push_bind(row.device_id.as_str())
                .push_bind(i64::from(row.report_type))
                .push_bind(i64::from(row.media_type))
                .push_bind(i64::from(row.tid))
                .push_bind(i64::from(row.origin_timestamp))
                .push_bind(row.received_at)
                .push_bind(i64::from(row.encryption_flag))
                .push_bind(row.payload.as_ref())
                .push_bind(row.keyed);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// For each of `rows`, the id of a stored copy of it (see
/// [`DeliveryRow::is_resend_of`]); `None` for rows not keyed or not stored.
///
/// One statement for the whole batch: the keys go in as one JSON array and
/// each is looked up through the partial index on keyed rows (a statement
/// per row halved the writer's throughput under keyed load). Only keys
/// already stored — resends, rare — come back with their payload.
pub async fn stored_keyed(
    conn: &mut Conn<'_>,
    rows: &[DeliveryRow],
) -> Result<Vec<Option<i64>>, StoreError> {
    let conn = conn.sqlite_only()?;
    let mut ids = vec![None; rows.len()];
    let keys: Vec<(&str, u32, u32)> = rows
        .iter()
        .filter(|r| r.keyed)
        .map(|r| (r.gw_id.as_str(), r.tid, r.origin_timestamp))
        .collect();
    if keys.is_empty() {
        return Ok(ids);
    }
    let keys = serde_json::to_string(&keys).unwrap_or_else(|_| "[]".to_owned());
    let candidates: Vec<StoredDelivery> = sqlx::query_as(
        "SELECT d.id, d.gw_id, d.device_id, d.report_type, d.media_type, d.tid,
             d.origin_timestamp, d.received_at, d.encryption_flag, d.payload
         FROM json_each(?) AS k
         JOIN deliveries AS d
             ON d.keyed = 1 AND d.gw_id = k.value ->> 0 AND d.tid = k.value ->> 1
                AND d.origin_timestamp = k.value ->> 2",
    )
    .bind(keys)
    .fetch_all(&mut *conn)
    .await?;
    for (row, id) in rows.iter().zip(&mut ids) {
        *id = candidates
            .iter()
            .find(|c| row.keyed && c.identity() == row.identity())
            .map(|c| c.id);
    }
    Ok(ids)
}

impl StoredDelivery {
    fn identity(&self) -> Identity<'_> {
        (
            &self.gw_id,
            &self.device_id,
            self.tid,
            self.origin_timestamp,
            self.report_type,
            self.media_type,
            &self.payload,
        )
    }
}

/// The newest `limit` deliveries of `gw_id`, newest first. Used by the
/// tests only (the API reads through [`newest`] and [`history`]).
pub async fn latest(db: &Db, gw_id: &str, limit: i64) -> Result<Vec<StoredDelivery>, StoreError> {
    let pool = db.sqlite_only()?;
    Ok(sqlx::query_as::<_, StoredDelivery>(
        "SELECT id, gw_id, device_id, report_type, media_type, tid, origin_timestamp,
             received_at, encryption_flag, payload
         FROM deliveries WHERE gw_id = ? ORDER BY id DESC LIMIT ?",
    )
    .bind(gw_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// The columns every delivery read selects ([`StoredDelivery`]).
pub const DELIVERY_COLUMNS: &str = "id, gw_id, device_id, report_type, media_type, tid,
    origin_timestamp, received_at, encryption_flag, payload";

/// The query of [`newest`] (see the module doc); `with_device` adds
/// ` AND device_id = ?` before the ORDER BY.
pub fn latest_sql(with_device: bool) -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries INDEXED BY deliveries_gw_id
         WHERE gw_id = ?{} ORDER BY id DESC LIMIT 1",
        if with_device {
            " AND device_id = ?"
        } else {
            ""
        }
    )
}

/// The newest delivery of `gw_id` (of its device `device_id` when given,
/// `''` = the gateway's own).
pub async fn newest(
    db: &Db,
    gw_id: &str,
    device_id: Option<&str>,
) -> Result<Option<StoredDelivery>, StoreError> {
    let pool = db.sqlite_only()?;
    let sql = latest_sql(device_id.is_some());
    let mut q = sqlx::query_as::<_, StoredDelivery>(AssertSqlSafe(sql)).bind(gw_id);
    if let Some(device_id) = device_id {
        q = q.bind(device_id);
    }
    Ok(q.fetch_optional(pool).await?)
}

/// Which deliveries of a gateway a history page holds.
#[derive(Debug, Default, Clone)]
pub struct HistoryFilter {
    /// Only ids below this one (the cursor).
    pub before_id: Option<i64>,
    /// `received_at >=` (Unix ms).
    pub from: Option<i64>,
    /// `received_at <` (Unix ms).
    pub to: Option<i64>,
    /// `device_id =` (`''` = the gateway's own).
    pub device_id: Option<String>,
    /// `report_type =`.
    pub report_type: Option<u8>,
}

/// The query of [`history`]: `gw_id`'s deliveries matching `filter`,
/// newest first, `limit` rows.
pub fn history_query<'a>(
    gw_id: &'a str,
    filter: &'a HistoryFilter,
    limit: i64,
) -> QueryBuilder<Sqlite> {
    let mut sql = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries INDEXED BY deliveries_gw_id WHERE gw_id = "
    ));
    sql.push_bind(gw_id);
    if let Some(id) = filter.before_id {
        sql.push(" AND id < ").push_bind(id);
    }
    if let Some(from) = filter.from {
        sql.push(" AND received_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        sql.push(" AND received_at < ").push_bind(to);
    }
    if let Some(device_id) = &filter.device_id {
        sql.push(" AND device_id = ").push_bind(device_id);
    }
    if let Some(rt) = filter.report_type {
        sql.push(" AND report_type = ").push_bind(i64::from(rt));
    }
    sql.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    sql
}

/// At most `limit` deliveries of `gw_id` matching `filter` (its `from`,
/// `to` and `device_id`) with ids above `after`, oldest first: the
/// keyset pages of an export, each one index range of
/// `deliveries_gw_id`.
pub async fn oldest_after(
    db: &Db,
    gw_id: &str,
    filter: &HistoryFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let pool = db.sqlite_only()?;
    let mut sql = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries INDEXED BY deliveries_gw_id WHERE gw_id = "
    ));
    sql.push_bind(gw_id).push(" AND id > ").push_bind(after);
    if let Some(from) = filter.from {
        sql.push(" AND received_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        sql.push(" AND received_at < ").push_bind(to);
    }
    if let Some(device_id) = &filter.device_id {
        sql.push(" AND device_id = ").push_bind(device_id);
    }
    sql.push(" ORDER BY id LIMIT ").push_bind(limit);
    Ok(sql.build_query_as().fetch_all(pool).await?)
}

/// At most `limit` deliveries of `gw_id` matching `filter`, newest first.
pub async fn history(
    db: &Db,
    gw_id: &str,
    filter: &HistoryFilter,
    limit: i64,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let pool = db.sqlite_only()?;
    Ok(history_query(gw_id, filter, limit)
        .build_query_as()
        .fetch_all(pool)
        .await?)
}
