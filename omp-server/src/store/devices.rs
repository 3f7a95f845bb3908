//! Table `devices`: devices registered under a gateway.
//!
//! Device IDs are `AD` + 8 digits from `seq` (starting at AD10014001, near
//! the observed `AD10014858`). Registration is idempotent per
//! `(gw_id, manufacture_id)`: registering again returns the same ID, also
//! after a deregistration.

use sqlx::SqlitePool;

use crate::error::StoreError;
use crate::store::now_millis;

const DEVICE_ID_BASE: i64 = 10_014_000;

/// Every active device as `(gw_id, device_id)`.
pub async fn load_active(pool: &SqlitePool) -> Result<Vec<(String, String)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT gw_id, device_id FROM devices WHERE deregistered_at IS NULL")
            .fetch_all(pool)
            .await?,
    )
}

/// Registers the device `manufacture_id` under `gw_id`; returns its ID.
/// Callers serialise registrations.
pub async fn register(
    pool: &SqlitePool,
    gw_id: &str,
    manufacture_id: &str,
) -> Result<String, StoreError> {
    let now = now_millis();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT device_id FROM devices WHERE gw_id = ? AND manufacture_id = ?")
            .bind(gw_id)
            .bind(manufacture_id)
            .fetch_optional(&mut *tx)
            .await?;
    let device_id = match existing {
        Some(device_id) => {
            sqlx::query(
                "UPDATE devices SET deregistered_at = NULL WHERE device_id = ?
                     AND deregistered_at IS NOT NULL",
            )
            .bind(&device_id)
            .execute(&mut *tx)
            .await?;
            device_id
        }
        None => {
            let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM devices")
                .fetch_one(&mut *tx)
                .await?;
            let device_id = format!("AD{:08}", DEVICE_ID_BASE + seq);
            sqlx::query(
                "INSERT INTO devices (seq, device_id, gw_id, manufacture_id, registered_at)
                     VALUES (?, ?, ?, ?, ?)",
            )
            .bind(seq)
            .bind(&device_id)
            .bind(gw_id)
            .bind(manufacture_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            device_id
        }
    };
    tx.commit().await?;
    Ok(device_id)
}

/// Deregisters `device_id` of `gw_id`; true when it was active under it.
pub async fn deregister(
    pool: &SqlitePool,
    gw_id: &str,
    device_id: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE devices SET deregistered_at = ? WHERE gw_id = ? AND device_id = ?
             AND deregistered_at IS NULL",
    )
    .bind(now_millis())
    .bind(gw_id)
    .bind(device_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
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
pub async fn of_gateway(pool: &SqlitePool, gw_id: &str) -> Result<Vec<Device>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT device_id, gw_id, manufacture_id, registered_at, deregistered_at
         FROM devices WHERE gw_id = ? ORDER BY device_id",
    )
    .bind(gw_id)
    .fetch_all(pool)
    .await?)
}

/// True when `device_id` is a device of `gw_id`; with `active_only`, one
/// not deregistered.
pub async fn exists(
    pool: &SqlitePool,
    gw_id: &str,
    device_id: &str,
    active_only: bool,
) -> Result<bool, StoreError> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM devices WHERE gw_id = ? AND device_id = ?
             AND (NOT ? OR deregistered_at IS NULL)",
    )
    .bind(gw_id)
    .bind(device_id)
    .bind(active_only)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}
