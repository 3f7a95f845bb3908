//! The HTTP API of the OMP: the contract in `openapi/openapi.yaml`,
//! implemented with axum over the server's SQLite pool.
//!
//! # Interface with the rest of the server
//!
//! The handlers get the server's one state, [`Shared`], in an `Arc` (axum's
//! `with_state`): the pool for the [`store`](crate::store)'s functions, the
//! session [`Registry`](crate::registry::Registry) for "connected", the
//! [`ControlHandle`](crate::control::ControlHandle) for new and cancelled
//! controls, the [`ControlWatch`](crate::control::ControlWatch) the
//! dispatcher wakes `GET /api/v1/controls/{id}?wait=N` with, the counters
//! for `/metrics`, the API key and the [`Config`](crate::Config). [`router`]
//! turns it into an `axum::Router`, [`serve`] runs it until the shutdown
//! token fires. Handlers run no SQL: they parse, call the store, and
//! answer a serde response struct.
//!
//! # Layout
//!
//! - [`error`]: the one error type and its JSON shape.
//! - [`auth`]: the API key (Bearer, constant-time compare) and its file.
//! - [`params`]: query string and path reading with field-named errors,
//!   and the refusal of query parameters a route does not take.
//! - [`body`]: JSON request bodies decoded into serde structs, errors
//!   naming the field.
//! - [`cursor`]: opaque page cursors.
//! - [`time`]: RFC 3339 in and out.
//! - [`service`]: `/healthz`, `/openapi.yaml`.
//! - [`listener`]: the connection cap, the per-source share and the idle
//!   limit of the listener.
//! - [`server`]: the accept loop (hyper with a header-read timeout) and
//!   graceful shutdown.
//! - [`framing`]: each request head's body framing, read from the raw
//!   bytes (both `Transfer-Encoding` and `Content-Length` is refused).
//! - [`metrics`]: HTTP request counters and `/metrics`.
//! - [`provisioning`], [`gateways`], [`profiles`], [`deliveries`],
//!   [`controls`]: one module per resource.
//! - [`events`]: the outbox as Server-Sent Events or JSON pages;
//!   [`webhooks`]: the receivers it is POSTed to;
//!   [`export`]: a gateway's deliveries as a streamed CSV / NDJSON body.
//!
//! # Decisions
//!
//! - Every route is listed once in [`ROUTES`]; the router is built from it
//!   and a test compares it with the contract's paths and methods.
//! - Authentication is one middleware keyed on the path (`/api/…` and
//!   `/metrics`), so unknown `/api/` paths answer 401 before 404 and never
//!   reveal which routes exist.
//! - axum's extractor rejections are plain text; the API never uses them
//!   ([`params`] replaces `Query` and `Path`, [`body`] replaces `Json`), and the router's own
//!   404/405 are replaced by JSON fallbacks (the 405 keeps its `Allow`).
//! - Shutdown: in-flight requests get [`SHUTDOWN_GRACE`] to finish (a
//!   long-poll `?wait=` may hold up to 60 s), then connections are dropped.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use tower_http::trace::TraceLayer;

use crate::state::Shared;

pub mod auth;
pub mod body;
pub mod controls;
pub mod cursor;
pub mod deliveries;
pub mod error;
pub mod events;
pub mod export;
pub mod framing;
pub mod gateways;
pub mod listener;
pub mod metrics;
pub mod mqtt;
pub mod mqtt_controls;
pub mod params;
pub mod profiles;
pub mod provisioning;
pub mod server;
pub mod service;
pub mod time;
pub mod webhooks;

pub use auth::{ApiKey, ApiKeyError, LoadedApiKey, load_or_create_api_key};
pub use error::ApiError;
pub use server::serve;

