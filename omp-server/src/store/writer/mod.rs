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
//! with a back-off time — the server never buffers without bound. A
//! gateway that holds its fair share of the queue already ([`Shares`]:
//! deliveries from submission to their commit's answer) is answered
//! [`SubmitError::OverShare`], the same rc 0x0F, so the back-off goes to
//! the gateways that fill the queue and a quiet one is still queued.
//!
//! Split deliveries go through this writer part by part (`parts`): each
//! part's row is committed before its STATUS_OK, and the last part's
//! transaction turns the parts into one delivery row.
//!
//! MQTT messages (`store::mqtt_messages`, with their `$dp` data points)
//! share these batches: [`WriterHandle::submit_mqtt`] resolves once the
//! message is committed, and the MQTT session sends PUBACK / PUBREC only
//! then. When the queue is full it waits for room instead of refusing,
//! and the session reads nothing meanwhile: MQTT has no back-off answer,
//! so the pressure goes back to the client through TCP. The clients'
//! online states travel the same way as the gateways' contact times.
//!
//! Every batch's events (the outbox, `store::events`) commit with it: the
//! database's triggers write those of deliveries and MQTT messages, and
//! the noted ones ([`WriterHandle::record_events`]: gateways online and
//! offline, refused registrations) and the MQTT clients' online states are
//! inserted here. After the COMMIT the writer announces the newest event
//! id on the [`EventFeed`]; a batch that fails announces nothing, and its
//! events are rolled back with it.
//!
//! The gateways' last-contact times (batched by the server every few
//! seconds) go through this writer too, in the next batch's transaction:
//! written on another connection, their UPDATE would hold SQLite's write
//! lock while the writer's BEGIN waits in SQLite's busy handler (which
//! sleeps milliseconds at a time) — a latency spike for every delivery in
//! flight, every few seconds.
//!
//! Retention's deletions ([`WriterHandle::purge`], `store::retention`)
//! are jobs here for the same reason. Each is one small batch in a
//! transaction of its own, run after the delivery batch queued before it
//! has committed, so the write lock is held for one short DELETE batch at
//! a time and the deliveries queued meanwhile go in the next batch.
//!
//! Files: this one holds the queue side ([`WriterHandle`]) and starts the
//! task; `task` gathers jobs into batches and answers them;
//! `transaction` writes one batch; `parts` tracks split deliveries; `shares` is the per-gateway
//! fair share of the queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gmmp_codec::SplitLimits;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::StoreError;
use crate::events::EventFeed;
use crate::store::Db;
use crate::store::db::Reconnect;
use crate::store::deliveries::DeliveryRow;
use crate::store::events::{self, NewEvent};
use crate::store::mqtt_messages::MessageRow;
use crate::store::mqtt_presence::Presence;
use crate::store::retention::Purge;
use crate::store::splits::PartRow;
use crate::store::webhooks::WebhookCursor;

mod parts;
mod shares;
mod task;
mod transaction;

pub use parts::PartOutcome;
use parts::Splits;
pub use shares::{Queued, Shares};
use shares::{ShareHeld, lock_shares};
use task::Writer;

/// How often open splits are checked against their expiry.
const SPLIT_SWEEP: Duration = Duration::from_secs(1);

/// What became of a delivery handed to the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Its row is committed.
    Stored,
    /// A keyed delivery already stored: nothing was inserted.
    AlreadyStored,
}

type Reply = oneshot::Sender<Result<Committed, Arc<StoreError>>>;
type PartReply = oneshot::Sender<Result<PartOutcome, Arc<StoreError>>>;
type MqttReply = oneshot::Sender<Result<i64, Arc<StoreError>>>;
type PurgeReply = oneshot::Sender<Result<u64, StoreError>>;
type CursorReply = oneshot::Sender<Result<(), Arc<StoreError>>>;

/// A webhook cursor submitted to the writer: resolves once its batch
/// committed (or failed).
#[derive(Debug)]
pub struct CursorCommit(oneshot::Receiver<Result<(), Arc<StoreError>>>);

impl CursorCommit {
    /// Waits for the batch.
    pub async fn committed(self) -> Result<(), Arc<StoreError>> {
        self.0.await.map_err(|_| Arc::new(StoreError::WriterGone))?
    }

