//! The SQL of the `sessions` table: claiming a key (and announcing it in
//! the same statement), removing a session's own row, and what the table
//! says of the keys this instance holds.

use sqlx::PgPool;

use super::local::Kind;
use super::notice::CHANNEL;

/// What the instance claims.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The key's kind.
    pub kind: Kind,
    /// The GW ID or client id.
    pub key: String,
    /// The local session's id.
    pub session: u64,
    /// The peer's address.
    pub peer: String,
    /// When the session bound its key, Unix ms.
    pub at: i64,
}

/// Claims `req.key` for instance `me`: the row is made or taken over with
/// the next epoch, and the claim announced on [`CHANNEL`]. One statement,
/// so one transaction: the announcement goes out with the commit, never
/// for a claim rolled back. Returns the claim's epoch.
pub async fn claim(pool: &PgPool, me: &str, req: &ClaimRequest) -> Result<i64, sqlx::Error> {
    // The payload is `notice::Notice`'s format; pg_notify is called from
    // FROM so that its void result is no column of the answer.
    sqlx::query_scalar(
        "WITH claimed AS (
             INSERT INTO sessions (kind, key, instance_id, epoch, peer, connected_at, last_seen)
             VALUES ($1, $2, $3, 1, $4, $5, $5)
             ON CONFLICT (kind, key) DO UPDATE SET
                 instance_id = EXCLUDED.instance_id,
                 epoch = sessions.epoch + 1,
                 peer = EXCLUDED.peer,
                 connected_at = EXCLUDED.connected_at,
                 last_seen = EXCLUDED.last_seen
             RETURNING kind, key, instance_id, epoch
         )
         SELECT c.epoch FROM claimed AS c,
             LATERAL pg_notify($6, c.kind || ' ' || c.key || ' ' || c.epoch || ' ' || c.instance_id)
                 AS announced",
    )
    .bind(req.kind.as_str())
    .bind(&req.key)
    .bind(me)
    .bind(&req.peer)
    .bind(req.at)
    .bind(CHANNEL)
    .fetch_one(pool)
    .await
}

/// Removes the row of `key` if it is still instance `me`'s claim at
/// `epoch` (a newer claim, here or elsewhere, stays).
pub async fn release(
    pool: &PgPool,
    me: &str,
    kind: Kind,
    key: &str,
    epoch: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM sessions
         WHERE kind = $1 AND key = $2 AND instance_id = $3 AND epoch = $4",
    )
    .bind(kind.as_str())
    .bind(key)
    .bind(me)
    .bind(epoch)
    .execute(pool)
    .await?;
    Ok(())
}

/// A row of `sessions` naming another instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The key's kind.
    pub kind: Kind,
    /// The GW ID or client id.
    pub key: String,
    /// The instance holding it.
    pub instance: String,
    /// Its claim's epoch.
    pub epoch: i64,
}

/// The rows of `gmmp` and `mqtt` keys that name an instance other than
/// `me`.
pub async fn held_elsewhere(
    pool: &PgPool,
    me: &str,
    gmmp: &[String],
    mqtt: &[String],
) -> Result<Vec<Owner>, sqlx::Error> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT kind, key, instance_id, epoch FROM sessions
         WHERE instance_id <> $1
           AND ((kind = 'gmmp' AND key = ANY($2)) OR (kind = 'mqtt' AND key = ANY($3)))",
    )
    .bind(me)
    .bind(gmmp)
    .bind(mqtt)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(kind, key, instance, epoch)| {
            Some(Owner {
                kind: Kind::parse(&kind)?,
                key,
                instance,
                epoch,
            })
        })
        .collect())
}
