//! `sessions`: open S idle Always-On sessions (registration, then one
//! heartbeat every `--heartbeat-period` seconds each) and hold them.
//!
//! The OMP's RSS is read before the first connect and again once every
//! session is open and has been held for `--duration` seconds; the
//! difference over the sessions held is the OMP's memory per idle session.
//! Heartbeats are spread evenly over the period, so the OMP sees a steady
//! trickle rather than bursts; their latency is send → 0x10.
//!
//! Two limits of one machine are worked around:
//! - **open files** (20,000 per process here): one client socket is one
//!   descriptor, so the sessions are split over as many worker processes
//!   (this same binary, hidden `sessions-worker` subcommand) as the soft
//!   `RLIMIT_NOFILE` requires. A worker reports `ready N` on stdout once its
//!   sessions are open, holds them until its stdin closes (or its hard time
//!   bound passes), then prints its figures as one JSON line.
//! - **ephemeral ports** (`ip_local_port_range`, ~28,000 per source
//!   address towards one listener): when S approaches it, sessions bind
//!   explicit sources 127.0.0.2, 127.0.0.3, … — all of 127.0.0.0/8 is
//!   loopback on Linux, so no setup is needed.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use gmmp_codec::Message;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{oneshot, watch};

use crate::error::BenchError;
use crate::latency::Latency;
use crate::rss;
use crate::scenario::register_fleet;
use test_support::gmmp_client::Gateway;
use test_support::report::Report;

/// How long a heartbeat may wait for its 0x10.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);
/// Descriptors a process keeps for itself besides session sockets.
const FD_RESERVE: usize = 100;

/// What one process of the scenario does.
#[derive(Debug, Clone)]
pub struct WorkerPlan {
    /// The OMP's GMMP listener.
    pub target: SocketAddr,
    /// Global index of this worker's first session.
    pub first_index: usize,
    /// Sessions this worker opens.
    pub count: usize,
    /// Sessions per explicit source address; 0 = none.
    pub per_source: usize,
    /// Seconds between heartbeats.
    pub heartbeat_period: Duration,
    /// Registrations in flight at once.
    pub connect_concurrency: usize,
    /// Auth ID prefix.
    pub auth_prefix: String,
}

/// What one worker counted (crosses the process boundary as JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WorkerStats {
    /// Sessions registered.
    pub opened: usize,
    /// Sessions that failed to connect or register.
    pub open_failed: usize,
    /// Sessions still alive when told to stop.
    pub held: usize,
    /// Heartbeats answered.
    pub heartbeats: u64,
    /// First errors seen, if any.
    pub errors: Vec<String>,
    /// Heartbeat latency, as (µs, count) pairs.
    pub latency: Vec<(u64, u64)>,
}

/// Source address of session `index` when `per_source` sessions share one:
/// 127.0.0.2, 127.0.0.3, … (127.0.0.1 is left to everything else).
pub fn source_for(index: usize, per_source: usize) -> Option<Ipv4Addr> {
    if per_source == 0 {
        return None;
    }
    let n = index / per_source + 2;
    Some(Ipv4Addr::new(127, (n >> 16) as u8, (n >> 8) as u8, n as u8))
}

/// Opens and holds this worker's sessions. `ready` gets the number opened
/// once all attempts are done; sessions are held until `stop` turns true.
pub async fn run_worker(
    plan: &WorkerPlan,
    ready: oneshot::Sender<usize>,
    stop: watch::Receiver<bool>,
) -> WorkerStats {
    let per_source = plan.per_source;
    let fleet = register_fleet(
        plan.target,
        &plan.auth_prefix,
        plan.first_index,
        plan.count,
        plan.connect_concurrency,
        |i| source_for(i, per_source),
    )
    .await;
    let mut stats = WorkerStats {
        opened: fleet.gateways.len(),
        open_failed: fleet.failed,
        errors: fleet.errors,
        ..WorkerStats::default()
    };
    let _ = ready.send(stats.opened);

    let start = tokio::time::Instant::now();
    let opened = fleet.gateways.len().max(1);
    let mut tasks = Vec::with_capacity(fleet.gateways.len());
    for (i, gw) in fleet.gateways.into_iter().enumerate() {
        // Spread first heartbeats evenly over one period.
        let offset = plan.heartbeat_period.mul_f64(i as f64 / opened as f64);
        let period = plan.heartbeat_period;
        let stop = stop.clone();
        tasks.push(tokio::spawn(hold(gw, start + offset, period, stop)));
    }
    let mut latency = Latency::new();
    for task in tasks {
        match task.await {
            Ok((l, beats, result)) => {
                latency.merge(&l);
                stats.heartbeats += beats;
                match result {
                    Ok(()) => stats.held += 1,
                    Err(e) if stats.errors.len() < 3 => stats.errors.push(e.to_string()),
                    Err(_) => {}
                }
            }
            Err(e) => stats.errors.push(format!("session task: {e}")),
        }
    }
    stats.latency = latency.to_pairs();
    stats
}

