//! `crash-controls`: SIGKILL the OMP at random points while an
//! application POSTs controls and gateways execute them, many times, and
//! check that no control state the OMP committed (and showed or
//! acknowledged) is lost or undone, and that the queue's rules held.
//!
//! # The run
//!
//! The OMP runs as a child process ([`crate::server`]), restarted at once
//! on the same data directory and ports after each kill, with
//! `control_completion_timeout` = `--completion-timeout` (1 s by default)
//! and the default one control in flight per gateway.
//!
//! - Gateways ([`gateway`]) register (again on every connect) and answer
//!   each 0x0D as the WizFi310 does: 0x0E rc 0, then 0x17 rc 0, both with
//!   the 0x0D's T-ID — the 0x17 echoing the control data, so the stored
//!   result names its control ([`key`]). They record every 0x0D and the
//!   fate of every 0x17 (answered by a 0x18 and how, or lost with the
//!   session). The WizFi310 never re-sends a 0x17; `--resend-notifications`
//!   makes the gateways re-send an unanswered one after reconnecting.
//! - One client per gateway ([`client`]) keeps `--depth` controls open:
//!   POST with an `Idempotency-Key` (retried, same key, until a 202 comes —
//!   across restarts), then `GET ?wait=` until final, keeping every state
//!   and timeline the API showed. After each restart it re-POSTs its
//!   latest answered key (a replay), which must return the same id.
//! - Kill schedule (seeded, `seed=` in the report), as `crash`'s: most
//!   kills wait for 1‥=`--max-events-between-kills` control events (202s,
//!   0x0D arrivals, 0x18s) since the restart, then 0‥3 ms;
//!   `--early-kill-percent` % hit 0‥30 ms after the port opens (recovery,
//!   reconnects, registrations, re-sends).
//! - After the last restart (the clean period): no more kills and no new
//!   controls; every gateway reconnects; every control must reach a final
//!   state (within `--phase-timeout`); a grace of 300 ms catches late
//!   duplicate 0x0Ds; then the idle server is SIGKILLed once more and the
//!   checker ([`verify`]) reads the database that kill left.
//!
//! # What must hold
//!
//! - Every control whose POST was answered 202 is stored, exactly once per
//!   Idempotency-Key, with the data, type and GW of its POST; a retried or
//!   replayed POST returns the same control.
//! - Every timeline is a valid path of the state machine ([`machine`]).
//!   In this run, moreover: SENT → QUEUED only with a kill (restart) or a
//!   session end of its gateway between the two; no SENT → SUCCESS (the
//!   0x0E always precedes the 0x17 on the same connection, and the
//!   dispatcher takes a session's frames in order), no SENT → TIMEOUT (the
//!   gateway answers at once; a SENT control whose session died is
//!   requeued), no FAILED, EXPIRED or CANCELLED (no error rc, one-day TTL,
//!   no DELETE). With `--resend-notifications` SENT → SUCCESS is allowed:
//!   a re-sent 0x17 of an earlier sending may come before the 0x0E of the
//!   control's new sending, and the OMP matches a notification to a SENT
//!   control too.
//! - Everything the API showed stays: every answer's timeline is a prefix
//!   of the stored one (nothing shown is later lost or rewritten — the API
//!   only shows committed states), answers to one client never go back,
//!   and the last one is final and equals the stored timeline. An answer's
//!   `state` must be one of its own timeline's; when it is an earlier one
//!   than the last, the answer is counted as *torn* (`torn_answers`), not
//!   as a violation: the OMP reads a control's row and its timeline in two
//!   queries, outside one transaction, so a change committed between them
//!   shows in the timeline only. That is an inconsistency of one answer,
//!   not a lost or undone state (reported to the server's owner).
//! - Final states: SUCCESS with rc 0 and the echoed data as result, after
//!   at least one 0x0D reached the gateway. **TIMEOUT is allowed only**
//!   when (1) it came from PROGRESS, (2) the gateway never got a 0x18 rc 0
//!   for the control, (3) the 0x17 of the execution that made it PROGRESS
//!   (the 0x0D with the control's stored T-ID) was lost with its session,
//!   (4) a kill happened between its PROGRESS and its TIMEOUT, and (5) not
//!   before `control_completion_timeout` after PROGRESS. Why: a kill that
//!   falls between the commit of PROGRESS (the 0x0E) and the commit of
//!   SUCCESS (the 0x17) leaves the control PROGRESS; by the rules such a
//!   control is not requeued but waits for its 0x17, which the WizFi310
//!   does not send again — so it must end TIMEOUT, and only then. Any
//!   other TIMEOUT, and every other final state, is a violation.
//! - At-least-once, never after success: a gateway may receive a control
//!   more than once (duplicates counted and reported) but never more often
//!   than it was SENT, never after the gateway was told its result was
//!   stored (0x18 rc 0), and never after its SUCCESS was committed.
//!   Every 0x18 rc 0 means a stored SUCCESS; a 0x17 refused (rc ≠ 0) is a
//!   violation unless it was a re-sent copy.
//! - `PRAGMA integrity_check` answers `ok`; the server log has no panic.
//!
//! # Layout
//!
//! - [`key`]: [`key::ControlKey`], the control a data or key names.
//! - [`ledger`]: what the clients and gateways recorded; shared counters.
//! - [`gateway`]: a gateway answering controls as the WizFi310 does.
//! - [`client`]: the HTTP client (POST with Idempotency-Key, GET ?wait=).
//! - [`machine`]: the control state machine, as a path check.
//! - [`db`]: the control tables read back after the last kill.
//! - [`verify`]: the checker and its figures.
//!
//! Clock: the OMP stamps timelines with the wall clock in ms; the run
//! records kills, session ends and 0x0D arrivals with the same clock, so
//! "between" above compares those numbers (ties count as between; a kill
//! spans from just before the signal to the reaping of the process).
//!
//! Known result: with `--resend-notifications` the run finds violations
//! today — a re-sent 0x17 of a control already SUCCESS matches no T-ID in
//! flight and the OMP's fallback (same GW, device and control type,
//! docs/gmmp.md §7) gives it to the gateway's next control in flight, which
//! ends SUCCESS with the other's result (RELIABILITY.md §1).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::FaultError;
use crate::scenario::{Keep, Outcome, WorkDir, kill_report, panic_violations};
use crate::scenario::{finish_kill_run, wait_until};
use crate::server::{Program, ServerSpec};
use fastrand::Rng;

