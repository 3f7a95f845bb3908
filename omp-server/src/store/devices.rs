//! Table `devices`: devices registered under a gateway.
//!
//! Device IDs are `AD` + 8 digits from `seq` (starting at AD10014001, near
//! the observed `AD10014858`). Registration is idempotent per
//! `(gw_id, manufacture_id)`: registering again returns the same ID, also
//! after a deregistration.

use crate::error::StoreError;
use crate::store::{Conn, Db, now_millis};
use crate::{on_conn, on_db};

const DEVICE_ID_BASE: i64 = 10_014_000;

/// Every active device as `(gw_id, device_id)`.
pub async fn load_active(db: &Db) -> Result<Vec<(String, String)>, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_as("SELECT gw_id, device_id FROM devices WHERE deregistered_at IS NULL")
            .fetch_all(pool)
            .await
    })?)
}

/// Registers the device `manufacture_id` under `gw_id`; returns its ID.
/// Callers serialise registrations.
pub async fn register(db: &Db, gw_id: &str, manufacture_id: &str) -> Result<String, StoreError> {
    let now = now_millis();
    let mut tx = db.begin_write().await?;
    let mut conn = tx.conn();
    let device_id = on_conn!(conn, c => {
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT device_id FROM devices WHERE gw_id = $1 AND manufacture_id = $2",
        )
        .bind(gw_id)
        .bind(manufacture_id)
        .fetch_optional(&mut *c)
        .await?;
        match existing {
            Some(device_id) => {
                sqlx::query(
                    "UPDATE devices SET deregistered_at = NULL WHERE device_id = $1
                         AND deregistered_at IS NOT NULL",
                )
                .bind(&device_id)
                .execute(&mut *c)
                .await?;
                device_id
            }
            None => {
                let seq: i64 =
                    sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM devices")
                        .fetch_one(&mut *c)
                        .await?;
                let device_id = format!("AD{:08}", DEVICE_ID_BASE + seq);
                sqlx::query(
                    "INSERT INTO devices (seq, device_id, gw_id, manufacture_id, registered_at)
                         VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(seq)
                .bind(&device_id)
                .bind(gw_id)
                .bind(manufacture_id)
                .bind(now)
                .execute(&mut *c)
                .await?;
                device_id
            }
        }
    });
    tx.commit().await?;
    Ok(device_id)
}

/// Deregisters `device_id` of `gw_id`; true when it was active under it.
pub async fn deregister(db: &Db, gw_id: &str, device_id: &str) -> Result<bool, StoreError> {
    let affected = on_db!(db, pool => {
        sqlx::query(
            "UPDATE devices SET deregistered_at = $1 WHERE gw_id = $2 AND device_id = $3
                 AND deregistered_at IS NULL",
        )
        .bind(now_millis())
        .bind(gw_id)
        .bind(device_id)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
    })?;
    Ok(affected > 0)
}

/// A device as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Device {
    /// `AD…`
    pub device_id: String,
    /// The gateway it is registered under.
    pub gw_id: String,
    /// Manufacture ID it registered with.
    pub manufacture_id: String,
    /// Unix ms.
    pub registered_at: i64,
    /// Unix ms; `Some` = deregistered.
    pub deregistered_at: Option<i64>,
}

/// Every device of `gw_id`, registered or not, in device ID order.
pub async fn of_gateway(db: &Db, gw_id: &str) -> Result<Vec<Device>, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_as(
            "SELECT device_id, gw_id, manufacture_id, registered_at, deregistered_at
             FROM devices WHERE gw_id = $1 ORDER BY device_id",
        )
        .bind(gw_id)
        .fetch_all(pool)
        .await
    })?)
}

/// True when `device_id` is a device of `gw_id`; with `active_only`, one
/// not deregistered.
pub async fn exists(
    db: &Db,
    gw_id: &str,
    device_id: &str,
    active_only: bool,
) -> Result<bool, StoreError> {
    // CAST: PostgreSQL types a bare 1 as a 32-bit integer.
    let found: Option<i64> = on_db!(db, pool => {
        sqlx::query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM devices WHERE gw_id = $1 AND device_id = $2
                 AND (NOT $3 OR deregistered_at IS NULL)",
        )
        .bind(gw_id)
        .bind(device_id)
        .bind(active_only)
        .fetch_optional(pool)
        .await
    })?;
    Ok(found.is_some())
}

/// Marks every active device of `gw_id` deregistered at `now`, inside the
/// caller's transaction (the gateway's own deregistration or revocation).
pub(super) async fn deregister_all_of(
    conn: &mut Conn<'_>,
    gw_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    on_conn!(conn, c => {
        sqlx::query(
            "UPDATE devices SET deregistered_at = $1 WHERE gw_id = $2
                 AND deregistered_at IS NULL",
        )
        .bind(now)
        .bind(gw_id)
        .execute(c)
        .await
        .map(drop)
    })?;
    Ok(())
}
