//! The command line: `omp-server [serve]`, `omp-server provision …`, and
//! every setting as a flag (and `OMP_…` environment variable).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::ProvisioningMode;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "omp-server",
    version,
    about = "GMMP OMP server (ThingPlug sandbox replacement)"
)]
pub struct Cli {
    /// Settings shared by the server and its subcommands.
    #[command(flatten)]
    pub settings: Settings,
    /// A subcommand; none runs the server.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the auth_ids allowed to register (mode `approved`).
    #[command(subcommand)]
    Provision(ProvisionCommand),
}

/// `omp-server provision …`
#[derive(Debug, Subcommand)]
pub enum ProvisionCommand {
    /// Approve an auth_id (the GW's serial / MAC / MSISDN).
    Add {
        /// The auth_id, e.g. `0008dc1e3222`.
        auth_id: String,
        /// Only accept this domain code at registration.
        #[arg(long)]
        domain: Option<String>,
        /// Only accept this manufacture ID at registration.
        #[arg(long)]
        manufacture_id: Option<String>,
    },
    /// List approved auth_ids.
    List,
    /// Manage the MQTT clients allowed to connect (mode `approved`).
    #[command(subcommand)]
    Mqtt(crate::mqtt::provision::MqttProvisionCommand),
    /// Withdraw an approval (a registered GW stays registered).
    Remove {
        /// The auth_id.
        auth_id: String,
    },
}