/// Holds one session until `stop`: a heartbeat every `period` from
/// `first`. Returns its heartbeat latencies, how many were answered, and
/// whether the session was still alive at the end.
async fn hold(
    mut gw: Gateway,
    first: tokio::time::Instant,
    period: Duration,
    mut stop: watch::Receiver<bool>,
) -> (Latency, u64, Result<(), BenchError>) {
    let mut latency = Latency::new();
    let mut beats = 0u64;
    let mut next = first;
    let result = loop {
        if *stop.borrow() {
            break Ok(());
        }
        tokio::select! {
            _ = stop.changed() => continue,
            _ = tokio::time::sleep_until(next) => {
                next += period;
                let tid = gw.take_tid();
                let sent = Instant::now();
                if let Err(e) = heartbeat(&mut gw, tid).await {
                    break Err(e);
                }
                latency.record(sent.elapsed());
                beats += 1;
            }
            frame = gw.recv("idle between heartbeats") => match frame {
                Err(e) => break Err(e.into()),
                // An idle gateway ignores anything pushed to it.
                Ok(_) => continue,
            },
        }
    };
    (latency, beats, result)
}

async fn heartbeat(gw: &mut Gateway, tid: u32) -> Result<(), BenchError> {
    let frame = gw.heartbeat(tid);
    gw.send(&frame).await?;
    loop {
        let answer = gw
            .recv_within(HEARTBEAT_TIMEOUT, "waiting for a 0x10 heartbeat response")
            .await?;
        match &answer.message {
            Message::HeartbeatResponse(_) if answer.header.tid == tid => return Ok(()),
            Message::HeartbeatResponse(_) => {
                return Err(BenchError::Protocol {
                    auth_id: gw.name().to_string(),
                    detail: format!("0x10 with T-ID {}, expected {tid}", answer.header.tid),
                });
            }
            _ => continue,
        }
    }
}

/// What `sessions` needs.
#[derive(Debug, Clone)]
pub struct SessionsOptions {
    /// The common plan (first_index, count and per_source are set per worker).
    pub plan: WorkerPlan,
    /// Sessions in all.
    pub sessions: usize,
    /// Hold time once all are open.
    pub hold: Duration,
    /// Worker processes; None = as the open-files limit requires.
    pub processes: Option<usize>,
    /// Source addresses; None = as the port range requires.
    pub sources: Option<usize>,
    /// The OMP's PID.
    pub server_pid: Option<u32>,
    /// The `gmmp-bench` binary that runs workers (default: this one).
    pub worker_exe: Option<std::path::PathBuf>,
}

