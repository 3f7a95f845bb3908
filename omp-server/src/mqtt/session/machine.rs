//! The protocol state of one MQTT connection, without IO: packets and
//! [`Instant`]s go in, [`Action`]s come out. The IO loop ([`super`])
//! reads, writes, looks logins up and waits for commits; the rules are
//! decided here and tested by passing instants (`machine/tests.rs`),
//! without sockets or sleeps.
//!
//! - The first packet must be CONNECT ([`Action::Authenticate`] after the
//!   client id is checked: CONNACK 2 for an empty one that asks to keep
//!   its session); anything else closes the connection, and so does a
//!   second CONNECT. An unacceptable protocol level, found by the codec,
//!   is answered CONNACK 1 ([`Machine::undecodable`]).
//! - [`Machine::logged_in`]: CONNACK 0, or the refusal's code and close.
//! - PUBLISH: [`Action::Store`]; the acknowledgement (PUBACK at QoS 1,
//!   PUBREC at QoS 2) comes from [`Machine::stored`], which the IO calls
//!   only after the commit. At QoS 2 the packet id is then remembered
//!   until PUBREL, so a resend before it ([`Action::Send`] of PUBREC
//!   again) is not stored twice. PUBREL → PUBCOMP.
//! - PUBACK / PUBCOMP of the server's PUBLISH: [`Action::Delivered`]
//!   (a command to the device may end on it).
//! - PINGREQ → PINGRESP; DISCONNECT closes and drops the will
//!   ([`Machine::take_will`] gives it only after an ungraceful end).
//! - Deadlines ([`Machine::poll_timeout`], [`Machine::handle_timeout`]):
//!   CONNECT within `connect`; once connected, a packet within 1.5× the
//!   client's keep-alive (none for keep-alive 0); and once a packet's
//!   first byte is in, its last within `packet`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mqtt_codec::{
    ConnAck, Connect, ConnectReturnCode, LastWill, MqttError, Packet, PubAck, PubComp, PubRec,
    PubRel, Publish, QoS, SubAck, SubAckCode, Subscribe, UnsubAck, Unsubscribe,
};

use crate::config::Config;
use crate::mqtt::metrics::CloseReason;
use crate::mqtt::router::Outgoing;
use crate::store::mqtt_provisioning::LoginProfile;

#[cfg(test)]
mod tests;

/// The time limits of a connection (from [`Config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time from connecting to the CONNECT.
    pub connect: Duration,
    /// Time from a packet's first byte to its last.
    pub packet: Duration,
}

impl Timeouts {
    /// The limits `config` sets (GMMP's first-frame and frame timeouts).
    pub fn from_config(config: &Config) -> Timeouts {
        Timeouts {
            connect: config.first_frame_timeout,
            packet: config.frame_timeout,
        }
    }
}

/// Why the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// DISCONNECT: the will is dropped.
    Disconnect,
    /// Input the codec could not decode.
    Malformed,
    /// A packet the protocol does not allow here.
    ProtocolViolation(&'static str),
    /// The login was refused (CONNACK ≠ 0 sent).
    Refused(ConnectReturnCode),
}

impl Close {
    /// The reason the session's end is logged and stored with.
    pub fn reason(self) -> &'static str {
        match self {
            Close::Disconnect => "disconnected",
            Close::Malformed => "malformed packet",
            Close::ProtocolViolation(why) => why,
            Close::Refused(_) => "login refused",
        }
    }

    /// The reason `/metrics` counts.
    pub fn kind(self) -> CloseReason {
        match self {
            Close::Disconnect => CloseReason::Disconnect,
            Close::Malformed => CloseReason::Malformed,
            Close::ProtocolViolation(_) => CloseReason::ProtocolViolation,
            Close::Refused(_) => CloseReason::LoginRefused,
        }
    }
}