pub mod client;
pub mod db;
pub mod gateway;
pub mod key;
pub mod ledger;
pub mod machine;
pub mod verify;

use client::{Api, DriverOptions};
use gateway::ResponderOptions;
use ledger::{ControlRecord, GatewayRecord, Shared, now_ms};

/// The control type of every control of the run: Diagnostic (0x09), whose
/// result the API shows raw (Base64), as sent.
pub const CONTROL_TYPE: u8 = 0x09;
/// Grace after everything settled, for a late duplicate 0x0D.
const LATE_GRACE: Duration = Duration::from_millis(300);

/// What `crash-controls` needs.
#[derive(Debug, Clone)]
pub struct CrashControlsOptions {
    /// The OMP program.
    pub program: Program,
    /// SIGKILLs under load, each followed by a restart.
    pub kills: u32,
    /// Simulated gateways (one client each).
    pub gateways: u32,
    /// Controls open per gateway at once.
    pub depth: usize,
    /// Seed of the kill schedule (random when `None`).
    pub seed: Option<u64>,
    /// Most control events to wait for before a kill.
    pub max_events_between_kills: u64,
    /// Share of kills right after a restart, percent.
    pub early_kill_percent: u64,
    /// The server's `control_completion_timeout` (at least 1 s).
    pub completion_timeout: Duration,
    /// Gateways re-send a 0x17 whose answer died with the session.
    pub resend_notifications: bool,
    /// Longest wait for progress after a restart, and for the clean period.
    pub phase_timeout: Duration,
    /// When to keep the working directory.
    pub keep: Keep,
}

