//! The MQTT commands among the rows of table `controls` (migration 0008):
//! rows whose target is an MQTT client (`mqtt_client_id`) rather than a
//! GMMP gateway. They share the id space, the state machine, the timeline
//! triggers and the TTL sweep with GMMP controls; their state changes go
//! through [`super::controls::transition`] like any control's.

use sqlx::{AssertSqlSafe, FromRow, QueryBuilder};

use super::controls::{ControlState, stored_state, timeline, timeline_column};
use crate::error::StoreError;
use crate::store::{Backend, Conn, Db};
use crate::{on_conn, on_db};

/// An MQTT command to insert, `QUEUED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMqttControl {
    /// The MQTT client commanded.
    pub client_id: String,
    /// The topic to publish on (`$creq`: a OneNET command).
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// 0, 1 or 2.
    pub qos: u8,
    /// The topic whose publish by the device ends the command.
    pub reply_topic: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms after which it expires if still QUEUED.
    pub expires_at: i64,
    /// The client's Idempotency-Key.
    pub idempotency_key: Option<String>,
}

/// Inserts `control` QUEUED; its id, or `None` when its idempotency key is
/// already used for the client.
pub async fn insert(
    conn: &mut Conn<'_>,
    control: &NewMqttControl,
) -> Result<Option<i64>, StoreError> {
    let id: Option<i64> = on_conn!(conn, c => {
        sqlx::query_scalar(
            "INSERT INTO controls (mqtt_client_id, mqtt_topic, mqtt_qos, mqtt_reply_topic, data,
                 state, created_at, changed_at, expires_at, idempotency_key)
             VALUES ($1, $2, $3, $4, $5, 'QUEUED', $6, $6, $7, $8)
             ON CONFLICT (mqtt_client_id, idempotency_key)
                 WHERE mqtt_client_id IS NOT NULL AND idempotency_key IS NOT NULL DO NOTHING
             RETURNING id",
        )
        .bind(&control.client_id)
        .bind(&control.topic)
        .bind(i64::from(control.qos))
        .bind(&control.reply_topic)
        .bind(&control.payload)
        .bind(control.created_at)
        .bind(control.expires_at)
        .bind(&control.idempotency_key)
        .fetch_optional(c)
        .await
    })?;
    Ok(id)
}

/// A QUEUED MQTT command, as the dispatcher needs it to send it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct QueuedMqttControl {
    /// Row id.
    pub id: i64,
    /// The topic to publish on.
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// 0, 1 or 2.
    pub qos: i64,
    /// The topic whose publish ends it.
    pub reply_topic: Option<String>,
}

/// The QUEUED commands of `client_id` that have not expired at `now`,
/// oldest first, at most `limit`.
pub async fn queued(
    conn: &mut Conn<'_>,
    client_id: &str,
    now: i64,
    limit: i64,
) -> Result<Vec<QueuedMqttControl>, StoreError> {
    let sql = format!(
        "SELECT id, mqtt_topic AS topic, COALESCE(data, {}) AS payload, mqtt_qos AS qos,
             mqtt_reply_topic AS reply_topic
         FROM controls
         WHERE mqtt_client_id = $1 AND state = 'QUEUED' AND expires_at > $2
         ORDER BY id LIMIT $3",
        empty_blob(conn.backend())
    );
    Ok(on_conn!(conn, c => {
        sqlx::query_as(AssertSqlSafe(sql))
            .bind(client_id)
            .bind(now)
            .bind(limit)
            .fetch_all(c)
            .await
    })?)
}

/// Start-up: every MQTT command left SENT by the last run goes back to
/// QUEUED (its session is gone); their ids.
pub async fn requeue_sent(conn: &mut Conn<'_>, now: i64) -> Result<Vec<i64>, StoreError> {
    Ok(on_conn!(conn, c => {
        sqlx::query_scalar(
            "UPDATE controls SET state = 'QUEUED', changed_at = $1
             WHERE mqtt_client_id IS NOT NULL AND state IN ('SENT', 'PROGRESS') RETURNING id",
        )
        .bind(now)
        .fetch_all(c)
        .await
    })?)
}

