//! Wires the HTTP API ([`crate::http`]) to the GMMP side: live sessions from
//! the [`Registry`](crate::registry::Registry), metrics from
//! [`GmmpMetrics`](crate::state::GmmpMetrics), new controls to the control
//! dispatcher ([`crate::control`]), profile defaults, the control TTL and
//! the API key from the [`Config`](crate::Config).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::future::BoxFuture;

use crate::control::{ControlError, ControlMetrics};
use crate::http::{
    self, ApiError, ControlSink, GmmpMetrics, HttpConfig, HttpState, NewControl, SessionView,
};
use crate::state::Shared;
use crate::store::writer::WriterMetrics;

/// The GMMP side as the API sees it.
struct GmmpSide(Arc<Shared>);

impl SessionView for GmmpSide {
    fn peer(&self, gw_id: &str) -> Option<SocketAddr> {
        self.0.registry.get(gw_id).map(|h| h.peer)
    }

    fn connected_count(&self) -> usize {
        self.0.registry.len()
    }

    fn connected_gw_ids(&self) -> Vec<String> {
        self.0.registry.gw_ids()
    }
}

impl GmmpMetrics for GmmpSide {
    fn render(&self, out: &mut String) {
        let m = &self.0.metrics;
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
            self.0.registry.len()
        );
        render_splits(self.0.writer.metrics(), out);
        render_controls(self.0.control.metrics(), out);
    }
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

impl ControlSink for GmmpSide {
    fn create(&self, control: NewControl) -> BoxFuture<'static, Result<Option<i64>, ApiError>> {
        let handle = self.0.control.clone();
        Box::pin(async move { handle.create(control).await.map_err(api_error) })
    }

    fn cancel(&self, id: i64) -> BoxFuture<'static, Result<bool, ApiError>> {
        let handle = self.0.control.clone();
        Box::pin(async move { handle.cancel(id).await.map_err(api_error) })
    }
}

/// A failed dispatcher request as the API answers it: a database error is
/// a 500 (details logged), a stopped dispatcher a 503 saying so.
fn api_error(e: ControlError) -> ApiError {
    match e {
        ControlError::Store(e) => e.into(),
        ControlError::Stopped => ApiError::ControlsStopped,
    }
}

/// The API's state over the server's shared state and `api_key`.
pub fn http_state(shared: Arc<Shared>, api_key: http::auth::ApiKey) -> HttpState {
    let mut config = HttpConfig::new(api_key, shared.config.profile_defaults.clone());
    config.control_default_ttl = shared.config.control.ttl;
    config.body_limit = shared.config.http_body_limit;
    config.body_deadline = shared.config.http_body_deadline;
    let side = Arc::new(GmmpSide(shared.clone()));
    HttpState::new(
        shared.pool.clone(),
        config,
        side.clone(),
        side.clone(),
        side,
    )
}
