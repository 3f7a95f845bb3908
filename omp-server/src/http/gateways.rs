//! `/api/v1/gateways…`: registered gateways (table `gateways`), their
//! devices (table `devices`) and, with each gateway, its profile and
//! whether a GMMP session is live now (the
//! [`Registry`](crate::registry::Registry)).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::sync::Arc;

use super::cursor::{self, CursorKind, page_end};
use super::error::{ApiError, ApiResult};
use super::params::{PathParams, QueryParams};
use super::profiles::Profile;
use super::time::format_millis;
use crate::state::Shared;
use crate::store::Db;
use crate::store::devices::{self, Device};
use crate::store::gateways::{self, GatewayFilter, WithProfile};

/// GMMP GW ID field size.
pub const GW_ID_MAX: usize = 16;
/// GMMP device ID field size.
pub const DEVICE_ID_MAX: usize = 16;

/// 404 unless `gw_id` is a gateway the OMP registered (now or before).
pub async fn require_gateway(db: &Db, gw_id: &str) -> ApiResult<()> {
    if gateways::exists(db, gw_id).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("no gateway {gw_id}")))
    }
}

/// 404 unless `device_id` is a device of gateway `gw_id`.
pub async fn require_device(db: &Db, gw_id: &str, device_id: &str) -> ApiResult<()> {
    require_gateway(db, gw_id).await?;
    if devices::exists(db, gw_id, device_id, false).await? {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "gateway {gw_id} has no device {device_id}"
        )))
    }
}

/// The contract's `Gateway`. (Fields of the response structs are in
/// alphabetical order, the order the API has always answered them in.)
#[derive(Debug, Serialize)]
pub struct GatewayBody {
    auth_id: String,
    connected: bool,
    deregistered_at: Option<String>,
    domain_code: String,
    gw_id: String,
    last_seen: Option<String>,
    manufacture_id: String,
    peer: Option<String>,
    profile: Profile,
    registered: bool,
    registered_at: String,
    registration_lock: bool,
    session_since: Option<String>,
}

impl GatewayBody {
    fn new(state: &Shared, found: WithProfile) -> GatewayBody {
        let g = found.gateway;
        let live = state.registry.get(&g.gw_id);
        GatewayBody {
            connected: live.is_some(),
            session_since: live.as_ref().map(|h| format_millis(h.since)),
            peer: live.map(|h| h.peer.to_string()).or(g.last_peer),
            registration_lock: g.registration_lock,
            profile: Profile::from(
                found
                    .profile
                    .unwrap_or_else(|| state.config.profile_defaults.clone()),
            ),
            registered: g.deregistered_at.is_none(),
            registered_at: format_millis(g.registered_at),
            deregistered_at: g.deregistered_at.map(format_millis),
            last_seen: g.last_seen.map(format_millis),
            auth_id: g.auth_id,
            domain_code: g.domain,
            gw_id: g.gw_id,
            manufacture_id: g.manufacture_id,
        }
    }
}

/// A page of gateways.
#[derive(Debug, Serialize)]
pub struct GatewayPage {
    items: Vec<GatewayBody>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/gateways`: a page in GW ID order, filtered by
/// `connected` / `registered`.
pub async fn list(
    State(state): State<Arc<Shared>>,
    query: QueryParams,
) -> ApiResult<Json<GatewayPage>> {
    let limit = query.limit()?;
    let connected = query.bool("connected")?;
    let filter = GatewayFilter {
        after: query
            .cursor()?
            .map(|c| cursor::decode(CursorKind::Gateways, c))
            .transpose()?,
        registered: query.bool("registered")?,
        connected: connected.map(|c| (c, state.registry.gw_ids())),
    };
    let mut rows = gateways::page_with_profile(&state.db, &filter, i64::from(limit) + 1).await?;
    let next_cursor = page_end(&mut rows, limit, |r| {
        cursor::encode(CursorKind::Gateways, &r.gateway.gw_id)
    });
    Ok(Json(GatewayPage {
        items: rows
            .into_iter()
            .map(|r| GatewayBody::new(&state, r))
            .collect(),
        next_cursor,
    }))
}

/// `PUT /api/v1/gateways/{gw_id}/registration-lock`: from now on a
/// registration of this gateway must carry its current auth key.
pub async fn lock_registration(
    state: State<Arc<Shared>>,
    path: PathParams,
) -> ApiResult<Json<GatewayBody>> {
    set_registration_lock(state, path, true).await
}

/// `DELETE /api/v1/gateways/{gw_id}/registration-lock`: any registration
/// of its auth ID is taken again (a gateway reset to an empty key).
pub async fn unlock_registration(
    state: State<Arc<Shared>>,
    path: PathParams,
) -> ApiResult<Json<GatewayBody>> {
    set_registration_lock(state, path, false).await
}

async fn set_registration_lock(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    locked: bool,
) -> ApiResult<Json<GatewayBody>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    {
        // Under the registrations' guard: a registration writing the
        // directory from a row it read before this change cannot put the
        // old lock back.
        let _one_at_a_time = state.registrations_serial.lock().await;
        let auth_id = gateways::set_registration_lock(&state.db, gw_id, locked)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no gateway {gw_id}")))?;
        // Committed first: the directory follows the database, never leads it.
        state.directory.set_registration_lock(&auth_id, locked);
    }
    tracing::info!(gw_id, locked, "GW registration lock changed over the API");
    let found = gateways::get_with_profile(&state.db, gw_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no gateway {gw_id}")))?;
    Ok(Json(GatewayBody::new(&state, found)))
}

/// `GET /api/v1/gateways/{gw_id}`.
pub async fn one(
    State(state): State<Arc<Shared>>,
    path: PathParams,
) -> ApiResult<Json<GatewayBody>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    let found = gateways::get_with_profile(&state.db, gw_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no gateway {gw_id}")))?;
    Ok(Json(GatewayBody::new(&state, found)))
}

/// The contract's `Device`.
#[derive(Debug, Serialize)]
pub struct DeviceBody {
    deregistered_at: Option<String>,
    device_id: String,
    gw_id: String,
    manufacture_id: String,
    registered: bool,
    registered_at: String,
}

impl From<Device> for DeviceBody {
    fn from(d: Device) -> DeviceBody {
        DeviceBody {
            registered: d.deregistered_at.is_none(),
            registered_at: format_millis(d.registered_at),
            deregistered_at: d.deregistered_at.map(format_millis),
            device_id: d.device_id,
            gw_id: d.gw_id,
            manufacture_id: d.manufacture_id,
        }
    }
}

/// A gateway's devices.
#[derive(Debug, Serialize)]
pub struct DeviceList {
    items: Vec<DeviceBody>,
}

/// `GET /api/v1/gateways/{gw_id}/devices`: all of them, in device ID order.
pub async fn devices(
    State(state): State<Arc<Shared>>,
    path: PathParams,
) -> ApiResult<Json<DeviceList>> {
    let gw_id = path.id("gw_id", GW_ID_MAX)?;
    require_gateway(&state.db, gw_id).await?;
    let items = devices::of_gateway(&state.db, gw_id)
        .await?
        .into_iter()
        .map(DeviceBody::from)
        .collect();
    Ok(Json(DeviceList { items }))
}
