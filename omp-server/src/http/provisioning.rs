//! `/api/v1/provisioning`: the auth IDs allowed to register (table
//! `provisioning`; the column `domain` is the API's `domain_code`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sqlx::{FromRow, QueryBuilder, Sqlite};

use super::HttpState;
use super::cursor::{self, CursorKind, page_end};
use super::error::{ApiError, ApiResult};
use super::params::{Body, JsonObject, PathParams, QueryParams};
use super::time::{format_millis, now_millis};

/// GMMP field sizes (GMMP.md §3).
const AUTH_ID_MAX: usize = 16;
const DOMAIN_MAX: usize = 10;
const MANUFACTURE_ID_MAX: usize = 16;
/// The portal label is not a GMMP field; kept short enough to list.
const NAME_MAX: usize = 100;

#[derive(Debug, FromRow)]
struct ProvisionRow {
    auth_id: String,
    domain: Option<String>,
    manufacture_id: Option<String>,
    name: Option<String>,
    created_at: i64,
}

impl ProvisionRow {
    fn to_json(&self) -> Value {
        json!({
            "auth_id": self.auth_id,
            "domain_code": self.domain,
            "manufacture_id": self.manufacture_id,
            "name": self.name,
            "created_at": format_millis(self.created_at),
        })
    }
}

/// `GET /api/v1/provisioning`: a page in auth ID order.
pub async fn list(State(state): State<HttpState>, query: QueryParams) -> ApiResult<Json<Value>> {
    let limit = query.limit()?;
    let after = query
        .cursor()?
        .map(|c| cursor::decode(CursorKind::Provisioning, c))
        .transpose()?;
    let mut sql = QueryBuilder::<Sqlite>::new(
        "SELECT auth_id, domain, manufacture_id, name, created_at FROM provisioning",
    );
    if let Some(after) = &after {
        sql.push(" WHERE auth_id > ").push_bind(after);
    }
    sql.push(" ORDER BY auth_id LIMIT ")
        .push_bind(i64::from(limit) + 1);
    let mut rows: Vec<ProvisionRow> = sql.build_query_as().fetch_all(state.pool()).await?;
    let next = page_end(&mut rows, limit, |r| {
        cursor::encode(CursorKind::Provisioning, &r.auth_id)
    });
    Ok(Json(json!({
        "items": rows.iter().map(ProvisionRow::to_json).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// `POST /api/v1/provisioning`: 201, 409 when provisioned already.
pub async fn create(State(state): State<HttpState>, body: JsonObject) -> ApiResult<Response> {
    let body = Body::new(body, &["auth_id", "domain_code", "manufacture_id", "name"])?;
    let auth_id = body
        .gmmp_field("auth_id", 1, AUTH_ID_MAX)?
        .ok_or_else(|| ApiError::bad_request("auth_id", "required"))?;
    let domain = body.gmmp_field("domain_code", 1, DOMAIN_MAX)?;
    let manufacture_id = body.gmmp_field("manufacture_id", 0, MANUFACTURE_ID_MAX)?;
    let name = body.bounded_string("name", 0, NAME_MAX)?;
    let row = ProvisionRow {
        auth_id: auth_id.to_owned(),
        domain: domain.map(str::to_owned),
        manufacture_id: manufacture_id.map(str::to_owned),
        name: name.map(str::to_owned),
        created_at: now_millis(),
    };
    let inserted = sqlx::query(
        "INSERT INTO provisioning (auth_id, domain, manufacture_id, name, created_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (auth_id) DO NOTHING",
    )
    .bind(&row.auth_id)
    .bind(&row.domain)
    .bind(&row.manufacture_id)
    .bind(&row.name)
    .bind(row.created_at)
    .execute(state.pool())
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(ApiError::Conflict(format!(
            "auth_id {} is provisioned already",
            row.auth_id
        )));
    }
    Ok((StatusCode::CREATED, Json(row.to_json())).into_response())
}

/// `DELETE /api/v1/provisioning/{auth_id}`: 204, 404 when not provisioned.
pub async fn remove(State(state): State<HttpState>, path: PathParams) -> ApiResult<StatusCode> {
    let auth_id = path.id("auth_id", AUTH_ID_MAX)?;
    let deleted = sqlx::query("DELETE FROM provisioning WHERE auth_id = ?")
        .bind(auth_id)
        .execute(state.pool())
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::NotFound(format!(
            "auth_id {auth_id} is not provisioned"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}
