//! `hostile`: well-behaved gateways deliver at a steady pace while one
//! attack runs against the same OMP; the figures are the good gateways'
//! delivery latency during the attack, what the attack achieved, and the
//! OMP's memory.
//!
//! The good gateways connect from 127.0.0.2 and the attackers from
//! 127.0.0.1 (or spread over 127.1.0.1… with `--attack-sources`), as a
//! real attacker is not behind the gateways' address; the OMP's per-IP cap
//! on unauthenticated connections then applies to the attacker only.
//!
//! Attacks (`--attack`), each run by `--attackers` concurrent loops that
//! reconnect whenever the OMP closes them:
//! - `random`: random bytes (1‥4096 of them) on a new connection.
//! - `lengths`: a GMMP header whose `message_length` is absurd (0, 1, 49,
//!   2143, 0x7fff, 0xffff) or promises more than is sent.
//! - `slowloris`: a frame sent one byte every `--trickle-ms`.
//! - `idle`: connections that never send anything.
//! - `foreign`: a registered attacker sends deliveries naming the good
//!   gateways' GW IDs, and deliveries with their auth IDs and a guessed
//!   key; every one must be refused (rc 0x04).
//! - `replay`: an attacker records a delivery, deregisters and registers
//!   again (new key), then replays the recording; every replay must be
//!   refused.
//! - `register-flood`: GW registrations of new auth IDs, as fast as they
//!   are answered.
//! - `none`: no attack (the baseline).
//!
//! The run fails (non-zero exit) when a good gateway loses its session or
//! gets anything but STATUS_OK, or when a forged or replayed frame is
//! accepted.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use clap::ValueEnum;
use gmmp_codec::{
    AuthKey, DeliveryRequest, DeviceId, Frame, GwDeregistrationRequest, GwRegistrationRequest,
    Message, ReportType, ResultCode,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::error::BenchError;
use crate::latency::Latency;
use crate::rss::RssSampler;
use crate::scenario::{MANUFACTURE_ID, REGISTER_TIMEOUT};
use test_support::gmmp_client::{
    self, ClientError, DOMAIN, Gateway, auth_id_for, fixed, payload_of,
};
use test_support::report::Report;

/// Source address of the good gateways.
pub const GOOD_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// How long one answer may take before a good gateway counts it failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Payload bytes of the good gateways' deliveries.
const PAYLOAD: usize = 100;

/// The attack run against the OMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Attack {
    /// No attack: the baseline.
    None,
    /// Random bytes.
    Random,
    /// Headers with absurd lengths.
    Lengths,
    /// Frames trickled one byte at a time.
    Slowloris,
    /// Connections that never send.
    Idle,
    /// Frames naming other gateways.
    Foreign,
    /// Frames replayed with an old auth key.
    Replay,
    /// Registrations of new auth IDs.
    RegisterFlood,
}

impl Attack {
    /// The name as given on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Attack::None => "none",
            Attack::Random => "random",
            Attack::Lengths => "lengths",
            Attack::Slowloris => "slowloris",
            Attack::Idle => "idle",
            Attack::Foreign => "foreign",
            Attack::Replay => "replay",
            Attack::RegisterFlood => "register-flood",
        }
    }
}

/// What `hostile` needs.
#[derive(Debug, Clone)]
pub struct HostileOptions {
    /// The OMP's GMMP listener.
    pub target: SocketAddr,
    /// The attack.
    pub attack: Attack,
    /// Concurrent attack loops.
    pub attackers: usize,
    /// Source addresses the attackers spread over (0 = 127.0.0.1 only).
    pub attack_sources: usize,
    /// Good gateways.
    pub gateways: usize,
    /// Time between two deliveries of one good gateway.
    pub interval: Duration,
    /// How long the attack runs.
    pub duration: Duration,
    /// Pause between two bytes of the slowloris attack.
    pub trickle: Duration,
    /// The OMP's PID for memory figures.
    pub server_pid: Option<u32>,
    /// Auth ID prefix of the good gateways (the attackers use their own).
    pub auth_prefix: String,
}

