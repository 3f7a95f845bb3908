//! The MQTT side: MQTT 3.1 / 3.1.1 devices (SIMCom SIM7600, the OneNET
//! M5310-A) publishing into the same store as GMMP gateways, with the
//! same guarantee — PUBACK / PUBREC only after the commit.
//!
//! - [`listener`]: accept loop under the connection caps GMMP uses.
//! - [`session`]: one connection — the IO loop around its protocol state,
//!   [`session::machine`] (CONNECT, acknowledgements, QoS 2, deadlines).
//! - [`login`]: who may connect (`--provisioning`, login profiles);
//!   [`secret`]: secrets hashed at rest; [`provision`]: the
//!   `omp-server provision mqtt …` commands.
//! - [`ingest`]: a PUBLISH to its row, OneNET `$dp` data points decoded.
//! - [`router`], [`topic`]: connected clients, subscriptions with `+` and
//!   `#`, retained messages.

use std::sync::atomic::AtomicU64;

pub mod ingest;
pub mod listener;
pub mod login;
pub mod provision;
pub mod router;
pub mod secret;
pub mod session;
pub mod topic;

/// Counters of the MQTT side, for logs and `/metrics`.
#[derive(Debug, Default)]
pub struct MqttMetrics {
    /// Connections accepted.
    pub connections_accepted: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Packets received.
    pub packets_in: AtomicU64,
    /// Undecodable input (each closed its connection).
    pub malformed: AtomicU64,
    /// CONNECTs refused.
    pub refused: AtomicU64,
    /// Messages committed (and acknowledged, at QoS 1 and 2).
    pub messages_stored: AtomicU64,
}

/// The MQTT part of the shared state.
#[derive(Debug, Default)]
pub struct MqttState {
    /// Connected clients, subscriptions, retained messages.
    pub router: router::Router,
    /// Counters.
    pub metrics: MqttMetrics,
}
