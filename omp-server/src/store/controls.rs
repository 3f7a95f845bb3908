//! Table `controls` (and its `control_events` timeline): GMMP controls
//! here, MQTT commands in [`super::mqtt_controls`]. The control
//! dispatcher is its only writer (the API's creations and cancellations go
//! through it); the API reads controls with [`get`], [`by_idempotency_key`]
//! and [`page`].
//!
//! Every change is one compare-and-set UPDATE on the state (`WHERE state
//! IN …`); the database's triggers (migration 0003) add its timeline row in
//! the same statement. Whoever moves a control first wins (the dispatcher
//! sending it or an API `DELETE` cancelling it), and the loser sees
//! `false` and leaves it alone.

use sqlx::{AssertSqlSafe, FromRow, QueryBuilder};

use crate::error::StoreError;
use crate::store::{Backend, Conn, Db};
use crate::{on_conn, on_db};

/// A control's state, as stored (the contract's `ControlState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlState {
    /// Stored, waiting for the gateway or for a free slot.
    Queued,
    /// 0x0D handed to the gateway's session.
    Sent,
    /// The gateway answered 0x0E with rc OK.
    Progress,
    /// The 0x17 arrived with rc OK.
    Success,
    /// An error rc in the 0x0E or in the 0x17.
    Failed,
    /// No 0x0E or no 0x17 in time.
    Timeout,
    /// The TTL passed while it was QUEUED.
    Expired,
    /// Deleted through the API while QUEUED.
    Cancelled,
}

impl ControlState {
    /// Every state, in the order of the state machine.
    pub const ALL: [ControlState; 8] = [
        ControlState::Queued,
        ControlState::Sent,
        ControlState::Progress,
        ControlState::Success,
        ControlState::Failed,
        ControlState::Timeout,
        ControlState::Expired,
        ControlState::Cancelled,
    ];

    /// The state stored as `text`.
    pub fn parse(text: &str) -> Option<ControlState> {
        ControlState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// True for the states that never change again.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            ControlState::Queued | ControlState::Sent | ControlState::Progress
        )
    }

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlState::Queued => "QUEUED",
            ControlState::Sent => "SENT",
            ControlState::Progress => "PROGRESS",
            ControlState::Success => "SUCCESS",
            ControlState::Failed => "FAILED",
            ControlState::Timeout => "TIMEOUT",
            ControlState::Expired => "EXPIRED",
            ControlState::Cancelled => "CANCELLED",
        }
    }

    /// The column that records when this state was reached.
    fn timestamp_column(self) -> Option<&'static str> {
        match self {
            ControlState::Queued => None,
            ControlState::Sent => Some("sent_at"),
            ControlState::Progress => Some("acknowledged_at"),
            ControlState::Success
            | ControlState::Failed
            | ControlState::Timeout
            | ControlState::Expired
            | ControlState::Cancelled => Some("completed_at"),
        }
    }
}

/// A control to insert, `QUEUED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewControl {
    /// GW ID.
    pub gw_id: String,
    /// Device ID, `""` for the gateway itself.
    pub device_id: String,
    /// GMMP control type.
    pub control_type: u8,
    /// Control data.
    pub data: Option<Vec<u8>>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms after which it expires if still QUEUED.
    pub expires_at: i64,
    /// The client's Idempotency-Key.
    pub idempotency_key: Option<String>,
}

/// Inserts `control` QUEUED (the trigger writes its first timeline row);
/// its id, or `None` when its idempotency key is already used for the
/// gateway.
pub async fn insert(conn: &mut Conn<'_>, control: &NewControl) -> Result<Option<i64>, StoreError> {
    let id: Option<i64> = on_conn!(conn, c => {
        sqlx::query_scalar(
            "INSERT INTO controls (gw_id, device_id, control_type, data, state, created_at,
                 changed_at, expires_at, idempotency_key)
             VALUES ($1, $2, $3, $4, 'QUEUED', $5, $5, $6, $7)
             ON CONFLICT (gw_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
             RETURNING id",
        )
        .bind(&control.gw_id)
        .bind(&control.device_id)
        .bind(i64::from(control.control_type))
        .bind(&control.data)
        .bind(control.created_at)
        .bind(control.expires_at)
        .bind(&control.idempotency_key)
        .fetch_optional(c)
        .await
    })?;
    Ok(id)
}

/// A QUEUED control, as the dispatcher needs it to send it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct QueuedControl {
    /// Row id.
    pub id: i64,
    /// Device ID, `""` for the gateway itself.
    pub device_id: String,
    /// GMMP control type.
    pub control_type: i64,
    /// Control data.
    pub data: Option<Vec<u8>>,
    /// Unix ms after which it expires.
    pub expires_at: i64,
}

