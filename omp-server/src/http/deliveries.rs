//! `/api/v1/gateways/{gw_id}/deliveries[/latest|/incomplete]`: what the
//! gateways delivered (GMMP 0x0B, table `deliveries`), newest first, and
//! the split deliveries that are not whole (table `delivery_splits`). The
//! queries, and why they pin their index, are in
//! [`store::deliveries`](crate::store::deliveries).
//!
//! (Fields of the response structs are in alphabetical order, the order
//! the API has always answered them in.)

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gmmp_codec::ReportType;
use serde::Serialize;
use std::sync::Arc;

use super::cursor::{self, CursorKind, page_end};
use super::error::{ApiError, ApiResult};
use super::gateways::{DEVICE_ID_MAX, GW_ID_MAX, require_gateway};
use super::params::{PathParams, QueryParams};
use super::time::{format_millis, format_seconds, parse_rfc3339};
use crate::state::Shared;
use crate::store::deliveries::{self, HistoryFilter, StoredDelivery};
use crate::store::splits::{self, IncompleteDelivery, StoredPart};

/// A report type: its code and name.
#[derive(Debug, Serialize)]
pub struct ReportTypeBody {
    code: i64,
    name: &'static str,
}

impl ReportTypeBody {
    fn new(code: i64) -> ReportTypeBody {
        ReportTypeBody {
            code,
            name: u8::try_from(code).map_or("unknown", |c| ReportType(c).name()),
        }
    }
}

/// The contract's `Delivery`.
#[derive(Debug, Serialize)]
pub struct DeliveryBody {
    content: String,
    content_length: usize,
    device_id: Option<String>,
    encrypted: bool,
    gw_id: String,
    id: i64,
    media_type: i64,
    origin_timestamp: String,
    received_at: String,
    report_type: ReportTypeBody,
    tid: i64,
}

impl From<StoredDelivery> for DeliveryBody {
    fn from(d: StoredDelivery) -> DeliveryBody {
        DeliveryBody {
            content: STANDARD.encode(&d.payload),
            content_length: d.payload.len(),
            device_id: (!d.device_id.is_empty()).then_some(d.device_id),
            encrypted: d.encryption_flag == 1,
            gw_id: d.gw_id,
            id: d.id,
            media_type: d.media_type,
            origin_timestamp: format_seconds(d.origin_timestamp),
            received_at: format_millis(d.received_at),
            report_type: ReportTypeBody::new(d.report_type),
            tid: d.tid,
        }
    }
}

impl DeliveryBody {
    /// The values of a CSV export row, in the order of
    /// [`crate::export::CSV_HEADER`].
    pub fn csv_fields(&self) -> [String; 12] {
        [
            self.id.to_string(),
            self.gw_id.clone(),
            self.device_id.clone().unwrap_or_default(),
            self.report_type.code.to_string(),
            self.report_type.name.to_owned(),
            self.media_type.to_string(),
            self.tid.to_string(),
            self.origin_timestamp.clone(),
            self.received_at.clone(),
            self.encrypted.to_string(),
            self.content_length.to_string(),
            self.content.clone(),
        ]
    }
}

/// `GET /api/v1/gateways/{gw_id}/deliveries/latest[?device_id=]`.
pub async fn latest(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Json<DeliveryBody>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let device_id = query.id("device_id", DEVICE_ID_MAX)?;
    match deliveries::newest(&state.db, gw_id, device_id).await? {
        Some(row) => Ok(Json(row.into())),
        None => {
            require_gateway(&state.db, gw_id).await?;
            Err(ApiError::NotFound(match device_id {
                Some("") => format!("gateway {gw_id} has no deliveries of its own yet"),
                Some(d) => format!("gateway {gw_id} has no deliveries of device {d} yet"),
                None => format!("gateway {gw_id} has no deliveries yet"),
            }))
        }
    }
}

