//! The command line (clap): one subcommand per fault run, plus the hidden
//! `serve` the runs start as their OMP.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use test_support::gmmp_client::PartTids;

use crate::scenario::Keep;
use crate::scenario::disk_full::Method;
use crate::scenario::fd_limit::Flood;
use crate::serve::ServeArgs;

/// `omp-faults`.
#[derive(Debug, Parser)]
#[command(
    name = "omp-faults",
    version,
    about = "Fault tests of the OMP: SIGKILL during deliveries and controls, a full disk, the file-descriptor limit"
)]
pub struct Cli {
    /// Print the figures as one JSON object instead of one line.
    #[arg(long, global = true)]
    pub json: bool,
    /// The run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every run takes.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Run this omp-server binary instead of the built-in `omp-faults serve`.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Longest wait for each phase of the run.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub phase_timeout: Duration,
    /// When to keep the working directory (data dir, server log).
    #[arg(long, value_enum, default_value_t = Keep::OnFailure)]
    pub keep: Keep,
}

/// The runs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// SIGKILL the OMP at random points while gateways deliver; check that
    /// every acknowledged delivery is stored exactly once, byte-exact.
    Crash {
        /// SIGKILLs under load (each followed by a restart).
        #[arg(long, default_value_t = 20)]
        kills: u32,
        /// Simulated gateways.
        #[arg(long, default_value_t = 16)]
        gateways: u32,
        /// Deliveries in flight per gateway.
        #[arg(long, default_value_t = 2)]
        in_flight: usize,
        /// Seed of the kill schedule (random by default; printed).
        #[arg(long)]
        seed: Option<u64>,
        /// Most acknowledgements to wait for before a kill.
        #[arg(long, default_value_t = 200)]
        max_acks_between_kills: u64,
        /// Share of kills right after a restart, percent.
        #[arg(long, default_value_t = 20)]
        early_kill_percent: u64,
        /// The gateways send keyed deliveries (this project's extension):
        /// then no acknowledged delivery may be stored twice either.
        #[arg(long)]
        keyed: bool,
        /// The gateways send split deliveries (2‥3 parts of 2048 bytes)
        /// whose parts carry the delivery's T-ID (`same`) or the previous
        /// part's plus one (`per-part`, as SK Telecom's library does).
        #[arg(long, value_enum, conflicts_with = "keyed")]
        split: Option<PartTids>,
        /// Run the OMP on this PostgreSQL database (its `--database-url`,
        /// an existing database it may write to) instead of the SQLite file
        /// in its data directory; the checker then reads the deliveries
        /// from there.
        #[arg(long, value_name = "postgres://…")]
        database_url: Option<String>,
        /// Shared options.
        #[command(flatten)]
        common: Common,
    },
    /// SIGKILL the OMP at random points while controls are POSTed and
    /// executed; check that every state it committed stays, every control
    /// ends final by the queue's rules, and none runs again after SUCCESS.
    CrashControls {
        /// SIGKILLs under load (each followed by a restart).
        #[arg(long, default_value_t = 20)]
        kills: u32,
        /// Simulated gateways (one HTTP client each).
        #[arg(long, default_value_t = 16)]
        gateways: u32,
        /// Controls open (POSTed, not final) per gateway at once.
        #[arg(long, default_value_t = 3)]
        depth: usize,
        /// Seed of the kill schedule (random by default; printed).
        #[arg(long)]
        seed: Option<u64>,
        /// Most control events (202s, 0x0D arrivals, 0x18s) to wait for
        /// before a kill.
        #[arg(long, default_value_t = 40)]
        max_events_between_kills: u64,
        /// Share of kills right after a restart, percent.
        #[arg(long, default_value_t = 20)]
        early_kill_percent: u64,
        /// The server's control_completion_timeout (at least 1s).
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        completion_timeout: Duration,
        /// Gateways re-send a 0x17 whose 0x18 never came (the WizFi310
        /// does not).
        #[arg(long)]
        resend_notifications: bool,
        /// Shared options.
        #[command(flatten)]
        common: Common,
    },
    /// SIGKILL the OMP at random points while MQTT clients publish at QoS
    /// 1; check that every PUBACKed message is stored, and stored twice
    /// only when it was published again.
    CrashMqtt {
        /// SIGKILLs under load (each followed by a restart).
        #[arg(long, default_value_t = 20)]
        kills: u32,
        /// MQTT clients.
        #[arg(long, default_value_t = 1000)]
        clients: u32,
        /// Seed of the kill schedule (random by default; printed).
        #[arg(long)]
        seed: Option<u64>,
        /// Most PUBACKs to wait for before a kill.
        #[arg(long, default_value_t = 2000)]
        max_acks_between_kills: u64,
        /// Shared options.
        #[command(flatten)]
        common: Common,
    },
    /// SIGKILL the OMP at random points while a webhook works through its
    /// backlog; check that every delivery event stored reaches the
    /// receiver, in order, repeated only within the uncommitted cursors.
    CrashWebhooks {
        /// SIGKILLs while the webhook delivers (each followed by a restart).
        #[arg(long, default_value_t = 20)]
        kills: u32,
        /// Simulated gateways.
        #[arg(long, default_value_t = 8)]
        gateways: u32,
        /// Deliveries each gateway sends.
        #[arg(long, default_value_t = 500)]
        deliveries: u64,
        /// Seed of the kill schedule (random by default; printed).
        #[arg(long)]
        seed: Option<u64>,
        /// Most webhook POSTs to wait for before a kill.
        #[arg(long, default_value_t = 100)]
        max_posts_between_kills: u64,
        /// How long the receiver takes to answer each POST.
        #[arg(long, default_value = "1ms", value_parser = humantime::parse_duration)]
        receiver_delay: Duration,
        /// Shared options.
        #[command(flatten)]
        common: Common,
    },
    /// Fill the database's filesystem while gateways deliver; check for
    /// error answers (no false STATUS_OK) and recovery when space returns.
    DiskFull {
        /// How to fill the disk.
        #[arg(long, value_enum, default_value_t = Method::Auto)]
        method: Method,
        /// tmpfs size, MiB.
        #[arg(long, default_value_t = 16)]
        size_mib: u64,
        /// Simulated gateways.
        #[arg(long, default_value_t = 8)]
        gateways: u32,
        /// Acknowledgements before the disk fills.
        #[arg(long, default_value_t = 200)]
        before: u64,
        /// Error answers to see while it is full.
        #[arg(long, default_value_t = 50)]
        full_errors: u64,
        /// How much longer to keep it full.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        hold: Duration,
        /// Acknowledgements to see after space returns.
        #[arg(long, default_value_t = 200)]
        after: u64,
        /// Shared options.
        #[command(flatten)]
        common: Common,
    },
    /// Exhaust the OMP's file descriptors with silent connections; check it
    /// keeps serving established gateways and recovers when they close.
    FdLimit {
        /// The server's open-file limit (RLIMIT_NOFILE).
        #[arg(long, default_value_t = 128)]
        open_files: u64,
        /// The server's --max-connections [default: 4 × open-files, so
        /// that accept() hits EMFILE].
        #[arg(long)]
        max_connections: Option<usize>,
        /// Silent connections to open at most [default: open-files + 64];
        /// the flood stops at the first one not served.
        #[arg(long)]
        idle: Option<usize>,
        /// What the silent connections are.
        #[arg(long, value_enum, default_value_t = Flood::Registered)]
        flood: Flood,
        /// Established, delivering gateways.
        #[arg(long, default_value_t = 4)]
        gateways: u32,
        /// How long to stay at the limit.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        hold: Duration,
        /// How long a new gateway waits for its registration at the limit.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        probe_timeout: Duration,
        /// Shared options.
        #[command(flatten)]
        common: Common,
    },
    /// The gateway agent under faults: gw-agent in bridge mode against the
    /// WizFi310 or WIZ550S2E emulator and the OMP, with emulator faults,
    /// OMP outages and agent SIGKILLs; check that every delivery the agent confirmed is
    /// stored once or reported dropped by its spool's policy.
    Agent(Box<AgentArgs>),
    /// Run the OMP in this process (what the runs start; omp-server's flags).
    #[command(hide = true)]
    Serve(Box<ServeArgs>),
    /// Run gw-agent in this process (what the `agent` run starts;
    /// gw-agent's flags).
    #[command(hide = true)]
    RunAgent(Box<RunAgentArgs>),
}

