//! Profile (0x05/0x06): answered from the stored profile of the GW or
//! device, else the configured defaults. A registered GW's own profile is
//! always answered rc 0x00 (a real module stops for good otherwise,
//! docs/gmmp.md §7); a device that is not under the GW gets rc 0x06.

use gmmp_codec::{FixedStr, Message, ProfileRequest, ProfileResponse, ResultCode};

use crate::config::ProfileDefaults;
use crate::directory::GatewayEntry;
use crate::error::StoreError;
use crate::state::Shared;
use crate::store::profiles;

/// The profile that applies to `(gw_id, device_id)`.
pub async fn effective(
    state: &Shared,
    gw_id: &str,
    device_id: &str,
) -> Result<ProfileDefaults, StoreError> {
    Ok(profiles::get(&state.db, gw_id, device_id)
        .await?
        .unwrap_or_else(|| state.config.profile_defaults.clone()))
}

/// Builds the 0x06 body for `p`.
pub fn response(
    req: &ProfileRequest,
    rc: ResultCode,
    p: &ProfileDefaults,
) -> Result<Message, StoreError> {
    let field = |name: &'static str, value: &str| StoreError::BadStoredValue {
        field: name,
        value: value.to_owned(),
    };
    Ok(ProfileResponse {
        domain_code: req.domain_code,
        gw_id: req.gw_id,
        device_id: req.device_id,
        result_code: rc,
        heartbeat_period: p.heartbeat_period,
        report_period: p.report_period,
        report_offset: p.report_offset,
        response_timeout: p.response_timeout,
        model: FixedStr::new("model", &p.model).map_err(|_| field("model", &p.model))?,
        firmware_version: FixedStr::new("firmware_version", &p.firmware_version)
            .map_err(|_| field("firmware_version", &p.firmware_version))?,
        software_version: FixedStr::new("software_version", &p.software_version)
            .map_err(|_| field("software_version", &p.software_version))?,
        hardware_version: FixedStr::new("hardware_version", &p.hardware_version)
            .map_err(|_| field("hardware_version", &p.hardware_version))?,
    }
    .into())
}

/// Handles 0x05 for the authenticated GW.
pub async fn answer(
    state: &Shared,
    entry: &GatewayEntry,
    req: &ProfileRequest,
) -> Result<Message, StoreError> {
    let device_id = req.device_id.as_str().unwrap_or_default();
    if !req.device_id.is_empty() && !entry.devices.contains(device_id) {
        tracing::warn!(gw_id = %entry.gw_id, device_id = %req.device_id,
            "profile of a device not registered under this GW");
        let empty = ProfileDefaults {
            heartbeat_period: 0,
            report_period: 0,
            report_offset: 0,
            response_timeout: 0,
            model: String::new(),
            firmware_version: String::new(),
            software_version: String::new(),
            hardware_version: String::new(),
        };
        return response(req, ResultCode::NOT_FOUND, &empty);
    }
    let p = effective(state, &entry.gw_id, device_id).await?;
    response(req, ResultCode::OK, &p)
}
