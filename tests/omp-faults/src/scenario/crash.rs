//! `crash`: SIGKILL the OMP at random points while gateways deliver, many
//! times, and check that nothing acknowledged was lost.
//!
//! Schedule of each kill (seeded, `seed=` in the report): most kills wait
//! for a random number of acknowledgements since the restart
//! (1‥=`max_acks_between_kills`, so the server is under load and
//! mid-commit at random moments), then a random 0‥3 ms more;
//! `early_kill_percent` % of them hit right after the port opens
//! (0‥30 ms) instead, while
//! gateways are reconnecting and registering and the store has just
//! recovered. After each kill the server is restarted at once on the same
//! data directory and ports; the gateways reconnect, re-register and send
//! again what was not acknowledged.
//!
//! After the last restart the gateways stop taking new work, get what they
//! began acknowledged, and the server is SIGKILLed one final time, idle,
//! so that the checker reads a database left by a kill (after WAL
//! recovery) rather than by a clean stop. Then [`crate::verify`].
//!
//! With `split`, every delivery is split into 2 or 3 parts (their T-IDs
//! as [`PartTids`] says), so kills also land between the parts of one
//! delivery: the OMP must hold each part it answered rc 0 durably, store
//! the delivery as one row once its last part came, and never acknowledge
//! a last part whose row is not committed.
//!
//! With `database_url` the OMP runs on that PostgreSQL database, which
//! stays up through the kills: a SIGKILL ends the server's connections,
//! PostgreSQL rolls back what they had not committed, and the checker reads
//! the deliveries from there.
//!
//! What it does not simulate: power loss. SIGKILL leaves the kernel's page
//! cache intact, so this proves the commit protocol (nothing acknowledged
//! before COMMIT returns; WAL recovery), not the disk's honesty about
//! fsync; `synchronous=FULL` is what covers the latter.

use std::time::{Duration, Instant};

use test_support::gmmp_client::PartTids;

use crate::error::FaultError;
use crate::scenario::finish_kill_run;
use crate::scenario::{
    Fleet, Keep, Outcome, WorkDir, add_fleet_figures, collect_violations, kill_report,
};
use crate::sender::SenderOptions;
use crate::server::{Program, ServerSpec};
use crate::verify;
use fastrand::Rng;

/// What `crash` needs.
#[derive(Debug, Clone)]
pub struct CrashOptions {
    /// The OMP program.
    pub program: Program,
    /// SIGKILLs under load, each followed by a restart.
    pub kills: u32,
    /// Simulated gateways.
    pub gateways: u32,
    /// Deliveries in flight per gateway.
    pub in_flight: usize,
    /// Seed of the kill schedule (random when `None`).
    pub seed: Option<u64>,
    /// Most acknowledgements to wait for before a kill.
    pub max_acks_between_kills: u64,
    /// Share of kills that hit right after a restart, percent.
    pub early_kill_percent: u64,
    /// The gateways send keyed deliveries.
    pub keyed: bool,
    /// The gateways send split deliveries, parts numbered this way.
    pub split: Option<PartTids>,
    /// The OMP's `--database-url` (PostgreSQL); `None`: the SQLite file in
    /// its data directory.
    pub database_url: Option<String>,
    /// Longest wait for progress after a restart, and for the drain.
    pub phase_timeout: Duration,
    /// When to keep the working directory.
    pub keep: Keep,
}

/// Runs the scenario.
pub async fn run(opts: &CrashOptions) -> Result<Outcome, FaultError> {
    if opts.kills == 0 || opts.gateways == 0 {
        return Err(FaultError::Config {
            option: "--kills/--gateways",
            detail: "both must be at least 1".into(),
        });
    }
    if opts.keyed && opts.split.is_some() {
        return Err(FaultError::Config {
            option: "--keyed/--split",
            detail: "a keyed delivery is one frame; choose one of the two".into(),
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
    spec.database_url = opts.database_url.clone();
    let run_started = Instant::now();
    let mut server = spec.start().await?;
    let mut restart_ms: Vec<f64> = vec![server.ready_after.as_secs_f64() * 1e3];

    let template = SenderOptions {
        index: 0,
        auth_prefix: "crash".into(),
        target: spec.gmmp_addr,
        in_flight: opts.in_flight,
        max_seqs: None,
        answer_timeout: Duration::from_secs(15),
        reconnect_pause: Duration::from_millis(20),
        error_pause: Duration::from_millis(50),
        pace: None,
        keyed: opts.keyed.then(test_support::gmmp_client::unix_now),
        split: opts.split,
    };
    let fleet = Fleet::spawn(&template, 0, opts.gateways);
    let steering = fleet.steering.clone();

    let mut early_kills = 0u32;
    for kill in 0..opts.kills {
        let before = fleet.snapshot();
        if rng.u64(..100) < opts.early_kill_percent {
            early_kills += 1;
            tokio::time::sleep(Duration::from_millis(rng.u64(0..=30))).await;
        } else {
            let want = before.acked + rng.u64(1..=opts.max_acks_between_kills.max(1));
            fleet
                .wait_for(
                    opts.phase_timeout,
                    &format!("{want} acknowledgements before kill {}", kill + 1),
                    |s| s.acked >= want,
                )
                .await?;
            tokio::time::sleep(Duration::from_micros(rng.u64(0..=3000))).await;
        }
        server.kill().await?;
        server = spec.start().await?;
        restart_ms.push(server.ready_after.as_secs_f64() * 1e3);
    }
    // Progress after the last restart, then drain and a final idle kill.
    let last = fleet.snapshot().acked;
    fleet
        .wait_for(
            opts.phase_timeout,
            "acknowledgements after the last restart",
            |s| s.acked > last,
        )
        .await?;
    let (ledgers, drained) = fleet.finish(opts.phase_timeout).await?;
    server.kill().await?;
    let elapsed = run_started.elapsed();

    let store = spec.store();
    let verdict = verify::verify(&store, &ledgers).await?;
    let mut violations = collect_violations(&verdict, &spec);
    if opts.keyed && verdict.retry_duplicates > 0 {
        violations.push(format!(
            "{} acknowledged keyed deliveries were stored twice (a resend of a stored keyed delivery must only be acknowledged)",
            verdict.retry_duplicates
        ));
    }
    if !drained {
        violations.push(format!(
            "the gateways could not get every begun delivery acknowledged within {} s",
            opts.phase_timeout.as_secs()
        ));
    }

    let mut report = kill_report("crash", seed, opts.kills, early_kills, opts.gateways);
    report
        .set("store", store.kind())
        .set("in_flight", opts.in_flight)
        .set("keyed", opts.keyed)
        .set("split", opts.split.map_or("no", PartTids::name));
    verdict.add_to(&mut report);
    add_fleet_figures(&mut report, &steering, &ledgers);
    Ok(finish_kill_run(
        report,
        &restart_ms,
        elapsed,
        violations,
        work,
    ))
}
