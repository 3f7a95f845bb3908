//! [`Shared`]: the one state every part of the server holds (store,
//! writer, gateway directory, session registry, control dispatcher,
//! counters, settings). The GMMP listener and the HTTP API (axum's
//! `with_state`) get the same `Arc<Shared>`.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::control::{ControlHandle, ControlWatch};
use crate::directory::Directory;
use crate::error::StoreError;
use crate::events::EventFeed;
use crate::gmmp::registration_rate::RegistrationRate;
use crate::http::events::fanout::Fanout;
use crate::http::{ApiKey, metrics::HttpMetrics};
use crate::listen::Unauthenticated;
use crate::mqtt::MqttState;
use crate::outbound::Outbound;
use crate::registry::Registry;
use crate::retention::RetentionMetrics;
use crate::store::events::NewEvent;
use crate::store::{self, Db, writer::WriterHandle};
use crate::webhooks::Webhooks;

/// Most auth_ids remembered for the once-per-auth_id approve hint.
const MAX_REFUSALS_REMEMBERED: usize = 10_000;

/// Counters of the GMMP side, for logs and `/metrics`.
#[derive(Debug, Default)]
pub struct GmmpMetrics {
    /// Connections accepted.
    pub connections_accepted: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Frames received.
    pub frames_in: AtomicU64,
    /// Malformed frames (each closed its connection).
    pub malformed_frames: AtomicU64,
    /// Requests refused for authentication.
    pub auth_refused: AtomicU64,
    /// Control responses (0x0E) ignored: on a connection not bound to a
    /// GW, or not matching its auth ID, auth key, GW ID or domain.
    pub responses_refused: AtomicU64,
    /// Deliveries acknowledged with STATUS_OK (after commit).
    pub deliveries_ok: AtomicU64,
    /// Deliveries answered rc 0x0F (writer saturated, or the gateway
    /// over its share of the writer queue).
    pub deliveries_backoff: AtomicU64,
    /// Of those, the ones whose gateway held more than its share of the
    /// writer queue.
    pub deliveries_over_share: AtomicU64,
    /// Unbound connections (GMMP, MQTT, MQTTS) closed to make room for a
    /// newer one over the unauthenticated caps.
    pub unauthenticated_shed: AtomicU64,
    /// GW registrations answered rc 0x0F over the per-source rate limit.
    pub registrations_throttled: AtomicU64,
    /// GW registrations refused because the gateway's registration is
    /// locked and the header did not carry its current key.
    pub registrations_locked_out: AtomicU64,
    /// Sessions of a GW replaced by a new one from another IP address
    /// while they were alive.
    pub sessions_taken_from_new_peer: AtomicU64,
    /// Keyed deliveries sent again after they were stored: acknowledged
    /// with STATUS_OK, not stored twice.
    pub deliveries_already_stored: AtomicU64,
}

/// The server's shared state.
pub struct Shared {
    /// Merged settings.
    pub config: Config,
    /// Pool for reads and the rare writes.
    pub db: Db,
    /// The group-commit delivery writer.
    pub writer: WriterHandle,
    /// auth_id → registered GW.
    pub directory: Directory,
    /// GW ID → live session.
    pub registry: Registry,
    /// Serialises registrations (ID allocation) and registration-lock
    /// changes, each with its directory update.
    pub registrations_serial: tokio::sync::Mutex<()>,
    /// The control dispatcher (control responses, notifications, long
    /// sentences, sessions coming and going).
    pub control: ControlHandle,
    /// GMMP counters.
    pub metrics: GmmpMetrics,
    /// The key every `/api/` route and `/metrics` require.
    pub api_key: ApiKey,
    /// HTTP request counters.
    pub http_metrics: HttpMetrics,
    /// The MQTT side's clients, subscriptions and counters.
    pub mqtt: MqttState,
    /// Places under `max_connections`, GMMP and MQTT together.
    pub connection_cap: Arc<Semaphore>,
    /// Connections not yet bound to a GW or logged in, GMMP and MQTT
    /// together (`max_unauthenticated`, `max_unauthenticated_per_ip`).
    pub unauthenticated: Arc<Unauthenticated>,
    /// The running webhook delivery tasks and their counters.
    pub webhooks: Webhooks,
    /// The retention task's counters.
    pub retention: RetentionMetrics,
    /// The rendered tail of the outbox the live event streams share.
    pub sse_fanout: Fanout,
    /// Where webhook deliveries and event streams run.
    pub outbound: Outbound,
    /// This instance among the others on the database (PostgreSQL only;
    /// `None` on SQLite, where one process holds every session).
    pub cluster: Option<Cluster>,
    control_watch: Arc<ControlWatch>,
    registration_rate: Mutex<RegistrationRate>,
    refusals_logged: Mutex<HashSet<String>>,
    last_seen: Mutex<HashMap<String, (i64, SocketAddr)>>,
    next_session_id: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("gmmp_listen", &self.config.gmmp_listen)
            .field("gateways", &self.directory.len())
            .field("sessions", &self.registry.len())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// State around an open store and a running writer.
    pub fn new(
        config: Config,
        db: Db,
        writer: WriterHandle,
        directory: Directory,
        control: ControlHandle,
        api_key: ApiKey,
    ) -> Shared {
        Shared {
            mqtt: MqttState::default(),
            connection_cap: Arc::new(Semaphore::new(config.max_connections)),
            unauthenticated: Unauthenticated::new(
                config.max_unauthenticated,
                config.max_unauthenticated_per_ip,
            ),
            registration_rate: Mutex::new(RegistrationRate::new(
                config.registration_rate_per_ip,
                config.registration_burst_per_ip,
            )),
            config,
            db,
            writer,
            directory,
            registry: Registry::default(),
            registrations_serial: tokio::sync::Mutex::new(()),
            control,
            metrics: GmmpMetrics::default(),
            api_key,
            http_metrics: HttpMetrics::default(),
            webhooks: Webhooks::default(),
            control_watch: Arc::default(),
            refusals_logged: Mutex::new(HashSet::new()),
            last_seen: Mutex::new(HashMap::new()),
            next_session_id: AtomicU64::new(1),
            retention: RetentionMetrics::default(),
            sse_fanout: Fanout::default(),
            outbound: Outbound::start(),
            cluster: None,
        }
    }

