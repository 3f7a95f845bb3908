//! Counters of the MQTT side, for logs and `/metrics`
//! (`http::metrics` exposes them): connections, packets by type,
//! messages stored by QoS, CONNECTs refused by CONNACK code, connections
//! closed by reason.
//!
//! Every label set is fixed here, so a scrape always lists the same
//! series and no peer can grow them: packet types are MQTT's fourteen,
//! refusals its five CONNACK codes, closings the [`CloseReason`]s.

use std::sync::atomic::{AtomicU64, Ordering};

use mqtt_codec::{ConnectReturnCode, PacketType, QoS};

/// Why an MQTT connection closed, as `/metrics` counts it; the log line
/// of the closing says more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the TCP connection (or it broke).
    PeerClosed,
    /// The client sent DISCONNECT.
    Disconnect,
    /// Undecodable input, a packet over `mqtt_max_packet_size` included.
    Malformed,
    /// A packet the protocol does not allow where it came (a second
    /// CONNECT, a first packet that is not CONNECT, …).
    ProtocolViolation,
    /// The login was refused (a CONNACK other than 0 was sent).
    LoginRefused,
    /// No CONNECT within `first_frame_timeout` (a TLS handshake that did
    /// not finish within it included).
    ConnectTimeout,
    /// Silent past 1.5× the client's keep-alive.
    KeepAlive,
    /// A packet started and not finished within `frame_timeout`.
    PacketTimeout,
    /// A newer connection logged in with the same client id.
    Replaced,
    /// Closed, not yet logged in, to make room under the
    /// unauthenticated caps.
    Shed,
    /// The server is shutting down.
    Shutdown,
    /// Writing to the client failed.
    WriteFailed,
    /// A message could not be committed (not acknowledged).
    NotStored,
    /// The TLS handshake of the MQTTS port failed.
    TlsHandshake,
}

impl CloseReason {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [CloseReason; 14] = [
        CloseReason::PeerClosed,
        CloseReason::Disconnect,
        CloseReason::Malformed,
        CloseReason::ProtocolViolation,
        CloseReason::LoginRefused,
        CloseReason::ConnectTimeout,
        CloseReason::KeepAlive,
        CloseReason::PacketTimeout,
        CloseReason::Replaced,
        CloseReason::Shed,
        CloseReason::Shutdown,
        CloseReason::WriteFailed,
        CloseReason::NotStored,
        CloseReason::TlsHandshake,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Disconnect => "disconnect",
            CloseReason::Malformed => "malformed",
            CloseReason::ProtocolViolation => "protocol_violation",
            CloseReason::LoginRefused => "login_refused",
            CloseReason::ConnectTimeout => "connect_timeout",
            CloseReason::KeepAlive => "keep_alive",
            CloseReason::PacketTimeout => "packet_timeout",
            CloseReason::Replaced => "replaced",
            CloseReason::Shed => "shed",
            CloseReason::Shutdown => "shutdown",
            CloseReason::WriteFailed => "write_failed",
            CloseReason::NotStored => "not_stored",
            CloseReason::TlsHandshake => "tls_handshake",
        }
    }

    fn index(self) -> usize {
        CloseReason::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or(0)
    }
}

/// The refusal CONNACK codes, in the order `/metrics` lists them.
pub const REFUSAL_CODES: [ConnectReturnCode; 5] = [
    ConnectReturnCode::UnacceptableProtocolVersion,
    ConnectReturnCode::IdentifierRejected,
    ConnectReturnCode::ServerUnavailable,
    ConnectReturnCode::BadUserNameOrPassword,
    ConnectReturnCode::NotAuthorized,
];

/// The `code` label of a refusal.
pub fn refusal_label(code: ConnectReturnCode) -> &'static str {
    match code {
        ConnectReturnCode::Accepted => "accepted",
        ConnectReturnCode::UnacceptableProtocolVersion => "unacceptable_protocol_version",
        ConnectReturnCode::IdentifierRejected => "identifier_rejected",
        ConnectReturnCode::ServerUnavailable => "server_unavailable",
        ConnectReturnCode::BadUserNameOrPassword => "bad_username_or_password",
        ConnectReturnCode::NotAuthorized => "not_authorized",
    }
}

/// The packet types a client may send or the server answers, 1 to 14,
/// in the order `/metrics` lists them.
pub fn packet_types() -> impl Iterator<Item = PacketType> {
    (1..=14).filter_map(PacketType::from_nibble)
}

/// Counters of the MQTT side.
#[derive(Debug, Default)]
pub struct MqttMetrics {
    /// Connections accepted (MQTT and MQTTS ports).
    pub connections_accepted: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Undecodable input (each closed its connection).
    pub malformed: AtomicU64,
    /// Whole packets received, by type (index: the type's number).
    packets_in: [AtomicU64; 16],
    /// CONNECTs refused, by CONNACK code (index: the code).
    refused: [AtomicU64; 6],
    /// Messages committed, by QoS (index: the QoS).
    stored: [AtomicU64; 3],
    /// Connections closed, by [`CloseReason`].
    closed: [AtomicU64; CloseReason::ALL.len()],
}

impl MqttMetrics {
    /// A whole packet of type `t` was received.
    pub fn packet_in(&self, t: PacketType) {
        self.packets_in[t as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Packets of type `t` received.
    pub fn packets_in(&self, t: PacketType) -> u64 {
        self.packets_in[t as usize].load(Ordering::Relaxed)
    }

    /// A CONNECT was refused with `code`.
    pub fn refused(&self, code: ConnectReturnCode) {
        self.refused[code as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// CONNECTs refused with `code`.
    pub fn refusals(&self, code: ConnectReturnCode) -> u64 {
        self.refused[code as usize].load(Ordering::Relaxed)
    }

    /// A message published at `qos` was committed.
    pub fn stored(&self, qos: QoS) {
        self.stored[qos as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Messages published at `qos` committed.
    pub fn messages_stored(&self, qos: QoS) -> u64 {
        self.stored[qos as usize].load(Ordering::Relaxed)
    }

    /// A connection closed for `reason`.
    pub fn closed(&self, reason: CloseReason) {
        self.closed[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections closed for `reason`.
    pub fn closings(&self, reason: CloseReason) -> u64 {
        self.closed[reason.index()].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_label_set_counts_apart() {
        let m = MqttMetrics::default();
        m.packet_in(PacketType::Publish);
        m.packet_in(PacketType::Publish);
        m.packet_in(PacketType::Disconnect);
        m.refused(ConnectReturnCode::NotAuthorized);
        m.stored(QoS::ExactlyOnce);
        m.closed(CloseReason::TlsHandshake);
        m.closed(CloseReason::PeerClosed);
        assert_eq!(m.packets_in(PacketType::Publish), 2);
        assert_eq!(m.packets_in(PacketType::Disconnect), 1);
        assert_eq!(m.packets_in(PacketType::Connect), 0);
        assert_eq!(m.refusals(ConnectReturnCode::NotAuthorized), 1);
        assert_eq!(m.refusals(ConnectReturnCode::IdentifierRejected), 0);
        assert_eq!(m.messages_stored(QoS::ExactlyOnce), 1);
        assert_eq!(m.messages_stored(QoS::AtMostOnce), 0);
        assert_eq!(m.closings(CloseReason::TlsHandshake), 1);
        assert_eq!(m.closings(CloseReason::PeerClosed), 1);
        assert_eq!(m.closings(CloseReason::Shed), 0);
        assert_eq!(packet_types().count(), 14);
    }

    #[test]
    fn labels_are_distinct() {
        let mut labels: Vec<&str> = CloseReason::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), CloseReason::ALL.len());
    }
}
