//! The exposition, byte for byte: what scrapers and dashboards read.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::response::IntoResponse;
use mqtt_codec::{ConnectReturnCode, PacketType, QoS};
use tokio_util::sync::CancellationToken;

use super::render;
use crate::config::Config;
use crate::control::ControlHandle;
use crate::directory::Directory;
use crate::http::ApiKey;
use crate::mqtt::CloseReason;
use crate::state::Shared;
use crate::store;

async fn shared(dir: &tempfile::TempDir, stop: &CancellationToken) -> Arc<Shared> {
    let mut config = Config::defaults();
    config.data_dir = dir.path().to_owned();
    let path = config.database_path();
    let pool = store::open(&path).await.unwrap();
    let (writer, _) = store::writer::spawn(
        &pool.clone().into(),
        config.writer_queue_capacity,
        config.writer_batch_max,
        config.split_limits(),
        stop.clone(),
    )
    .await
    .unwrap();
    let (control, _inbox) = ControlHandle::channel();
    Arc::new(Shared::new(
        config,
        pool.into(),
        writer,
        Directory::load(vec![], vec![]),
        control,
        ApiKey::new("metrics-test-key-0123456789abcdef").unwrap(),
    ))
}

/// Every metric's HELP, TYPE and sample lines as they have always been
/// exposed (names with `_total`, HELP text as written, this order).
const EXPOSITION: &str = "\
# HELP omp_http_requests_total HTTP API requests by method, route and status.
# TYPE omp_http_requests_total counter
omp_http_requests_total{method=\"GET\",route=\"/api/v1/gateways/{gw_id}\",status=\"404\"} 2
# HELP omp_gmmp_connections_accepted_total GMMP connections accepted.
# TYPE omp_gmmp_connections_accepted_total counter
omp_gmmp_connections_accepted_total 0
# HELP omp_gmmp_frames_received_total GMMP frames received.
# TYPE omp_gmmp_frames_received_total counter
omp_gmmp_frames_received_total 3
# HELP omp_gmmp_malformed_frames_total Malformed frames (each closed its connection).
# TYPE omp_gmmp_malformed_frames_total counter
omp_gmmp_malformed_frames_total 0
# HELP omp_gmmp_auth_refused_total Requests refused for authentication.
# TYPE omp_gmmp_auth_refused_total counter
omp_gmmp_auth_refused_total 0
# HELP omp_gmmp_responses_refused_total Control responses ignored: not on a bound session, or not matching its auth ID, auth key, GW ID or domain.
# TYPE omp_gmmp_responses_refused_total counter
omp_gmmp_responses_refused_total 0
# HELP omp_deliveries_stored_total Deliveries committed and answered STATUS_OK.
# TYPE omp_deliveries_stored_total counter
omp_deliveries_stored_total 0
# HELP omp_deliveries_already_stored_total Keyed deliveries sent again after they were stored (answered STATUS_OK, not stored twice).
# TYPE omp_deliveries_already_stored_total counter
omp_deliveries_already_stored_total 0
# HELP omp_deliveries_backoff_total Deliveries answered rc 0x0F (writer saturated).
# TYPE omp_deliveries_backoff_total counter
omp_deliveries_backoff_total 0
# HELP omp_deliveries_backoff_over_share_total Deliveries answered rc 0x0F because their gateway held more than its share of the writer queue.
# TYPE omp_deliveries_backoff_over_share_total counter
omp_deliveries_backoff_over_share_total 0
# HELP omp_unauthenticated_shed_total Unauthenticated connections (GMMP, MQTT, MQTTS) closed to make room for a newer one over max_unauthenticated or max_unauthenticated_per_ip.
# TYPE omp_unauthenticated_shed_total counter
omp_unauthenticated_shed_total 0
# HELP omp_gmmp_registrations_throttled_total GW registrations answered rc 0x0F over registration_rate_per_ip.
# TYPE omp_gmmp_registrations_throttled_total counter
omp_gmmp_registrations_throttled_total 0
# HELP omp_gmmp_registrations_locked_out_total GW registrations refused rc 0x04: the gateway's registration is locked and the header lacked its current auth key.
# TYPE omp_gmmp_registrations_locked_out_total counter
omp_gmmp_registrations_locked_out_total 0
# HELP omp_gmmp_sessions_taken_from_new_peer_total Live GW sessions replaced by a session of the same GW from another IP address.
# TYPE omp_gmmp_sessions_taken_from_new_peer_total counter
omp_gmmp_sessions_taken_from_new_peer_total 0
# HELP omp_gmmp_connections_open GMMP connections open now.
# TYPE omp_gmmp_connections_open gauge
omp_gmmp_connections_open 1
# HELP omp_gmmp_sessions GMMP sessions bound to a gateway.
# TYPE omp_gmmp_sessions gauge
omp_gmmp_sessions 0
# HELP omp_writer_batches_total Transactions the writer committed.
# TYPE omp_writer_batches_total counter
omp_writer_batches_total 0
# HELP omp_writer_rows_total Deliveries the writer committed (split deliveries once, made whole).
# TYPE omp_writer_rows_total counter
omp_writer_rows_total 0
# HELP omp_writer_failed_rows_total Rows whose transaction failed (each answered with an error, none acknowledged).
# TYPE omp_writer_failed_rows_total counter
omp_writer_failed_rows_total 0
# HELP omp_writer_refused_full_total Submissions refused because the writer's queue was full.
# TYPE omp_writer_refused_full_total counter
omp_writer_refused_full_total 0
# HELP omp_writer_queue Jobs waiting for the writer now.
# TYPE omp_writer_queue gauge
omp_writer_queue 0
# HELP omp_writer_batch_rows Rows per committed transaction (deliveries, whole split deliveries, MQTT messages).
# TYPE omp_writer_batch_rows histogram
omp_writer_batch_rows_bucket{le=\"1\"} 0
omp_writer_batch_rows_bucket{le=\"2\"} 0
omp_writer_batch_rows_bucket{le=\"4\"} 0
omp_writer_batch_rows_bucket{le=\"8\"} 0
omp_writer_batch_rows_bucket{le=\"16\"} 0
omp_writer_batch_rows_bucket{le=\"32\"} 0
omp_writer_batch_rows_bucket{le=\"64\"} 0
omp_writer_batch_rows_bucket{le=\"128\"} 0
omp_writer_batch_rows_bucket{le=\"256\"} 0
omp_writer_batch_rows_bucket{le=\"512\"} 0
omp_writer_batch_rows_bucket{le=\"1024\"} 0
omp_writer_batch_rows_bucket{le=\"2048\"} 0
omp_writer_batch_rows_bucket{le=\"4096\"} 0
omp_writer_batch_rows_bucket{le=\"+Inf\"} 0
omp_writer_batch_rows_sum 0.0
omp_writer_batch_rows_count 0
# HELP omp_writer_batch_seconds BEGIN to COMMIT of each transaction the writer committed, seconds.
# TYPE omp_writer_batch_seconds histogram
omp_writer_batch_seconds_bucket{le=\"0.0001\"} 0
omp_writer_batch_seconds_bucket{le=\"0.0002\"} 0
omp_writer_batch_seconds_bucket{le=\"0.0004\"} 0
omp_writer_batch_seconds_bucket{le=\"0.0008\"} 0
omp_writer_batch_seconds_bucket{le=\"0.0016\"} 0
omp_writer_batch_seconds_bucket{le=\"0.0032\"} 0
omp_writer_batch_seconds_bucket{le=\"0.0064\"} 0
omp_writer_batch_seconds_bucket{le=\"0.0128\"} 0
omp_writer_batch_seconds_bucket{le=\"0.0256\"} 0
omp_writer_batch_seconds_bucket{le=\"0.0512\"} 0
omp_writer_batch_seconds_bucket{le=\"0.1024\"} 0
omp_writer_batch_seconds_bucket{le=\"0.2048\"} 0
omp_writer_batch_seconds_bucket{le=\"0.4096\"} 0
omp_writer_batch_seconds_bucket{le=\"0.8192\"} 0
omp_writer_batch_seconds_bucket{le=\"1.6384\"} 0
omp_writer_batch_seconds_bucket{le=\"3.2768\"} 0
omp_writer_batch_seconds_bucket{le=\"+Inf\"} 0
omp_writer_batch_seconds_sum 0.0
omp_writer_batch_seconds_count 0
# HELP omp_split_parts_stored_total Parts of split deliveries committed and answered STATUS_OK.
# TYPE omp_split_parts_stored_total counter
omp_split_parts_stored_total 0
# HELP omp_split_parts_repeated_total Parts of split deliveries sent again (answered STATUS_OK, held already).
# TYPE omp_split_parts_repeated_total counter
omp_split_parts_repeated_total 0
# HELP omp_split_parts_refused_total Parts of split deliveries no split expects or that contradict one (answered rc 0x03/0x0A).
# TYPE omp_split_parts_refused_total counter
omp_split_parts_refused_total 0
# HELP omp_split_deliveries_completed_total Split deliveries made whole and stored as one delivery.
# TYPE omp_split_deliveries_completed_total counter
omp_split_deliveries_completed_total 0
# HELP omp_split_deliveries_abandoned_total Split deliveries given up before their last part (parts kept as an incomplete delivery).
# TYPE omp_split_deliveries_abandoned_total counter
omp_split_deliveries_abandoned_total 0
# HELP omp_split_deliveries_open Split deliveries waiting for parts now.
# TYPE omp_split_deliveries_open gauge
omp_split_deliveries_open 0
# HELP omp_events_written_total Events committed to the outbox since the server started.
# TYPE omp_events_written_total counter
omp_events_written_total 0
# HELP omp_events_not_recorded_total Events dropped because too many were waiting for the writer.
# TYPE omp_events_not_recorded_total counter
omp_events_not_recorded_total 0
# HELP omp_export_rows_total Deliveries streamed by exports (GET …/deliveries/export).
# TYPE omp_export_rows_total counter
omp_export_rows_total 0
# HELP omp_events_sse_clients Event streams (GET /api/v1/events, Server-Sent Events) open now.
# TYPE omp_events_sse_clients gauge
omp_events_sse_clients 0
# HELP omp_events_last_id The newest committed event id.
# TYPE omp_events_last_id gauge
omp_events_last_id 0
# HELP omp_controls_sent_total Control requests (0x0D) handed to a gateway's session.
# TYPE omp_controls_sent_total counter
omp_controls_sent_total 0
# HELP omp_controls_requeued_total Controls put back in the queue (session ended before the 0x0E, restart).
# TYPE omp_controls_requeued_total counter
omp_controls_requeued_total 0
# HELP omp_controls_unmatched_total Control responses, notifications and long sentences matching no control in flight.
# TYPE omp_controls_unmatched_total counter
omp_controls_unmatched_total 0
# HELP omp_controls_in_flight Controls SENT or PROGRESS now.
# TYPE omp_controls_in_flight gauge
omp_controls_in_flight 0
# HELP omp_controls_ended_total Controls that reached a final state, by state.
# TYPE omp_controls_ended_total counter
omp_controls_ended_total{state=\"SUCCESS\"} 0
omp_controls_ended_total{state=\"FAILED\"} 0
omp_controls_ended_total{state=\"TIMEOUT\"} 1
omp_controls_ended_total{state=\"EXPIRED\"} 0
omp_controls_ended_total{state=\"CANCELLED\"} 0
# HELP omp_webhook_deliveries_ok_total Webhook POSTs answered 2xx.
# TYPE omp_webhook_deliveries_ok_total counter
omp_webhook_deliveries_ok_total 0
# HELP omp_webhook_deliveries_failed_total Webhook POSTs that failed (non-2xx, timeout, connection error); each is retried.
# TYPE omp_webhook_deliveries_failed_total counter
omp_webhook_deliveries_failed_total 0
# HELP omp_webhooks_disabled_total Webhooks disabled by the server after failing for webhook_disable_after.
# TYPE omp_webhooks_disabled_total counter
omp_webhooks_disabled_total 0
# HELP omp_webhook_backlog_max The most events a running webhook has yet to pass (newest event id minus its cursor).
# TYPE omp_webhook_backlog_max gauge
omp_webhook_backlog_max 0
# HELP omp_mqtt_connections_accepted_total MQTT connections accepted (MQTT and MQTTS ports).
# TYPE omp_mqtt_connections_accepted_total counter
omp_mqtt_connections_accepted_total 4
# HELP omp_mqtt_malformed_packets_total Undecodable MQTT input, packets over mqtt_max_packet_size included (each closed its connection).
# TYPE omp_mqtt_malformed_packets_total counter
omp_mqtt_malformed_packets_total 1
# HELP omp_mqtt_connections_open MQTT connections open now, logged in or not (MQTTS ones once their TLS handshake is done).
# TYPE omp_mqtt_connections_open gauge
omp_mqtt_connections_open 1
# HELP omp_mqtt_sessions MQTT clients logged in now (CONNACK 0 sent).
# TYPE omp_mqtt_sessions gauge
omp_mqtt_sessions 0
# HELP omp_mqtt_packets_received_total Whole MQTT packets received, by type.
# TYPE omp_mqtt_packets_received_total counter
omp_mqtt_packets_received_total{packet=\"CONNECT\"} 1
omp_mqtt_packets_received_total{packet=\"CONNACK\"} 0
omp_mqtt_packets_received_total{packet=\"PUBLISH\"} 2
omp_mqtt_packets_received_total{packet=\"PUBACK\"} 0
omp_mqtt_packets_received_total{packet=\"PUBREC\"} 0
omp_mqtt_packets_received_total{packet=\"PUBREL\"} 0
omp_mqtt_packets_received_total{packet=\"PUBCOMP\"} 0
omp_mqtt_packets_received_total{packet=\"SUBSCRIBE\"} 0
omp_mqtt_packets_received_total{packet=\"SUBACK\"} 0
omp_mqtt_packets_received_total{packet=\"UNSUBSCRIBE\"} 0
omp_mqtt_packets_received_total{packet=\"UNSUBACK\"} 0
omp_mqtt_packets_received_total{packet=\"PINGREQ\"} 0
omp_mqtt_packets_received_total{packet=\"PINGRESP\"} 0
omp_mqtt_packets_received_total{packet=\"DISCONNECT\"} 0
# HELP omp_mqtt_messages_stored_total MQTT PUBLISH messages committed (acknowledged at QoS 1 and 2 only after), by the QoS they were published with.
# TYPE omp_mqtt_messages_stored_total counter
omp_mqtt_messages_stored_total{qos=\"0\"} 0
omp_mqtt_messages_stored_total{qos=\"1\"} 2
omp_mqtt_messages_stored_total{qos=\"2\"} 0
# HELP omp_mqtt_connects_refused_total MQTT CONNECTs refused, by the CONNACK code sent.
# TYPE omp_mqtt_connects_refused_total counter
omp_mqtt_connects_refused_total{code=\"unacceptable_protocol_version\"} 0
omp_mqtt_connects_refused_total{code=\"identifier_rejected\"} 0
omp_mqtt_connects_refused_total{code=\"server_unavailable\"} 0
omp_mqtt_connects_refused_total{code=\"bad_username_or_password\"} 1
omp_mqtt_connects_refused_total{code=\"not_authorized\"} 0
# HELP omp_mqtt_connections_closed_total MQTT connections closed, by reason.
# TYPE omp_mqtt_connections_closed_total counter
omp_mqtt_connections_closed_total{reason=\"peer_closed\"} 0
omp_mqtt_connections_closed_total{reason=\"disconnect\"} 0
omp_mqtt_connections_closed_total{reason=\"malformed\"} 1
omp_mqtt_connections_closed_total{reason=\"protocol_violation\"} 0
omp_mqtt_connections_closed_total{reason=\"login_refused\"} 1
omp_mqtt_connections_closed_total{reason=\"connect_timeout\"} 0
omp_mqtt_connections_closed_total{reason=\"keep_alive\"} 1
omp_mqtt_connections_closed_total{reason=\"packet_timeout\"} 0
omp_mqtt_connections_closed_total{reason=\"replaced\"} 0
omp_mqtt_connections_closed_total{reason=\"shed\"} 0
omp_mqtt_connections_closed_total{reason=\"shutdown\"} 0
omp_mqtt_connections_closed_total{reason=\"write_failed\"} 0
omp_mqtt_connections_closed_total{reason=\"not_stored\"} 0
omp_mqtt_connections_closed_total{reason=\"tls_handshake\"} 0
# HELP omp_retention_removed_rows_total Rows removed by retention, by kind (deliveries counts abandoned split deliveries too).
# TYPE omp_retention_removed_rows_total counter
omp_retention_removed_rows_total{kind=\"deliveries\"} 0
omp_retention_removed_rows_total{kind=\"mqtt_messages\"} 0
omp_retention_removed_rows_total{kind=\"events\"} 0
omp_retention_removed_rows_total{kind=\"controls\"} 0
# HELP omp_retention_batches_total Retention batches that removed rows (each one transaction of the writer).
# TYPE omp_retention_batches_total counter
omp_retention_batches_total 0
# HELP omp_retention_passes_total Retention passes finished.
# TYPE omp_retention_passes_total counter
omp_retention_passes_total 0
# HELP omp_retention_last_pass_seconds Duration of the last finished retention pass (0 before the first).
# TYPE omp_retention_last_pass_seconds gauge
omp_retention_last_pass_seconds 0.0
";

#[tokio::test]
async fn the_exposition_keeps_every_name_type_label_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    let state = shared(&dir, &stop).await;
    for _ in 0..2 {
        state
            .http_metrics
            .record("GET", "/api/v1/gateways/{gw_id}".into(), 404);
    }
    state.metrics.frames_in.fetch_add(3, Ordering::Relaxed);
    state
        .metrics
        .connections_open
        .fetch_add(1, Ordering::Relaxed);
    state
        .control
        .metrics()
        .timed_out
        .fetch_add(1, Ordering::Relaxed);
    let mqtt = &state.mqtt.metrics;
    mqtt.connections_accepted.fetch_add(4, Ordering::Relaxed);
    mqtt.connections_open.fetch_add(1, Ordering::Relaxed);
    mqtt.malformed.fetch_add(1, Ordering::Relaxed);
    mqtt.packet_in(PacketType::Connect);
    mqtt.packet_in(PacketType::Publish);
    mqtt.packet_in(PacketType::Publish);
    mqtt.stored(QoS::AtLeastOnce);
    mqtt.stored(QoS::AtLeastOnce);
    mqtt.refused(ConnectReturnCode::BadUserNameOrPassword);
    mqtt.closed(CloseReason::Malformed);
    mqtt.closed(CloseReason::LoginRefused);
    mqtt.closed(CloseReason::KeepAlive);
    let response = render(State(state)).await.into_response();
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(std::str::from_utf8(&body).unwrap(), EXPOSITION);
    stop.cancel();
}

#[tokio::test]
async fn a_route_with_quotes_is_escaped_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    let state = shared(&dir, &stop).await;
    state.http_metrics.record("OTHER", r#"/a"b\c"#.into(), 200);
    let response = render(State(state)).await.into_response();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = std::str::from_utf8(&body).unwrap();
    assert!(
        text.contains(r#"omp_http_requests_total{method="OTHER",route="/a\"b\\c",status="200"} 1"#),
        "{text}"
    );
    stop.cancel();
}
