//! Acting on the machine's decisions for one frame: the handler of each
//! request type, binding to the GW (registry, control dispatcher, profile),
//! and the answers to refused or failed requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gmmp_codec::{AuthId, AuthKey, DomainCode, Frame, GwRegistrationRequest, Message};

use super::machine::{self, Answer, Bind, Route};
use super::{Next, PEER_FAULT_LOG, Session, now};
use crate::cluster::Kind;
use crate::control::Live;
use crate::directory::GatewayEntry;
use crate::error::StoreError;
use crate::escaped;
use crate::gmmp::log_budget::LogBudget;
use crate::gmmp::presence::{self, Offline, Online};
use crate::gmmp::{
    auth, control, delivery, encryption, heartbeat, profile, registration, unsupported,
};
use crate::registry::{Outbox, SessionHandle};

/// Takeovers from another address logged per second (the rest counted).
static TAKEOVER_LOG: LogBudget = LogBudget::new(5);

impl Session {
    pub(super) async fn handle(&mut self, frame: Frame) -> Next {
        if self.state.config.trace_gmmp {
            tracing::info!(target: "omp_server::trace", "[GW->OMP] from {}\n{}", self.peer, frame.trace());
        }
        match self.machine.handle_incoming(&frame) {
            Route::Refuse(refusal) => self.refuse(&frame, refusal).await,
            Route::Register(req) => self.register(&frame, req).await,
            Route::TakeResponse => self.take_response(&frame).await,
            Route::Serve => self.serve_request(&frame).await,
        }
    }

    async fn register(&mut self, frame: &Frame, req: &GwRegistrationRequest) -> Next {
        match registration::register_gw(&self.state, self.peer, &frame.header, req).await {
            Ok(registration::GwRegistration::Accepted {
                response,
                key,
                entry,
            }) => {
                let auth_id = frame.header.auth_id.as_str().unwrap_or_default().to_owned();
                if let Err(next) = self.bind(&auth_id, &entry, Online::Registered).await {
                    return next;
                }
                // Revoked while registering: the revocation removes the
                // directory entry before closing sessions, so a session
                // bound too late to be closed sees the entry gone here.
                if self.state.directory.get(&auth_id).is_none() {
                    self.unbind(Offline::Deregistered, "approval removed while registering")
                        .await;
                    let refusal = auth::Refusal::UnknownAuthId {
                        auth_id: frame.header.auth_id.to_string(),
                    };
                    return self.refuse(frame, refusal).await;
                }
                self.respond(frame, response, Some(key)).await
            }
            Ok(registration::GwRegistration::Refused(response)) => {
                self.respond(frame, response, None).await
            }
            Ok(registration::GwRegistration::Throttled(response)) => {
                match self.respond(frame, response, None).await {
                    Next::Continue => {
                        Next::Close("registrations over the rate limit of this source")
                    }
                    closed => closed,
                }
            }
            Err(e) => self.failed(frame, e).await,
        }
    }

    async fn serve_request(&mut self, frame: &Frame) -> Next {
        let entry = match auth::authenticate(&self.state.directory, &frame.header, &frame.message) {
            Ok(entry) => entry,
            Err(refusal) => return self.refuse(frame, refusal).await,
        };
        let auth_id = frame.header.auth_id.as_str().unwrap_or_default().to_owned();
        if let Err(next) = self.bind(&auth_id, &entry, Online::Connected).await {
            return next;
        }
        self.state.touch(&entry.gw_id, self.peer);
        let state = self.state.clone();
        let s = &*state;
        let result: Result<Option<Message>, StoreError> = match &frame.message {
            Message::GwDeregistrationRequest(req) => {
                registration::deregister_gw(s, &auth_id, &entry, req)
                    .await
                    .map(Some)
            }
            Message::DeviceRegistrationRequest(req) => {
                registration::register_device(s, &auth_id, &entry, req)
                    .await
                    .map(Some)
            }
            Message::DeviceDeregistrationRequest(req) => {
                registration::deregister_device(s, &auth_id, &entry, req)
                    .await
                    .map(Some)
            }
            Message::ProfileRequest(req) => profile::answer(s, &entry, req).await.map(Some),
            Message::DeliveryRequest(req) => Ok(Some(
                delivery::deliver(s, self.peer, &entry, &frame.header, req).await,
            )),
            Message::HeartbeatRequest(req) => Ok(Some(heartbeat::answer(req))),
            Message::EncryptionInfoRequest(req) => encryption::info(s, &entry, req).await.map(Some),
            Message::EncryptionKeyRequest(req) => {
                encryption::set_key(s, &entry, req).await.map(Some)
            }
            Message::LongSentenceRequest(req) => Ok(Some(
                control::long_sentence(&s.control, &entry.gw_id, &frame.header, req)
                    .await
                    .into(),
            )),
            Message::NotificationRequest(req) => Ok(Some(
                control::notification(&s.control, &entry.gw_id, &frame.header, req)
                    .await
                    .into(),
            )),
            other => Ok(unsupported::answer(other)),
        };
        let next = match result {
            Ok(response) => self.answer(frame, machine::served(response)).await,
            Err(e) => self.failed(frame, e).await,
        };
        // Answered while still bound, so the answer is logged with its GW.
        if matches!(frame.message, Message::GwDeregistrationRequest(_)) {
            self.unbind(Offline::Deregistered, "deregistered (0x03)")
                .await;
        }
        next
    }