/// The history filters of the query string, validated.
fn history_filter(query: &QueryParams) -> ApiResult<HistoryFilter> {
    let time = |name: &str| -> ApiResult<Option<i64>> {
        query
            .get(name)
            .map(|v| {
                parse_rfc3339(v)
                    .ok_or_else(|| ApiError::bad_request(name, "must be an RFC 3339 date-time"))
            })
            .transpose()
    };
    let report_type = query
        .get("report_type")
        .map(|v| {
            ReportType::from_name(v)
                .map(u8::from)
                .or_else(|| v.parse::<u8>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "report_type",
                        "must be collect_data, alarm, event, alarm_clear or a code 0 to 255",
                    )
                })
        })
        .transpose()?;
    Ok(HistoryFilter {
        before_id: query
            .cursor()?
            .map(|c| cursor::decode_id(CursorKind::Deliveries, c))
            .transpose()?,
        from: time("from")?,
        to: time("to")?,
        device_id: query.id("device_id", DEVICE_ID_MAX)?.map(str::to_owned),
        report_type,
    })
}

/// A page of deliveries.
#[derive(Debug, Serialize)]
pub struct DeliveryPage {
    items: Vec<DeliveryBody>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/gateways/{gw_id}/deliveries`: a page, newest first.
pub async fn history(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Json<DeliveryPage>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let limit = query.limit()?;
    let filter = history_filter(&query)?;
    require_gateway(&state.db, gw_id).await?;
    let mut rows = deliveries::history(&state.db, gw_id, &filter, i64::from(limit) + 1).await?;
    let next_cursor = page_end(&mut rows, limit, |r| {
        cursor::encode(CursorKind::Deliveries, &r.id.to_string())
    });
    Ok(Json(DeliveryPage {
        items: rows.into_iter().map(DeliveryBody::from).collect(),
        next_cursor,
    }))
}

/// One part of an incomplete delivery.
#[derive(Debug, Serialize)]
pub struct PartBody {
    content: String,
    content_length: usize,
    current_count: i64,
    received_at: String,
    tid: i64,
}

impl From<StoredPart> for PartBody {
    fn from(p: StoredPart) -> PartBody {
        PartBody {
            content: STANDARD.encode(&p.payload),
            content_length: p.payload.len(),
            current_count: p.current_count,
            received_at: format_millis(p.received_at),
            tid: p.tid,
        }
    }
}

/// The contract's `IncompleteDelivery`.
#[derive(Debug, Serialize)]
pub struct IncompleteBody {
    closed_at: Option<String>,
    content_length: usize,
    device_id: Option<String>,
    gw_id: String,
    id: i64,
    last_part_at: String,
    media_type: i64,
    parts: Vec<PartBody>,
    parts_received: usize,
    peer: String,
    reason: Option<String>,
    report_type: ReportTypeBody,
    started_at: String,
    state: String,
    total_count: i64,
}

impl From<IncompleteDelivery> for IncompleteBody {
    fn from(d: IncompleteDelivery) -> IncompleteBody {
        IncompleteBody {
            closed_at: d.closed_at.map(format_millis),
            content_length: d.parts.iter().map(|p| p.payload.len()).sum(),
            device_id: (!d.device_id.is_empty()).then_some(d.device_id),
            gw_id: d.gw_id,
            id: d.id,
            last_part_at: format_millis(d.last_part_at),
            media_type: d.media_type,
            parts_received: d.parts.len(),
            parts: d.parts.into_iter().map(PartBody::from).collect(),
            peer: d.peer,
            reason: d.reason,
            report_type: ReportTypeBody::new(d.report_type),
            started_at: format_millis(d.started_at),
            state: d.state,
            total_count: d.total_count,
        }
    }
}

/// The incomplete deliveries of a gateway.
#[derive(Debug, Serialize)]
pub struct IncompleteList {
    items: Vec<IncompleteBody>,
}

/// `GET /api/v1/gateways/{gw_id}/deliveries/incomplete`: split deliveries
/// that are not whole — still waiting for parts (`open`) or given up
/// (`abandoned`) — newest first, each with the parts it got.
pub async fn incomplete(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Json<IncompleteList>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let limit = query.limit()?;
    require_gateway(&state.db, gw_id).await?;
    let splits = splits::incomplete(&state.db, gw_id, i64::from(limit)).await?;
    Ok(Json(IncompleteList {
        items: splits.into_iter().map(IncompleteBody::from).collect(),
    }))
}