/// Default request body limit (64 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// Default time a control may wait QUEUED (1 day).
pub const DEFAULT_CONTROL_TTL: Duration = Duration::from_secs(86_400);
/// Default time a request body has to arrive whole, from the request's
/// start: a client that declares a length and then sends nothing, or
/// trickles its body, does not hold a handler (and its connection) forever.
pub const DEFAULT_BODY_DEADLINE: Duration = Duration::from_secs(30);
/// How long [`serve`] lets in-flight requests finish after shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// One route of the API: method and path as the contract writes them.
pub struct Route {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// The path template (`/api/v1/gateways/{gw_id}`), axum's and OpenAPI's syntax alike.
    pub path: &'static str,
    /// The query parameters it takes; any other is refused with 400
    /// naming it, so a misspelled `limt` is not silently ignored.
    pub query: &'static [&'static str],
    handler: fn() -> MethodRouter<Arc<Shared>>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Every route of the API; the router is built from this list.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/healthz",
        query: &[],
        handler: || get(service::health),
    },
    Route {
        method: "GET",
        path: "/openapi.yaml",
        query: &[],
        handler: || get(service::openapi),
    },
    Route {
        method: "GET",
        path: "/metrics",
        query: &[],
        handler: || get(metrics::render),
    },
    Route {
        method: "GET",
        path: "/api/v1/provisioning",
        query: &["limit", "cursor"],
        handler: || get(provisioning::list),
    },
    Route {
        method: "POST",
        path: "/api/v1/provisioning",
        query: &[],
        handler: || post(provisioning::create),
    },
    Route {
        method: "DELETE",
        path: "/api/v1/provisioning/{auth_id}",
        query: &[],
        handler: || delete(provisioning::remove),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways",
        query: &["connected", "registered", "limit", "cursor"],
        handler: || get(gateways::list),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}",
        query: &[],
        handler: || get(gateways::one),
    },
    Route {
        method: "PUT",
        path: "/api/v1/gateways/{gw_id}/registration-lock",
        query: &[],
        handler: || put(gateways::lock_registration),
    },
    Route {
        method: "DELETE",
        path: "/api/v1/gateways/{gw_id}/registration-lock",
        query: &[],
        handler: || delete(gateways::unlock_registration),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/devices",
        query: &[],
        handler: || get(gateways::devices),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/profile",
        query: &[],
        handler: || get(profiles::get_gateway),
    },
    Route {
        method: "PUT",
        path: "/api/v1/gateways/{gw_id}/profile",
        query: &[],
        handler: || put(profiles::put_gateway),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/devices/{device_id}/profile",
        query: &[],
        handler: || get(profiles::get_device),
    },
    Route {
        method: "PUT",
        path: "/api/v1/gateways/{gw_id}/devices/{device_id}/profile",
        query: &[],
        handler: || put(profiles::put_device),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/deliveries/latest",
        query: &["device_id"],
        handler: || get(deliveries::latest),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/deliveries",
        query: &["from", "to", "device_id", "report_type", "limit", "cursor"],
        handler: || get(deliveries::history),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/deliveries/export",
        query: &["format", "from", "to", "device_id"],
        handler: || get(export::deliveries),
    },
    Route {
        method: "GET",
        path: "/api/v1/events",
        query: &["after", "limit", "kind", "gw_id", "device_id"],
        handler: || get(events::list),
    },
    Route {
        method: "GET",
        path: "/api/v1/webhooks",
        query: &[],
        handler: || get(webhooks::list),
    },
    Route {
        method: "POST",
        path: "/api/v1/webhooks",
        query: &[],
        handler: || post(webhooks::create),
    },
    Route {
        method: "GET",
        path: "/api/v1/webhooks/{id}",
        query: &[],
        handler: || get(webhooks::one),
    },
    Route {
        method: "PATCH",
        path: "/api/v1/webhooks/{id}",
        query: &[],
        handler: || patch(webhooks::update),
    },
    Route {
        method: "DELETE",
        path: "/api/v1/webhooks/{id}",
        query: &[],
        handler: || delete(webhooks::remove),
    },
    Route {
        method: "POST",
        path: "/api/v1/webhooks/{id}/replay",
        query: &["from"],
        handler: || post(webhooks::replay),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/deliveries/incomplete",
        query: &["limit"],
        handler: || get(deliveries::incomplete),
    },
    Route {
        method: "POST",
        path: "/api/v1/gateways/{gw_id}/controls",
        query: &[],
        handler: || post(controls::create),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/controls",
        query: &["state", "limit", "cursor"],
        handler: || get(controls::list),
    },
    Route {
        method: "GET",
        path: "/api/v1/controls/{id}",
        query: &["wait"],
        handler: || get(controls::one),
    },
    Route {
        method: "DELETE",
        path: "/api/v1/controls/{id}",
        query: &[],
        handler: || delete(controls::cancel),
    },
];

/// The API's router (state applied), with auth, metrics, tracing, the body
/// limit and the JSON 404/405 fallbacks.
pub fn router(state: Arc<Shared>) -> Router {
    let mut router = Router::new();
    for route in ROUTES.iter().chain(mqtt::ROUTES) {
        let known = route.query;
        let handler = (route.handler)().layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                params::refuse_unknown_query(known, request, next)
            },
        ));
        router = router.route(route.path, handler);
    }
    let body_limit = state.config.http_body_limit;
    router
        .fallback(service::not_found)
        .method_not_allowed_fallback(service::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_deadline,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Middleware (after authentication): a request not answered within
/// `http_request_deadline` of its head — body, handler and database
/// waits included — is answered 503, so nothing holds its connection and
/// handler for ever. Longer than the longest `?wait=` by configuration.
/// It bounds the wait for the response head only: a streamed body (the
/// event stream, an export) flows on after it, kept alive by its own
/// writes within `http_idle_timeout`.
async fn request_deadline(
    axum::extract::State(state): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let limit = state.config.http_request_deadline;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestDeadline { limit }.into_response(),
    }
}

/// Middleware (after authentication): a body whose declared length is
/// over the limit is refused at once with 413, before any of it is read
/// (`DefaultBodyLimit` alone only counts bytes as they arrive, so a
/// claimed 10 GB that never comes would hold the request); a body that
/// is coming gets `body_deadline` to arrive whole (else 400).
async fn limit_body(
    axum::extract::State(state): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::body::HttpBody;
    use axum::response::IntoResponse;
    let limit = state.config.http_body_limit;
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::PayloadTooLarge { limit }.into_response();
    }
    let (parts, body) = request.into_parts();
    let body = if body.is_end_stream() {
        body
    } else {
        let deadline = state.config.http_body_deadline;
        axum::body::Body::new(tower_http::timeout::DeadlineBody::new(deadline, body))
    };
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}