    async fn answer(&mut self, frame: &Frame, answer: Answer) -> Next {
        match answer {
            Answer::Respond(response) => self.respond(frame, response, None).await,
            Answer::Close(reason) => Next::Close(reason),
        }
    }

    /// Binds this connection to the GW `entry` (first time only); `why`
    /// is the event's reason if the GW had no live session.
    async fn bind(
        &mut self,
        auth_id: &str,
        entry: &Arc<GatewayEntry>,
        why: Online,
    ) -> Result<(), Next> {
        match self.machine.bind(auth_id, &entry.gw_id) {
            Bind::Already => return Ok(()),
            Bind::Close(reason) => {
                tracing::warn!(peer = %self.peer, bound = %self.machine.gw_id(), got = %entry.gw_id,
                    "a connection may carry one GW only; closing");
                return Err(Next::Close(reason));
            }
            Bind::New => {}
        }
        let outbox = Arc::new(Outbox::default());
        let handle = SessionHandle {
            id: self.id,
            peer: self.peer,
            since: crate::store::now_millis(),
            outbound: outbox.clone(),
            close: self.close.clone(),
        };
        let replaced = self.state.registry.bind(&entry.gw_id, handle);
        if let Some(cluster) = &self.state.cluster {
            cluster.claim(
                Kind::Gmmp,
                &entry.gw_id,
                self.id,
                self.peer,
                self.close.clone(),
            );
        }
        if replaced.is_none() {
            self.state
                .note_event(presence::online(&entry.gw_id, self.peer, why));
        }
        if let Some(old) = replaced {
            tracing::info!(gw_id = %entry.gw_id, old_peer = %old.peer, new_peer = %self.peer,
                "GW connected again; closing its older session");
            if old.peer.ip() != self.peer.ip() {
                self.taken_from_another_address(auth_id, entry, old.peer);
            }
            let now = std::time::Instant::now();
            if let Some(times) = self.state.registry.note_replacement(&entry.gw_id, now) {
                tracing::warn!(gw_id = %entry.gw_id, auth_id = %escaped::text(auth_id), old_peer = %old.peer,
                    new_peer = %self.peer, times,
                    window_secs = crate::registry::FLAP_WINDOW.as_secs(),
                    "this GW's live session was replaced {times} times within a minute: two \
                     gateways (or a module and gw-agent) are probably using the same auth_id; \
                     give each its own");
            }
        }
        self.outbox = Some(outbox.clone());
        // Bound: no longer counted among the unauthenticated.
        self.unauthenticated = None;
        let profile = match profile::effective(&self.state, &entry.gw_id, "").await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(gw_id = %entry.gw_id, error = %e, "profile lookup failed; using the default profile");
                self.state.config.profile_defaults.clone()
            }
        };
        self.machine.set_heartbeat_period(profile.heartbeat_period);
        self.announce_live(auth_id, entry, &profile, outbox).await;
        Ok(())
    }

    /// A live session of this GW from another address was just replaced:
    /// a gateway that moved, or someone else registering with its auth ID.
    /// Counted, an event, and said at warn (within a budget) with what to
    /// do about it.
    fn taken_from_another_address(&self, auth_id: &str, entry: &GatewayEntry, old: SocketAddr) {
        self.state
            .metrics
            .sessions_taken_from_new_peer
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.state.note_event(presence::taken_over(
            &entry.gw_id,
            old,
            self.peer,
            entry.registration_lock,
        ));
        if let Some(left_out) = TAKEOVER_LOG.take() {
            if entry.registration_lock {
                tracing::warn!(gw_id = %entry.gw_id, auth_id = %escaped::text(auth_id),
                    old_peer = %old, new_peer = %self.peer, left_out,
                    "GW's live session taken over from another address (its registration is \
                     locked: the new peer knew its auth key)");
            } else {
                tracing::warn!(gw_id = %entry.gw_id, auth_id = %escaped::text(auth_id),
                    old_peer = %old, new_peer = %self.peer, left_out,
                    "GW's live session taken over from another address; if that is not the \
                     same gateway, lock its registration: PUT /api/v1/gateways/{}/registration-lock",
                    entry.gw_id);
            }
        }
    }

    /// Tells the control dispatcher that this session now carries the GW
    /// `entry` (its queued controls can be pushed through `outbox`).
    async fn announce_live(
        &self,
        auth_id: &str,
        entry: &GatewayEntry,
        profile: &crate::config::ProfileDefaults,
        outbox: Arc<Outbox>,
    ) {
        // The stored IDs fit their fields: they were checked on the way in.
        let (Ok(auth_id), Ok(auth_key), Ok(domain)) = (
            AuthId::new("auth_id", auth_id),
            AuthKey::new("auth_key", &entry.auth_key),
            DomainCode::new("domain_code", &entry.domain),
        ) else {
            tracing::error!(gw_id = %entry.gw_id, "stored IDs do not fit GMMP; controls cannot be pushed");
            return;
        };
        let live = Live {
            session: self.id,
            auth_id,
            auth_key,
            domain,
            outbox,
            response_timeout: Duration::from_secs(u64::from(profile.response_timeout)),
        };
        self.state.control.connected(&entry.gw_id, live).await;
    }

    async fn unbind(&mut self, why: Offline, detail: &str) {
        self.outbox = None;
        if let Some(b) = self.machine.unbind(now()) {
            if self.state.registry.unbind(&b.gw_id, self.id) {
                self.state
                    .note_event(presence::offline(&b.gw_id, self.peer, why, detail));
            }
            if let Some(cluster) = &self.state.cluster {
                cluster.release(Kind::Gmmp, &b.gw_id, self.id);
            }
            self.state.control.disconnected(&b.gw_id, self.id).await;
            tracing::debug!(auth_id = %escaped::text(&b.auth_id), gw_id = %b.gw_id, "session unbound");
        }
    }

    async fn refuse(&mut self, frame: &Frame, refusal: auth::Refusal) -> Next {
        self.state
            .metrics
            .auth_refused
            .fetch_add(1, Ordering::Relaxed);
        let answer = self.machine.refuse(&frame.message);
        self.log_refusal(frame, &refusal, "request refused");
        self.answer(frame, answer).await
    }

    /// Logs a refusal at warn level within the peer-fault budget, the
    /// first of each connection only; the rest at debug level.
    fn log_refusal(&self, frame: &Frame, refusal: &auth::Refusal, what: &'static str) {
        let budget = if self.machine.refusals() == 1 {
            PEER_FAULT_LOG.take()
        } else {
            None
        };
        match budget {
            Some(left_out) => tracing::warn!(peer = %self.peer,
                message_type = frame.message_type().operation_name(),
                tid = frame.header.tid, %refusal, left_out, "{what}"),
            None => tracing::debug!(peer = %self.peer, tid = frame.header.tid, %refusal,
                "{what}"),
        }
    }

    async fn failed(&mut self, frame: &Frame, error: StoreError) -> Next {
        tracing::error!(peer = %self.peer, gw_id = self.machine.gw_id(),
            message_type = frame.message_type().operation_name(), tid = frame.header.tid,
            %error, "request failed");
        self.answer(frame, machine::failed(&frame.message)).await
    }

    /// A response from the GW: a control response that authenticates as
    /// the bound GW goes to the control dispatcher; anything else is
    /// counted, logged within the budget and ignored (a response has no
    /// answer to carry a result code).
    async fn take_response(&mut self, frame: &Frame) -> Next {
        let Message::ControlResponse(rsp) = &frame.message else {
            match PEER_FAULT_LOG.take() {
                Some(left_out) => tracing::info!(peer = %self.peer, gw_id = self.machine.gw_id(),
                    message_type = frame.message_type().operation_name(), tid = frame.header.tid,
                    left_out, "unexpected response from a GW; ignored"),
                None => tracing::debug!(peer = %self.peer,
                    message_type = frame.message_type().operation_name(), tid = frame.header.tid,
                    "unexpected response from a GW; ignored"),
            }
            return Next::Continue;
        };
        match self.authenticate_response(frame) {
            Ok(gw_id) => {
                control::response(&self.state.control, &gw_id, &frame.header, rsp).await;
            }
            Err(refusal) => {
                self.state
                    .metrics
                    .responses_refused
                    .fetch_add(1, Ordering::Relaxed);
                self.machine.refuse_response();
                self.log_refusal(frame, &refusal, "control response refused");
            }
        }
        Next::Continue
    }

    /// A control response is taken only on a bound connection, and only
    /// with the auth key, GW ID and domain of the GW bound (the header's
    /// auth ID was compared by the machine); the GW ID on success.
    fn authenticate_response(&self, frame: &Frame) -> Result<String, auth::Refusal> {
        let Some(bound) = self.machine.bound() else {
            return Err(auth::Refusal::NotBound {
                message_type: frame.message_type().operation_name(),
            });
        };
        let entry = auth::authenticate(&self.state.directory, &frame.header, &frame.message)?;
        if entry.gw_id != bound.gw_id {
            return Err(auth::Refusal::OtherSession {
                bound: bound.gw_id.clone(),
                got: frame.header.auth_id.to_string(),
            });
        }
        Ok(entry.gw_id.clone())
    }
}
