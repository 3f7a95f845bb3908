//! The HTTP API of the OMP (issue 4): the contract in `openapi/openapi.yaml`,
//! implemented with axum over the server's SQLite pool.
//!
//! # Interface with the rest of the server
//!
//! The GMMP side builds an [`HttpState`] with [`HttpState::new`] from the
//! pool, an [`HttpConfig`] and three small traits it implements:
//! [`SessionView`] (who is connected), [`ControlSink`] (a control was
//! queued) and [`GmmpMetrics`] (its Prometheus text). [`router`] turns the
//! state into an `axum::Router`, [`serve`] runs it until the shutdown token
//! fires. The control dispatcher announces state changes of a control by
//! calling [`ControlWatch::changed`] on [`HttpState::control_watch`], which wakes
//! `GET /api/v1/controls/{id}?wait=N`.
//!
//! # Layout
//!
//! - [`error`]: the one error type and its JSON shape.
//! - [`auth`]: the API key (Bearer, constant-time compare) and its file.
//! - [`params`]: query string, path and JSON body reading with field-named errors.
//! - [`cursor`]: opaque page cursors.
//! - [`time`]: RFC 3339 in and out.
//! - [`watch`]: wakes the `?wait=` long-polls of a control that changed.
//! - [`service`]: `/healthz`, `/openapi.yaml`.
//! - [`listener`]: the connection cap and the idle limit of the listener.
//! - [`metrics`]: HTTP request counters and `/metrics`.
//! - [`provisioning`], [`gateways`], [`profiles`], [`deliveries`],
//!   [`controls`]: one module per resource.
//!
//! # Decisions
//!
//! - Every route is listed once in [`ROUTES`]; the router is built from it
//!   and a test compares it with the contract's paths and methods.
//! - Authentication is one middleware keyed on the path (`/api/…` and
//!   `/metrics`), so unknown `/api/` paths answer 401 before 404 and never
//!   reveal which routes exist.
//! - axum's extractor rejections are plain text; the API never uses them
//!   ([`params`] replaces `Query`, `Path` and `Json`), and the router's own
//!   404/405 are replaced by JSON fallbacks (the 405 keeps its `Allow`).
//! - Shutdown: in-flight requests get [`SHUTDOWN_GRACE`] to finish (a
//!   long-poll `?wait=` may hold up to 60 s), then connections are dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, post, put};
use futures::future::BoxFuture;
use sqlx::SqlitePool;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

pub mod auth;
pub mod controls;
pub mod cursor;
pub mod deliveries;
pub mod error;
pub mod gateways;
pub mod listener;
pub mod metrics;
pub mod params;
pub mod profiles;
pub mod provisioning;
pub mod service;
pub mod time;
pub mod watch;

pub use crate::store::controls::NewControl;
pub use auth::{ApiKey, ApiKeyError, LoadedApiKey, load_or_create_api_key};
pub use error::ApiError;
pub use watch::ControlWatch;

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

/// Profile values (GMMP 0x06 fields): the server's configured defaults
/// and what the API reads and writes are the same type.
pub use crate::config::ProfileDefaults as ProfileValues;

/// Settings of the HTTP API.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The key every `/api/` route and `/metrics` require.
    pub api_key: ApiKey,
    /// The profile answered for a gateway or device without a stored one.
    pub profile_defaults: ProfileValues,
    /// Largest request body in bytes ([`DEFAULT_BODY_LIMIT`]).
    pub body_limit: usize,
    /// Time a request body has to arrive whole ([`DEFAULT_BODY_DEADLINE`]).
    pub body_deadline: Duration,
    /// TTL of a control created without `ttl_seconds` ([`DEFAULT_CONTROL_TTL`]).
    pub control_default_ttl: Duration,
}

impl HttpConfig {
    /// A configuration with the default limits.
    pub fn new(api_key: ApiKey, profile_defaults: ProfileValues) -> HttpConfig {
        HttpConfig {
            api_key,
            profile_defaults,
            body_limit: DEFAULT_BODY_LIMIT,
            body_deadline: DEFAULT_BODY_DEADLINE,
            control_default_ttl: DEFAULT_CONTROL_TTL,
        }
    }
}

/// What the GMMP side tells the API about live sessions.
pub trait SessionView: Send + Sync + 'static {
    /// The peer of the gateway's live session; `Some` = connected now.
    fn peer(&self, gw_id: &str) -> Option<SocketAddr>;
    /// Number of live sessions bound to a gateway.
    fn connected_count(&self) -> usize;
    /// GW IDs with a live session (for `?connected=`).
    fn connected_gw_ids(&self) -> Vec<String>;
}

/// The control dispatcher, as the API sees it: it writes every change of
/// a control, creation and cancellation included, so control writes never
/// contend with each other for SQLite's write lock.
pub trait ControlSink: Send + Sync + 'static {
    /// Stores `control` QUEUED and tries to push it at once; its id once
    /// both are done (so a live gateway's control reads `SENT`), `None`
    /// when its idempotency key is already used for the gateway.
    fn create(&self, control: NewControl) -> BoxFuture<'static, Result<Option<i64>, ApiError>>;
    /// Cancels control `id` if it is QUEUED; true when it was.
    fn cancel(&self, id: i64) -> BoxFuture<'static, Result<bool, ApiError>>;
}

/// Prometheus text of the GMMP side (sessions, deliveries stored, frames by
/// type, errors by kind, write batches), appended to `/metrics`.
pub trait GmmpMetrics: Send + Sync + 'static {
    /// Appends the exposition text to `out`.
    fn render(&self, out: &mut String);
}

