//! Table `profiles`: the 0x06 values per gateway (`device_id = ''`) or
//! device. No row means the configured defaults.

use crate::config::ProfileDefaults;
use crate::error::StoreError;
use crate::on_db;
use crate::store::Db;

/// The profile columns, as selected from the table or from a LEFT JOIN
/// on it (every column NULL = no row: the table's columns are NOT NULL).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct ProfileRow {
    heartbeat_period: Option<i64>,
    report_period: Option<i64>,
    report_offset: Option<i64>,
    response_timeout: Option<i64>,
    model: Option<String>,
    firmware_version: Option<String>,
    software_version: Option<String>,
    hardware_version: Option<String>,
}

/// The profile's fields: the columns [`ProfileRow`] reads, and the keys
/// of the API's profile body (the same names by design).
pub(crate) const FIELDS: [&str; 8] = [
    "heartbeat_period",
    "report_period",
    "report_offset",
    "response_timeout",
    "model",
    "firmware_version",
    "software_version",
    "hardware_version",
];

/// The columns [`ProfileRow`] reads, qualified with `alias` (`p.` or `''`).
pub(crate) fn columns(alias: &str) -> String {
    FIELDS.map(|c| format!("{alias}{c}")).join(", ")
}

impl ProfileRow {
    /// The stored profile, `None` for no row; a value no 0x06 field can
    /// carry (only a hand edit stores one) is an error naming the field,
    /// for the GMMP side and the API alike.
    pub(crate) fn into_profile(self) -> Result<Option<ProfileDefaults>, StoreError> {
        let Some(heartbeat_period) = self.heartbeat_period else {
            return Ok(None);
        };
        let period = |field: &'static str, v: Option<i64>| -> Result<u32, StoreError> {
            let bad = |value: String| StoreError::BadStoredValue { field, value };
            let v = v.ok_or_else(|| bad("NULL".to_owned()))?;
            u32::try_from(v).map_err(|_| bad(v.to_string()))
        };
        let text = |field: &'static str, v: Option<String>| {
            v.ok_or_else(|| StoreError::BadStoredValue {
                field,
                value: "NULL".to_owned(),
            })
        };
        Ok(Some(ProfileDefaults {
            heartbeat_period: period("heartbeat_period", Some(heartbeat_period))?,
            report_period: period("report_period", self.report_period)?,
            report_offset: period("report_offset", self.report_offset)?,
            response_timeout: period("response_timeout", self.response_timeout)?,
            model: text("model", self.model)?,
            firmware_version: text("firmware_version", self.firmware_version)?,
            software_version: text("software_version", self.software_version)?,
            hardware_version: text("hardware_version", self.hardware_version)?,
        }))
    }
}

/// The profile of `(gw_id, device_id)` (`''` = the GW), or `None` when none
/// is stored.
pub async fn get(
    db: &Db,
    gw_id: &str,
    device_id: &str,
) -> Result<Option<ProfileDefaults>, StoreError> {
    let sql = format!(
        "SELECT {} FROM profiles WHERE gw_id = $1 AND device_id = $2",
        columns("")
    );
    let row = on_db!(db, pool => {
        sqlx::query_as::<_, ProfileRow>(sqlx::AssertSqlSafe(sql))
            .bind(gw_id)
            .bind(device_id)
            .fetch_optional(pool)
            .await
    })?;
    Ok(row.map(ProfileRow::into_profile).transpose()?.flatten())
}

/// Stores the profile of `(gw_id, device_id)`.
pub async fn put(
    db: &Db,
    gw_id: &str,
    device_id: &str,
    p: &ProfileDefaults,
) -> Result<(), StoreError> {
    // An upsert of every column: what SQLite's INSERT OR REPLACE did (no
    // other column, nothing refers to the row), in the form both take.
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO profiles (gw_id, device_id, heartbeat_period, report_period,
                 report_offset, response_timeout, model, firmware_version, software_version,
                 hardware_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (gw_id, device_id) DO UPDATE SET
                 heartbeat_period = excluded.heartbeat_period,
                 report_period = excluded.report_period,
                 report_offset = excluded.report_offset,
                 response_timeout = excluded.response_timeout,
                 model = excluded.model,
                 firmware_version = excluded.firmware_version,
                 software_version = excluded.software_version,
                 hardware_version = excluded.hardware_version",
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
        .await
        .map(drop)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> ProfileRow {
        ProfileRow {
            heartbeat_period: Some(5),
            report_period: Some(10),
            report_offset: Some(0),
            response_timeout: Some(30),
            model: Some("WizFi310".into()),
            firmware_version: Some("1.0.0.6".into()),
            software_version: Some(String::new()),
            hardware_version: Some(String::new()),
        }
    }

    #[test]
    fn no_row_is_no_profile_and_a_row_is_its_values() {
        assert_eq!(ProfileRow::default().into_profile().unwrap(), None);
        let p = stored().into_profile().unwrap().unwrap();
        assert_eq!((p.heartbeat_period, p.response_timeout), (5, 30));
        assert_eq!(p.model, "WizFi310");
    }

    #[test]
    fn a_value_no_field_can_carry_is_an_error_naming_the_field() {
        let row = ProfileRow {
            report_period: Some(-1),
            ..stored()
        };
        match row.into_profile() {
            Err(StoreError::BadStoredValue { field, value }) => {
                assert_eq!((field, value.as_str()), ("report_period", "-1"));
            }
            other => panic!("{other:?}"),
        }
    }
}
