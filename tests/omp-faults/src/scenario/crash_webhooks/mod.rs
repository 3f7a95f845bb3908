//! `crash-webhooks`: SIGKILL the OMP at random points while a webhook
//! works through its backlog, many times, and check the webhook's
//! promise — every delivery event stored reaches the receiver, in id
//! order, and is sent again only if a kill left its cursor uncommitted
//! ([`check`]).
//!
//! Gateways send a bounded number of deliveries (`deliveries` per
//! gateway) as fast as the OMP acknowledges; a webhook for kind
//! `delivery` POSTs them to a receiver in this process that answers 204
//! after `receiver_delay`, so the webhook falls behind ingest and the
//! kills land in the middle of its backlog. Each kill waits for a random
//! 1‥=`max_posts_between_kills` POSTs since the previous one, then a
//! random 0‥3 ms more, and the OMP is restarted at once on the same data
//! directory and ports.
//!
//! After the last restart the gateways finish (every delivery
//! acknowledged), the webhook drains to the last stored delivery event,
//! and the OMP is SIGKILLed one final time; then the database is read:
//! the acknowledged deliveries ([`crate::verify`]) and the delivery
//! events, against what the receiver was POSTed.

use std::path::Path;
use std::time::{Duration, Instant};

use fastrand::Rng;
use omp_server::webhooks::cursor::UNCOMMITTED_MAX;
use test_support::webhook_receiver::{Answer, Receiver};

use crate::error::FaultError;
use crate::scenario::finish_kill_run;
use crate::scenario::{
    Fleet, Keep, Outcome, WorkDir, add_fleet_figures, collect_violations, kill_report,
};
use crate::sender::SenderOptions;
use crate::server::{Program, ServerSpec};
use crate::verify;

pub mod check;

/// What `crash-webhooks` needs.
#[derive(Debug, Clone)]
pub struct CrashWebhooksOptions {
    /// The OMP program.
    pub program: Program,
    /// SIGKILLs while the webhook delivers, each followed by a restart.
    pub kills: u32,
    /// Simulated gateways.
    pub gateways: u32,
    /// Deliveries each gateway sends.
    pub deliveries: u64,
    /// Seed of the kill schedule (random when `None`).
    pub seed: Option<u64>,
    /// Most webhook POSTs to wait for before a kill.
    pub max_posts_between_kills: u64,
    /// How long the receiver takes to answer each POST.
    pub receiver_delay: Duration,
    /// Longest wait for progress after a restart, and for the drain.
    pub phase_timeout: Duration,
    /// When to keep the working directory.
    pub keep: Keep,
}

