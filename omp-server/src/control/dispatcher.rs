//! The dispatcher task: the one writer of a control's state after QUEUED.
//!
//! It reacts to [`Event`]s and to its timers (deadlines of controls in
//! flight, the next TTL expiry, a periodic sweep). Each change is
//! committed with [`store::controls::transition`] before it is acted on or
//! announced on the `changed` channel (which wakes the API's `?wait=`).
//! A database error is logged and the control stays as stored; the sweep
//! retries pushing, and a timed-out control is retried on the next tick.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gmmp_codec::{ControlRequest, ControlType, DeviceId, Frame, GwId, Header, ResultCode};
use tokio_util::sync::CancellationToken;

use super::inflight::{InFlight, Left, Stage, Table};
use super::{ControlMetrics, ControlRef, Event, Inbox, Live};
use crate::config::ControlConfig;
use crate::error::StoreError;
use crate::http::ControlWatch;
use crate::store::controls::{self as rows, ControlState, NewControl, Outcome, QueuedControl};
use crate::store::now_millis;

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
    /// Its own connection: the dispatcher never waits for the API's pool.
    db: sqlx::SqliteConnection,
    config: ControlConfig,
    table: Table,
    live: HashMap<String, Live>,
    /// Gateways that may have QUEUED controls: pushing to any other needs
    /// no database read (a completion is not followed by an empty SELECT).
    maybe_queued: HashSet<String>,
    changed: Arc<ControlWatch>,
    metrics: Arc<ControlMetrics>,
    next_expiry: Option<i64>,
}

