//! `control`: G connected gateways answer controls as the WizFi310 does;
//! the bench POSTs controls through the HTTP API and times them.
//!
//! Per gateway, one driver at a time: POST a control whose `data` is a
//! unique 8-byte sequence number (so each 0x0D is identified by its
//! payload, whatever T-ID the OMP chose), wait for that 0x0D to arrive on
//! the gateway's session (POST → 0x0D), then read the control through
//! `GET /api/v1/controls/{id}` (with `?wait=` long-polling) until it shows
//! SUCCESS (POST → SUCCESS). The gateway answers 0x0E rc 0 at once, then a
//! 0x17 notification rc 0 with an empty body, as the module does.
//!
//! Verified: every POSTed control arrives exactly once (a payload seen
//! twice is a duplicate; one not seen within `--wait-seconds` is lost) and
//! reaches SUCCESS. The rate is controls that reached SUCCESS per second.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use gmmp_codec::Message;
use tokio::sync::{mpsc, watch};

use crate::error::BenchError;
use crate::http::ApiClient;
use crate::latency::Latency;
use crate::scenario::register_fleet;
use test_support::gmmp_client::Gateway;
use test_support::report::Report;

/// A driver stops after this many POSTs in a row failed (a server
/// without the route, or refusing everything, would only be spun on).
const GIVE_UP_AFTER: u32 = 5;

/// Heartbeats keep the sessions alive if the run outlasts the OMP's
/// silence timeout.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// What `control` needs.
#[derive(Debug, Clone)]
pub struct ControlOptions {
    /// The OMP's GMMP listener.
    pub target: std::net::SocketAddr,
    /// The API.
    pub api: ApiClient,
    /// Connected gateways.
    pub gateways: usize,
    /// How long to send controls.
    pub duration: Duration,
    /// Controls to send at most.
    pub max_controls: Option<u64>,
    /// GMMP control type code.
    pub control_type: u8,
    /// Auth ID prefix.
    pub auth_prefix: String,
    /// How long to wait for a 0x0D, or for SUCCESS.
    pub wait: Duration,
    /// Offered controls per second over all gateways; `None` = closed loop.
    pub rate: Option<f64>,
}

/// A 0x0D as it reached a gateway.
#[derive(Debug)]
struct Arrival {
    payload: Bytes,
    at: Instant,
}

#[derive(Debug, Default)]
struct DriverTally {
    posted: u64,
    succeeded: u64,
    lost: u64,
    failed: u64,
    post_errors: u64,
    stale_arrivals: u64,
    post: Latency,
    to_request: Latency,
    to_success: Latency,
    first_error: Option<String>,
}

/// Runs the scenario; the error, if any, is a verification failure to
/// report after the figures.
pub async fn run(opts: &ControlOptions) -> Result<(Report, Option<BenchError>), BenchError> {
    let fleet = register_fleet(
        opts.target,
        &opts.auth_prefix,
        0,
        opts.gateways,
        opts.gateways.min(200),
        |_| None,
    )
    .await;
    fleet.check_any_registered(opts.target)?;
    let registered = fleet.gateways.len();
    let (stop_tx, stop_rx) = watch::channel(false);
    let budget = Arc::new(AtomicI64::new(
        opts.max_controls
            .map_or(i64::MAX, |m| i64::try_from(m).unwrap_or(i64::MAX)),
    ));
    let sequence = Arc::new(AtomicU64::new(0));
    let duplicates = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + opts.duration;
    let mut sessions = Vec::new();
    let mut drivers = Vec::new();
    // Open loop: each gateway's slots are `interval` apart, the gateways'
    // first slots spread evenly over one interval.
    let interval = opts
        .rate
        .map(|rate| Duration::from_secs_f64(registered.max(1) as f64 / rate));
    for (index, gw) in fleet.gateways.into_iter().enumerate() {
        let pacing = interval.map(|every| Pacing {
            first: start + every.mul_f64(index as f64 / registered.max(1) as f64),
            every,
        });
        let gw_id = gw.gw_id();
        let (tx, rx) = mpsc::unbounded_channel();
        sessions.push(tokio::spawn(answer_controls(
            gw,
            tx,
            stop_rx.clone(),
            duplicates.clone(),
        )));
        drivers.push(tokio::spawn(drive(
            opts.clone(),
            pacing,
            gw_id,
            rx,
            deadline,
            budget.clone(),
            sequence.clone(),
        )));
    }
    let mut total = DriverTally::default();
    for driver in drivers {
        let Ok(t) = driver.await else { continue };
        total.posted += t.posted;
        total.succeeded += t.succeeded;
        total.lost += t.lost;
        total.failed += t.failed;
        total.post_errors += t.post_errors;
        total.stale_arrivals += t.stale_arrivals;
        total.post.merge(&t.post);
        total.to_request.merge(&t.to_request);
        total.to_success.merge(&t.to_success);
        if total.first_error.is_none() {
            total.first_error = t.first_error;
        }
    }
    let elapsed = start.elapsed();
    // A short grace period to catch a late duplicate 0x0D.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_tx.send(true);
    let mut session_errors = 0u64;
    for s in sessions {
        match s.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                session_errors += 1;
                total.first_error.get_or_insert_with(|| e.to_string());
            }
            Err(_) => session_errors += 1,
        }
    }
    let duplicated = duplicates.load(Ordering::Relaxed);

    let mut report = Report::new("control");
    report
        .set("gateways", opts.gateways)
        .set("registered", registered)
        .set_f64("offered_rate", opts.rate.unwrap_or(0.0), 1)
        .set("controls_posted", total.posted)
        .set("controls_succeeded", total.succeeded)
        .set_f64("elapsed_secs", elapsed.as_secs_f64(), 3)
        .set_f64(
            "controls_per_sec",
            total.succeeded as f64 / elapsed.as_secs_f64().max(1e-9),
            1,
        );
    total.to_request.add_to(&mut report, "post_to_0x0d_");
    total.to_success.add_to(&mut report, "post_to_success_");
    total.post.add_to(&mut report, "post_http_");
    report
        .set("lost", total.lost)
        .set("duplicated", duplicated)
        .set("failed", total.failed)
        .set("post_errors", total.post_errors)
        .set("stale_arrivals", total.stale_arrivals)
        .set("session_errors", session_errors);
    if let Some(e) = &total.first_error {
        report.set("first_error", e.clone());
    }
    let bad = total.lost + duplicated + total.failed + total.post_errors;
    let verdict = if bad == 0 && total.posted > 0 {
        None
    } else {
        Some(BenchError::ControlMismatch {
            lost: total.lost,
            duplicated,
            failed: total.failed + total.post_errors,
        })
    };
    report.set("check", if verdict.is_none() { "ok" } else { "failed" });
    Ok((report, verdict))
}

