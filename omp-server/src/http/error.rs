//! The API's one error type and its JSON form:
//!
//! ```text
//! {"error": {"code": "bad_request", "message": "limit: must be an integer from 1 to 1000", "field": "limit"}}
//! ```
//!
//! Internal errors (a failing database) are logged with their details and
//! answered 500 `internal` without them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Everything a handler can answer instead of its resource.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed input; `field` names it.
    #[error("{field}: {message}")]
    BadRequest {
        /// The parameter or body field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// 400 about the request as a whole (e.g. a body that is not JSON at all).
    #[error("{0}")]
    BadBody(String),
    /// 401: missing or wrong API key.
    #[error("missing or wrong API key (Authorization: Bearer <key>)")]
    Unauthorized,
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists, not with this method.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// 409: conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// 413: body over the limit.
    #[error("request body larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: the body is not `application/json`.
    #[error("the request body must be application/json (got {0})")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid value; `field` names it.
    #[error("{field}: {message}")]
    Unprocessable {
        /// The offending field.
        field: String,
        /// Why it is refused.
        message: String,
    },
    /// 503: the database does not answer (health check).
    #[error("the database does not answer")]
    Unavailable,
    /// 503: the control dispatcher has stopped (the server is shutting
    /// down), so controls are neither created nor cancelled.
    #[error("the server is shutting down; controls are not accepted now")]
    ControlsStopped,
    /// 503: the request was not answered within the request deadline.
    #[error("the request was not answered within {}s; retry", .limit.as_secs_f64())]
    RequestDeadline {
        /// The deadline (`http_request_deadline`).
        limit: std::time::Duration,
    },
    /// 500: a real database failure; details go to the log only.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// A failed dispatcher request: a database error is a 500 (details
/// logged), a stopped dispatcher a 503 saying so.
impl From<crate::control::ControlError> for ApiError {
    fn from(e: crate::control::ControlError) -> ApiError {
        match e {
            crate::control::ControlError::Store(e) => e.into(),
            crate::control::ControlError::Stopped => ApiError::ControlsStopped,
        }
    }
}

/// A store failure is a 500 whose details go to the log only.
impl From<crate::error::StoreError> for ApiError {
    fn from(e: crate::error::StoreError) -> ApiError {
        match e {
            crate::error::StoreError::Sqlx(e) => ApiError::Database(e),
            other => ApiError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl ApiError {
    /// A 400 naming `field`.
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A 422 naming `field`.
    pub fn unprocessable(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::BadBody(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable
            | ApiError::ControlsStopped
            | ApiError::RequestDeadline { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The contract's `code` (schema `Error`).
    ///
    /// 405 has no code of its own in the contract's enum; it is answered as
    /// `bad_request` (the request is malformed for this route).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } | ApiError::BadBody(_) | ApiError::MethodNotAllowed => {
                "bad_request"
            }
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unprocessable { .. } => "unprocessable",
            ApiError::Unavailable
            | ApiError::ControlsStopped
            | ApiError::RequestDeadline { .. } => "unavailable",
            ApiError::Database(_) => "internal",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::BadRequest { field, .. } | ApiError::Unprocessable { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Database(e) => {
                tracing::error!(error = %e, "HTTP API database error");
                "internal error".to_owned()
            }
            ApiError::Unavailable => {
                tracing::warn!("health check: the database does not answer");
                self.to_string()
            }
            ApiError::ControlsStopped => {
                tracing::warn!("control request refused: the control dispatcher has stopped");
                self.to_string()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                field: self.field(),
                message,
            },
        };
        (self.status_code(), Json(body)).into_response()
    }
}

/// The contract's `Error`.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

/// Its `error` object (fields in alphabetical order, the order the API has
/// always answered them in; `field` only when one field is to blame).
#[derive(Debug, Serialize)]
struct ErrorDetail<'a> {
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    message: String,
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_dispatcher_is_a_503_that_does_not_blame_the_database() {
        let stopped = ApiError::ControlsStopped;
        assert_eq!(stopped.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(stopped.code(), "unavailable");
        assert_ne!(stopped.to_string(), ApiError::Unavailable.to_string());
        assert!(!stopped.to_string().contains("database"));
    }

    async fn body_of(error: ApiError) -> String {
        let response = error.into_response();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_error_shape_names_the_field_only_when_there_is_one() {
        assert_eq!(
            body_of(ApiError::bad_request(
                "limit",
                "must be an integer from 1 to 1000"
            ))
            .await,
            r#"{"error":{"code":"bad_request","field":"limit","message":"limit: must be an integer from 1 to 1000"}}"#
        );
        assert_eq!(
            body_of(ApiError::NotFound("no gateway SC1".into())).await,
            r#"{"error":{"code":"not_found","message":"no gateway SC1"}}"#
        );
    }
}