/// What the attack loops counted.
#[derive(Debug, Default)]
struct AttackTally {
    connections: AtomicU64,
    connect_errors: AtomicU64,
    closed_by_server: AtomicU64,
    open_now: AtomicU64,
    open_max: AtomicU64,
    refused: AtomicU64,
    accepted: AtomicU64,
    other_answers: AtomicU64,
    registrations: AtomicU64,
}

impl AttackTally {
    fn opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        let now = self.open_now.fetch_add(1, Ordering::Relaxed) + 1;
        self.open_max.fetch_max(now, Ordering::Relaxed);
    }

    fn closed(&self, by_server: bool) {
        self.open_now.fetch_sub(1, Ordering::Relaxed);
        if by_server {
            self.closed_by_server.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn answer(&self, rc: Option<ResultCode>) {
        let counter = match rc {
            Some(ResultCode::PERMISSION_DENIED) => &self.refused,
            Some(ResultCode::OK) => &self.accepted,
            _ => &self.other_answers,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the good gateways counted.
#[derive(Debug, Default)]
struct GoodTally {
    delivered: u64,
    not_ok: u64,
    session_errors: u64,
    latency: Latency,
    first_error: Option<String>,
}

/// Runs the scenario: the report, and the check failure if any.
pub async fn run(opts: &HostileOptions) -> Result<(Report, Option<BenchError>), BenchError> {
    if opts.gateways == 0 {
        return Err(BenchError::Config {
            option: "--gateways",
            detail: "at least one good gateway is needed to measure".into(),
        });
    }
    let sampler = match opts.server_pid {
        Some(pid) => Some(RssSampler::start(pid, Duration::from_millis(100))?),
        None => None,
    };
    let mut good = Vec::with_capacity(opts.gateways);
    for i in 0..opts.gateways {
        let stream = gmmp_client::connect(opts.target, Some(GOOD_SOURCE)).await?;
        let auth_id = auth_id_for(&opts.auth_prefix, i);
        good.push(Gateway::register(stream, &auth_id, MANUFACTURE_ID, REGISTER_TIMEOUT).await?);
    }
    let victims: Vec<(String, String)> = good
        .iter()
        .map(|g| (g.name().to_string(), g.gw_id()))
        .collect();

    let start = Instant::now();
    let deadline = start + opts.duration;
    let tally = Arc::new(AttackTally::default());
    let lifetimes = Arc::new(std::sync::Mutex::new(Latency::new()));
    let mut attackers = Vec::new();
    if opts.attack != Attack::None {
        for index in 0..opts.attackers {
            let ctx = AttackContext {
                target: opts.target,
                source: attack_source(index, opts.attack_sources),
                index,
                deadline,
                trickle: opts.trickle,
                victims: victims.clone(),
                tally: tally.clone(),
                lifetimes: lifetimes.clone(),
            };
            let attack = opts.attack;
            attackers.push(tokio::spawn(async move {
                ctx.run(attack).await;
            }));
        }
    }
    let mut good_tasks = Vec::with_capacity(good.len());
    for (i, gw) in good.into_iter().enumerate() {
        // Spread the good gateways' sends over one interval.
        let first = start + opts.interval.mul_f64(i as f64 / opts.gateways as f64);
        good_tasks.push(tokio::spawn(deliver_paced(
            gw,
            first,
            opts.interval,
            deadline,
        )));
    }
    let mut total = GoodTally::default();
    for task in good_tasks {
        match task.await {
            Ok(t) => {
                total.delivered += t.delivered;
                total.not_ok += t.not_ok;
                total.session_errors += t.session_errors;
                total.latency.merge(&t.latency);
                if total.first_error.is_none() {
                    total.first_error = t.first_error;
                }
            }
            Err(e) => {
                total.session_errors += 1;
                total.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    for a in attackers {
        // An attack loop that panicked is a bench bug; its counts are lost.
        let _ = a.await;
    }
    let elapsed = start.elapsed();

    let mut report = Report::new("hostile");
    report
        .set("attack", opts.attack.name())
        .set("attackers", opts.attackers)
        .set("good_gateways", opts.gateways)
        .set_f64("good_interval_ms", opts.interval.as_secs_f64() * 1000.0, 1)
        .set_f64("elapsed_secs", elapsed.as_secs_f64(), 2)
        .set("good_delivered", total.delivered)
        .set("good_not_ok", total.not_ok)
        .set("good_session_errors", total.session_errors);
    total.latency.add_to(&mut report, "good_");
    let counters = [
        ("attack_connections", &tally.connections),
        ("attack_connect_errors", &tally.connect_errors),
        ("attack_closed_by_server", &tally.closed_by_server),
        ("attack_max_open", &tally.open_max),
        ("attack_refused_rc04", &tally.refused),
        ("attack_accepted", &tally.accepted),
        ("attack_other_answers", &tally.other_answers),
        ("attack_registrations", &tally.registrations),
    ];
    for (key, value) in counters {
        report.set(key, value.load(Ordering::Relaxed));
    }
    let lifetimes = lifetimes.lock().map(|l| l.clone()).unwrap_or_default();
    if lifetimes.count() > 0 {
        lifetimes.add_to(&mut report, "attack_lifetime_");
    }
    if let Some(e) = &total.first_error {
        report.set("first_error", e.clone());
    }
    if let Some(sampler) = sampler {
        sampler.finish(&mut report).await;
    }
    let accepted = tally.accepted.load(Ordering::Relaxed);
    let check = if total.session_errors > 0 || total.not_ok > 0 || total.delivered == 0 {
        Some(BenchError::Protocol {
            auth_id: format!("good gateways ({})", opts.auth_prefix),
            detail: format!(
                "under the {} attack: {} delivered, {} not STATUS_OK, {} sessions lost",
                opts.attack.name(),
                total.delivered,
                total.not_ok,
                total.session_errors
            ),
        })
    } else if accepted > 0 && matches!(opts.attack, Attack::Foreign | Attack::Replay) {
        Some(BenchError::Protocol {
            auth_id: "attacker".into(),
            detail: format!("{accepted} forged or replayed deliveries were accepted"),
        })
    } else {
        None
    };
    Ok((report, check))
}

/// Attacker `index`'s source: 127.0.0.1, or one of `sources` addresses
/// 127.1.0.1….
pub fn attack_source(index: usize, sources: usize) -> Option<Ipv4Addr> {
    if sources == 0 {
        return None;
    }
    let n = index % sources + 1;
    Some(Ipv4Addr::new(127, 1, (n >> 8) as u8, n as u8))
}

/// One good gateway: a delivery every `interval` from `first` until
/// `deadline`, each answer awaited.
async fn deliver_paced(
    mut gw: Gateway,
    first: Instant,
    interval: Duration,
    deadline: Instant,
) -> GoodTally {
    let mut tally = GoodTally::default();
    let mut template = match gw.delivery_template(payload_of(PAYLOAD)) {
        Ok(t) => t,
        Err(e) => {
            tally.session_errors += 1;
            tally.first_error = Some(e.to_string());
            return tally;
        }
    };
    let mut next = first;
    while next < deadline {
        tokio::time::sleep_until(next).await;
        next += interval;
        let tid = gw.take_tid();
        let sent = std::time::Instant::now();
        let result = async {
            gw.feed_raw(template.with_tid(tid)).await?;
            gw.flush().await?;
            loop {
                let answer = gw.recv_within(ANSWER_TIMEOUT, "waiting for a 0x0C").await?;
                match &answer.message {
                    Message::DeliveryResponse(r) if answer.header.tid == tid => {
                        return Ok::<_, BenchError>(r.result_code);
                    }
                    // Anything else pushed to the gateway is ignored.
                    _ => continue,
                }
            }
        }
        .await;
        match result {
            Ok(rc) => {
                tally.latency.record(sent.elapsed());
                tally.delivered += 1;
                if rc != ResultCode::OK {
                    tally.not_ok += 1;
                }
            }
            Err(e) => {
                tally.session_errors += 1;
                tally.first_error = Some(e.to_string());
                return tally;
            }
        }
    }
    tally
}

/// What one attack loop needs.
struct AttackContext {
    target: SocketAddr,
    source: Option<Ipv4Addr>,
    index: usize,
    deadline: Instant,
    trickle: Duration,
    /// (auth ID, GW ID) of the good gateways.
    victims: Vec<(String, String)>,
    tally: Arc<AttackTally>,
    lifetimes: Arc<std::sync::Mutex<Latency>>,
}

impl AttackContext {
    async fn run(self, attack: Attack) {
        let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15 ^ (self.index as u64 + 1));
        let mut round = 0usize;
        while Instant::now() < self.deadline {
            let done = match attack {
                Attack::None => return,
                Attack::Random => {
                    let mut bytes = vec![0u8; rng.usize(1..=4096)];
                    rng.fill(&mut bytes);
                    self.send_and_wait_close(&bytes, None).await
                }
                Attack::Lengths => {
                    let bytes = absurd_header(round);
                    self.send_and_wait_close(&bytes, None).await
                }
                Attack::Slowloris => {
                    let bytes = registration_bytes(&format!("slow{:08}", self.index));
                    self.send_and_wait_close(&bytes, Some(self.trickle)).await
                }
                Attack::Idle => self.send_and_wait_close(&[], None).await,
                Attack::Foreign => self.foreign(round).await,
                Attack::Replay => self.replay().await,
                Attack::RegisterFlood => self.register(round).await,
            };
            round += 1;
            if done.is_err() {
                // Connection refused or reset: pause briefly rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    async fn connect(&self) -> Result<TcpStream, BenchError> {
        match gmmp_client::connect(self.target, self.source).await {
            Ok(s) => {
                self.tally.opened();
                Ok(s)
            }
            Err(e) => {
                self.tally.connect_errors.fetch_add(1, Ordering::Relaxed);
                Err(e.into())
            }
        }
    }

    /// Sends `bytes` (at once, or one byte per `trickle`), then waits for
    /// the OMP to close the connection (or the run to end).
    async fn send_and_wait_close(
        &self,
        bytes: &[u8],
        trickle: Option<Duration>,
    ) -> Result<(), BenchError> {
        let mut stream = self.connect().await?;
        let opened = std::time::Instant::now();
        let (mut read, mut write) = stream.split();
        let mut sent = 0;
        let mut buf = [0u8; 1024];
        if trickle.is_none() {
            // The OMP may close before it read everything: that is fine.
            if write.write_all(bytes).await.is_ok() {
                sent = bytes.len();
            }
        }
        let pause = trickle.unwrap_or(Duration::from_secs(3600));
        let by_server = loop {
            tokio::select! {
                r = read.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break true,
                    Ok(_) => continue,
                },
                () = tokio::time::sleep(pause), if sent < bytes.len() => {
                    if write.write_all(&bytes[sent..=sent]).await.is_err() {
                        break true;
                    }
                    sent += 1;
                }
                () = tokio::time::sleep_until(self.deadline) => break false,
            }
        };
        self.tally.closed(by_server);
        if by_server && let Ok(mut l) = self.lifetimes.lock() {
            l.record(opened.elapsed());
        }
        Ok(())
    }

    /// One round of `foreign`: deliveries naming a good gateway's GW ID on
    /// the attacker's own session, or its auth ID with a guessed key.
    async fn foreign(&self, round: usize) -> Result<(), BenchError> {
        let (victim_auth, victim_gw) = &self.victims[round % self.victims.len()];
        let stream = self.connect().await?;
        let result = async {
            if round % 2 == 0 {
                let own = auth_id_for("evil", self.index);
                let mut gw =
                    Gateway::register(stream, &own, MANUFACTURE_ID, REGISTER_TIMEOUT).await?;
                self.tally.registrations.fetch_add(1, Ordering::Relaxed);
                let identity = *gw.identity();
                let header = gmmp_codec::Header::new(identity.auth_id, identity.auth_key, 1)
                    .with_encryption_flag(0x02);
                let frame = Frame::new(header, forged_delivery(victim_gw)?);
                self.burst(&mut gw, &frame).await
            } else {
                let auth = fixed("auth_id", victim_auth)?;
                let key: AuthKey = fixed("auth_key", "SPguessedkey0000")?;
                let header = gmmp_codec::Header::new(auth, key, 1).with_encryption_flag(0x02);
                let frame = Frame::new(header, forged_delivery(victim_gw)?);
                let mut raw = RawPeer::new(stream);
                raw.burst(&frame, &self.tally, self.deadline).await
            }
        }
        .await;
        self.tally.closed(false);
        result
    }

    /// Sends `frame` 100 times on a gateway's session and counts answers.
    async fn burst(&self, gw: &mut Gateway, frame: &Frame) -> Result<(), BenchError> {
        for _ in 0..100 {
            if Instant::now() >= self.deadline {
                break;
            }
            gw.send(frame).await?;
            let answer = gw.recv_within(ANSWER_TIMEOUT, "a forged delivery").await?;
            self.tally.answer(answer.message.result_code());
        }
        Ok(())
    }

    /// One round of `replay`: register, record, deregister, register again,
    /// replay the recording 100 times.
    async fn replay(&self) -> Result<(), BenchError> {
        let own = auth_id_for("replay", self.index);
        let stream = self.connect().await?;
        let recorded = self.record_and_deregister(stream, &own).await;
        self.tally.closed(false);
        let recorded = recorded?;
        // Register again on a new connection: a new key.
        let stream = self.connect().await?;
        let result = async {
            let mut gw = Gateway::register(stream, &own, MANUFACTURE_ID, REGISTER_TIMEOUT).await?;
            self.tally.registrations.fetch_add(2, Ordering::Relaxed);
            for _ in 0..100 {
                if Instant::now() >= self.deadline {
                    break;
                }
                gw.feed_raw(&recorded).await?;
                gw.flush().await?;
                let answer = gw
                    .recv_within(ANSWER_TIMEOUT, "a replayed delivery")
                    .await?;
                self.tally.answer(answer.message.result_code());
            }
            Ok(())
        }
        .await;
        self.tally.closed(false);
        result
    }

    /// Registers `auth_id` on `stream`, records a delivery under its key,
    /// and deregisters (so the next registration gets a new key).
    async fn record_and_deregister(
        &self,
        stream: TcpStream,
        own: &str,
    ) -> Result<Bytes, BenchError> {
        let mut gw = Gateway::register(stream, own, MANUFACTURE_ID, REGISTER_TIMEOUT).await?;
        let mut template = gw.delivery_template(payload_of(20))?;
        let recorded = Bytes::copy_from_slice(template.with_tid(7));
        let identity = *gw.identity();
        let tid = gw.take_tid();
        let dereg = Frame::new(
            gw.header(tid),
            GwDeregistrationRequest {
                domain_code: fixed("domain_code", DOMAIN)?,
                gw_id: identity.gw_id,
            },
        );
        gw.send(&dereg).await?;
        gw.recv_within(ANSWER_TIMEOUT, "the 0x04 deregistration response")
            .await?;
        Ok(recorded)
    }

    /// One registration of a new auth ID.
    async fn register(&self, round: usize) -> Result<(), BenchError> {
        let stream = self.connect().await?;
        let auth_id = auth_id_for(&format!("fl{:03}", self.index % 1000), round);
        let result = Gateway::register(stream, &auth_id, MANUFACTURE_ID, REGISTER_TIMEOUT).await;
        self.tally.closed(false);
        match result {
            Ok(_) => {
                self.tally.registrations.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(ClientError::RegistrationRefused { rc, .. }) => {
                self.tally.answer(Some(ResultCode(rc)));
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A delivery naming `gw_id`, from nobody in particular.
fn forged_delivery(gw_id: &str) -> Result<DeliveryRequest, BenchError> {
    Ok(DeliveryRequest {
        domain_code: fixed("domain_code", DOMAIN)?,
        gw_id: fixed("gw_id", gw_id)?,
        device_id: DeviceId::EMPTY,
        report_type: ReportType::COLLECT_DATA,
        media_type: 0x01,
        payload: Bytes::from_static(b"forged"),
    })
}

/// The bytes of a GW registration request for `auth_id`.
fn registration_bytes(auth_id: &str) -> Vec<u8> {
    let frame = (|| {
        Ok::<_, BenchError>(Frame::new(
            gmmp_codec::Header::new(fixed("auth_id", auth_id)?, AuthKey::EMPTY, 1),
            GwRegistrationRequest {
                domain_code: fixed("domain_code", DOMAIN)?,
                manufacture_id: fixed("manufacture_id", MANUFACTURE_ID)?,
            },
        ))
    })();
    frame
        .ok()
        .and_then(|f| f.to_bytes().ok())
        .map_or_else(Vec::new, |b| b.to_vec())
}

/// A registration header whose `message_length` is absurd, by round:
/// too short, too long, or promising more than is sent.
fn absurd_header(round: usize) -> Vec<u8> {
    const LENGTHS: [u16; 7] = [0, 1, 49, 2143, 0x7fff, 0xffff, 2142];
    let mut bytes = registration_bytes("lengths");
    if bytes.len() < 3 {
        return vec![0x21, 0xff, 0xff];
    }
    let length = LENGTHS[round % LENGTHS.len()];
    bytes[1..3].copy_from_slice(&length.to_be_bytes());
    bytes
}

/// A connection used with raw frames (no registration).
struct RawPeer {
    framed: tokio_util::codec::Framed<TcpStream, gmmp_client::ClientCodec>,
}

impl RawPeer {
    fn new(stream: TcpStream) -> RawPeer {
        RawPeer {
            framed: tokio_util::codec::Framed::new(stream, gmmp_client::ClientCodec),
        }
    }

    /// Sends `frame` up to 100 times, counting the answers, until the OMP
    /// closes the connection or the run ends.
    async fn burst(
        &mut self,
        frame: &Frame,
        tally: &AttackTally,
        deadline: Instant,
    ) -> Result<(), BenchError> {
        use futures::{SinkExt, StreamExt};
        for _ in 0..100 {
            if Instant::now() >= deadline {
                break;
            }
            if self.framed.send(frame).await.is_err() {
                break;
            }
            match tokio::time::timeout(ANSWER_TIMEOUT, self.framed.next()).await {
                Ok(Some(Ok(answer))) => tally.answer(answer.message.result_code()),
                _ => break,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attackers_spread_over_their_own_sources() {
        assert_eq!(attack_source(5, 0), None);
        assert_eq!(attack_source(0, 3), Some(Ipv4Addr::new(127, 1, 0, 1)));
        assert_eq!(attack_source(4, 3), Some(Ipv4Addr::new(127, 1, 0, 2)));
        assert_eq!(attack_source(299, 300), Some(Ipv4Addr::new(127, 1, 1, 44)));
    }

    #[test]
    fn absurd_headers_keep_the_gmmp_version_and_change_the_length() {
        let h = absurd_header(5);
        assert_eq!(h[0], gmmp_codec::VERSION);
        assert_eq!(u16::from_be_bytes([h[1], h[2]]), 0xffff);
        let promised = absurd_header(6);
        assert!(usize::from(u16::from_be_bytes([promised[1], promised[2]])) > promised.len());
    }

    fn options(target: SocketAddr, attack: Attack) -> HostileOptions {
        HostileOptions {
            target,
            attack,
            attackers: 4,
            attack_sources: 2,
            gateways: 2,
            interval: Duration::from_millis(20),
            duration: Duration::from_millis(500),
            trickle: Duration::from_millis(50),
            server_pid: None,
            auth_prefix: "good".into(),
        }
    }

    #[tokio::test]
    async fn good_gateways_are_measured_while_random_bytes_are_sent() {
        let responder = test_support::scripted_omp::ScriptedOmp::start(Default::default(), None)
            .await
            .unwrap();
        let (report, check) = tokio::time::timeout(
            Duration::from_secs(30),
            run(&options(responder.addr, Attack::Random)),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(check.is_none(), "{check:?}");
        let n = |k: &str| report.get(k).and_then(|v| v.as_u64()).unwrap();
        assert!(n("good_delivered") > 0);
        assert_eq!(n("good_session_errors"), 0);
        assert!(n("attack_connections") > 0);
        assert!(n("attack_closed_by_server") > 0);
        assert_eq!(report.get("attack").unwrap(), "random");
    }

    #[test]
    fn a_registration_frame_decodes() {
        let bytes = registration_bytes("slow00000001");
        let frame = Frame::decode_slice(&bytes).unwrap();
        assert!(matches!(frame.message, Message::GwRegistrationRequest(_)));
    }
}
