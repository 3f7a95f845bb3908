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
//!
//! PostgreSQL has no such hint and makes the same choice: for a gateway
//! holding many rows it scans the primary key backwards, filtering on
//! `gw_id`, which walks every newer row of the other gateways. Its
//! queries pin the index by their shape instead: `gw_id` is matched as
//! the range `>= $1 AND <= $1` (equal to `= $1` for a deterministic
//! collation, but no constant the planner could drop from the ordering)
//! and ordered by `gw_id, id`, an order only `deliveries_gw_id` yields.
//! They run as unnamed statements, planned with their parameters each
//! time: a cached generic plan cannot see that `id > $2` leaves few rows
//! and sorts the gateway's whole range instead.

use std::borrow::Borrow;

use bytes::Bytes;
use sqlx::{AssertSqlSafe, Database, Encode, QueryBuilder, Sqlite, Type};

use crate::error::StoreError;
use crate::on_db;
use crate::store::{Backend, Conn, Db};

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

/// Inserts `rows` on `conn` (inside the caller's transaction), in their
/// order (ids increase along `rows`).
///
/// SQLite: multi-row VALUES, [`ROWS_PER_STATEMENT`] rows per statement.
/// PostgreSQL: one statement for the whole batch, each column bound as
/// one array and `UNNEST`ed, so the statement text (and its prepared
/// plan) is the same for every batch size and the batch is one round
/// trip; `ORDER BY` the ordinality makes the ids follow `rows`.
pub async fn insert_batch<R: Borrow<DeliveryRow>>(
    conn: &mut Conn<'_>,
    rows: &[R],
) -> Result<(), StoreError> {
    match conn {
        Conn::Sqlite(conn) => {
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
                qb.build().execute(&mut **conn).await?;
            }
        }
        Conn::Postgres(conn) => {
            if rows.is_empty() {
                return Ok(());
            }
            let rows = rows.iter().map(Borrow::borrow);
            let column = |f: fn(&DeliveryRow) -> i64| rows.clone().map(f).collect::<Vec<i64>>();
            sqlx::query(
                "INSERT INTO deliveries (gw_id, device_id, report_type, media_type, tid,
                     origin_timestamp, received_at, encryption_flag, payload, keyed)
                 SELECT gw_id, device_id, report_type, media_type, tid, origin_timestamp,
                     received_at, encryption_flag, payload, keyed
                 FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                     $6::bigint[], $7::bigint[], $8::bigint[], $9::bytea[], $10::bigint[])
                     WITH ORDINALITY AS r (gw_id, device_id, report_type, media_type, tid,
                         origin_timestamp, received_at, encryption_flag, payload, keyed, n)
                 ORDER BY n",
            )
            .bind(rows.clone().map(|r| r.gw_id.as_str()).collect::<Vec<_>>())
            .bind(
                rows.clone()
                    .map(|r| r.device_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(column(|r| i64::from(r.report_type)))
            .bind(column(|r| i64::from(r.media_type)))
            .bind(column(|r| i64::from(r.tid)))
            .bind(column(|r| i64::from(r.origin_timestamp)))
            .bind(column(|r| r.received_at))
            .bind(column(|r| i64::from(r.encryption_flag)))
            .bind(
                rows.clone()
                    .map(|r| r.payload.as_ref())
                    .collect::<Vec<&[u8]>>(),
            )
            .bind(column(|r| i64::from(r.keyed)))
            .execute(&mut **conn)
            .await?;
        }
    }
    Ok(())
}

