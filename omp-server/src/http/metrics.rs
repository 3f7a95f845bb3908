//! `/metrics`: HTTP request counters by method, route template and status,
//! followed by the GMMP side's, the delivery writer's ([`writer`]: with
//! its batch-size and commit-time histograms), the control
//! dispatcher's, the MQTT side's ([`mqtt`]) and retention's
//! ([`retention`]), in the Prometheus text format (0.0.4).
//!
//! Requests are counted in a `prometheus-client` `Family` keyed by
//! (method, route template, status). `Family::get_or_create` finds the
//! counter under the family's shared read lock and bumps an atomic, so
//! requests do not wait on each other; only a label set seen for the first
//! time takes the write lock, for one map insert. The label sets are
//! bounded — the routes of [`super::ROUTES`] plus `unmatched`, ten method
//! labels, the statuses the API answers — so once each kind of request has
//! been seen the hot path only reads. They are not created at start-up on
//! purpose: the exposition lists every label set the family holds, so
//! pre-creating them would put hundreds of zero series (routes × methods ×
//! statuses, most of them impossible) into every scrape, and which
//! statuses a route answers is not a list the code keeps.
//!
//! The other subsystems keep their own atomics; a scrape reads them
//! through one collector, in a fixed order.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, prometheus_text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::control::ControlMetrics;
use crate::events::EventMetrics;
use crate::state::Shared;
use crate::store::writer::WriterMetrics;

/// Route label of requests that matched no route (kept apart so that
/// scanners cannot grow the label set without bound).
const UNMATCHED: &str = "unmatched";

/// The labels of `omp_http_requests_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

/// The label of `omp_controls_ended_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndedLabels {
    state: &'static str,
}

/// Request counts by (method, route template, status).
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
}

impl HttpMetrics {
    fn record(&self, method: &'static str, route: String, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }
}

/// Middleware: counts every request once its response is known.
pub async fn count(State(state): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, |p| p.as_str())
        .to_owned();
    // Only the standard methods become labels; anything else is "OTHER".
    let method = match request.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "OTHER",
    };
    let response = next.run(request).await;
    state
        .http_metrics
        .record(method, route, response.status().as_u16());
    response
}

/// `GET /metrics`.
pub async fn render(State(state): State<Arc<Shared>>) -> impl IntoResponse {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Exposition(state)));
    let mut out = String::new();
    // Writing to a String cannot fail, and no value here fails to encode.
    if let Err(e) = prometheus_text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "cannot encode the metrics");
    }
    ([(CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], out)
}

/// Everything `/metrics` shows, read at scrape time.
struct Exposition(Arc<Shared>);

impl fmt::Debug for Exposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Exposition")
    }
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let state = &self.0;
        let requests = &state.http_metrics.requests;
        requests.encode(descriptor(
            &mut encoder,
            "omp_http_requests_total",
            "HTTP API requests by method, route and status.",
            MetricType::Counter,
        )?)?;
        encode_gmmp(state, &mut encoder)?;
        writer::encode_writer(
            state.writer.metrics(),
            state.writer.queued() as u64,
            &mut encoder,
        )?;
        encode_splits(state.writer.metrics(), &mut encoder)?;
        encode_events(
            state.events().metrics(),
            state.events().head(),
            &mut encoder,
        )?;
        encode_controls(state.control.metrics(), &mut encoder)?;
        encode_webhooks(state, &mut encoder)?;
        mqtt::encode_mqtt(state, &mut encoder)?;
        retention::encode_retention(&state.retention, &mut encoder)
    }
}

/// Starts a metric named as exposed: a counter's `_total` is the suffix
/// the encoder adds itself.
fn descriptor<'e>(
    encoder: &'e mut DescriptorEncoder,
    exposed: &'static str,
    help: &str,
    metric_type: MetricType,
) -> Result<MetricEncoder<'e>, fmt::Error> {
    let name = match metric_type {
        MetricType::Counter => exposed.strip_suffix("_total").unwrap_or(exposed),
        _ => exposed,
    };
    encoder.encode_descriptor(name, help, None, metric_type)
}