/// Runs the scenario.
pub async fn run(opts: &SessionsOptions) -> Result<Report, BenchError> {
    let fd_limit = open_files_limit().unwrap_or(1024);
    let per_process = fd_limit.saturating_sub(FD_RESERVE).max(1);
    let processes = opts
        .processes
        .unwrap_or_else(|| opts.sessions.div_ceil(per_process))
        .max(1);
    let per_source = match opts.sources {
        Some(0) => 0,
        Some(n) => opts.sessions.div_ceil(n),
        None => {
            let ports = ephemeral_ports().unwrap_or(28_000);
            if opts.sessions <= ports * 3 / 4 {
                0
            } else {
                ports / 2
            }
        }
    };
    let sources = if per_source == 0 {
        0
    } else {
        opts.sessions.div_ceil(per_source)
    };
    let before = opts.server_pid.map(rss::read).transpose()?;

    let share = opts.sessions.div_ceil(processes);
    let plans: Vec<WorkerPlan> = (0..processes)
        .map(|p| WorkerPlan {
            first_index: p * share,
            count: share.min(opts.sessions.saturating_sub(p * share)),
            per_source,
            ..opts.plan.clone()
        })
        .filter(|p| p.count > 0)
        .collect();
    let open_bound = Duration::from_secs(60 + (opts.sessions as u64) / 50);
    let started = Instant::now();
    let (stats, after) = if plans.len() == 1 {
        in_process(&plans[0], opts, open_bound).await?
    } else {
        in_workers(&plans, opts, open_bound).await?
    };
    let opened: usize = stats.iter().map(|(s, _)| s.opened).sum();
    let open_secs = stats
        .iter()
        .map(|(_, t)| t.as_secs_f64())
        .fold(0.0, f64::max);

    let mut report = Report::new("sessions");
    let mut latency = Latency::new();
    let mut held = 0;
    let mut failed = 0;
    let mut heartbeats = 0;
    let mut errors = Vec::new();
    for (s, _) in &stats {
        latency.merge(&Latency::from_pairs(&s.latency));
        held += s.held;
        failed += s.open_failed;
        heartbeats += s.heartbeats;
        errors.extend(s.errors.iter().cloned());
    }
    if opened == 0 && failed > 0 {
        return Err(BenchError::NoneRegistered {
            target: opts.plan.target,
            attempted: failed,
            first_error: errors.first().cloned().unwrap_or_default(),
        });
    }
    report
        .set("sessions_requested", opts.sessions)
        .set("sessions_opened", opened)
        .set("sessions_held", held)
        .set("open_failures", failed)
        .set("processes", plans.len())
        .set("source_addresses", sources.max(1))
        .set_f64("open_secs", open_secs, 2)
        .set_f64("total_secs", started.elapsed().as_secs_f64(), 2)
        .set(
            "heartbeat_period_secs",
            opts.plan.heartbeat_period.as_secs(),
        )
        .set("heartbeats", heartbeats);
    latency.add_to(&mut report, "heartbeat_");
    if let (Some(before), Some(after)) = (before, after) {
        report
            .set("server_rss_before_kib", before.rss_kib)
            .set("server_rss_after_kib", after.rss_kib)
            .set("server_vmhwm_kib", after.hwm_kib);
        if held > 0 {
            let grown = after.rss_kib.saturating_sub(before.rss_kib) as f64 * 1024.0;
            report.set_f64("server_rss_per_session_bytes", grown / held as f64, 0);
        }
    }
    if let Some(e) = errors.first() {
        report.set("first_error", e.clone());
    }
    Ok(report)
}

/// Figures of each worker with how long its opening took, and the OMP's
/// memory at the end of the hold.
type Gathered = (Vec<(WorkerStats, Duration)>, Option<rss::Memory>);

/// Runs the only worker in this process.
async fn in_process(
    plan: &WorkerPlan,
    opts: &SessionsOptions,
    open_bound: Duration,
) -> Result<Gathered, BenchError> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = Instant::now();
    let worker = tokio::spawn({
        let plan = plan.clone();
        async move { run_worker(&plan, ready_tx, stop_rx).await }
    });
    let opened = tokio::time::timeout(open_bound, ready_rx).await;
    let open_time = start.elapsed();
    if opened.is_ok() {
        tokio::time::sleep(opts.hold).await;
    }
    let memory = measure(opts.server_pid);
    let _ = stop_tx.send(true);
    let stats = worker.await.map_err(|e| BenchError::Worker {
        index: 0,
        detail: e.to_string(),
    })?;
    Ok((vec![(stats, open_time)], memory))
}

