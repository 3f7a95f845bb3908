//! Table `mqtt_presence`: whether each MQTT client is online, why its last
//! session ended, and when it was last heard. Written by the writer (in
//! its next batch, so it never holds SQLite's write lock beside it), in
//! the periodic flush that also writes the gateways' contact times. Each
//! change is written with its `mqtt_online` / `mqtt_offline` event
//! (`store::events`), in order: a client that came and went between two
//! flushes has both events, and its row ends at the latest state.

use crate::error::StoreError;
use crate::store::events::{self, NewEvent};
use crate::store::{Backend, Conn, Db};
use crate::{on_conn, on_db};

/// A client's online state to write (the latest of its changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// The client id.
    pub client_id: String,
    /// Online now.
    pub online: bool,
    /// Why its session ended (offline only).
    pub reason: Option<String>,
    /// The peer address.
    pub peer: String,
    /// Unix ms of the CONNACK 0.
    pub connected_at: i64,
    /// Unix ms of its last packet.
    pub last_seen: i64,
}

/// A client's online state, as read back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredPresence {
    /// The client id.
    pub client_id: String,
    /// Online now.
    pub online: bool,
    /// Why the last session ended.
    pub reason: Option<String>,
    /// The last peer address.
    pub peer: String,
    /// Unix ms of the last CONNACK 0.
    pub connected_at: i64,
    /// Unix ms of the last packet.
    pub last_seen: i64,
}

const COLUMNS: &str = "client_id, online, reason, peer, connected_at, last_seen";

/// [`COLUMNS`] on PostgreSQL: its 0/1 BIGINT `online` does not decode as
/// `bool`.
const PG_COLUMNS: &str = "client_id, online <> 0 AS online, reason, peer, connected_at, last_seen";

/// The columns of [`StoredPresence`] on `db`'s backend.
fn columns(db: &Db) -> &'static str {
    match db.backend() {
        Backend::Sqlite => COLUMNS,
        Backend::Postgres => PG_COLUMNS,
    }
}

/// Writes `states` and their events (writer connection, inside its
/// transaction).
pub async fn record(conn: &mut Conn<'_>, states: &[Presence]) -> Result<(), StoreError> {
    // `last_seen` never goes back: SQLite's two-argument MAX is
    // PostgreSQL's GREATEST.
    let sql = match conn.backend() {
        Backend::Sqlite => {
            "INSERT INTO mqtt_presence (client_id, online, reason, peer, connected_at, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (client_id) DO UPDATE SET online = $2, reason = $3, peer = $4,
                 connected_at = $5, last_seen = MAX(last_seen, $6)"
        }
        Backend::Postgres => {
            "INSERT INTO mqtt_presence (client_id, online, reason, peer, connected_at, last_seen)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (client_id) DO UPDATE SET online = $2, reason = $3, peer = $4,
                 connected_at = $5, last_seen = GREATEST(mqtt_presence.last_seen, $6)"
        }
    };
    for p in states {
        on_conn!(conn, c => {
            sqlx::query(sql)
                .bind(&p.client_id)
                .bind(i64::from(p.online))
                .bind(&p.reason)
                .bind(&p.peer)
                .bind(p.connected_at)
                .bind(p.last_seen)
                .execute(c)
                .await
                .map(drop)
        })?;
    }
    let events: Vec<NewEvent> = states.iter().map(Presence::event).collect();
    events::insert(conn, &events).await
}

impl Presence {
    /// The event of this change.
    fn event(&self) -> NewEvent {
        let (kind, at) = match self.online {
            true => (events::MQTT_ONLINE, self.connected_at),
            false => (events::MQTT_OFFLINE, self.last_seen),
        };
        NewEvent {
            kind,
            gw_id: None,
            device_id: Some(self.client_id.clone()),
            at,
            data: serde_json::json!({ "peer": self.peer, "reason": self.reason }),
        }
    }
}

/// The state of `client_id`, if it ever connected.
pub async fn get(db: &Db, client_id: &str) -> Result<Option<StoredPresence>, StoreError> {
    let sql = format!(
        "SELECT {} FROM mqtt_presence WHERE client_id = $1",
        columns(db)
    );
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoredPresence>(sqlx::AssertSqlSafe(sql))
            .bind(client_id)
            .fetch_optional(pool)
            .await
    })?)
}

/// At most `limit` clients after client id `after`, by client id.
pub async fn page(
    db: &Db,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredPresence>, StoreError> {
    let sql = format!(
        "SELECT {} FROM mqtt_presence WHERE $1 IS NULL OR client_id > $1
         ORDER BY client_id LIMIT $2",
        columns(db)
    );
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoredPresence>(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
    })?)
}
