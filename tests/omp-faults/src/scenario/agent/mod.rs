//! `agent`: the gateway agent under faults. The real omp-server and a
//! module emulator (the WizFi310's or the WIZ550S2E's, [`emulator`])
//! in-process, the real agent (`gw-agent`'s code, by default as this
//! program's hidden `run-agent`) as a child process in bridge mode with
//! its on-disk spool, a producer writing numbered deliveries to the
//! agent's data socket, and three fault loops driven by one seed:
//!
//! - the emulator: for the WizFi310 ([`wizfi310_sim::Fault`]) a command's
//!   response lost or delayed, a garbled response or event line, an
//!   unsolicited `[Reset Event]`, `[Link-Down Event]`, the module's TCP
//!   sockets closed by the peer, and the access point off the air for a
//!   while (joins fail until it is back); for the WIZ550S2E
//!   ([`wiz550s2e_sim::Fault`]) the same response faults, the peer
//!   closing the connection, a full transmit buffer for one AT+NSEND, a
//!   silent reboot (back in data mode), and the Ethernet link down for a
//!   while;
//! - the OMP: stopped (graceful shutdown) and started again on the same
//!   port and database after a pause;
//! - the agent: SIGKILLed and started again.
//!
//! Each fault is also written to `<work_dir>/faults.log` (`<unix ms>
//! <kind>`); the agent logs to `<work_dir>/agent/agent.log`.
//!
//! Then the faults stop, the producer stops, the agent drains its spool,
//! and [`ledger::Tally`] sorts every produced delivery against the
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
//!
//! # Layout
//!
//! - [`emulator`]: the two emulators, their fault kinds and how each is
//!   injected.
//! - [`faults`]: the schedule (one seed) and the emulator's fault loop.
//! - [`omp`]: the OMP in-process, stopped and started on one port.
//! - [`process`]: the agent's child process, its kills and restarts.
//! - [`traffic`]: the producer, the drain, and what is collected after.
//! - [`ledger`]: the accounting, without IO.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use test_support::report::Report as Figures;
use tokio_util::sync::CancellationToken;

use crate::cli::AgentArgs;
use crate::error::FaultError;
use crate::program::{self, Program};
use crate::scenario::{Outcome, WorkDir};
use emulator::{Emulator, ModuleKind, fault_kinds};
use faults::{Counts, agent_kills_plan, emulator_faults, plan};
use ledger::{Produced, Tally};
use omp::{Omp, omp_outages, pick_port};
use process::{AgentProcess, agent_kills, wait_ready};
use traffic::{agent_records, drain, produce, spooled, stored_rows};

pub mod emulator;
pub mod faults;
pub mod ledger;
pub mod omp;
pub mod process;
pub mod traffic;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// How the agent is started.
    pub agent: Program,
    /// The module emulated on the agent's serial port.
    pub module: ModuleKind,
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
    /// The emulator also drops its whole response to every n-th command,
    /// beside the scheduled faults.
    pub drop_every: Option<std::num::NonZeroU32>,
}

impl Options {
    /// Defaults for a run of a few minutes.
    pub fn new(agent: Program, work_dir: PathBuf) -> Options {
        Options {
            agent,
            module: ModuleKind::Wizfi310,
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
            drop_every: None,
        }
    }
}

/// Why a run could not be carried out (a fault the run finds is in the
/// [`Report`], not here).

#[derive(Debug, Clone)]
pub struct Report {
    /// The module emulated.
    pub module: ModuleKind,
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
    /// Sends the agent counted as done without the module's `[OK]` (the
    /// reply was lost; the OMP's response confirmed the deliveries).
    pub sends_unconfirmed: usize,
    /// Commands the module did not answer in time, after which the
    /// agent's driver re-synchronised with bare `AT`s (either module).
    pub resyncs: usize,
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
pub async fn run(opts: Options) -> Result<Report, FaultError> {
    let started = Instant::now();
    let faults = Counts::new(&opts.work_dir.join("faults.log"))?;
    let omp_dir = opts.work_dir.join("omp");
    let omp = Omp::start(&omp_dir, SocketAddr::from(([127, 0, 0, 1], pick_port()?))).await?;
    let gmmp_addr = omp.gmmp_addr;
    let sim = Emulator::start(&opts).await?;
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
    let mut rng = fastrand::Rng::with_seed(opts.seed);
    let emulator = tokio::spawn(emulator_faults(
        ctl.clone(),
        fault_kinds(opts.module),
        fastrand::Rng::with_seed(rng.u64(..)),
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
    let kills = agent_kills_plan(&mut rng, opts.agent_kills, opts.duration);
    let agent_loop = tokio::spawn(agent_kills(
        agent,
        kills,
        t0,
        stop_faults.clone(),
        faults.clone(),
    ));

    tokio::time::sleep(opts.duration).await;
    stop_faults.cancel();
    emulator.await.map_err(task)?;
    ctl.restore();
    let (omp, resends_before) = omp_loop.await.map_err(task)??;
    let (mut agent, agent_exits, killed_at) = agent_loop.await.map_err(task)??;
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
        module: opts.module,
        duplicates_across_kills,
        resends_recognised,
        faults,
        agent_exits,
        tally,
        unreadable_records: records.unreadable_lines,
        sessions_lost: log.matches("OMP session down").count(),
        sends_unconfirmed: log.matches("a send's [OK] was lost").count(),
        resyncs: log.matches("re-synchronising with AT").count(),
        torn_spool_records: log.matches("dropped a torn record").count(),
        drained,
        fault_time,
        drain_time,
        total_time: started.elapsed(),
    })
}

fn task(e: tokio::task::JoinError) -> FaultError {
    FaultError::Task(e.to_string())
}

impl Report {
    /// The broken promises, in words: a confirmed delivery lost or stored
    /// twice, a corrupt row, an accounting that does not balance, a spool
    /// that did not drain.
    pub fn violations(&self) -> Vec<String> {
        let t = &self.tally;
        let mut out = Vec::new();
        if !t.lost.is_empty() {
            let shown: Vec<String> = t.lost.iter().take(20).map(u64::to_string).collect();
            out.push(format!(
                "{} confirmed deliveries lost: {}",
                t.lost.len(),
                shown.join(" ")
            ));
        }
        if t.duplicated > 0 {
            out.push(format!(
                "{} keyed deliveries stored more than once",
                t.duplicated
            ));
        }
        if t.corrupt_rows > 0 {
            out.push(format!("{} corrupt or foreign rows", t.corrupt_rows));
        }
        if !t.balances() {
            out.push("the accounting does not balance".into());
        }
        if !self.drained || t.spooled > 0 {
            out.push(format!(
                "the spool did not drain ({} deliveries left)",
                t.spooled
            ));
        }
        out
    }