/// `agent`'s flags.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Run this gw-agent binary instead of the built-in `omp-faults run-agent`.
    #[arg(long)]
    pub agent_bin: Option<PathBuf>,
    /// The module the agent drives (its `module` setting), emulated with
    /// its own faults.
    #[arg(long, value_enum, default_value_t = gw_agent::config::ModuleKind::Wizfi310)]
    pub module: gw_agent::config::ModuleKind,
    /// Seed of the fault schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Time faults are injected while deliveries are produced.
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Deliveries per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Payload bytes per delivery (at least 21).
    #[arg(long, default_value_t = 64)]
    pub payload: usize,
    /// Mean time between emulator faults.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub fault_interval: Duration,
    /// SIGKILLs of the agent.
    #[arg(long, default_value_t = 5)]
    pub agent_kills: usize,
    /// OMP stops.
    #[arg(long, default_value_t = 5)]
    pub omp_outages: usize,
    /// Shortest OMP outage.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub outage_min: Duration,
    /// Longest OMP outage.
    #[arg(long, default_value = "8s", value_parser = humantime::parse_duration)]
    pub outage_max: Duration,
    /// The agent's spool.max_bytes (small, so that outages fill it).
    #[arg(long, default_value_t = 8192)]
    pub spool_bytes: u64,
    /// The agent's delivery.max_in_flight.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// The agent's periods.response_timeout.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub response_timeout: Duration,
    /// Pace the emulator's pty at 115200 bit/s.
    #[arg(long)]
    pub pace: bool,
    /// Longest wait for the agent's spool to drain after the faults.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,
    /// The emulator also drops its whole response to every n-th command
    /// (AT+SSENDs or AT+NSENDs among them), beside the scheduled faults.
    #[arg(long)]
    pub drop_every: Option<std::num::NonZeroU32>,
    /// When to keep the working directory (OMP database, agent state and
    /// log, `faults.log`).
    #[arg(long, value_enum, default_value_t = Keep::OnFailure)]
    pub keep: Keep,
}

/// `run-agent`'s flags: those of `gw-agent run`.
#[derive(Debug, clap::Args)]
pub struct RunAgentArgs {
    /// The gw-agent settings.
    #[command(flatten)]
    pub overrides: gw_agent::config::Overrides,
}