/// For each of `rows`, the id of a stored copy of it (see
/// [`DeliveryRow::is_resend_of`]); `None` for rows not keyed or not stored.
///
/// One statement for the whole batch: the keys go in as one JSON array
/// (SQLite) or three arrays (PostgreSQL) and each is looked up through the
/// partial index on keyed rows (a statement per row halved the writer's
/// throughput under keyed load). Only keys already stored — resends,
/// rare — come back with their payload.
pub async fn stored_keyed(
    conn: &mut Conn<'_>,
    rows: &[DeliveryRow],
) -> Result<Vec<Option<i64>>, StoreError> {
    let mut ids = vec![None; rows.len()];
    let keyed = || rows.iter().filter(|r| r.keyed);
    if keyed().next().is_none() {
        return Ok(ids);
    }
    let candidates: Vec<StoredDelivery> = match conn {
        Conn::Sqlite(conn) => {
            let keys: Vec<(&str, u32, u32)> = keyed()
                .map(|r| (r.gw_id.as_str(), r.tid, r.origin_timestamp))
                .collect();
            let keys = serde_json::to_string(&keys).unwrap_or_else(|_| "[]".to_owned());
            sqlx::query_as(
                "SELECT d.id, d.gw_id, d.device_id, d.report_type, d.media_type, d.tid,
                     d.origin_timestamp, d.received_at, d.encryption_flag, d.payload
                 FROM json_each($1) AS k
                 JOIN deliveries AS d
                     ON d.keyed = 1 AND d.gw_id = k.value ->> 0 AND d.tid = k.value ->> 1
                        AND d.origin_timestamp = k.value ->> 2",
            )
            .bind(keys)
            .fetch_all(&mut **conn)
            .await?
        }
        Conn::Postgres(conn) => {
            sqlx::query_as(
                "SELECT d.id, d.gw_id, d.device_id, d.report_type, d.media_type, d.tid,
                     d.origin_timestamp, d.received_at, d.encryption_flag, d.payload
                 FROM UNNEST($1::text[], $2::bigint[], $3::bigint[])
                     AS k (gw_id, tid, origin_timestamp)
                 JOIN deliveries AS d
                     ON d.keyed = 1 AND d.gw_id = k.gw_id AND d.tid = k.tid
                        AND d.origin_timestamp = k.origin_timestamp",
            )
            .bind(keyed().map(|r| r.gw_id.as_str()).collect::<Vec<_>>())
            .bind(keyed().map(|r| i64::from(r.tid)).collect::<Vec<_>>())
            .bind(
                keyed()
                    .map(|r| i64::from(r.origin_timestamp))
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&mut **conn)
            .await?
        }
    };
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
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoredDelivery>(
            "SELECT id, gw_id, device_id, report_type, media_type, tid, origin_timestamp,
                 received_at, encryption_flag, payload
             FROM deliveries WHERE gw_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(gw_id)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// The columns every delivery read selects ([`StoredDelivery`]).
pub const DELIVERY_COLUMNS: &str = "id, gw_id, device_id, report_type, media_type, tid,
    origin_timestamp, received_at, encryption_flag, payload";

/// `SELECT … FROM` of the API's reads on `backend`, up to `WHERE`.
fn select_from(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => {
            format!("SELECT {DELIVERY_COLUMNS} FROM deliveries INDEXED BY deliveries_gw_id")
        }
        Backend::Postgres => format!("SELECT {DELIVERY_COLUMNS} FROM deliveries"),
    }
}

/// `ORDER BY` of the API's reads on `backend` (see the module doc),
/// newest first or oldest first.
fn by_id(backend: Backend, newest_first: bool) -> &'static str {
    match (backend, newest_first) {
        (Backend::Sqlite, true) => " ORDER BY id DESC",
        (Backend::Sqlite, false) => " ORDER BY id",
        (Backend::Postgres, true) => " ORDER BY gw_id DESC, id DESC",
        (Backend::Postgres, false) => " ORDER BY gw_id, id",
    }
}

/// The query of [`newest`] on `backend` (`$1` the gateway); `with_device`
/// adds ` AND device_id = $2`.
pub fn newest_sql(backend: Backend, with_device: bool) -> String {
    let gateway = match backend {
        Backend::Sqlite => "gw_id = $1",
        Backend::Postgres => "gw_id >= $1 AND gw_id <= $1",
    };
    format!(
        "{} WHERE {gateway}{}{} LIMIT 1",
        select_from(backend),
        if with_device {
            " AND device_id = $2"
        } else {
            ""
        },
        by_id(backend, true)
    )
}

/// The query of [`newest`] on SQLite (see the module doc); `with_device`
/// adds ` AND device_id = $2` before the ORDER BY.
pub fn latest_sql(with_device: bool) -> String {
    newest_sql(Backend::Sqlite, with_device)
}

