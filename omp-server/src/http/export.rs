//! `GET /api/v1/gateways/{gw_id}/deliveries/export?format=csv|ndjson`:
//! every delivery of a gateway (within `from`, `to`, `device_id`),
//! oldest first, as a streamed body of any length in constant memory
//! ([`crate::export`]). The gateway is checked, and the parameters, before
//! the first byte: an error is still a JSON answer; once streaming, a
//! database error ends the body early (the transfer is not completed, so
//! the client sees it cut).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::Response;
use futures::StreamExt;

use super::error::{ApiError, ApiResult};
use super::gateways::{DEVICE_ID_MAX, GW_ID_MAX, require_gateway};
use super::params::{PathParams, QueryParams};
use super::time::parse_rfc3339;
use crate::export::{self, Format, Selection};
use crate::state::Shared;
use crate::store::deliveries::HistoryFilter;

/// `GET /api/v1/gateways/{gw_id}/deliveries/export`.
pub async fn deliveries(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Response> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let format = match query.get("format") {
        None => Format::Csv,
        Some(name) => Format::parse(name)
            .ok_or_else(|| ApiError::bad_request("format", "must be csv or ndjson"))?,
    };
    let time = |name: &str| -> ApiResult<Option<i64>> {
        query
            .get(name)
            .map(|v| {
                parse_rfc3339(v)
                    .ok_or_else(|| ApiError::bad_request(name, "must be an RFC 3339 date-time"))
            })
            .transpose()
    };
    let filter = HistoryFilter {
        from: time("from")?,
        to: time("to")?,
        device_id: query.id("device_id", DEVICE_ID_MAX)?.map(str::to_owned),
        ..HistoryFilter::default()
    };
    require_gateway(&state.db, gw_id).await?;
    let selection = Selection {
        gw_id: gw_id.to_owned(),
        filter,
    };
    let chunks = export::deliveries(
        state.db.clone(),
        selection,
        format,
        Some(state.events().clone()),
    )
    .map(|chunk| {
        chunk.inspect_err(|e| tracing::warn!(error = %e, "delivery export cut: database error"))
    });
    let file = format!(
        "attachment; filename=\"{gw_id}-deliveries.{}\"",
        format.extension()
    );
    Response::builder()
        .header(CONTENT_TYPE, format.content_type())
        .header(CONTENT_DISPOSITION, file)
        .body(Body::from_stream(chunks))
        .map_err(|e| ApiError::bad_request("gw_id", e.to_string()))
}