fn counters(
    encoder: &mut DescriptorEncoder,
    list: &[(&'static str, &str, &AtomicU64)],
) -> fmt::Result {
    for (name, help, value) in list {
        ConstCounter::new(value.load(Ordering::Relaxed)).encode(descriptor(
            encoder,
            name,
            help,
            MetricType::Counter,
        )?)?;
    }
    Ok(())
}

/// One counter per label set, under one descriptor.
fn family<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    help: &str,
    series: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut metric = descriptor(encoder, name, help, MetricType::Counter)?;
    for (labels, value) in series {
        ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    help: &str,
    value: u64,
) -> fmt::Result {
    ConstGauge::new(value).encode(descriptor(encoder, name, help, MetricType::Gauge)?)
}

/// The GMMP side's counters and gauges.
fn encode_gmmp(state: &Shared, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let m = &state.metrics;
    counters(
        encoder,
        &[
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
                "omp_gmmp_responses_refused_total",
                "Control responses ignored: not on a bound session, or not matching its auth ID, auth key, GW ID or domain.",
                &m.responses_refused,
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
            (
                "omp_deliveries_backoff_over_share_total",
                "Deliveries answered rc 0x0F because their gateway held more than its share of the writer queue.",
                &m.deliveries_over_share,
            ),
            (
                "omp_unauthenticated_shed_total",
                "Unauthenticated connections (GMMP, MQTT, MQTTS) closed to make room for a newer one over max_unauthenticated or max_unauthenticated_per_ip.",
                &m.unauthenticated_shed,
            ),
            (
                "omp_gmmp_registrations_throttled_total",
                "GW registrations answered rc 0x0F over registration_rate_per_ip.",
                &m.registrations_throttled,
            ),
            (
                "omp_gmmp_registrations_locked_out_total",
                "GW registrations refused rc 0x04: the gateway's registration is locked and the header lacked its current auth key.",
                &m.registrations_locked_out,
            ),
            (
                "omp_gmmp_sessions_taken_from_new_peer_total",
                "Live GW sessions replaced by a session of the same GW from another IP address.",
                &m.sessions_taken_from_new_peer,
            ),
        ],
    )?;
    gauge(
        encoder,
        "omp_gmmp_connections_open",
        "GMMP connections open now.",
        m.connections_open.load(Ordering::Relaxed),
    )?;
    gauge(
        encoder,
        "omp_gmmp_sessions",
        "GMMP sessions bound to a gateway.",
        state.registry.len() as u64,
    )
}

/// The writer's split-delivery counters.
fn encode_splits(m: &WriterMetrics, encoder: &mut DescriptorEncoder) -> fmt::Result {
    counters(
        encoder,
        &[
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
        ],
    )?;
    gauge(
        encoder,
        "omp_split_deliveries_open",
        "Split deliveries waiting for parts now.",
        m.splits_open.load(Ordering::Relaxed),
    )
}

/// The outbox's counters.
fn encode_events(m: &EventMetrics, head: i64, encoder: &mut DescriptorEncoder) -> fmt::Result {
    counters(
        encoder,
        &[
            (
                "omp_events_written_total",
                "Events committed to the outbox since the server started.",
                &m.written,
            ),
            (
                "omp_events_not_recorded_total",
                "Events dropped because too many were waiting for the writer.",
                &m.not_recorded,
            ),
            (
                "omp_export_rows_total",
                "Deliveries streamed by exports (GET …/deliveries/export).",
                &m.export_rows,
            ),
        ],
    )?;
    gauge(
        encoder,
        "omp_events_sse_clients",
        "Event streams (GET /api/v1/events, Server-Sent Events) open now.",
        m.sse_clients.load(Ordering::Relaxed),
    )?;
    gauge(
        encoder,
        "omp_events_last_id",
        "The newest committed event id.",
        u64::try_from(head).unwrap_or(0),
    )
}

/// Webhook totals (no per-webhook label: webhooks are the API's to
/// create, so their number is not bounded), and the largest backlog.
fn encode_webhooks(state: &Shared, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let m = state.webhooks.metrics();
    counters(
        encoder,
        &[
            (
                "omp_webhook_deliveries_ok_total",
                "Webhook POSTs answered 2xx.",
                &m.delivered,
            ),
            (
                "omp_webhook_deliveries_failed_total",
                "Webhook POSTs that failed (non-2xx, timeout, connection error); each is retried.",
                &m.failed,
            ),
            (
                "omp_webhooks_disabled_total",
                "Webhooks disabled by the server after failing for webhook_disable_after.",
                &m.disabled,
            ),
        ],
    )?;
    gauge(
        encoder,
        "omp_webhook_backlog_max",
        "The most events a running webhook has yet to pass (newest event id minus its cursor).",
        u64::try_from(state.webhooks.largest_backlog(state.events().head())).unwrap_or(0),
    )
}

/// The control dispatcher's counters.
fn encode_controls(m: &ControlMetrics, encoder: &mut DescriptorEncoder) -> fmt::Result {
    counters(
        encoder,
        &[
            (
                "omp_controls_sent_total",
                "Control requests (0x0D) handed to a gateway's session.",
                &m.sent,
            ),
            (
                "omp_controls_requeued_total",
                "Controls put back in the queue (session ended before the 0x0E, restart).",
                &m.requeued,
            ),
            (
                "omp_controls_unmatched_total",
                "Control responses, notifications and long sentences matching no control in flight.",
                &m.unmatched,
            ),
        ],
    )?;
    gauge(
        encoder,
        "omp_controls_in_flight",
        "Controls SENT or PROGRESS now.",
        m.in_flight.load(Ordering::Relaxed),
    )?;
    family(
        encoder,
        "omp_controls_ended_total",
        "Controls that reached a final state, by state.",
        [
            ("SUCCESS", &m.succeeded),
            ("FAILED", &m.failed),
            ("TIMEOUT", &m.timed_out),
            ("EXPIRED", &m.expired),
            ("CANCELLED", &m.cancelled),
        ]
        .map(|(state, counter)| (EndedLabels { state }, counter.load(Ordering::Relaxed))),
    )
}

mod mqtt;
mod retention;
#[cfg(test)]
mod tests;
mod writer;
