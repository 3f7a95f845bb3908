//! `events`: what the readers of the event outbox cost ingest, and how
//! fast they are served — one run against one OMP, each figure beside its
//! reference:
//!
//! 1. `plain`: the [`ingest`] scenario with nothing attached, the
//!    reference of the next two.
//! 2. `attached`: the same load with `--webhooks` webhooks (local
//!    receivers answering 204) and `--streams` SSE readers following the
//!    head; `attached_ratio` is its rate over `plain`'s. The two
//!    alternate in `--rounds` rounds of `--duration` ÷ rounds each (new
//!    webhooks and streams every round), each rate summed over its
//!    rounds; `attached_round_ratios` shows each round's.
//! 3. `hanging`: the same load with one webhook whose receiver accepts
//!    the POST and never answers; `hanging_ratio` likewise.
//! 4. `latency`: `--rate` deliveries a second, each carrying its send
//!    time ([`paced`]); one SSE reader measures send → event. The send
//!    precedes the commit, so this bounds commit → event from above.
//! 5. `webhook`: a new webhook replayed over the last
//!    `--webhook-events` events to a receiver answering 204: events/s.
//!
//! The receivers and readers run on a thread of their own ([`readers`]),
//! apart from the gateways. Each webhook and stream is removed at the
//! end of its phase. The check
//! (non-zero exit) fails when an acknowledged paced delivery never
//! reached the stream, or a webhook receiver saw an event id that did
//! not rise.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::http::ApiClient;
use crate::scenario::ingest::{self, IngestOptions, IngestOutcome};
use test_support::gmmp_client::PartTids;
use test_support::report::Report;

pub mod paced;
pub mod readers;
pub mod stream;

use readers::Readers;
use stream::Stream;
use test_support::webhook_receiver::{Answer, Receiver};

/// How long the latency reader may take to catch up after the last send.
const DRAIN: Duration = Duration::from_secs(10);

/// What `events` needs.
#[derive(Debug, Clone)]
pub struct EventsOptions {
    /// The OMP's GMMP listener.
    pub target: SocketAddr,
    /// The OMP's HTTP API.
    pub api: ApiClient,
    /// Gateways of the ingest phases.
    pub gateways: usize,
    /// How long each phase sends.
    pub duration: Duration,
    /// Payload bytes of the ingest phases' deliveries.
    pub payload_size: usize,
    /// Webhooks attached in the `attached` phase.
    pub webhooks: usize,
    /// SSE readers attached in the `attached` phase.
    pub streams: usize,
    /// Deliveries a second of the latency phase.
    pub rate: f64,
    /// Gateways of the latency phase.
    pub latency_gateways: usize,
    /// Events replayed to the webhook of the last phase.
    pub webhook_events: i64,
    /// Auth ID prefix (at most 7 bytes: a phase letter and 8 digits follow).
    pub auth_prefix: String,
    /// Rounds of plain and attached ingest, alternating, `duration` ÷
    /// `rounds` each.
    pub rounds: usize,
}

