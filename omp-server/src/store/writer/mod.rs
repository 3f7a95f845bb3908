//! The group-commit writer: the only task that inserts deliveries.
//!
//! Sessions hand a [`DeliveryRow`] and a oneshot reply to
//! [`WriterHandle::submit`]. The writer takes one row, drains up to
//! `batch_max − 1` more that are already queued, commits them in one
//! transaction (multi-row INSERTs), and only then replies `Ok` to every
//! sender — so a session answers STATUS_OK only for a row that is on disk.
//! On a database error every row of the batch gets `Err` and nothing of it
//! is acknowledged. Throughput therefore does not hang on one fsync per
//! delivery: under load one fsync covers up to `batch_max` rows.
//!
//! A keyed delivery (`gmmp_codec::KEYED_DELIVERY`) already stored — found
//! in the table or earlier in the same batch — is not inserted again and is
//! answered [`Committed::AlreadyStored`], which the session acknowledges
//! like a stored one. The lookup runs here, inside the writer's
//! transaction, because the writer is the only inserter: a resend that
//! overtakes its original (the original still queued, from a connection
//! that has since died) is caught just the same, in either order.
//!
//! The queue is bounded; when it is full [`submit`](WriterHandle::submit)
//! answers [`SubmitError::Full`] at once and the session answers rc 0x0F
//! with a back-off time — the server never buffers without bound.
//!
//! The gateways' last-contact times (batched by the server every few
//! seconds) go through this writer too, in the next batch's transaction:
//! written on another connection, their UPDATE would hold SQLite's write
//! lock while the writer's BEGIN waits in SQLite's busy handler (which
//! sleeps milliseconds at a time) — a latency spike for every delivery in
//! flight, every few seconds.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::StoreError;
use crate::store::deliveries::{self, DeliveryRow};
use crate::store::gateways;

/// What became of a delivery handed to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Its row is committed.
    Stored,
    /// A keyed delivery already stored: nothing was inserted.
    AlreadyStored,
}

type Reply = oneshot::Sender<Result<Committed, Arc<StoreError>>>;

/// Contact times `(gw_id, unix ms, peer)`.
pub type LastSeen = Vec<(String, i64, String)>;

/// What the writer is handed.
#[derive(Debug)]
enum Job {
    Delivery(DeliveryRow, Reply),
    LastSeen(LastSeen),
}

/// Counters of the writer, for logs and the later `/metrics`.
#[derive(Debug, Default)]
pub struct WriterMetrics {
    /// Transactions committed.
    pub batches: AtomicU64,
    /// Rows committed.
    pub rows: AtomicU64,
    /// Rows that failed to commit.
    pub failed_rows: AtomicU64,
    /// Keyed deliveries found already stored (acknowledged, not inserted).
    pub already_stored: AtomicU64,
    /// Submissions refused because the queue was full.
    pub refused_full: AtomicU64,
    /// Sum of batch latencies (BEGIN to COMMIT), microseconds.
    pub batch_micros_total: AtomicU64,
    /// Largest batch latency seen, microseconds.
    pub batch_micros_max: AtomicU64,
}

/// Why a row could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: answer rc 0x0F with a back-off.
    #[error("the delivery writer queue is full")]
    Full,
    /// The writer has stopped.
    #[error("the delivery writer has stopped")]
    Closed,
}

/// The sessions' side of the writer.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Job>,
    metrics: Arc<WriterMetrics>,
}

impl WriterHandle {
    /// Queues `row`; the returned receiver resolves once the row is
    /// committed, found already stored, or failed.
    pub fn submit(
        &self,
        row: DeliveryRow,
    ) -> Result<oneshot::Receiver<Result<Committed, Arc<StoreError>>>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job::Delivery(row, reply)) {
            Ok(()) => Ok(rx),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.refused_full.fetch_add(1, Ordering::Relaxed);
                Err(SubmitError::Full)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SubmitError::Closed),
        }
    }

    /// Hands over last-contact times, waiting for room in the queue;
    /// `Closed` once the writer has stopped.
    pub async fn record_last_seen(&self, seen: LastSeen) -> Result<(), SubmitError> {
        if seen.is_empty() {
            return Ok(());
        }
        self.tx
            .send(Job::LastSeen(seen))
            .await
            .map_err(|_| SubmitError::Closed)
    }

    /// The writer's counters.
    pub fn metrics(&self) -> &Arc<WriterMetrics> {
        &self.metrics
    }
}

/// Starts the writer on `conn`. It runs until `stop` is cancelled, then
/// commits whatever is still queued and returns.
pub fn spawn(
    conn: SqliteConnection,
    capacity: usize,
    batch_max: usize,
    stop: CancellationToken,
) -> (WriterHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity);
    let metrics = Arc::new(WriterMetrics::default());
    let task = tokio::spawn(run(conn, rx, batch_max, stop, metrics.clone()));
    (WriterHandle { tx, metrics }, task)
}

