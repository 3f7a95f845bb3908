//! `/api/v1/mqtt/devices[/{client_id}[/messages|/datapoints]]`: the MQTT
//! clients that have connected (table `mqtt_presence`), their messages
//! (table `mqtt_messages`, payloads Base64 and byte-exact) and the data
//! points decoded from their OneNET `$dp` payloads (`mqtt_datapoints`),
//! newest first with a cursor; their commands in [`super::mqtt_controls`].

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use super::cursor::{self, CursorKind, page_end};
use super::error::{ApiError, ApiResult};
use super::params::{PathParams, QueryParams};
use super::time::format_millis;
use crate::state::Shared;
use crate::store::mqtt_datapoints::{self, StoredDataPoint};
use crate::store::mqtt_messages::{self, StoredMessage};
use crate::store::mqtt_presence::{self, StoredPresence};

/// Longest client id accepted in a path (MQTT allows 65,535 bytes; no
/// module sends more than this).
pub const CLIENT_ID_MAX: usize = 1024;
/// Longest topic or stream filter accepted in a query.
const FILTER_MAX: usize = 1024;

/// The contract's `MqttDevice`.
#[derive(Debug, Serialize)]
pub struct DeviceBody {
    client_id: String,
    connected_at: String,
    last_seen: String,
    online: bool,
    peer: String,
    reason: Option<String>,
}

impl DeviceBody {
    fn new(p: StoredPresence, state: &Shared) -> DeviceBody {
        DeviceBody {
            // The table lags the live session by one writer batch.
            online: state.mqtt.router.is_connected(&p.client_id),
            client_id: p.client_id,
            connected_at: format_millis(p.connected_at),
            last_seen: format_millis(p.last_seen),
            peer: p.peer,
            reason: p.reason,
        }
    }
}

