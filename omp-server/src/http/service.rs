//! Service routes: `/healthz`, `/openapi.yaml`, and the JSON 404 / 405
//! answers that replace axum's empty ones.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, Uri};
use axum::response::IntoResponse;
use serde::Serialize;
use std::sync::Arc;

use super::error::{ApiError, ApiResult};
use crate::state::Shared;

/// The contract, served as written.
pub const OPENAPI_YAML: &str = include_str!("../../../openapi/openapi.yaml");

/// The contract's `Health`.
#[derive(Debug, Serialize)]
pub struct Health {
    sessions: usize,
    status: &'static str,
}

/// `GET /healthz`: 200 with the session count when the database answers,
/// 503 when it does not.
pub async fn health(State(state): State<Arc<Shared>>) -> ApiResult<Json<Health>> {
    state.db.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "health check query failed");
        ApiError::Unavailable
    })?;
    Ok(Json(Health {
        sessions: state.registry.len(),
        status: "ok",
    }))
}

/// `GET /openapi.yaml`.
pub async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/yaml")], OPENAPI_YAML)
}

/// Any path the API does not have.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route {method} {}", uri.path()))
}

/// A path the API has, with a method it does not serve there (axum adds
/// the `Allow` header).
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