    /// The outcome if the batch has ended, without waiting; `None` while
    /// it has not.
    pub fn try_committed(&mut self) -> Option<Result<(), Arc<StoreError>>> {
        match self.0.try_recv() {
            Ok(result) => Some(result),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => {
                Some(Err(Arc::new(StoreError::WriterGone)))
            }
        }
    }
}

/// Contact times `(gw_id, unix ms, peer)`.
pub type LastSeen = Vec<(String, i64, String)>;

/// What the writer is handed.
#[derive(Debug)]
enum Job {
    Delivery(DeliveryRow, Reply),
    Part(PartRow, PartReply),
    LastSeen(LastSeen),
    Mqtt(MessageRow, MqttReply),
    Presence(Vec<Presence>),
    Events(Vec<NewEvent>),
    Purge(Purge, PurgeReply),
    WebhookCursor(WebhookCursor, CursorReply),
}

/// Counters of the writer, for logs and `/metrics`.
#[derive(Debug, Default)]
pub struct WriterMetrics {
    /// Rows per committed transaction, and its BEGIN-to-COMMIT time.
    pub histograms: BatchHistograms,
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
    /// Submissions refused because their gateway held its share.
    pub refused_over_share: AtomicU64,
    /// MQTT messages committed.
    pub mqtt_rows: AtomicU64,
    /// MQTT messages that waited for room in a full queue.
    pub mqtt_waited_full: AtomicU64,
    /// Parts of split deliveries committed.
    pub split_parts_stored: AtomicU64,
    /// Parts of split deliveries sent again (acknowledged, held already).
    pub split_parts_repeated: AtomicU64,
    /// Parts of split deliveries that fit no split (refused).
    pub split_parts_refused: AtomicU64,
    /// Split deliveries made whole.
    pub splits_completed: AtomicU64,
    /// Split deliveries given up before their last part.
    pub splits_abandoned: AtomicU64,
    /// Split deliveries open now.
    pub splits_open: AtomicU64,
}

/// The distribution of the writer's batches, beside the sums above: a
/// commit that is slow now and then, or batches that stay small under
/// load, show here and not in an average.
#[derive(Debug)]
pub struct BatchHistograms {
    /// Rows (deliveries, whole split deliveries, MQTT messages) per
    /// transaction.
    pub rows: Histogram,
    /// BEGIN to COMMIT, seconds.
    pub seconds: Histogram,
}

impl Default for BatchHistograms {
    fn default() -> Self {
        BatchHistograms {
            // 1, 2, 4 … 4,096 (`writer_batch_max` is 1,000 by default).
            rows: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            // 100 µs … 3.3 s by doubling: a commit on an idle SSD is well
            // under a millisecond; a stalled disk shows in the top buckets.
            seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
        }
    }
}

/// Why a row could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: answer rc 0x0F with a back-off.
    #[error("the delivery writer queue is full")]
    Full,
    /// The gateway holds its share of the queue already: answer rc 0x0F
    /// with a back-off.
    #[error("the gateway holds its share of the delivery writer queue")]
    OverShare,
    /// The writer has stopped.
    #[error("the delivery writer has stopped")]
    Closed,
}

/// Why a retention batch removed nothing.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// The writer has stopped.
    #[error("the writer has stopped")]
    Closed,
    /// The batch failed and was rolled back.
    #[error(transparent)]
    Store(StoreError),
}

/// The sessions' side of the writer.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Job>,
    metrics: Arc<WriterMetrics>,
    shares: Arc<Mutex<Shares>>,
    events: Arc<EventFeed>,
}

impl WriterHandle {
    /// Queues `row`; the returned future resolves once the row is
    /// committed, found already stored, or failed. Its gateway's place in
    /// the queue ([`Shares`]) is held until then.
    pub fn submit(&self, row: DeliveryRow) -> Result<Queued<Committed>, SubmitError> {
        let gw_id = row.gw_id.clone();
        self.queue(&gw_id, |reply| Job::Delivery(row, reply))
    }

