//! The control queue (GMMP 0x0D → 0x0E → 0x17): controls requested over
//! the HTTP API are pushed to live gateways at once, wait durably for
//! offline ones, and end SUCCESS, FAILED, TIMEOUT, EXPIRED or CANCELLED.
//!
//! One task, the [`dispatcher`], owns every change after `QUEUED`. The
//! API, the GMMP sessions and the timers talk to it through a
//! [`ControlHandle`] (a channel), so changes to one control never race:
//! each is committed (state, timestamp, timeline row) before anyone hears
//! of it — before the `?wait=` long-polls are woken, before the 0x18 that
//! acknowledges a notification is written.
//!
//! - [`dispatcher`]: the task; how each event moves controls.
//! - [`inflight`]: the controls in flight in memory (T-IDs, matching,
//!   slots, deadlines), plain data.
//! - [`watch`]: wakes the API's `?wait=` long-polls of a control that
//!   changed.
//! - [`mqtt`]: commands to MQTT devices, through the same queue (its
//!   rules are there).
//!
//! Rules (docs/gmmp.md §6.7, §7):
//! - A control is pushed when its gateway has a live session and its
//!   target (the gateway, or one device) has fewer than
//!   `control_max_in_flight` controls SENT or PROGRESS; the rest wait in
//!   creation order. Pushing happens when the control is queued, when the
//!   gateway (re)connects, when a control of the gateway ends, and on a
//!   sweep every few seconds (a safety net for a missed wake-up).
//! - SENT → the 0x0E must come within the gateway's profile
//!   `response_timeout`, else TIMEOUT. If the session that carried the
//!   0x0D ends first, the control goes back to QUEUED (the gateway may
//!   never have seen it) and is sent again, with a new T-ID, on its next
//!   session — so a control can reach a gateway twice when the gateway
//!   received it and its session died before its answer arrived.
//! - PROGRESS → the 0x17 must come within `control_completion_timeout`,
//!   else TIMEOUT; it may come on a later session.
//! - QUEUED → EXPIRED once its TTL passes.
//! - After a restart every SENT control goes back to QUEUED (its session
//!   is gone) and PROGRESS ones keep waiting for their 0x17 until their
//!   completion deadline.
//! - Control data over 2048 bytes does not fit a 0x0D: the 0x0D goes out
//!   with an empty body and the gateway fetches the data with long
//!   sentence (0x11), answered in parts of 2048 bytes (split 0x12).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;
use gmmp_codec::{AuthId, AuthKey, DomainCode, ResultCode};
use mqtt_codec::QoS;
use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::registry::Outbox;
use crate::store::controls::NewControl;
use crate::store::mqtt_controls::NewMqttControl;

pub mod dispatcher;
pub mod inflight;
pub mod mqtt;
pub mod watch;

pub use watch::ControlWatch;

/// A request to the dispatcher failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The dispatcher has stopped (shutdown).
    #[error("the control dispatcher has stopped")]
    Stopped,
}

/// Events waiting for the dispatcher, at most; senders wait beyond.
const EVENTS_CAPACITY: usize = 4096;

/// A gateway's live session, as the dispatcher needs it to push controls.
#[derive(Debug, Clone)]
pub struct Live {
    /// The session's id (its end puts its SENT controls back in the queue).
    pub session: u64,
    /// The GW's auth_id (header of the 0x0D).
    pub auth_id: AuthId,
    /// The GW's auth key (header of the 0x0D).
    pub auth_key: AuthKey,
    /// The GW's domain code (body of the 0x0D).
    pub domain: DomainCode,
    /// Where the session takes frames to write.
    pub outbox: Arc<Outbox>,
    /// The GW's profile response timeout: how long a 0x0D may go
    /// unanswered.
    pub response_timeout: Duration,
}

/// Which control a gateway's message is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRef {
    /// The GW ID (the authenticated session's).
    pub gw_id: String,
    /// The frame's T-ID.
    pub tid: u32,
    /// Device ID, `""` for the gateway itself.
    pub device_id: String,
    /// GMMP control type.
    pub control_type: u8,
}