/// Every setting as given by flag or environment; `None` = not given.
#[derive(Debug, Default, Args)]
pub struct Settings {
    /// TOML file with settings (keys as the flags, with `_` for `-`).
    #[arg(long, env = "OMP_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// GMMP listen address [default: 0.0.0.0:31002].
    #[arg(long, env = "OMP_GMMP_LISTEN", global = true)]
    pub gmmp_listen: Option<SocketAddr>,
    /// MQTT listen address, or `none` [default: 0.0.0.0:1883].
    #[arg(long, env = "OMP_MQTT_LISTEN", global = true)]
    pub mqtt_listen: Option<super::OptionalListen>,
    /// HTTP API listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "OMP_HTTP_LISTEN", global = true)]
    pub http_listen: Option<SocketAddr>,
    /// Data directory (SQLite database) [default: ./omp-data].
    #[arg(long, env = "OMP_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Who may register: approved (default) or open.
    #[arg(long, env = "OMP_PROVISIONING", global = true)]
    pub provisioning: Option<ProvisioningMode>,
    /// Key the HTTP API requires.
    #[arg(long, env = "OMP_API_KEY", global = true)]
    pub api_key: Option<String>,
    /// Time a new connection has to send its first valid frame [default: 30s].
    #[arg(long, env = "OMP_FIRST_FRAME_TIMEOUT", global = true, value_parser = parse_duration)]
    pub first_frame_timeout: Option<Duration>,
    /// A registered session silent for heartbeat period × this factor is closed [default: 2].
    #[arg(long, env = "OMP_HEARTBEAT_GRACE", global = true)]
    pub heartbeat_grace: Option<u32>,
    /// Most concurrent GMMP connections [default: open-file limit − 500].
    #[arg(long, env = "OMP_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,
    /// Most bytes one split delivery may carry in all [default: 131072].
    #[arg(long, env = "OMP_MAX_CONNECTION_BUFFER", global = true)]
    pub max_connection_buffer: Option<usize>,
    /// Time from a frame's first byte to its last; a slower frame closes the connection [default: 20s].
    #[arg(long, env = "OMP_FRAME_TIMEOUT", global = true, value_parser = parse_duration)]
    pub frame_timeout: Option<Duration>,
    /// A split delivery with no new part for this long is abandoned (its parts stay readable) [default: 120s].
    #[arg(long, env = "OMP_SPLIT_EXPIRY", global = true, value_parser = parse_duration)]
    pub split_expiry: Option<Duration>,
    /// Time a connection has to register or authenticate, whatever it sends meanwhile [default: 60s].
    #[arg(long, env = "OMP_AUTH_TIMEOUT", global = true, value_parser = parse_duration)]
    pub auth_timeout: Option<Duration>,
    /// Most connections not yet bound to a GW, whole server; more are closed at once [default: 4096].
    #[arg(long, env = "OMP_MAX_UNAUTHENTICATED", global = true)]
    pub max_unauthenticated: Option<usize>,
    /// Most connections not yet bound to a GW from one IPv4 address or IPv6 /64 [default: 512].
    #[arg(long, env = "OMP_MAX_UNAUTHENTICATED_PER_IP", global = true)]
    pub max_unauthenticated_per_ip: Option<usize>,
    /// Most HTTP API connections open at once; more wait in the backlog [default: 1024].
    #[arg(long, env = "OMP_HTTP_MAX_CONNECTIONS", global = true)]
    pub http_max_connections: Option<usize>,
    /// An HTTP connection with no byte read or written for this long is closed; above 60s (the longest ?wait=) [default: 75s].
    #[arg(long, env = "OMP_HTTP_IDLE_TIMEOUT", global = true, value_parser = parse_duration)]
    pub http_idle_timeout: Option<Duration>,
    /// Largest HTTP request body in bytes; larger ones get 413 [default: 65536].
    #[arg(long, env = "OMP_HTTP_BODY_LIMIT", global = true)]
    pub http_body_limit: Option<usize>,
    /// Time an HTTP request body has to arrive whole, else 400 [default: 30s].
    #[arg(long, env = "OMP_HTTP_BODY_DEADLINE", global = true, value_parser = parse_duration)]
    pub http_body_deadline: Option<Duration>,
    /// Most deliveries committed in one transaction [default: 1000].
    #[arg(long, env = "OMP_WRITER_BATCH_MAX", global = true)]
    pub writer_batch_max: Option<usize>,
    /// Deliveries queued for the writer before answering rc 0x0F [default: 20000].
    #[arg(long, env = "OMP_WRITER_QUEUE_CAPACITY", global = true)]
    pub writer_queue_capacity: Option<usize>,
    /// Back-off time sent with rc 0x0F, seconds [default: 5].
    #[arg(long, env = "OMP_BACKOFF_SECONDS", global = true)]
    pub backoff_seconds: Option<u32>,
    /// Domain codes accepted at registration, comma-separated [default: any].
    #[arg(
        long,
        env = "OMP_ALLOWED_DOMAINS",
        global = true,
        value_delimiter = ','
    )]
    pub allowed_domains: Option<Vec<String>>,
    /// Default profile heartbeat period, minutes [default: 10].
    #[arg(long, env = "OMP_DEFAULT_HEARTBEAT_PERIOD", global = true)]
    pub default_heartbeat_period: Option<u32>,
    /// Default profile report period, minutes [default: 10].
    #[arg(long, env = "OMP_DEFAULT_REPORT_PERIOD", global = true)]
    pub default_report_period: Option<u32>,
    /// Default profile report offset, seconds [default: 0].
    #[arg(long, env = "OMP_DEFAULT_REPORT_OFFSET", global = true)]
    pub default_report_offset: Option<u32>,
    /// Default profile response timeout, seconds [default: 30].
    #[arg(long, env = "OMP_DEFAULT_RESPONSE_TIMEOUT", global = true)]
    pub default_response_timeout: Option<u32>,
    /// Default profile model (≤ 32 bytes) [default: empty].
    #[arg(long, env = "OMP_DEFAULT_MODEL", global = true)]
    pub default_model: Option<String>,
    /// Default profile firmware version (≤ 16 bytes) [default: empty].
    #[arg(long, env = "OMP_DEFAULT_FIRMWARE_VERSION", global = true)]
    pub default_firmware_version: Option<String>,
    /// Default profile software version (≤ 16 bytes) [default: empty].
    #[arg(long, env = "OMP_DEFAULT_SOFTWARE_VERSION", global = true)]
    pub default_software_version: Option<String>,
    /// Default profile hardware version (≤ 16 bytes) [default: empty].
    #[arg(long, env = "OMP_DEFAULT_HARDWARE_VERSION", global = true)]
    pub default_hardware_version: Option<String>,
    /// How long a control may wait QUEUED before it is EXPIRED, when its request gives no ttl_seconds [default: 1d].
    #[arg(long, env = "OMP_CONTROL_TTL", global = true, value_parser = parse_duration)]
    pub control_ttl: Option<Duration>,
    /// Time from a gateway's control response (0x0E) to its notification (0x17) before TIMEOUT [default: 5m].
    #[arg(long, env = "OMP_CONTROL_COMPLETION_TIMEOUT", global = true, value_parser = parse_duration)]
    pub control_completion_timeout: Option<Duration>,
    /// Controls in flight (SENT or PROGRESS) at once per gateway or device [default: 1].
    #[arg(long, env = "OMP_CONTROL_MAX_IN_FLIGHT", global = true)]
    pub control_max_in_flight: Option<usize>,
    /// Print the WizFi310-style trace of every GMMP frame.
    #[arg(long, env = "OMP_TRACE_GMMP", global = true, num_args = 0..=1, default_missing_value = "true")]
    pub trace_gmmp: Option<bool>,
}

fn parse_duration(s: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(s)
}
