//! Table `profiles`: the 0x06 values per gateway (`device_id = ''`) or
//! device. No row means the configured defaults.

use sqlx::SqlitePool;

use crate::config::ProfileDefaults;
use crate::error::StoreError;

/// A stored profile row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct ProfileRow {
    heartbeat_period: i64,
    report_period: i64,
    report_offset: i64,
    response_timeout: i64,
    model: String,
    firmware_version: String,
    software_version: String,
    hardware_version: String,
}

fn to_u32(field: &'static str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::BadStoredValue {
        field,
        value: v.to_string(),
    })
}

/// The profile of `(gw_id, device_id)` (`''` = the GW), or `None` when none
/// is stored.
pub async fn get(
    pool: &SqlitePool,
    gw_id: &str,
    device_id: &str,
) -> Result<Option<ProfileDefaults>, StoreError> {
    let row = sqlx::query_as::<_, ProfileRow>(
        "SELECT heartbeat_period, report_period, report_offset, response_timeout, model,
             firmware_version, software_version, hardware_version
         FROM profiles WHERE gw_id = ? AND device_id = ?",
    )
    .bind(gw_id)
    .bind(device_id)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(ProfileDefaults {
            heartbeat_period: to_u32("heartbeat_period", r.heartbeat_period)?,
            report_period: to_u32("report_period", r.report_period)?,
            report_offset: to_u32("report_offset", r.report_offset)?,
            response_timeout: to_u32("response_timeout", r.response_timeout)?,
            model: r.model,
            firmware_version: r.firmware_version,
            software_version: r.software_version,
            hardware_version: r.hardware_version,
        })
    })
    .transpose()
}

/// Stores the profile of `(gw_id, device_id)`.
pub async fn put(
    pool: &SqlitePool,
    gw_id: &str,
    device_id: &str,
    p: &ProfileDefaults,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT OR REPLACE INTO profiles (gw_id, device_id, heartbeat_period, report_period,
             report_offset, response_timeout, model, firmware_version, software_version,
             hardware_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(gw_id)
    .bind(device_id)
    .bind(i64::from(p.heartbeat_period))
    .bind(i64::from(p.report_period))
    .bind(i64::from(p.report_offset))
    .bind(i64::from(p.response_timeout))
    .bind(&p.model)
    .bind(&p.firmware_version)
    .bind(&p.software_version)
    .bind(&p.hardware_version)
    .execute(pool)
    .await?;
    Ok(())
}
