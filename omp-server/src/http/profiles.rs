//! `/api/v1/gateways/{gw_id}/profile` and
//! `/api/v1/gateways/{gw_id}/devices/{device_id}/profile`: the 0x06 values
//! the OMP answers (table `profiles`, `device_id = ''` for the gateway).
//! No stored row means the configured defaults; a PUT stores a full row
//! merged from the current values and the fields given.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::store::profiles;

use super::body::{JsonBody, JsonInteger, gmmp_text, present};
use super::error::{ApiError, ApiResult};
use super::gateways::{DEVICE_ID_MAX, GW_ID_MAX, require_device, require_gateway};
use super::params::PathParams;
use crate::config::ProfileDefaults;
use crate::state::Shared;

/// GMMP 0x06 string field sizes.
const MODEL_MAX: usize = 32;
const VERSION_MAX: usize = 16;

/// The contract's `Profile`. (Fields in alphabetical order, the order
/// the API has always answered them in.)
#[derive(Debug, Serialize)]
pub struct Profile {
    firmware_version: String,
    hardware_version: String,
    heartbeat_period: u32,
    model: String,
    report_offset: u32,
    report_period: u32,
    response_timeout: u32,
    software_version: String,
}

impl From<ProfileDefaults> for Profile {
    fn from(p: ProfileDefaults) -> Profile {
        Profile {
            firmware_version: p.firmware_version,
            hardware_version: p.hardware_version,
            heartbeat_period: p.heartbeat_period,
            model: p.model,
            report_offset: p.report_offset,
            report_period: p.report_period,
            response_timeout: p.response_timeout,
            software_version: p.software_version,
        }
    }
}

/// The profile in force: the stored one (read as the GMMP side reads it
/// for 0x06), else the defaults.
async fn load(state: &Shared, gw_id: &str, device_id: &str) -> ApiResult<ProfileDefaults> {
    Ok(profiles::get(&state.db, gw_id, device_id)
        .await?
        .unwrap_or_else(|| state.config.profile_defaults.clone()))
}

/// The contract's `ProfileUpdate`: the fields to change. (Its field
/// names are [`profiles::FIELDS`], the table's columns.)
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[serde(default, deserialize_with = "present")]
    heartbeat_period: Option<JsonInteger>,
    #[serde(default, deserialize_with = "present")]
    report_period: Option<JsonInteger>,
    #[serde(default, deserialize_with = "present")]
    report_offset: Option<JsonInteger>,
    #[serde(default, deserialize_with = "present")]
    response_timeout: Option<JsonInteger>,
    #[serde(default, deserialize_with = "present")]
    model: Option<String>,
    #[serde(default, deserialize_with = "present")]
    firmware_version: Option<String>,
    #[serde(default, deserialize_with = "present")]
    software_version: Option<String>,
    #[serde(default, deserialize_with = "present")]
    hardware_version: Option<String>,
}

impl ProfileUpdate {
    fn is_empty(&self) -> bool {
        [
            &self.heartbeat_period,
            &self.report_period,
            &self.report_offset,
            &self.response_timeout,
        ]
        .iter()
        .all(|v| v.is_none())
            && [
                &self.model,
                &self.firmware_version,
                &self.software_version,
                &self.hardware_version,
            ]
            .iter()
            .all(|v| v.is_none())
    }

