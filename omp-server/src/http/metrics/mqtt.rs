//! The MQTT side in `/metrics`: connections and sessions now, packets
//! received by type, messages stored by QoS, CONNECTs refused by CONNACK
//! code, connections closed by reason (`mqtt::metrics`). Every label set
//! is listed at every scrape, zeros included: the sets are fixed and
//! small, and a dashboard can rate a series from its first scrape.

use std::fmt;
use std::sync::atomic::Ordering;

use mqtt_codec::QoS;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};

use super::{counters, family, gauge};
use crate::mqtt::metrics::{CloseReason, REFUSAL_CODES, packet_types, refusal_label};
use crate::state::Shared;

/// The label of `omp_mqtt_packets_received_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PacketLabel {
    packet: &'static str,
}

/// The label of `omp_mqtt_messages_stored_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct QosLabel {
    qos: &'static str,
}

/// The label of `omp_mqtt_connects_refused_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

/// The label of `omp_mqtt_connections_closed_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// The MQTT side's counters and gauges.
pub(super) fn encode_mqtt(state: &Shared, encoder: &mut DescriptorEncoder) -> fmt::Result {
    let m = &state.mqtt.metrics;
    counters(
        encoder,
        &[
            (
                "omp_mqtt_connections_accepted_total",
                "MQTT connections accepted (MQTT and MQTTS ports).",
                &m.connections_accepted,
            ),
            (
                "omp_mqtt_malformed_packets_total",
                "Undecodable MQTT input, packets over mqtt_max_packet_size included (each closed its connection).",
                &m.malformed,
            ),
        ],
    )?;
    gauge(
        encoder,
        "omp_mqtt_connections_open",
        "MQTT connections open now, logged in or not (MQTTS ones once their TLS handshake is done).",
        m.connections_open.load(Ordering::Relaxed),
    )?;
    gauge(
        encoder,
        "omp_mqtt_sessions",
        "MQTT clients logged in now (CONNACK 0 sent).",
        state.mqtt.router.connected() as u64,
    )?;
    family(
        encoder,
        "omp_mqtt_packets_received_total",
        "Whole MQTT packets received, by type.",
        packet_types().map(|t| (PacketLabel { packet: t.name() }, m.packets_in(t))),
    )?;
    family(
        encoder,
        "omp_mqtt_messages_stored_total",
        "MQTT PUBLISH messages committed (acknowledged at QoS 1 and 2 only after), by the QoS they were published with.",
        [
            ("0", QoS::AtMostOnce),
            ("1", QoS::AtLeastOnce),
            ("2", QoS::ExactlyOnce),
        ]
        .map(|(qos, q)| (QosLabel { qos }, m.messages_stored(q))),
    )?;
    family(
        encoder,
        "omp_mqtt_connects_refused_total",
        "MQTT CONNECTs refused, by the CONNACK code sent.",
        REFUSAL_CODES.map(|code| {
            (
                CodeLabel {
                    code: refusal_label(code),
                },
                m.refusals(code),
            )
        }),
    )?;
    family(
        encoder,
        "omp_mqtt_connections_closed_total",
        "MQTT connections closed, by reason.",
        CloseReason::ALL.map(|r| (ReasonLabel { reason: r.label() }, m.closings(r))),
    )
}
