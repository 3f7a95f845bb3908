//! `/api/v1/gateways/{gw_id}/profile` and
//! `/api/v1/gateways/{gw_id}/devices/{device_id}/profile`: the 0x06 values
//! the OMP answers (table `profiles`, `device_id = ''` for the gateway).
//! No stored row means the configured defaults; a PUT stores a full row
//! merged from the current values and the fields given.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::sync::Arc;

use crate::store::profiles;

use super::error::{ApiError, ApiResult};
use super::gateways::{DEVICE_ID_MAX, GW_ID_MAX, require_device, require_gateway};
use super::params::{Body, JsonObject, PathParams};
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
    Ok(profiles::get(&state.pool, gw_id, device_id)
        .await?
        .unwrap_or_else(|| state.config.profile_defaults.clone()))
}

/// Applies a `ProfileUpdate` body to `current`.
fn apply(body: JsonObject, current: &mut ProfileDefaults) -> ApiResult<()> {
    let body = Body::new(body, &profiles::FIELDS)?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "body",
            "give at least one profile field",
        ));
    }
    let period = |name: &str| -> ApiResult<Option<u32>> {
        Ok(body
            .integer(name, 0..=i64::from(u32::MAX))?
            .and_then(|v| u32::try_from(v).ok()))
    };
    if let Some(v) = period("heartbeat_period")? {
        current.heartbeat_period = v;
    }
    if let Some(v) = period("report_period")? {
        current.report_period = v;
    }
    if let Some(v) = period("report_offset")? {
        current.report_offset = v;
    }
    if let Some(v) = period("response_timeout")? {
        current.response_timeout = v;
    }
    if let Some(v) = body.gmmp_field("model", 0, MODEL_MAX)? {
        current.model = v.to_owned();
    }
    for (name, slot) in [
        ("firmware_version", &mut current.firmware_version),
        ("software_version", &mut current.software_version),
        ("hardware_version", &mut current.hardware_version),
    ] {
        if let Some(v) = body.gmmp_field(name, 0, VERSION_MAX)? {
            *slot = v.to_owned();
        }
    }
    Ok(())
}

/// `GET /api/v1/gateways/{gw_id}/profile`.
pub async fn get_gateway(
    State(state): State<Arc<Shared>>,
    path: PathParams,
) -> ApiResult<Json<Profile>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    require_gateway(&state.pool, gw_id).await?;
    Ok(Json(Profile::from(load(&state, gw_id, "").await?)))
}

/// `PUT /api/v1/gateways/{gw_id}/profile`.
pub async fn put_gateway(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    body: JsonObject,
) -> ApiResult<Json<Profile>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    require_gateway(&state.pool, gw_id).await?;
    let mut profile = load(&state, gw_id, "").await?;
    apply(body, &mut profile)?;
    profiles::put(&state.pool, gw_id, "", &profile).await?;
    Ok(Json(Profile::from(profile)))
}

/// `GET /api/v1/gateways/{gw_id}/devices/{device_id}/profile`.
pub async fn get_device(
    State(state): State<Arc<Shared>>,
    path: PathParams,
) -> ApiResult<Json<Profile>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let device_id = path.id("device_id", DEVICE_ID_MAX)?;
    require_device(&state.pool, gw_id, device_id).await?;
    Ok(Json(Profile::from(load(&state, gw_id, device_id).await?)))
}

/// `PUT /api/v1/gateways/{gw_id}/devices/{device_id}/profile`.
pub async fn put_device(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    body: JsonObject,
) -> ApiResult<Json<Profile>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let device_id = path.id("device_id", DEVICE_ID_MAX)?;
    require_device(&state.pool, gw_id, device_id).await?;
    let mut profile = load(&state, gw_id, device_id).await?;
    apply(body, &mut profile)?;
    profiles::put(&state.pool, gw_id, device_id, &profile).await?;
    Ok(Json(Profile::from(profile)))
}
