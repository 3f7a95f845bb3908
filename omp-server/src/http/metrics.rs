//! `/metrics`: HTTP request counters by method, route template and status,
//! followed by the GMMP side's, the delivery writer's and the control
//! dispatcher's, in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::control::ControlMetrics;
use crate::state::Shared;
use crate::store::writer::WriterMetrics;

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
pub async fn count(State(state): State<Arc<Shared>>, request: Request, next: Next) -> Response {
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
        .http_metrics
        .record(&method, &route, response.status().as_u16());
    response
}

/// `GET /metrics`.
pub async fn render(State(state): State<Arc<Shared>>) -> impl IntoResponse {
    let mut out = String::new();
    state.http_metrics.render(&mut out);
    render_gmmp(&state, &mut out);
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
}

/// The GMMP side's counters and gauges, then the writer's and the
/// control dispatcher's.
fn render_gmmp(state: &Shared, out: &mut String) {
    let m = &state.metrics;
    let counters = [
        (
            "omp_gmmp_connections_accepted_total",
            "GMMP connections accepted.",
            &m.connections_accepted,
        ),
        (
            "omp_gmmp_frames_received_total",
            "GMMP frames received.",
            &m.frames_in,
        ),
        (
            "omp_gmmp_malformed_frames_total",
            "Malformed frames (each closed its connection).",
            &m.malformed_frames,
        ),
        (
            "omp_gmmp_auth_refused_total",
            "Requests refused for authentication.",
            &m.auth_refused,
        ),
        (
            "omp_deliveries_stored_total",
            "Deliveries committed and answered STATUS_OK.",
            &m.deliveries_ok,
        ),
        (
            "omp_deliveries_already_stored_total",
            "Keyed deliveries sent again after they were stored (answered STATUS_OK, not stored twice).",
            &m.deliveries_already_stored,
        ),
        (
            "omp_deliveries_backoff_total",
            "Deliveries answered rc 0x0F (writer saturated).",
            &m.deliveries_backoff,
        ),
    ];
    for (name, help, value) in counters {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            value.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP omp_gmmp_connections_open GMMP connections open now.\n# TYPE omp_gmmp_connections_open gauge\nomp_gmmp_connections_open {}",
        m.connections_open.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP omp_gmmp_sessions GMMP sessions bound to a gateway.\n# TYPE omp_gmmp_sessions gauge\nomp_gmmp_sessions {}",
        state.registry.len()
    );
    render_splits(state.writer.metrics(), out);
    render_controls(state.control.metrics(), out);
}

/// The writer's split-delivery counters.
fn render_splits(m: &WriterMetrics, out: &mut String) {
    let counters = [
        (
            "omp_split_parts_stored_total",
            "Parts of split deliveries committed and answered STATUS_OK.",
            &m.split_parts_stored,
        ),
        (
            "omp_split_parts_repeated_total",
            "Parts of split deliveries sent again (answered STATUS_OK, held already).",
            &m.split_parts_repeated,
        ),
        (
            "omp_split_parts_refused_total",
            "Parts of split deliveries no split expects or that contradict one (answered rc 0x03/0x0A).",
            &m.split_parts_refused,
        ),
        (
            "omp_split_deliveries_completed_total",
            "Split deliveries made whole and stored as one delivery.",
            &m.splits_completed,
        ),
        (
            "omp_split_deliveries_abandoned_total",
            "Split deliveries given up before their last part (parts kept as an incomplete delivery).",
            &m.splits_abandoned,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            value.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP omp_split_deliveries_open Split deliveries waiting for parts now.\n# TYPE omp_split_deliveries_open gauge\nomp_split_deliveries_open {}",
        m.splits_open.load(Ordering::Relaxed)
    );
}

/// The control dispatcher's counters.
fn render_controls(m: &ControlMetrics, out: &mut String) {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# HELP omp_controls_sent_total Control requests (0x0D) handed to a gateway's session.\n\
         # TYPE omp_controls_sent_total counter\nomp_controls_sent_total {}\n\
         # HELP omp_controls_requeued_total Controls put back in the queue (session ended before the 0x0E, restart).\n\
         # TYPE omp_controls_requeued_total counter\nomp_controls_requeued_total {}\n\
         # HELP omp_controls_unmatched_total Control responses, notifications and long sentences matching no control in flight.\n\
         # TYPE omp_controls_unmatched_total counter\nomp_controls_unmatched_total {}\n\
         # HELP omp_controls_in_flight Controls SENT or PROGRESS now.\n\
         # TYPE omp_controls_in_flight gauge\nomp_controls_in_flight {}\n\
         # HELP omp_controls_ended_total Controls that reached a final state, by state.\n\
         # TYPE omp_controls_ended_total counter",
        load(&m.sent),
        load(&m.requeued),
        load(&m.unmatched),
        load(&m.in_flight),
    );
    for (state, counter) in [
        ("SUCCESS", &m.succeeded),
        ("FAILED", &m.failed),
        ("TIMEOUT", &m.timed_out),
        ("EXPIRED", &m.expired),
        ("CANCELLED", &m.cancelled),
    ] {
        let _ = writeln!(
            out,
            "omp_controls_ended_total{{state=\"{state}\"}} {}",
            load(counter)
        );
    }
}