/// What the IO loop does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Send this packet.
    Send(Packet),
    /// Check the login of this CONNECT, then call [`Machine::logged_in`].
    Authenticate(Connect),
    /// Commit this message, then call [`Machine::stored`] and route it.
    Store(Publish),
    /// Add these subscriptions, send this SUBACK, then the retained
    /// messages they match.
    Subscribe(Subscribe, SubAck),
    /// Remove these subscriptions and send this UNSUBACK.
    Unsubscribe(Unsubscribe, UnsubAck),
    /// The client completed the delivery of the server's PUBLISH with
    /// this packet id (PUBACK at QoS 1, PUBCOMP at QoS 2).
    Delivered(u16),
    /// Send this packet (if any), then close.
    Close(Option<Packet>, Close),
}

/// Why a deadline closed the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No CONNECT in time.
    NoConnect(Duration),
    /// Silent past 1.5× the keep-alive.
    KeepAlive(Duration),
    /// A packet started and was not completed in time.
    PacketNotCompleted(Duration),
}

impl Expiry {
    /// The reason the connection's end is logged with.
    pub fn reason(self) -> &'static str {
        match self {
            Expiry::NoConnect(_) => "no CONNECT in time",
            Expiry::KeepAlive(_) => "keep-alive expired",
            Expiry::PacketNotCompleted(_) => "packet not completed in time",
        }
    }

    /// The reason `/metrics` counts.
    pub fn kind(self) -> CloseReason {
        match self {
            Expiry::NoConnect(_) => CloseReason::ConnectTimeout,
            Expiry::KeepAlive(_) => CloseReason::KeepAlive,
            Expiry::PacketNotCompleted(_) => CloseReason::PacketTimeout,
        }
    }
}

/// The client a connection carries once it is logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Its client id (assigned by the server when it sent none).
    pub client_id: String,
    /// The profile of its approval, if any.
    pub profile: Option<LoginProfile>,
    /// Silence limit: 1.5× its keep-alive; `None` for keep-alive 0.
    pub silence_limit: Option<Duration>,
}

#[derive(Debug)]
enum Phase {
    AwaitingConnect,
    /// Boxed: a session is here only while its login is looked up, and
    /// every idle session would otherwise carry a CONNECT's space.
    Authenticating(Box<Connect>),
    Connected(Client),
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Machine {
    timeouts: Timeouts,
    session_id: u64,
    opened_at: Instant,
    last_packet_at: Instant,
    packet_started_at: Option<Instant>,
    phase: Phase,
    /// Boxed: most clients leave none, and room for one would be in
    /// every idle session's task.
    will: Option<Box<LastWill>>,
    /// QoS 2 packet ids stored and answered PUBREC, awaiting PUBREL.
    awaiting_pubrel: HashSet<u16>,
    next_packet_id: u16,
}

/// 1.5× the client's keep-alive, the silence it is allowed.
pub fn keep_alive_limit(keep_alive_seconds: u16) -> Option<Duration> {
    (keep_alive_seconds > 0).then(|| Duration::from_millis(u64::from(keep_alive_seconds) * 1500))
}

impl Machine {
    /// A new connection at `now`; `session_id` names a client id for a
    /// client that sends none.
    pub fn new(timeouts: Timeouts, session_id: u64, now: Instant) -> Machine {
        Machine {
            timeouts,
            session_id,
            opened_at: now,
            last_packet_at: now,
            packet_started_at: None,
            phase: Phase::AwaitingConnect,
            will: None,
            awaiting_pubrel: HashSet::new(),
            next_packet_id: 1,
        }
    }

    /// The logged-in client, if any.
    pub fn client(&self) -> Option<&Client> {
        match &self.phase {
            Phase::Connected(c) => Some(c),
            _ => None,
        }
    }

    /// The client id for logs: the logged-in one, or the one CONNECT gave.
    pub fn client_id(&self) -> Option<&str> {
        match &self.phase {
            Phase::AwaitingConnect => None,
            Phase::Authenticating(c) => Some(&c.client_id),
            Phase::Connected(c) => Some(&c.client_id),
        }
    }

