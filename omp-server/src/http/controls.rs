//! Controls: `POST/GET /api/v1/gateways/{gw_id}/controls`,
//! `GET/DELETE /api/v1/controls/{id}` (tables `controls`, `control_events`);
//! the last two serve commands to MQTT devices too
//! ([`super::mqtt_controls`]).
//!
//! This is the API side of the control queue. A POST validates the
//! request and hands the control to the dispatcher
//! ([`ControlHandle`](crate::control::ControlHandle)), which stores it `QUEUED` (the
//! database adds its first timeline row) and tries to push it before
//! answering, so a live gateway's control comes back `SENT`. `DELETE` goes
//! through the dispatcher too: it is the only writer of control rows. The
//! dispatcher announces each committed change on
//! [`ControlWatch`](crate::control::ControlWatch), which wakes `GET …?wait=N`.
//!
//! Decisions:
//! - An unknown gateway, or a device that is not the gateway's, is a 404
//!   (the contract's answer for a schema-valid ID that names nothing).
//! - `control_type` is a name, a code, or a code as a string (`"12"`).
//! - Control data is limited to [`MAX_CONTROL_DATA`] (32 KiB): up to 2048
//!   bytes travel in the 0x0D, longer data is fetched by the gateway with
//!   long sentence (0x11/0x12, in parts). `time_sync` data, when given,
//!   must be the 4-byte Unix seconds of docs/gmmp.md §5.
//! - `?wait=` returns at once when the state is final (it cannot change).
//! - An `Idempotency-Key` already used for the gateway answers the first
//!   control (202) when the new body, once valid, asks for the same
//!   control: same target device, control type, data and TTL, compared as
//!   values (`"reset"` and `1` are one type) with what the stored control
//!   holds — no request digest is kept. Another body under the same key is
//!   a client bug, not a retry: 422 naming `Idempotency-Key` and the key,
//!   so it is not mistaken for success.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gmmp_codec::{ControlPayload, ControlType, ResultCode};
use serde::{Deserialize, Serialize};

use super::body::{JsonBody, JsonInteger, NameOrCode, gmmp_text, present};
use super::cursor::{self, CursorKind, page_end};
use super::error::{ApiError, ApiResult};
use super::gateways::{DEVICE_ID_MAX, GW_ID_MAX, require_gateway};
use super::mqtt_controls::MqttControlBody;
use super::params::{PathParams, QueryParams};
use super::time::{format_millis, format_seconds, now_millis};
use crate::state::Shared;
use crate::store::controls::{self, AnyControl, Control, ControlState, NewControl};
use crate::store::devices;

/// Largest control data: 16 long sentence parts of 2048 bytes. (Its
/// Base64 fits the default 64 KiB body limit.)
pub const MAX_CONTROL_DATA: usize = 16 * gmmp_codec::MAX_PAYLOAD_LEN;
/// Longest TTL: 7 days.
pub const MAX_TTL_SECONDS: i64 = 604_800;
/// Longest `?wait=`.
pub const MAX_WAIT_SECONDS: u64 = 60;
/// Header carrying the client's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
const IDEMPOTENCY_KEY_MAX: usize = 128;

/// The contract's `ControlResult`: the notification's payload decoded per
/// control type (the codec's [`ControlPayload`], docs/gmmp.md §5); the raw
/// Base64 for other types or unexpected lengths. (Each shape's fields in
/// alphabetical order, the order the API has always answered them in.)
#[derive(Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ControlResult {
    /// Status check: reporting and running.
    StatusCheck {
        /// `RUN` or `PAUSE`.
        operation_state: &'static str,
        /// `ON` or `OFF`.
        report_state: &'static str,
    },
    /// Time sync: the gateway's clock.
    TimeSync {
        /// RFC 3339.
        time: String,
    },
    /// Signal power.
    SignalPower {
        /// As the gateway reports it.
        signal_power: u32,
    },
    /// Firmware version.
    FirmwareVersion {
        /// As the gateway reports it.
        firmware_version: String,
    },
    /// Anything else, raw.
    Raw {
        /// Base64.
        data: String,
    },
}

impl ControlResult {
    fn decode(control_type: u8, data: &[u8]) -> ControlResult {
        match ControlPayload::decode(ControlType(control_type), data) {
            Some(ControlPayload::StatusCheck { reporting, running }) => {
                ControlResult::StatusCheck {
                    operation_state: if running { "RUN" } else { "PAUSE" },
                    report_state: if reporting { "ON" } else { "OFF" },
                }
            }
            Some(ControlPayload::TimeSync { unix_seconds }) => ControlResult::TimeSync {
                time: format_seconds(i64::from(unix_seconds)),
            },
            Some(ControlPayload::SignalPower(signal_power)) => {
                ControlResult::SignalPower { signal_power }
            }
            Some(ControlPayload::FirmwareVersion(firmware_version)) => {
                ControlResult::FirmwareVersion { firmware_version }
            }
            None => ControlResult::Raw {
                data: STANDARD.encode(data),
            },
        }
    }
}

