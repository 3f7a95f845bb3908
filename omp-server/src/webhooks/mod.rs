//! Webhooks: the outbox (table `events`) POSTed to receivers, one event
//! at a time, in id order, signed (`X-OMP-Signature`).
//!
//! Each enabled webhook has one task ([`delivery`]), a reader of the
//! outbox like an event stream: it keeps its cursor (committed to table
//! `webhooks` in the writer's batches, beside the POSTs and at most
//! [`cursor::UNCOMMITTED_MAX`] events behind them), reads the table from it
//! with the webhook's filters and waits on the
//! [`EventFeed`](crate::events::EventFeed) when caught up. Tasks share
//! nothing but the pool, the writer and the feed, so a slow or failing
//! receiver delays neither another webhook nor ingest.
//!
//! [`Webhooks`] holds the running tasks: started at server start
//! ([`start_all`]) and on create or enable, stopped — and waited for —
//! on delete, disable, a change, a replay and shutdown, so a cursor the
//! API writes is never overwritten by a task still running.
//!
//! - [`signature`]: the HMAC-SHA256 header.
//! - [`backoff`]: the wait between failed attempts.
//! - [`client`]: the HTTP client (hyper over rustls).
//! - [`cursor`]: the task's cursor on its way to the database.
//! - [`delivery`]: the task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::StoreError;
use crate::state::Shared;
use crate::store;

pub mod backoff;
pub mod client;
pub mod cursor;
pub mod delivery;
pub mod signature;

/// Counters of webhook deliveries, for `/metrics` (totals: one series
/// per webhook would be an unbounded label).
#[derive(Debug, Default)]
pub struct WebhookMetrics {
    /// POSTs answered 2xx.
    pub delivered: AtomicU64,
    /// POSTs that failed (non-2xx, timeout, connection error).
    pub failed: AtomicU64,
    /// Webhooks the server disabled after `webhook_disable_after` of failures.
    pub disabled: AtomicU64,
}

/// One running task.
struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
    /// The task's cursor, for the backlog gauge.
    cursor: Arc<AtomicI64>,
}

/// The running delivery tasks.
#[derive(Default)]
pub struct Webhooks {
    running: Mutex<HashMap<i64, Running>>,
    shutdown: CancellationToken,
    metrics: WebhookMetrics,
    /// Built at the first task's start, not at the server's: a server
    /// without webhooks never reads the root certificates.
    connector: OnceLock<Result<client::Connector, String>>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("running", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The delivery counters.
    pub fn metrics(&self) -> &WebhookMetrics {
        &self.metrics
    }

    /// The connector of the delivery tasks' clients, built once.
    pub fn connector(&self, timeout: std::time::Duration) -> Result<client::Connector, String> {
        self.connector
            .get_or_init(|| client::connector(timeout))
            .clone()
    }

    /// The largest backlog of a running webhook: `head` minus its cursor
    /// (0 with none running).
    pub fn largest_backlog(&self, head: i64) -> i64 {
        self.lock()
            .values()
            .filter(|r| !r.task.is_finished())
            .map(|r| head.saturating_sub(r.cursor.load(Ordering::Relaxed)))
            .max()
            .unwrap_or(0)
            .max(0)
    }

    /// Stops the task of webhook `id`, if one runs, and waits until it has
    /// ended.
    pub async fn stop(&self, id: i64) {
        let running = self.lock().remove(&id);
        if let Some(running) = running {
            running.stop.cancel();
            let _ = running.task.await;
        }
    }

    /// Stops every task and refuses new ones (server shutdown).
    pub async fn stop_all(&self) {
        self.shutdown.cancel();
        let all: Vec<Running> = self.lock().drain().map(|(_, r)| r).collect();
        for running in &all {
            running.stop.cancel();
        }
        for running in all {
            let _ = running.task.await;
        }
    }
}

/// Starts the task of webhook `hook` (replacing one that ended) unless it
/// is disabled, one runs already or the server is stopping.
pub fn start(state: &Arc<Shared>, hook: store::webhooks::StoredWebhook) {
    let hooks = &state.webhooks;
    if !hook.enabled || hooks.shutdown.is_cancelled() {
        return;
    }
    let mut running = hooks.lock();
    if running.get(&hook.id).is_some_and(|r| !r.task.is_finished()) {
        return;
    }
    let stop = hooks.shutdown.child_token();
    let cursor = Arc::new(AtomicI64::new(hook.cursor));
    let id = hook.id;
    let task = state.outbound.spawn(delivery::run(
        state.clone(),
        hook,
        stop.clone(),
        cursor.clone(),
    ));
    running.insert(id, Running { stop, task, cursor });
}

/// Stops the task of webhook `id` and starts it again from its stored row
/// (after a change or a replay).
pub async fn restart(state: &Arc<Shared>, id: i64) -> Result<(), StoreError> {
    state.webhooks.stop(id).await;
    if let Some(hook) = store::webhooks::get(&state.db, id).await? {
        start(state, hook);
    }
    Ok(())
}

/// Starts the task of every enabled webhook (server start).
pub async fn start_all(state: &Arc<Shared>) -> Result<(), StoreError> {
    for hook in store::webhooks::list(&state.db).await? {
        start(state, hook);
    }
    Ok(())
}
