//! The dispatcher task: the one writer of a control's state after QUEUED.
//!
//! It reacts to `Event`s and to its timers (deadlines of controls in
//! flight, the next TTL expiry, a periodic sweep). Each change is
//! committed with [`crate::store::controls::transition`] before it is acted on or
//! announced on the `changed` channel (which wakes the API's `?wait=`).
//! A state change's event (the outbox, written by the database's trigger
//! on the timeline row) is announced on the [`EventFeed`] once its
//! statement has committed.
//! A database error is logged and the control stays as stored; the sweep
//! retries pushing, and a timed-out control is retried on the next tick.
//!
//! - this file: the task, its loop, start-up recovery, timers, commits;
//! - `push`: creating, cancelling and pushing controls to sessions;
//! - `answers`: sessions ending and the gateway's 0x0E / 0x17 / 0x11;
//! - `mqtt`: commands to MQTT devices.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

mod answers;
mod mqtt;
mod push;

use super::inflight::{InFlight, Left, Stage, Table};
use super::{ControlMetrics, ControlWatch, Event, Inbox, Live};
use crate::config::ControlConfig;
use crate::error::StoreError;
use crate::events::EventFeed;
use crate::store::controls::{self as rows, ControlState, Outcome};
use crate::store::db::Reconnect;
use crate::store::now_millis;
use crate::store::{Backend, Connection, Db};

/// How often QUEUED controls of live gateways are looked for regardless of
/// events.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// QUEUED controls read per push attempt of one gateway.
const PUSH_BATCH: i64 = 64;
/// Pause before retrying a change the database refused.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Response timeout used when a profile says 0.
const FALLBACK_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

struct Dispatcher {
    /// Its own connection (`Db::dedicated`): the dispatcher never waits
    /// for the API's pool.
    db: Connection,
    /// Makes `db` again after PostgreSQL dropped it.
    reconnect: Reconnect,
    config: ControlConfig,
    table: Table,
    live: HashMap<String, Live>,
    /// Gateways that may have QUEUED controls: pushing to any other needs
    /// no database read (a completion is not followed by an empty SELECT).
    maybe_queued: HashSet<String>,
    changed: Arc<ControlWatch>,
    events: Arc<EventFeed>,
    /// Something was committed since the outbox's head was last announced.
    events_pending: bool,
    metrics: Arc<ControlMetrics>,
    next_expiry: Option<i64>,
    mqtt: mqtt::MqttTable,
}

