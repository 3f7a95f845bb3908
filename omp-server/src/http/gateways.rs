//! `/api/v1/gateways…`: registered gateways (table `gateways`), their
//! devices (table `devices`) and, with each gateway, its profile and
//! whether a GMMP session is live now ([`SessionView`](super::SessionView)).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, FromRow, QueryBuilder, Sqlite, SqlitePool};

use super::HttpState;
use super::cursor::{self, CursorKind, page_end};
use super::error::{ApiError, ApiResult};
use super::params::{PathParams, QueryParams};
use super::profiles::{self, ProfileRow};
use super::time::format_millis;

/// GMMP GW ID field size.
pub const GW_ID_MAX: usize = 16;
/// GMMP device ID field size.
pub const DEVICE_ID_MAX: usize = 16;

/// 404 unless `gw_id` is a gateway the OMP registered (now or before).
pub async fn require_gateway(pool: &SqlitePool, gw_id: &str) -> ApiResult<()> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM gateways WHERE gw_id = ?")
        .bind(gw_id)
        .fetch_optional(pool)
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| ApiError::NotFound(format!("no gateway {gw_id}")))
}

/// 404 unless `device_id` is a device of gateway `gw_id`.
pub async fn require_device(pool: &SqlitePool, gw_id: &str, device_id: &str) -> ApiResult<()> {
    require_gateway(pool, gw_id).await?;
    let found: Option<(i64,)> =
        sqlx::query_as("SELECT 1 FROM devices WHERE gw_id = ? AND device_id = ?")
            .bind(gw_id)
            .bind(device_id)
            .fetch_optional(pool)
            .await?;
    found
        .map(|_| ())
        .ok_or_else(|| ApiError::NotFound(format!("gateway {gw_id} has no device {device_id}")))
}

/// A gateway joined with its own profile row (if any).
#[derive(Debug, FromRow)]
struct GatewayRow {
    gw_id: String,
    auth_id: String,
    domain: String,
    manufacture_id: String,
    registered_at: i64,
    deregistered_at: Option<i64>,
    last_seen: Option<i64>,
    last_peer: Option<String>,
    #[sqlx(flatten)]
    profile: ProfileRow,
}

const GATEWAY_SELECT: &str = "SELECT g.gw_id, g.auth_id, g.domain, g.manufacture_id,
        g.registered_at, g.deregistered_at, g.last_seen, g.last_peer,
        p.heartbeat_period, p.report_period, p.report_offset, p.response_timeout, p.model,
        p.firmware_version, p.software_version, p.hardware_version
    FROM gateways g LEFT JOIN profiles p ON p.gw_id = g.gw_id AND p.device_id = ''";

fn gateway_json(state: &HttpState, row: &GatewayRow) -> Value {
    let live = state.sessions().peer(&row.gw_id);
    let peer = live
        .map(|p| p.to_string())
        .or_else(|| row.last_peer.clone());
    json!({
        "gw_id": row.gw_id,
        "auth_id": row.auth_id,
        "domain_code": row.domain,
        "manufacture_id": row.manufacture_id,
        "registered": row.deregistered_at.is_none(),
        "registered_at": format_millis(row.registered_at),
        "deregistered_at": row.deregistered_at.map(format_millis),
        "last_seen": row.last_seen.map(format_millis),
        "connected": live.is_some(),
        "peer": peer,
        "profile": profiles::to_json(&row.profile.or_defaults(&state.config().profile_defaults)),
    })
}

/// `GET /api/v1/gateways`: a page in GW ID order, filtered by
/// `connected` / `registered`.
pub async fn list(State(state): State<HttpState>, query: QueryParams) -> ApiResult<Json<Value>> {
    let limit = query.limit()?;
    let connected = query.bool("connected")?;
    let registered = query.bool("registered")?;
    let after = query
        .cursor()?
        .map(|c| cursor::decode(CursorKind::Gateways, c))
        .transpose()?;
    let mut sql = QueryBuilder::<Sqlite>::new(GATEWAY_SELECT);
    sql.push(" WHERE 1 = 1");
    if let Some(after) = &after {
        sql.push(" AND g.gw_id > ").push_bind(after);
    }
    match registered {
        Some(true) => {
            sql.push(" AND g.deregistered_at IS NULL");
        }
        Some(false) => {
            sql.push(" AND g.deregistered_at IS NOT NULL");
        }
        None => {}
    }
    if let Some(connected) = connected {
        // The live set travels as one JSON array parameter, however large.
        let ids = serde_json::to_string(&state.sessions().connected_gw_ids())
            .unwrap_or_else(|_| "[]".to_owned());
        sql.push(if connected {
            " AND g.gw_id IN"
        } else {
            " AND g.gw_id NOT IN"
        })
        .push(" (SELECT value FROM json_each(")
        .push_bind(ids)
        .push("))");
    }
    sql.push(" ORDER BY g.gw_id LIMIT ")
        .push_bind(i64::from(limit) + 1);
    let mut rows: Vec<GatewayRow> = sql.build_query_as().fetch_all(state.pool()).await?;
    let next = page_end(&mut rows, limit, |r| {
        cursor::encode(CursorKind::Gateways, &r.gw_id)
    });
    Ok(Json(json!({
        "items": rows.iter().map(|r| gateway_json(&state, r)).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// `GET /api/v1/gateways/{gw_id}`.
pub async fn one(State(state): State<HttpState>, path: PathParams) -> ApiResult<Json<Value>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let row: Option<GatewayRow> =
        sqlx::query_as(AssertSqlSafe(format!("{GATEWAY_SELECT} WHERE g.gw_id = ?")))
            .bind(gw_id)
            .fetch_optional(state.pool())
            .await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("no gateway {gw_id}")))?;
    Ok(Json(gateway_json(&state, &row)))
}

#[derive(Debug, FromRow)]
struct DeviceRow {
    device_id: String,
    gw_id: String,
    manufacture_id: String,
    registered_at: i64,
    deregistered_at: Option<i64>,
}

/// `GET /api/v1/gateways/{gw_id}/devices`: all of them, in device ID order.
pub async fn devices(State(state): State<HttpState>, path: PathParams) -> ApiResult<Json<Value>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    require_gateway(state.pool(), gw_id).await?;
    let rows: Vec<DeviceRow> = sqlx::query_as(
        "SELECT device_id, gw_id, manufacture_id, registered_at, deregistered_at
         FROM devices WHERE gw_id = ? ORDER BY device_id",
    )
    .bind(gw_id)
    .fetch_all(state.pool())
    .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|d| {
            json!({
                "device_id": d.device_id,
                "gw_id": d.gw_id,
                "manufacture_id": d.manufacture_id,
                "registered": d.deregistered_at.is_none(),
                "registered_at": format_millis(d.registered_at),
                "deregistered_at": d.deregistered_at.map(format_millis),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}
