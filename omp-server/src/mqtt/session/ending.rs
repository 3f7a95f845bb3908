//! The end of an MQTT session: why it ended ([`Ending`]), the one log line
//! every closed connection gets (peer, client id, packet type, reason),
//! the count `/metrics` keeps by reason, and what a logged-in client
//! leaves behind — unbound, marked offline, its will stored and
//! published unless it sent DISCONNECT.

use std::sync::atomic::Ordering;

use mqtt_codec::PacketType;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::{Session, commit, publish_to_subscribers};
use crate::cluster::Kind;
use crate::escaped;
use crate::gmmp::log_budget::LogBudget;
use crate::mqtt::ingest::{self, Incoming};
use crate::mqtt::metrics::CloseReason;
use crate::mqtt::router::Message;
use crate::store::mqtt_messages::MessageKind;
use crate::store::mqtt_presence::Presence;
use crate::store::now_millis;

/// Info lines per second for connections closed before their login: any
/// peer can open and drop connections at will.
static CLOSED_BEFORE_LOGIN_LOG: LogBudget = LogBudget::new(10);

/// Why a session ends: the counted reason and the words of the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ending {
    /// What `/metrics` counts.
    pub(crate) reason: CloseReason,
    /// What the log says.
    pub(crate) detail: &'static str,
}

impl Ending {
    pub(crate) fn new(reason: CloseReason, detail: &'static str) -> Ending {
        Ending { reason, detail }
    }
}

/// The packet type a closing is logged with: that of the packet whose
/// first byte was read last (in progress, undecodable, or the last one
/// whole); `none` before any byte.
pub(crate) fn packet_label(first_byte: Option<u8>) -> &'static str {
    match first_byte {
        None => "none",
        Some(b) => PacketType::from_nibble(b >> 4).map_or("reserved", PacketType::name),
    }
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    /// Why a newer session closed this one: of the same client id here,
    /// or on another instance.
    pub(super) fn replaced(&self) -> Ending {
        let elsewhere = self.state.cluster.as_ref().is_some_and(|c| {
            self.machine
                .client_id()
                .is_some_and(|id| c.taken_by(Kind::Mqtt, id, self.id).is_some())
        });
        let detail = if elsewhere {
            "replaced by a newer connection of the same client id on another instance"
        } else {
            "replaced by a newer connection of the same client id"
        };
        Ending::new(CloseReason::Replaced, detail)
    }

    /// The end of the session: counted, logged, then unbind, offline, will.
    pub(super) async fn end(mut self, ending: Ending, first_byte: Option<u8>) {
        let _ = self.write.shutdown().await;
        let state = self.state.clone();
        let metrics = &state.mqtt.metrics;
        metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
        metrics.closed(ending.reason);
        let packet = packet_label(first_byte);
        let reason = ending.reason.label();
        let Some(client) = self.machine.client().cloned() else {
            let client_id = self.machine.client_id().map(escaped::shown);
            match CLOSED_BEFORE_LOGIN_LOG.take() {
                Some(left_out) => tracing::info!(peer = %self.peer, client_id, packet, reason,
                    detail = ending.detail, left_out, "MQTT connection closed before login"),
                None => tracing::debug!(peer = %self.peer, client_id, packet, reason,
                    detail = ending.detail, "MQTT connection closed before login"),
            }
            return;
        };
        state.mqtt.router.unbind(&client.client_id, self.id);
        if let Some(cluster) = &state.cluster {
            cluster.release(Kind::Mqtt, &client.client_id, self.id);
        }
        state
            .control
            .mqtt_disconnected(&client.client_id, self.id)
            .await;
        tracing::info!(peer = %self.peer, client_id = %escaped::text(&client.client_id), packet, reason,
            detail = ending.detail, "MQTT client disconnected");
        let for_the_flush = state.mqtt.note_presence(
            &state.writer,
            Presence {
                client_id: client.client_id.clone(),
                online: false,
                reason: Some(ending.detail.to_owned()),
                peer: self.peer.to_string(),
                connected_at: self.connected_at,
                last_seen: self.last_seen,
            },
        );
        if for_the_flush {
            state.events().wake_flush();
        }
        if let Some(will) = self.machine.take_will() {
            let row = ingest::row(Incoming {
                client_id: &client.client_id,
                kind: MessageKind::Will,
                topic: &will.topic,
                payload: &will.message,
                qos: will.qos,
                retain: will.retain,
                dup: false,
                packet_id: None,
                received_at: now_millis(),
            });
            if commit(&state, row).await.is_ok() {
                tracing::info!(
                    client_id = %escaped::text(&client.client_id),
                    topic = %escaped::text(&will.topic),
                    "MQTT will stored and published"
                );
                publish_to_subscribers(
                    &state,
                    Message {
                        topic: will.topic,
                        payload: will.message,
                        qos: will.qos,
                    },
                    will.retain,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closing_names_the_type_of_the_packet_read_last() {
        assert_eq!(packet_label(None), "none");
        assert_eq!(packet_label(Some(0x10)), "CONNECT");
        assert_eq!(packet_label(Some(0x35)), "PUBLISH");
        assert_eq!(packet_label(Some(0x80)), "SUBSCRIBE");
        assert_eq!(packet_label(Some(0xf0)), "reserved");
    }
}
