//! What the gateways say: sessions ending, control responses (0x0E),
//! notifications (0x17), long sentence requests (0x11), and how a control
//! ends.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use gmmp_codec::{ControlType, ResultCode};

use super::{Dispatcher, millis};
use crate::control::ControlRef;
use crate::control::inflight::{InFlight, Left};
use crate::escaped;
use crate::store::controls::{self as rows, ControlState, Outcome};
use crate::store::now_millis;

impl Dispatcher {
    pub(super) async fn disconnected(&mut self, gw_id: &str, session: u64) {
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

    pub(super) async fn response(&mut self, about: &ControlRef, rc: ResultCode) {
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

    pub(super) async fn notification(
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
            tracing::warn!(gw_id, tid = about.tid, device_id = %escaped::text(&about.device_id),
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
    pub(super) async fn finish(
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

    pub(super) async fn long_sentence(&mut self, about: &ControlRef) -> Result<Option<Bytes>, ()> {
        let Some(c) = self.table.match_long_sentence(
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
        match rows::data(&mut self.db.conn(), c.id).await {
            Ok(data) => Ok(Some(Bytes::from(data.unwrap_or_default()))),
            Err(e) => {
                tracing::error!(gw_id = %about.gw_id, control_id = c.id, error = %e,
                    "control data not read");
                Err(())
            }
        }
    }
}