async fn run(
    mut conn: SqliteConnection,
    mut rx: mpsc::Receiver<Job>,
    batch_max: usize,
    stop: CancellationToken,
    metrics: Arc<WriterMetrics>,
) {
    let mut rows = Vec::with_capacity(batch_max);
    let mut replies = Vec::with_capacity(batch_max);
    let mut seen: LastSeen = Vec::new();
    loop {
        let first = tokio::select! {
            item = rx.recv() => item,
            () = stop.cancelled() => {
                // Refuse new rows, then commit what is queued.
                rx.close();
                rx.recv().await
            }
        };
        let Some(job) = first else { break };
        let mut next = Some(job);
        while let Some(job) = next.take() {
            match job {
                Job::Delivery(row, reply) => {
                    rows.push(row);
                    replies.push(reply);
                }
                Job::LastSeen(batch) => seen.extend(batch),
            }
            if rows.len() < batch_max {
                next = rx.try_recv().ok();
            }
        }
        let started = Instant::now();
        let result = commit(&mut conn, &rows, &seen).await;
        seen.clear();
        let micros = started.elapsed().as_micros() as u64;
        let n = rows.len() as u64;
        match result {
            Ok(outcomes) => {
                let again = outcomes
                    .iter()
                    .filter(|o| **o == Committed::AlreadyStored)
                    .count() as u64;
                metrics.batches.fetch_add(1, Ordering::Relaxed);
                metrics.rows.fetch_add(n - again, Ordering::Relaxed);
                metrics.already_stored.fetch_add(again, Ordering::Relaxed);
                metrics
                    .batch_micros_total
                    .fetch_add(micros, Ordering::Relaxed);
                metrics
                    .batch_micros_max
                    .fetch_max(micros, Ordering::Relaxed);
                for (reply, outcome) in replies.drain(..).zip(outcomes) {
                    // A session that went away no longer needs the answer.
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(rows = n, error = %e, "delivery batch failed; none acknowledged");
                metrics.failed_rows.fetch_add(n, Ordering::Relaxed);
                let e = Arc::new(e);
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
        rows.clear();
    }
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the writer connection failed");
    }
}

/// One transaction of `rows`, with plain BEGIN/COMMIT statements rather
/// than sqlx's `Transaction`: on a full disk (SQLITE_FULL, IOERR) SQLite
/// rolls the transaction back by itself, sqlx's own ROLLBACK then fails
/// and sqlx keeps counting a transaction open, refusing every later BEGIN
/// on this connection — the writer would never store again, even once
/// space returns. Here a failed batch is rolled back (an error from that
/// ROLLBACK only means SQLite did it already) and the next batch starts
/// clean. Returns what became of each row, in order.
async fn commit(
    conn: &mut SqliteConnection,
    rows: &[DeliveryRow],
    seen: &[(String, i64, String)],
) -> Result<Vec<Committed>, StoreError> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let outcomes = match sort_out_resends(conn, rows).await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            return Err(e);
        }
    };
    let mut result = if outcomes.contains(&Committed::AlreadyStored) {
        let new_rows: Vec<&DeliveryRow> = rows
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| **o == Committed::Stored)
            .map(|(row, _)| row)
            .collect();
        deliveries::insert_batch(conn, &new_rows).await
    } else {
        // The usual batch: every row is new, no copy of the list.
        deliveries::insert_batch(conn, rows).await
    };
    // Contact times are a convenience: their failure must not cost the
    // deliveries (SQLite undoes just the failed statement).
    if result.is_ok()
        && let Err(e) = gateways::record_last_seen(conn, seen).await
    {
        tracing::warn!(gateways = seen.len(), error = %e, "last contact times not saved");
    }
    if result.is_ok() {
        result = sqlx::query("COMMIT")
            .execute(&mut *conn)
            .await
            .map(drop)
            .map_err(StoreError::from);
    }
    if result.is_err() {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    result.map(|()| outcomes)
}

/// Which of `rows` are keyed deliveries stored already, in the table or
/// earlier in this batch. Unkeyed rows cost nothing here.
async fn sort_out_resends(
    conn: &mut SqliteConnection,
    rows: &[DeliveryRow],
) -> Result<Vec<Committed>, StoreError> {
    let mut outcomes = vec![Committed::Stored; rows.len()];
    if !rows.iter().any(|r| r.keyed) {
        return Ok(outcomes);
    }
    let stored = deliveries::stored_keyed(conn, rows).await?;
    // Keys of the rows this batch stores, to catch two copies in one batch
    // without comparing every pair.
    let mut batch_keys: HashMap<(&str, u32, u32), Vec<usize>> = HashMap::new();
    for (i, row) in rows.iter().enumerate().filter(|(_, r)| r.keyed) {
        let key = (row.gw_id.as_str(), row.tid, row.origin_timestamp);
        let earlier = batch_keys.entry(key).or_default();
        let in_batch = earlier.iter().any(|&j| row.is_resend_of(&rows[j]));
        let stored_id = stored[i];
        if in_batch || stored_id.is_some() {
            tracing::info!(gw_id = %row.gw_id, device_id = %row.device_id, tid = row.tid,
                origin_timestamp = row.origin_timestamp, stored_id,
                "keyed delivery sent again after it was stored; acknowledged, not stored twice");
            outcomes[i] = Committed::AlreadyStored;
        } else {
            earlier.push(i);
        }
    }
    Ok(outcomes)
}
