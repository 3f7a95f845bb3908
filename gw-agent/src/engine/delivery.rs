//! Deliveries: sending spooled data, matching responses, retries and the
//! OMP's back-off.
//!
//! A delivery over 2048 bytes travels as N parts with one T-ID
//! (`gmmp_codec::split`); the OMP answers each part, and the delivery is
//! done when all N answered STATUS_OK. A refusal sorts into three kinds:
//! the identity is stale (0x04, 0x06: register again, then send again),
//! a passing condition (0x09, 0x0C, 0x0E, 0x0F, 0x10, user-defined 0x80+:
//! send again after the back-off or `retry_delay`), anything else is final
//! ([`Event::DeliveryRejected`]).

use std::time::{Duration, Instant};

use gmmp_codec::{DeliveryRequest, DeviceId, Frame, ReportType, ResultCode, split};

use super::tid::delivery_tid;
use super::{Engine, EngineError, Event, Outstanding, Request, SessionState};
use crate::spool::SpooledDelivery;

/// A delivery awaiting its responses.
#[derive(Debug, Clone)]
pub(super) struct InFlight {
    pub(super) seq: u64,
    pub(super) delivery: SpooledDelivery,
    parts_left: usize,
}

/// How a refused delivery is handled.
enum Refusal {
    StaleIdentity,
    Passing,
    Final,
}

fn classify(rc: ResultCode) -> Refusal {
    match rc {
        ResultCode::PERMISSION_DENIED | ResultCode::NOT_FOUND => Refusal::StaleIdentity,
        ResultCode::REQUEST_TIMEOUT
        | ResultCode::INTERNAL_SERVER_ERROR
        | ResultCode::BAD_GATEWAY
        | ResultCode::SERVICE_UNAVAILABLE
        | ResultCode::GATEWAY_TIMEOUT => Refusal::Passing,
        ResultCode(0x80..=0xFF) => Refusal::Passing,
        _ => Refusal::Final,
    }
}

/// True when a delivery refused with `rc` will never be taken (the native
/// transport sorts the module's traced results the same way; a stale
/// identity counts as passing there, since the module registers itself).
pub(crate) fn refusal_is_final(rc: ResultCode) -> bool {
    matches!(classify(rc), Refusal::Final)
}

impl Engine {
    /// True unless Report Off or Pause holds deliveries.
    pub(super) fn deliveries_allowed(&self) -> bool {
        self.report_on && self.running
    }

    fn backing_off(&self, now: Instant) -> bool {
        self.backoff_until.is_some_and(|t| t > now)
    }

    /// How many new deliveries from the spool the engine takes now: zero
    /// unless ready, allowed, not backing off and not re-sending its own.
    pub fn delivery_slots(&self, now: Instant) -> usize {
        if self.state != SessionState::Ready
            || !self.deliveries_allowed()
            || self.backing_off(now)
            || !self.retry.is_empty()
        {
            return 0;
        }
        self.config
            .max_in_flight
            .max(1)
            .saturating_sub(self.in_flight())
    }

    /// Sends spooled delivery `seq`. Only when
    /// [`delivery_slots`](Self::delivery_slots) is above zero.
    pub fn send_delivery(
        &mut self,
        seq: u64,
        delivery: SpooledDelivery,
        now: Instant,
    ) -> Result<(), EngineError> {
        if self.delivery_slots(now) == 0 {
            return Err(EngineError::NoSlot {
                state: self.state.name(),
                in_flight: self.in_flight(),
            });
        }
        self.transmit_delivery(seq, delivery, 0, now)
    }