/// A SENT or PROGRESS control (start-up recovery).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OpenControl {
    /// Row id.
    pub id: i64,
    /// GW ID.
    pub gw_id: String,
    /// Device ID, `""` for the gateway itself.
    pub device_id: String,
    /// GMMP control type.
    pub control_type: i64,
    /// Its OMP T-ID.
    pub tid: Option<i64>,
    /// `SENT` or `PROGRESS`.
    pub state: String,
    /// Unix ms of the 0x0E, when PROGRESS.
    pub acknowledged_at: Option<i64>,
    /// Unix ms after which a QUEUED control expires.
    pub expires_at: i64,
}

/// What a transition writes besides the state and its timestamp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The OMP T-ID (when sent). A control going back to QUEUED keeps the
    /// T-ID it was last sent with, so that the highest T-ID stored never
    /// goes down and a restart never gives an old T-ID out again.
    pub tid: Option<u32>,
    /// The gateway's result code (0x0E or 0x17).
    pub result_code: Option<u8>,
    /// The 0x17 body.
    pub result_data: Option<Vec<u8>>,
}

/// Moves control `id` from one of `from` to `to` at `at` (Unix ms), with
/// `outcome` (the trigger appends the timeline row). False when the
/// control was not in one of `from` (someone else moved it first): nothing
/// is written.
pub async fn transition(
    conn: &mut Conn<'_>,
    id: i64,
    from: &[ControlState],
    to: ControlState,
    at: i64,
    outcome: &Outcome,
) -> Result<bool, StoreError> {
    let from: Vec<&'static str> = from.iter().map(|s| s.as_str()).collect();
    // The column names come from a closed list, never from input.
    let stamp = to
        .timestamp_column()
        .map(|c| format!(", {c} = $4"))
        .unwrap_or_default();
    let tid = if outcome.tid.is_some() {
        ", tid = $5"
    } else {
        ""
    };
    // The states `from` are a JSON array on SQLite (json_each) and an
    // array parameter on PostgreSQL (which has no json_each).
    let from_states = match conn.backend() {
        Backend::Sqlite => "IN (SELECT value FROM json_each($3))",
        Backend::Postgres => "= ANY($3)",
    };
    let sql = format!(
        "UPDATE controls SET state = $1, changed_at = $4{stamp}{tid},
             result_code = COALESCE($6, result_code), result_data = COALESCE($7, result_data)
         WHERE id = $2 AND state {from_states}"
    );
    let tid = outcome.tid.map(i64::from);
    let result_code = outcome.result_code.map(i64::from);
    let result_data = outcome.result_data.as_deref();
    let affected = match conn.reborrow() {
        Conn::Sqlite(c) => {
            let from_json = serde_json::to_string(&from).unwrap_or_else(|_| "[]".to_owned());
            sqlx::query(AssertSqlSafe(sql))
                .bind(to.as_str())
                .bind(id)
                .bind(from_json)
                .bind(at)
                .bind(tid)
                .bind(result_code)
                .bind(result_data)
                .execute(c)
                .await?
                .rows_affected()
        }
        Conn::Postgres(c) => sqlx::query(AssertSqlSafe(sql))
            .bind(to.as_str())
            .bind(id)
            .bind(&from)
            .bind(at)
            .bind(tid)
            .bind(result_code)
            .bind(result_data)
            .execute(c)
            .await?
            .rows_affected(),
    };
    Ok(affected > 0)
}

/// The QUEUED controls of `gw_id` that have not expired at `now`, oldest
/// first, at most `limit`.
pub async fn queued(
    conn: &mut Conn<'_>,
    gw_id: &str,
    now: i64,
    limit: i64,
) -> Result<Vec<QueuedControl>, StoreError> {
    Ok(on_conn!(conn, c => {
        sqlx::query_as(
            "SELECT id, device_id, control_type, data, expires_at FROM controls
             WHERE gw_id = $1 AND state = 'QUEUED' AND expires_at > $2 ORDER BY id LIMIT $3",
        )
        .bind(gw_id)
        .bind(now)
        .bind(limit)
        .fetch_all(c)
        .await
    })?)
}

/// The gateways with a QUEUED control.
pub async fn gateways_with_queued(conn: &mut Conn<'_>) -> Result<Vec<String>, StoreError> {
    Ok(on_conn!(conn, c => {
        sqlx::query_scalar(
            "SELECT DISTINCT gw_id FROM controls WHERE state = 'QUEUED' AND gw_id IS NOT NULL",
        )
        .fetch_all(c)
        .await
    })?)
}

