//! This instance in the `instances` table: a random id made at each
//! start, its row written at start, refreshed at each heartbeat (with
//! `last_seen` of its sessions), and removed with its sessions at a clean
//! stop.

use sqlx::PgPool;

use crate::store::now_millis;

/// A new instance id: 16 hex digits, random (two instances started from
/// the same data directory, or one restarted, never share one).
pub fn new_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// Writes the row of instance `id`, started at `started_at` (Unix ms).
pub async fn register(pool: &PgPool, id: &str, started_at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO instances (id, started_at, heartbeat_at) VALUES ($1, $2, $2)")
        .bind(id)
        .bind(started_at)
        .execute(pool)
        .await?;
    Ok(())
}

/// Says instance `id` is alive: its `heartbeat_at` and its sessions'
/// `last_seen` are now. The row is written again if it is gone (removed
/// by hand while the instance runs), keeping the time the instance
/// started when it is there.
pub async fn heartbeat(pool: &PgPool, id: &str, started_at: i64) -> Result<(), sqlx::Error> {
    let now = now_millis();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO instances (id, started_at, heartbeat_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at",
    )
    .bind(id)
    .bind(started_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE sessions SET last_seen = $2 WHERE instance_id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Removes instance `id` and the sessions it holds (a clean stop).
pub async fn remove(pool: &PgPool, id: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM sessions WHERE instance_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM instances WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}
