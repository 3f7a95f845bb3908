//! `/api/v1/gateways/{gw_id}/profile` and
//! `/api/v1/gateways/{gw_id}/devices/{device_id}/profile`: the 0x06 values
//! the OMP answers (table `profiles`, `device_id = ''` for the gateway).
//! No stored row means the configured defaults; a PUT stores a full row
//! merged from the current values and the fields given.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use sqlx::FromRow;

use crate::store::profiles;

use super::error::{ApiError, ApiResult};
use super::gateways::{DEVICE_ID_MAX, GW_ID_MAX, require_device, require_gateway};
use super::params::{Body, JsonObject, PathParams};
use super::{HttpState, ProfileValues};

/// GMMP 0x06 string field sizes.
const MODEL_MAX: usize = 32;
const VERSION_MAX: usize = 16;

const FIELDS: &[&str] = &[
    "heartbeat_period",
    "report_period",
    "report_offset",
    "response_timeout",
    "model",
    "firmware_version",
    "software_version",
    "hardware_version",
];

/// A `profiles` row, also read from a LEFT JOIN (all NULL = no row).
#[derive(Debug, FromRow)]
pub(crate) struct ProfileRow {
    pub(crate) heartbeat_period: Option<i64>,
    pub(crate) report_period: Option<i64>,
    pub(crate) report_offset: Option<i64>,
    pub(crate) response_timeout: Option<i64>,
    pub(crate) model: Option<String>,
    pub(crate) firmware_version: Option<String>,
    pub(crate) software_version: Option<String>,
    pub(crate) hardware_version: Option<String>,
}

impl ProfileRow {
    /// The values in force: the row's, or the defaults where it has none
    /// (or holds a value no u32 can carry, which only a hand edit makes).
    pub(crate) fn or_defaults(&self, defaults: &ProfileValues) -> ProfileValues {
        let period = |v: Option<i64>, d: u32| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(d);
        let text = |v: &Option<String>, d: &String| v.clone().unwrap_or_else(|| d.clone());
        ProfileValues {
            heartbeat_period: period(self.heartbeat_period, defaults.heartbeat_period),
            report_period: period(self.report_period, defaults.report_period),
            report_offset: period(self.report_offset, defaults.report_offset),
            response_timeout: period(self.response_timeout, defaults.response_timeout),
            model: text(&self.model, &defaults.model),
            firmware_version: text(&self.firmware_version, &defaults.firmware_version),
            software_version: text(&self.software_version, &defaults.software_version),
            hardware_version: text(&self.hardware_version, &defaults.hardware_version),
        }
    }
}

/// The contract's `Profile`.
pub(crate) fn to_json(p: &ProfileValues) -> Value {
    json!({
        "heartbeat_period": p.heartbeat_period,
        "report_period": p.report_period,
        "report_offset": p.report_offset,
        "response_timeout": p.response_timeout,
        "model": p.model,
        "firmware_version": p.firmware_version,
        "software_version": p.software_version,
        "hardware_version": p.hardware_version,
    })
}

/// The profile in force: the stored one (read as the GMMP side reads it
/// for 0x06), else the defaults.
async fn load(state: &HttpState, gw_id: &str, device_id: &str) -> ApiResult<ProfileValues> {
    Ok(profiles::get(state.pool(), gw_id, device_id)
        .await?
        .unwrap_or_else(|| state.config().profile_defaults.clone()))
}

/// Applies a `ProfileUpdate` body to `current`.
fn apply(body: JsonObject, current: &mut ProfileValues) -> ApiResult<()> {
    let body = Body::new(body, FIELDS)?;
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
    State(state): State<HttpState>,
    path: PathParams,
) -> ApiResult<Json<Value>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    require_gateway(state.pool(), gw_id).await?;
    Ok(Json(to_json(&load(&state, gw_id, "").await?)))
}

/// `PUT /api/v1/gateways/{gw_id}/profile`.
pub async fn put_gateway(
    State(state): State<HttpState>,
    path: PathParams,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    require_gateway(state.pool(), gw_id).await?;
    let mut profile = load(&state, gw_id, "").await?;
    apply(body, &mut profile)?;
    profiles::put(state.pool(), gw_id, "", &profile).await?;
    Ok(Json(to_json(&profile)))
}

/// `GET /api/v1/gateways/{gw_id}/devices/{device_id}/profile`.
pub async fn get_device(
    State(state): State<HttpState>,
    path: PathParams,
) -> ApiResult<Json<Value>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let device_id = path.id("device_id", DEVICE_ID_MAX)?;
    require_device(state.pool(), gw_id, device_id).await?;
    Ok(Json(to_json(&load(&state, gw_id, device_id).await?)))
}

/// `PUT /api/v1/gateways/{gw_id}/devices/{device_id}/profile`.
pub async fn put_device(
    State(state): State<HttpState>,
    path: PathParams,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let device_id = path.id("device_id", DEVICE_ID_MAX)?;
    require_device(state.pool(), gw_id, device_id).await?;
    let mut profile = load(&state, gw_id, device_id).await?;
    apply(body, &mut profile)?;
    profiles::put(state.pool(), gw_id, device_id, &profile).await?;
    Ok(Json(to_json(&profile)))
}
