//! The MQTT side: MQTT 3.1 / 3.1.1 devices (SIMCom SIM7600, the OneNET
//! M5310-A) publishing into the same store as GMMP gateways, with the
//! same guarantee — PUBACK / PUBREC only after the commit.
//!
//! - [`session`]: one connection — the IO loop around its protocol state,
//!   [`session::machine`] (CONNECT, acknowledgements, QoS 2, deadlines).
//! - [`tls`]: the MQTTS port — TLS or plain by the first byte, then the
//!   same session; [`tls::certificate`]: the configured or self-signed
//!   certificate.
//! - [`login`]: who may connect (`--provisioning`, login profiles);
//!   [`secret`]: secrets hashed at rest; [`provision`]: the
//!   `omp-server provision mqtt …` commands.
//! - [`ingest`]: a PUBLISH to its row, OneNET `$dp` data points decoded.
//! - [`router`], [`topic`]: connected clients, subscriptions with `+` and
//!   `#`, retained messages; [`inbox`]: what reaches one session (routed
//!   messages, commands).
//! - [`metrics`]: the counters `/metrics` shows.

use std::sync::Mutex;

use crate::store::mqtt_presence::Presence;
use crate::store::writer::WriterHandle;
pub use metrics::{CloseReason, MqttMetrics};

pub mod inbox;
pub mod ingest;
pub mod login;
pub mod metrics;
pub mod provision;
pub mod router;
pub mod secret;
pub mod session;
pub mod tls;
pub mod topic;

/// The MQTT part of the shared state.
#[derive(Debug, Default)]
pub struct MqttState {
    /// Connected clients, subscriptions, retained messages.
    pub router: router::Router,
    /// Counters.
    pub metrics: MqttMetrics,
    /// Online states noted since the last flush, every change in order
    /// (each is an event; the table keeps the latest).
    presence: Mutex<Vec<Presence>>,
}

impl MqttState {
    /// Hands a client's online state to the writer's queue at once, so
    /// that it keeps its place among the client's messages (see
    /// [`WriterHandle::try_record_presence`]); a session never waits on the
    /// writer for it, only its messages do. While the queue is full, or
    /// while changes noted earlier still wait, it is noted here and
    /// written with the next flush (`Shared::flush_events`), in order.
    /// True when the change was noted for the flush (the caller wakes it).
    pub fn note_presence(&self, writer: &WriterHandle, p: Presence) -> bool {
        let mut noted = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        if !noted.is_empty() {
            noted.push(p);
            return true;
        }
        match writer.try_record_presence(p) {
            Ok(()) => false,
            Err(refused) => {
                noted.extend(refused);
                true
            }
        }
    }

    /// The states noted since the last call.
    pub fn take_presence(&self) -> Vec<Presence> {
        let mut noted = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *noted)
    }
}
