//! Controls from the OMP (0x0D): answered at once with 0x0E, executed,
//! and reported with a 0x17 notification carrying the control's T-ID.
//!
//! ```text
//! status check notification body:  01 01
//!                                   │  └ operation state: 0x01 RUN, 0x00 PAUSE
//!                                   └ report state:    0x01 ON,  0x00 OFF
//! ```

use std::time::Instant;

use bytes::Bytes;
use gmmp_codec::{
    ControlPayload, ControlResponse, ControlType, DeviceId, Frame, Message, NotificationRequest,
    ResultCode,
};

use super::{Engine, Event, Outstanding, Request, SessionState};

/// A set of control types (a 256-bit map).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ControlSet([u64; 4]);

impl ControlSet {
    /// The empty set.
    pub fn new() -> Self {
        ControlSet::default()
    }

    /// Adds `ct`.
    pub fn insert(&mut self, ct: ControlType) {
        self.0[usize::from(ct.0 / 64)] |= 1 << (ct.0 % 64);
    }

    /// True when `ct` is in the set.
    pub fn contains(&self, ct: ControlType) -> bool {
        self.0[usize::from(ct.0 / 64)] & (1 << (ct.0 % 64)) != 0
    }
}

impl FromIterator<ControlType> for ControlSet {
    fn from_iter<I: IntoIterator<Item = ControlType>>(iter: I) -> Self {
        let mut set = ControlSet::new();
        for ct in iter {
            set.insert(ct);
        }
        set
    }
}

/// A control accepted by the engine and handed to the caller to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingControl {
    /// The OMP's T-ID, which the notification repeats.
    pub tid: u32,
    /// The device addressed, all zero for the GW.
    pub device_id: DeviceId,
    /// What to do.
    pub control_type: ControlType,
    /// Control data (time sync: u32 Unix seconds, …).
    pub payload: Bytes,
}

/// The status check notification body.
pub(super) fn status_body(report_on: bool, running: bool) -> Bytes {
    ControlPayload::StatusCheck {
        reporting: report_on,
        running,
    }
    .encode()
}

impl Engine {
    pub(super) fn on_control(&mut self, frame: Frame, now: Instant) {
        let Message::ControlRequest(req) = frame.message else {
            return;
        };
        let tid = frame.header.tid;
        let ct = req.control_type;
        tracing::info!(tid, control = %ct.title(), "control from the OMP");
        let state_control = matches!(
            ct,
            ControlType::REPORT_ON
                | ControlType::REPORT_OFF
                | ControlType::PAUSE
                | ControlType::RESTART
                | ControlType::STATUS_CHECK
        );
        let accepted = state_control || self.config.host_controls.contains(ct);
        let rc = if accepted {
            ResultCode::OK
        } else {
            ResultCode::NOT_IMPLEMENTED
        };
        let response = ControlResponse {
            domain_code: self.config.domain_code,
            gw_id: self.gw_id(),
            device_id: req.device_id,
            control_type: ct,
            result_code: rc,
        };
        self.transmit
            .push_back(Frame::new(self.header(tid), response));
        let pending = PendingControl {
            tid,
            device_id: req.device_id,
            control_type: ct,
            payload: req.payload,
        };
        if !accepted {
            return;
        }
        if !state_control {
            self.events.push_back(Event::Control(pending));
            return;
        }
        let (report_on, running) = (self.report_on, self.running);
        match ct {
            ControlType::REPORT_ON => self.report_on = true,
            ControlType::REPORT_OFF => self.report_on = false,
            ControlType::RESTART => self.running = true,
            ControlType::PAUSE => self.running = false,
            _ => {}
        }
        if (report_on, running) != (self.report_on, self.running) {
            self.events.push_back(Event::ControlState {
                report_on: self.report_on,
                running: self.running,
            });
        }
        let body = if ct == ControlType::STATUS_CHECK {
            status_body(self.report_on, self.running)
        } else {
            Bytes::new()
        };
        self.complete_control(&pending, ResultCode::OK, body, now);
        self.send_retries(now);
    }

    /// Reports the result of a control with a 0x17 notification under the
    /// control's T-ID. Dropped (and logged) when the session is gone: the
    /// OMP's control died with it.
    pub fn complete_control(
        &mut self,
        control: &PendingControl,
        rc: ResultCode,
        payload: Bytes,
        now: Instant,
    ) {
        if self.state == SessionState::Disconnected {
            tracing::warn!(
                tid = control.tid,
                "control finished after the session closed; result not sent"
            );
            return;
        }
        let notification = NotificationRequest {
            domain_code: self.config.domain_code,
            gw_id: self.gw_id(),
            device_id: control.device_id,
            control_type: control.control_type,
            result_code: rc,
            payload,
        };
        let frame = Frame::new(self.header(control.tid), notification);
        self.transmit.push_back(frame.clone());
        if self.outstanding.contains_key(&control.tid) {
            tracing::warn!(
                tid = control.tid,
                "control T-ID equals a pending request's; not waiting for the 0x18"
            );
            return;
        }
        self.outstanding.insert(
            control.tid,
            Outstanding {
                request: Request::Notification,
                frame: Some(frame),
                deadline: now + self.response_timeout,
                attempts: 0,
            },
        );
    }
}