struct Inner {
    pool: SqlitePool,
    config: HttpConfig,
    sessions: Arc<dyn SessionView>,
    controls: Arc<dyn ControlSink>,
    gmmp_metrics: Arc<dyn GmmpMetrics>,
    http_metrics: metrics::HttpMetrics,
    control_watch: Arc<ControlWatch>,
}

/// The state shared by all handlers (cheap to clone).
#[derive(Clone)]
pub struct HttpState {
    inner: Arc<Inner>,
}

impl HttpState {
    /// The API over `pool` (migrations applied).
    pub fn new(
        pool: SqlitePool,
        config: HttpConfig,
        sessions: Arc<dyn SessionView>,
        controls: Arc<dyn ControlSink>,
        metrics: Arc<dyn GmmpMetrics>,
    ) -> HttpState {
        HttpState {
            inner: Arc::new(Inner {
                pool,
                config,
                sessions,
                controls,
                gmmp_metrics: metrics,
                http_metrics: metrics::HttpMetrics::default(),
                control_watch: Arc::default(),
            }),
        }
    }

    /// Where the control dispatcher announces that a control's row
    /// changed (after the commit); wakes `GET /api/v1/controls/{id}?wait=N`.
    pub fn control_watch(&self) -> Arc<ControlWatch> {
        self.inner.control_watch.clone()
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    pub(crate) fn config(&self) -> &HttpConfig {
        &self.inner.config
    }

    pub(crate) fn sessions(&self) -> &dyn SessionView {
        self.inner.sessions.as_ref()
    }

    pub(crate) fn control_sink(&self) -> &dyn ControlSink {
        self.inner.controls.as_ref()
    }

    pub(crate) fn gmmp_metrics(&self) -> &dyn GmmpMetrics {
        self.inner.gmmp_metrics.as_ref()
    }

    pub(crate) fn http_metrics(&self) -> &metrics::HttpMetrics {
        &self.inner.http_metrics
    }
}

impl std::fmt::Debug for HttpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// One route of the API: method and path as the contract writes them.
pub struct Route {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path template (`/api/v1/gateways/{gw_id}`), axum's and OpenAPI's syntax alike.
    pub path: &'static str,
    handler: fn() -> MethodRouter<HttpState>,
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
        handler: || get(service::health),
    },
    Route {
        method: "GET",
        path: "/openapi.yaml",
        handler: || get(service::openapi),
    },
    Route {
        method: "GET",
        path: "/metrics",
        handler: || get(metrics::render),
    },
    Route {
        method: "GET",
        path: "/api/v1/provisioning",
        handler: || get(provisioning::list),
    },
    Route {
        method: "POST",
        path: "/api/v1/provisioning",
        handler: || post(provisioning::create),
    },
    Route {
        method: "DELETE",
        path: "/api/v1/provisioning/{auth_id}",
        handler: || delete(provisioning::remove),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways",
        handler: || get(gateways::list),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}",
        handler: || get(gateways::one),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/devices",
        handler: || get(gateways::devices),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/profile",
        handler: || get(profiles::get_gateway),
    },
    Route {
        method: "PUT",
        path: "/api/v1/gateways/{gw_id}/profile",
        handler: || put(profiles::put_gateway),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/devices/{device_id}/profile",
        handler: || get(profiles::get_device),
    },
    Route {
        method: "PUT",
        path: "/api/v1/gateways/{gw_id}/devices/{device_id}/profile",
        handler: || put(profiles::put_device),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/deliveries/latest",
        handler: || get(deliveries::latest),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/deliveries",
        handler: || get(deliveries::history),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/deliveries/incomplete",
        handler: || get(deliveries::incomplete),
    },
    Route {
        method: "POST",
        path: "/api/v1/gateways/{gw_id}/controls",
        handler: || post(controls::create),
    },
    Route {
        method: "GET",
        path: "/api/v1/gateways/{gw_id}/controls",
        handler: || get(controls::list),
    },
    Route {
        method: "GET",
        path: "/api/v1/controls/{id}",
        handler: || get(controls::one),
    },
    Route {
        method: "DELETE",
        path: "/api/v1/controls/{id}",
        handler: || delete(controls::cancel),
    },
];

/// The API's router (state applied), with auth, metrics, tracing, the body
/// limit and the JSON 404/405 fallbacks.
pub fn router(state: HttpState) -> Router {
    let mut router = Router::new();
    for route in ROUTES {
        router = router.route(route.path, (route.handler)());
    }
    let body_limit = state.config().body_limit;
    router
        .fallback(service::not_found)
        .method_not_allowed_fallback(service::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_body,
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

/// Middleware (after authentication): a body whose declared length is
/// over the limit is refused at once with 413, before any of it is read
/// (`DefaultBodyLimit` alone only counts bytes as they arrive, so a
/// claimed 10 GB that never comes would hold the request); a body that
/// is coming gets `body_deadline` to arrive whole (else 400).
async fn limit_body(
    axum::extract::State(state): axum::extract::State<HttpState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::body::HttpBody;
    use axum::response::IntoResponse;
    let limit = state.config().body_limit;
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
        let deadline = state.config().body_deadline;
        axum::body::Body::new(tower_http::timeout::DeadlineBody::new(deadline, body))
    };
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}

/// Serves `router` on `listener` until `shutdown` fires, then lets
/// in-flight requests finish for up to [`SHUTDOWN_GRACE`].
pub async fn serve(
    listener: listener::LimitedListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let graceful = axum::serve(listener, router.into_make_service())
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    tokio::select! {
        result = graceful => result,
        _ = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("HTTP API: requests still running after the shutdown grace; dropped");
            Ok(())
        }
    }
}
