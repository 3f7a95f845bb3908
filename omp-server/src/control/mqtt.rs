//! Commands to MQTT devices through the control queue: what the
//! dispatcher hands an MQTT session, and what the session tells it back.
//!
//! Rules (the dispatcher carries them out, `dispatcher/mqtt.rs`):
//! - A command is handed to the client's live session when the client is
//!   connected (after its CONNACK) and has fewer than
//!   `control_max_in_flight` commands in flight; the rest wait in creation
//!   order, and an offline client's wait for its next CONNECT.
//! - Topic `$creq` is a OneNET command: it is published on `$creq/<uuid>`
//!   (a fresh uuid per send, never RETAIN) without any subscription, and
//!   ends SUCCESS with the payload of the device's `$crsp/<uuid>`.
//! - Any other topic is published only once the client has subscribed to
//!   a filter matching it; until then the command stays QUEUED (a module
//!   subscribes after its CONNACK, so a command queued while it was
//!   offline would otherwise fail at every reconnect) and it EXPIRES when
//!   its TTL passes first. It is published at the lower of its own QoS and
//!   the QoS granted to the client's subscription (the highest among the
//!   filters that match, as for any routed message: MQTT 3.1.1 §3.8.4),
//!   and ends SUCCESS when written at QoS 0, on the PUBACK at QoS 1, on
//!   the PUBCOMP at QoS 2 — or, with a `reply_topic`, on the device's
//!   publish there, whose payload is its result.
//! - SENT is recorded once the PUBLISH is written to the connection. A
//!   SENT command not finished within `control_completion_timeout` ends
//!   TIMEOUT; one whose session ends first goes back to QUEUED and is sent
//!   again on the next session (so a device may get it twice); after a
//!   restart every SENT command goes back to QUEUED.

use std::sync::Arc;

use bytes::Bytes;
use mqtt_codec::QoS;

use crate::mqtt::inbox::Inbox;

/// Commands waiting in one session's inbox ([`Inbox`]), at most; beyond,
/// they stay QUEUED for the next push.
pub const COMMANDS_CAPACITY: usize = 16;

/// The topic of a OneNET command request.
pub const ONENET_REQUEST: &str = "$creq";
/// The topic prefix of a OneNET command response.
pub const ONENET_RESPONSE: &str = "$crsp/";

/// What ends a command once it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Awaits {
    /// Nothing more: written at QoS 0.
    Written,
    /// The PUBACK (QoS 1) or PUBCOMP (QoS 2) of its packet.
    Ack,
    /// The device's publish on this topic; its payload is the result.
    Reply(String),
}

/// A command handed to a session to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttCommand {
    /// The control's id.
    pub control_id: i64,
    /// The topic to publish on.
    pub topic: String,
    /// The payload.
    pub payload: Bytes,
    /// The QoS to publish with.
    pub qos: QoS,
    /// What ends it.
    pub awaits: Awaits,
}

/// A client's live session, as the dispatcher needs it.
#[derive(Debug, Clone)]
pub struct MqttLive {
    /// The session's id.
    pub session: u64,
    /// Where the session takes commands.
    pub commands: Arc<Inbox>,
    /// The session's subscription filters, each with its granted QoS.
    pub filters: Vec<(String, QoS)>,
}

/// A fresh OneNET command uuid (random, version 4 layout).
pub fn command_uuid() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Unique per process run is all the topic needs; the clock gives that.
        b[..16].copy_from_slice(&crate::store::now_millis().to_be_bytes().repeat(2));
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_uuids_are_version_4_and_differ() {
        let a = command_uuid();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, command_uuid());
    }
}