    /// True while a packet's first bytes are buffered and its last not.
    pub fn packet_in_progress(&self) -> bool {
        self.packet_started_at.is_some()
    }

    /// The first bytes of a packet arrived at `now`.
    pub fn packet_started(&mut self, now: Instant) {
        self.packet_started_at.get_or_insert(now);
    }

    /// The will to publish as the session ends: the CONNECT's, unless the
    /// client sent DISCONNECT (or never logged in).
    pub fn take_will(&mut self) -> Option<LastWill> {
        match self.phase {
            Phase::Connected(_) => self.will.take().map(|w| *w),
            _ => None,
        }
    }

    /// What a whole packet received at `now` asks for.
    pub fn handle_packet(&mut self, packet: Packet, now: Instant) -> Action {
        self.packet_started_at = None;
        self.last_packet_at = now;
        match (&self.phase, packet) {
            (Phase::AwaitingConnect, Packet::Connect(c)) => self.connect(c),
            (Phase::AwaitingConnect, _) => Action::Close(
                None,
                Close::ProtocolViolation("first packet is not CONNECT"),
            ),
            (Phase::Authenticating(_), _) => {
                Action::Close(None, Close::ProtocolViolation("packet before CONNACK"))
            }
            (Phase::Connected(_), packet) => self.connected(packet),
        }
    }

    fn connect(&mut self, mut c: Connect) -> Action {
        if c.client_id.is_empty() {
            if !c.clean_session {
                // 3.1.1 §3.1.3.1: no id to keep a session under.
                return Action::Close(
                    Some(connack(ConnectReturnCode::IdentifierRejected)),
                    Close::Refused(ConnectReturnCode::IdentifierRejected),
                );
            }
            c.client_id = format!("omp-{}", self.session_id);
        }
        self.phase = Phase::Authenticating(Box::new(c.clone()));
        Action::Authenticate(c)
    }

    /// The login of the CONNECT was judged: `Ok(profile)` admits it
    /// (CONNACK 0), `Err(code)` refuses it.
    pub fn logged_in(
        &mut self,
        result: Result<Option<LoginProfile>, ConnectReturnCode>,
        now: Instant,
    ) -> Action {
        let Phase::Authenticating(c) = std::mem::replace(&mut self.phase, Phase::AwaitingConnect)
        else {
            return Action::Close(None, Close::ProtocolViolation("login without CONNECT"));
        };
        self.last_packet_at = now;
        match result {
            Ok(profile) => {
                self.will = c.will.map(Box::new);
                self.phase = Phase::Connected(Client {
                    client_id: c.client_id,
                    profile,
                    silence_limit: keep_alive_limit(c.keep_alive),
                });
                Action::Send(connack(ConnectReturnCode::Accepted))
            }
            Err(code) => {
                self.phase = Phase::Authenticating(Box::new(Connect {
                    will: None,
                    password: None,
                    ..*c
                }));
                Action::Close(Some(connack(code)), Close::Refused(code))
            }
        }
    }