/// Marks every QUEUED control whose TTL passed by `now` EXPIRED; returns
/// their ids.
pub async fn expire_due(conn: &mut Conn<'_>, now: i64) -> Result<Vec<i64>, StoreError> {
    Ok(on_conn!(conn, c => {
        sqlx::query_scalar(
            "UPDATE controls SET state = 'EXPIRED', completed_at = $1, changed_at = $1
             WHERE state = 'QUEUED' AND expires_at <= $1 RETURNING id",
        )
        .bind(now)
        .fetch_all(c)
        .await
    })?)
}

/// The earliest expiry among QUEUED controls.
pub async fn next_expiry(conn: &mut Conn<'_>) -> Result<Option<i64>, StoreError> {
    Ok(on_conn!(conn, c => {
        sqlx::query_scalar("SELECT MIN(expires_at) FROM controls WHERE state = 'QUEUED'")
            .fetch_one(c)
            .await
    })?)
}

/// Every SENT or PROGRESS GMMP control (start-up recovery).
pub async fn in_flight(conn: &mut Conn<'_>) -> Result<Vec<OpenControl>, StoreError> {
    Ok(on_conn!(conn, c => {
        sqlx::query_as(
            "SELECT id, gw_id, device_id, control_type, tid, state, acknowledged_at, expires_at
             FROM controls WHERE state IN ('SENT', 'PROGRESS') AND gw_id IS NOT NULL ORDER BY id",
        )
        .fetch_all(c)
        .await
    })?)
}

/// The highest T-ID ever given (to continue after it).
pub async fn max_tid(conn: &mut Conn<'_>) -> Result<Option<i64>, StoreError> {
    // MAX of a BIGINT column is a BIGINT on PostgreSQL too (unlike SUM).
    Ok(on_conn!(conn, c => {
        sqlx::query_scalar("SELECT MAX(tid) FROM controls")
            .fetch_one(c)
            .await
    })?)
}

/// The data of control `id`.
pub async fn data(conn: &mut Conn<'_>, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
    let row: Option<Option<Vec<u8>>> = on_conn!(conn, c => {
        sqlx::query_scalar("SELECT data FROM controls WHERE id = $1")
            .bind(id)
            .fetch_optional(c)
            .await
    })?;
    Ok(row.flatten())
}

/// A control and its timeline, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// Row id.
    pub id: i64,
    /// GW ID.
    pub gw_id: String,
    /// Device ID, `""` for the gateway itself.
    pub device_id: String,
    /// GMMP control type.
    pub control_type: i64,
    /// Control data.
    pub data: Option<Vec<u8>>,
    /// The OMP T-ID it was last sent with.
    pub tid: Option<i64>,
    /// Its state.
    pub state: ControlState,
    /// The gateway's result code (0x0E or 0x17).
    pub result_code: Option<i64>,
    /// The 0x17 body.
    pub result_data: Option<Vec<u8>>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the (last) 0x0D.
    pub sent_at: Option<i64>,
    /// Unix ms of the 0x0E.
    pub acknowledged_at: Option<i64>,
    /// Unix ms of the final state.
    pub completed_at: Option<i64>,
    /// Unix ms after which it expires if still QUEUED.
    pub expires_at: i64,
    /// Every state it was in, with its Unix ms, in order.
    pub timeline: Vec<(ControlState, i64)>,
}

#[derive(FromRow)]
struct ControlRow {
    id: i64,
    gw_id: String,
    device_id: String,
    control_type: i64,
    data: Option<Vec<u8>>,
    tid: Option<i64>,
    state: String,
    result_code: Option<i64>,
    result_data: Option<Vec<u8>>,
    created_at: i64,
    sent_at: Option<i64>,
    acknowledged_at: Option<i64>,
    completed_at: Option<i64>,
    expires_at: i64,
    /// `[[state, at], …]` in order, as JSON.
    timeline: String,
}

pub(super) fn stored_state(field: &'static str, text: &str) -> Result<ControlState, StoreError> {
    ControlState::parse(text).ok_or_else(|| StoreError::BadStoredValue {
        field,
        value: text.to_owned(),
    })
}

/// The timeline column (`[[state, at], …]` as JSON) decoded.
pub(super) fn timeline(json: &str) -> Result<Vec<(ControlState, i64)>, StoreError> {
    let timeline: Vec<(String, i64)> =
        serde_json::from_str(json).map_err(|_| StoreError::BadStoredValue {
            field: "timeline",
            value: json.to_owned(),
        })?;
    timeline
        .iter()
        .map(|(state, at)| Ok((stored_state("control_events.state", state)?, *at)))
        .collect()
}

