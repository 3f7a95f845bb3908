//! The GMMP gateway engine: every protocol decision of the agent, with no
//! IO and no clock (quinn-proto style).
//!
//! The caller (the agent loop, or a test) tells the engine what happened —
//! [`connected`](Engine::connected), [`handle_frame`](Engine::handle_frame),
//! [`handle_timeout`](Engine::handle_timeout),
//! [`disconnected`](Engine::disconnected) — always passing the current
//! [`Instant`], and then asks what to do: frames to send
//! ([`poll_transmit`](Engine::poll_transmit)), things to act on
//! ([`poll_event`](Engine::poll_event)) and when to call back
//! ([`poll_timeout`](Engine::poll_timeout)). Frames leave with
//! `origin_timestamp` 0 and the IO shell stamps the wall clock — except
//! keyed deliveries, which carry their spool time.
//!
//! On every connect: GW registration (skipped when a stored [`Identity`]
//! exists) → profile request → registration of each configured device not
//! yet known → ready. A profile or delivery answered with rc 0x04 / 0x06
//! means the stored identity is stale: the engine registers again.
//!
//! Deliveries are fed by the caller from its spool
//! ([`delivery_slots`](Engine::delivery_slots) /
//! [`send_delivery`](Engine::send_delivery)), each tagged with its spool
//! sequence number; the engine reports [`Event::Delivered`] once every part
//! got STATUS_OK, and keeps failed or interrupted deliveries itself to send
//! them again first, in sequence order.
//!
//! Decisions:
//! - Every request waits for its response for the profile's
//!   `response_timeout` (until a profile says, the configured default); on
//!   timeout it is sent again with a new T-ID (a notification keeps the
//!   control's T-ID, a delivery its own), and after `max_retries` re-sends
//!   the session is presumed dead: [`Event::Close`].
//! - A delivery's T-ID comes from its spool sequence number and, with
//!   [`EngineConfig::keyed_deliveries`], its `origin_timestamp` is its
//!   spool time and its header carries `gmmp_codec::KEYED_DELIVERY`: every
//!   send of it, in any session or process, is the same keyed delivery, so
//!   an OMP that got it but whose STATUS_OK was lost does not store it
//!   again ([`tid`] has the numbering).
//! - A delivery's `backoff_time` holds every new delivery until it ends,
//!   across reconnects.
//! - Report Off and Pause both hold deliveries (they stay spooled) and
//!   stop the periodic [`Event::ReportDue`]; heartbeats go on.
//! - Report On/Off, Pause/Restart and Status Check are pure state and are
//!   answered by the engine itself. Control types the caller declares in
//!   [`EngineConfig::host_controls`] are accepted (0x0E rc 0) and handed
//!   over as [`Event::Control`]; the caller answers with
//!   [`complete_control`](Engine::complete_control) (0x17, same T-ID).
//!   Any other type gets 0x0E rc 0x0D and no notification.
//! - The report offset of the profile is not used: reports come every
//!   report period from the moment the session is ready.
//!
//! Sub-modules: [`tid`] (T-ID allocation), `session` (registration,
//! profile, heartbeats, response timeouts), `delivery` and `control` (the
//! engine's delivery and control handling), `tests`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use gmmp_codec::{
    AuthId, AuthKey, DeviceId, DomainCode, Frame, GwId, Header, ManufactureId, Message,
    MessageType, ResultCode,
};

use crate::spool::SpooledDelivery;

mod control;
pub(crate) mod delivery;
mod session;
#[cfg(test)]
mod tests;
pub mod tid;

pub use control::{ControlSet, PendingControl};
use tid::TidAllocator;

/// What the engine needs to know about the gateway it plays.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Domain code (`ThingPlug`).
    pub domain_code: DomainCode,
    /// The GW's auth ID (the module's MAC by default).
    pub auth_id: AuthId,
    /// Manufacture ID sent in GW registration.
    pub manufacture_id: ManufactureId,
    /// Devices to register under the GW, in order.
    pub devices: Vec<DeviceSpec>,
    /// Heartbeat period; `None` = as the profile says. Zero = none.
    pub heartbeat_period: Option<Duration>,
    /// Report period; `None` = as the profile says. Zero = none.
    pub report_period: Option<Duration>,
    /// Response timeout; `None` = as the profile says.
    pub response_timeout: Option<Duration>,
    /// Response timeout used before a profile arrived (and when it says 0).
    pub default_response_timeout: Duration,
    /// Re-sends of an unanswered request before the session is given up.
    pub max_retries: u32,
    /// Deliveries awaiting their response at once (1..=1000).
    pub max_in_flight: usize,
    /// Send deliveries keyed (see the module documentation).
    pub keyed_deliveries: bool,
    /// Wait before re-sending a delivery the OMP refused for a passing
    /// reason, when it asked for no back-off.
    pub retry_delay: Duration,
    /// Control types the caller executes (see [`Event::Control`]).
    pub host_controls: ControlSet,
    /// `encryption_flag` of requests (SKT's library sends 0x02).
    pub encryption_flag: u8,
}

