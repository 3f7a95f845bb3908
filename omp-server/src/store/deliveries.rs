//! Table `deliveries`: every delivery (0x0B) as received, payload
//! byte-exact. Written only by the group-commit [`writer`](super::writer).

use bytes::Bytes;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use crate::error::StoreError;

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
    /// The request's T-ID (not unique: GMMP.md §7).
    pub tid: u32,
    /// Header origin_timestamp, Unix seconds as sent.
    pub origin_timestamp: u32,
    /// Receive time, Unix ms.
    pub received_at: i64,
    /// Header encryption_flag as received.
    pub encryption_flag: u8,
    /// The payload (reassembled when split).
    pub payload: Bytes,
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
pub async fn insert_batch(
    conn: &mut SqliteConnection,
    rows: &[DeliveryRow],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO deliveries (gw_id, device_id, report_type, media_type, tid,
                 origin_timestamp, received_at, encryption_flag, payload) ",
        );
        qb.push_values(chunk, |mut b, row| {
            b.push_bind(row.gw_id.as_str())
                .push_bind(row.device_id.as_str())
                .push_bind(i64::from(row.report_type))
                .push_bind(i64::from(row.media_type))
                .push_bind(i64::from(row.tid))
                .push_bind(i64::from(row.origin_timestamp))
                .push_bind(row.received_at)
                .push_bind(i64::from(row.encryption_flag))
                .push_bind(row.payload.as_ref());
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The newest `limit` deliveries of `gw_id`, newest first.
pub async fn latest(
    pool: &SqlitePool,
    gw_id: &str,
    limit: i64,
) -> Result<Vec<StoredDelivery>, StoreError> {
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
