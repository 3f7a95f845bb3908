//! The protocol state of one connection, without IO: frames, bytes and
//! [`Instant`]s go in, decisions come out. The IO loop ([`super`]) reads
//! and writes; the rules of the connection (deadlines, binding, routing,
//! answers) are decided here, so they are tested by passing instants
//! (`machine/tests.rs`), without sockets or sleeps.
//!
//! - [`Machine::handle_incoming`]: what a whole frame is ([`Route`]) —
//!   refused (another GW's frame on a bound connection), a GW
//!   registration, a response from the GW, or a request to serve.
//! - [`Machine::bind`] / [`Machine::unbind`]: the GW the connection
//!   carries (one only); [`Machine::refuse`], [`served`] and [`failed`]:
//!   the [`Answer`] a request gets.
//! - [`Machine::poll_timeout`] / [`Machine::handle_timeout`]: the next
//!   deadline, and the [`Expiry`] it closes the connection with — the
//!   first-frame / idle limit, the auth timeout, the frame timeout.

use std::time::{Duration, Instant};

use gmmp_codec::{Frame, GwRegistrationRequest, Message, ResultCode};

use crate::config::Config;
use crate::gmmp::auth::Refusal;

#[cfg(test)]
mod tests;

/// The time limits of a connection (from [`Config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Idle limit of an unbound connection.
    pub first_frame: Duration,
    /// Time from connecting (or deregistering) to being bound.
    pub auth: Duration,
    /// Time from a frame's first byte to its last.
    pub frame: Duration,
    /// Heartbeat periods a bound GW may stay silent.
    pub heartbeat_grace: u32,
}

impl Timeouts {
    /// The limits `config` sets.
    pub fn from_config(config: &Config) -> Timeouts {
        Timeouts {
            first_frame: config.first_frame_timeout,
            auth: config.auth_timeout,
            frame: config.frame_timeout,
            heartbeat_grace: config.heartbeat_grace,
        }
    }
}

/// The GW a connection is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// Its auth_id (every frame on the connection must carry it).
    pub auth_id: String,
    /// Its GW ID.
    pub gw_id: String,
}

/// What a whole frame is, for the session to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'f> {
    /// Refused before anything else happens.
    Refuse(Refusal),
    /// A GW registration: checked against provisioning, binds when
    /// accepted.
    Register(&'f GwRegistrationRequest),
    /// A response from the GW (a control response, or one that is ignored).
    TakeResponse,
    /// A request: authenticated, bound, then served by its handler.
    Serve,
}

/// The outcome of binding the connection to a GW.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    /// Newly bound: announce the GW (registry, controls) and look up its
    /// heartbeat period ([`Machine::set_heartbeat_period`]).
    New,
    /// Bound to this GW already.
    Already,
    /// Bound to another GW: the connection closes with this reason.
    Close(&'static str),
}

/// What a request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// This response.
    Respond(Message),
    /// No response: the connection closes with this reason.
    Close(&'static str),
}

/// Why a deadline closed the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// A frame began more than the frame timeout ago and is incomplete.
    FrameNotCompleted(Duration),
    /// Not bound to a GW within the auth timeout.
    NotAuthenticated(Duration),
    /// No whole frame within the idle limit.
    Silent(Duration),
}

impl Expiry {
    /// The reason the connection's end is logged with.
    pub fn reason(self) -> &'static str {
        match self {
            Expiry::FrameNotCompleted(_) => "frame not completed in time",
            Expiry::NotAuthenticated(_) => "not authenticated in time",
            Expiry::Silent(_) => "silent",
        }
    }
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Machine {
    timeouts: Timeouts,
    bound: Option<Bound>,
    /// `None`: never closed for silence (a bound GW of heartbeat period 0).
    idle_limit: Option<Duration>,
    /// When the last whole frame was handled (or the connection opened).
    idle_since: Instant,
    /// When the connection last became unbound (connect, deregistration).
    unbound_since: Instant,
    /// When the first bytes of the frame being read came in.
    frame_started: Option<Instant>,
    /// Requests refused on this connection.
    refusals: u64,
}

impl Machine {
    /// A connection opened at `now`, unbound.
    pub fn new(timeouts: Timeouts, now: Instant) -> Machine {
        Machine {
            timeouts,
            bound: None,
            idle_limit: Some(timeouts.first_frame),
            idle_since: now,
            unbound_since: now,
            frame_started: None,
            refusals: 0,
        }
    }

    /// The GW the connection carries, if bound.
    pub fn bound(&self) -> Option<&Bound> {
        self.bound.as_ref()
    }

    /// The bound GW's ID, or "" while unbound (for logs).
    pub fn gw_id(&self) -> &str {
        self.bound.as_ref().map_or("", |b| b.gw_id.as_str())
    }

    /// Requests refused so far.
    pub fn refusals(&self) -> u64 {
        self.refusals
    }

    /// The idle limit now (`None`: never closed for silence).
    pub fn idle_limit(&self) -> Option<Duration> {
        self.idle_limit
    }

    /// True while the first bytes of a frame are in and its last are not.
    pub fn frame_in_progress(&self) -> bool {
        self.frame_started.is_some()
    }