/// A page of devices.
#[derive(Debug, Serialize)]
pub struct DevicePage {
    items: Vec<DeviceBody>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/mqtt/devices`: every client that has connected, by id.
pub async fn list(
    State(state): State<Arc<Shared>>,
    query: QueryParams,
) -> ApiResult<Json<DevicePage>> {
    let limit = query.limit()?;
    let after = query
        .cursor()?
        .map(|c| cursor::decode(CursorKind::MqttDevices, c))
        .transpose()?;
    let mut rows = mqtt_presence::page(&state.db, after.as_deref(), i64::from(limit) + 1).await?;
    let next_cursor = page_end(&mut rows, limit, |r| {
        cursor::encode(CursorKind::MqttDevices, &r.client_id)
    });
    Ok(Json(DevicePage {
        items: rows
            .into_iter()
            .map(|p| DeviceBody::new(p, &state))
            .collect(),
        next_cursor,
    }))
}

async fn require_device(state: &Shared, client_id: &str) -> ApiResult<StoredPresence> {
    mqtt_presence::get(&state.db, client_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("MQTT client {client_id} has never connected")))
}

/// `GET /api/v1/mqtt/devices/{client_id}`: its online state.
pub async fn one(
    State(state): State<Arc<Shared>>,
    path: PathParams,
) -> ApiResult<Json<DeviceBody>> {
    let client_id = path.id("client_id", CLIENT_ID_MAX)?;
    let p = require_device(&state, client_id).await?;
    Ok(Json(DeviceBody::new(p, &state)))
}

/// The contract's `MqttMessage`.
#[derive(Debug, Serialize)]
pub struct MessageBody {
    client_id: String,
    content: String,
    content_length: usize,
    dp_error: Option<String>,
    dp_undecodable: bool,
    dup: bool,
    id: i64,
    kind: String,
    packet_id: Option<i64>,
    qos: i64,
    received_at: String,
    retain: bool,
    topic: String,
}

impl From<StoredMessage> for MessageBody {
    fn from(m: StoredMessage) -> MessageBody {
        MessageBody {
            client_id: m.client_id,
            content: STANDARD.encode(&m.payload),
            content_length: m.payload.len(),
            dp_error: m.dp_error,
            dp_undecodable: m.dp_undecodable,
            dup: m.dup,
            id: m.id,
            kind: m.kind,
            packet_id: m.packet_id,
            qos: m.qos,
            received_at: format_millis(m.received_at),
            retain: m.retain,
            topic: m.topic,
        }
    }
}

/// A page of messages.
#[derive(Debug, Serialize)]
pub struct MessagePage {
    items: Vec<MessageBody>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/mqtt/devices/{client_id}/messages[?topic=]`: newest first.
pub async fn messages(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Json<MessagePage>> {
    let client_id = path.id("client_id", CLIENT_ID_MAX)?;
    let limit = query.limit()?;
    let topic = query.id("topic", FILTER_MAX)?;
    let before = query
        .cursor()?
        .map(|c| cursor::decode_id(CursorKind::MqttMessages, c))
        .transpose()?;
    require_device(&state, client_id).await?;
    let mut rows =
        mqtt_messages::page(&state.db, client_id, topic, before, i64::from(limit) + 1).await?;
    let next_cursor = page_end(&mut rows, limit, |r| {
        cursor::encode(CursorKind::MqttMessages, &r.id.to_string())
    });
    Ok(Json(MessagePage {
        items: rows.into_iter().map(MessageBody::from).collect(),
        next_cursor,
    }))
}

/// The contract's `MqttDataPoint`.
#[derive(Debug, Serialize)]
pub struct DataPointBody {
    at: Option<String>,
    id: i64,
    message_id: i64,
    stream: String,
    value: serde_json::Value,
}

impl From<StoredDataPoint> for DataPointBody {
    fn from(d: StoredDataPoint) -> DataPointBody {
        DataPointBody {
            at: d.at,
            id: d.id,
            message_id: d.message_id,
            stream: d.stream,
            // Written by the server as JSON; text that is not would be kept as text.
            value: serde_json::from_str(&d.value).unwrap_or(serde_json::Value::String(d.value)),
        }
    }
}

/// A page of data points.
#[derive(Debug, Serialize)]
pub struct DataPointPage {
    items: Vec<DataPointBody>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/mqtt/devices/{client_id}/datapoints[?stream=]`: newest first.
pub async fn datapoints(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Json<DataPointPage>> {
    let client_id = path.id("client_id", CLIENT_ID_MAX)?;
    let limit = query.limit()?;
    let stream = query.id("stream", FILTER_MAX)?;
    let before = query
        .cursor()?
        .map(|c| cursor::decode_id(CursorKind::MqttDataPoints, c))
        .transpose()?;
    require_device(&state, client_id).await?;
    let mut rows =
        mqtt_datapoints::page(&state.db, client_id, stream, before, i64::from(limit) + 1).await?;
    let next_cursor = page_end(&mut rows, limit, |r| {
        cursor::encode(CursorKind::MqttDataPoints, &r.id.to_string())
    });
    Ok(Json(DataPointPage {
        items: rows.into_iter().map(DataPointBody::from).collect(),
        next_cursor,
    }))
}

/// The MQTT routes, served beside [`super::ROUTES`].
pub const ROUTES: &[super::Route] = &[
    super::Route {
        method: "GET",
        path: "/api/v1/mqtt/devices",
        query: &["limit", "cursor"],
        handler: || axum::routing::get(list),
    },
    super::Route {
        method: "GET",
        path: "/api/v1/mqtt/devices/{client_id}",
        query: &[],
        handler: || axum::routing::get(one),
    },
    super::Route {
        method: "GET",
        path: "/api/v1/mqtt/devices/{client_id}/messages",
        query: &["topic", "limit", "cursor"],
        handler: || axum::routing::get(messages),
    },
    super::Route {
        method: "POST",
        path: "/api/v1/mqtt/devices/{client_id}/controls",
        query: &[],
        handler: || axum::routing::post(super::mqtt_controls::create),
    },
    super::Route {
        method: "GET",
        path: "/api/v1/mqtt/devices/{client_id}/controls",
        query: &["state", "limit", "cursor"],
        handler: || axum::routing::get(super::mqtt_controls::list),
    },
    super::Route {
        method: "GET",
        path: "/api/v1/mqtt/devices/{client_id}/datapoints",
        query: &["stream", "limit", "cursor"],
        handler: || axum::routing::get(datapoints),
    },
];