/// One gateway's session: answers every 0x0D and reports its arrival.
async fn answer_controls(
    mut gw: Gateway,
    arrivals: mpsc::UnboundedSender<Arrival>,
    mut stop: watch::Receiver<bool>,
    duplicates: Arc<AtomicU64>,
) -> Result<(), BenchError> {
    let mut seen: HashSet<Bytes> = HashSet::new();
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.tick().await;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        tokio::select! {
            _ = stop.changed() => continue,
            _ = keepalive.tick() => {
                let tid = gw.take_tid();
                let frame = gw.heartbeat(tid);
                gw.send(&frame).await?;
            }
            frame = gw.recv("waiting for controls") => {
                let frame = frame?;
                if let Message::ControlRequest(control) = &frame.message {
                    let at = Instant::now();
                    if !seen.insert(control.payload.clone()) {
                        duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = arrivals.send(Arrival { payload: control.payload.clone(), at });
                    gw.answer_control(&frame.header, control).await?;
                }
            }
        }
    }
}

/// When an open-loop driver POSTs.
#[derive(Debug, Clone, Copy)]
struct Pacing {
    first: Instant,
    every: Duration,
}

/// One gateway's driver: one control at a time until the deadline, each
/// at its slot when paced (a control that outlasts its slot delays the
/// next one: a gateway never has two open).
async fn drive(
    opts: ControlOptions,
    pacing: Option<Pacing>,
    gw_id: String,
    mut arrivals: mpsc::UnboundedReceiver<Arrival>,
    deadline: Instant,
    budget: Arc<AtomicI64>,
    sequence: Arc<AtomicU64>,
) -> DriverTally {
    let mut t = DriverTally::default();
    let mut failed_posts_in_a_row = 0;
    let mut slot = pacing.map(|p| p.first);
    loop {
        if let (Some(at), Some(p)) = (slot, pacing) {
            tokio::time::sleep_until(at.into()).await;
            slot = Some(at + p.every);
        }
        if !(failed_posts_in_a_row < GIVE_UP_AFTER
            && Instant::now() < deadline
            && budget.fetch_sub(1, Ordering::Relaxed) > 0)
        {
            break;
        }
        let seq = sequence.fetch_add(1, Ordering::Relaxed);
        let data = Bytes::copy_from_slice(&seq.to_be_bytes());
        let t0 = Instant::now();
        let view = match opts
            .api
            .post_control(&gw_id, opts.control_type, &STANDARD.encode(&data))
            .await
        {
            Ok(v) => {
                failed_posts_in_a_row = 0;
                v
            }
            Err(e) => {
                failed_posts_in_a_row += 1;
                t.post_errors += 1;
                t.first_error.get_or_insert_with(|| e.to_string());
                // Do not spin on a server that refuses everything.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        t.posted += 1;
        t.post.record(t0.elapsed());

        // POST → 0x0D: the arrival carrying this control's payload.
        let arrived = loop {
            match tokio::time::timeout_at((t0 + opts.wait).into(), arrivals.recv()).await {
                Ok(Some(a)) if a.payload == data => break Some(a.at),
                Ok(Some(_)) => t.stale_arrivals += 1,
                Ok(None) | Err(_) => break None,
            }
        };
        match arrived {
            Some(at) => t.to_request.record(at.saturating_duration_since(t0)),
            None => {
                t.lost += 1;
                continue;
            }
        }

        // POST → SUCCESS visible through GET.
        match wait_final(&opts.api, view.id, t0 + opts.wait).await {
            Ok(v) if v.state == "SUCCESS" => {
                t.succeeded += 1;
                t.to_success.record(t0.elapsed());
            }
            Ok(v) => {
                t.failed += 1;
                t.first_error
                    .get_or_insert_with(|| format!("control {} ended {}", v.id, v.state));
            }
            Err(e) => {
                t.failed += 1;
                t.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    t
}

/// Reads a control until its state is final or `until` passes.
///
/// Every read but the first is a long-poll (`?wait=`), which returns at the
/// next change of the control, at once for a final state. A change between
/// two reads costs nothing: the long-poll then returns at the change after
/// it, and a control not yet final always has one more (or times out).
async fn wait_final(
    api: &ApiClient,
    id: i64,
    until: Instant,
) -> Result<crate::http::ControlView, BenchError> {
    let start = Instant::now();
    let mut view = api.get_control(id, None).await?;
    while !view.is_final() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(BenchError::Timeout {
                what: format!("control {id} reaching a final state (last {})", view.state),
                secs: until.saturating_duration_since(start).as_secs(),
            });
        }
        let wait = left.as_secs().clamp(1, 60);
        view = api.get_control(id, Some(wait)).await?;
    }
    Ok(view)
}
