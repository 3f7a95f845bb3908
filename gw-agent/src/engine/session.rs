//! The session's own requests: registering the GW and its devices, the
//! profile, heartbeats, and what a request's response timeout does.

use std::time::Instant;

use gmmp_codec::{
    AuthKey, DeviceId, DeviceRegistrationRequest, GwId, GwRegistrationRequest, HeartbeatRequest,
    ProfileRequest, ResultCode,
};

use super::*;
use crate::refusal;

impl Engine {
    pub(super) fn register_gw(&mut self, now: Instant) {
        self.set_state(SessionState::Registering);
        let msg = GwRegistrationRequest {
            domain_code: self.config.domain_code,
            manufacture_id: self.config.manufacture_id,
        };
        self.send_request(Request::GwRegistration, msg, now);
    }

    pub(super) fn request_profile(&mut self, now: Instant) {
        self.set_state(SessionState::RequestingProfile);
        let msg = ProfileRequest {
            domain_code: self.config.domain_code,
            gw_id: self.gw_id(),
            device_id: DeviceId::EMPTY,
        };
        self.send_request(Request::Profile, msg, now);
    }

    /// Registers the first configured device from `from` on that has no
    /// ID yet, or declares the session ready.
    pub(super) fn register_devices_from(&mut self, from: usize, now: Instant) {
        let known = |name: &str| {
            self.identity
                .as_ref()
                .is_some_and(|i| i.devices.contains_key(name))
        };
        let next =
            (from..self.config.devices.len()).find(|&i| !known(&self.config.devices[i].name));
        match next {
            Some(index) => {
                self.set_state(SessionState::RegisteringDevice(index));
                let msg = DeviceRegistrationRequest {
                    domain_code: self.config.domain_code,
                    gw_id: self.gw_id(),
                    manufacture_id: self.config.devices[index].manufacture_id,
                };
                self.send_request(Request::DeviceRegistration(index), msg, now);
            }
            None => self.become_ready(now),
        }
    }

    pub(super) fn become_ready(&mut self, now: Instant) {
        self.set_state(SessionState::Ready);
        self.next_heartbeat =
            (!self.heartbeat_period.is_zero()).then(|| now + self.heartbeat_period);
        self.next_report = (!self.report_period.is_zero()).then(|| now + self.report_period);
        self.events.push_back(Event::Ready {
            heartbeat_period: self.heartbeat_period,
            report_period: self.report_period,
            response_timeout: self.response_timeout,
        });
    }

    /// Forgets the identity and registers again on this connection.
    pub(super) fn re_register(&mut self, why: ResultCode, now: Instant) {
        tracing::warn!(rc = ?why, "the OMP refused the stored identity; registering again");
        self.identity = None;
        self.events.push_back(Event::IdentityCleared);
        // Requests under the old key are void; deliveries go back to retry.
        let stale: Vec<u32> = self.outstanding.keys().copied().collect();
        for tid in stale {
            if let Some(Outstanding {
                request: Request::Delivery(d),
                ..
            }) = self.outstanding.remove(&tid)
            {
                self.retry.insert(d.seq, (d.delivery, now));
            }
        }
        self.next_heartbeat = None;
        self.next_report = None;
        self.register_gw(now);
    }

    pub(super) fn close(&mut self, reason: String) {
        self.events.push_back(Event::Close { reason });
    }

    pub(super) fn on_gw_registered(
        &mut self,
        auth_key: AuthKey,
        gw_id: GwId,
        rc: ResultCode,
        now: Instant,
    ) {
        if !rc.is_ok() {
            let reason = refusal::registration_refused(
                rc,
                refusal::Applicant {
                    auth_id: &self.config.auth_id.to_display_string(),
                    domain: &self.config.domain_code.to_display_string(),
                    manufacture_id: &self.config.manufacture_id.to_display_string(),
                },
            );
            self.close(reason);
            return;
        }
        let devices = match &self.identity {
            Some(old) if old.gw_id == gw_id => old.devices.clone(),
            _ => BTreeMap::new(),
        };
        let identity = Identity {
            gw_id,
            auth_key,
            devices,
        };
        self.identity = Some(identity.clone());
        self.events.push_back(Event::IdentityChanged(identity));
        self.request_profile(now);
    }