/// A code and its name (`unknown` when it has none).
#[derive(Debug, Serialize)]
pub struct CodeName {
    code: i64,
    name: &'static str,
}

impl CodeName {
    fn new(code: i64, name: impl Fn(u8) -> &'static str) -> CodeName {
        CodeName {
            code,
            name: u8::try_from(code).map_or("unknown", name),
        }
    }
}

/// One timeline entry.
#[derive(Debug, Serialize)]
pub struct TimelineEntry {
    at: String,
    state: &'static str,
}

impl TimelineEntry {
    /// State `state` reached at `at` (Unix ms).
    pub fn new(state: ControlState, at: i64) -> TimelineEntry {
        TimelineEntry {
            at: format_millis(at),
            state: state.as_str(),
        }
    }
}

/// The contract's `Control`. (Fields in alphabetical order, the order the
/// API has always answered them in.)
#[derive(Debug, Serialize)]
pub struct ControlBody {
    acknowledged_at: Option<String>,
    completed_at: Option<String>,
    control_type: CodeName,
    created_at: String,
    data: Option<String>,
    device_id: Option<String>,
    expires_at: String,
    gw_id: String,
    id: i64,
    result: Option<ControlResult>,
    result_code: Option<CodeName>,
    sent_at: Option<String>,
    state: &'static str,
    tid: Option<i64>,
    timeline: Vec<TimelineEntry>,
}

impl From<Control> for ControlBody {
    fn from(c: Control) -> ControlBody {
        let ct = u8::try_from(c.control_type).unwrap_or(0);
        ControlBody {
            acknowledged_at: c.acknowledged_at.map(format_millis),
            completed_at: c.completed_at.map(format_millis),
            control_type: CodeName::new(c.control_type, |c| ControlType(c).name()),
            created_at: format_millis(c.created_at),
            data: c.data.as_ref().map(|d| STANDARD.encode(d)),
            device_id: (!c.device_id.is_empty()).then_some(c.device_id),
            expires_at: format_millis(c.expires_at),
            gw_id: c.gw_id,
            id: c.id,
            result: c.result_data.as_ref().map(|d| ControlResult::decode(ct, d)),
            result_code: c
                .result_code
                .map(|rc| CodeName::new(rc, |c| ResultCode(c).name())),
            sent_at: c.sent_at.map(format_millis),
            state: c.state.as_str(),
            tid: c.tid,
            timeline: c
                .timeline
                .iter()
                .map(|(state, at)| TimelineEntry::new(*state, *at))
                .collect(),
        }
    }
}

/// The contract's `ControlCreate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlCreate {
    #[serde(default, deserialize_with = "present")]
    control_type: Option<NameOrCode>,
    #[serde(default, deserialize_with = "present")]
    device_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    data: Option<String>,
    #[serde(default, deserialize_with = "present")]
    ttl_seconds: Option<JsonInteger>,
}

/// A [`ControlCreate`] whose values are checked.
struct ValidControl {
    control_type: u8,
    device_id: Option<String>,
    data: Option<Vec<u8>>,
    ttl_ms: i64,
}

impl ControlCreate {
    /// Checks the values: a type the codec names (or any code), a device
    /// ID that fits its GMMP field, data in Base64 within
    /// [`MAX_CONTROL_DATA`] (and the 4 bytes a time sync carries), a TTL
    /// within [`MAX_TTL_SECONDS`].
    fn validate(self, default_ttl: Duration) -> ApiResult<ValidControl> {
        let control_type = match self.control_type {
            None => return Err(ApiError::bad_request("control_type", "required")),
            Some(NameOrCode::Name(name)) if name.is_empty() || name.chars().count() > 64 => {
                return Err(ApiError::bad_request(
                    "control_type",
                    "a name must be 1 to 64 characters",
                ));
            }
            Some(NameOrCode::Name(name)) => {
                ControlType::from_name(&name)
                    .or_else(|| name.parse::<u8>().ok().map(ControlType))
                    .ok_or_else(|| {
                        let names: Vec<_> = ControlType::named().map(|c| c.name()).collect();
                        ApiError::unprocessable(
                            "control_type",
                            format!(
                                "unknown control type {name:?}; the names are {}, or give a \
                                 code 0-255",
                                names.join(", ")
                            ),
                        )
                    })?
                    .0
            }
            // Within the u8 range, so the cast is exact.
            Some(NameOrCode::Code(code)) => code.within("control_type", 0..=255)? as u8,
        };
        if let Some(device_id) = &self.device_id {
            gmmp_text("device_id", device_id, 1, DEVICE_ID_MAX)?;
        }
        let data = self
            .data
            .map(|text| {
                STANDARD.decode(text).map_err(|e| {
                    ApiError::unprocessable("data", format!("not Base64 (standard alphabet): {e}"))
                })
            })
            .transpose()?;
        if let Some(data) = &data {
            if data.len() > MAX_CONTROL_DATA {
                return Err(ApiError::unprocessable(
                    "data",
                    format!("{} bytes; at most {MAX_CONTROL_DATA}", data.len()),
                ));
            }
            let ct = ControlType(control_type);
            if ct == ControlType::TIME_SYNC && ControlPayload::decode(ct, data).is_none() {
                return Err(ApiError::unprocessable(
                    "data",
                    "time_sync data is the 4-byte Unix seconds",
                ));
            }
        }
        let ttl_ms = match self.ttl_seconds {
            Some(s) => s.within("ttl_seconds", 1..=MAX_TTL_SECONDS)? * 1000,
            None => i64::try_from(default_ttl.as_millis()).unwrap_or(MAX_TTL_SECONDS * 1000),
        };
        Ok(ValidControl {
            control_type,
            device_id: self.device_id,
            data,
            ttl_ms,
        })
    }
}

