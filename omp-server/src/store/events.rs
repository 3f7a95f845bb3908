//! Table `events`: the outbox (migration 0009). Every event is written in
//! the transaction of what it reports — by the database's triggers for
//! deliveries, MQTT messages and control timeline rows, by [`insert`] for
//! the rest (gateways and MQTT clients going online or offline, refused
//! registrations), always on the writer's or the dispatcher's connection
//! inside their transactions.
//!
//! Ids increase in commit order (see the migration), so readers keep a
//! cursor and read forward with [`page`]: what `id > cursor` holds now is
//! what has been committed since. [`last_id`] is the newest id, read by a
//! committer after its commit to announce it (`crate::events::EventFeed`).
//!
//! [`page`] walks the table by id (the primary key), checking the filters
//! on the rows it passes, and passes at most [`SCAN_WINDOW`] rows per
//! call: a narrow filter over a long history costs bounded work per page,
//! and the page says how far it looked (`scanned_to`), so the next page
//! starts there without a gap. No secondary index: each would be one more
//! insert per delivery on the hot path.

use std::collections::HashMap;

use sqlx::QueryBuilder;

use crate::error::StoreError;
use crate::store::deliveries::{DELIVERY_COLUMNS, StoredDelivery};
use crate::store::mqtt_messages::{self, StoredMessage};
use crate::store::{Conn, Db};
use crate::{on_conn, on_db};

/// Most rows one [`page`] call passes over.
pub const SCAN_WINDOW: i64 = 50_000;

/// The kinds of event, as stored in `kind`.
pub const KINDS: &[&str] = &[
    DELIVERY,
    MQTT_MESSAGE,
    CONTROL_STATE,
    GATEWAY_ONLINE,
    GATEWAY_OFFLINE,
    GATEWAY_TAKEN_OVER,
    MQTT_ONLINE,
    MQTT_OFFLINE,
    REGISTRATION_REFUSED,
];
/// `kind` as one of [`KINDS`]; else what to say, naming the valid ones.
pub fn known_kind(kind: &str) -> Result<&'static str, String> {
    KINDS
        .iter()
        .copied()
        .find(|k| *k == kind)
        .ok_or_else(|| format!("unknown kind {kind:?}; kinds are {}", KINDS.join(", ")))
}

/// A delivery stored (`ref_id` = `deliveries.id`).
pub const DELIVERY: &str = "delivery";
/// An MQTT message stored (`ref_id` = `mqtt_messages.id`).
pub const MQTT_MESSAGE: &str = "mqtt_message";
/// A control changed state (`ref_id` = `controls.id`).
pub const CONTROL_STATE: &str = "control_state";
/// A gateway got a live session.
pub const GATEWAY_ONLINE: &str = "gateway_online";
/// A gateway's live session ended.
pub const GATEWAY_OFFLINE: &str = "gateway_offline";
/// A gateway's live session was replaced by a session of the same gateway
/// from another IP address (it stayed online).
pub const GATEWAY_TAKEN_OVER: &str = "gateway_taken_over";
/// An MQTT client logged in.
pub const MQTT_ONLINE: &str = "mqtt_online";
/// An MQTT client's session ended.
pub const MQTT_OFFLINE: &str = "mqtt_offline";
/// A GW registration (0x01) was refused.
pub const REGISTRATION_REFUSED: &str = "registration_refused";

/// An event to insert (the kinds the triggers do not write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// One of [`KINDS`].
    pub kind: &'static str,
    /// The gateway, if any.
    pub gw_id: Option<String>,
    /// The device or MQTT client, if any.
    pub device_id: Option<String>,
    /// Unix ms.
    pub at: i64,
    /// The event's facts (a JSON object).
    pub data: serde_json::Value,
}

/// An event as read back, with the row it refers to for a delivery or an
/// MQTT message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Increasing in commit order.
    pub id: i64,
    /// One of [`KINDS`].
    pub kind: String,
    /// The gateway, if any.
    pub gw_id: Option<String>,
    /// The device or MQTT client, if any.
    pub device_id: Option<String>,
    /// Unix ms.
    pub at: i64,
    /// The row reported on, if any.
    pub ref_id: Option<i64>,
    /// The stored facts (JSON text).
    pub data: String,
    /// The delivery of a `delivery` event.
    pub delivery: Option<StoredDelivery>,
    /// The message of an `mqtt_message` event.
    pub message: Option<StoredMessage>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    kind: String,
    gw_id: Option<String>,
    device_id: Option<String>,
    at: i64,
    ref_id: Option<i64>,
    data: String,
}

/// Which events a reader wants.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventFilter {
    /// Only these kinds (empty: every kind).
    pub kinds: Vec<String>,
    /// Only events of this gateway.
    pub gw_id: Option<String>,
    /// Only events of this device or MQTT client.
    pub device_id: Option<String>,
}

/// One page of events.
#[derive(Debug, Default)]
pub struct EventPage {
    /// The events found, by id.
    pub events: Vec<StoredEvent>,
    /// Every event up to this id matching the filter is in `events` (or
    /// in an earlier page): the next page reads after it.
    pub scanned_to: i64,
}