/// Runs the five phases.
pub async fn run(opts: &EventsOptions) -> Result<(Report, Option<BenchError>), BenchError> {
    if opts.auth_prefix.len() > 7 {
        return Err(BenchError::Config {
            option: "--auth-prefix",
            detail: "at most 7 bytes: a phase letter and 8 digits follow it".into(),
        });
    }
    if !(opts.rate.is_finite() && opts.rate > 0.0) || opts.latency_gateways == 0 {
        return Err(BenchError::Config {
            option: "--rate",
            detail: "needs a positive rate and at least one gateway".into(),
        });
    }
    let mut report = Report::new("events");
    let mut check = Checks::default();
    let readers = Readers::start()?;

    // plain and attached alternate in short rounds, and each rate is the
    // sum of its rounds: a drift of the machine's disk or CPU over the run
    // then weighs on both sides alike, where one phase after the other
    // compared two different moments.
    let rounds = opts.rounds.max(1);
    let round = opts.duration / u32::try_from(rounds).unwrap_or(u32::MAX);
    let mut plain = Rounds::default();
    let mut attached = Rounds::default();
    let mut ratios = Vec::new();
    let (mut webhook_posts, mut stream_events) = (0, 0);
    for _ in 0..rounds {
        let p = ingest_phase(opts, 'p', round).await?;
        // Webhooks first, so their cursor says where the head is.
        let mut receivers = Vec::new();
        let mut hooks = Vec::new();
        for _ in 0..opts.webhooks {
            let receiver = readers.receiver(Answer::NoContent).await?;
            hooks.push(opts.api.create_webhook(&receiver.url(), None).await?);
            receivers.push(receiver);
        }
        let head = opts.api.events_head().await?;
        let streams = (0..opts.streams)
            .map(|_| readers.stream(&opts.api, head, None))
            .collect::<Result<Vec<_>, _>>()?;
        let a = ingest_phase(opts, 'a', round).await?;
        ratios.push(rate_of(&a) / rate_of(&p).max(1e-9));
        plain.add(&p);
        attached.add(&a);
        webhook_posts += receivers.iter().map(Receiver::posts).sum::<u64>();
        stream_events += streams.iter().map(Stream::events).sum::<u64>();
        check.not_rising += receivers.iter().map(Receiver::not_rising).sum::<u64>();
        if let Some(e) = streams.iter().find_map(Stream::error) {
            report.set("attached_stream_error", e);
        }
        for hook in &hooks {
            opts.api.delete_webhook(hook.id).await?;
        }
        drop((streams, receivers));
    }
    plain.add_to(&mut report, "plain_");
    attached.add_to(&mut report, "attached_");
    report
        .set_f64(
            "attached_ratio",
            attached.rate() / plain.rate().max(1e-9),
            3,
        )
        .set("rounds", rounds)
        .set(
            "attached_round_ratios",
            ratios
                .iter()
                .map(|r| (r * 1000.0).round() / 1000.0)
                .collect::<Vec<f64>>(),
        )
        .set("attached_webhooks", opts.webhooks)
        .set("attached_streams", opts.streams)
        .set("attached_webhook_posts", webhook_posts)
        .set("attached_stream_events", stream_events);

    let hanging_receiver = readers.receiver(Answer::Hang).await?;
    let hook = opts
        .api
        .create_webhook(&hanging_receiver.url(), None)
        .await?;
    let hanging = ingest_phase(opts, 'h', opts.duration).await?;
    phase_figures(&mut report, "hanging_", &hanging);
    report
        .set_f64(
            "hanging_ratio",
            rate_of(&hanging) / plain.rate().max(1e-9),
            3,
        )
        .set("hanging_webhook_posts", hanging_receiver.posts());
    opts.api.delete_webhook(hook.id).await?;
    drop(hanging_receiver);

    latency_phase(opts, &readers, &mut report, &mut check).await?;
    webhook_phase(opts, &readers, &mut report, &mut check).await?;
    Ok((report, check.failure()))
}

/// What the run's check found.
#[derive(Debug, Default)]
struct Checks {
    not_rising: u64,
    missing: u64,
}

impl Checks {
    fn failure(&self) -> Option<BenchError> {
        (self.not_rising > 0 || self.missing > 0).then(|| BenchError::EventsMismatch {
            missing: self.missing,
            not_rising: self.not_rising,
        })
    }
}

async fn ingest_phase(
    opts: &EventsOptions,
    phase: char,
    duration: Duration,
) -> Result<IngestOutcome, BenchError> {
    let outcome = ingest::run(&IngestOptions {
        target: opts.target,
        gateways: opts.gateways,
        payload_size: opts.payload_size,
        in_flight: 1,
        duration,
        max_deliveries: None,
        check_db: None,
        check_table: "deliveries".into(),
        server_pid: None,
        auth_prefix: format!("{}{phase}", opts.auth_prefix),
        connect_concurrency: 100,
        keyed: false,
        part_tids: PartTids::Same,
    })
    .await?;
    Ok(outcome)
}

fn rate_of(outcome: &IngestOutcome) -> f64 {
    outcome
        .report
        .get("deliveries_per_sec")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0)
}

/// The ingest rounds of one side: their sums, and the worst latency.
#[derive(Debug, Default)]
struct Rounds {
    acknowledged: f64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    backoffs: u64,
    session_errors: u64,
}

