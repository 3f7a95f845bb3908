//! What the session loop does with the engine's events, and how it feeds
//! the engine from the spool.

use std::time::Instant;

use super::*;

impl Agent {
    pub(super) async fn on_event<T: Transport>(
        &mut self,
        event: Event,
        engine: &mut Engine,
        transport: &mut T,
        backoff: &mut Backoff,
        auth_id: &str,
        commands: &mut JoinSet<(PendingControl, controls::Outcome)>,
    ) -> Result<Option<SessionEnd>, AgentError> {
        let state_dir = &self.config.state_dir;
        match event {
            Event::IdentityChanged(id) => {
                tracing::info!(gw_id = %id.gw_id, devices = id.devices.len(), "identity assigned");
                if let Err(e) = identity::save(state_dir, auth_id, &id) {
                    tracing::warn!(error = %e, "cannot store the identity; a restart registers again");
                }
            }
            Event::IdentityCleared => {
                if let Err(e) = identity::remove(state_dir) {
                    tracing::warn!(error = %e, "cannot remove the stale identity");
                }
            }
            Event::State(state) => tracing::info!(state = state.name(), "OMP session"),
            Event::Ready {
                heartbeat_period,
                report_period,
                response_timeout,
            } => {
                tracing::info!(
                    ?heartbeat_period,
                    ?report_period,
                    ?response_timeout,
                    "session ready"
                );
                backoff.reset();
            }
            Event::Delivered { seq } => match self.spool.remove(seq) {
                Ok(()) | Err(SpoolError::NotPending { .. }) => {}
                Err(e) => return Err(e.into()),
            },
            Event::DeliveryRejected { seq, rc } => {
                self.set_aside(seq, &format!("the OMP answered {rc:?}"))?
            }
            Event::Unsendable { seq, error } => self.set_aside(seq, &error.to_string())?,
            Event::Control(control) => match controls::plan(&self.config, &control) {
                controls::Plan::Done((rc, body)) => {
                    engine.complete_control(&control, rc, body, Instant::now())
                }
                controls::Plan::Reset => {
                    engine.complete_control(
                        &control,
                        gmmp_codec::ResultCode::OK,
                        Bytes::new(),
                        Instant::now(),
                    );
                    self.reset_pending = true;
                }
                controls::Plan::Module(op) => {
                    // The module may take a command's timeout to answer
                    // (bounded: shutdown waits for it); sources are spooled
                    // meanwhile.
                    let (rc, body) = self
                        .spooling_while(controls::run_module_op(transport, op))
                        .await;
                    engine.complete_control(&control, rc, body, Instant::now());
                }
                controls::Plan::Command(command) => {
                    commands.spawn(controls::run_command(command, control));
                }
            },
            Event::ControlState { report_on, running } => {
                tracing::info!(
                    report_on,
                    running,
                    "report/operation state changed by the OMP"
                );
            }
            Event::ReportDue => {
                if let Some(text) = &self.config.sources.fixed_payload {
                    let delivery = SpooledDelivery {
                        device: None,
                        report_type: self.config.report_type,
                        media_type: self.config.media_type,
                        payload: Bytes::copy_from_slice(text.as_bytes()),
                        spooled_at: 0,
                    };
                    self.accept(SourceMessage {
                        delivery,
                        reply: None,
                    });
                }
            }
            Event::Close { reason } => return Ok(Some(SessionEnd::Lost(reason))),
        }
        Ok(None)
    }

    /// Hands spooled deliveries to the engine while it has slots.
    pub(super) fn feed(&mut self, engine: &mut Engine, now: Instant) -> Result<(), AgentError> {
        for seq in self.abandoned.drain(..) {
            engine.abandon_delivery(seq);
        }
        while engine.delivery_slots(now) > 0 {
            let Some(seq) = self.spool.next_after(self.cursor) else {
                return Ok(());
            };
            let previous = self.cursor.replace(seq);
            let delivery = match self.spool.read(seq) {
                Ok(d) => d,
                Err(e @ SpoolError::BadRecord { .. }) => {
                    self.set_aside(seq, &e.to_string())?;
                    continue;
                }
                Err(e) => {
                    // Left in the spool: a restart tries it again.
                    tracing::error!(seq, error = %e, "cannot read a spooled delivery; skipped for now");
                    continue;
                }
            };
            match engine.send_delivery(seq, delivery, now) {
                Ok(()) => {}
                // Its T-ID frees when an older delivery ends: try again then.
                Err(EngineError::TidInUse { .. }) => {
                    self.cursor = previous;
                    return Ok(());
                }
                Err(e) => self.set_aside(seq, &e.to_string())?,
            }
        }
        Ok(())
    }
}