/// What the dispatcher is told.
#[derive(Debug)]
pub(crate) enum Event {
    /// The API asks for a control: store it QUEUED, try to push it, then
    /// answer its id (`None`: its idempotency key is taken).
    Create {
        control: NewControl,
        reply: oneshot::Sender<Result<Option<i64>, StoreError>>,
    },
    /// The API cancels a control: true when it was QUEUED.
    Cancel {
        id: i64,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// A session was bound to this gateway.
    Connected { gw_id: String, live: Live },
    /// A gateway's session ended (or was unbound).
    Disconnected { gw_id: String, session: u64 },
    /// A control response (0x0E).
    Response { about: ControlRef, rc: ResultCode },
    /// A notification (0x17): answered with the rc for the 0x18.
    Notification {
        about: ControlRef,
        rc: ResultCode,
        data: Bytes,
        reply: oneshot::Sender<ResultCode>,
    },
    /// A long sentence request (0x11): answered with the control's data,
    /// `None` when it matches no control in flight.
    LongSentence {
        about: ControlRef,
        reply: oneshot::Sender<Result<Option<Bytes>, ()>>,
    },
    /// The API asks for an MQTT command (as `Create`).
    MqttCreate {
        control: NewMqttControl,
        reply: oneshot::Sender<Result<Option<i64>, StoreError>>,
    },
    /// An MQTT client's session sent its CONNACK 0.
    MqttConnected {
        client_id: String,
        live: mqtt::MqttLive,
    },
    /// An MQTT session's subscription filters changed (all of them, each
    /// with its granted QoS).
    MqttSubscriptions {
        client_id: String,
        session: u64,
        filters: Vec<(String, QoS)>,
    },
    /// An MQTT client's session ended.
    MqttDisconnected { client_id: String, session: u64 },
    /// An MQTT session wrote a command to its connection.
    MqttWritten { session: u64, control_id: i64 },
    /// An MQTT session got what ends a command: its PUBACK / PUBCOMP
    /// (`result` `None`) or the device's reply.
    MqttAnswered {
        session: u64,
        control_id: i64,
        result: Option<Bytes>,
    },
}

/// The dispatcher's inbox and counters, handed to [`dispatcher::spawn`].
#[derive(Debug)]
pub struct Inbox {
    pub(crate) events: mpsc::Receiver<Event>,
    pub(crate) metrics: Arc<ControlMetrics>,
}

/// How the rest of the server talks to the dispatcher (cheap to clone).
#[derive(Debug, Clone)]
pub struct ControlHandle {
    events: mpsc::Sender<Event>,
    metrics: Arc<ControlMetrics>,
}

/// What the dispatcher counts (for `/metrics`).
#[derive(Debug, Default)]
pub struct ControlMetrics {
    /// Controls SENT: 0x0D handed to a session, MQTT commands written.
    pub sent: AtomicU64,
    /// Controls put back in the queue (session gone, outbox full, restart).
    pub requeued: AtomicU64,
    /// Controls ended, by final state.
    pub succeeded: AtomicU64,
    /// Ended FAILED.
    pub failed: AtomicU64,
    /// Ended TIMEOUT.
    pub timed_out: AtomicU64,
    /// Ended EXPIRED.
    pub expired: AtomicU64,
    /// Ended CANCELLED.
    pub cancelled: AtomicU64,
    /// Control responses, notifications and long sentences that matched no
    /// control in flight.
    pub unmatched: AtomicU64,
    /// Controls SENT or PROGRESS now.
    pub in_flight: AtomicU64,
}

impl ControlMetrics {
    /// The counter of final state `state`.
    pub(crate) fn ended(&self, state: crate::store::controls::ControlState) -> Option<&AtomicU64> {
        use crate::store::controls::ControlState as S;
        match state {
            S::Success => Some(&self.succeeded),
            S::Failed => Some(&self.failed),
            S::Timeout => Some(&self.timed_out),
            S::Expired => Some(&self.expired),
            S::Cancelled => Some(&self.cancelled),
            S::Queued | S::Sent | S::Progress => None,
        }
    }
}

/// What a long sentence request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LongSentence {
    /// The data of the control it matched.
    Data(Bytes),
    /// It matches no control in flight.
    NotFound,
    /// The data could not be read (or the dispatcher has stopped).
    Failed,
}

impl ControlHandle {
    /// A handle and the inbox of the dispatcher it talks to.
    pub fn channel() -> (ControlHandle, Inbox) {
        let (events, inbox) = mpsc::channel(EVENTS_CAPACITY);
        let metrics = Arc::new(ControlMetrics::default());
        (
            ControlHandle {
                events,
                metrics: metrics.clone(),
            },
            Inbox {
                events: inbox,
                metrics,
            },
        )
    }