/// An MQTT command and its timeline, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttControl {
    /// Row id.
    pub id: i64,
    /// The MQTT client commanded.
    pub client_id: String,
    /// The topic it is published on.
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// 0, 1 or 2.
    pub qos: i64,
    /// The topic whose publish ends it.
    pub reply_topic: Option<String>,
    /// Its state.
    pub state: ControlState,
    /// The device's reply payload.
    pub result: Option<Vec<u8>>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms it was (last) written to the device's connection.
    pub sent_at: Option<i64>,
    /// Unix ms of the final state.
    pub completed_at: Option<i64>,
    /// Unix ms after which it expires if still QUEUED.
    pub expires_at: i64,
    /// Every state it was in, with its Unix ms, in order.
    pub timeline: Vec<(ControlState, i64)>,
}

#[derive(FromRow)]
struct MqttControlRow {
    id: i64,
    client_id: String,
    topic: String,
    payload: Vec<u8>,
    qos: i64,
    reply_topic: Option<String>,
    state: String,
    result: Option<Vec<u8>>,
    created_at: i64,
    sent_at: Option<i64>,
    completed_at: Option<i64>,
    expires_at: i64,
    timeline: String,
}

impl MqttControlRow {
    fn into_domain(self) -> Result<MqttControl, StoreError> {
        Ok(MqttControl {
            state: stored_state("state", &self.state)?,
            timeline: timeline(&self.timeline)?,
            id: self.id,
            client_id: self.client_id,
            topic: self.topic,
            payload: self.payload,
            qos: self.qos,
            reply_topic: self.reply_topic,
            result: self.result,
            created_at: self.created_at,
            sent_at: self.sent_at,
            completed_at: self.completed_at,
            expires_at: self.expires_at,
        })
    }
}

/// The empty blob in SQL: `x''` is SQLite's, but a bit string on
/// PostgreSQL, whose empty bytea is `''::bytea`.
fn empty_blob(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "x''",
        Backend::Postgres => "''::bytea",
    }
}

/// A command and its timeline in one statement (one snapshot).
fn mqtt_control_select(backend: Backend) -> String {
    let empty = empty_blob(backend);
    format!(
        "SELECT id, mqtt_client_id AS client_id, mqtt_topic AS topic,
            COALESCE(data, {empty}) AS payload, mqtt_qos AS qos,
            mqtt_reply_topic AS reply_topic, state, result_data AS result, created_at, sent_at,
            completed_at, expires_at, {} AS timeline
         FROM controls",
        timeline_column(backend)
    )
}

/// MQTT command `id` (`None` for a GMMP control or no row).
pub async fn get(db: &Db, id: i64) -> Result<Option<MqttControl>, StoreError> {
    let sql = format!(
        "{} WHERE id = $1 AND mqtt_client_id IS NOT NULL",
        mqtt_control_select(db.backend())
    );
    let row: Option<MqttControlRow> = on_db!(db, pool => {
        sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(pool)
            .await
    })?;
    row.map(MqttControlRow::into_domain).transpose()
}

/// The command of `client_id` created with idempotency key `key`.
pub async fn by_idempotency_key(
    db: &Db,
    client_id: &str,
    key: &str,
) -> Result<Option<MqttControl>, StoreError> {
    let sql = format!(
        "{} WHERE mqtt_client_id = $1 AND idempotency_key = $2",
        mqtt_control_select(db.backend())
    );
    let row: Option<MqttControlRow> = on_db!(db, pool => {
        sqlx::query_as(AssertSqlSafe(sql))
            .bind(client_id)
            .bind(key)
            .fetch_optional(pool)
            .await
    })?;
    row.map(MqttControlRow::into_domain).transpose()
}

/// At most `limit` commands of `client_id` (in `state` when given, with
/// ids below `before_id` when given), newest first.
pub async fn page(
    db: &Db,
    client_id: &str,
    state: Option<ControlState>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<MqttControl>, StoreError> {
    let rows: Vec<MqttControlRow> = on_db!(db, pool => {
        let mut sql = QueryBuilder::new(mqtt_control_select(db.backend()));
        sql.push(" WHERE mqtt_client_id = ").push_bind(client_id);
        if let Some(s) = state {
            sql.push(" AND state = ").push_bind(s.as_str());
        }
        if let Some(id) = before_id {
            sql.push(" AND id < ").push_bind(id);
        }
        sql.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
        sql.build_query_as().fetch_all(pool).await
    })?;
    rows.into_iter().map(MqttControlRow::into_domain).collect()
}
