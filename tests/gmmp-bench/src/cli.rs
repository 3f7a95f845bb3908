//! Command line: global options and one subcommand per scenario.
//!
//! Every address the bench talks to must be a loopback address
//! (127.0.0.0/8 or ::1): [`loopback_addr`] and [`loopback_url`] refuse
//! anything else, so a typo cannot point a load generator at a real host.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use test_support::gmmp_client::delivery::PartTids;

/// Load generator for a GMMP OMP, and same-machine reference ceilings.
#[derive(Debug, Parser)]
#[command(
    name = "gmmp-bench",
    version,
    about,
    after_help = "The scenarios that register gateways (ingest, sessions, control, hostile, events) need an \
                  OMP that admits them: start omp-server with `--provisioning open`. Every address \
                  must be a loopback address."
)]
pub struct Cli {
    /// Print one JSON object per scenario instead of a line.
    #[arg(long, global = true)]
    pub json: bool,
    /// The OMP's GMMP listener (loopback only; omp-server's default port).
    #[arg(long, global = true, value_parser = loopback_addr, default_value = "127.0.0.1:31002")]
    pub target: SocketAddr,
    /// The OMP's HTTP API base URL (loopback only).
    #[arg(long, global = true, value_parser = loopback_url, default_value = "http://127.0.0.1:8080")]
    pub api: String,
    /// Bearer key for the HTTP API.
    #[arg(long, global = true, env = "OMP_API_KEY", default_value = "")]
    pub api_key: String,
    /// Seconds each measured phase runs.
    #[arg(long, global = true, default_value_t = 10)]
    pub duration: u64,
    /// Simulated gateways / client connections (each scenario has its own default).
    #[arg(long, global = true)]
    pub gateways: Option<usize>,
    /// PID of the OMP process, to read its memory from /proc.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// The scenario.
    #[command(subcommand)]
    pub scenario: Scenario,
}

impl Cli {
    /// `--duration` as a [`Duration`].
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration)
    }
}

/// One scenario per subcommand.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// N gateways register, then deliver as fast as the OMP acknowledges.
    Ingest(IngestArgs),
    /// Hold S idle Always-On sessions with heartbeats.
    Sessions(SessionsArgs),
    /// Controls POSTed over HTTP, answered by simulated WizFi310s.
    Control(ControlArgs),
    /// GET latest delivery and a history page against a pre-filled database.
    Api(ApiArgs),
    /// SQLite batched-insert ceiling for the deliveries row shape.
    SqliteCeiling(SqliteCeilingArgs),
    /// Loopback TCP request/response ceiling with GMMP delivery sizes.
    TcpCeiling(TcpCeilingArgs),
    /// QoS1 publish rate against a local Mosquitto (or omp-server's MQTT
    /// listener, `--label omp`); `--server-pid` adds the broker's CPU time.
    MqttCeiling(MqttCeilingArgs),
    /// Good gateways' delivery latency while one attack runs (hostile input).
    Hostile(HostileArgs),
    /// Hold S idle MQTT sessions (PINGREQ every period) and measure the
    /// OMP's memory per session.
    MqttSessions(MqttSessionsArgs),
    /// Ingest with webhooks and SSE readers attached beside ingest without,
    /// delivery → SSE latency, webhook throughput.
    Events(EventsArgs),
    /// Internal: one process's share of the `sessions` scenario.
    #[command(hide = true)]
    SessionsWorker(SessionsWorkerArgs),
}

/// Options of `ingest`.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// Payload bytes per delivery (over 2048: a split delivery, sent in
    /// parts of 2048).
    #[arg(long, default_value_t = 100)]
    pub payload_size: usize,
    /// Requests each gateway keeps in flight (GMMP clients use 1).
    #[arg(long, default_value_t = 1)]
    pub in_flight: usize,
    /// Stop after this many deliveries in total (in addition to --duration).
    #[arg(long)]
    pub max_deliveries: Option<u64>,
    /// The OMP's SQLite file: count rows before and after and require
    /// new rows = acknowledged deliveries.
    #[arg(long)]
    pub check_db: Option<PathBuf>,
    /// Table counted by --check-db.
    #[arg(long, default_value = "deliveries")]
    pub check_table: String,
    /// Auth ID prefix of the simulated gateways (+ 8 digits ≤ 16 bytes).
    #[arg(long, default_value = "ingest")]
    pub auth_prefix: String,
    /// Registrations in flight at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Send keyed deliveries (`gmmp_codec::KEYED_DELIVERY`), which the OMP
    /// looks up before storing: the cost of that lookup.
    #[arg(long)]
    pub keyed: bool,
    /// T-IDs of a split delivery's parts: all the delivery's (`same`) or
    /// the previous part's plus one (`per-part`, as SK Telecom's library
    /// sends them).
    #[arg(long, value_enum, default_value_t = PartTids::Same)]
    pub part_tids: PartTids,
}

