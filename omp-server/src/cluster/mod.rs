//! Several instances on one PostgreSQL database: a gateway or MQTT client
//! has one live session across all of them, the newest, as within one
//! instance. PostgreSQL only; on SQLite none of this is made or started.
//!
//! - [`instance`]: this instance's row in `instances` (a random id made
//!   at each start), refreshed at each heartbeat, removed at a clean stop
//!   with the instance's sessions.
//! - [`claims`]: a session binding its key (GW ID, MQTT client id)
//!   claims it in `sessions` with the next epoch and announces the claim
//!   ([`notice`]) in the same statement; an ending session removes the
//!   row only while it is still its own.
//! - [`local`]: the keys held here and where their claims stand; what a
//!   claim elsewhere means for them is decided there, without IO.
//! - `worker`: one task makes the claims and releases in order, so a
//!   session never waits for the database (nor fails when it is out of
//!   reach: the failure is logged and the session goes on).
//! - `listener` and `watch`: the announcements of other instances close
//!   the local sessions they took; since announcements sent while the
//!   listening connection is down are lost, the table is also compared
//!   with the local sessions after each reconnection and every
//!   [`RESCAN_EVERY`](watch::RESCAN_EVERY).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub mod claims;
pub mod instance;
mod listener;
pub mod local;
pub mod notice;
pub mod watch;
mod worker;

pub use local::Kind;

use crate::error::StoreError;
use crate::state::Shared;

/// Claims and releases queued for the worker at most; past it a claim is
/// counted failed (the session goes on) and a release left to the clean
/// stop or to the next claim of its key.
const QUEUE_CAPACITY: usize = 16_384;

/// This instance among the others on the database.
#[derive(Debug)]
pub struct Cluster {
    id: String,
    started_at: i64,
    heartbeat: Duration,
    pool: PgPool,
    local: local::Local,
    jobs: mpsc::Sender<worker::Job>,
    queued: Mutex<Option<mpsc::Receiver<worker::Job>>>,
}

impl Cluster {
    /// Registers a new instance on `pool` (a new random id) that will
    /// heartbeat every `heartbeat` once [`spawn`]ed.
    pub async fn register(pool: &PgPool, heartbeat: Duration) -> Result<Cluster, StoreError> {
        let id = instance::new_id();
        let started_at = crate::store::now_millis();
        instance::register(pool, &id, started_at).await?;
        let (jobs, queued) = mpsc::channel(QUEUE_CAPACITY);
        tracing::info!(instance = %id, "instance registered on the database");
        Ok(Cluster {
            id,
            started_at,
            heartbeat,
            pool: pool.clone(),
            local: local::Local::default(),
            jobs,
            queued: Mutex::new(Some(queued)),
        })
    }

    /// This instance's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The sessions held here.
    pub fn local(&self) -> &local::Local {
        &self.local
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Session `session` (closed by cancelling `close`) bound `key`: it
    /// is held here now, and its claim is queued.
    pub fn claim(
        &self,
        kind: Kind,
        key: &str,
        session: u64,
        peer: SocketAddr,
        close: CancellationToken,
    ) {
        self.local.bind(kind, key, session, close);
        let job = worker::Job::Claim(claims::ClaimRequest {
            kind,
            key: key.to_owned(),
            session,
            peer: peer.to_string(),
            at: crate::store::now_millis(),
        });
        if self.jobs.try_send(job).is_err() {
            if let Some(left_out) = worker::CLAIM_LOG.take() {
                tracing::warn!(kind = kind.as_str(), %key, left_out,
                    "claims queue full; session not claimed in the database, it goes on here");
            }
            self.local.claimed(kind, key, session, local::Claim::Failed);
        }
    }

    /// Session `session` holding `key` ended: its row goes (if still its
    /// own) after its claim was made.
    pub fn release(&self, kind: Kind, key: &str, session: u64) {
        let job = worker::Job::Release {
            kind,
            key: key.to_owned(),
            session,
        };
        if self.jobs.try_send(job).is_err() {
            // Its row stays until the clean stop or the next claim.
            self.local.release(kind, key, session);
        }
    }

    /// The instance that took `key` from local session `session`, if one
    /// did (why the session was closed).
    pub fn taken_by(&self, kind: Kind, key: &str, session: u64) -> Option<String> {
        self.local.taken_by(kind, key, session)
    }
}

/// Starts the instance's tasks (heartbeat, claims, listening) when the
/// state has a cluster; they run until `stop`, then the instance's rows
/// are removed and the returned task ends.
pub fn spawn(state: &Arc<Shared>, stop: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
    let cluster = state.cluster.as_ref()?;
    let jobs = cluster
        .queued
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()?;
    Some(tokio::spawn(watch::run(state.clone(), jobs, stop)))
}
