//! Wires the HTTP API ([`crate::http`]) to the GMMP side: live sessions from
//! the [`Registry`](crate::registry::Registry), metrics from
//! [`GmmpMetrics`](crate::state::GmmpMetrics), profile defaults and the API
//! key from the [`Config`](crate::Config).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::http::{self, ControlSink, GmmpMetrics, HttpConfig, HttpState, SessionView};
use crate::state::Shared;

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
    }
}

/// Until the control dispatcher exists, a queued control stays `QUEUED`
/// in the database (its true state): it is not sent over GMMP. This says
/// so in the log rather than pretending otherwise.
struct NoDispatcher;

impl ControlSink for NoDispatcher {
    fn control_queued(&self, gw_id: &str, control_id: i64) {
        tracing::warn!(
            gw_id,
            control_id,
            "control stored as QUEUED; this build does not yet send controls over GMMP"
        );
    }
}

/// The API's state over the server's shared state and `api_key`.
pub fn http_state(shared: Arc<Shared>, api_key: http::auth::ApiKey) -> HttpState {
    let defaults = shared.config.profile_defaults.clone();
    let side = Arc::new(GmmpSide(shared.clone()));
    HttpState::new(
        shared.pool.clone(),
        HttpConfig::new(api_key, defaults),
        side.clone(),
        Arc::new(NoDispatcher),
        side,
    )
}