    /// Queues one part of a split delivery; the future resolves once the
    /// part is committed (and, for the last part, the whole delivery),
    /// recognised as a repeat, refused, or failed.
    pub fn submit_part(&self, part: PartRow) -> Result<Queued<PartOutcome>, SubmitError> {
        let gw_id = part.gw_id.clone();
        self.queue(&gw_id, |reply| Job::Part(part, reply))
    }

    /// Queues the job `make` builds around its reply, if the queue has
    /// room and `gw_id` is under its share.
    fn queue<T>(
        &self,
        gw_id: &str,
        make: impl FnOnce(oneshot::Sender<Result<T, Arc<StoreError>>>) -> Job,
    ) -> Result<Queued<T>, SubmitError> {
        let permit = match self.tx.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Full(())) => {
                self.metrics.refused_full.fetch_add(1, Ordering::Relaxed);
                return Err(SubmitError::Full);
            }
            Err(mpsc::error::TrySendError::Closed(())) => return Err(SubmitError::Closed),
        };
        if !self.lock_shares().take(gw_id) {
            self.metrics
                .refused_over_share
                .fetch_add(1, Ordering::Relaxed);
            return Err(SubmitError::OverShare);
        }
        let share = ShareHeld::new(self.shares.clone(), gw_id);
        let (reply, rx) = oneshot::channel();
        permit.send(make(reply));
        Ok(Queued::new(rx, share))
    }

    fn lock_shares(&self) -> std::sync::MutexGuard<'_, Shares> {
        lock_shares(&self.shares)
    }

    /// Queues an MQTT message, waiting for room while the queue is full
    /// (back-pressure, see the module docs); the receiver resolves with
    /// the message's row id once it is committed, or with the failure.
    pub async fn submit_mqtt(
        &self,
        row: MessageRow,
    ) -> Result<oneshot::Receiver<Result<i64, Arc<StoreError>>>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job::Mqtt(row, reply)) {
            Ok(()) => Ok(rx),
            Err(mpsc::error::TrySendError::Full(job)) => {
                self.metrics
                    .mqtt_waited_full
                    .fetch_add(1, Ordering::Relaxed);
                self.tx.send(job).await.map_err(|_| SubmitError::Closed)?;
                Ok(rx)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SubmitError::Closed),
        }
    }

    /// Hands over changes of MQTT clients' online state, waiting for room
    /// in the queue; `Closed` once the writer has stopped.
    pub async fn record_presence(&self, changes: Vec<Presence>) -> Result<(), SubmitError> {
        self.tx
            .send(Job::Presence(changes))
            .await
            .map_err(|_| SubmitError::Closed)
    }

    /// Hands over events to commit with the next batch (see the module
    /// docs), waiting for room in the queue; `Closed` once the writer has
    /// stopped.
    pub async fn record_events(&self, events: Vec<NewEvent>) -> Result<(), SubmitError> {
        if events.is_empty() {
            return Ok(());
        }
        self.tx
            .send(Job::Events(events))
            .await
            .map_err(|_| SubmitError::Closed)
    }

    /// Queues `event` behind the jobs queued now, so it keeps its place
    /// among the rows of its gateway (a `gateway_online` before the
    /// gateway's first delivery, a `gateway_offline` after its last).
    /// When the queue is full it is noted for the flush task instead,
    /// which hands it over once there is room (in order among the noted).
    pub fn record_event(&self, event: NewEvent) {
        if let Err(refused) = self.tx.try_send(Job::Events(vec![event]))
            && let Job::Events(events) = refused.into_inner()
        {
            for event in events {
                self.events.note(event);
            }
        }
    }

    /// Queues an MQTT client's online state behind the jobs queued now,
    /// as [`record_event`](Self::record_event) does for events: its
    /// `mqtt_online` before the client's first message, its
    /// `mqtt_offline` after its last. Gives the change back when the queue
    /// is full, for the caller to note for the flush task.
    pub fn try_record_presence(&self, change: Presence) -> Result<(), Vec<Presence>> {
        if let Err(refused) = self.tx.try_send(Job::Presence(vec![change]))
            && let Job::Presence(changes) = refused.into_inner()
        {
            return Err(changes);
        }
        Ok(())
    }

    /// Removes one retention batch in a transaction of its own (see the
    /// module docs), waiting for room in the queue; the rows removed.
    pub async fn purge(&self, purge: Purge) -> Result<u64, PurgeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Purge(purge, reply))
            .await
            .map_err(|_| PurgeError::Closed)?;
        rx.await
            .map_err(|_| PurgeError::Closed)?
            .map_err(PurgeError::Store)
    }

    /// Moves webhook `id`'s cursor to `cursor` (and clears its failure
    /// state) in the next batch, waiting for room in the queue; the
    /// returned [`CursorCommit`] resolves once that is committed. In the
    /// writer's batch rather than on a connection of its own, for the
    /// reason contact times are (module docs): a write beside the writer
    /// stalls every delivery in flight.
    pub async fn submit_webhook_cursor(
        &self,
        id: i64,
        cursor: i64,
    ) -> Result<CursorCommit, Arc<StoreError>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::WebhookCursor(WebhookCursor { id, cursor }, reply))
            .await
            .map_err(|_| Arc::new(StoreError::WriterGone))?;
        Ok(CursorCommit(rx))
    }

    /// The outbox's committed head, announced after each batch.
    pub fn events(&self) -> &Arc<EventFeed> {
        &self.events
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

    /// Jobs queued for the writer now (deliveries, parts, MQTT messages,
    /// contact times), not yet taken into a batch.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// Starts the writer on a connection of its own to `db`, with the open
/// splits read back from it. It runs until `stop` is cancelled, then
/// commits whatever is still queued and returns.
pub async fn spawn(
    db: &Db,
    capacity: usize,
    batch_max: usize,
    split_limits: SplitLimits,
    stop: CancellationToken,
) -> Result<(WriterHandle, tokio::task::JoinHandle<()>), StoreError> {
    let mut conn = db.dedicated().await?;
    let splits = Splits::load(&mut conn.conn(), split_limits).await?;
    let events = Arc::new(EventFeed::new(events::last_id(&mut conn.conn()).await?));
    let (tx, rx) = mpsc::channel(capacity);
    let metrics = Arc::new(WriterMetrics::default());
    metrics
        .splits_open
        .store(splits.open_count() as u64, Ordering::Relaxed);
    let writer = Writer {
        conn: Some(conn),
        reconnect: Reconnect::new(db.clone()),
        splits,
        split_limits,
        metrics: metrics.clone(),
        events: events.clone(),
    };
    // The writer runs on a thread and runtime of its own. A batch is
    // several round trips to SQLite's worker thread (BEGIN, the inserts,
    // COMMIT); on the shared runtime the writer task waited behind every
    // other ready task (HTTP streams, webhooks, sessions) after each of
    // them, and every acknowledgement of the batch waited with it.
    let (started, ready) = oneshot::channel();
    // What the thread's run ended with: a panic is carried out to the
    // task below, which raises it as the task's own.
    let (ended, end) = oneshot::channel::<std::thread::Result<()>>();
    std::thread::Builder::new()
        .name("omp-writer".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => {
                    let _ = started.send(Ok(()));
                    let run = std::panic::AssertUnwindSafe(|| {
                        runtime.block_on(writer.run(rx, batch_max, stop))
                    });
                    let _ = ended.send(std::panic::catch_unwind(run));
                }
                Err(source) => {
                    let _ = started.send(Err(source));
                }
            }
        })
        .map_err(|source| StoreError::WriterThread { source })?;
    match ready.await {
        Ok(Ok(())) => {}
        Ok(Err(source)) => return Err(StoreError::WriterThread { source }),
        Err(_) => {
            return Err(StoreError::WriterThread {
                source: std::io::Error::other("the thread ended before its runtime started"),
            });
        }
    }
    // Awaitable as a task, as the server's other parts are, without a
    // thread of the blocking pool held for the server's lifetime to join
    // the writer's.
    let task = tokio::spawn(async move {
        if let Ok(Err(panic)) = end.await {
            std::panic::resume_unwind(panic);
        }
    });
    let shares = Arc::new(Mutex::new(Shares::new(capacity)));
    Ok((
        WriterHandle {
            tx,
            metrics,
            shares,
            events,
        },
        task,
    ))
}