/// Runs one child process per plan.
async fn in_workers(
    plans: &[WorkerPlan],
    opts: &SessionsOptions,
    open_bound: Duration,
) -> Result<Gathered, BenchError> {
    let exe = match &opts.worker_exe {
        Some(exe) => exe.clone(),
        None => std::env::current_exe().map_err(|e| BenchError::io("find own executable", e))?,
    };
    let max_seconds = open_bound.as_secs() + opts.hold.as_secs() + 60;
    let start = Instant::now();
    let mut children = Vec::new();
    for (index, plan) in plans.iter().enumerate() {
        let mut child = tokio::process::Command::new(&exe)
            .arg("sessions-worker")
            .args(["--target", &plan.target.to_string()])
            .args(["--sessions", &plan.count.to_string()])
            .args(["--first-index", &plan.first_index.to_string()])
            .args(["--per-source", &plan.per_source.to_string()])
            .args(["--max-seconds", &max_seconds.to_string()])
            .args([
                "--heartbeat-period",
                &plan.heartbeat_period.as_secs().to_string(),
            ])
            .args([
                "--connect-concurrency",
                &plan.connect_concurrency.to_string(),
            ])
            .args(["--auth-prefix", &plan.auth_prefix])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BenchError::io(format!("start worker {index}"), e))?;
        let stdout = child.stdout.take().ok_or_else(|| BenchError::Worker {
            index,
            detail: "no stdout pipe".into(),
        })?;
        children.push((child, BufReader::new(stdout).lines()));
    }
    // Wait until every worker has opened its sessions.
    let mut open_times = Vec::new();
    for (index, (_, lines)) in children.iter_mut().enumerate() {
        let remaining = open_bound.saturating_sub(start.elapsed());
        let line = tokio::time::timeout(remaining, lines.next_line()).await;
        match line {
            Ok(Ok(Some(l))) if l.starts_with("ready ") => open_times.push(start.elapsed()),
            Ok(Ok(other)) => {
                return Err(BenchError::Worker {
                    index,
                    detail: format!("expected `ready N`, got {other:?}"),
                });
            }
            Ok(Err(e)) => return Err(BenchError::io(format!("read worker {index}"), e)),
            Err(_) => {
                return Err(BenchError::Timeout {
                    what: format!("worker {index} opening its sessions"),
                    secs: open_bound.as_secs(),
                });
            }
        }
    }
    tokio::time::sleep(opts.hold).await;
    let memory = measure(opts.server_pid);
    // Closing stdin tells each worker to stop and report.
    let mut stats = Vec::new();
    for (index, (mut child, mut lines)) in children.into_iter().enumerate() {
        drop(child.stdin.take());
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
        let text = match line {
            Ok(Ok(Some(l))) => l,
            other => {
                return Err(BenchError::Worker {
                    index,
                    detail: format!("no figures on stdout: {other:?}"),
                });
            }
        };
        let s: WorkerStats = serde_json::from_str(&text).map_err(|e| BenchError::Worker {
            index,
            detail: format!("bad figures {text:?}: {e}"),
        })?;
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        stats.push((s, open_times.get(index).copied().unwrap_or_default()));
    }
    Ok((stats, memory))
}

fn measure(pid: Option<u32>) -> Option<rss::Memory> {
    pid.and_then(|p| rss::read(p).ok())
}

/// The body of the hidden `sessions-worker` subcommand: opens its share,
/// prints `ready N`, holds until stdin closes or `max_seconds` pass, prints
/// its [`WorkerStats`] as JSON.
pub async fn worker_main(plan: WorkerPlan, max_seconds: u64) -> Result<(), BenchError> {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(async move { run_worker(&plan, ready_tx, stop_rx).await });
    let mut stdout = tokio::io::stdout();
    let opened = ready_rx.await.unwrap_or(0);
    stdout
        .write_all(format!("ready {opened}\n").as_bytes())
        .await
        .map_err(|e| BenchError::io("write stdout", e))?;
    stdout
        .flush()
        .await
        .map_err(|e| BenchError::io("flush stdout", e))?;
    let stdin_closed = async {
        let mut sink = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(max_seconds), stdin_closed).await;
    let _ = stop_tx.send(true);
    let stats = worker.await.map_err(|e| BenchError::Worker {
        index: 0,
        detail: e.to_string(),
    })?;
    let json = serde_json::to_string(&stats).map_err(|e| BenchError::Worker {
        index: 0,
        detail: e.to_string(),
    })?;
    stdout
        .write_all(format!("{json}\n").as_bytes())
        .await
        .map_err(|e| BenchError::io("write stdout", e))?;
    stdout
        .flush()
        .await
        .map_err(|e| BenchError::io("flush stdout", e))
}

/// The soft open-files limit, from `/proc/self/limits`.
pub fn open_files_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many ephemeral ports the kernel hands out, from
/// `ip_local_port_range`.
pub fn ephemeral_ports() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<usize>());
    let (Some(Ok(lo)), Some(Ok(hi))) = (it.next(), it.next()) else {
        return None;
    };
    Some(hi.saturating_sub(lo) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_spread_over_loopback() {
        assert_eq!(source_for(5, 0), None);
        assert_eq!(source_for(0, 10), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(source_for(25, 10), Some(Ipv4Addr::new(127, 0, 0, 4)));
        assert_eq!(source_for(2540, 10), Some(Ipv4Addr::new(127, 0, 1, 0)));
    }

    #[test]
    fn limits_are_readable_here() {
        assert!(open_files_limit().is_some_and(|n| n > 0));
        assert!(ephemeral_ports().is_some_and(|n| n > 0));
    }
}
