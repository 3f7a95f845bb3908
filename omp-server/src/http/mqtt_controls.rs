//! Commands to MQTT devices: `POST/GET /api/v1/mqtt/devices/{client_id}/controls`.
//! Each is a control of the one control queue (read, long-polled and
//! cancelled through `GET/DELETE /api/v1/controls/{id}`); the rules of
//! their delivery are in [`crate::control::mqtt`].
//!
//! Decisions:
//! - The client must have connected once or be approved by client id
//!   (`omp-server provision mqtt`), else 404: a typo must not queue a
//!   command for nobody until its TTL.
//! - `topic` is a topic name: no `+` or `#`, no NUL, at most
//!   [`TOPIC_MAX`] characters; a `$` topic only as `$creq` exactly, the
//!   OneNET command (published on `$creq/<uuid>`, ended by `$crsp/<uuid>`),
//!   which takes no `reply_topic`.
//! - `payload` is Base64 (absent: empty), at most [`MAX_PAYLOAD`] bytes;
//!   `qos` 0–2, 1 when absent; `ttl_seconds` as for GMMP controls.
//! - An `Idempotency-Key` already used for the client answers the first
//!   command (202) when the body asks for the same one (topic, payload,
//!   qos, reply topic, TTL), else 422 naming the key — as for GMMP.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::body::{JsonBody, JsonInteger, present};
use super::controls::{MAX_TTL_SECONDS, TimelineEntry, idempotency_key, state_filter};
use super::cursor::{self, CursorKind, page_end};
use super::error::{ApiError, ApiResult};
use super::mqtt::CLIENT_ID_MAX;
use super::params::{PathParams, QueryParams};
use super::time::{format_millis, now_millis};
use crate::control::mqtt::ONENET_REQUEST;
use crate::state::Shared;
use crate::store::mqtt_controls::{self, MqttControl, NewMqttControl};
use crate::store::{mqtt_presence, mqtt_provisioning};

/// Longest topic or reply topic.
pub const TOPIC_MAX: usize = 1024;
/// Largest payload (its Base64 fits the default 64 KiB body limit).
pub const MAX_PAYLOAD: usize = 32_768;

/// The contract's `MqttControl`. (Fields in alphabetical order.)
#[derive(Debug, Serialize)]
pub struct MqttControlBody {
    client_id: String,
    completed_at: Option<String>,
    created_at: String,
    expires_at: String,
    id: i64,
    payload: String,
    qos: i64,
    reply_topic: Option<String>,
    result: Option<String>,
    sent_at: Option<String>,
    state: &'static str,
    timeline: Vec<TimelineEntry>,
    topic: String,
}

impl From<MqttControl> for MqttControlBody {
    fn from(c: MqttControl) -> MqttControlBody {
        MqttControlBody {
            client_id: c.client_id,
            completed_at: c.completed_at.map(format_millis),
            created_at: format_millis(c.created_at),
            expires_at: format_millis(c.expires_at),
            id: c.id,
            payload: STANDARD.encode(&c.payload),
            qos: c.qos,
            reply_topic: c.reply_topic,
            result: c.result.as_ref().map(|r| STANDARD.encode(r)),
            sent_at: c.sent_at.map(format_millis),
            state: c.state.as_str(),
            timeline: c
                .timeline
                .iter()
                .map(|(state, at)| TimelineEntry::new(*state, *at))
                .collect(),
            topic: c.topic,
        }
    }
}

/// The contract's `MqttControlCreate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttControlCreate {
    #[serde(default, deserialize_with = "present")]
    topic: Option<String>,
    #[serde(default, deserialize_with = "present")]
    payload: Option<String>,
    #[serde(default, deserialize_with = "present")]
    qos: Option<JsonInteger>,
    #[serde(default, deserialize_with = "present")]
    ttl_seconds: Option<JsonInteger>,
    #[serde(default, deserialize_with = "present")]
    reply_topic: Option<String>,
}

/// A [`MqttControlCreate`] whose values are checked.
struct ValidMqttControl {
    topic: String,
    payload: Vec<u8>,
    qos: u8,
    reply_topic: Option<String>,
    ttl_ms: i64,
}

/// Checks a topic name the server publishes on or listens to.
fn topic_name(field: &str, topic: &str) -> ApiResult<()> {
    if topic.is_empty() || topic.chars().count() > TOPIC_MAX {
        return Err(ApiError::unprocessable(
            field,
            format!("must be 1 to {TOPIC_MAX} characters"),
        ));
    }
    if topic.contains(['+', '#', '\0']) {
        return Err(ApiError::unprocessable(
            field,
            format!("{topic:?} is a filter, not a topic name: no '+', '#' or NUL"),
        ));
    }
    Ok(())
}