    /// The dispatcher's counters.
    pub fn metrics(&self) -> &ControlMetrics {
        &self.metrics
    }

    /// Stores `control` QUEUED and tries to push it; its id once both are
    /// done, `None` when its idempotency key is already used.
    pub async fn create(&self, control: NewControl) -> Result<Option<i64>, ControlError> {
        let (reply, answer) = oneshot::channel();
        self.send(Event::Create { control, reply }).await;
        Ok(answer.await.map_err(|_| ControlError::Stopped)??)
    }

    /// Cancels control `id` if it is QUEUED; true when it was.
    pub async fn cancel(&self, id: i64) -> Result<bool, ControlError> {
        let (reply, answer) = oneshot::channel();
        self.send(Event::Cancel { id, reply }).await;
        Ok(answer.await.map_err(|_| ControlError::Stopped)??)
    }

    /// A session of `gw_id` is live.
    pub async fn connected(&self, gw_id: &str, live: Live) {
        self.send(Event::Connected {
            gw_id: gw_id.to_owned(),
            live,
        })
        .await;
    }

    /// Session `session` of `gw_id` ended.
    pub async fn disconnected(&self, gw_id: &str, session: u64) {
        self.send(Event::Disconnected {
            gw_id: gw_id.to_owned(),
            session,
        })
        .await;
    }

    /// A control response (0x0E) arrived.
    pub async fn response(&self, about: ControlRef, rc: ResultCode) {
        self.send(Event::Response { about, rc }).await;
    }

    /// A notification (0x17) arrived: the rc to answer it with (0x18),
    /// known once its result is committed.
    pub async fn notification(&self, about: ControlRef, rc: ResultCode, data: Bytes) -> ResultCode {
        let (reply, answer) = oneshot::channel();
        self.send(Event::Notification {
            about,
            rc,
            data,
            reply,
        })
        .await;
        answer.await.unwrap_or(ResultCode::INTERNAL_SERVER_ERROR)
    }

    /// A long sentence request (0x11) arrived.
    pub async fn long_sentence(&self, about: ControlRef) -> LongSentence {
        let (reply, answer) = oneshot::channel();
        self.send(Event::LongSentence { about, reply }).await;
        match answer.await {
            Ok(Ok(Some(data))) => LongSentence::Data(data),
            Ok(Ok(None)) => LongSentence::NotFound,
            Ok(Err(())) | Err(_) => LongSentence::Failed,
        }
    }

    /// Stores MQTT command `control` QUEUED and tries to push it; its id,
    /// `None` when its idempotency key is already used for the client.
    pub async fn create_mqtt(&self, control: NewMqttControl) -> Result<Option<i64>, ControlError> {
        let (reply, answer) = oneshot::channel();
        self.send(Event::MqttCreate { control, reply }).await;
        Ok(answer.await.map_err(|_| ControlError::Stopped)??)
    }

    /// An MQTT session of `client_id` is live (its CONNACK 0 is written).
    pub async fn mqtt_connected(&self, client_id: &str, live: mqtt::MqttLive) {
        self.send(Event::MqttConnected {
            client_id: client_id.to_owned(),
            live,
        })
        .await;
    }

    /// The subscription filters of MQTT session `session`, each with its
    /// granted QoS, are now `filters`.
    pub async fn mqtt_subscriptions(
        &self,
        client_id: &str,
        session: u64,
        filters: Vec<(String, QoS)>,
    ) {
        self.send(Event::MqttSubscriptions {
            client_id: client_id.to_owned(),
            session,
            filters,
        })
        .await;
    }

    /// MQTT session `session` of `client_id` ended.
    pub async fn mqtt_disconnected(&self, client_id: &str, session: u64) {
        self.send(Event::MqttDisconnected {
            client_id: client_id.to_owned(),
            session,
        })
        .await;
    }

    /// MQTT session `session` wrote command `control_id`.
    pub async fn mqtt_written(&self, session: u64, control_id: i64) {
        self.send(Event::MqttWritten {
            session,
            control_id,
        })
        .await;
    }

    /// MQTT session `session` got the end of command `control_id`.
    pub async fn mqtt_answered(&self, session: u64, control_id: i64, result: Option<Bytes>) {
        self.send(Event::MqttAnswered {
            session,
            control_id,
            result,
        })
        .await;
    }

    async fn send(&self, event: Event) {
        if self.events.send(event).await.is_err() {
            tracing::debug!("control dispatcher has stopped; event dropped");
        }
    }
}