/// Recovers the controls left SENT or PROGRESS by the last run, then
/// starts the dispatcher; it runs until `stop` is cancelled.
pub async fn spawn(
    store: &Db,
    config: ControlConfig,
    inbox: Inbox,
    changed: Arc<ControlWatch>,
    events: Arc<EventFeed>,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, StoreError> {
    let mut db = store.dedicated().await?;
    let last_tid = rows::max_tid(&mut db.conn())
        .await?
        .and_then(|t| u32::try_from(t).ok());
    let mut d = Dispatcher {
        table: Table::new(last_tid),
        db,
        reconnect: Reconnect::new(store.clone()),
        config,
        live: HashMap::new(),
        maybe_queued: HashSet::new(),
        changed,
        events,
        events_pending: true,
        metrics: inbox.metrics.clone(),
        next_expiry: None,
        mqtt: mqtt::MqttTable::default(),
    };
    d.recover().await?;
    Ok(tokio::spawn(d.run(inbox, stop)))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Dispatcher {
    /// Makes the connection again when PostgreSQL has dropped it, so the
    /// sweep that follows retries what failed meanwhile. Until then every
    /// change fails and is logged, and each control stays as stored.
    async fn heal(&mut self) {
        if self.db.backend() != Backend::Postgres || self.db.ping().await.is_ok() {
            return;
        }
        match self.reconnect.attempt().await {
            Ok(conn) => {
                self.db = conn;
                tracing::info!("the control dispatcher's database connection is back");
            }
            Err(e) => tracing::warn!(error = %e,
                "the control dispatcher's database connection is lost; trying again at the next sweep"),
        }
    }

    async fn run(mut self, mut inbox: Inbox, stop: CancellationToken) {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.announce_events().await;
            let wake = [
                self.table.next_deadline(),
                self.mqtt.next_deadline(),
                self.next_expiry,
            ]
            .into_iter()
            .flatten()
            .min();
            // Due work first: under a steady stream of events the timer
            // branch below would never be the one selected.
            if wake.is_some_and(|at| at <= now_millis()) {
                self.on_timers().await;
                continue;
            }
            let sleep = match wake {
                Some(at) => {
                    Duration::from_millis(u64::try_from(at - now_millis()).unwrap_or(0).max(1))
                }
                None => SWEEP_EVERY,
            };
            tokio::select! {
                biased;
                () = stop.cancelled() => {
                    // The sessions' last words (their ends) are in the inbox.
                    while let Ok(event) = inbox.events.try_recv() {
                        self.handle(event).await;
                    }
                    break;
                }
                event = inbox.events.recv() => match event {
                    Some(event) => self.handle(event).await,
                    None => break,
                },
                () = tokio::time::sleep(sleep) => self.on_timers().await,
                _ = sweep.tick() => self.sweep().await,
            }
            self.metrics.in_flight.store(
                (self.table.len() + self.mqtt.len()) as u64,
                Ordering::Relaxed,
            );
        }
        self.announce_events().await;
        tracing::debug!(in_flight = self.table.len(), "control dispatcher stopped");
    }

    /// Start-up: SENT controls go back to QUEUED (their session died with
    /// the last run); PROGRESS ones wait for their 0x17 until their
    /// completion deadline. SENT MQTT commands go back to QUEUED too.
    async fn recover(&mut self) -> Result<(), StoreError> {
        let now = now_millis();
        let completion = millis(self.config.completion_timeout);
        let (mut requeued, mut waiting) = (0usize, 0usize);
        for c in rows::in_flight(&mut self.db.conn()).await? {
            let tid = c.tid.and_then(|t| u32::try_from(t).ok());
            match (c.state.as_str(), tid) {
                ("PROGRESS", Some(tid)) => {
                    let since = c.acknowledged_at.unwrap_or(now);
                    self.table.insert(
                        &c.gw_id,
                        InFlight {
                            id: c.id,
                            device_id: c.device_id,
                            control_type: u8::try_from(c.control_type).unwrap_or(0),
                            tid,
                            stage: Stage::Progress,
                            deadline: since.saturating_add(completion),
                        },
                    );
                    waiting += 1;
                }
                _ => {
                    let from = [ControlState::Sent, ControlState::Progress];
                    let outcome = Outcome::default();
                    rows::transition(
                        &mut self.db.conn(),
                        c.id,
                        &from,
                        ControlState::Queued,
                        now,
                        &outcome,
                    )
                    .await?;
                    requeued += 1;
                }
            }
        }
        for id in crate::store::mqtt_controls::requeue_sent(&mut self.db.conn(), now).await? {
            tracing::debug!(control_id = id, "MQTT command of the last run queued again");
            requeued += 1;
        }
        self.next_expiry = rows::next_expiry(&mut self.db.conn()).await?;
        self.maybe_queued = rows::gateways_with_queued(&mut self.db.conn())
            .await?
            .into_iter()
            .collect();
        if requeued + waiting > 0 {
            tracing::info!(
                requeued,
                waiting,
                "controls of the last run: SENT ones queued again, PROGRESS ones wait for their result"
            );
        }
        Ok(())
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Create { control, reply } => {
                let created = self.create(control).await;
                // The API request may have gone meanwhile.
                let _ = reply.send(created);
            }
            Event::Cancel { id, reply } => {
                let cancelled = self.cancel(id).await;
                let _ = reply.send(cancelled);
            }
            Event::Connected { gw_id, live } => {
                self.live.insert(gw_id.clone(), live);
                self.push(&gw_id).await;
            }
            Event::Disconnected { gw_id, session } => self.disconnected(&gw_id, session).await,
            Event::Response { about, rc } => self.response(&about, rc).await,
            Event::Notification {
                about,
                rc,
                data,
                reply,
            } => {
                let answer = self.notification(&about, rc, data).await;
                // The session may have gone meanwhile; nothing to answer then.
                let _ = reply.send(answer);
            }
            Event::LongSentence { about, reply } => {
                let answer = self.long_sentence(&about).await;
                let _ = reply.send(answer);
            }
            Event::MqttCreate { control, reply } => {
                let created = self.create_mqtt(control).await;
                let _ = reply.send(created);
            }
            Event::MqttConnected { client_id, live } => self.mqtt_connected(client_id, live).await,
            Event::MqttSubscriptions {
                client_id,
                session,
                filters,
            } => self.mqtt_subscriptions(&client_id, session, filters).await,
            Event::MqttDisconnected { client_id, session } => {
                self.mqtt_disconnected(&client_id, session).await
            }
            Event::MqttWritten {
                session,
                control_id,
            } => self.mqtt_written(session, control_id).await,
            Event::MqttAnswered {
                session,
                control_id,
                result,
            } => self.mqtt_answered(session, control_id, result).await,
        }
    }

    /// Commits a transition and announces it; false when the control was
    /// no longer in `from` or the commit failed (logged).
    async fn commit(
        &mut self,
        id: i64,
        from: &[ControlState],
        to: ControlState,
        outcome: &Outcome,
    ) -> Result<bool, StoreError> {
        let moved =
            rows::transition(&mut self.db.conn(), id, from, to, now_millis(), outcome).await?;
        if moved {
            let counter = match to {
                ControlState::Sent => Some(&self.metrics.sent),
                ControlState::Queued => Some(&self.metrics.requeued),
                other => self.metrics.ended(other),
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            self.events_pending = true;
            self.changed.changed(id);
        }
        Ok(moved)
    }

    /// Announces the outbox's newest id if this task committed since the
    /// last announcement (read after the commit, on its own connection).
    async fn announce_events(&mut self) {
        if !self.events_pending {
            return;
        }
        match crate::store::events::last_id(&mut self.db.conn()).await {
            Ok(id) => {
                self.events_pending = false;
                self.events.committed(id);
            }
            Err(e) => tracing::warn!(error = %e, "newest event id not read; announced later"),
        }
    }

    /// Deadlines of controls in flight, and TTL expiry of queued ones.
    async fn on_timers(&mut self) {
        let now = now_millis();
        for due in self.table.due(now) {
            let from = match due.control.stage {
                Stage::Sent { .. } => ControlState::Sent,
                Stage::Progress => ControlState::Progress,
            };
            tracing::info!(gw_id = %due.gw_id, control_id = due.control.id, stage = from.as_str(),
                "control not answered in time; TIMEOUT");
            if self
                .finish(
                    &due.gw_id,
                    &due.control,
                    &[from],
                    ControlState::Timeout,
                    &Outcome::default(),
                    Left::WithoutResult,
                )
                .await
                .is_err()
            {
                // Not recorded: try again in a while rather than spin now.
                self.table.postpone(
                    &due.gw_id,
                    due.control.id,
                    now.saturating_add(millis(RETRY_AFTER)),
                );
            }
        }
        self.mqtt_timers(now).await;
        if self.next_expiry.is_some_and(|at| at <= now) {
            self.expire(now).await;
        }
    }

    async fn expire(&mut self, now: i64) {
        match rows::expire_due(&mut self.db.conn(), now).await {
            Ok(ids) => {
                self.metrics
                    .expired
                    .fetch_add(ids.len() as u64, Ordering::Relaxed);
                self.events_pending |= !ids.is_empty();
                for id in ids {
                    tracing::info!(control_id = id, "control TTL passed while QUEUED; EXPIRED");
                    self.changed.changed(id);
                }
            }
            Err(e) => tracing::error!(error = %e, "queued controls not expired: database error"),
        }
        self.next_expiry = match rows::next_expiry(&mut self.db.conn()).await {
            Ok(at) => at,
            // Retry in a while rather than at once.
            Err(_) => Some(now.saturating_add(millis(RETRY_AFTER))),
        };
    }

    /// Pushes for every live gateway with QUEUED controls.
    async fn sweep(&mut self) {
        self.heal().await;
        let gateways = match rows::gateways_with_queued(&mut self.db.conn()).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "control sweep failed: database error");
                return;
            }
        };
        for gw_id in gateways {
            if self.live.contains_key(&gw_id) {
                self.maybe_queued.insert(gw_id.clone());
                self.push(&gw_id).await;
            }
        }
        for client_id in self.mqtt.live_clients() {
            self.mqtt_push(&client_id).await;
        }
    }
}