/// The newest delivery of `gw_id` (of its device `device_id` when given,
/// `''` = the gateway's own).
pub async fn newest(
    db: &Db,
    gw_id: &str,
    device_id: Option<&str>,
) -> Result<Option<StoredDelivery>, StoreError> {
    let sql = newest_sql(db.backend(), device_id.is_some());
    let persistent = keep_prepared(db);
    Ok(on_db!(db, pool => {
        let mut q = sqlx::query_as::<_, StoredDelivery>(AssertSqlSafe(sql))
            .persistent(persistent)
            .bind(gw_id);
        if let Some(device_id) = device_id {
            q = q.bind(device_id);
        }
        q.fetch_optional(pool).await
    })?)
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

/// The SQLite query of [`history`]: `gw_id`'s deliveries matching
/// `filter`, newest first, `limit` rows.
pub fn history_query<'a>(
    gw_id: &'a str,
    filter: &'a HistoryFilter,
    limit: i64,
) -> QueryBuilder<Sqlite> {
    history_sql(Backend::Sqlite, gw_id, filter, limit)
}

/// The query of [`history`] on `backend`, for its driver `DB`.
fn history_sql<DB>(
    backend: Backend,
    gw_id: &str,
    filter: &HistoryFilter,
    limit: i64,
) -> QueryBuilder<DB>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let mut sql = QueryBuilder::<DB>::new(select_from(backend));
    push_gateway(&mut sql, backend, gw_id);
    if let Some(id) = filter.before_id {
        sql.push(" AND id < ").push_bind(id);
    }
    push_range_and_device(&mut sql, filter);
    if let Some(rt) = filter.report_type {
        sql.push(" AND report_type = ").push_bind(i64::from(rt));
    }
    sql.push(by_id(backend, true))
        .push(" LIMIT ")
        .push_bind(limit);
    sql
}

/// Adds ` WHERE` and the condition on `gw_id` to `sql` (see the module
/// doc).
fn push_gateway<DB>(sql: &mut QueryBuilder<DB>, backend: Backend, gw_id: &str)
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
{
    match backend {
        Backend::Sqlite => sql.push(" WHERE gw_id = ").push_bind(gw_id),
        Backend::Postgres => sql
            .push(" WHERE gw_id >= ")
            .push_bind(gw_id)
            .push(" AND gw_id <= ")
            .push_bind(gw_id),
    };
}

/// Whether the API's reads on `db` run as statements the connection
/// prepares once and keeps: on SQLite, yes; on PostgreSQL, no, so each is
/// planned with its parameters (see the module doc).
fn keep_prepared(db: &Db) -> bool {
    db.backend() == Backend::Sqlite
}

/// Adds `filter`'s `from`, `to` and `device_id` conditions to `sql`.
fn push_range_and_device<DB>(sql: &mut QueryBuilder<DB>, filter: &HistoryFilter)
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    if let Some(from) = filter.from {
        sql.push(" AND received_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        sql.push(" AND received_at < ").push_bind(to);
    }
    if let Some(device_id) = &filter.device_id {
        sql.push(" AND device_id = ").push_bind(device_id.as_str());
    }
}

/// The query of [`oldest_after`] on `backend`, for its driver `DB`.
fn oldest_after_sql<DB>(
    backend: Backend,
    gw_id: &str,
    filter: &HistoryFilter,
    after: i64,
    limit: i64,
) -> QueryBuilder<DB>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let mut sql = QueryBuilder::<DB>::new(select_from(backend));
    push_gateway(&mut sql, backend, gw_id);
    sql.push(" AND id > ").push_bind(after);
    push_range_and_device(&mut sql, filter);
    sql.push(by_id(backend, false))
        .push(" LIMIT ")
        .push_bind(limit);
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
    let persistent = keep_prepared(db);
    Ok(on_db!(db, pool => {
        oldest_after_sql(db.backend(), gw_id, filter, after, limit)
            .build_query_as()
            .persistent(persistent)
            .fetch_all(pool)
            .await
    })?)
}

/// At most `limit` deliveries of `gw_id` matching `filter`, newest first.
pub async fn history(
    db: &Db,
    gw_id: &str,
    filter: &HistoryFilter,
    limit: i64,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let persistent = keep_prepared(db);
    Ok(on_db!(db, pool => {
        history_sql(db.backend(), gw_id, filter, limit)
            .build_query_as()
            .persistent(persistent)
            .fetch_all(pool)
            .await
    })?)
}
