//! `mqtt-sessions`: open S idle MQTT sessions (CONNECT, then a PINGREQ
//! every `--ping-period` seconds each, spread over the period) and hold
//! them for `--duration`.
//!
//! The OMP's RSS is read before the first connect and again once every
//! session is open and has been held; the difference over the sessions
//! held is its memory per idle MQTT session. Ping latency is PINGREQ →
//! PINGRESP. One process holds every client socket, so S is bounded by
//! its open-files limit (raised to the hard limit at start); past the
//! ephemeral port range (~28,000 towards one listener) sessions would need
//! other source addresses, which this scenario does not do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use mqtt_codec::{MqttCodec, Packet};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use crate::error::BenchError;
use crate::latency::Latency;
use crate::rss;
use test_support::mqtt_client;
use test_support::report::Report;

/// How long a CONNACK or PINGRESP may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Descriptors the process keeps for itself besides session sockets.
const FD_RESERVE: u64 = 200;

/// What `mqtt-sessions` needs.
#[derive(Debug, Clone)]
pub struct MqttSessionsOptions {
    /// The OMP's MQTT listener.
    pub target: SocketAddr,
    /// Sessions to open.
    pub sessions: usize,
    /// Seconds between two PINGREQs of one session.
    pub ping_period: Duration,
    /// How long to hold them once all are open.
    pub hold: Duration,
    /// CONNECTs in flight at once.
    pub connect_concurrency: usize,
    /// The OMP's PID, for its memory.
    pub server_pid: Option<u32>,
}

/// What the sessions counted.
#[derive(Debug, Default)]
struct Tally {
    open: AtomicU64,
    failed: AtomicU64,
    pings: AtomicU64,
    dropped: AtomicU64,
}

/// Runs the scenario.
pub async fn run(opts: &MqttSessionsOptions) -> Result<Report, BenchError> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if let Some(hard) = limit.maximum {
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        );
    }
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    if opts.sessions as u64 + FD_RESERVE > soft {
        return Err(BenchError::Config {
            option: "--sessions",
            detail: format!(
                "{} sessions need {} open files in this process; the limit is {soft}",
                opts.sessions,
                opts.sessions as u64 + FD_RESERVE
            ),
        });
    }
    let before = opts.server_pid.map(rss::read).transpose()?;
    let tally = Arc::new(Tally::default());
    let latency = Arc::new(std::sync::Mutex::new(Latency::new()));
    let stop = CancellationToken::new();
    let gate = Arc::new(Semaphore::new(opts.connect_concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(opts.sessions);
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel::<bool>(opts.sessions.max(1));
    for index in 0..opts.sessions {
        let opts = opts.clone();
        let tally = tally.clone();
        let latency = latency.clone();
        let stop = stop.clone();
        let gate = gate.clone();
        let opened = opened_tx.clone();
        tasks.push(tokio::spawn(async move {
            let framed = {
                let _permit = gate.acquire().await;
                mqtt_client::connect(opts.target, format!("idle-{index}"), 120, ANSWER_TIMEOUT)
                    .await
            };
            let framed = match framed {
                Ok(f) => {
                    tally.open.fetch_add(1, Ordering::Relaxed);
                    let _ = opened.send(true).await;
                    f
                }
                Err(e) => {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    let _ = opened.send(false).await;
                    return Some(e);
                }
            };
            hold(index, framed, &opts, &tally, &latency, &stop).await
        }));
    }
    drop(opened_tx);
    for _ in 0..opts.sessions {
        if opened_rx.recv().await.is_none() {
            break;
        }
    }
    let open_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(opts.hold).await;
    let after = opts.server_pid.map(rss::read).transpose()?;
    stop.cancel();
    let mut first_error = None;
    for t in tasks {
        if let Ok(Some(e)) = t.await {
            first_error.get_or_insert(e);
        }
    }
    let open = tally.open.load(Ordering::Relaxed);
    let mut report = Report::new("mqtt-sessions");
    report
        .set("sessions", opts.sessions)
        .set("opened", open)
        .set("failed", tally.failed.load(Ordering::Relaxed))
        .set("dropped_while_held", tally.dropped.load(Ordering::Relaxed))
        .set_f64("open_secs", open_secs, 2)
        .set_f64("held_secs", opts.hold.as_secs_f64(), 1)
        .set("pings", tally.pings.load(Ordering::Relaxed));
    if let Ok(l) = latency.lock() {
        l.add_to(&mut report, "ping_");
    }
    if let (Some(b), Some(a)) = (before, after) {
        report
            .set("server_rss_before_kib", b.rss_kib)
            .set("server_rss_after_kib", a.rss_kib)
            .set_f64(
                "server_bytes_per_session",
                (a.rss_kib.saturating_sub(b.rss_kib) * 1024) as f64 / open.max(1) as f64,
                0,
            );
    }
    if let Some(e) = first_error {
        report.set("first_error", e);
    }
    Ok(report)
}

/// Pings every period (the first at an offset spread by `index`) until
/// `stop`; the error that ended the session early, if any.
async fn hold(
    index: usize,
    mut framed: Framed<TcpStream, MqttCodec>,
    opts: &MqttSessionsOptions,
    tally: &Tally,
    latency: &std::sync::Mutex<Latency>,
    stop: &CancellationToken,
) -> Option<String> {
    let period = opts.ping_period.max(Duration::from_millis(10));
    let offset = period.mul_f64((index % 1000) as f64 / 1000.0);
    let mut next = Instant::now() + offset;
    loop {
        tokio::select! {
            () = stop.cancelled() => {
                let _ = framed.send(Packet::Disconnect).await;
                return None;
            }
            () = tokio::time::sleep_until(next) => {}
            read = framed.next() => {
                // Nothing is due from an idle session between pings.
                tally.dropped.fetch_add(1, Ordering::Relaxed);
                return Some(format!("session {index} ended while idle: {read:?}"));
            }
        }
        next += period;
        let sent = Instant::now();
        if let Err(e) = framed.send(Packet::PingReq).await {
            tally.dropped.fetch_add(1, Ordering::Relaxed);
            return Some(format!("PINGREQ: {e}"));
        }
        match tokio::time::timeout(ANSWER_TIMEOUT, framed.next()).await {
            Ok(Some(Ok(Packet::PingResp))) => {
                tally.pings.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut l) = latency.lock() {
                    l.record(sent.elapsed());
                }
            }
            other => {
                tally.dropped.fetch_add(1, Ordering::Relaxed);
                return Some(format!("waiting for PINGRESP: {other:?}"));
            }
        }
    }
}