/// Inserts `events` on `conn`, inside the caller's transaction.
pub async fn insert(conn: &mut Conn<'_>, events: &[NewEvent]) -> Result<(), StoreError> {
    for e in events {
        on_conn!(conn, c => {
            sqlx::query(
                "INSERT INTO events (kind, gw_id, device_id, at, data) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(e.kind)
            .bind(&e.gw_id)
            .bind(&e.device_id)
            .bind(e.at)
            .bind(e.data.to_string())
            .execute(c)
            .await
            .map(drop)
        })?;
    }
    Ok(())
}

/// The newest event id (0 when there is none).
///
/// Once retention has emptied the table, the id sequence still knows the
/// last id given (neither backend reuses one), and that is the answer.
/// On PostgreSQL the sequence also counts ids drawn by transactions still
/// open, which a reader must not be told are committed (it would read
/// past them): the sequence is read under a shared hold of the lock the
/// events trigger takes, so no other transaction is between drawing an id
/// and its end.
pub async fn last_id(conn: &mut Conn<'_>) -> Result<i64, StoreError> {
    match conn {
        Conn::Sqlite(c) => Ok(sqlx::query_scalar::<_, Option<i64>>(
            "SELECT COALESCE(MAX(id), (SELECT seq FROM sqlite_sequence WHERE name = 'events'))
             FROM events",
        )
        .fetch_one(&mut **c)
        .await?
        .unwrap_or(0)),
        Conn::Postgres(c) => {
            let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM events")
                .fetch_one(&mut **c)
                .await?;
            if let Some(id) = newest {
                return Ok(id);
            }
            // A transaction of its own (a savepoint inside the caller's):
            // the lock is transaction-scoped. The key is the one the
            // schema's `events_commit_ordered_id` trigger locks.
            let mut tx = sqlx::Connection::begin(&mut **c).await?;
            sqlx::query("SELECT pg_advisory_xact_lock_shared(hashtext('omp.events'))")
                .execute(&mut *tx)
                .await?;
            let (last_value, is_called): (i64, bool) =
                sqlx::query_as("SELECT last_value, is_called FROM events_id_seq")
                    .fetch_one(&mut *tx)
                    .await?;
            tx.commit().await?;
            Ok(if is_called { last_value } else { 0 })
        }
    }
}

/// At most `limit` events matching `filter` with ids in `after + 1 ..=
/// upto`, by id, and how far they were looked for (at most
/// [`SCAN_WINDOW`] ids past `after`).
pub async fn page(
    db: &Db,
    filter: &EventFilter,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<EventPage, StoreError> {
    let upto = upto.min(after.saturating_add(SCAN_WINDOW));
    if upto <= after {
        return Ok(EventPage {
            events: Vec::new(),
            scanned_to: after,
        });
    }
    let rows: Vec<EventRow> = on_db!(db, pool => {
        let mut sql = QueryBuilder::new(
            "SELECT id, kind, gw_id, device_id, at, ref_id, data FROM events WHERE id > ",
        );
        sql.push_bind(after).push(" AND id <= ").push_bind(upto);
        if !filter.kinds.is_empty() {
            sql.push(" AND kind IN (");
            let mut kinds = sql.separated(", ");
            for kind in &filter.kinds {
                kinds.push_bind(kind.as_str());
            }
            sql.push(")");
        }
        if let Some(gw_id) = &filter.gw_id {
            sql.push(" AND gw_id = ").push_bind(gw_id.as_str());
        }
        if let Some(device_id) = &filter.device_id {
            sql.push(" AND device_id = ").push_bind(device_id.as_str());
        }
        sql.push(" ORDER BY id LIMIT ").push_bind(limit);
        sql.build_query_as().fetch_all(pool).await
    })?;
    let scanned_to = match rows.last() {
        Some(last) if rows.len() as i64 == limit => last.id,
        _ => upto,
    };
    let mut deliveries: HashMap<i64, StoredDelivery> = referenced_deliveries(db, &rows)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect();
    let mut messages: HashMap<i64, StoredMessage> = referenced_messages(db, &rows)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let events = rows
        .into_iter()
        .map(|r| StoredEvent {
            delivery: (r.kind == DELIVERY)
                .then(|| r.ref_id.and_then(|id| deliveries.remove(&id)))
                .flatten(),
            message: (r.kind == MQTT_MESSAGE)
                .then(|| r.ref_id.and_then(|id| messages.remove(&id)))
                .flatten(),
            id: r.id,
            kind: r.kind,
            gw_id: r.gw_id,
            device_id: r.device_id,
            at: r.at,
            ref_id: r.ref_id,
            data: r.data,
        })
        .collect();
    Ok(EventPage { events, scanned_to })
}

/// The ids `rows` of `kind` refer to.
fn referenced(rows: &[EventRow], kind: &str) -> Vec<i64> {
    rows.iter()
        .filter(|r| r.kind == kind)
        .filter_map(|r| r.ref_id)
        .collect()
}

async fn referenced_deliveries(
    db: &Db,
    rows: &[EventRow],
) -> Result<Vec<StoredDelivery>, StoreError> {
    let ids = referenced(rows, DELIVERY);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(match db {
        Db::Sqlite(pool) => {
            sqlx::query_as::<_, StoredDelivery>(sqlx::AssertSqlSafe(format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries
                 WHERE id IN (SELECT value FROM json_each($1))"
            )))
            .bind(serde_json::Value::from(ids).to_string())
            .fetch_all(pool)
            .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as::<_, StoredDelivery>(sqlx::AssertSqlSafe(format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ANY($1)"
            )))
            .bind(ids)
            .fetch_all(pool)
            .await?
        }
    })
}

async fn referenced_messages(db: &Db, rows: &[EventRow]) -> Result<Vec<StoredMessage>, StoreError> {
    let ids = referenced(rows, MQTT_MESSAGE);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    mqtt_messages::by_ids(db, &ids).await
}