    /// The same state, as one instance of `cluster`.
    pub fn with_cluster(self, cluster: Option<Cluster>) -> Shared {
        Shared { cluster, ..self }
    }

    /// Where the control dispatcher announces that a control's row
    /// changed (after the commit); wakes `GET /api/v1/controls/{id}?wait=N`.
    pub fn control_watch(&self) -> &Arc<ControlWatch> {
        &self.control_watch
    }

    /// Takes a registration token of `ip`'s source
    /// (`registration_rate_per_ip`): `false` over the limit.
    pub fn registration_allowed(&self, ip: std::net::IpAddr) -> bool {
        self.registration_rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(crate::listen::source_key(ip), std::time::Instant::now())
    }

    /// A new session id.
    pub fn next_session_id(&self) -> u64 {
        self.next_session_id.fetch_add(1, Ordering::Relaxed)
    }

    /// True the first time `auth_id` is refused (so the approve hint is
    /// logged once per auth_id).
    ///
    /// The set is capped so that a stream of made-up auth_ids cannot grow
    /// it without bound (past the cap, refusals are no longer hinted).
    pub fn first_refusal(&self, auth_id: &str) -> bool {
        let mut logged = self
            .refusals_logged
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        logged.len() < MAX_REFUSALS_REMEMBERED && logged.insert(auth_id.to_owned())
    }

    /// Notes contact from `gw_id`; written to the database in batches by
    /// [`flush_last_seen`](Self::flush_last_seen), not one write per frame.
    pub fn touch(&self, gw_id: &str, peer: SocketAddr) {
        let now = store::now_millis();
        let mut seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get_mut(gw_id) {
            Some(entry) => *entry = (now, peer),
            None => {
                seen.insert(gw_id.to_owned(), (now, peer));
            }
        }
    }

    /// The outbox's feed (committed head, noted events, counters).
    pub fn events(&self) -> &Arc<EventFeed> {
        self.writer.events()
    }

    /// Notes an event without a row of its own (a gateway online or
    /// offline, a refused registration) for the writer's next batch.
    pub fn note_event(&self, event: NewEvent) {
        self.writer.record_event(event);
    }

    /// Hands the MQTT online states and the events noted since the last
    /// flush to the delivery writer (committed with its next batch).
    pub async fn flush_events(&self) -> Result<(), StoreError> {
        let presence = self.mqtt.take_presence();
        if !presence.is_empty() {
            self.writer
                .record_presence(presence)
                .await
                .map_err(|_| StoreError::WriterGone)?;
        }
        self.writer
            .record_events(self.events().take_noted())
            .await
            .map_err(|_| StoreError::WriterGone)
    }

    /// Hands the contacts, MQTT online states and events noted since the
    /// last flush to the delivery writer (committed with its next batch).
    pub async fn flush_last_seen(&self) -> Result<(), StoreError> {
        let batch: Vec<(String, i64, String)> = {
            let mut seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.drain()
                .map(|(gw, (at, peer))| (gw, at, peer.to_string()))
                .collect()
        };
        self.writer
            .record_last_seen(batch)
            .await
            .map_err(|_| StoreError::WriterGone)?;
        self.flush_events().await
    }
}