/// The request's `Idempotency-Key`, checked.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            "Idempotency-Key",
            format!("must be 1 to {IDEMPOTENCY_KEY_MAX} visible characters"),
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    if text.is_empty() || text.len() > IDEMPOTENCY_KEY_MAX {
        return Err(bad());
    }
    Ok(Some(text.to_owned()))
}

/// True when `existing` is the control `new` asks for (its creation time
/// and key aside): what a retry of the first request would create.
fn same_control(existing: &Control, new: &ValidControl) -> bool {
    existing.device_id == new.device_id.as_deref().unwrap_or("")
        && existing.control_type == i64::from(new.control_type)
        && existing.data == new.data
        && existing.expires_at.saturating_sub(existing.created_at) == new.ttl_ms
}

/// The first control of `key` when `new` asks for the same one, else the
/// 422 that names the key.
fn answer_reused_key(key: &str, existing: Control, new: &ValidControl) -> ApiResult<Response> {
    if same_control(&existing, new) {
        return Ok(accepted(existing));
    }
    Err(ApiError::unprocessable(
        "Idempotency-Key",
        format!(
            "key {key:?} was used for control {} with another body (device_id, control_type, \
             data or ttl_seconds differ); use a new key for a new control",
            existing.id
        ),
    ))
}

fn accepted(control: Control) -> Response {
    (StatusCode::ACCEPTED, Json(ControlBody::from(control))).into_response()
}

/// `POST /api/v1/gateways/{gw_id}/controls`: 202 with the QUEUED control.
pub async fn create(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ControlCreate>,
) -> ApiResult<Response> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let key = idempotency_key(&headers)?;
    let pool = &state.db;
    require_gateway(pool, gw_id).await?;
    // The body is validated first: a malformed retry is refused as any
    // malformed request is, whatever its key.
    let new = body.validate(state.config.control.ttl)?;
    if let Some(key) = &key
        && let Some(existing) = controls::by_idempotency_key(pool, gw_id, key).await?
    {
        return answer_reused_key(key, existing, &new);
    }
    if let Some(device_id) = &new.device_id
        && !devices::exists(pool, gw_id, device_id, true).await?
    {
        return Err(ApiError::NotFound(format!(
            "{device_id} is not a registered device of gateway {gw_id}"
        )));
    }
    let now = now_millis();
    let control = NewControl {
        gw_id: gw_id.to_owned(),
        device_id: new.device_id.clone().unwrap_or_default(),
        control_type: new.control_type,
        data: new.data.clone(),
        created_at: now,
        expires_at: now.saturating_add(new.ttl_ms),
        idempotency_key: key.clone(),
    };
    // The dispatcher stores it and tries to push it before answering.
    let Some(id) = state.control.create(control).await? else {
        // A concurrent POST with the same key won the race: answer its control.
        let key = key.as_deref().unwrap_or("");
        let existing = controls::by_idempotency_key(pool, gw_id, key)
            .await?
            .ok_or_else(|| ApiError::Conflict(format!("Idempotency-Key {key:?} is in use")))?;
        return answer_reused_key(key, existing, &new);
    };
    let control = controls::get(pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("control {id} vanished")))?;
    Ok(accepted(control))
}

/// The `state` query parameter, checked.
pub fn state_filter(query: &QueryParams) -> ApiResult<Option<ControlState>> {
    query
        .get("state")
        .map(|s| {
            ControlState::parse(s).ok_or_else(|| {
                let known: Vec<&str> = ControlState::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::bad_request("state", format!("must be one of {}", known.join(", ")))
            })
        })
        .transpose()
}

