//! `crash-mqtt`: SIGKILL the OMP at random points while MQTT clients
//! publish at QoS 1, many times, and check that every PUBACKed message
//! is stored ([`check`]).
//!
//! Each client ([`client`]) publishes one message at a time and waits
//! for its PUBACK; after each kill (a random 1‥=`max_acks_between_kills`
//! PUBACKs since the previous one, then 0‥3 ms more) the OMP is restarted
//! at once on the same data directory and ports, the clients reconnect
//! and publish again, with DUP, what was not acknowledged. After the last
//! restart the clients finish their last message, the OMP is SIGKILLed
//! one final time, idle, and the table is read after WAL recovery.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fastrand::Rng;
use tokio_util::sync::CancellationToken;

use crate::error::FaultError;
use crate::scenario::{Keep, Outcome, WorkDir, kill_report, panic_violations};
use crate::scenario::{finish_kill_run, wait_until};
use crate::server::{Program, ServerSpec, free_loopback_addr};

pub mod check;
pub mod client;

use client::{ClientLedger, FloodCounters};

/// What `crash-mqtt` needs.
#[derive(Debug, Clone)]
pub struct CrashMqttOptions {
    /// The OMP program.
    pub program: Program,
    /// SIGKILLs under load, each followed by a restart.
    pub kills: u32,
    /// MQTT clients.
    pub clients: u32,
    /// Seed of the kill schedule (random when `None`).
    pub seed: Option<u64>,
    /// Most PUBACKs to wait for before a kill.
    pub max_acks_between_kills: u64,
    /// Longest wait for progress after a restart, and for the drain.
    pub phase_timeout: Duration,
    /// When to keep the working directory.
    pub keep: Keep,
}

/// Runs the scenario.
pub async fn run(opts: &CrashMqttOptions) -> Result<Outcome, FaultError> {
    if opts.kills == 0 || opts.clients == 0 {
        return Err(FaultError::Config {
            option: "--kills/--clients",
            detail: "both must be at least 1".into(),
        });
    }
    // Each client holds a socket here and one in the OMP.
    let open_files = crate::sys::raise_open_files_limit()
        .map_err(|e| FaultError::io("raising the open-files limit", e))?;
    if open_files < u64::from(opts.clients) + 256 {
        return Err(FaultError::Config {
            option: "--clients",
            detail: format!(
                "{} clients need about {} open files; the limit is {open_files}",
                opts.clients,
                u64::from(opts.clients) + 256
            ),
        });
    }
    let seed = opts.seed.unwrap_or_else(|| fastrand::u64(..));
    let mut rng = Rng::with_seed(seed);
    let work = WorkDir::new(opts.keep)?;
    let mut spec = ServerSpec::new(
        opts.program.clone(),
        work.path().join("data"),
        work.log_path(),
    )?;
    let mqtt = free_loopback_addr()?;
    spec.mqtt_addr = Some(mqtt);
    let run_started = Instant::now();
    let mut server = spec.start().await?;
    let mut restart_ms = vec![server.ready_after.as_secs_f64() * 1e3];

    let produce = CancellationToken::new();
    let abort = CancellationToken::new();
    let counters = Arc::new(FloodCounters::default());
    let tasks: Vec<_> = (0..opts.clients)
        .map(|i| {
            tokio::spawn(client::run(
                i,
                mqtt,
                produce.clone(),
                abort.clone(),
                counters.clone(),
            ))
        })
        .collect();
    let acked = || counters.acked.load(Ordering::Relaxed);
    for kill in 0..opts.kills {
        let want = acked() + rng.u64(1..=opts.max_acks_between_kills.max(1));
        wait_until(
            opts.phase_timeout,
            &format!("{want} PUBACKs before kill {}", kill + 1),
            || acked() >= want,
        )
        .await?;
        tokio::time::sleep(Duration::from_micros(rng.u64(0..=3000))).await;
        server.kill().await?;
        server = spec.start().await?;
        restart_ms.push(server.ready_after.as_secs_f64() * 1e3);
    }
    let last = acked();
    wait_until(opts.phase_timeout, "PUBACKs after the last restart", || {
        acked() > last
    })
    .await?;
    produce.cancel();
    let timer = {
        let abort = abort.clone();
        let drain = opts.phase_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(drain).await;
            abort.cancel();
        })
    };
    let mut ledgers: Vec<ClientLedger> = Vec::with_capacity(tasks.len());
    for task in tasks {
        ledgers.push(task.await.map_err(|e| FaultError::Server {
            program: "an MQTT client task".into(),
            detail: e.to_string(),
        })?);
    }
    timer.abort();
    let drained = !abort.is_cancelled();
    server.kill().await?;
    let elapsed = run_started.elapsed();

    let (rows, integrity) = read_messages(&spec.database_path()).await?;
    let verdict = check::check(&ledgers, &rows);
    let mut violations = verdict.violations();
    violations.extend(panic_violations(&spec));
    if integrity != "ok" {
        violations.push(format!("integrity_check: {integrity}"));
    }
    if !drained {
        violations.push(format!(
            "the clients could not get their last messages acknowledged within {} s",
            opts.phase_timeout.as_secs()
        ));
    }

    let mut report = kill_report("crash-mqtt", seed, opts.kills, 0, opts.clients);
    report
        .set("clients", opts.clients)
        .set("acknowledged", verdict.acknowledged)
        .set("rows", verdict.rows)
        .set("lost", verdict.lost)
        .set("duplicated", verdict.duplicated)
        .set("retry_duplicates", verdict.retry_duplicates)
        .set("stored_unacked", verdict.stored_unacked)
        .set("foreign", verdict.foreign)
        .set("integrity", integrity)
        .set("unanswered", counters.unanswered.load(Ordering::Relaxed))
        .set("sessions", ledgers.iter().map(|l| l.sessions).sum::<u64>());
    if let Some(e) = ledgers.iter().find_map(|l| l.last_error.clone()) {
        report.set("last_client_error", e);
    }
    Ok(finish_kill_run(
        report,
        &restart_ms,
        elapsed,
        violations,
        work,
    ))
}

/// Every stored message's `(client id, payload)` and the database's
/// `integrity_check` (the OMP must not be running).
async fn read_messages(path: &Path) -> Result<(Vec<(String, Vec<u8>)>, String), FaultError> {
    let db_err = |source| FaultError::Db {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = crate::verify::open_after_kill(path).await?;
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT client_id, payload FROM mqtt_messages WHERE kind = 'publish'")
            .fetch_all(&mut conn)
            .await
            .map_err(db_err)?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(db_err)?;
    Ok((rows, integrity))
}