impl ControlRow {
    fn into_domain(self) -> Result<Control, StoreError> {
        Ok(Control {
            state: stored_state("state", &self.state)?,
            timeline: timeline(&self.timeline)?,
            id: self.id,
            gw_id: self.gw_id,
            device_id: self.device_id,
            control_type: self.control_type,
            data: self.data,
            tid: self.tid,
            result_code: self.result_code,
            result_data: self.result_data,
            created_at: self.created_at,
            sent_at: self.sent_at,
            acknowledged_at: self.acknowledged_at,
            completed_at: self.completed_at,
            expires_at: self.expires_at,
        })
    }
}

/// The timeline of the row `controls.id` as JSON text, `[[state, at], …]`
/// in order, `[]` when it has none. The JSON functions are each backend's
/// own (PostgreSQL's `json_agg` of no rows is NULL, hence the COALESCE).
pub(super) fn timeline_column(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "(SELECT json_group_array(json_array(e.state, e.at) ORDER BY e.id)
              FROM control_events AS e WHERE e.control_id = controls.id)"
        }
        Backend::Postgres => {
            "(SELECT COALESCE(json_agg(json_build_array(e.state, e.at) ORDER BY e.id)::text, '[]')
              FROM control_events AS e WHERE e.control_id = controls.id)"
        }
    }
}

/// A control and its timeline in one statement, so a read is one
/// snapshot (two reads could show a state and a timeline that has moved
/// on past it).
fn control_select(backend: Backend) -> String {
    format!(
        "SELECT id, gw_id, device_id, control_type, data, tid, state,
            result_code, result_data, created_at, sent_at, acknowledged_at, completed_at,
            expires_at, {} AS timeline
         FROM controls",
        timeline_column(backend)
    )
}

/// GMMP control `id` (`None` for an MQTT command or no row).
pub async fn get(db: &Db, id: i64) -> Result<Option<Control>, StoreError> {
    let sql = format!(
        "{} WHERE id = $1 AND gw_id IS NOT NULL",
        control_select(db.backend())
    );
    let row: Option<ControlRow> = on_db!(db, pool => {
        sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(pool)
            .await
    })?;
    row.map(ControlRow::into_domain).transpose()
}

/// A control of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyControl {
    /// To a GMMP gateway or one of its devices.
    Gmmp(Control),
    /// To an MQTT client.
    Mqtt(super::mqtt_controls::MqttControl),
}

impl AnyControl {
    /// Its state.
    pub fn state(&self) -> ControlState {
        match self {
            AnyControl::Gmmp(c) => c.state,
            AnyControl::Mqtt(c) => c.state,
        }
    }
}

/// Control `id`, whichever its kind.
pub async fn get_any(db: &Db, id: i64) -> Result<Option<AnyControl>, StoreError> {
    if let Some(c) = get(db, id).await? {
        return Ok(Some(AnyControl::Gmmp(c)));
    }
    Ok(super::mqtt_controls::get(db, id)
        .await?
        .map(AnyControl::Mqtt))
}

/// The control of `gw_id` created with idempotency key `key`.
pub async fn by_idempotency_key(
    db: &Db,
    gw_id: &str,
    key: &str,
) -> Result<Option<Control>, StoreError> {
    let sql = format!(
        "{} WHERE gw_id = $1 AND idempotency_key = $2",
        control_select(db.backend())
    );
    let row: Option<ControlRow> = on_db!(db, pool => {
        sqlx::query_as(AssertSqlSafe(sql))
            .bind(gw_id)
            .bind(key)
            .fetch_optional(pool)
            .await
    })?;
    row.map(ControlRow::into_domain).transpose()
}

/// At most `limit` controls of `gw_id` (in `state` when given, with ids
/// below `before_id` when given), newest first.
pub async fn page(
    db: &Db,
    gw_id: &str,
    state: Option<ControlState>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Control>, StoreError> {
    let rows: Vec<ControlRow> = on_db!(db, pool => {
        let mut sql = QueryBuilder::new(control_select(db.backend()));
        sql.push(" WHERE gw_id = ").push_bind(gw_id);
        if let Some(s) = state {
            sql.push(" AND state = ").push_bind(s.as_str());
        }
        if let Some(id) = before_id {
            sql.push(" AND id < ").push_bind(id);
        }
        sql.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
        sql.build_query_as().fetch_all(pool).await
    })?;
    rows.into_iter().map(ControlRow::into_domain).collect()
}