    /// Applies the fields given to `current` once every value fits its
    /// 0x06 field (else 422 naming it); an empty update is a 400.
    fn apply(self, current: &mut ProfileDefaults) -> ApiResult<()> {
        if self.is_empty() {
            return Err(ApiError::bad_request(
                "body",
                "give at least one profile field",
            ));
        }
        let period = |name: &str, value: Option<JsonInteger>| -> ApiResult<Option<u32>> {
            value
                // Within the u32 range, so the cast is exact.
                .map(|v| v.within(name, 0..=i64::from(u32::MAX)).map(|v| v as u32))
                .transpose()
        };
        let text = |name: &str, value: Option<String>, max: usize| -> ApiResult<Option<String>> {
            if let Some(v) = &value {
                gmmp_text(name, v, 0, max)?;
            }
            Ok(value)
        };
        let heartbeat_period = period("heartbeat_period", self.heartbeat_period)?;
        let report_period = period("report_period", self.report_period)?;
        let report_offset = period("report_offset", self.report_offset)?;
        let response_timeout = period("response_timeout", self.response_timeout)?;
        let model = text("model", self.model, MODEL_MAX)?;
        let firmware_version = text("firmware_version", self.firmware_version, VERSION_MAX)?;
        let software_version = text("software_version", self.software_version, VERSION_MAX)?;
        let hardware_version = text("hardware_version", self.hardware_version, VERSION_MAX)?;
        let p = current;
        p.heartbeat_period = heartbeat_period.unwrap_or(p.heartbeat_period);
        p.report_period = report_period.unwrap_or(p.report_period);
        p.report_offset = report_offset.unwrap_or(p.report_offset);
        p.response_timeout = response_timeout.unwrap_or(p.response_timeout);
        for (slot, value) in [
            (&mut p.model, model),
            (&mut p.firmware_version, firmware_version),
            (&mut p.software_version, software_version),
            (&mut p.hardware_version, hardware_version),
        ] {
            if let Some(value) = value {
                *slot = value;
            }
        }
        Ok(())
    }
}

/// `GET /api/v1/gateways/{gw_id}/profile`.
pub async fn get_gateway(
    State(state): State<Arc<Shared>>,
    path: PathParams,
) -> ApiResult<Json<Profile>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    require_gateway(&state.db, gw_id).await?;
    Ok(Json(Profile::from(load(&state, gw_id, "").await?)))
}

/// `PUT /api/v1/gateways/{gw_id}/profile`.
pub async fn put_gateway(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    JsonBody(update): JsonBody<ProfileUpdate>,
) -> ApiResult<Json<Profile>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    require_gateway(&state.db, gw_id).await?;
    let mut profile = load(&state, gw_id, "").await?;
    update.apply(&mut profile)?;
    profiles::put(&state.db, gw_id, "", &profile).await?;
    Ok(Json(Profile::from(profile)))
}

/// `GET /api/v1/gateways/{gw_id}/devices/{device_id}/profile`.
pub async fn get_device(
    State(state): State<Arc<Shared>>,
    path: PathParams,
) -> ApiResult<Json<Profile>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let device_id = path.id("device_id", DEVICE_ID_MAX)?;
    require_device(&state.db, gw_id, device_id).await?;
    Ok(Json(Profile::from(load(&state, gw_id, device_id).await?)))
}

/// `PUT /api/v1/gateways/{gw_id}/devices/{device_id}/profile`.
pub async fn put_device(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    JsonBody(update): JsonBody<ProfileUpdate>,
) -> ApiResult<Json<Profile>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let device_id = path.id("device_id", DEVICE_ID_MAX)?;
    require_device(&state.db, gw_id, device_id).await?;
    let mut profile = load(&state, gw_id, device_id).await?;
    update.apply(&mut profile)?;
    profiles::put(&state.db, gw_id, device_id, &profile).await?;
    Ok(Json(Profile::from(profile)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body::decode;

    #[test]
    fn the_update_fields_are_the_table_columns() {
        // serde lists the fields it knows when it refuses an unknown one.
        let Err(ApiError::BadRequest { field, message }) = decode::<ProfileUpdate>(br#"{"x":1}"#)
        else {
            panic!("an unknown field is refused");
        };
        assert_eq!(field, "x");
        let known: Vec<String> = profiles::FIELDS.iter().map(|f| format!("`{f}`")).collect();
        assert!(message.ends_with(&known.join(", ")), "{message}");
    }
}