/// A device under the GW: a local name (used by data sources) and the
/// manufacture ID it registers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    /// Name the data sources use.
    pub name: String,
    /// Manufacture ID for device registration.
    pub manufacture_id: ManufactureId,
}

/// What the OMP assigned: kept in the state directory so a restart reuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The GW ID.
    pub gw_id: GwId,
    /// The auth key (from the GW registration response header).
    pub auth_key: AuthKey,
    /// Device name → device ID.
    pub devices: BTreeMap<String, DeviceId>,
}

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// No connection.
    Disconnected,
    /// GW registration sent.
    Registering,
    /// Profile request sent.
    RequestingProfile,
    /// Registering device `n` of the configured list.
    RegisteringDevice(usize),
    /// Registered; heartbeats, deliveries and controls flow.
    Ready,
}

impl SessionState {
    /// A short name for logs and the status line.
    pub fn name(self) -> &'static str {
        match self {
            SessionState::Disconnected => "disconnected",
            SessionState::Registering => "registering",
            SessionState::RequestingProfile => "profile",
            SessionState::RegisteringDevice(_) => "registering-devices",
            SessionState::Ready => "ready",
        }
    }
}

/// Something the caller must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The identity changed (registration or a device ID): store it.
    IdentityChanged(Identity),
    /// The stored identity was refused: forget it (registration follows).
    IdentityCleared,
    /// Session state changed.
    State(SessionState),
    /// The session is ready, with the periods in force (zero = none).
    Ready {
        /// Heartbeat period.
        heartbeat_period: Duration,
        /// Report period.
        report_period: Duration,
        /// Response timeout.
        response_timeout: Duration,
    },
    /// Every part of spooled delivery `seq` got STATUS_OK: remove it.
    Delivered {
        /// Spool sequence number.
        seq: u64,
    },
    /// The OMP refused delivery `seq` for good (bad request, unsupported
    /// media type, …): the caller sets it aside.
    DeliveryRejected {
        /// Spool sequence number.
        seq: u64,
        /// The OMP's result code.
        rc: ResultCode,
    },
    /// Delivery `seq` cannot be framed (its device is not registered, or
    /// it is too large): the caller sets it aside.
    Unsendable {
        /// Spool sequence number.
        seq: u64,
        /// Why.
        error: EngineError,
    },
    /// A control the caller executes; answer with
    /// [`Engine::complete_control`].
    Control(PendingControl),
    /// Report or operation state changed by a control.
    ControlState {
        /// Report state (Report On/Off).
        report_on: bool,
        /// Operation state (Restart/Pause).
        running: bool,
    },
    /// The report period came round: time for the periodic data.
    ReportDue,
    /// Close the connection (then call [`Engine::disconnected`]).
    Close {
        /// Why, for the log.
        reason: String,
    },
}

/// Why the engine refused an input.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    /// A delivery names a device that is not configured or not registered.
    #[error("delivery names device {name:?}, which is not registered")]
    UnknownDevice {
        /// The name given.
        name: String,
    },
    /// The engine cannot send a delivery now (no free slot).
    #[error("no delivery slot free (session {state}, {in_flight} in flight)")]
    NoSlot {
        /// Session state name.
        state: &'static str,
        /// Deliveries in flight.
        in_flight: usize,
    },
    /// Another delivery in flight has this delivery's T-ID (only with
    /// 90 000 sequence numbers between them, see [`tid`]).
    #[error("delivery T-ID {tid} is still in use by another delivery")]
    TidInUse {
        /// The T-ID.
        tid: u32,
    },
    /// A payload cannot be framed (too many parts, a field too long).
    #[error("cannot frame the message: {0}")]
    Codec(String),
}

/// What an outstanding request was.
#[derive(Debug, Clone)]
enum Request {
    GwRegistration,
    Profile,
    DeviceRegistration(usize),
    Heartbeat,
    Notification,
    Delivery(delivery::InFlight),
}

/// A request awaiting its response.
#[derive(Debug, Clone)]
struct Outstanding {
    request: Request,
    /// The frame, for a re-send (deliveries are rebuilt instead).
    frame: Option<Frame>,
    deadline: Instant,
    attempts: u32,
}