    pub(super) fn on_profile(&mut self, p: &gmmp_codec::ProfileResponse, now: Instant) {
        match p.result_code {
            rc if rc.is_ok() => {}
            rc @ (ResultCode::PERMISSION_DENIED | ResultCode::NOT_FOUND) => {
                self.re_register(rc, now);
                return;
            }
            rc => {
                self.close(format!("profile request refused: {rc:?}"));
                return;
            }
        }
        let minutes = |m: u32| Duration::from_secs(u64::from(m) * 60);
        self.heartbeat_period = self
            .config
            .heartbeat_period
            .unwrap_or(minutes(p.heartbeat_period));
        self.report_period = self
            .config
            .report_period
            .unwrap_or(minutes(p.report_period));
        self.response_timeout = match (self.config.response_timeout, p.response_timeout) {
            (Some(t), _) => t,
            (None, 0) => self.config.default_response_timeout,
            (None, s) => Duration::from_secs(u64::from(s)),
        };
        self.register_devices_from(0, now);
    }

    pub(super) fn on_device_registered(
        &mut self,
        index: usize,
        device_id: DeviceId,
        rc: ResultCode,
        now: Instant,
    ) {
        if !rc.is_ok() {
            let name = self
                .config
                .devices
                .get(index)
                .map_or("?", |d| d.name.as_str());
            self.close(format!("registration of device {name:?} refused: {rc:?}"));
            return;
        }
        let Some(spec) = self.config.devices.get(index) else {
            return;
        };
        if let Some(identity) = self.identity.as_mut() {
            identity.devices.insert(spec.name.clone(), device_id);
            let identity = identity.clone();
            self.events.push_back(Event::IdentityChanged(identity));
        }
        self.register_devices_from(index + 1, now);
    }

    pub(super) fn send_heartbeat(&mut self, now: Instant) {
        let pending = self
            .outstanding
            .values()
            .any(|o| matches!(o.request, Request::Heartbeat));
        if pending {
            return;
        }
        let msg = HeartbeatRequest {
            domain_code: self.config.domain_code,
            gw_id: self.gw_id(),
        };
        self.send_request(Request::Heartbeat, msg, now);
    }

    pub(super) fn on_response_timeout(&mut self, tid: u32, now: Instant) {
        let Some(mut o) = self.outstanding.remove(&tid) else {
            return;
        };
        if o.attempts >= self.config.max_retries {
            let what = o.request_type().description();
            tracing::warn!(tid, attempts = o.attempts + 1, "no response to {what}");
            if let Request::Delivery(d) = o.request {
                self.retry.insert(d.seq, (d.delivery, now));
            }
            self.close(format!(
                "no response to {what} after {} attempts",
                o.attempts + 1
            ));
            return;
        }
        o.attempts += 1;
        o.deadline = now + self.response_timeout;
        tracing::debug!(tid, attempt = o.attempts, "response timeout, sending again");
        match o.request {
            Request::Delivery(d) => self.resend_delivery(d, o.attempts, now),
            Request::Notification => {
                // The OMP matches a notification by the control's T-ID.
                if let Some(frame) = &o.frame {
                    self.transmit.push_back(frame.clone());
                }
                self.outstanding.insert(tid, o);
            }
            _ => {
                let new_tid = self.allocate_tid();
                if let Some(frame) = o.frame.as_mut() {
                    frame.header.tid = new_tid;
                    self.transmit.push_back(frame.clone());
                }
                self.outstanding.insert(new_tid, o);
            }
        }
    }
}
