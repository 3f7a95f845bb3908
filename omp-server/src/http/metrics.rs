//! `/metrics`: HTTP request counters by method, route template and status,
//! followed by the GMMP side's metrics, in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::HttpState;

/// Route label of requests that matched no route (kept apart so that
/// scanners cannot grow the label set without bound).
const UNMATCHED: &str = "unmatched";

/// Request counts by (method, route template, status).
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
}

impl HttpMetrics {
    fn record(&self, method: &str, route: &str, status: u16) {
        // A poisoned lock only means another request panicked while
        // counting; the counts are still usable.
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_insert(0) += 1;
    }

    /// Appends the counters in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str(
            "# HELP omp_http_requests_total HTTP API requests by method, route and status.\n",
        );
        out.push_str("# TYPE omp_http_requests_total counter\n");
        for ((method, route, status), n) in requests.iter() {
            let _ = writeln!(
                out,
                "omp_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                route.replace('\\', "\\\\").replace('"', "\\\"")
            );
        }
    }
}

/// Middleware: counts every request once its response is known.
pub async fn count(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, |p| p.as_str())
        .to_owned();
    let method = request.method().clone();
    // Only the standard methods become labels; anything else is "OTHER".
    let method = match method.as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS" | "TRACE"
        | "CONNECT") => m,
        _ => "OTHER",
    }
    .to_owned();
    let response = next.run(request).await;
    state
        .http_metrics()
        .record(&method, &route, response.status().as_u16());
    response
}

/// `GET /metrics`.
pub async fn render(State(state): State<HttpState>) -> impl IntoResponse {
    let mut out = String::new();
    state.http_metrics().render(&mut out);
    state.gmmp_metrics().render(&mut out);
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
}