/// Options of `sessions`.
#[derive(Debug, Clone, Args)]
pub struct SessionsArgs {
    /// Sessions to open.
    #[arg(long, default_value_t = 1000)]
    pub sessions: usize,
    /// Seconds between heartbeats of one session.
    #[arg(long, default_value_t = 10)]
    pub heartbeat_period: u64,
    /// Worker processes (default: as many as the open-files limit needs).
    #[arg(long)]
    pub processes: Option<usize>,
    /// Source addresses 127.0.0.2… to spread over (default: as many as the
    /// ephemeral port range needs; 0 = let the kernel pick 127.0.0.1).
    #[arg(long)]
    pub sources: Option<usize>,
    /// Registrations in flight at once, per process.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Auth ID prefix of the simulated gateways.
    #[arg(long, default_value = "sess")]
    pub auth_prefix: String,
}

/// Options of the hidden `sessions-worker`.
#[derive(Debug, Clone, Args)]
pub struct SessionsWorkerArgs {
    /// The common options.
    #[command(flatten)]
    pub sessions: SessionsArgs,
    /// Index of this worker's first session.
    #[arg(long)]
    pub first_index: usize,
    /// Sessions per source address (0 = no explicit source).
    #[arg(long)]
    pub per_source: usize,
    /// Hard bound on the worker's lifetime in seconds.
    #[arg(long)]
    pub max_seconds: u64,
}

/// Options of `control`.
#[derive(Debug, Clone, Args)]
pub struct ControlArgs {
    /// Stop after this many controls (in addition to --duration).
    #[arg(long)]
    pub max_controls: Option<u64>,
    /// GMMP control type code sent (default 0x80, a user-defined type).
    #[arg(long, default_value_t = 0x80)]
    pub control_type: u8,
    /// Auth ID prefix of the simulated gateways.
    #[arg(long, default_value = "ctrl")]
    pub auth_prefix: String,
    /// Seconds to wait for a 0x0D or a SUCCESS before counting a control
    /// lost or failed.
    #[arg(long, default_value_t = 10)]
    pub wait_seconds: u64,
    /// Offered load in controls per second over all gateways (each
    /// gateway POSTs every gateways ÷ rate seconds, slots spread evenly).
    /// Without it each gateway POSTs its next control as soon as the last
    /// one ended (closed loop: the figures are the saturation rate and its
    /// queueing latency).
    #[arg(long)]
    pub rate: Option<f64>,
}

/// Options of `api`.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Deliveries to have in the database before measuring (sent over
    /// GMMP; fewer when --db shows rows already there; 0 = none).
    #[arg(long, default_value_t = 1_000_000)]
    pub prefill: u64,
    /// The OMP's SQLite file, to count rows already there.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Table counted in --db.
    #[arg(long, default_value = "deliveries")]
    pub table: String,
    /// Concurrent HTTP requests.
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// Page size of the history request.
    #[arg(long, default_value_t = 100)]
    pub history_limit: u32,
    /// Auth ID prefix of the gateways that pre-fill the database.
    #[arg(long, default_value = "api")]
    pub auth_prefix: String,
    /// Bound on the pre-fill phase in seconds.
    #[arg(long, default_value_t = 900)]
    pub prefill_seconds: u64,
}

/// Options of `hostile` (`--gateways` = good gateways, default 10).
#[derive(Debug, Clone, Args)]
pub struct HostileArgs {
    /// The attack.
    #[arg(long, value_enum)]
    pub attack: crate::scenario::hostile::Attack,
    /// Concurrent attack loops (connections).
    #[arg(long, default_value_t = 100)]
    pub attackers: usize,
    /// Source addresses 127.1.0.1… the attackers spread over (0 = 127.0.0.1).
    #[arg(long, default_value_t = 0)]
    pub attack_sources: usize,
    /// Milliseconds between two deliveries of one good gateway.
    #[arg(long, default_value_t = 100)]
    pub interval_ms: u64,
    /// Milliseconds between two bytes of the slowloris attack.
    #[arg(long, default_value_t = 1000)]
    pub trickle_ms: u64,
    /// Auth ID prefix of the good gateways.
    #[arg(long, default_value = "good")]
    pub auth_prefix: String,
}

/// Options of `events` (`--gateways` = gateways of the ingest phases,
/// default 100; `--duration` = each phase's).
#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// Webhooks attached during the `attached` phase.
    #[arg(long, default_value_t = 3)]
    pub webhooks: usize,
    /// SSE readers attached during the `attached` phase.
    #[arg(long, default_value_t = 10)]
    pub streams: usize,
    /// Deliveries a second of the latency phase.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Gateways of the latency phase.
    #[arg(long, default_value_t = 100)]
    pub latency_gateways: usize,
    /// Events replayed to the webhook of the throughput phase.
    #[arg(long, default_value_t = 50_000)]
    pub webhook_events: i64,
    /// Payload bytes per delivery of the ingest phases.
    #[arg(long, default_value_t = 100)]
    pub payload_size: usize,
    /// Auth ID prefix (at most 7 bytes; a phase letter and 8 digits follow).
    #[arg(long, default_value = "ev")]
    pub auth_prefix: String,
    /// Rounds of plain and attached ingest, alternating (`--duration` ÷
    /// rounds each), so that the machine's drift weighs on both alike.
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
}

