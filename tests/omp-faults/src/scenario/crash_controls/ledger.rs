//! What the run recorded, for the checker: per control, the POST attempts
//! and every state the API showed ([`ControlRecord`]); per gateway, every
//! 0x0D that reached it and what became of its 0x17 ([`GatewayRecord`]).
//! Plus [`Shared`], the tokens and live counters the scenario steers and
//! times its kills with.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use super::key::ControlKey;

/// Unix milliseconds now (the clock the OMP stamps its timeline with).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One state of a control's timeline as the API showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The state.
    pub state: String,
    /// When, as the API printed it.
    pub at: String,
}

/// A control as one API answer showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Its `state`.
    pub state: String,
    /// Its `timeline`.
    pub timeline: Vec<Step>,
}

/// How one POST attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// 202 with this control id.
    Accepted(i64),
    /// No answer: the connection failed or died (the server was killed).
    Unanswered(String),
    /// Another status.
    Status(u16, String),
}

/// One POST of a control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostAttempt {
    /// Unix ms when it was sent.
    pub started_ms: i64,
    /// What came back.
    pub outcome: PostOutcome,
}

/// Everything the client did and saw for one control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRecord {
    /// The control.
    pub key: ControlKey,
    /// Its id, from the first 202.
    pub id: Option<i64>,
    /// Every POST with its key until the first 202, in order.
    pub attempts: Vec<PostAttempt>,
    /// The 202's view, then every GET's, in the order they were read.
    pub observations: Vec<Observation>,
    /// POSTs of the same key after it was answered (one after each restart
    /// it lived through): the id each returned.
    pub replays: Vec<i64>,
    /// The views those replays returned.
    pub replay_observations: Vec<Observation>,
    /// Answers that should not have come (a 4xx, a body that is not a
    /// control), in words.
    pub anomalies: Vec<String>,
}

impl ControlRecord {
    /// A record with nothing done yet.
    pub fn new(key: ControlKey) -> Self {
        ControlRecord {
            key,
            id: None,
            attempts: Vec::new(),
            observations: Vec::new(),
            replays: Vec::new(),
            replay_observations: Vec::new(),
            anomalies: Vec::new(),
        }
    }

    /// POST attempts that got no answer.
    pub fn unanswered_posts(&self) -> usize {
        self.attempts
            .iter()
            .filter(|a| matches!(a.outcome, PostOutcome::Unanswered(_)))
            .count()
    }
}

/// One 0x0D as it reached a gateway, and what became of the 0x17 the
/// gateway answered it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// The control its data names.
    pub key: ControlKey,
    /// The OMP's T-ID.
    pub tid: u32,
    /// The gateway's session (1 = its first).
    pub session: u64,
    /// Unix ms when it arrived.
    pub at_ms: i64,
    /// The gateway had already been told (0x18 rc 0) that this control's
    /// result was stored: it is executing a finished control again.
    pub after_ack: bool,
    /// 0x17s sent for it (more than one only when re-sending).
    pub notifications_sent: u32,
    /// The rc of each 0x18 that answered them.
    pub answers: Vec<u8>,
}

impl Arrival {
    /// True when a 0x18 rc 0 answered one of its 0x17s.
    pub fn acknowledged(&self) -> bool {
        self.answers.contains(&0)
    }

    /// 0x17s whose answer died with their session.
    pub fn unanswered(&self) -> u32 {
        self.notifications_sent
            .saturating_sub(u32::try_from(self.answers.len()).unwrap_or(u32::MAX))
    }
}

/// Everything one simulated gateway recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayRecord {
    /// Its index.
    pub index: u32,
    /// The GW ID the OMP gave it (the last one).
    pub gw_id: Option<String>,
    /// Sessions registered.
    pub sessions: u64,
    /// Connects or registrations that failed.
    pub connect_failures: u64,
    /// Unix ms of the end of each session.
    pub session_ends: Vec<i64>,
    /// Every 0x0D of its controls, in arrival order.
    pub arrivals: Vec<Arrival>,
    /// 0x0Ds whose data names no control of this gateway.
    pub foreign_controls: Vec<String>,
    /// 0x18s that answer no 0x17 outstanding on the session.
    pub stray_answers: u64,
    /// The last session error.
    pub last_error: Option<String>,
}

/// Live totals, for timing the kills and the figures.
#[derive(Debug, Default)]
pub struct Counters {
    /// POSTs answered 202 (first answers).
    pub posted: AtomicU64,
    /// POST attempts that got no answer.
    pub posts_unanswered: AtomicU64,
    /// POST or GET answers with a 5xx status.
    pub http_5xx: AtomicU64,
    /// 0x0Ds that reached a gateway.
    pub arrivals: AtomicU64,
    /// 0x18 answers received.
    pub answers: AtomicU64,
    /// API reads of a control (POST or GET answers).
    pub observations: AtomicU64,
    /// Sessions registered.
    pub sessions: AtomicU64,
    /// Connects or registrations that failed.
    pub connect_failures: AtomicU64,
}

impl Counters {
    /// Things that happened to controls: 202s, 0x0D arrivals, 0x18s. The
    /// kill schedule counts these.
    pub fn events(&self) -> u64 {
        self.posted.load(Ordering::Relaxed)
            + self.arrivals.load(Ordering::Relaxed)
            + self.answers.load(Ordering::Relaxed)
    }
}

/// Tokens, counters and per-gateway flags shared by the run's tasks.
#[derive(Debug, Clone)]
pub struct Shared {
    /// Cancelled: POST no new controls (finish watching those posted).
    pub produce: CancellationToken,
    /// Cancelled: stop at once.
    pub abort: CancellationToken,
    /// Live totals.
    pub counters: Arc<Counters>,
    /// Server starts so far (0 = the first); the clients re-POST an
    /// answered key after each.
    pub generation: Arc<AtomicU64>,
    /// Per gateway: Unix ms of its current session's registration, 0 when
    /// it has none.
    pub registered_at: Arc<[AtomicI64]>,
}

impl Shared {
    /// Fresh tokens and zero counters for `gateways` gateways.
    pub fn new(gateways: usize) -> Self {
        Shared {
            produce: CancellationToken::new(),
            abort: CancellationToken::new(),
            counters: Arc::new(Counters::default()),
            generation: Arc::new(AtomicU64::new(0)),
            registered_at: (0..gateways).map(|_| AtomicI64::new(0)).collect(),
        }
    }

    /// True when every gateway has a session registered at or after
    /// `since_ms`.
    pub fn all_registered_since(&self, since_ms: i64) -> bool {
        self.registered_at
            .iter()
            .all(|at| at.load(Ordering::Relaxed) >= since_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanswered_notifications_are_counted() {
        let mut a = Arrival {
            key: ControlKey { gateway: 0, seq: 0 },
            tid: 100_000,
            session: 1,
            at_ms: 0,
            after_ack: false,
            notifications_sent: 2,
            answers: vec![],
        };
        assert_eq!(a.unanswered(), 2);
        assert!(!a.acknowledged());
        a.answers.push(0);
        assert_eq!(a.unanswered(), 1);
        assert!(a.acknowledged());
    }

    #[test]
    fn registration_flags() {
        let s = Shared::new(2);
        assert!(!s.all_registered_since(1));
        s.registered_at[0].store(5, Ordering::Relaxed);
        s.registered_at[1].store(7, Ordering::Relaxed);
        assert!(s.all_registered_since(5));
        assert!(!s.all_registered_since(6));
    }
}