/// A control of either kind, as the API shows it: the contract's
/// `Control` or `MqttControl`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AnyControlBody {
    /// A GMMP control.
    Gmmp(ControlBody),
    /// A command to an MQTT device.
    Mqtt(MqttControlBody),
}

impl From<AnyControl> for AnyControlBody {
    fn from(c: AnyControl) -> AnyControlBody {
        match c {
            AnyControl::Gmmp(c) => AnyControlBody::Gmmp(c.into()),
            AnyControl::Mqtt(c) => AnyControlBody::Mqtt(c.into()),
        }
    }
}

/// A page of controls.
#[derive(Debug, Serialize)]
pub struct ControlPage {
    items: Vec<ControlBody>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/gateways/{gw_id}/controls`: a page, newest first.
pub async fn list(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Json<ControlPage>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let limit = query.limit()?;
    let state_filter = state_filter(&query)?;
    let before = query
        .cursor()?
        .map(|c| cursor::decode_id(CursorKind::Controls, c))
        .transpose()?;
    let pool = &state.db;
    require_gateway(pool, gw_id).await?;
    let mut rows = controls::page(pool, gw_id, state_filter, before, i64::from(limit) + 1).await?;
    let next_cursor = page_end(&mut rows, limit, |r| {
        cursor::encode(CursorKind::Controls, &r.id.to_string())
    });
    Ok(Json(ControlPage {
        items: rows.into_iter().map(ControlBody::from).collect(),
        next_cursor,
    }))
}

/// `GET /api/v1/controls/{id}[?wait=N]`.
pub async fn one(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Json<AnyControlBody>> {
    let id = path.positive_i64("id")?;
    let wait = query.integer("wait", 0..=MAX_WAIT_SECONDS)?.unwrap_or(0);
    let pool = &state.db;
    let watch = state.control_watch();
    let watching = watch.watch(id);
    // Armed before the first read so that no change slips between them.
    let mut change = std::pin::pin!(watching.next_change());
    change.as_mut().enable();
    let mut row = controls::get_any(pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no control {id}")))?;
    let first_state = row.state();
    if wait > 0 && !first_state.is_final() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        while tokio::time::timeout_at(deadline, change.as_mut())
            .await
            .is_ok()
        {
            // Re-armed before re-reading, for the same reason.
            change.set(watching.next_change());
            change.as_mut().enable();
            if let Some(now) = controls::get_any(pool, id).await? {
                row = now;
            }
            if row.state() != first_state {
                break;
            }
        }
    }
    Ok(Json(row.into()))
}

/// `DELETE /api/v1/controls/{id}`: QUEUED → CANCELLED, 409 in any other state.
pub async fn cancel(
    State(state): State<Arc<Shared>>,
    path: PathParams,
) -> ApiResult<Json<AnyControlBody>> {
    let id = path.positive_i64("id")?;
    let pool = &state.db;
    if !state.control.cancel(id).await? {
        return Err(match controls::get_any(pool, id).await? {
            None => ApiError::NotFound(format!("no control {id}")),
            Some(row) => ApiError::Conflict(format!(
                "control {id} is {}; only a QUEUED control can be cancelled",
                row.state().as_str()
            )),
        });
    }
    let row = controls::get_any(pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no control {id}")))?;
    Ok(Json(row.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_result(control_type: u8, data: &[u8]) -> serde_json::Value {
        serde_json::to_value(ControlResult::decode(control_type, data)).unwrap()
    }

    #[test]
    fn results_decode_per_control_type() {
        use serde_json::json;
        assert_eq!(
            decode_result(0x0C, &[0x01, 0x00]),
            json!({ "report_state": "ON", "operation_state": "PAUSE" })
        );
        assert_eq!(
            decode_result(0x0C, &[0x00, 0x01]),
            json!({ "report_state": "OFF", "operation_state": "RUN" })
        );
        assert_eq!(
            decode_result(0x05, &1_586_937_600u32.to_be_bytes()),
            json!({ "time": "2020-04-15T08:00:00Z" })
        );
        assert_eq!(
            decode_result(0x08, &[0, 0, 0, 42]),
            json!({ "signal_power": 42 })
        );
        assert_eq!(
            decode_result(0xA3, b"1.0.0.6\0\0"),
            json!({ "firmware_version": "1.0.0.6" })
        );
        assert_eq!(decode_result(0x01, &[1, 2]), json!({ "data": "AQI=" }));
        // A status check with an unexpected length stays raw.
        assert_eq!(decode_result(0x0C, &[1]), json!({ "data": "AQ==" }));
    }
}
