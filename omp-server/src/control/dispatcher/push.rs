//! Getting controls to gateways: creating and cancelling them for the
//! API, and pushing a gateway's QUEUED controls, oldest first, into its
//! session while its targets have free slots.

use bytes::{Bytes, BytesMut};
use gmmp_codec::{ControlRequest, ControlType, DeviceId, Frame, GwId, Header};

use super::{Dispatcher, FALLBACK_RESPONSE_TIMEOUT, PUSH_BATCH, millis};
use crate::control::Live;
use crate::control::inflight::{InFlight, Stage};
use crate::error::StoreError;
use crate::store::controls::{self as rows, ControlState, NewControl, Outcome, QueuedControl};
use crate::store::now_millis;

impl Dispatcher {
    /// Stores a new control QUEUED, then pushes its gateway's queue.
    pub(super) async fn create(&mut self, control: NewControl) -> Result<Option<i64>, StoreError> {
        let Some(id) = rows::insert(&mut self.db.conn(), &control).await? else {
            return Ok(None);
        };
        self.events_pending = true;
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
    pub(super) async fn cancel(&mut self, id: i64) -> Result<bool, StoreError> {
        self.commit(
            id,
            &[ControlState::Queued],
            ControlState::Cancelled,
            &Outcome::default(),
        )
        .await
    }

    /// Pushes the QUEUED controls of `gw_id` that have a free slot, oldest
    /// first, if the gateway is live.
    pub(super) async fn push(&mut self, gw_id: &str) {
        if !self.maybe_queued.contains(gw_id) {
            return;
        }
        let Some(live) = self.live.get(gw_id).cloned() else {
            return;
        };
        let queued = match rows::queued(&mut self.db.conn(), gw_id, now_millis(), PUSH_BATCH).await
        {
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
    pub(super) async fn send_one(
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