impl Rounds {
    fn add(&mut self, outcome: &IngestOutcome) {
        let figure = |k: &str| {
            outcome
                .report
                .get(k)
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0)
        };
        let count = |k: &str| outcome.report.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        let acknowledged = outcome.acknowledged as f64;
        self.acknowledged += acknowledged;
        self.seconds += acknowledged / rate_of(outcome).max(1e-9);
        self.p50_ms = self.p50_ms.max(figure("p50_ms"));
        self.p99_ms = self.p99_ms.max(figure("p99_ms"));
        self.backoffs += count("backoffs");
        self.session_errors += count("session_errors");
    }

    fn rate(&self) -> f64 {
        self.acknowledged / self.seconds.max(1e-9)
    }

    fn add_to(&self, report: &mut Report, prefix: &str) {
        report
            .set_f64(format!("{prefix}deliveries_per_sec"), self.rate(), 1)
            .set(format!("{prefix}acknowledged"), self.acknowledged as u64)
            .set_f64(format!("{prefix}p50_ms"), self.p50_ms, 3)
            .set_f64(format!("{prefix}p99_ms"), self.p99_ms, 3)
            .set(format!("{prefix}backoffs"), self.backoffs)
            .set(format!("{prefix}session_errors"), self.session_errors);
    }
}

fn phase_figures(report: &mut Report, prefix: &str, outcome: &IngestOutcome) {
    for key in [
        "deliveries_per_sec",
        "acknowledged",
        "p50_ms",
        "p99_ms",
        "backoffs",
        "session_errors",
    ] {
        if let Some(v) = outcome.report.get(key) {
            report.set(format!("{prefix}{key}"), v.clone());
        }
    }
}

async fn latency_phase(
    opts: &EventsOptions,
    readers: &Readers,
    report: &mut Report,
    check: &mut Checks,
) -> Result<(), BenchError> {
    let epoch = Instant::now();
    let head = opts.api.events_head().await?;
    let stream = readers.stream(&opts.api, head, Some(epoch))?;
    let prefix = format!("{}l", opts.auth_prefix);
    let tally = paced::run(
        opts.target,
        &prefix,
        opts.latency_gateways,
        opts.rate,
        opts.duration,
        epoch,
    )
    .await?;
    // Every acknowledged delivery is committed: its event is due.
    let deadline = tokio::time::Instant::now() + DRAIN;
    while stream.latency().count() < tally.acknowledged && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let latency = stream.latency();
    check.missing += tally.acknowledged.saturating_sub(latency.count());
    report
        .set_f64("latency_rate", opts.rate, 1)
        .set("latency_sent", tally.sent)
        .set("latency_acknowledged", tally.acknowledged)
        .set("latency_refused", tally.refused)
        .set("latency_session_errors", tally.session_errors)
        .set("latency_events", latency.count());
    latency.add_to(report, "sse_");
    if let Some(e) = tally.first_error.or_else(|| stream.error()) {
        report.set("latency_first_error", e);
    }
    Ok(())
}

async fn webhook_phase(
    opts: &EventsOptions,
    readers: &Readers,
    report: &mut Report,
    check: &mut Checks,
) -> Result<(), BenchError> {
    let head = opts.api.events_head().await?;
    let from = head.saturating_sub(opts.webhook_events).max(0);
    let receiver = readers.receiver(Answer::NoContent).await?;
    let start = Instant::now();
    let hook = opts.api.create_webhook(&receiver.url(), Some(from)).await?;
    // At least a minute, so a slow machine still finishes the replay.
    let limit = (opts.duration * 6).max(Duration::from_secs(60));
    let done = receiver
        .until(tokio::time::Instant::now() + limit, |r| r.last_id() >= head)
        .await;
    let elapsed = start.elapsed();
    opts.api.delete_webhook(hook.id).await?;
    check.not_rising += receiver.not_rising();
    report
        .set("webhook_events", receiver.posts())
        .set("webhook_caught_up", done)
        .set_f64("webhook_secs", elapsed.as_secs_f64(), 3)
        .set_f64(
            "webhook_events_per_sec",
            receiver.posts() as f64 / elapsed.as_secs_f64().max(1e-9),
            1,
        )
        .set("webhook_not_rising", check.not_rising);
    Ok(())
}
