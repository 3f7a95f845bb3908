//! The writer task: gathers the queued jobs into batches, commits each
//! batch (`transaction`), answers every job of it, and keeps its own
//! connection (made again when PostgreSQL drops it).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use gmmp_codec::SplitLimits;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::parts::{PartWrite, Splits};
use super::transaction::{self, Batch, BatchOutcomes};
use super::{Committed, Job, PartOutcome, SPLIT_SWEEP, WriterMetrics};
use crate::error::StoreError;
use crate::events::EventFeed;
use crate::store::db::Reconnect;
use crate::store::retention;
use crate::store::{Backend, Connection};

pub(super) struct Writer {
    /// `None` while a lost PostgreSQL connection is being replaced.
    pub(super) conn: Option<Connection>,
    pub(super) reconnect: Reconnect,
    pub(super) splits: Splits,
    pub(super) split_limits: SplitLimits,
    pub(super) metrics: Arc<WriterMetrics>,
    pub(super) events: Arc<EventFeed>,
}

impl Writer {
    pub(super) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Job>,
        batch_max: usize,
        stop: CancellationToken,
    ) {
        let mut sweep = tokio::time::interval(SPLIT_SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Batch::default();
        // A job that ended the last batch, to start the next one.
        let mut carried = None;
        loop {
            let first = if let Some(job) = carried.take() {
                Some(job)
            } else {
                tokio::select! {
                    item = rx.recv() => item,
                    _ = sweep.tick() => {
                        self.splits.expire(&mut batch.abandoned);
                        if !batch.abandoned.is_empty() {
                            self.commit(&mut batch).await;
                        }
                        continue;
                    }
                    () = stop.cancelled() => {
                        // Refuse new rows, then commit what is queued.
                        rx.close();
                        rx.recv().await
                    }
                }
            };
            let Some(job) = first else { break };
            let mut next = Some(job);
            let mut purge = None;
            while let Some(job) = next.take() {
                match job {
                    Job::Delivery(row, reply) => {
                        batch.rows.push(row);
                        batch.replies.push(reply);
                    }
                    Job::Part(part, reply) => match self.splits.plan(part, &mut batch.abandoned) {
                        Ok(write) => {
                            batch.parts.push(write);
                            batch.part_replies.push(reply);
                        }
                        Err(refusal) => {
                            self.metrics
                                .split_parts_refused
                                .fetch_add(1, Ordering::Relaxed);
                            let _ = reply.send(Ok(PartOutcome::Refused(refusal)));
                        }
                    },
                    Job::LastSeen(batch_seen) => batch.seen.extend(batch_seen),
                    Job::Mqtt(row, reply) => {
                        batch.mqtt.push(row);
                        batch.mqtt_replies.push(reply);
                    }
                    Job::Presence(changes) if batch.has_messages_of(&changes) => {
                        carried = Some(Job::Presence(changes));
                    }
                    Job::Presence(changes) => batch.presence.extend(changes),
                    Job::Events(events) if batch.has_rows_of(&events) => {
                        carried = Some(Job::Events(events));
                    }
                    Job::Events(events) => batch.events.extend(events),
                    Job::Purge(p, reply) => purge = Some((p, reply)),
                    Job::WebhookCursor(c, reply) => {
                        batch.cursors.push(c);
                        batch.cursor_replies.push(reply);
                    }
                }
                if batch.jobs() < batch_max && purge.is_none() && carried.is_none() {
                    next = rx.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.commit(&mut batch).await;
            }
            if let Some((p, reply)) = purge {
                let result = match self.connection().await {
                    Ok(conn) => retention::run(&mut conn.conn(), p).await,
                    Err(e) => Err(e),
                };
                if result.is_err() {
                    self.check_connection().await;
                }
                let _ = reply.send(result);
            }
        }
        if let Some(conn) = self.conn.take()
            && let Err(e) = conn.close().await
        {
            tracing::warn!(error = %e, "closing the writer connection failed");
        }
    }

    /// The connection, made again first when it was lost (PostgreSQL).
    async fn connection(&mut self) -> Result<&mut Connection, StoreError> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let mut conn = self.reconnect.attempt().await?;
                // What the tracker holds of open splits is what the
                // database says, as after any failed batch.
                self.splits = Splits::load(&mut conn.conn(), self.split_limits).await?;
                tracing::info!("the writer's database connection is back");
                conn
            }
        };
        Ok(self.conn.insert(conn))
    }

    /// After a failure on PostgreSQL: drops the connection when it no
    /// longer answers, so the next batch makes a new one. A SQLite
    /// connection is a file and is kept.
    async fn check_connection(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if conn.backend() == Backend::Postgres && conn.ping().await.is_err() {
            tracing::warn!(
                "the writer's database connection is lost; batches fail until it is back"
            );
            self.conn = None;
        }
    }

    /// Commits `batch` and answers every job of it; leaves it empty.
    async fn commit(&mut self, batch: &mut Batch) {
        let started = Instant::now();
        let result = match self.connection().await {
            Ok(conn) => transaction::commit(&mut conn.conn(), batch).await,
            Err(e) => Err(e),
        };
        let took = started.elapsed();
        let metrics = &self.metrics;
        let n = batch.rows.len() as u64;
        match result {
            Ok(BatchOutcomes {
                rows: outcomes,
                whole,
                mqtt_ids,
                last_event,
            }) => {
                self.events.committed(last_event);
                let again = outcomes
                    .iter()
                    .chain(&whole)
                    .filter(|o| **o == Committed::AlreadyStored)
                    .count() as u64;
                let stored = n + whole.len() as u64;
                metrics.batches.fetch_add(1, Ordering::Relaxed);
                metrics.rows.fetch_add(stored - again, Ordering::Relaxed);
                metrics.already_stored.fetch_add(again, Ordering::Relaxed);
                let rows = stored + mqtt_ids.len() as u64;
                metrics.histograms.rows.observe(rows as f64);
                metrics.histograms.seconds.observe(took.as_secs_f64());
                self.splits
                    .committed(&batch.parts, &batch.abandoned, metrics);
                for (reply, outcome) in batch.replies.drain(..).zip(outcomes) {
                    // A session that went away no longer needs the answer.
                    let _ = reply.send(Ok(outcome));
                }
                metrics
                    .mqtt_rows
                    .fetch_add(mqtt_ids.len() as u64, Ordering::Relaxed);
                for (reply, id) in batch.mqtt_replies.drain(..).zip(mqtt_ids) {
                    let _ = reply.send(Ok(id));
                }
                for reply in batch.cursor_replies.drain(..) {
                    let _ = reply.send(Ok(()));
                }
                let mut whole = whole.into_iter();
                for (write, reply) in batch.parts.drain(..).zip(batch.part_replies.drain(..)) {
                    let outcome = match write {
                        PartWrite::Open(..) | PartWrite::Add(..) => PartOutcome::Stored,
                        PartWrite::Touch(..) => PartOutcome::Repeated,
                        PartWrite::Complete(..) => {
                            PartOutcome::Completed(whole.next().unwrap_or(Committed::Stored))
                        }
                    };
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(rows = n, parts = batch.parts.len(), mqtt = batch.mqtt.len(),
                    error = %e, "delivery batch failed; none acknowledged");
                metrics.failed_rows.fetch_add(n, Ordering::Relaxed);
                let e = Arc::new(e);
                for reply in batch.replies.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
                for reply in batch.part_replies.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
                for reply in batch.mqtt_replies.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
                for reply in batch.cursor_replies.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
                batch.parts.clear();
                self.check_connection().await;
                // The tracker took this batch's parts as if committed; the
                // database says what really is (read again on a new
                // connection when this one is lost).
                if let Some(conn) = self.conn.as_mut() {
                    match Splits::load(&mut conn.conn(), self.split_limits).await {
                        Ok(splits) => self.splits = splits,
                        Err(e) => tracing::error!(error = %e,
                            "open split deliveries could not be read back; keeping the last known"),
                    }
                }
            }
        }
        batch.rows.clear();
        batch.abandoned.clear();
        batch.seen.clear();
        batch.mqtt.clear();
        batch.presence.clear();
        batch.events.clear();
        batch.cursors.clear();
    }
}
