//! `fd-limit`: the OMP runs out of file descriptors; it must stay up, keep
//! serving the gateways already connected, and take new connections again
//! once descriptors are free.
//!
//! The server starts with `RLIMIT_NOFILE = open_files` (set with
//! `prlimit(2)` right after the start) and, by default, a connection cap
//! (`--max-connections`) four times that, so that the cap cannot save it
//! and `accept` hits EMFILE — the case under test. With a cap below
//! the limit (`--max-connections 32`) the same run shows the cap at work
//! instead. Then silent connections (`idle`, the limit + 64 at most) are
//! opened one by one until one is not served: by default each registers
//! as a gateway and then says nothing (`--flood registered`: a bound
//! session stays for heartbeat period × grace, 10 min × 2 by default, does
//! not count against the OMP's caps on unauthenticated connections, so
//! it really holds a descriptor); `--flood raw` opens bare TCP connections
//! instead, which the unauthenticated caps (`max_unauthenticated_per_ip`,
//! `auth_timeout`) are there to shed. Then, for `hold`:
//! - the established gateways keep delivering (counted);
//! - a new gateway tries to connect and register (`probe_timeout`) —
//!   beyond the limit the kernel completes the TCP handshake into the
//!   listen backlog (128 with tokio's default) and the OMP, unable to
//!   accept, leaves it waiting;
//! - the server's CPU time is measured, and its log's accept-pause
//!   warnings counted (it must pause, not spin).
//!
//! Then the idle connections close, and a new gateway must register and
//! get deliveries acknowledged (`recover_ms`: release to its first
//! acknowledgement). Finally a clean stop and the checker.

use std::time::{Duration, Instant};

use test_support::gmmp_client::{self, Gateway, auth_id_for};
use test_support::report::Report;
use tokio::net::TcpStream;

use crate::error::FaultError;
use crate::scenario::{Fleet, Keep, Outcome, WorkDir, add_fleet_figures, collect_violations};
use crate::sender::{MANUFACTURE_ID, SenderOptions};
use crate::server::{Program, ServerSpec};
use crate::{sys, verify};

/// What the silent connections of the flood are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flood {
    /// Registered gateways that then say nothing.
    Registered,
    /// Bare TCP connections that never send a byte.
    Raw,
}

impl Flood {
    fn name(self) -> &'static str {
        match self {
            Flood::Registered => "registered",
            Flood::Raw => "raw",
        }
    }
}

/// Deliveries the recovery gateway must get acknowledged.
const RECOVERY_DELIVERIES: u64 = 20;

/// What `fd-limit` needs.
#[derive(Debug, Clone)]
pub struct FdLimitOptions {
    /// The OMP program.
    pub program: Program,
    /// The server's open-file limit.
    pub open_files: u64,
    /// The server's connection cap (default: 4 × `open_files`).
    pub max_connections: Option<usize>,
    /// Silent connections to open at most (default: `open_files` + 64).
    pub idle: Option<usize>,
    /// What they are.
    pub flood: Flood,
    /// Established, delivering gateways.
    pub gateways: u32,
    /// How long to stay at the limit.
    pub hold: Duration,
    /// How long the new gateway waits for its registration answer.
    pub probe_timeout: Duration,
    /// Longest wait for each phase.
    pub phase_timeout: Duration,
    /// When to keep the working directory.
    pub keep: Keep,
}