    fn connected(&mut self, packet: Packet) -> Action {
        match packet {
            Packet::Publish(p) => match p.qos {
                QoS::ExactlyOnce if self.awaiting_pubrel.contains(&p.packet_id) => {
                    // Stored already; its PUBREC was lost.
                    Action::Send(Packet::PubRec(PubRec {
                        packet_id: p.packet_id,
                    }))
                }
                _ => Action::Store(p),
            },
            Packet::PubRel(r) => {
                self.awaiting_pubrel.remove(&r.packet_id);
                Action::Send(Packet::PubComp(PubComp {
                    packet_id: r.packet_id,
                }))
            }
            // Acknowledgements of what the server sent.
            Packet::PubAck(a) => Action::Delivered(a.packet_id),
            Packet::PubComp(c) => Action::Delivered(c.packet_id),
            Packet::PubRec(r) => Action::Send(Packet::PubRel(PubRel::new(r.packet_id))),
            Packet::Subscribe(s) => {
                let suback = SubAck {
                    packet_id: s.packet_id,
                    return_codes: s
                        .filters
                        .iter()
                        .map(|f| SubAckCode::Granted(f.qos))
                        .collect(),
                };
                Action::Subscribe(s, suback)
            }
            Packet::Unsubscribe(u) => {
                let unsuback = UnsubAck {
                    packet_id: u.packet_id,
                };
                Action::Unsubscribe(u, unsuback)
            }
            Packet::PingReq => Action::Send(Packet::PingResp),
            Packet::Disconnect => {
                self.will = None;
                Action::Close(None, Close::Disconnect)
            }
            Packet::Connect(_) => Action::Close(None, Close::ProtocolViolation("second CONNECT")),
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                Action::Close(
                    None,
                    Close::ProtocolViolation("server-to-client packet from the client"),
                )
            }
        }
    }

    /// `p` is committed: its acknowledgement, if its QoS has one. A QoS 2
    /// packet id is remembered until its PUBREL.
    pub fn stored(&mut self, p: &Publish) -> Option<Packet> {
        match p.qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => Some(Packet::PubAck(PubAck {
                packet_id: p.packet_id,
            })),
            QoS::ExactlyOnce => {
                self.awaiting_pubrel.insert(p.packet_id);
                Some(Packet::PubRec(PubRec {
                    packet_id: p.packet_id,
                }))
            }
        }
    }

    /// Input the codec could not decode: CONNACK 1 for an unacceptable
    /// protocol in the CONNECT, else close without an answer.
    pub fn undecodable(&self, e: &MqttError) -> Action {
        match (&self.phase, e.connack_code()) {
            (Phase::AwaitingConnect, Some(code)) => {
                Action::Close(Some(connack(code)), Close::Refused(code))
            }
            _ => Action::Close(None, Close::Malformed),
        }
    }

    /// The PUBLISH that carries `m` to this client: a fresh packet id at
    /// QoS 1 and 2, and never RETAIN=1 to a OneNET device (its SDK rejects
    /// such a PUBLISH and stays stuck on it).
    pub fn outgoing(&mut self, m: Outgoing) -> Packet {
        let onenet = self
            .client()
            .is_some_and(|c| c.profile == Some(LoginProfile::OneNet));
        let packet_id = if m.qos == QoS::AtMostOnce {
            0
        } else {
            let id = self.next_packet_id;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            id
        };
        Packet::Publish(Publish {
            dup: false,
            qos: m.qos,
            retain: m.retain && !onenet,
            topic: m.topic,
            packet_id,
            payload: m.payload,
        })
    }

    /// The next deadline, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let idle = match &self.phase {
            Phase::AwaitingConnect | Phase::Authenticating(_) => {
                Some(self.opened_at + self.timeouts.connect)
            }
            Phase::Connected(c) => c.silence_limit.map(|l| self.last_packet_at + l),
        };
        let packet = self.packet_started_at.map(|t| t + self.timeouts.packet);
        match (idle, packet) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The expiry that closes the connection at `now`, if a deadline has
    /// passed.
    pub fn handle_timeout(&self, now: Instant) -> Option<Expiry> {
        if let Some(t) = self.packet_started_at
            && now >= t + self.timeouts.packet
        {
            return Some(Expiry::PacketNotCompleted(self.timeouts.packet));
        }
        match &self.phase {
            Phase::AwaitingConnect | Phase::Authenticating(_) => (now
                >= self.opened_at + self.timeouts.connect)
                .then_some(Expiry::NoConnect(self.timeouts.connect)),
            Phase::Connected(c) => c
                .silence_limit
                .filter(|l| now >= self.last_packet_at + *l)
                .map(Expiry::KeepAlive),
        }
    }
}

fn connack(code: ConnectReturnCode) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: false,
        code,
    })
}