/// The gateway engine. See the module documentation.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    identity: Option<Identity>,
    state: SessionState,
    tids: TidAllocator,
    outstanding: HashMap<u32, Outstanding>,
    transmit: VecDeque<Frame>,
    events: VecDeque<Event>,
    response_timeout: Duration,
    heartbeat_period: Duration,
    report_period: Duration,
    next_heartbeat: Option<Instant>,
    next_report: Option<Instant>,
    /// Deliveries to send again before any new one, by spool seq.
    retry: BTreeMap<u64, (SpooledDelivery, Instant)>,
    backoff_until: Option<Instant>,
    report_on: bool,
    running: bool,
}

impl Engine {
    /// A disconnected engine; `identity` is what the state directory held.
    pub fn new(config: EngineConfig, identity: Option<Identity>) -> Self {
        let response_timeout = config
            .response_timeout
            .unwrap_or(config.default_response_timeout);
        Engine {
            config,
            identity,
            state: SessionState::Disconnected,
            tids: TidAllocator::default(),
            outstanding: HashMap::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            response_timeout,
            heartbeat_period: Duration::ZERO,
            report_period: Duration::ZERO,
            next_heartbeat: None,
            next_report: None,
            retry: BTreeMap::new(),
            backoff_until: None,
            report_on: true,
            running: true,
        }
    }

    /// Starts T-IDs at `first` (tests; a restart may continue a counter).
    pub fn set_first_tid(&mut self, first: u32) {
        self.tids = TidAllocator::starting_at(first);
    }

    /// The session state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The identity in use, if any.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// Report state (Report On/Off).
    pub fn report_on(&self) -> bool {
        self.report_on
    }

    /// Operation state (Restart/Pause).
    pub fn running(&self) -> bool {
        self.running
    }

    /// Deliveries awaiting a response.
    pub fn in_flight(&self) -> usize {
        self.outstanding
            .values()
            .filter(|o| matches!(o.request, Request::Delivery(_)))
            .count()
    }

    /// Deliveries the engine holds to send again.
    pub fn retry_len(&self) -> usize {
        self.retry.len()
    }