    /// Frames `delivery` under its T-ID (and, keyed, its spool time) and
    /// queues every part.
    fn transmit_delivery(
        &mut self,
        seq: u64,
        delivery: SpooledDelivery,
        attempts: u32,
        now: Instant,
    ) -> Result<(), EngineError> {
        let device_id = match &delivery.device {
            None => DeviceId::EMPTY,
            Some(name) => *self
                .identity
                .as_ref()
                .and_then(|i| i.devices.get(name))
                .ok_or_else(|| EngineError::UnknownDevice { name: name.clone() })?,
        };
        let tid = delivery_tid(seq);
        if self.outstanding.contains_key(&tid) {
            return Err(EngineError::TidInUse { tid });
        }
        let mut header = self.header(tid);
        if self.config.keyed_deliveries && delivery.spooled_at != 0 {
            header = header.with_timestamp(delivery.spooled_at).keyed();
        }
        let request = DeliveryRequest {
            domain_code: self.config.domain_code,
            gw_id: self.gw_id(),
            device_id,
            report_type: ReportType(delivery.report_type),
            media_type: delivery.media_type,
            payload: delivery.payload.clone(),
        };
        let parts =
            split(&Frame::new(header, request)).map_err(|e| EngineError::Codec(e.to_string()))?;
        let parts_left = parts.len();
        self.transmit.extend(parts);
        self.outstanding.insert(
            tid,
            Outstanding {
                request: Request::Delivery(InFlight {
                    seq,
                    delivery,
                    parts_left,
                }),
                frame: None,
                deadline: now + self.response_timeout,
                attempts,
            },
        );
        Ok(())
    }

    /// Sends again, under the same T-ID, a delivery whose response timed
    /// out.
    pub(super) fn resend_delivery(&mut self, d: InFlight, attempts: u32, now: Instant) {
        let seq = d.seq;
        if let Err(error) = self.transmit_delivery(seq, d.delivery, attempts, now) {
            self.events.push_back(Event::Unsendable { seq, error });
        }
    }

    /// Sends held deliveries whose time has come, oldest first, while
    /// slots are free.
    pub(super) fn send_retries(&mut self, now: Instant) {
        while self.state == SessionState::Ready
            && self.deliveries_allowed()
            && !self.backing_off(now)
            && self.in_flight() < self.config.max_in_flight.max(1)
        {
            let Some(entry) = self.retry.first_entry() else {
                return;
            };
            if entry.get().1 > now {
                // Keep the order: nothing newer overtakes a held delivery.
                return;
            }
            if self.outstanding.contains_key(&delivery_tid(*entry.key())) {
                // Its T-ID frees when an older delivery ends (see `tid`).
                return;
            }
            let (seq, (delivery, _)) = entry.remove_entry();
            if let Err(error) = self.transmit_delivery(seq, delivery, 0, now) {
                self.events.push_back(Event::Unsendable { seq, error });
            }
        }
    }

    pub(super) fn on_delivery_response(
        &mut self,
        tid: u32,
        rc: ResultCode,
        backoff: Option<u32>,
        now: Instant,
    ) {
        if let Some(secs) = backoff.filter(|s| *s > 0) {
            let until = now + Duration::from_secs(u64::from(secs));
            tracing::info!(
                seconds = secs,
                "the OMP asked for a back-off before the next delivery"
            );
            self.backoff_until = Some(self.backoff_until.map_or(until, |t| t.max(until)));
        }
        let Some(outstanding) = self.outstanding.get_mut(&tid) else {
            return;
        };
        let Request::Delivery(d) = &mut outstanding.request else {
            return;
        };
        if rc.is_ok() {
            d.parts_left = d.parts_left.saturating_sub(1);
            if d.parts_left == 0 {
                let seq = d.seq;
                self.outstanding.remove(&tid);
                self.events.push_back(Event::Delivered { seq });
            }
            return;
        }
        let Some(Outstanding {
            request: Request::Delivery(d),
            ..
        }) = self.outstanding.remove(&tid)
        else {
            return;
        };
        match classify(rc) {
            Refusal::StaleIdentity => {
                self.retry.insert(d.seq, (d.delivery, now));
                self.re_register(rc, now);
            }
            Refusal::Passing => {
                let not_before = self.backoff_until.unwrap_or(now + self.config.retry_delay);
                tracing::info!(
                    seq = d.seq,
                    ?rc,
                    "delivery refused for now; will send again"
                );
                self.retry.insert(d.seq, (d.delivery, not_before));
            }
            Refusal::Final => {
                self.events
                    .push_back(Event::DeliveryRejected { seq: d.seq, rc });
            }
        }
    }
}
