//! `GET /api/v1/events`: the outbox (table `events`) for its readers.
//!
//! - With `Accept: text/event-stream`: Server-Sent Events ([`sse`]), live,
//!   from `Last-Event-ID` (a reconnecting `EventSource` sends it) or
//!   `?after=`, with no gap and no repeat.
//! - Otherwise a JSON page for pollers: events with ids above `after`, at
//!   most `limit`, and `next_after`, the `after` of the next call.
//!
//! Both read the table from the reader's own cursor, never further than
//! the committed head the writers announced ([`crate::events::EventFeed`]),
//! and filter by `kind` (repeatable, or a comma list), `gw_id` and
//! `device_id`. A delivery's event carries the delivery as
//! `GET …/deliveries` answers it (content Base64), an MQTT message's the
//! message as `GET …/messages` does.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::ACCEPT;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::deliveries::DeliveryBody;
use super::error::{ApiError, ApiResult};
use super::gateways::GW_ID_MAX;
use super::mqtt::{CLIENT_ID_MAX, MessageBody};
use super::params::QueryParams;
use super::time::format_millis;
use crate::state::Shared;
use crate::store::events::{self, EventFilter, StoredEvent};

pub mod fanout;
pub mod sse;

/// The header a reconnecting `EventSource` names its last event in.
pub const LAST_EVENT_ID: &str = "last-event-id";

/// The contract's `Event`.
#[derive(Debug, Serialize)]
pub struct EventBody {
    at: String,
    data: serde_json::Value,
    device_id: Option<String>,
    gw_id: Option<String>,
    id: i64,
    kind: String,
}

impl From<StoredEvent> for EventBody {
    fn from(e: StoredEvent) -> EventBody {
        let data = match (e.delivery, e.message) {
            (Some(d), _) => json_of(&DeliveryBody::from(d)),
            (None, Some(m)) => json_of(&MessageBody::from(m)),
            // The column is CHECKed to be JSON.
            (None, None) => serde_json::from_str(&e.data).unwrap_or(serde_json::Value::Null),
        };
        EventBody {
            at: format_millis(e.at),
            data,
            device_id: e.device_id,
            gw_id: e.gw_id,
            id: e.id,
            kind: e.kind,
        }
    }
}

impl EventBody {
    /// The event id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }
}

fn json_of(body: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(body).unwrap_or(serde_json::Value::Null)
}

/// A page of events for a poller.
#[derive(Debug, Serialize)]
pub struct EventPage {
    items: Vec<EventBody>,
    next_after: i64,
}

/// The filters of the query string, validated.
fn filter(query: &QueryParams) -> ApiResult<EventFilter> {
    let mut kinds = Vec::new();
    for kind in query.all("kind").flat_map(|v| v.split(',')) {
        let kind = events::known_kind(kind.trim()).map_err(|m| ApiError::bad_request("kind", m))?;
        if !kinds.iter().any(|k| k == kind) {
            kinds.push(kind.to_owned());
        }
    }
    Ok(EventFilter {
        kinds,
        gw_id: query.id("gw_id", GW_ID_MAX)?.map(str::to_owned),
        device_id: query.id("device_id", CLIENT_ID_MAX)?.map(str::to_owned),
    })
}

/// An event id given by the client (`after`, `Last-Event-ID`).
fn event_id(field: &str, value: &str) -> ApiResult<i64> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| {
            ApiError::bad_request(field, "must be an event id (an integer of 0 or more)")
        })
}

/// Where the reader starts: after `Last-Event-ID` when sent, else after
/// `?after=`, else after 0 (the oldest event). `?after=` is checked even
/// when the header wins, so a bad one is refused rather than ignored.
fn start(headers: &HeaderMap, query: &QueryParams) -> ApiResult<i64> {
    let after = query.get("after").map_or(Ok(0), |v| event_id("after", v))?;
    if let Some(last) = headers.get(LAST_EVENT_ID) {
        let text = last
            .to_str()
            .map_err(|_| ApiError::bad_request("Last-Event-ID", "must be an event id"))?;
        return event_id("Last-Event-ID", text);
    }
    Ok(after)
}

/// True when the client asks for Server-Sent Events.
fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// `GET /api/v1/events`.
pub async fn list(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    query: QueryParams,
) -> ApiResult<Response> {
    let filter = filter(&query)?;
    let after = start(&headers, &query)?;
    if wants_stream(&headers) {
        return Ok(sse::response(state, filter, after));
    }
    let limit = query.limit()?;
    let head = state.events().head();
    let page = events::page(&state.db, &filter, after, head, i64::from(limit)).await?;
    Ok(Json(EventPage {
        items: page.events.into_iter().map(EventBody::from).collect(),
        next_after: page.scanned_to,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn an_event_stream_is_asked_for_by_its_media_type_only() {
        let mut h = HeaderMap::new();
        assert!(!wants_stream(&h));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream;q=0.9"),
        );
        assert!(wants_stream(&h));
        h.insert(ACCEPT, HeaderValue::from_static("*/*"));
        assert!(!wants_stream(&h));
    }

    #[test]
    fn last_event_id_wins_over_after_and_both_are_checked() {
        let query = QueryParams::default();
        let mut h = HeaderMap::new();
        assert_eq!(start(&h, &query).unwrap(), 0);
        h.insert(LAST_EVENT_ID, HeaderValue::from_static("41"));
        assert_eq!(start(&h, &query).unwrap(), 41);
        h.insert(LAST_EVENT_ID, HeaderValue::from_static("-1"));
        let e = start(&h, &query).unwrap_err();
        assert!(e.to_string().starts_with("Last-Event-ID:"), "{e}");
    }
}
