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

/// Emulator faults: name, weight.
const EMULATOR_FAULTS: [(&str, u32); 7] = [
    ("drop-response", 3),
    ("delay-response", 3),
    ("garble-line", 3),
    ("close-socket", 2),
    ("link-down", 2),
    ("reset-event", 1),
    ("ap-off", 1),
];

async fn emulator_faults(
    ctl: SimControl,
    mut rng: Rng,
    mean: Duration,
    stop: CancellationToken,
    counts: Counts,
) {
    // One of each first, shuffled (Fisher–Yates), then by weight.
    let mut first: Vec<&'static str> = EMULATOR_FAULTS.iter().map(|(k, _)| *k).collect();
    for i in (1..first.len()).rev() {
        first.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    let total: u32 = EMULATOR_FAULTS.iter().map(|(_, w)| w).sum();
    let mut drawn = first.into_iter();
    let mut first_round = EMULATOR_FAULTS.len();
    loop {
        // The first round at the mean gap, so a short run sees every kind;
        // then exponential gaps (a Poisson process), kept within reason.
        let gap = if first_round > 0 {
            first_round -= 1;
            mean
        } else {
            mean.mul_f64(-(1.0 - rng.unit()).ln())
                .clamp(mean / 10, mean * 4)
        };
        tokio::select! {
            _ = tokio::time::sleep(gap) => {}
            _ = stop.cancelled() => return,
        }
        let kind = drawn.next().unwrap_or_else(|| {
            let mut pick = (rng.next() % u64::from(total)) as u32;
            EMULATOR_FAULTS
                .iter()
                .find(|(_, w)| {
                    let hit = pick < *w;
                    pick = pick.saturating_sub(*w);
                    hit
                })
                .map_or("drop-response", |(k, _)| *k)
        });
        counts.add(kind);
        match kind {
            "drop-response" => ctl.inject(Fault::DropNextResponse),
            "delay-response" => ctl.inject(Fault::DelayNextResponse(
                rng.between(Duration::from_millis(100), Duration::from_secs(3)),
            )),
            "garble-line" => ctl.inject(Fault::GarbleNextLine),
            // Every open socket: the agent's is usually 0, but not when a
            // stale one was still open at its connect (closing a socket
            // that is not open does nothing).
            "close-socket" => {
                for sid in 0..wizfi310_sim::interpreter::MAX_SOCKETS as u8 {
                    ctl.inject(Fault::CloseSocket(sid));
                }
            }
            "link-down" => ctl.inject(Fault::LinkDown),
            "reset-event" => ctl.inject(Fault::ResetEvent),
            _ => {
                ctl.set_access_point(false);
                let off = rng.between(Duration::from_secs(1), Duration::from_secs(4));
                tokio::select! {
                    _ = tokio::time::sleep(off) => {}
                    _ = stop.cancelled() => {}
                }
                ctl.set_access_point(true);
            }
        }
    }
}

/// A free loopback port below the kernel's ephemeral range for the OMP.
/// The OMP is stopped and started again on one port, and a port of the
/// ephemeral range can be handed to another socket in between — another
/// program's, or the emulator's own connect attempt to it (a TCP
/// self-connect) — which then keeps the OMP out. Falls back to any free
/// port when the range starts too low.
fn pick_port() -> Result<u16, RunError> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let from = 10_000u16;
    if ephemeral_low > from {
        let mut rng = Rng::new(
            u64::from(std::process::id())
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64),
        );
        for _ in 0..200 {
            let port = from + (rng.next() % u64::from(ephemeral_low - from)) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let any = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    any.local_addr()
        .map(|a| a.port())
        .map_err(io("finding a free port"))
}

/// The OMP in-process, on a fixed GMMP address once started.
struct Omp {
    server: omp_server::RunningServer,
    shutdown: CancellationToken,
    gmmp_addr: SocketAddr,
}

impl Omp {
    /// Starts the OMP on `gmmp` (a port a previous run had: retried while
    /// the old socket is still being released).
    async fn start(dir: &Path, gmmp: SocketAddr) -> Result<Omp, RunError> {
        let mut last = String::new();
        for _ in 0..50 {
            let mut config = omp_server::Config::defaults();
            config.gmmp_listen = gmmp;
            config.http_listen = "127.0.0.1:0".parse().expect("literal address");
            config.data_dir = dir.to_owned();
            config.provisioning = omp_server::ProvisioningMode::Open;
            let shutdown = CancellationToken::new();
            match omp_server::run(config, shutdown.clone()).await {
                Ok(server) => {
                    return Ok(Omp {
                        gmmp_addr: server.gmmp_addr,
                        server,
                        shutdown,
                    });
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(RunError::Omp(format!("cannot start on {gmmp}: {last}")))
    }

    /// Stops it; returns how many keyed resends it acknowledged without
    /// storing them again.
    async fn stop(self) -> Result<u64, RunError> {
        let state = self.server.state.clone();
        self.shutdown.cancel();
        self.server
            .wait()
            .await
            .map_err(|e| RunError::Omp(format!("shutdown: {e}")))?;
        Ok(state
            .metrics
            .deliveries_already_stored
            .load(std::sync::atomic::Ordering::Relaxed))
    }
}

async fn omp_outages(
    omp: Omp,
    dir: PathBuf,
    plan: Vec<(Duration, Duration)>,
    t0: Instant,
    stop: CancellationToken,
    counts: Counts,
) -> Result<(Omp, u64), RunError> {
    let addr = omp.gmmp_addr;
    let mut omp = omp;
    let mut resends = 0;
    for (at, pause) in plan {
        tokio::select! {
            _ = tokio::time::sleep_until((t0 + at).into()) => {}
            _ = stop.cancelled() => break,
        }
        resends += omp.stop().await?;
        counts.add("omp-stop");
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.cancelled() => {}
        }
        omp = Omp::start(&dir, addr).await?;
    }
    Ok((omp, resends))
}

/// The `gw-agent` binary, started again after each kill with the same
/// config and state directory; its log goes to `<state>/agent.log`.
struct AgentProcess {
    bin: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Child,
}

impl AgentProcess {
    fn spawn(
        opts: &Options,
        tty: &Path,
        omp_port: u16,
        state: &Path,
        socket: &Path,
    ) -> Result<AgentProcess, RunError> {
        std::fs::create_dir_all(state).map_err(io(format!("creating {}", state.display())))?;
        let config = opts.work_dir.join("agent.toml");
        let text = format!(
            r#"state_dir = "{state}"
[serial]
path = "{tty}"
[wifi]
ssid = "testnet"
passphrase = "12345678"
[omp]
host = "127.0.0.1"
port = {omp_port}
[periods]
response_timeout = "{timeout}ms"
[delivery]
max_in_flight = {in_flight}
retry_delay = "1s"
[spool]
max_bytes = {spool}
segment_bytes = 4096
when_full = "drop-oldest"
[sources]
stdin = false
listen = "unix:{socket}"
[reconnect]
initial = "100ms"
max = "2s"
"#,
            state = state.display(),
            tty = tty.display(),
            timeout = opts.response_timeout.as_millis(),
            in_flight = opts.in_flight,
            spool = opts.spool_bytes,
            socket = socket.display(),
        );
        std::fs::write(&config, text).map_err(io(format!("writing {}", config.display())))?;
        let log = state.join("agent.log");
        let child = start_agent(&opts.agent_bin, &config, &log)?;
        Ok(AgentProcess {
            bin: opts.agent_bin.clone(),
            config,
            log,
            child,
        })
    }

    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL, and wait for the process to be gone.
    async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    fn restart(&mut self) -> Result<(), RunError> {
        self.child = start_agent(&self.bin, &self.config, &self.log)?;
        Ok(())
    }
}

fn start_agent(bin: &Path, config: &Path, log: &Path) -> Result<Child, RunError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io(format!("opening {}", log.display())))?;
    Command::new(bin)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .kill_on_drop(true)
        .spawn()
        .map_err(io(format!("starting {}", bin.display())))
}

/// Kills the agent at the planned times and starts it again; an exit
/// nobody asked for is recorded and the agent started again too. Returns
/// the agent, those exits and the kill times (Unix ms).
async fn agent_kills(
    mut agent: AgentProcess,
    plan: Vec<(Duration, Duration)>,
    t0: Instant,
    stop: CancellationToken,
    counts: Counts,
) -> Result<(AgentProcess, Vec<String>, Vec<i64>), RunError> {
    let mut exits = Vec::new();
    let mut killed_at = Vec::new();
    let mut plan = plan.into_iter().peekable();
    loop {
        let next = plan.peek().map(|(at, _)| t0 + *at);
        let kill_due = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            status = agent.child.wait() => {
                let how = match status {
                    Ok(s) => s.to_string(),
                    Err(e) => e.to_string(),
                };
                exits.push(format!("at {:.1} s: {how}", t0.elapsed().as_secs_f64()));
                agent.restart()?;
            }
            _ = kill_due => {
                let Some((_, pause)) = plan.next() else { continue };
                agent.kill().await;
                killed_at.push(unix_ms());
                counts.add("agent-kill");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.cancelled() => {}
                }
                agent.restart()?;
            }
        }
    }
    Ok((agent, exits, killed_at))
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn wait_ready(state: &Path, limit: Duration) -> Result<String, RunError> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(s) = gw_agent::status::read(state)
            && s.omp == "ready"
            && let Some(gw) = s.gw_id
        {
            return Ok(gw);
        }
        if Instant::now() > deadline {
            return Err(RunError::NotReady(limit));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes numbered deliveries to the data socket, one at a time, until
/// `stop`; records what the agent answered.
async fn produce(
    socket: PathBuf,
    rate: f64,
    len: usize,
    stop: CancellationToken,
    log: Arc<Mutex<Produced>>,
) {
    let record = |f: &dyn Fn(&mut Produced)| f(&mut log.lock().unwrap_or_else(|p| p.into_inner()));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 1u64;
    'connect: while !stop.is_cancelled() {
        let Ok(stream) = UnixStream::connect(&socket).await else {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stop.cancelled() => {}
            }
            continue;
        };
        let (r, mut w) = stream.into_split();
        let mut answers = BufReader::new(r).lines();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => break 'connect,
            }
            let seq = next;
            next += 1;
            let mut line = ledger::payload(seq, len);
            line.push(b'\n');
            if w.write_all(&line).await.is_err() {
                record(&|p| {
                    p.unconfirmed.insert(seq);
                });
                continue 'connect;
            }
            match answers.next_line().await {
                Ok(Some(a)) if a.starts_with("ok ") => record(&|p| {
                    p.confirmed.insert(seq);
                }),
                Ok(Some(a)) => record(&|p| {
                    p.refused.insert(seq, a.clone());
                }),
                _ => {
                    record(&|p| {
                        p.unconfirmed.insert(seq);
                    });
                    continue 'connect;
                }
            }
        }
    }
}

