//! The fault run itself: the real omp-server and the WizFi310 emulator
//! in-process, the `gw-agent` binary as a child process in bridge mode
//! with its on-disk spool, a producer writing numbered deliveries to the
//! agent's data socket, and three fault loops driven by one seed:
//!
//! - the emulator ([`wizfi310_sim::Fault`]): a command's response lost or
//!   delayed, a garbled response or event line, an unsolicited
//!   `[Reset Event]`, `[Link-Down Event]`, the module's TCP sockets closed
//!   by the peer, and the access point off the air for a while (joins fail
//!   until it is back);
//! - the OMP: stopped (graceful shutdown) and started again on the same
//!   port and database after a pause;
//! - the agent: SIGKILLed and started again.
//!
//! Each fault is also written to `<work_dir>/faults.log` (`<unix ms>
//! <kind>`); the agent logs to `<work_dir>/agent/agent.log`.
//!
//! Then the faults stop, the producer stops, the agent drains its spool,
//! and [`crate::ledger::Tally`] sorts every produced delivery against the
//! rows of the OMP's `deliveries` table, the agent's `dropped.jsonl` and
//! `rejected.jsonl`, and what is left in its spool (read after a last
//! SIGKILL).
//!
//! Decisions:
//! - The first emulator faults are one of each kind (shuffled, at the
//!   mean interval), so even a short run exercises all of them; then kinds
//!   are drawn by weight at exponentially distributed intervals.
//! - Kill and outage times are drawn up front, one per equal slot of
//!   10–90 % (kills) or 10–85 % (outages) of the run, so each happens;
//!   the loops run concurrently, so faults of different loops overlap (a
//!   kill during an outage, a link-down during a restart). Only the
//!   schedule is reproducible from the seed: the points the faults hit
//!   depend on timing.
//! - The producer writes one line at a time at `rate` per second and waits
//!   for its answer (`ok <seq>` means fsynced in the spool). While the
//!   agent is down it does not produce; a line whose answer died with the
//!   agent is *unconfirmed* — not promised, but counted.
//! - The agent's reconnect back-off is shortened (`reconnect` 100 ms to
//!   2 s) and its spool bound made small so that OMP outages overflow it
//!   and the drop-oldest policy is exercised.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;
use wizfi310_sim::{Fault, SimConfig, SimControl, Simulator};

use crate::ledger::{self, AgentRecords, Produced, Row, Tally};

// Paths from this file's directory: it is also compiled into
// `tests/agent_faults.rs` through a `#[path]`, where plain `mod` lookups
// would start elsewhere.
#[path = "harness/faults.rs"]
mod faults;
#[path = "harness/processes.rs"]
mod processes;
#[path = "harness/traffic.rs"]
mod traffic;

use faults::{agent_kills, emulator_faults, omp_outages};
use processes::{AgentProcess, Omp, pick_port, unix_ms, wait_ready};
use traffic::{agent_records, drain, produce, spooled, stored_rows};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `gw-agent` binary.
    pub agent_bin: PathBuf,
    /// Where the OMP's data, the agent's state and its log go.
    pub work_dir: PathBuf,
    /// Seed of the fault schedule.
    pub seed: u64,
    /// How long faults are injected while deliveries are produced.
    pub duration: Duration,
    /// Deliveries written per second.
    pub rate: f64,
    /// Payload bytes of each delivery.
    pub payload: usize,
    /// Mean time between emulator faults.
    pub fault_interval: Duration,
    /// SIGKILLs of the agent.
    pub agent_kills: usize,
    /// OMP stops.
    pub omp_outages: usize,
    /// Shortest and longest OMP outage.
    pub outage: (Duration, Duration),
    /// The agent's `spool.max_bytes`.
    pub spool_bytes: u64,
    /// The agent's `delivery.max_in_flight`.
    pub in_flight: usize,
    /// The agent's `periods.response_timeout`.
    pub response_timeout: Duration,
    /// Pace the emulator's pty at 115200 bit/s.
    pub pace: bool,
    /// Longest wait for the spool to drain after the faults.
    pub drain_timeout: Duration,
}

