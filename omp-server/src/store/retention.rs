//! Removing rows older than their retention period, one small batch per
//! transaction, on the writer's connection (`store::writer` runs each
//! batch as a job of its own, between its delivery batches).
//!
//! Every kind walks its table in id order (the primary key: commit order)
//! and takes at most `batch` rows from the oldest: of those, the ones
//! older than the cutoff go. A batch therefore reads at most `batch` rows
//! (plus the rows it must keep, see below) whatever the table's size, and
//! needs no index on a time column — none is added to the hot tables. A
//! batch that removes nothing means the oldest rows are not old yet: the
//! pass is over. A row whose time lies ahead of the rows after it (the
//! clock stepped back) holds them back until it is old itself.
//!
//! What each kind removes:
//! - [`Kind::Deliveries`]: GMMP deliveries by `received_at`, then
//!   abandoned split deliveries by `closed_at` with their parts (open ones
//!   are the writer's and stay).
//! - [`Kind::MqttMessages`]: MQTT messages by `received_at` with their
//!   data points, except each topic's newest retained message: it is what
//!   a restart gives new subscribers.
//! - [`Kind::Events`]: outbox rows by `at`.
//! - [`Kind::Controls`]: controls in a final state by their last change,
//!   with their timeline; never a QUEUED, SENT or PROGRESS one.

use crate::error::StoreError;
use crate::on_conn;
use crate::store::Conn;

/// A table family retention applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// GMMP deliveries and abandoned split deliveries.
    Deliveries,
    /// MQTT messages and their data points.
    MqttMessages,
    /// The outbox.
    Events,
    /// Controls in a final state and their timeline.
    Controls,
}

impl Kind {
    /// Every kind, in the order a pass takes them.
    pub const ALL: [Kind; 4] = [
        Kind::Deliveries,
        Kind::MqttMessages,
        Kind::Events,
        Kind::Controls,
    ];

    /// The `kind` label of `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Deliveries => "deliveries",
            Kind::MqttMessages => "mqtt_messages",
            Kind::Events => "events",
            Kind::Controls => "controls",
        }
    }
}

/// One batch to remove: rows of `kind` older than `cutoff_ms` (Unix ms),
/// at most `batch` of the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purge {
    /// What to remove.
    pub kind: Kind,
    /// Rows older than this go (Unix ms).
    pub cutoff_ms: i64,
    /// Most rows looked at (and removed) in this batch.
    pub batch: u32,
}

/// The final states of a control (`controls.state`).
const FINAL_STATES: &str = "('SUCCESS', 'FAILED', 'TIMEOUT', 'EXPIRED', 'CANCELLED')";

/// Runs `purge` as one transaction on `conn` (plain BEGIN/COMMIT, rolled
/// back on any error, as the writer's batches are: see
/// `writer::transaction` for why not sqlx's `Transaction`); the rows
/// removed. The server runs it on the writer's connection
/// ([`super::writer::WriterHandle::purge`]).
///
/// On SQLite the BEGIN is IMMEDIATE (the write lock up front); on
/// PostgreSQL the transaction first takes [`WRITE_LOCK`](crate::store::db::WRITE_LOCK), as
/// [`Db::begin_write`](crate::store::Db::begin_write) does, so it is
/// serialised with the other write transactions as on SQLite.
pub async fn run(conn: &mut Conn<'_>, purge: Purge) -> Result<u64, StoreError> {
    let begin = match conn {
        Conn::Sqlite(_) => "BEGIN IMMEDIATE",
        Conn::Postgres(_) => "BEGIN",
    };
    conn.execute(begin).await?;
    let result = match locked_remove(conn, purge).await {
        Ok(removed) => conn.execute("COMMIT").await.map(|()| removed),
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = conn.execute("ROLLBACK").await;
    }
    result
}

/// [`remove`] inside the transaction, after taking PostgreSQL's write
/// lock.
async fn locked_remove(conn: &mut Conn<'_>, purge: Purge) -> Result<u64, StoreError> {
    conn.take_write_lock().await?;
    remove(conn, purge).await
}