/// Waits until the agent's spool is empty and every produced delivery is
/// stored or reported; false when `drain_timeout` passed first.
async fn drain(
    omp: &Omp,
    state: &Path,
    pid: Option<u32>,
    produced: &Produced,
    opts: &Options,
) -> Result<bool, RunError> {
    let deadline = Instant::now() + opts.drain_timeout;
    loop {
        let empty = gw_agent::status::read(state)
            .is_ok_and(|s| Some(s.pid) == pid && s.omp == "ready" && s.spool_depth == 0);
        if empty {
            let rows = stored_rows(omp).await?;
            let records = agent_records(state)?;
            if Tally::new(produced, &records, &rows, opts.payload)
                .lost
                .is_empty()
            {
                return Ok(true);
            }
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every row of the OMP's `deliveries` table, in commit order.
async fn stored_rows(omp: &Omp) -> Result<Vec<Row>, RunError> {
    let rows: Vec<(String, i64, i64, Vec<u8>)> =
        sqlx::query_as("SELECT gw_id, tid, received_at, payload FROM deliveries ORDER BY id")
            .fetch_all(&omp.server.state.pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(gw_id, tid, received_at, payload)| Row {
            gw_id,
            tid,
            received_at,
            payload,
        })
        .collect())
}

/// The deliveries named in the agent's `dropped.jsonl` and
/// `rejected.jsonl` (`spooled` left empty: see [`spooled`]).
fn agent_records(state: &Path) -> Result<AgentRecords, RunError> {
    let mut records = AgentRecords::default();
    for (file, set) in [
        (gw_agent::agent::DROPPED_FILE, &mut records.dropped),
        (gw_agent::agent::REJECTED_FILE, &mut records.rejected),
    ] {
        let text = match std::fs::read_to_string(state.join(file)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(format!("reading {file}"))(e)),
        };
        for line in text.lines() {
            let seq = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| hex::decode(v["payload_hex"].as_str()?).ok())
                .and_then(|bytes| ledger::seq_of(&bytes));
            match seq {
                Some(seq) => {
                    set.insert(seq);
                }
                None => records.unreadable_lines += 1,
            }
        }
    }
    Ok(records)
}

/// The deliveries still pending in the agent's spool. Only once the agent
/// is dead: opening the spool cuts a torn tail, which would cut a record
/// a running agent is writing.
fn spooled(state: &Path) -> Result<std::collections::BTreeSet<u64>, RunError> {
    let limits = gw_agent::spool::SpoolLimits {
        max_bytes: u64::MAX,
        ..gw_agent::spool::SpoolLimits::default()
    };
    let (spool, _) = gw_agent::spool::Spool::open(state.join("spool"), limits)?;
    let mut out = std::collections::BTreeSet::new();
    let mut cursor = None;
    while let Some(seq) = spool.next_after(cursor) {
        cursor = Some(seq);
        if let Some(n) = spool
            .read(seq)
            .ok()
            .and_then(|d| ledger::seq_of(&d.payload))
        {
            out.insert(n);
        }
    }
    Ok(out)
}
