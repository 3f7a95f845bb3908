//! `/api/v1/provisioning`: the auth IDs allowed to register (table
//! `provisioning`; the column `domain` is the API's `domain_code`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

use super::cursor::{self, CursorKind, page_end};
use super::error::{ApiError, ApiResult};
use super::params::{Body, JsonObject, PathParams, QueryParams};
use super::time::{format_millis, now_millis};
use crate::state::Shared;
use crate::store::provisioning::{self, Provision};

/// GMMP field sizes (docs/gmmp.md §2, §4).
const AUTH_ID_MAX: usize = 16;
const DOMAIN_MAX: usize = 10;
const MANUFACTURE_ID_MAX: usize = 16;
/// The portal label is not a GMMP field; kept short enough to list.
const NAME_MAX: usize = 100;

fn to_json(p: &Provision) -> Value {
    json!({
        "auth_id": p.auth_id,
        "domain_code": p.domain,
        "manufacture_id": p.manufacture_id,
        "name": p.name,
        "created_at": format_millis(p.created_at),
    })
}

/// `GET /api/v1/provisioning`: a page in auth ID order.
pub async fn list(State(state): State<Arc<Shared>>, query: QueryParams) -> ApiResult<Json<Value>> {
    let limit = query.limit()?;
    let after = query
        .cursor()?
        .map(|c| cursor::decode(CursorKind::Provisioning, c))
        .transpose()?;
    let mut rows = provisioning::page(&state.pool, after.as_deref(), i64::from(limit) + 1).await?;
    let next = page_end(&mut rows, limit, |r| {
        cursor::encode(CursorKind::Provisioning, &r.auth_id)
    });
    Ok(Json(json!({
        "items": rows.iter().map(to_json).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// `POST /api/v1/provisioning`: 201, 409 when provisioned already.
pub async fn create(State(state): State<Arc<Shared>>, body: JsonObject) -> ApiResult<Response> {
    let body = Body::new(body, &["auth_id", "domain_code", "manufacture_id", "name"])?;
    let auth_id = body
        .gmmp_field("auth_id", 1, AUTH_ID_MAX)?
        .ok_or_else(|| ApiError::bad_request("auth_id", "required"))?;
    let domain = body.gmmp_field("domain_code", 1, DOMAIN_MAX)?;
    let manufacture_id = body.gmmp_field("manufacture_id", 0, MANUFACTURE_ID_MAX)?;
    let name = body.bounded_string("name", 0, NAME_MAX)?;
    let row = Provision {
        auth_id: auth_id.to_owned(),
        domain: domain.map(str::to_owned),
        manufacture_id: manufacture_id.map(str::to_owned),
        name: name.map(str::to_owned),
        created_at: now_millis(),
    };
    if !provisioning::insert_new(&state.pool, &row).await? {
        return Err(ApiError::Conflict(format!(
            "auth_id {} is provisioned already",
            row.auth_id
        )));
    }
    Ok((StatusCode::CREATED, Json(to_json(&row))).into_response())
}

/// `DELETE /api/v1/provisioning/{auth_id}`: 204, 404 when not provisioned.
pub async fn remove(State(state): State<Arc<Shared>>, path: PathParams) -> ApiResult<StatusCode> {
    let auth_id = path.id("auth_id", AUTH_ID_MAX)?;
    if !provisioning::remove(&state.pool, auth_id).await? {
        return Err(ApiError::NotFound(format!(
            "auth_id {auth_id} is not provisioned"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}
