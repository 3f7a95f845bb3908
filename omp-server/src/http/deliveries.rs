//! `/api/v1/gateways/{gw_id}/deliveries[/latest]`: what the gateways
//! delivered (GMMP 0x0B, table `deliveries`), newest first.
//!
//! Both queries filter on `gw_id` and order by `id DESC`, which the index
//! `deliveries_gw_id (gw_id, id)` serves directly (a test checks the plan):
//! the latest delivery is one index seek, a history page one index range.
//! The other filters (`from`, `to`, `device_id`, `report_type`) are
//! checked on the rows the range visits. `INDEXED BY` pins the plan: once
//! `ANALYZE` statistics say most rows belong to one gateway, SQLite would
//! otherwise prefer a backwards scan of the whole table, which costs a
//! full scan for a gateway that delivered nothing recently.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gmmp_codec::ReportType;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, FromRow, QueryBuilder, Sqlite};

use super::HttpState;
use super::cursor::{self, CursorKind, page_end};
use super::error::{ApiError, ApiResult};
use super::gateways::{DEVICE_ID_MAX, GW_ID_MAX, require_gateway};
use super::params::{PathParams, QueryParams};
use super::time::{format_millis, format_seconds, parse_rfc3339};
use crate::store::splits::{self, IncompleteDelivery};

/// The columns every delivery query selects.
pub const DELIVERY_COLUMNS: &str = "id, gw_id, device_id, report_type, media_type, tid,
    origin_timestamp, received_at, encryption_flag, payload";

/// The latest delivery's query (see the module doc); `device_id` adds
/// ` AND device_id = ?` before the ORDER BY.
pub fn latest_sql(with_device: bool) -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries INDEXED BY deliveries_gw_id
         WHERE gw_id = ?{} ORDER BY id DESC LIMIT 1",
        if with_device {
            " AND device_id = ?"
        } else {
            ""
        }
    )
}

#[derive(Debug, FromRow)]
struct DeliveryRow {
    id: i64,
    gw_id: String,
    device_id: String,
    report_type: i64,
    media_type: i64,
    tid: i64,
    origin_timestamp: i64,
    received_at: i64,
    encryption_flag: i64,
    payload: Vec<u8>,
}

impl DeliveryRow {
    fn to_json(&self) -> Value {
        let report_type = u8::try_from(self.report_type).map(ReportType);
        json!({
            "id": self.id,
            "gw_id": self.gw_id,
            "device_id": (!self.device_id.is_empty()).then_some(&self.device_id),
            "report_type": {
                "code": self.report_type,
                "name": report_type.map_or("unknown", |r| r.name()),
            },
            "media_type": self.media_type,
            "tid": self.tid,
            "origin_timestamp": format_seconds(self.origin_timestamp),
            "received_at": format_millis(self.received_at),
            "encrypted": self.encryption_flag == 1,
            "content": STANDARD.encode(&self.payload),
            "content_length": self.payload.len(),
        })
    }
}

/// `GET /api/v1/gateways/{gw_id}/deliveries/latest[?device_id=]`.
pub async fn latest(
    State(state): State<HttpState>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let device_id = query.id("device_id", DEVICE_ID_MAX)?;
    let sql = latest_sql(device_id.is_some());
    let mut q = sqlx::query_as::<_, DeliveryRow>(AssertSqlSafe(sql)).bind(gw_id);
    if let Some(device_id) = device_id {
        q = q.bind(device_id);
    }
    match q.fetch_optional(state.pool()).await? {
        Some(row) => Ok(Json(row.to_json())),
        None => {
            require_gateway(state.pool(), gw_id).await?;
            Err(ApiError::NotFound(match device_id {
                Some("") => format!("gateway {gw_id} has no deliveries of its own yet"),
                Some(d) => format!("gateway {gw_id} has no deliveries of device {d} yet"),
                None => format!("gateway {gw_id} has no deliveries yet"),
            }))
        }
    }
}