impl Options {
    /// Defaults for a run of a few minutes.
    pub fn new(agent_bin: PathBuf, work_dir: PathBuf) -> Options {
        Options {
            agent_bin,
            work_dir,
            seed: 1,
            duration: Duration::from_secs(180),
            rate: 20.0,
            payload: 64,
            fault_interval: Duration::from_secs(3),
            agent_kills: 5,
            omp_outages: 5,
            outage: (Duration::from_secs(2), Duration::from_secs(8)),
            spool_bytes: 8192,
            in_flight: 4,
            response_timeout: Duration::from_secs(5),
            pace: false,
            drain_timeout: Duration::from_secs(120),
        }
    }
}

/// Why a run could not be carried out (a fault the run finds is in the
/// [`Report`], not here).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file or process step failed.
    #[error("{what}: {source}")]
    Io {
        /// The step.
        what: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The OMP would not start or stop.
    #[error("omp-server: {0}")]
    Omp(String),
    /// The OMP's database could not be read.
    #[error("reading the OMP's deliveries: {0}")]
    Database(#[from] sqlx::Error),
    /// The agent never got a ready session.
    #[error("the agent did not get a ready OMP session within {0:?}")]
    NotReady(Duration),
    /// The agent's spool could not be opened after the run.
    #[error("reading the agent's spool: {0}")]
    Spool(#[from] gw_agent::spool::SpoolError),
    /// A fault loop panicked.
    #[error("a fault loop failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Io { what, source }
}

/// What a run did and found.
#[derive(Debug, Clone)]
pub struct Report {
    /// Faults injected, by kind (`agent-kill` and `omp-stop` included).
    pub faults: BTreeMap<&'static str, u64>,
    /// Times the agent exited without being killed (with how).
    pub agent_exits: Vec<String>,
    /// The accounting.
    pub tally: Tally,
    /// Unreadable lines in `dropped.jsonl` / `rejected.jsonl`.
    pub unreadable_records: usize,
    /// Sessions the agent logged as lost ("OMP session down").
    pub sessions_lost: usize,
    /// Torn spool records the agent cut off at start-up (after a SIGKILL).
    pub torn_spool_records: usize,
    /// Duplicated deliveries with an agent SIGKILL between their first and
    /// last copy (the OMP stored one, the kill took its STATUS_OK or the
    /// spool's `done` record with it).
    pub duplicates_across_kills: usize,
    /// Keyed resends the OMP acknowledged without storing them again
    /// (`omp_deliveries_already_stored_total`, summed over its restarts).
    pub resends_recognised: u64,
    /// The spool drained within the drain timeout.
    pub drained: bool,
    /// From the first delivery to the end of the faults.
    pub fault_time: Duration,
    /// From the end of the faults to the drained spool.
    pub drain_time: Duration,
    /// The whole run.
    pub total_time: Duration,
}

/// Runs the fault run described by `opts`.
pub async fn run(opts: Options) -> Result<Report, RunError> {
    let started = Instant::now();
    let faults = Counts::new(&opts.work_dir.join("faults.log"))?;
    let omp_dir = opts.work_dir.join("omp");
    let omp = Omp::start(&omp_dir, SocketAddr::from(([127, 0, 0, 1], pick_port()?))).await?;
    let gmmp_addr = omp.gmmp_addr;
    let sim = Simulator::start(SimConfig {
        pace: opts.pace,
        join_delay: Duration::from_millis(10),
        reset_delay: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .await
    .map_err(io("starting the emulator"))?;
    let ctl = sim.control();
    let state = opts.work_dir.join("agent");
    let socket = opts.work_dir.join("data.sock");
    let agent = AgentProcess::spawn(&opts, sim.tty_path(), gmmp_addr.port(), &state, &socket)?;
    wait_ready(&state, Duration::from_secs(60)).await?;

    let t0 = Instant::now();
    let produced = Arc::new(Mutex::new(Produced::default()));
    let stop_producing = CancellationToken::new();
    let producer = tokio::spawn(produce(
        socket.clone(),
        opts.rate,
        opts.payload,
        stop_producing.clone(),
        produced.clone(),
    ));
    let stop_faults = CancellationToken::new();
    let mut rng = Rng::new(opts.seed);
    let emulator = tokio::spawn(emulator_faults(
        ctl.clone(),
        Rng::new(rng.next()),
        opts.fault_interval,
        stop_faults.clone(),
        faults.clone(),
    ));
    let outages = plan(
        &mut rng,
        opts.omp_outages,
        opts.duration,
        0.10,
        0.85,
        opts.outage,
    );
    let omp_loop = tokio::spawn(omp_outages(
        omp,
        omp_dir.clone(),
        outages,
        t0,
        stop_faults.clone(),
        faults.clone(),
    ));
    let restart = (Duration::from_millis(100), Duration::from_secs(1));
    let kills = plan(
        &mut rng,
        opts.agent_kills,
        opts.duration,
        0.10,
        0.90,
        restart,
    );
    let agent_loop = tokio::spawn(agent_kills(
        agent,
        kills,
        t0,
        stop_faults.clone(),
        faults.clone(),
    ));

    tokio::time::sleep(opts.duration).await;
    stop_faults.cancel();
    emulator.await?;
    ctl.set_access_point(true);
    let (omp, resends_before) = omp_loop.await??;
    let (mut agent, agent_exits, killed_at) = agent_loop.await??;
    stop_producing.cancel();
    let fault_time = t0.elapsed();
    // The producer ends once its last line is answered (the agent is up).
    let _ = tokio::time::timeout(opts.drain_timeout, producer).await;
    let produced = produced.lock().unwrap_or_else(|p| p.into_inner()).clone();

    let drain_started = Instant::now();
    let drained = drain(&omp, &state, agent.pid(), &produced, &opts).await?;
    let drain_time = drain_started.elapsed();
    agent.kill().await;
    let rows = stored_rows(&omp).await?;
    let mut records = agent_records(&state)?;
    records.spooled = spooled(&state)?;
    let tally = Tally::new(&produced, &records, &rows, opts.payload);
    let log = std::fs::read_to_string(state.join("agent.log")).unwrap_or_default();
    sim.shutdown().await;
    let resends_recognised = resends_before + omp.stop().await?;
    let faults = faults.snapshot();
    let duplicates_across_kills = tally
        .duplicates
        .iter()
        .filter(|d| {
            let first = d.copies.first().map_or(0, |c| c.1);
            let last = d.copies.last().map_or(0, |c| c.1);
            killed_at.iter().any(|k| (first..=last).contains(k))
        })
        .count();
    Ok(Report {
        duplicates_across_kills,
        resends_recognised,
        faults,
        agent_exits,
        tally,
        unreadable_records: records.unreadable_lines,
        sessions_lost: log.matches("OMP session down").count(),
        torn_spool_records: log.matches("dropped a torn record").count(),
        drained,
        fault_time,
        drain_time,
        total_time: started.elapsed(),
    })
}

/// Fault counts by kind, shared by the loops.
#[derive(Debug, Clone)]
struct Counts {
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
    /// `<unix ms> <kind>` per fault, to line faults up with the agent's
    /// log and the OMP's `received_at` when investigating a run.
    timeline: Arc<Mutex<Option<std::fs::File>>>,
}

impl Counts {
    fn new(timeline: &Path) -> Result<Counts, RunError> {
        let file = std::fs::File::create(timeline)
            .map_err(io(format!("creating {}", timeline.display())))?;
        Ok(Counts {
            counts: Arc::default(),
            timeline: Arc::new(Mutex::new(Some(file))),
        })
    }

    fn add(&self, kind: &'static str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(kind)
            .or_default() += 1;
        let mut timeline = self.timeline.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = timeline.as_mut() {
            use std::io::Write;
            // Diagnostics only: a failed write stops the timeline, not the run.
            if writeln!(file, "{} {kind}", unix_ms()).is_err() {
                *timeline = None;
            }
        }
    }

    fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// splitmix64: a seeded schedule, not security.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi].
    fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        lo + hi.saturating_sub(lo).mul_f64(self.unit())
    }
}

/// `n` events in [from, to] of `duration`, each with a length drawn from
/// `len`: one per equal slot, at a random point of it that lets the event
/// end within the slot when it fits, so events never overlap and all of
/// them happen before `to`.
fn plan(
    rng: &mut Rng,
    n: usize,
    duration: Duration,
    from: f64,
    to: f64,
    len: (Duration, Duration),
) -> Vec<(Duration, Duration)> {
    let slot = duration.mul_f64((to - from) / n.max(1) as f64);
    (0..n)
        .map(|i| {
            let length = rng.between(len.0, len.1);
            let start = duration.mul_f64(from) + slot * i as u32;
            (
                start + slot.saturating_sub(length).mul_f64(rng.unit()),
                length,
            )
        })
        .collect()
}