/// Runs the scenario.
pub async fn run(opts: &CrashControlsOptions) -> Result<Outcome, FaultError> {
    if opts.kills == 0 || opts.gateways == 0 || opts.depth == 0 {
        return Err(FaultError::Config {
            option: "--kills/--gateways/--depth",
            detail: "all must be at least 1".into(),
        });
    }
    if opts.completion_timeout < Duration::from_secs(1) {
        return Err(FaultError::Config {
            option: "--completion-timeout",
            detail: "the OMP takes at least 1s".into(),
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
    spec.extra_args = vec![
        "--api-key".into(),
        api_key.clone(),
        "--control-completion-timeout".into(),
        humantime::format_duration(opts.completion_timeout).to_string(),
    ];
    let run_started = Instant::now();
    let mut server = spec.start().await?;
    let mut restart_ms = vec![server.ready_after.as_secs_f64() * 1e3];

    let shared = Shared::new(opts.gateways as usize);
    let api = Api::new(spec.http_addr, &api_key)?;
    let mut responders: Vec<JoinHandle<GatewayRecord>> = Vec::new();
    let mut drivers: Vec<JoinHandle<Vec<ControlRecord>>> = Vec::new();
    for index in 0..opts.gateways {
        let (gw_id_tx, gw_id_rx) = watch::channel(None);
        let responder = ResponderOptions {
            index,
            auth_prefix: "ctl".into(),
            target: spec.gmmp_addr,
            answer_timeout: Duration::from_secs(15),
            reconnect_pause: Duration::from_millis(20),
            resend_notifications: opts.resend_notifications,
        };
        responders.push(tokio::spawn(gateway::run(
            responder,
            shared.clone(),
            gw_id_tx,
        )));
        let driver = DriverOptions {
            index,
            depth: opts.depth,
            wait: Duration::from_secs(5),
            retry_pause: Duration::from_millis(20),
        };
        drivers.push(tokio::spawn(client::drive(
            driver,
            api.clone(),
            gw_id_rx,
            shared.clone(),
        )));
    }

    let mut kills = Vec::with_capacity(opts.kills as usize);
    let mut early_kills = 0u32;
    let mut last_start_ms = now_ms();
    for kill in 0..opts.kills {
        if rng.u64(..100) < opts.early_kill_percent {
            early_kills += 1;
            tokio::time::sleep(Duration::from_millis(rng.u64(0..=30))).await;
        } else {
            let want = shared.counters.events() + rng.u64(1..=opts.max_events_between_kills.max(1));
            wait_until(
                opts.phase_timeout,
                &format!("{want} control events before kill {}", kill + 1),
                || shared.counters.events() >= want,
            )
            .await?;
            tokio::time::sleep(Duration::from_micros(rng.u64(0..=3000))).await;
        }
        let sent_ms = now_ms();
        server.kill().await?;
        kills.push(verify::Kill {
            sent_ms,
            reaped_ms: now_ms(),
        });
        last_start_ms = now_ms();
        server = spec.start().await?;
        shared.generation.fetch_add(1, Ordering::Relaxed);
        restart_ms.push(server.ready_after.as_secs_f64() * 1e3);
    }

    // The clean period: progress on the last server, then no new
    // controls, every gateway back, every control final.
    let mut violations = Vec::new();
    let last = shared.counters.events();
    let settle_started = Instant::now();
    if let Err(e) = wait_until(
        opts.phase_timeout,
        "control events after the last restart",
        || shared.counters.events() > last,
    )
    .await
    {
        violations.push(e.to_string());
    }
    shared.produce.cancel();
    if let Err(e) = wait_until(opts.phase_timeout, "every gateway registered again", || {
        shared.all_registered_since(last_start_ms)
    })
    .await
    {
        violations.push(e.to_string());
    }
    if let Err(e) = wait_until(opts.phase_timeout, "every control final", || {
        drivers.iter().all(JoinHandle::is_finished)
    })
    .await
    {
        violations.push(e.to_string());
    }
    tokio::time::sleep(LATE_GRACE).await;
    let settle_secs = settle_started.elapsed().as_secs_f64();
    shared.abort.cancel();
    let mut records = Vec::new();
    for d in drivers {
        records.extend(d.await.map_err(|e| task_failed("a control client", e))?);
    }
    let mut gateways = Vec::new();
    for r in responders {
        gateways.push(r.await.map_err(|e| task_failed("a simulated gateway", e))?);
    }
    server.kill().await?;
    let elapsed = run_started.elapsed();

    let (rows, integrity) = db::read_database(&spec.database_path()).await?;
    let facts = verify::Facts {
        records: &records,
        gateways: &gateways,
        kills: &kills,
        completion_timeout_ms: i64::try_from(opts.completion_timeout.as_millis())
            .unwrap_or(i64::MAX),
        resend_notifications: opts.resend_notifications,
    };
    let verdict = verify::check(&facts, &rows, integrity);
    violations.extend(verdict.violations());
    violations.extend(panic_violations(&spec));

    let mut report = kill_report(
        "crash-controls",
        seed,
        opts.kills,
        early_kills,
        opts.gateways,
    );
    report
        .set("depth", opts.depth)
        .set("completion_timeout_ms", facts.completion_timeout_ms)
        .set("resend_notifications", opts.resend_notifications);
    verdict.add_to(&mut report);
    let c = &shared.counters;
    report
        .set("sessions", c.sessions.load(Ordering::Relaxed))
        .set(
            "connect_failures",
            c.connect_failures.load(Ordering::Relaxed),
        )
        .set("http_5xx", c.http_5xx.load(Ordering::Relaxed));
    if let Some(e) = gateways.iter().find_map(|g| g.last_error.clone()) {
        report.set("last_gateway_error", e);
    }
    report.set_f64("settle_secs", settle_secs, 2);
    Ok(finish_kill_run(
        report,
        &restart_ms,
        elapsed,
        violations,
        work,
    ))
}

fn task_failed(what: &str, e: tokio::task::JoinError) -> FaultError {
    FaultError::Server {
        program: what.into(),
        detail: e.to_string(),
    }
}