/// The history filters, validated.
#[derive(Debug, Default)]
pub struct HistoryFilter {
    /// Only ids below this one (the cursor).
    pub before_id: Option<i64>,
    /// `received_at >=` (Unix ms).
    pub from: Option<i64>,
    /// `received_at <` (Unix ms).
    pub to: Option<i64>,
    /// `device_id =` (`''` = the gateway's own).
    pub device_id: Option<String>,
    /// `report_type =`.
    pub report_type: Option<u8>,
}

impl HistoryFilter {
    fn from_query(query: &QueryParams) -> ApiResult<HistoryFilter> {
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
}

/// The history page query of `gw_id` with `filter`, `limit` rows.
pub fn history_query<'a>(
    gw_id: &'a str,
    filter: &'a HistoryFilter,
    limit: i64,
) -> QueryBuilder<Sqlite> {
    let mut sql = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries INDEXED BY deliveries_gw_id WHERE gw_id = "
    ));
    sql.push_bind(gw_id);
    if let Some(id) = filter.before_id {
        sql.push(" AND id < ").push_bind(id);
    }
    if let Some(from) = filter.from {
        sql.push(" AND received_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        sql.push(" AND received_at < ").push_bind(to);
    }
    if let Some(device_id) = &filter.device_id {
        sql.push(" AND device_id = ").push_bind(device_id);
    }
    if let Some(rt) = filter.report_type {
        sql.push(" AND report_type = ").push_bind(i64::from(rt));
    }
    sql.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    sql
}

/// `GET /api/v1/gateways/{gw_id}/deliveries`: a page, newest first.
pub async fn history(
    State(state): State<HttpState>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let limit = query.limit()?;
    let filter = HistoryFilter::from_query(&query)?;
    require_gateway(state.pool(), gw_id).await?;
    let mut rows: Vec<DeliveryRow> = history_query(gw_id, &filter, i64::from(limit) + 1)
        .build_query_as()
        .fetch_all(state.pool())
        .await?;
    let next = page_end(&mut rows, limit, |r| {
        cursor::encode(CursorKind::Deliveries, &r.id.to_string())
    });
    Ok(Json(json!({
        "items": rows.iter().map(DeliveryRow::to_json).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// `GET /api/v1/gateways/{gw_id}/deliveries/incomplete`: split deliveries
/// that are not whole — still waiting for parts (`open`) or given up
/// (`abandoned`) — newest first, each with the parts it got.
pub async fn incomplete(
    State(state): State<HttpState>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let limit = query.limit()?;
    require_gateway(state.pool(), gw_id).await?;
    let splits = splits::incomplete(state.pool(), gw_id, i64::from(limit)).await?;
    Ok(Json(json!({
        "items": splits.iter().map(incomplete_json).collect::<Vec<_>>(),
    })))
}

fn incomplete_json(d: &IncompleteDelivery) -> Value {
    let report_type = u8::try_from(d.report_type).map(ReportType);
    let bytes: usize = d.parts.iter().map(|p| p.payload.len()).sum();
    json!({
        "id": d.id,
        "gw_id": d.gw_id,
        "device_id": (!d.device_id.is_empty()).then_some(&d.device_id),
        "state": d.state,
        "reason": d.reason,
        "report_type": {
            "code": d.report_type,
            "name": report_type.map_or("unknown", |r| r.name()),
        },
        "media_type": d.media_type,
        "total_count": d.total_count,
        "parts_received": d.parts.len(),
        "content_length": bytes,
        "peer": d.peer,
        "started_at": format_millis(d.started_at),
        "last_part_at": format_millis(d.last_part_at),
        "closed_at": d.closed_at.map(format_millis),
        "parts": d.parts.iter().map(|p| json!({
            "current_count": p.current_count,
            "tid": p.tid,
            "received_at": format_millis(p.received_at),
            "content": STANDARD.encode(&p.payload),
            "content_length": p.payload.len(),
        })).collect::<Vec<_>>(),
    })
}