    /// The figures, for the one-line or JSON output.
    pub fn figures(&self) -> Figures {
        let t = &self.tally;
        let mut f = Figures::new("agent");
        f.set("module", self.module.name());
        let total: u64 = self.faults.values().sum();
        f.set("faults", total);
        for (kind, n) in &self.faults {
            f.set(format!("fault_{}", kind.replace('-', "_")), *n);
        }
        f.set("produced", t.produced)
            .set("stored_once", t.stored_once)
            .set("duplicated", t.duplicated)
            .set("dropped", t.dropped)
            .set("dropped_but_stored", t.dropped_but_stored)
            .set("set_aside", t.rejected)
            .set("spooled", t.spooled)
            .set("lost", t.lost.len())
            .set("unconfirmed", t.unconfirmed)
            .set("refused", t.refused)
            .set("rows", t.rows)
            .set("gw_ids", t.gw_ids)
            .set("corrupt_rows", t.corrupt_rows)
            .set("out_of_order", t.out_of_order)
            .set("balances", t.balances())
            .set("sessions_lost", self.sessions_lost)
            .set("sends_unconfirmed", self.sends_unconfirmed)
            .set("resyncs", self.resyncs)
            .set("torn_spool_records", self.torn_spool_records)
            .set("agent_exits", self.agent_exits.len())
            .set("duplicates_across_kills", self.duplicates_across_kills)
            .set("resends_recognised", self.resends_recognised)
            .set("unreadable_records", self.unreadable_records)
            .set("drained", self.drained);
        f.set_f64("fault_s", self.fault_time.as_secs_f64(), 1)
            .set_f64("drain_s", self.drain_time.as_secs_f64(), 1)
            .set_f64("total_s", self.total_time.as_secs_f64(), 1);
        f
    }
}

impl Options {
    /// The options of `omp-faults agent`, working in `work_dir`.
    pub fn from_args(args: &AgentArgs, work_dir: PathBuf) -> Result<Options, FaultError> {
        Ok(Options {
            module: args.module,
            seed: args.seed,
            duration: args.duration,
            rate: args.rate,
            payload: args.payload.max(ledger::MIN_PAYLOAD),
            fault_interval: args.fault_interval,
            agent_kills: args.agent_kills,
            omp_outages: args.omp_outages,
            outage: (args.outage_min, args.outage_max.max(args.outage_min)),
            spool_bytes: args.spool_bytes,
            in_flight: args.in_flight,
            response_timeout: args.response_timeout,
            pace: args.pace,
            drain_timeout: args.drain_timeout,
            drop_every: args.drop_every,
            ..Options::new(
                Program::choose(args.agent_bin.clone(), program::RUN_AGENT)?,
                work_dir,
            )
        })
    }
}

/// `omp-faults agent`: the run in a temporary working directory, its
/// figures and violations.
pub async fn run_from_args(args: &AgentArgs) -> Result<Outcome, FaultError> {
    let work = WorkDir::new(args.keep)?;
    let opts = Options::from_args(args, work.path().to_owned())?;
    let report = run(opts).await?;
    let mut violations = report.violations();
    violations.extend(
        report
            .agent_exits
            .iter()
            .map(|e| format!("the agent exited unasked {e}")),
    );
    let kept_dir = work.finish(!violations.is_empty());
    Ok(Outcome {
        report: report.figures(),
        violations,
        kept_dir,
    })
}