    /// Spool sequence numbers the engine holds (in flight or to retry):
    /// the caller must not feed these again.
    pub fn held(&self) -> impl Iterator<Item = u64> + '_ {
        self.retry.keys().copied().chain(self.in_flight_seqs())
    }

    /// Spool sequence numbers of the deliveries on the wire (sent in this
    /// session, awaiting their answer), in no order.
    pub fn in_flight_seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.outstanding.values().filter_map(|o| match &o.request {
            Request::Delivery(d) => Some(d.seq),
            _ => None,
        })
    }

    /// Forgets delivery `seq` (the spool dropped it to make room): it is
    /// neither sent again nor waited for. If it was in flight the OMP may
    /// still store it; a late response is ignored. True when it was held.
    pub fn abandon_delivery(&mut self, seq: u64) -> bool {
        let retried = self.retry.remove(&seq).is_some();
        let before = self.outstanding.len();
        self.outstanding
            .retain(|_, o| !matches!(&o.request, Request::Delivery(d) if d.seq == seq));
        retried || self.outstanding.len() != before
    }

    /// The connection to the OMP is up: start the registration sequence.
    pub fn connected(&mut self, now: Instant) {
        self.outstanding.clear();
        self.transmit.clear();
        if self.identity.is_some() {
            self.request_profile(now);
        } else {
            self.register_gw(now);
        }
    }

    /// The connection is gone: deliveries in flight are kept to be sent
    /// again first; everything else of the session is dropped.
    pub fn disconnected(&mut self, now: Instant) {
        for (_, o) in self.outstanding.drain() {
            if let Request::Delivery(d) = o.request {
                self.retry.insert(d.seq, (d.delivery, now));
            }
        }
        self.transmit.clear();
        self.next_heartbeat = None;
        self.next_report = None;
        self.set_state(SessionState::Disconnected);
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.transmit.pop_front()
    }

    /// The next event to act on.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut at: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        for o in self.outstanding.values() {
            consider(Some(o.deadline));
        }
        consider(self.next_heartbeat);
        consider(self.next_report);
        if self.state == SessionState::Ready && self.deliveries_allowed() {
            consider(self.backoff_until);
            consider(self.retry.values().map(|(_, t)| *t).min());
        }
        at
    }

    /// Time passed: response timeouts, heartbeats, reports, retries.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.backoff_until.is_some_and(|t| t <= now) {
            self.backoff_until = None;
        }
        let expired: Vec<u32> = self
            .outstanding
            .iter()
            .filter(|(_, o)| o.deadline <= now)
            .map(|(tid, _)| *tid)
            .collect();
        for tid in expired {
            self.on_response_timeout(tid, now);
            if self.state == SessionState::Disconnected {
                return;
            }
        }
        if self.state == SessionState::Ready {
            if self.next_heartbeat.is_some_and(|t| t <= now) {
                self.send_heartbeat(now);
                self.next_heartbeat = Some(now + self.heartbeat_period);
            }
            if self.next_report.is_some_and(|t| t <= now) {
                if self.deliveries_allowed() {
                    self.events.push_back(Event::ReportDue);
                }
                self.next_report = Some(now + self.report_period);
            }
        }
        self.send_retries(now);
    }

    /// A frame from the OMP.
    pub fn handle_frame(&mut self, frame: Frame, now: Instant) {
        if self.backoff_until.is_some_and(|t| t <= now) {
            self.backoff_until = None;
        }
        let message_type = frame.message_type();
        if message_type == MessageType::ControlRequest {
            self.on_control(frame, now);
            return;
        }
        if message_type.is_request() {
            tracing::warn!(
                ?message_type,
                tid = frame.header.tid,
                "unexpected request from the OMP, ignored"
            );
            return;
        }
        let tid = frame.header.tid;
        let Some(outstanding) = self.outstanding.get(&tid) else {
            tracing::warn!(?message_type, tid, "response matches no request, ignored");
            return;
        };
        if outstanding.request_type().counterpart() != message_type {
            tracing::warn!(
                ?message_type,
                tid,
                "response of the wrong type for its T-ID, ignored"
            );
            return;
        }
        match frame.message {
            Message::GwRegistrationResponse(r) => {
                self.outstanding.remove(&tid);
                self.on_gw_registered(frame.header.auth_key, r.gw_id, r.result_code, now);
            }
            Message::ProfileResponse(p) => {
                self.outstanding.remove(&tid);
                self.on_profile(&p, now);
            }
            Message::DeviceRegistrationResponse(r) => {
                if let Some(Outstanding {
                    request: Request::DeviceRegistration(index),
                    ..
                }) = self.outstanding.remove(&tid)
                {
                    self.on_device_registered(index, r.device_id, r.result_code, now);
                }
            }
            Message::HeartbeatResponse(_) | Message::NotificationResponse(_) => {
                self.outstanding.remove(&tid);
            }
            Message::DeliveryResponse(r) => {
                self.on_delivery_response(tid, r.result_code, r.backoff_time, now);
            }
            other => {
                tracing::warn!(message_type = ?other.message_type(), tid, "unhandled response, ignored");
            }
        }
        self.send_retries(now);
    }

    fn set_state(&mut self, state: SessionState) {
        if self.state != state {
            self.state = state;
            self.events.push_back(Event::State(state));
        }
    }

    /// A header for a request with `tid`.
    fn header(&self, tid: u32) -> Header {
        let key = self
            .identity
            .as_ref()
            .map_or(AuthKey::EMPTY, |i| i.auth_key);
        Header::new(self.config.auth_id, key, tid).with_encryption_flag(self.config.encryption_flag)
    }

    fn gw_id(&self) -> GwId {
        self.identity.as_ref().map_or(GwId::EMPTY, |i| i.gw_id)
    }

    fn allocate_tid(&mut self) -> u32 {
        let outstanding = &self.outstanding;
        self.tids.allocate(|t| outstanding.contains_key(&t))
    }

    /// Queues `message` as a new request and remembers it.
    fn send_request(&mut self, request: Request, message: impl Into<Message>, now: Instant) {
        let tid = self.allocate_tid();
        let frame = Frame::new(self.header(tid), message);
        self.transmit.push_back(frame.clone());
        self.outstanding.insert(
            tid,
            Outstanding {
                request,
                frame: Some(frame),
                deadline: now + self.response_timeout,
                attempts: 0,
            },
        );
    }
}

impl Outstanding {
    fn request_type(&self) -> MessageType {
        match self.request {
            Request::GwRegistration => MessageType::GwRegistrationRequest,
            Request::Profile => MessageType::ProfileRequest,
            Request::DeviceRegistration(_) => MessageType::DeviceRegistrationRequest,
            Request::Heartbeat => MessageType::HeartbeatRequest,
            Request::Notification => MessageType::NotificationRequest,
            Request::Delivery(_) => MessageType::DeliveryRequest,
        }
    }
}