/// Runs the scenario.
pub async fn run(opts: &FdLimitOptions) -> Result<Outcome, FaultError> {
    let limit = opts.open_files;
    let max_connections = opts.max_connections.unwrap_or(4 * limit as usize);
    let idle_count = opts.idle.unwrap_or(limit as usize + 64);
    let work = WorkDir::new(opts.keep)?;
    let mut spec = ServerSpec::new(
        opts.program.clone(),
        work.path().join("data"),
        work.log_path(),
    )?;
    spec.open_files = Some(limit);
    spec.extra_args = vec![
        "--max-connections".into(),
        max_connections.to_string(),
        "--first-frame-timeout".into(),
        "10m".into(),
    ];
    let mut server = spec.start().await?;
    let pid = server.pid();
    let fds = |what: &str| {
        sys::open_fds(pid).map_err(|e| FaultError::io(format!("{what}: /proc/{pid}/fd"), e))
    };
    let baseline_fds = fds("counting the server's descriptors")?;
    let t = opts.phase_timeout;

    let template = SenderOptions {
        index: 0,
        auth_prefix: "fdlim".into(),
        target: spec.gmmp_addr,
        in_flight: 1,
        max_seqs: None,
        answer_timeout: Duration::from_secs(15),
        reconnect_pause: Duration::from_millis(20),
        error_pause: Duration::from_millis(20),
        pace: Some(Duration::from_millis(10)),
        keyed: None,
        split: None,
    };
    let fleet = Fleet::spawn(&template, 0, opts.gateways);
    let steering = fleet.steering.clone();
    fleet
        .wait_for(t, "acknowledgements before the flood", |s| s.acked >= 20)
        .await?;

    // The flood of silent connections, until one is not served.
    let mut silent_gateways: Vec<Gateway> = Vec::new();
    let mut silent_raw: Vec<TcpStream> = Vec::new();
    let mut idle_failures = 0u64;
    for i in 0..idle_count {
        let auth_id = auth_id_for("fdidl", i);
        let opened = async {
            let stream = gmmp_client::connect(spec.gmmp_addr, None).await?;
            match opts.flood {
                Flood::Raw => Ok((None, Some(stream))),
                Flood::Registered => {
                    Gateway::register(stream, &auth_id, MANUFACTURE_ID, Duration::from_secs(2))
                        .await
                        .map(|gw| (Some(gw), None))
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(3), opened).await {
            Ok(Ok((gw, raw))) => {
                silent_gateways.extend(gw);
                silent_raw.extend(raw);
            }
            // Not served (backlog full, or no answer): more attempts would
            // only wait for their timeouts.
            _ => {
                idle_failures += 1;
                break;
            }
        }
    }
    let idle_opened = silent_gateways.len() + silent_raw.len();
    let peak_fds = wait_until_stable(|| fds("watching the server's descriptors"), t).await?;
    let pauses_before = count_accept_pauses(&spec);

    // Hold at the limit.
    let hold_started = Instant::now();
    let at_hold = fleet.snapshot();
    let cpu0 = sys::cpu_seconds(pid).map_err(|e| FaultError::io("reading server CPU", e))?;
    let probe = probe_registration(&spec, opts.gateways + 1000, opts.probe_timeout).await;
    tokio::time::sleep(opts.hold.saturating_sub(hold_started.elapsed())).await;
    let cpu1 = sys::cpu_seconds(pid).map_err(|e| FaultError::io("reading server CPU", e))?;
    let held = hold_started.elapsed();
    let during = fleet.snapshot().since(&at_hold);
    let pauses_during = count_accept_pauses(&spec).saturating_sub(pauses_before);
    if let Some(status) = server.exited()? {
        return Err(FaultError::Server {
            program: "omp server".into(),
            detail: format!(
                "exited with {status} at the descriptor limit; log: {}",
                crate::server::log_tail(&spec.log_path)
            ),
        });
    }

    // Release, then a new gateway must get in and be served.
    drop(silent_gateways);
    drop(silent_raw);
    let released = Instant::now();
    let mut violations = Vec::new();
    let recovery = Fleet::spawn(
        &SenderOptions {
            max_seqs: Some(RECOVERY_DELIVERIES),
            ..template.clone()
        },
        opts.gateways,
        1,
    );
    let recover = recovery
        .wait_for(
            t,
            "a new gateway's first acknowledgement after release",
            |s| s.acked >= 1,
        )
        .await
        .map(|_| released.elapsed());
    match &recover {
        Ok(_) => {
            let want = RECOVERY_DELIVERIES;
            if let Err(e) = recovery
                .wait_for(t, "the new gateway's deliveries after release", |s| {
                    s.acked >= want
                })
                .await
            {
                violations.push(format!("the new gateway was not served after release: {e}"));
            }
        }
        Err(e) => violations.push(format!("no recovery after the connections closed: {e}")),
    }
    let (mut ledgers, drained) = fleet.finish(t).await?;
    let (recovery_ledgers, recovery_drained) = recovery.finish(t).await?;
    ledgers.extend(recovery_ledgers);
    let fds_after = fds("counting the server's descriptors")?;
    let status = server.terminate(Duration::from_secs(30)).await?;

    let verdict = verify::verify(&spec.store(), &ledgers).await?;
    violations.extend(collect_violations(&verdict, &spec));
    if during.acked == 0 {
        violations.push(
            "the established gateways got no acknowledgement while the server was at its limit"
                .into(),
        );
    }
    if !drained || !recovery_drained {
        violations.push("not every begun delivery was acknowledged after the release".into());
    }
    if !status.success() {
        violations.push(format!("the clean stop exited with {status}"));
    }

    let mut report = Report::new("fd-limit");
    report
        .set("open_files_limit", limit)
        .set("max_connections", max_connections)
        .set("gateways", opts.gateways)
        .set("baseline_fds", baseline_fds)
        .set("idle_opened", idle_opened)
        .set("idle_flood", opts.flood.name())
        .set("idle_last_not_served", idle_failures > 0)
        .set("server_fds_peak", peak_fds)
        .set("limit_reached", peak_fds as u64 >= limit)
        .set_f64("held_secs", held.as_secs_f64(), 2)
        .set("acked_during_limit", during.acked)
        .set("errors_during_limit", during.error_rcs)
        .set("new_gateway_during_limit", probe)
        .set_f64(
            "server_cpu_percent_during_limit",
            (cpu1 - cpu0) / held.as_secs_f64().max(1e-9) * 100.0,
            1,
        )
        .set("accept_pauses_logged_during_limit", pauses_during);
    if let Ok(d) = recover {
        report.set_f64("recover_ms", d.as_secs_f64() * 1e3, 1);
    }
    report
        .set("server_fds_after", fds_after)
        .set("clean_stop", status.to_string());
    verdict.add_to(&mut report);
    add_fleet_figures(&mut report, &steering, &ledgers);
    report.set("violations", violations.len());
    let kept_dir = work.finish(!violations.is_empty());
    Ok(Outcome {
        report,
        violations,
        kept_dir,
    })
}

/// Polls `count` until it has not grown for 500 ms; returns the peak.
async fn wait_until_stable(
    count: impl Fn() -> Result<usize, FaultError>,
    timeout: Duration,
) -> Result<usize, FaultError> {
    let start = Instant::now();
    let mut peak = count()?;
    let mut since_growth = Instant::now();
    while since_growth.elapsed() < Duration::from_millis(500) {
        if start.elapsed() > timeout {
            return Err(FaultError::Timeout {
                what: "the server's descriptor count to settle".into(),
                secs: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = count()?;
        if now > peak {
            peak = now;
            since_growth = Instant::now();
        }
    }
    Ok(peak)
}

/// A new gateway's connect + registration at the limit, in words.
async fn probe_registration(spec: &ServerSpec, index: u32, timeout: Duration) -> String {
    let auth_id = auth_id_for("fdprb", index as usize);
    let attempt = async {
        let stream = gmmp_client::connect(spec.gmmp_addr, None).await?;
        Gateway::register(stream, &auth_id, MANUFACTURE_ID, timeout).await
    };
    match tokio::time::timeout(timeout + Duration::from_secs(1), attempt).await {
        Ok(Ok(_)) => "registered".into(),
        Ok(Err(test_support::gmmp_client::ClientError::Timeout { secs, .. })) => {
            format!("connected_no_answer_within_{secs}s")
        }
        Ok(Err(e)) => format!("refused: {e}"),
        Err(_) => "connect_pending".into(),
    }
}

/// The server log's "accept failed; pausing" warnings so far.
fn count_accept_pauses(spec: &ServerSpec) -> u64 {
    std::fs::read_to_string(&spec.log_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("accept failed"))
        .count() as u64
}