// The derived tables are named (`AS oldest`): PostgreSQL requires it,
// SQLite accepts it.
async fn remove(conn: &mut Conn<'_>, p: Purge) -> Result<u64, StoreError> {
    let batch = i64::from(p.batch);
    match p.kind {
        Kind::Deliveries => {
            let rows = delete(
                conn,
                "DELETE FROM deliveries WHERE id IN (SELECT id FROM
                    (SELECT id, received_at FROM deliveries ORDER BY id LIMIT $1) AS oldest
                 WHERE received_at < $2)",
                batch,
                p.cutoff_ms,
            )
            .await?;
            // delivery_parts go with their split (ON DELETE CASCADE).
            let splits = delete(
                conn,
                "DELETE FROM delivery_splits WHERE id IN (SELECT id FROM
                    (SELECT id, closed_at FROM delivery_splits WHERE state = 'abandoned'
                     ORDER BY id LIMIT $1) AS oldest
                 WHERE closed_at < $2)",
                batch,
                p.cutoff_ms,
            )
            .await?;
            Ok(rows + splits)
        }
        Kind::MqttMessages => {
            let ids = expired_ids(
                conn,
                "SELECT id FROM
                    (SELECT m.id, m.received_at FROM mqtt_messages AS m
                     WHERE NOT (m.retain = 1 AND m.id = (SELECT MAX(r.id) FROM mqtt_messages AS r
                                WHERE r.retain = 1 AND r.topic = m.topic))
                     ORDER BY m.id LIMIT $1) AS oldest
                 WHERE received_at < $2",
                batch,
                p.cutoff_ms,
            )
            .await?;
            if ids.is_empty() {
                return Ok(0);
            }
            delete_listed(
                conn,
                &[
                    Listed {
                        sqlite: "DELETE FROM mqtt_datapoints
                                 WHERE message_id IN (SELECT value FROM json_each($1))",
                        postgres: "DELETE FROM mqtt_datapoints WHERE message_id = ANY($1)",
                    },
                    Listed {
                        sqlite: "DELETE FROM mqtt_messages
                                 WHERE id IN (SELECT value FROM json_each($1))",
                        postgres: "DELETE FROM mqtt_messages WHERE id = ANY($1)",
                    },
                ],
                &ids,
            )
            .await
        }
        Kind::Events => {
            delete(
                conn,
                // An event an enabled webhook has not passed yet stays
                // past its period: a receiver that is down loses nothing.
                // A disabled webhook holds nothing back.
                "DELETE FROM events WHERE id IN (SELECT id FROM
                    (SELECT id, at FROM events ORDER BY id LIMIT $1) AS oldest
                 WHERE at < $2
                   AND id <= (SELECT COALESCE(MIN(cursor), 9223372036854775807)
                              FROM webhooks WHERE enabled = 1))",
                batch,
                p.cutoff_ms,
            )
            .await
        }
        Kind::Controls => {
            let ids = expired_ids(
                conn,
                &format!(
                    "SELECT id FROM
                        (SELECT id, COALESCE(changed_at, created_at) AS changed FROM controls
                         WHERE state IN {FINAL_STATES} ORDER BY id LIMIT $1) AS oldest
                     WHERE changed < $2"
                ),
                batch,
                p.cutoff_ms,
            )
            .await?;
            if ids.is_empty() {
                return Ok(0);
            }
            // A final state is never left, and the write lock (BEGIN
            // IMMEDIATE on SQLite) keeps the dispatcher's connection out
            // until the COMMIT; on PostgreSQL the dispatcher's UPDATEs
            // only ever match controls not yet final, none of these.
            delete_listed(
                conn,
                &[
                    Listed {
                        sqlite: "DELETE FROM control_events
                                 WHERE control_id IN (SELECT value FROM json_each($1))",
                        postgres: "DELETE FROM control_events WHERE control_id = ANY($1)",
                    },
                    Listed {
                        sqlite: "DELETE FROM controls WHERE id IN (SELECT value FROM json_each($1))",
                        postgres: "DELETE FROM controls WHERE id = ANY($1)",
                    },
                ],
                &ids,
            )
            .await
        }
    }
}

async fn delete(
    conn: &mut Conn<'_>,
    sql: &'static str,
    batch: i64,
    cutoff_ms: i64,
) -> Result<u64, StoreError> {
    Ok(on_conn!(conn, c => {
        sqlx::query(sql)
            .bind(batch)
            .bind(cutoff_ms)
            .execute(c)
            .await
            .map(|done| done.rows_affected())
    })?)
}

async fn expired_ids(
    conn: &mut Conn<'_>,
    sql: &str,
    batch: i64,
    cutoff_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    Ok(on_conn!(conn, c => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(batch)
            .bind(cutoff_ms)
            .fetch_all(c)
            .await
    })?)
}

/// One DELETE of the rows whose ids are listed, in each dialect: SQLite
/// reads the list as a JSON array (`json_each($1)`), PostgreSQL as an
/// array parameter (`= ANY($1)`).
struct Listed {
    sqlite: &'static str,
    postgres: &'static str,
}

/// Runs `statements` in order with `ids` (the dependent rows first); the
/// rows the last one removed.
async fn delete_listed(
    conn: &mut Conn<'_>,
    statements: &[Listed],
    ids: &[i64],
) -> Result<u64, StoreError> {
    let mut removed = 0;
    match conn.reborrow() {
        Conn::Sqlite(c) => {
            let ids = serde_json::Value::from(ids).to_string();
            for s in statements {
                removed = sqlx::query(s.sqlite)
                    .bind(&ids)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
            }
        }
        Conn::Postgres(c) => {
            for s in statements {
                removed = sqlx::query(s.postgres)
                    .bind(ids)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
            }
        }
    }
    Ok(removed)
}