/// Runs the scenario.
pub async fn run(opts: &CrashWebhooksOptions) -> Result<Outcome, FaultError> {
    if opts.kills == 0 || opts.gateways == 0 || opts.deliveries == 0 {
        return Err(FaultError::Config {
            option: "--kills/--gateways/--deliveries",
            detail: "each must be at least 1".into(),
        });
    }
    let seed = opts.seed.unwrap_or_else(|| fastrand::u64(..));
    let mut rng = Rng::with_seed(seed);
    let api_key = format!("omp-faults-{:016x}", fastrand::u64(..));
    let work = WorkDir::new(opts.keep)?;
    let mut spec = ServerSpec::new(
        opts.program.clone(),
        work.path().join("data"),
        work.log_path(),
    )?;
    spec.extra_args = vec!["--api-key".into(), api_key.clone()];
    let run_started = Instant::now();
    let mut server = spec.start().await?;
    let mut restart_ms = vec![server.ready_after.as_secs_f64() * 1e3];

    let receiver = Receiver::start(Answer::NoContent, Some(opts.receiver_delay))
        .await
        .map_err(|e| FaultError::io("starting the webhook receiver", e))?;
    create_webhook(&spec, &api_key, &receiver.url()).await?;

    let template = SenderOptions {
        index: 0,
        auth_prefix: "hook".into(),
        target: spec.gmmp_addr,
        in_flight: 2,
        max_seqs: Some(opts.deliveries),
        answer_timeout: Duration::from_secs(15),
        reconnect_pause: Duration::from_millis(20),
        error_pause: Duration::from_millis(50),
        pace: None,
        keyed: None,
        split: None,
    };
    let fleet = Fleet::spawn(&template, 0, opts.gateways);
    let steering = fleet.steering.clone();

    for kill in 0..opts.kills {
        let want = receiver.posts() + rng.u64(1..=opts.max_posts_between_kills.max(1));
        let deadline = tokio::time::Instant::now() + opts.phase_timeout;
        if !receiver.until(deadline, |r| r.posts() >= want).await {
            return Err(FaultError::Timeout {
                what: format!("{want} webhook POSTs before kill {}", kill + 1),
                secs: opts.phase_timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_micros(rng.u64(0..=3000))).await;
        server.kill().await?;
        server = spec.start().await?;
        restart_ms.push(server.ready_after.as_secs_f64() * 1e3);
    }
    let (ledgers, drained) = fleet.finish(opts.phase_timeout).await?;
    let last = last_delivery_event(&spec.database_path()).await?;
    let deadline = tokio::time::Instant::now() + opts.phase_timeout;
    let caught_up = receiver.until(deadline, |r| r.last_id() >= last).await;
    server.kill().await?;
    let elapsed = run_started.elapsed();

    let verdict = verify::verify(&spec.store(), &ledgers).await?;
    let stored = delivery_events(&spec.database_path()).await?;
    let hook = check::check(&receiver.ids(), &stored);
    let mut violations = collect_violations(&verdict, &spec);
    violations.extend(hook.violations(opts.kills, UNCOMMITTED_MAX));
    if !drained {
        violations.push(format!(
            "the gateways could not get every delivery acknowledged within {} s",
            opts.phase_timeout.as_secs()
        ));
    }
    if !caught_up {
        violations.push(format!(
            "the webhook did not reach event {last} within {} s of the last delivery",
            opts.phase_timeout.as_secs()
        ));
    }

    let mut report = kill_report("crash-webhooks", seed, opts.kills, 0, opts.gateways);
    report
        .set("deliveries_per_gateway", opts.deliveries)
        .set_f64(
            "receiver_delay_ms",
            opts.receiver_delay.as_secs_f64() * 1e3,
            1,
        );
    verdict.add_to(&mut report);
    report
        .set("delivery_events", hook.stored)
        .set("webhook_posts", hook.posts)
        .set("webhook_missing", hook.missing)
        .set("webhook_phantom", hook.phantom)
        .set("webhook_skipped", hook.skipped)
        .set("webhook_repeats", hook.repeats);
    add_fleet_figures(&mut report, &steering, &ledgers);
    Ok(finish_kill_run(
        report,
        &restart_ms,
        elapsed,
        violations,
        work,
    ))
}

/// `POST /api/v1/webhooks` for kind `delivery`, from the head (nothing
/// is stored yet); expects 201.
async fn create_webhook(spec: &ServerSpec, api_key: &str, url: &str) -> Result<(), FaultError> {
    let endpoint = format!("http://{}/api/v1/webhooks", spec.http_addr);
    let failed = |detail: String| FaultError::Server {
        program: "POST /api/v1/webhooks".into(),
        detail,
    };
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| failed(e.to_string()))?
        .post(&endpoint)
        .header("authorization", format!("Bearer {api_key}"))
        .json(&serde_json::json!({
            "url": url,
            "secret": "omp-faults",
            "kinds": ["delivery"],
        }))
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    if status.as_u16() != 201 {
        let body = response.text().await.unwrap_or_default();
        return Err(failed(format!("status {status}: {body}")));
    }
    Ok(())
}

/// The newest delivery event's id (the OMP is running: a reader beside
/// it, as WAL allows).
async fn last_delivery_event(path: &Path) -> Result<i64, FaultError> {
    let mut conn = verify::open_after_kill(path).await?;
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(id) FROM events WHERE kind = 'delivery'")
            .fetch_one(&mut conn)
            .await
            .map_err(|source| FaultError::Db {
                path: path.to_path_buf(),
                source,
            })?;
    Ok(last.unwrap_or(0))
}

/// Every delivery event's id, ascending.
async fn delivery_events(path: &Path) -> Result<Vec<i64>, FaultError> {
    let mut conn = verify::open_after_kill(path).await?;
    sqlx::query_scalar("SELECT id FROM events WHERE kind = 'delivery' ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .map_err(|source| FaultError::Db {
            path: path.to_path_buf(),
            source,
        })
}