impl MqttControlCreate {
    fn validate(self, default_ttl: Duration) -> ApiResult<ValidMqttControl> {
        let Some(topic) = self.topic else {
            return Err(ApiError::bad_request("topic", "required"));
        };
        topic_name("topic", &topic)?;
        if topic.starts_with('$') && topic != ONENET_REQUEST {
            return Err(ApiError::unprocessable(
                "topic",
                format!(
                    "{topic:?}: the only '$' topic a command may use is {ONENET_REQUEST:?} \
                     (a OneNET command, published on $creq/<uuid>)"
                ),
            ));
        }
        if let Some(reply) = &self.reply_topic {
            topic_name("reply_topic", reply)?;
            if topic == ONENET_REQUEST {
                return Err(ApiError::unprocessable(
                    "reply_topic",
                    "a $creq command is answered on $crsp/<uuid>; leave reply_topic out",
                ));
            }
            if reply.starts_with('$') {
                return Err(ApiError::unprocessable(
                    "reply_topic",
                    format!("{reply:?}: a reply topic may not start with '$'"),
                ));
            }
        }
        let payload = match self.payload {
            None => Vec::new(),
            Some(text) => STANDARD.decode(text).map_err(|e| {
                ApiError::unprocessable("payload", format!("not Base64 (standard alphabet): {e}"))
            })?,
        };
        if payload.len() > MAX_PAYLOAD {
            return Err(ApiError::unprocessable(
                "payload",
                format!("{} bytes; at most {MAX_PAYLOAD}", payload.len()),
            ));
        }
        // Within 0..=2, so the cast is exact.
        let qos = match self.qos {
            Some(q) => q.within("qos", 0..=2)? as u8,
            None => 1,
        };
        let ttl_ms = match self.ttl_seconds {
            Some(s) => s.within("ttl_seconds", 1..=MAX_TTL_SECONDS)? * 1000,
            None => i64::try_from(default_ttl.as_millis()).unwrap_or(MAX_TTL_SECONDS * 1000),
        };
        Ok(ValidMqttControl {
            topic,
            payload,
            qos,
            reply_topic: self.reply_topic,
            ttl_ms,
        })
    }
}

fn same_control(existing: &MqttControl, new: &ValidMqttControl) -> bool {
    existing.topic == new.topic
        && existing.payload == new.payload
        && existing.qos == i64::from(new.qos)
        && existing.reply_topic == new.reply_topic
        && existing.expires_at.saturating_sub(existing.created_at) == new.ttl_ms
}

fn answer_reused_key(
    key: &str,
    existing: MqttControl,
    new: &ValidMqttControl,
) -> ApiResult<Response> {
    if same_control(&existing, new) {
        return Ok(accepted(existing));
    }
    Err(ApiError::unprocessable(
        "Idempotency-Key",
        format!(
            "key {key:?} was used for command {} with another body (topic, payload, qos, \
             reply_topic or ttl_seconds differ); use a new key for a new command",
            existing.id
        ),
    ))
}

fn accepted(control: MqttControl) -> Response {
    (StatusCode::ACCEPTED, Json(MqttControlBody::from(control))).into_response()
}

async fn require_known(state: &Shared, client_id: &str) -> ApiResult<()> {
    // Connected now counts too: its presence row lags by one writer batch.
    if state.mqtt.router.is_connected(client_id)
        || mqtt_presence::get(&state.db, client_id).await?.is_some()
        || mqtt_provisioning::by_client_id(&state.db, client_id)
            .await?
            .is_some()
    {
        return Ok(());
    }
    Err(ApiError::NotFound(format!(
        "MQTT client {client_id} has never connected and is not approved by client id"
    )))
}

/// `POST /api/v1/mqtt/devices/{client_id}/controls`: 202 with the command.
pub async fn create(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    headers: HeaderMap,
    JsonBody(body): JsonBody<MqttControlCreate>,
) -> ApiResult<Response> {
    let client_id = path.id("client_id", CLIENT_ID_MAX)?;
    let key = idempotency_key(&headers)?;
    require_known(&state, client_id).await?;
    let new = body.validate(state.config.control.ttl)?;
    let pool = &state.db;
    if let Some(key) = &key
        && let Some(existing) = mqtt_controls::by_idempotency_key(pool, client_id, key).await?
    {
        return answer_reused_key(key, existing, &new);
    }
    let now = now_millis();
    let control = NewMqttControl {
        client_id: client_id.to_owned(),
        topic: new.topic.clone(),
        payload: new.payload.clone(),
        qos: new.qos,
        reply_topic: new.reply_topic.clone(),
        created_at: now,
        expires_at: now.saturating_add(new.ttl_ms),
        idempotency_key: key.clone(),
    };
    let Some(id) = state.control.create_mqtt(control).await? else {
        let key = key.as_deref().unwrap_or("");
        let existing = mqtt_controls::by_idempotency_key(pool, client_id, key)
            .await?
            .ok_or_else(|| ApiError::Conflict(format!("Idempotency-Key {key:?} is in use")))?;
        return answer_reused_key(key, existing, &new);
    };
    let control = mqtt_controls::get(pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("control {id} vanished")))?;
    Ok(accepted(control))
}

/// A page of MQTT commands.
#[derive(Debug, Serialize)]
pub struct MqttControlPage {
    items: Vec<MqttControlBody>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/mqtt/devices/{client_id}/controls[?state=]`: newest first.
pub async fn list(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Json<MqttControlPage>> {
    let client_id = path.id("client_id", CLIENT_ID_MAX)?;
    let limit = query.limit()?;
    let state_filter = state_filter(&query)?;
    let before = query
        .cursor()?
        .map(|c| cursor::decode_id(CursorKind::MqttControls, c))
        .transpose()?;
    require_known(&state, client_id).await?;
    let mut rows = mqtt_controls::page(
        &state.db,
        client_id,
        state_filter,
        before,
        i64::from(limit) + 1,
    )
    .await?;
    let next_cursor = page_end(&mut rows, limit, |r| {
        cursor::encode(CursorKind::MqttControls, &r.id.to_string())
    });
    Ok(Json(MqttControlPage {
        items: rows.into_iter().map(MqttControlBody::from).collect(),
        next_cursor,
    }))
}