/// Recovers the controls left SENT or PROGRESS by the last run, then
/// starts the dispatcher; it runs until `stop` is cancelled.
pub async fn spawn(
    mut db: sqlx::SqliteConnection,
    config: ControlConfig,
    inbox: Inbox,
    changed: Arc<ControlWatch>,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, StoreError> {
    let last_tid = rows::max_tid(&mut db)
        .await?
        .and_then(|t| u32::try_from(t).ok());
    let mut d = Dispatcher {
        table: Table::new(last_tid),
        db,
        config,
        live: HashMap::new(),
        maybe_queued: HashSet::new(),
        changed,
        metrics: inbox.metrics.clone(),
        next_expiry: None,
    };
    d.recover().await?;
    Ok(tokio::spawn(d.run(inbox, stop)))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Dispatcher {
    async fn run(mut self, mut inbox: Inbox, stop: CancellationToken) {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wake = [self.table.next_deadline(), self.next_expiry]
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
            self.metrics
                .in_flight
                .store(self.table.len() as u64, Ordering::Relaxed);
        }
        tracing::debug!(in_flight = self.table.len(), "control dispatcher stopped");
    }

    /// Start-up: SENT controls go back to QUEUED (their session died with
    /// the last run); PROGRESS ones wait for their 0x17 until their
    /// completion deadline.
    async fn recover(&mut self) -> Result<(), StoreError> {
        let now = now_millis();
        let completion = millis(self.config.completion_timeout);
        let (mut requeued, mut waiting) = (0usize, 0usize);
        for c in rows::in_flight(&mut self.db).await? {
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
                        &mut self.db,
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
        self.next_expiry = rows::next_expiry(&mut self.db).await?;
        self.maybe_queued = rows::gateways_with_queued(&mut self.db)
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
        }
    }

    /// Stores a new control QUEUED, then pushes its gateway's queue.
    async fn create(&mut self, control: NewControl) -> Result<Option<i64>, StoreError> {
        let Some(id) = rows::insert(&mut self.db, &control).await? else {
            return Ok(None);
        };
        let at = control.expires_at;
        self.next_expiry = Some(self.next_expiry.map_or(at, |t| t.min(at)));
        let gw_id = control.gw_id.as_str();
        let live = self.live.get(gw_id).cloned();
        let alone = !self.maybe_queued.contains(gw_id);
        match live {
            // Nothing queued before it and a free slot: send it straight
            // away, without reading the queue back.
            Some(live)
                if alone
                    && self.table.count(gw_id, &control.device_id) < self.config.max_in_flight =>
            {
                let queued = QueuedControl {
                    id,
                    device_id: control.device_id,
                    control_type: i64::from(control.control_type),
                    data: control.data,
                    expires_at: control.expires_at,
                };
                if let Err(e) = self.send_one(gw_id, &live, &queued).await {
                    tracing::error!(gw_id, control_id = id, error = %e,
                        "control not sent: database error; it stays queued");
                    self.maybe_queued.insert(control.gw_id.clone());
                }
            }
            _ => {
                self.maybe_queued.insert(control.gw_id.clone());
                self.push(&control.gw_id).await;
            }
        }
        Ok(Some(id))
    }

    /// QUEUED → CANCELLED; false in any other state.
    async fn cancel(&mut self, id: i64) -> Result<bool, StoreError> {
        self.commit(
            id,
            &[ControlState::Queued],
            ControlState::Cancelled,
            &Outcome::default(),
        )
        .await
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
        let moved = rows::transition(&mut self.db, id, from, to, now_millis(), outcome).await?;
        if moved {
            let counter = match to {
                ControlState::Sent => Some(&self.metrics.sent),
                ControlState::Queued => Some(&self.metrics.requeued),
                other => self.metrics.ended(other),
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            self.changed.changed(id);
        }
        Ok(moved)
    }

    /// Pushes the QUEUED controls of `gw_id` that have a free slot, oldest
    /// first, if the gateway is live.
    async fn push(&mut self, gw_id: &str) {
        if !self.maybe_queued.contains(gw_id) {
            return;
        }
        let Some(live) = self.live.get(gw_id).cloned() else {
            return;
        };
        let queued = match rows::queued(&mut self.db, gw_id, now_millis(), PUSH_BATCH).await {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(gw_id, error = %e, "cannot read the control queue");
                return;
            }
        };
        let mut all_sent = queued.len() < PUSH_BATCH as usize;
        for control in queued {
            if self.table.count(gw_id, &control.device_id) >= self.config.max_in_flight {
                all_sent = false;
                continue;
            }
            match self.send_one(gw_id, &live, &control).await {
                Ok(true) => {}
                Ok(false) => {
                    all_sent = false;
                    break;
                }
                Err(e) => {
                    tracing::error!(gw_id, control_id = control.id, error = %e,
                        "control not sent: database error");
                    all_sent = false;
                    break;
                }
            }
        }
        if all_sent {
            self.maybe_queued.remove(gw_id);
        }
    }

    /// Sends one QUEUED control; false when the session's outbox is full
    /// (stop pushing to this gateway for now).
    async fn send_one(
        &mut self,
        gw_id: &str,
        live: &Live,
        control: &QueuedControl,
    ) -> Result<bool, StoreError> {
        let tid = self.table.allocate_tid(gw_id);
        let frame = match control_frame(gw_id, live, control, tid) {
            Ok(frame) => frame,
            Err(reason) => {
                tracing::error!(gw_id, control_id = control.id, %reason, "control cannot be encoded; FAILED");
                self.commit(
                    control.id,
                    &[ControlState::Queued],
                    ControlState::Failed,
                    &Outcome::default(),
                )
                .await?;
                return Ok(true);
            }
        };
        let outcome = Outcome {
            tid: Some(tid),
            ..Outcome::default()
        };
        if !self
            .commit(
                control.id,
                &[ControlState::Queued],
                ControlState::Sent,
                &outcome,
            )
            .await?
        {
            // Cancelled (or expired) in the meantime.
            return Ok(true);
        }
        if live.outbox.push(frame).is_err() {
            tracing::info!(
                gw_id,
                control_id = control.id,
                "session outbox full; control queued again"
            );
            self.commit(
                control.id,
                &[ControlState::Sent],
                ControlState::Queued,
                &Outcome::default(),
            )
            .await?;
            self.maybe_queued.insert(gw_id.to_owned());
            return Ok(false);
        }
        let timeout = if live.response_timeout.is_zero() {
            FALLBACK_RESPONSE_TIMEOUT
        } else {
            live.response_timeout
        };
        tracing::info!(gw_id, control_id = control.id, tid, device_id = %control.device_id,
            control_type = %ControlType(u8::try_from(control.control_type).unwrap_or(0)).name(),
            "control sent");
        self.table.insert(
            gw_id,
            InFlight {
                id: control.id,
                device_id: control.device_id.clone(),
                control_type: u8::try_from(control.control_type).unwrap_or(0),
                tid,
                stage: Stage::Sent {
                    session: live.session,
                },
                deadline: now_millis().saturating_add(millis(timeout)),
            },
        );
        Ok(true)
    }

    async fn disconnected(&mut self, gw_id: &str, session: u64) {
        if self.live.get(gw_id).is_some_and(|l| l.session == session) {
            self.live.remove(gw_id);
        }
        for c in self.table.sent_on(gw_id, session) {
            let requeue = self
                .commit(
                    c.id,
                    &[ControlState::Sent],
                    ControlState::Queued,
                    &Outcome::default(),
                )
                .await;
            match requeue {
                Ok(_) => {
                    self.table.remove(gw_id, c.id, Left::WithoutResult);
                    self.maybe_queued.insert(gw_id.to_owned());
                    tracing::info!(
                        gw_id,
                        control_id = c.id,
                        "session ended before the control was answered; queued again"
                    );
                }
                Err(e) => tracing::error!(gw_id, control_id = c.id, error = %e,
                    "control not queued again: database error"),
            }
        }
        self.push(gw_id).await;
    }

    async fn response(&mut self, about: &ControlRef, rc: ResultCode) {
        let Some(c) = self.table.match_response(&about.gw_id, about.tid).cloned() else {
            tracing::info!(gw_id = %about.gw_id, tid = about.tid, rc = %rc,
                "control response for no control awaiting one; ignored");
            self.metrics.unmatched.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let outcome = Outcome {
            result_code: Some(rc.0),
            ..Outcome::default()
        };
        let gw_id = about.gw_id.as_str();
        if rc == ResultCode::OK {
            let deadline = now_millis().saturating_add(millis(self.config.completion_timeout));
            match self
                .commit(
                    c.id,
                    &[ControlState::Sent],
                    ControlState::Progress,
                    &outcome,
                )
                .await
            {
                Ok(true) => self.table.progress(gw_id, c.id, deadline),
                Ok(false) => {
                    self.table.remove(gw_id, c.id, Left::WithoutResult);
                }
                Err(e) => tracing::error!(gw_id, control_id = c.id, error = %e,
                    "control response not recorded: database error"),
            }
            return;
        }
        tracing::info!(gw_id, control_id = c.id, rc = %rc, "gateway refused the control");
        self.finish(
            gw_id,
            &c,
            &[ControlState::Sent],
            ControlState::Failed,
            &outcome,
            Left::WithoutResult,
        )
        .await
        .ok();
    }

    async fn notification(
        &mut self,
        about: &ControlRef,
        rc: ResultCode,
        data: Bytes,
    ) -> ResultCode {
        let gw_id = about.gw_id.as_str();
        let Some(c) = self
            .table
            .match_notification(gw_id, about.tid, &about.device_id, about.control_type)
            .cloned()
        else {
            if self.table.left(gw_id, about.tid) == Some(Left::WithResult) {
                // The gateway did not get our 0x18 and sends its result
                // again: acknowledge it again, store nothing.
                tracing::info!(
                    gw_id,
                    tid = about.tid,
                    "repeated notification of a control that has its result; acknowledged again"
                );
                return ResultCode::OK;
            }
            tracing::warn!(gw_id, tid = about.tid, device_id = %about.device_id,
                control_type = %ControlType(about.control_type).name(), rc = %rc,
                "notification for no control in flight; answering not found");
            self.metrics.unmatched.fetch_add(1, Ordering::Relaxed);
            return ResultCode::NOT_FOUND;
        };
        if c.tid != about.tid {
            tracing::info!(
                gw_id,
                control_id = c.id,
                tid = about.tid,
                control_tid = c.tid,
                "notification with another T-ID matched by device and control type"
            );
        }
        let to = if rc == ResultCode::OK {
            ControlState::Success
        } else {
            ControlState::Failed
        };
        let outcome = Outcome {
            result_code: Some(rc.0),
            result_data: (!data.is_empty()).then(|| data.to_vec()),
            ..Outcome::default()
        };
        let from = [ControlState::Sent, ControlState::Progress];
        match self
            .finish(gw_id, &c, &from, to, &outcome, Left::WithResult)
            .await
        {
            Ok(true) => ResultCode::OK,
            Ok(false) => ResultCode::NOT_FOUND,
            Err(()) => ResultCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Ends control `c` (a final state), frees its slot, pushes the next.
    async fn finish(
        &mut self,
        gw_id: &str,
        c: &InFlight,
        from: &[ControlState],
        to: ControlState,
        outcome: &Outcome,
        left: Left,
    ) -> Result<bool, ()> {
        match self.commit(c.id, from, to, outcome).await {
            Ok(moved) => {
                self.table.remove(gw_id, c.id, left);
                tracing::info!(
                    gw_id,
                    control_id = c.id,
                    state = to.as_str(),
                    "control ended"
                );
                self.push(gw_id).await;
                Ok(moved)
            }
            Err(e) => {
                tracing::error!(gw_id, control_id = c.id, state = to.as_str(), error = %e,
                    "control end not recorded: database error");
                Err(())
            }
        }
    }

    async fn long_sentence(&mut self, about: &ControlRef) -> Result<Option<Bytes>, ()> {
        let Some(c) = self.table.match_notification(
            &about.gw_id,
            about.tid,
            &about.device_id,
            about.control_type,
        ) else {
            tracing::info!(gw_id = %about.gw_id, tid = about.tid,
                "long sentence for no control in flight; answering not found");
            self.metrics.unmatched.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        };
        match rows::data(&mut self.db, c.id).await {
            Ok(data) => Ok(Some(Bytes::from(data.unwrap_or_default()))),
            Err(e) => {
                tracing::error!(gw_id = %about.gw_id, control_id = c.id, error = %e,
                    "control data not read");
                Err(())
            }
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
        if self.next_expiry.is_some_and(|at| at <= now) {
            self.expire(now).await;
        }
    }

    async fn expire(&mut self, now: i64) {
        match rows::expire_due(&mut self.db, now).await {
            Ok(ids) => {
                self.metrics
                    .expired
                    .fetch_add(ids.len() as u64, Ordering::Relaxed);
                for id in ids {
                    tracing::info!(control_id = id, "control TTL passed while QUEUED; EXPIRED");
                    self.changed.changed(id);
                }
            }
            Err(e) => tracing::error!(error = %e, "queued controls not expired: database error"),
        }
        self.next_expiry = match rows::next_expiry(&mut self.db).await {
            Ok(at) => at,
            // Retry in a while rather than at once.
            Err(_) => Some(now.saturating_add(millis(RETRY_AFTER))),
        };
    }

    /// Pushes for every live gateway with QUEUED controls.
    async fn sweep(&mut self) {
        let gateways = match rows::gateways_with_queued(&mut self.db).await {
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
    }
}

/// The encoded 0x0D of `control` for `gw_id` with T-ID `tid`. Data over
/// one body (2048 bytes) is left out: the gateway fetches it with long
/// sentence.
fn control_frame(
    gw_id: &str,
    live: &Live,
    control: &QueuedControl,
    tid: u32,
) -> Result<Bytes, String> {
    let data = control.data.as_deref().unwrap_or_default();
    let payload = if data.len() <= gmmp_codec::MAX_PAYLOAD_LEN {
        Bytes::copy_from_slice(data)
    } else {
        Bytes::new()
    };
    let control_type =
        u8::try_from(control.control_type).map_err(|_| "control type over 255".to_owned())?;
    let request = ControlRequest {
        domain_code: live.domain,
        gw_id: GwId::new("gw_id", gw_id).map_err(|e| e.to_string())?,
        device_id: DeviceId::new("device_id", &control.device_id).map_err(|e| e.to_string())?,
        control_type: ControlType(control_type),
        payload,
    };
    let mut header = Header::new(live.auth_id, live.auth_key, tid);
    header.origin_timestamp = u32::try_from(now_millis() / 1000).unwrap_or(0);
    let frame = Frame::new(header, request);
    let mut buf = BytesMut::with_capacity(frame.encoded_len());
    frame.encode(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}
