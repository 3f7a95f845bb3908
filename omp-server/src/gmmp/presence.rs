//! The events of a gateway's presence: `gateway_online` when it gets a
//! live session (none before), `gateway_offline` when its live session
//! ends (no newer one took its place), each with why. A session replaced
//! by a newer one of the same gateway is neither: the gateway stayed
//! online — unless it came from another IP address: `gateway_taken_over`.
//! Noted for the writer's next batch (`Shared::note_event`).

use std::net::SocketAddr;

use crate::gmmp::session::machine::Expiry;
use crate::store::events::{self, NewEvent};
use crate::store::now_millis;

/// Why a gateway came online.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Online {
    /// Its registration (0x01) was accepted on this connection.
    Registered,
    /// Its first authenticated request on this connection.
    Connected,
}

/// Why a gateway went offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offline {
    /// Silent past its heartbeat period × `heartbeat_grace`.
    HeartbeatLost,
    /// The connection ended (peer closed, read error, malformed frame,
    /// server stopping).
    ConnectionClosed,
    /// It deregistered (0x03), or its approval was removed.
    Deregistered,
}

impl Online {
    fn as_str(self) -> &'static str {
        match self {
            Online::Registered => "registered",
            Online::Connected => "connected",
        }
    }
}

impl Offline {
    /// The reason of a session that ended with `detail` (its log reason).
    pub fn of_session_end(detail: &str) -> Offline {
        if detail == Expiry::Silent(Default::default()).reason() {
            Offline::HeartbeatLost
        } else {
            Offline::ConnectionClosed
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Offline::HeartbeatLost => "heartbeat_lost",
            Offline::ConnectionClosed => "connection_closed",
            Offline::Deregistered => "deregistered",
        }
    }
}

/// The `gateway_online` event of `gw_id`.
pub fn online(gw_id: &str, peer: SocketAddr, why: Online) -> NewEvent {
    NewEvent {
        kind: events::GATEWAY_ONLINE,
        gw_id: Some(gw_id.to_owned()),
        device_id: None,
        at: now_millis(),
        data: serde_json::json!({ "peer": peer.to_string(), "reason": why.as_str() }),
    }
}

/// The `gateway_offline` event of `gw_id`; `detail` says more than the
/// reason (the connection's end as logged).
pub fn offline(gw_id: &str, peer: SocketAddr, why: Offline, detail: &str) -> NewEvent {
    NewEvent {
        kind: events::GATEWAY_OFFLINE,
        gw_id: Some(gw_id.to_owned()),
        device_id: None,
        at: now_millis(),
        data: serde_json::json!({
            "peer": peer.to_string(),
            "reason": why.as_str(),
            "detail": detail,
        }),
    }
}

/// The `gateway_taken_over` event of `gw_id`: its live session from
/// `old_peer` replaced by one from `new_peer`, another IP address.
pub fn taken_over(
    gw_id: &str,
    old_peer: SocketAddr,
    new_peer: SocketAddr,
    registration_lock: bool,
) -> NewEvent {
    NewEvent {
        kind: events::GATEWAY_TAKEN_OVER,
        gw_id: Some(gw_id.to_owned()),
        device_id: None,
        at: now_millis(),
        data: serde_json::json!({
            "old_peer": old_peer.to_string(),
            "new_peer": new_peer.to_string(),
            "registration_lock": registration_lock,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_session_lost_its_heartbeat_any_other_end_closed_the_connection() {
        assert_eq!(Offline::of_session_end("silent"), Offline::HeartbeatLost);
        assert_eq!(
            Offline::of_session_end("peer closed"),
            Offline::ConnectionClosed
        );
        let e = offline(
            "SC10010001",
            "127.0.0.1:5".parse().unwrap(),
            Offline::HeartbeatLost,
            "silent",
        );
        assert_eq!(e.data["reason"], "heartbeat_lost");
        assert_eq!(e.gw_id.as_deref(), Some("SC10010001"));
    }
}
