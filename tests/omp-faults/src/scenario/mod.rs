//! The fault runs — [`crash`], [`crash_controls`], [`crash_mqtt`], [`crash_webhooks`],
//! [`disk_full`], [`fd_limit`], [`agent`] — and what they share: a fleet of [`crate::sender`]s, waiting on its counters,
//! and the outcome.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use test_support::report::Report;
use tokio::task::JoinHandle;

use crate::error::FaultError;
use crate::ledger::{GatewayLedger, Snapshot};
use crate::sender::{self, SenderOptions, Steering};
use crate::server::{self, ServerSpec};
use crate::verify::Verdict;

pub mod agent;
pub mod crash;
pub mod crash_controls;
pub mod crash_mqtt;
pub mod crash_webhooks;
pub mod disk_full;
pub mod fd_limit;

/// How often counters are polled while waiting for a condition.
const POLL: Duration = Duration::from_millis(2);

/// What a run found.
#[derive(Debug)]
pub struct Outcome {
    /// The figures.
    pub report: Report,
    /// Broken promises, in words; empty when all held.
    pub violations: Vec<String>,
    /// The working directory, when kept for inspection.
    pub kept_dir: Option<PathBuf>,
}

/// When to keep the working directory (data dir, server log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Keep {
    /// Always.
    Always,
    /// When the run finds a violation or fails.
    OnFailure,
    /// Never (tests that expect a known violation).
    Never,
}

/// A temporary working directory (data dir, server log), removed at the
/// end unless [`Keep`] says otherwise.
#[derive(Debug)]
pub struct WorkDir {
    dir: tempfile::TempDir,
    keep: Keep,
}

impl WorkDir {
    /// A new directory under the system's temp dir, named on stderr so it
    /// can be found. Unless `keep` is `Never` it survives a run that ends
    /// in an error (for the log and the database).
    pub fn new(keep: Keep) -> Result<Self, FaultError> {
        let mut dir = tempfile::Builder::new()
            .prefix("omp-faults-")
            .tempdir()
            .map_err(|e| FaultError::io("creating a temporary directory", e))?;
        dir.disable_cleanup(keep != Keep::Never);
        eprintln!("omp-faults: working directory {}", dir.path().display());
        Ok(WorkDir { dir, keep })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The server log's path.
    pub fn log_path(&self) -> PathBuf {
        self.path().join("omp-server.log")
    }

    /// Keeps the directory (returns its path) or removes it, by the
    /// policy and whether the run `failed`.
    pub fn finish(mut self, failed: bool) -> Option<PathBuf> {
        let keep = match self.keep {
            Keep::Always => true,
            Keep::OnFailure => failed,
            Keep::Never => false,
        };
        if keep {
            return Some(self.dir.keep());
        }
        self.dir.disable_cleanup(false);
        None
    }
}

/// Server log panics as violations.
pub fn panic_violations(spec: &ServerSpec) -> Vec<String> {
    server::panics_in_log(&spec.log_path)
        .into_iter()
        .map(|line| format!("the server panicked: {line}"))
        .collect()
}

/// A fleet of senders sharing one [`Steering`].
#[derive(Debug)]
pub struct Fleet {
    /// Tokens and counters.
    pub steering: Steering,
    tasks: Vec<JoinHandle<crate::ledger::GatewayLedger>>,
}

impl Fleet {
    /// Starts `count` senders like `template`, indices `first..first+count`.
    pub fn spawn(template: &SenderOptions, first: u32, count: u32) -> Fleet {
        let steering = Steering::new();
        let mut fleet = Fleet {
            steering,
            tasks: Vec::new(),
        };
        fleet.add(template, first, count);
        fleet
    }

