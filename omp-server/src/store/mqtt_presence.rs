//! Table `mqtt_presence`: whether each MQTT client is online, why its last
//! session ended, and when it was last heard. Written by the writer (in
//! its next batch, so it never holds SQLite's write lock beside it).

use sqlx::{SqliteConnection, SqlitePool};

use crate::error::StoreError;

/// A change of a client's online state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// CONNACK 0 sent.
    Online {
        /// The client id.
        client_id: String,
        /// The peer address.
        peer: String,
        /// Unix ms.
        at: i64,
    },
    /// The session ended.
    Offline {
        /// The client id.
        client_id: String,
        /// Why.
        reason: String,
        /// Unix ms of the last packet.
        last_seen: i64,
    },
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

/// Applies `changes` in order (writer connection, inside its transaction).
pub(crate) async fn record(
    conn: &mut SqliteConnection,
    changes: &[Presence],
) -> Result<(), StoreError> {
    for change in changes {
        match change {
            Presence::Online {
                client_id,
                peer,
                at,
            } => {
                sqlx::query(
                    "INSERT INTO mqtt_presence (client_id, online, reason, peer, connected_at,
                         last_seen) VALUES (?1, 1, NULL, ?2, ?3, ?3)
                     ON CONFLICT (client_id) DO UPDATE SET online = 1, reason = NULL,
                         peer = ?2, connected_at = ?3, last_seen = ?3",
                )
                .bind(client_id)
                .bind(peer)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            }
            Presence::Offline {
                client_id,
                reason,
                last_seen,
            } => {
                sqlx::query(
                    "UPDATE mqtt_presence SET online = 0, reason = ?2,
                         last_seen = MAX(last_seen, ?3) WHERE client_id = ?1",
                )
                .bind(client_id)
                .bind(reason)
                .bind(last_seen)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    Ok(())
}

/// The state of `client_id`, if it ever connected.
pub async fn get(pool: &SqlitePool, client_id: &str) -> Result<Option<StoredPresence>, StoreError> {
    Ok(
        sqlx::query_as::<_, StoredPresence>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_presence WHERE client_id = ?"
        )))
        .bind(client_id)
        .fetch_optional(pool)
        .await?,
    )
}

/// At most `limit` clients after client id `after`, by client id.
pub async fn page(
    pool: &SqlitePool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredPresence>, StoreError> {
    Ok(
        sqlx::query_as::<_, StoredPresence>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_presence WHERE ?1 IS NULL OR client_id > ?1
         ORDER BY client_id LIMIT ?2"
        )))
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?,
    )
}