    /// The first bytes of a frame came in at `now`; its last must follow
    /// within the frame timeout. Later bytes of the same frame do not move
    /// that deadline (a peer trickling bytes is held to it).
    pub fn frame_started(&mut self, now: Instant) {
        self.frame_started.get_or_insert(now);
    }

    /// A whole frame came in: what it is. One connection carries one GW,
    /// so a frame of another auth_id on a bound connection is refused.
    pub fn handle_incoming<'f>(&mut self, frame: &'f Frame) -> Route<'f> {
        self.frame_started = None;
        if let Some(b) = &self.bound
            && frame.header.auth_id.as_str() != Some(b.auth_id.as_str())
        {
            return Route::Refuse(Refusal::OtherSession {
                bound: b.gw_id.clone(),
                got: frame.header.auth_id.to_string(),
            });
        }
        if let Message::GwRegistrationRequest(req) = &frame.message {
            Route::Register(req)
        } else if frame.message_type().is_request() {
            Route::Serve
        } else {
            Route::TakeResponse
        }
    }

    /// A frame has been handled at `now` (answered, or taken): the idle
    /// limit counts from here. Only whole frames restart it.
    pub fn handled(&mut self, now: Instant) {
        self.idle_since = now;
    }

    /// Binds the connection to GW `gw_id` of `auth_id`. Until the GW's
    /// heartbeat period is set, the idle limit stays what it was.
    pub fn bind(&mut self, auth_id: &str, gw_id: &str) -> Bind {
        match &self.bound {
            Some(b) if b.gw_id == gw_id => Bind::Already,
            Some(_) => Bind::Close("second GW on one connection"),
            None => {
                self.bound = Some(Bound {
                    auth_id: auth_id.to_owned(),
                    gw_id: gw_id.to_owned(),
                });
                Bind::New
            }
        }
    }

    /// The bound GW's heartbeat period (minutes): its idle limit becomes
    /// period × heartbeat grace, or never for a period of 0.
    pub fn set_heartbeat_period(&mut self, minutes: u32) {
        if self.bound.is_some() {
            self.idle_limit = silence_limit(minutes, self.timeouts.heartbeat_grace);
        }
    }

    /// The connection is unbound at `now` (a served GW deregistration):
    /// it is held to the first-frame and auth timeouts again. The GW it
    /// carried, if any.
    pub fn unbind(&mut self, now: Instant) -> Option<Bound> {
        self.idle_limit = Some(self.timeouts.first_frame);
        self.unbound_since = now;
        self.bound.take()
    }

    /// A refused request: answered rc 0x04 where its response has a result
    /// code; otherwise (heartbeat) the connection closes.
    pub fn refuse(&mut self, request: &Message) -> Answer {
        self.refusals += 1;
        match request.response_with_result_code(ResultCode::PERMISSION_DENIED) {
            Some(response) => Answer::Respond(response),
            None => Answer::Close("refused request without a result code"),
        }
    }

    /// A refused response from the GW (a control response that does not
    /// authenticate): ignored, no answer, the connection stays.
    pub fn refuse_response(&mut self) {
        self.refusals += 1;
    }

    /// The next deadline, if any: the frame timeout of a frame in
    /// progress, the idle limit, and for an unbound connection the auth
    /// timeout — whichever comes first.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let frame = self.frame_started.map(|t| t + self.timeouts.frame);
        let idle = self.idle_limit.map(|l| self.idle_since + l);
        let auth = self
            .bound
            .is_none()
            .then(|| self.unbound_since + self.timeouts.auth);
        [frame, idle, auth].into_iter().flatten().min()
    }

    /// The deadline passed by `now`, if one did: the connection closes.
    pub fn handle_timeout(&self, now: Instant) -> Option<Expiry> {
        if let Some(started) = self.frame_started
            && now >= started + self.timeouts.frame
        {
            return Some(Expiry::FrameNotCompleted(self.timeouts.frame));
        }
        if self.bound.is_none() && now >= self.unbound_since + self.timeouts.auth {
            return Some(Expiry::NotAuthenticated(self.timeouts.auth));
        }
        match self.idle_limit {
            Some(limit) if now >= self.idle_since + limit => Some(Expiry::Silent(limit)),
            _ => None,
        }
    }
}

/// The answer to a served request: its response, or close when its type
/// has no response form.
pub fn served(response: Option<Message>) -> Answer {
    match response {
        Some(response) => Answer::Respond(response),
        None => Answer::Close("request without a response form"),
    }
}

/// The answer to a request whose handling failed: rc 0x0C internal error
/// where its response has a result code; otherwise the connection closes.
pub fn failed(request: &Message) -> Answer {
    match request.response_with_result_code(ResultCode::INTERNAL_SERVER_ERROR) {
        Some(response) => Answer::Respond(response),
        None => Answer::Close("internal error"),
    }
}

/// The silence limit of a bound session: heartbeat period (minutes) ×
/// grace; `None` (never) when the period is 0.
pub fn silence_limit(heartbeat_period_minutes: u32, grace: u32) -> Option<Duration> {
    (heartbeat_period_minutes > 0)
        .then(|| Duration::from_secs(u64::from(heartbeat_period_minutes) * 60 * u64::from(grace)))
}