/// Options of `mqtt-sessions` (`--duration` = how long they are held).
#[derive(Debug, Clone, Args)]
pub struct MqttSessionsArgs {
    /// The OMP's MQTT listener (loopback only).
    #[arg(long, value_parser = loopback_addr, default_value = "127.0.0.1:1883")]
    pub broker: SocketAddr,
    /// Sessions to open (one process holds them: at most its open-files
    /// limit less 200).
    #[arg(long, default_value_t = 19_000)]
    pub sessions: usize,
    /// Seconds between two PINGREQs of one session.
    #[arg(long, default_value_t = 30)]
    pub ping_period: u64,
    /// CONNECTs in flight at once (the OMP admits 512 unauthenticated
    /// connections per address by default).
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
}

/// Options of `sqlite-ceiling`.
#[derive(Debug, Clone, Args)]
pub struct SqliteCeilingArgs {
    /// Rows inserted per method (bounded by --duration as well).
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Rows per transaction.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Payload bytes per row.
    #[arg(long, default_value_t = 100)]
    pub payload_size: usize,
    /// Rows per INSERT statement of the multi-row method (the OMP's writer uses 100).
    #[arg(long, default_value_t = 100)]
    pub rows_per_statement: usize,
    /// Directory for the database (default: a fresh temp dir, removed after).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Options of `tcp-ceiling`.
#[derive(Debug, Clone, Args)]
pub struct TcpCeilingArgs {
    /// Request bytes (a 100-byte-payload delivery frame is 194).
    #[arg(long, default_value_t = 194)]
    pub request_size: usize,
    /// Response bytes (a delivery response frame is 93).
    #[arg(long, default_value_t = 93)]
    pub response_size: usize,
}

/// Options of `mqtt-ceiling`.
#[derive(Debug, Clone, Args)]
pub struct MqttCeilingArgs {
    /// The broker (loopback only).
    #[arg(long, value_parser = loopback_addr, default_value = "127.0.0.1:1883")]
    pub broker: SocketAddr,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 100)]
    pub payload_size: usize,
    /// What the broker is, copied to the figures (`mosquitto`, or `omp`
    /// for omp-server's MQTT listener, started with `--provisioning open`).
    #[arg(long, default_value = "mosquitto")]
    pub label: String,
}

/// Parses `IP:PORT` and requires a loopback IP.
pub fn loopback_addr(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .parse()
        .map_err(|e| format!("{s:?} is not IP:PORT ({e})"))?;
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "{} is not a loopback address: the bench only targets 127.0.0.0/8 or ::1",
            addr.ip()
        ))
    }
}

/// Checks that an `http://HOST:PORT[/…]` URL names a loopback host
/// (`localhost`, 127.0.0.0/8 or `[::1]`); returns it without a trailing `/`.
pub fn loopback_url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("http://")
        .ok_or_else(|| format!("{s:?}: only plain http:// URLs are supported"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(s.trim_end_matches('/').to_string())
    } else {
        Err(format!(
            "{host:?} is not a loopback host: the bench only targets 127.0.0.0/8 or ::1"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(loopback_addr("127.0.0.1:7000").is_ok());
        assert!(loopback_addr("127.9.8.7:1").is_ok());
        assert!(loopback_addr("[::1]:80").is_ok());
        assert!(loopback_addr("10.0.0.1:7000").is_err());
        assert!(loopback_addr("example.com:80").is_err());
        assert_eq!(
            loopback_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(loopback_url("http://localhost:8080").is_ok());
        assert!(loopback_url("http://[::1]:8080/x").is_ok());
        assert!(loopback_url("http://192.168.1.1:8080").is_err());
        assert!(loopback_url("https://127.0.0.1").is_err());
    }

    #[test]
    fn cli_parses_global_options_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "gmmp-bench",
            "ingest",
            "--gateways",
            "10",
            "--json",
            "--target",
            "127.0.0.1:9",
            "--check-db",
            "/tmp/x.db",
        ])
        .unwrap();
        assert!(cli.json);
        assert_eq!(cli.gateways, Some(10));
        match cli.scenario {
            Scenario::Ingest(a) => assert_eq!(a.check_db, Some(PathBuf::from("/tmp/x.db"))),
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["gmmp-bench", "ingest", "--target", "8.8.8.8:1"]).is_err());
    }
}
