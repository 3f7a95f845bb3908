//! One MQTT client of the flood: connects, publishes QoS 1 messages one
//! at a time and waits for each PUBACK; a message whose PUBACK did not
//! come (the server was killed) is sent again after the reconnect, with
//! DUP set, until it is acknowledged. What each message became is in
//! its [`ClientLedger`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use mqtt_codec::{MqttCodec, Packet, Publish, QoS};
use test_support::mqtt_client;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// How long the client waits for CONNACK or a PUBACK.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause before a reconnect.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// The payload of message `seq` of client `index`: what the checker
/// looks for in `mqtt_messages`.
pub fn payload(index: u32, seq: u64) -> String {
    format!("flood {index} {seq}")
}

/// The client id of client `index`.
pub fn client_id(index: u32) -> String {
    format!("flood-{index}")
}

/// What one message became.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageRecord {
    /// Times it was published.
    pub attempts: u32,
    /// A PUBACK came for it.
    pub acked: bool,
}

/// What one client did, message by message (index = seq).
#[derive(Debug, Clone, Default)]
pub struct ClientLedger {
    /// The client's index.
    pub index: u32,
    /// Its messages.
    pub messages: Vec<MessageRecord>,
    /// Sessions it opened (CONNACK accepted).
    pub sessions: u64,
    /// The last error that ended a session.
    pub last_error: Option<String>,
}

/// Counters of the whole flood.
#[derive(Debug, Default)]
pub struct FloodCounters {
    /// PUBACKs received.
    pub acked: AtomicU64,
    /// Publishes sent whose PUBACK never came.
    pub unanswered: AtomicU64,
}

/// Runs client `index` against `target` until `produce` is cancelled and
/// its last message is acknowledged, or `abort`.
pub async fn run(
    index: u32,
    target: SocketAddr,
    produce: CancellationToken,
    abort: CancellationToken,
    counters: Arc<FloodCounters>,
) -> ClientLedger {
    let mut ledger = ClientLedger {
        index,
        ..ClientLedger::default()
    };
    // The message not yet acknowledged, if any: sent again first.
    let mut pending: Option<u64> = None;
    loop {
        if abort.is_cancelled() || (produce.is_cancelled() && pending.is_none()) {
            return ledger;
        }
        let session = tokio::select! {
            () = abort.cancelled() => return ledger,
            s = mqtt_client::connect(target, client_id(index), 60, ANSWER_TIMEOUT) => s,
        };
        let mut framed = match session {
            Ok(framed) => framed,
            Err(e) => {
                ledger.last_error = Some(e);
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        ledger.sessions += 1;
        loop {
            let seq = match pending {
                Some(seq) => seq,
                None if produce.is_cancelled() => return ledger,
                None => {
                    ledger.messages.push(MessageRecord::default());
                    (ledger.messages.len() - 1) as u64
                }
            };
            let record = &mut ledger.messages[seq as usize];
            let publish = Publish {
                dup: record.attempts > 0,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: format!("flood/{index}"),
                packet_id: (seq % 65_535) as u16 + 1,
                payload: Bytes::from(payload(index, seq)),
            };
            record.attempts += 1;
            pending = Some(seq);
            let answered = tokio::select! {
                () = abort.cancelled() => return ledger,
                r = publish_and_wait(&mut framed, publish) => r,
            };
            match answered {
                Ok(()) => {
                    ledger.messages[seq as usize].acked = true;
                    pending = None;
                    counters.acked.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    counters.unanswered.fetch_add(1, Ordering::Relaxed);
                    ledger.last_error = Some(e);
                    break;
                }
            }
        }
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

async fn publish_and_wait(
    framed: &mut Framed<TcpStream, MqttCodec>,
    publish: Publish,
) -> Result<(), String> {
    let id = publish.packet_id;
    framed
        .send(Packet::Publish(publish))
        .await
        .map_err(|e| format!("PUBLISH: {e}"))?;
    loop {
        match tokio::time::timeout(ANSWER_TIMEOUT, framed.next()).await {
            Ok(Some(Ok(Packet::PubAck(ack)))) if ack.packet_id == id => return Ok(()),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(format!("reading PUBACK: {e}")),
            Ok(None) => return Err("closed before PUBACK".into()),
            Err(_) => return Err("no PUBACK".into()),
        }
    }
}