    /// Adds `count` more senders (indices `first..`) under the same steering.
    pub fn add(&mut self, template: &SenderOptions, first: u32, count: u32) {
        for index in first..first + count {
            let opts = SenderOptions {
                index,
                ..template.clone()
            };
            self.tasks
                .push(tokio::spawn(sender::run(opts, self.steering.clone())));
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        self.steering.counters.snapshot()
    }

    /// Waits until `done(counters)` holds, at most `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Snapshot) -> bool,
    ) -> Result<Duration, FaultError> {
        let start = Instant::now();
        wait_until(timeout, what, || done(&self.snapshot())).await?;
        Ok(start.elapsed())
    }

    /// Stops new deliveries, lets the senders get what they began
    /// acknowledged (at most `drain`), then aborts the rest. Returns the
    /// ledgers and whether everything begun was acknowledged in time.
    pub async fn finish(self, drain: Duration) -> Result<(Vec<GatewayLedger>, bool), FaultError> {
        self.steering.produce.cancel();
        let abort = self.steering.abort.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(drain).await;
            abort.cancel();
        });
        let mut ledgers = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            let ledger = task.await.map_err(|e| FaultError::Server {
                program: "a simulated gateway task".into(),
                detail: e.to_string(),
            })?;
            ledgers.push(ledger);
        }
        timer.abort();
        let drained = !self.steering.abort.is_cancelled()
            && ledgers.iter().all(|l| l.seqs.iter().all(|r| r.acked));
        Ok((ledgers, drained))
    }
}

/// Waits until `done()` holds, polling, at most `timeout`.
pub async fn wait_until(
    timeout: Duration,
    what: &str,
    done: impl Fn() -> bool,
) -> Result<(), FaultError> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > timeout {
            return Err(FaultError::Timeout {
                what: what.to_string(),
                secs: timeout.as_secs(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// Ends a kill run: its restart times, how long it took and how many
/// violations in `report`, and the working directory kept or removed.
pub fn finish_kill_run(
    mut report: Report,
    restart_ms: &[f64],
    elapsed: Duration,
    violations: Vec<String>,
    work: WorkDir,
) -> Outcome {
    add_restart_figures(&mut report, restart_ms);
    report
        .set_f64("elapsed_secs", elapsed.as_secs_f64(), 2)
        .set("violations", violations.len());
    let kept_dir = work.finish(!violations.is_empty());
    Outcome {
        report,
        violations,
        kept_dir,
    }
}

/// Starts the report of a kill scenario `name` with its schedule:
/// seed, kills under load (and how many early), the final idle kill and
/// the number of gateways.
pub fn kill_report(
    name: &'static str,
    seed: u64,
    kills: u32,
    early_kills: u32,
    gateways: u32,
) -> Report {
    let mut report = Report::new(name);
    report
        .set("seed", seed)
        .set("kills", kills)
        .set("early_kills", early_kills)
        .set("final_idle_kill", true)
        .set("gateways", gateways);
    report
}

/// Adds the mean and longest restart time (kill to port open), ms.
pub fn add_restart_figures(report: &mut Report, restart_ms: &[f64]) {
    let max = restart_ms.iter().copied().fold(0.0, f64::max);
    let mean = restart_ms.iter().sum::<f64>() / restart_ms.len().max(1) as f64;
    report
        .set_f64("restart_ms_mean", mean, 1)
        .set_f64("restart_ms_max", max, 1);
}

/// Adds the fleet-wide figures shared by every run.
pub fn add_fleet_figures(
    report: &mut Report,
    fleet_steering: &Steering,
    ledgers: &[GatewayLedger],
) {
    let s = fleet_steering.counters.snapshot();
    report
        .set("sent", s.attempts)
        .set("answers_by_rc", fleet_steering.counters.rc_text())
        .set("unanswered", s.unanswered)
        .set("sessions", s.sessions)
        .set("connect_failures", s.connect_failures);
    if let Some(e) = ledgers.iter().find_map(|l| l.last_error.clone()) {
        report.set("last_gateway_error", e);
    }
}

/// The violations of a verdict plus the server's panics.
pub fn collect_violations(verdict: &Verdict, spec: &ServerSpec) -> Vec<String> {
    let mut v = verdict.violations();
    v.extend(panic_violations(spec));
    v
}
