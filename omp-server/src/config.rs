//! Settings: command-line flags, `OMP_…` environment variables and an
//! optional TOML file (`--config`), merged into one [`Config`].
//!
//! Precedence: flag > environment > file > built-in default. clap handles
//! flag > environment; the file is read with `deny_unknown_fields`, so an
//! unknown key stops start-up naming it, and a bad value names its key.
//!
//! Durations are humantime strings everywhere (`30s`, `500ms`, `2m`), in
//! flags, the environment and the file alike.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

use crate::error::ConfigError;

/// Smallest `http_body_limit`: room for any JSON request but control data.
const MIN_BODY_LIMIT: usize = 1024;

/// Who may register (docs/gmmp.md §6.1, "provisioning").
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvisioningMode {
    /// Only auth_ids added ahead of time (`omp-server provision add`).
    Approved,
    /// Any auth_id registers (a private sandbox).
    Open,
}

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

/// The TOML file: the same keys as [`Settings`] (without `config`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    gmmp_listen: Option<SocketAddr>,
    http_listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    provisioning: Option<ProvisioningMode>,
    api_key: Option<String>,
    first_frame_timeout: Option<String>,
    heartbeat_grace: Option<u32>,
    max_connections: Option<usize>,
    max_connection_buffer: Option<usize>,
    frame_timeout: Option<String>,
    split_expiry: Option<String>,
    auth_timeout: Option<String>,
    max_unauthenticated: Option<usize>,
    max_unauthenticated_per_ip: Option<usize>,
    http_max_connections: Option<usize>,
    http_idle_timeout: Option<String>,
    http_body_limit: Option<usize>,
    http_body_deadline: Option<String>,
    writer_batch_max: Option<usize>,
    writer_queue_capacity: Option<usize>,
    backoff_seconds: Option<u32>,
    allowed_domains: Option<Vec<String>>,
    default_heartbeat_period: Option<u32>,
    default_report_period: Option<u32>,
    default_report_offset: Option<u32>,
    default_response_timeout: Option<u32>,
    default_model: Option<String>,
    default_firmware_version: Option<String>,
    default_software_version: Option<String>,
    default_hardware_version: Option<String>,
    control_ttl: Option<String>,
    control_completion_timeout: Option<String>,
    control_max_in_flight: Option<usize>,
    trace_gmmp: Option<bool>,
}

/// Profile values answered when no profile is stored (docs/gmmp.md §4, 0x06).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileDefaults {
    /// Minutes; 0 = no heartbeats.
    pub heartbeat_period: u32,
    /// Minutes.
    pub report_period: u32,
    /// Seconds.
    pub report_offset: u32,
    /// Seconds.
    pub response_timeout: u32,
    /// ≤ 32 bytes.
    pub model: String,
    /// ≤ 16 bytes.
    pub firmware_version: String,
    /// ≤ 16 bytes.
    pub software_version: String,
    /// ≤ 16 bytes.
    pub hardware_version: String,
}

/// The merged settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// GMMP listen address.
    pub gmmp_listen: SocketAddr,
    /// HTTP API listen address (used by the HTTP API).
    pub http_listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Provisioning mode.
    pub provisioning: ProvisioningMode,
    /// HTTP API key (used by the HTTP API).
    pub api_key: Option<String>,
    /// Time to the first valid frame (and idle limit of a connection not
    /// yet bound to a GW).
    pub first_frame_timeout: Duration,
    /// Silence limit of a bound session = heartbeat period × this.
    pub heartbeat_grace: u32,
    /// Connection cap.
    pub max_connections: usize,
    /// Per-connection buffered bytes cap.
    pub max_connection_buffer: usize,
    /// Time from the first byte of a frame to its last (slowloris guard:
    /// the idle limits restart only on whole frames; this bounds one frame).
    pub frame_timeout: Duration,
    /// How long a split delivery waits for its next part before it is
    /// abandoned (its parts stay readable as an incomplete delivery).
    pub split_expiry: Duration,
    /// Time an unbound connection (new, or after deregistration) has to
    /// bind to a GW; refused frames do not extend it.
    pub auth_timeout: Duration,
    /// Cap on connections not yet bound to a GW (all peers together).
    pub max_unauthenticated: usize,
    /// Cap on connections not yet bound to a GW per IPv4 address / IPv6 /64.
    pub max_unauthenticated_per_ip: usize,
    /// Cap on open HTTP API connections.
    pub http_max_connections: usize,
    /// An HTTP connection making no progress this long is closed.
    pub http_idle_timeout: Duration,
    /// Largest HTTP request body, bytes.
    pub http_body_limit: usize,
    /// Time an HTTP request body has to arrive whole.
    pub http_body_deadline: Duration,
    /// Rows per commit, at most.
    pub writer_batch_max: usize,
    /// Writer queue length.
    pub writer_queue_capacity: usize,
    /// Back-off seconds sent with rc 0x0F.
    pub backoff_seconds: u32,
    /// Domains accepted at registration; empty = any.
    pub allowed_domains: Vec<String>,
    /// Profile defaults.
    pub profile_defaults: ProfileDefaults,
    /// Control queue settings.
    pub control: ControlConfig,
    /// Trace every frame.
    pub trace_gmmp: bool,
}

/// Settings of the control queue (GMMP 0x0D → 0x0E → 0x17).
///
/// The time a gateway has to answer a control (0x0E) is not here: it is
/// the gateway's profile `response_timeout` (GMMP 0x06), as for any GMMP
/// request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlConfig {
    /// TTL of a control whose request names none.
    pub ttl: Duration,
    /// Time from the 0x0E (PROGRESS) to the 0x17 before TIMEOUT.
    pub completion_timeout: Duration,
    /// Controls in flight at once per gateway or device.
    pub max_in_flight: usize,
}

/// Default GMMP port, as ThingPlug's.
pub const DEFAULT_GMMP_LISTEN: &str = "0.0.0.0:31002";
/// Default HTTP API address.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8080";
/// File descriptors kept free for the database, logs and the HTTP API.
const FD_RESERVE: usize = 500;

impl Config {
    /// The built-in defaults (what `omp-server` with no arguments runs with).
    pub fn defaults() -> Config {
        Config {
            gmmp_listen: SocketAddr::from(([0, 0, 0, 0], 31002)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./omp-data"),
            provisioning: ProvisioningMode::Approved,
            api_key: None,
            first_frame_timeout: Duration::from_secs(30),
            heartbeat_grace: 2,
            max_connections: default_max_connections(),
            max_connection_buffer: 128 * 1024,
            frame_timeout: Duration::from_secs(20),
            split_expiry: Duration::from_secs(120),
            auth_timeout: Duration::from_secs(60),
            max_unauthenticated: 4096,
            max_unauthenticated_per_ip: 512,
            http_max_connections: 1024,
            http_idle_timeout: Duration::from_secs(75),
            http_body_limit: crate::http::DEFAULT_BODY_LIMIT,
            http_body_deadline: crate::http::DEFAULT_BODY_DEADLINE,
            writer_batch_max: 1000,
            writer_queue_capacity: 20_000,
            backoff_seconds: 5,
            allowed_domains: Vec::new(),
            profile_defaults: ProfileDefaults {
                heartbeat_period: 10,
                report_period: 10,
                report_offset: 0,
                response_timeout: 30,
                model: String::new(),
                firmware_version: String::new(),
                software_version: String::new(),
                hardware_version: String::new(),
            },
            control: ControlConfig {
                ttl: crate::http::DEFAULT_CONTROL_TTL,
                completion_timeout: Duration::from_secs(300),
                max_in_flight: 1,
            },
            trace_gmmp: false,
        }
    }

    /// Merges flags/environment over the file named by `--config` (if any)
    /// over the defaults, and checks the result.
    pub fn load(settings: &Settings) -> Result<Config, ConfigError> {
        let file = match &settings.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let mut c = Config::defaults();
        let ff_timeout = pick_duration(
            "first_frame_timeout",
            settings.first_frame_timeout,
            &file.first_frame_timeout,
        )?;
        macro_rules! pick {
            ($($field:ident),*) => {$(
                if let Some(v) = settings.$field.clone().or(file.$field.clone()) {
                    c.$field = v;
                }
            )*};
        }
        pick!(
            gmmp_listen,
            http_listen,
            data_dir,
            provisioning,
            heartbeat_grace,
            max_connections,
            max_connection_buffer,
            max_unauthenticated,
            max_unauthenticated_per_ip,
            http_max_connections,
            http_body_limit,
            writer_batch_max,
            writer_queue_capacity,
            backoff_seconds,
            allowed_domains,
            trace_gmmp
        );
        c.api_key = settings.api_key.clone().or(file.api_key.clone());
        if let Some(d) = pick_duration("control_ttl", settings.control_ttl, &file.control_ttl)? {
            c.control.ttl = d;
        }
        if let Some(d) = pick_duration(
            "control_completion_timeout",
            settings.control_completion_timeout,
            &file.control_completion_timeout,
        )? {
            c.control.completion_timeout = d;
        }
        if let Some(n) = settings
            .control_max_in_flight
            .or(file.control_max_in_flight)
        {
            c.control.max_in_flight = n;
        }
        if let Some(d) = ff_timeout {
            c.first_frame_timeout = d;
        }
        if let Some(d) =
            pick_duration("frame_timeout", settings.frame_timeout, &file.frame_timeout)?
        {
            c.frame_timeout = d;
        }
        if let Some(d) = pick_duration("split_expiry", settings.split_expiry, &file.split_expiry)? {
            c.split_expiry = d;
        }
        if let Some(d) = pick_duration("auth_timeout", settings.auth_timeout, &file.auth_timeout)? {
            c.auth_timeout = d;
        }
        if let Some(d) = pick_duration(
            "http_idle_timeout",
            settings.http_idle_timeout,
            &file.http_idle_timeout,
        )? {
            c.http_idle_timeout = d;
        }
        if let Some(d) = pick_duration(
            "http_body_deadline",
            settings.http_body_deadline,
            &file.http_body_deadline,
        )? {
            c.http_body_deadline = d;
        }
        macro_rules! pick_profile {
            ($($field:ident => $target:ident),*) => {$(
                if let Some(v) = settings.$field.clone().or(file.$field.clone()) {
                    c.profile_defaults.$target = v;
                }
            )*};
        }
        pick_profile!(
            default_heartbeat_period => heartbeat_period,
            default_report_period => report_period,
            default_report_offset => report_offset,
            default_response_timeout => response_timeout,
            default_model => model,
            default_firmware_version => firmware_version,
            default_software_version => software_version,
            default_hardware_version => hardware_version
        );
        c.check()?;
        Ok(c)
    }

    /// Checks values that parse but make no sense.
    pub fn check(&self) -> Result<(), ConfigError> {
        let positive = [
            ("max_connections", self.max_connections),
            ("writer_batch_max", self.writer_batch_max),
            ("writer_queue_capacity", self.writer_queue_capacity),
            ("max_connection_buffer", self.max_connection_buffer),
            ("max_unauthenticated", self.max_unauthenticated),
            (
                "max_unauthenticated_per_ip",
                self.max_unauthenticated_per_ip,
            ),
            ("control_max_in_flight", self.control.max_in_flight),
            ("http_max_connections", self.http_max_connections),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::BadValue {
                    key,
                    value: "0".into(),
                    reason: "must be at least 1".into(),
                });
            }
        }
        if self.first_frame_timeout.is_zero() {
            return Err(ConfigError::BadValue {
                key: "first_frame_timeout",
                value: "0s".into(),
                reason: "must be longer than zero".into(),
            });
        }
        // The longest `?wait=` long-poll is silent on its connection by design.
        let longest_wait = Duration::from_secs(crate::http::controls::MAX_WAIT_SECONDS);
        if self.http_idle_timeout <= longest_wait {
            return Err(ConfigError::BadValue {
                key: "http_idle_timeout",
                value: humantime::format_duration(self.http_idle_timeout).to_string(),
                reason: format!(
                    "must be longer than the longest ?wait= long-poll ({}s)",
                    longest_wait.as_secs()
                ),
            });
        }
        let durations = [
            ("control_ttl", self.control.ttl),
            (
                "control_completion_timeout",
                self.control.completion_timeout,
            ),
        ];
        for (key, value) in durations {
            if value < Duration::from_secs(1) {
                return Err(ConfigError::BadValue {
                    key,
                    value: humantime::format_duration(value).to_string(),
                    reason: "must be at least 1s".into(),
                });
            }
        }
        if self.http_body_limit < MIN_BODY_LIMIT {
            return Err(ConfigError::BadValue {
                key: "http_body_limit",
                value: self.http_body_limit.to_string(),
                reason: format!("must be at least {MIN_BODY_LIMIT} bytes"),
            });
        }
        for (key, value) in [
            ("frame_timeout", self.frame_timeout),
            ("split_expiry", self.split_expiry),
            ("auth_timeout", self.auth_timeout),
            ("http_body_deadline", self.http_body_deadline),
        ] {
            if value.is_zero() {
                return Err(ConfigError::BadValue {
                    key,
                    value: "0s".into(),
                    reason: "must be longer than zero".into(),
                });
            }
        }
        if self.heartbeat_grace == 0 {
            return Err(ConfigError::BadValue {
                key: "heartbeat_grace",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        let p = &self.profile_defaults;
        let widths = [
            ("default_model", &p.model, 32),
            ("default_firmware_version", &p.firmware_version, 16),
            ("default_software_version", &p.software_version, 16),
            ("default_hardware_version", &p.hardware_version, 16),
        ];
        for (key, value, width) in widths {
            if value.len() > width {
                return Err(ConfigError::BadValue {
                    key,
                    value: value.clone(),
                    reason: format!("longer than its {width}-byte GMMP field"),
                });
            }
        }
        for domain in &self.allowed_domains {
            if domain.is_empty() || domain.len() > 10 {
                return Err(ConfigError::BadValue {
                    key: "allowed_domains",
                    value: domain.clone(),
                    reason: "a domain code is 1..=10 bytes".into(),
                });
            }
        }
        Ok(())
    }

    /// Path of the SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("omp.sqlite3")
    }

    /// The limits split deliveries are held within.
    pub fn split_limits(&self) -> gmmp_codec::SplitLimits {
        gmmp_codec::SplitLimits {
            max_bytes: self.max_connection_buffer,
            expiry_ms: i64::try_from(self.split_expiry.as_millis()).unwrap_or(i64::MAX),
            ..gmmp_codec::SplitLimits::default()
        }
    }
}

/// A duration setting: the flag/environment value, else the file's
/// humantime string (a bad one names `key`).
fn pick_duration(
    key: &'static str,
    given: Option<Duration>,
    file: &Option<String>,
) -> Result<Option<Duration>, ConfigError> {
    match (given, file) {
        (Some(d), _) => Ok(Some(d)),
        (None, Some(s)) => {
            humantime::parse_duration(s)
                .map(Some)
                .map_err(|e| ConfigError::BadValue {
                    key,
                    value: s.clone(),
                    reason: e.to_string(),
                })
        }
        (None, None) => Ok(None),
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    parse_file(&text).map_err(|message| ConfigError::File {
        path: path.to_path_buf(),
        message,
    })
}

fn parse_file(text: &str) -> Result<FileSettings, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

/// The soft open-file limit minus a reserve, read from /proc on Linux
/// (no libc binding needed); 1024 − reserve elsewhere.
fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    soft.saturating_sub(FD_RESERVE).max(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_toml(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("omp.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&Settings {
            config: Some(path),
            ..Settings::default()
        })
    }

    #[test]
    fn unknown_toml_key_is_named() {
        let err = load_toml("gmmp_listen = \"127.0.0.1:1\"\nheartbeat_grase = 3\n").unwrap_err();
        assert!(err.to_string().contains("heartbeat_grase"), "{err}");
    }

    #[test]
    fn bad_toml_value_names_the_key() {
        let err = load_toml("provisioning = \"closed\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("provisioning"), "{text}");
        let err = load_toml("first_frame_timeout = \"soon\"\n").unwrap_err();
        assert!(err.to_string().contains("first_frame_timeout"), "{err}");
        let err = load_toml("gmmp_listen = \"nowhere\"\n").unwrap_err();
        assert!(err.to_string().contains("gmmp_listen"), "{err}");
    }

    #[test]
    fn flag_beats_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("omp.toml");
        std::fs::write(
            &path,
            "provisioning = \"open\"\nbackoff_seconds = 9\nfirst_frame_timeout = \"2s\"\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "omp-server",
            "--config",
            path.to_str().unwrap(),
            "--backoff-seconds",
            "3",
            "--allowed-domains",
            "ThingPlug,Other",
        ])
        .unwrap();
        let c = Config::load(&cli.settings).unwrap();
        assert_eq!(c.provisioning, ProvisioningMode::Open);
        assert_eq!(c.backoff_seconds, 3);
        assert_eq!(c.first_frame_timeout, Duration::from_secs(2));
        assert_eq!(c.allowed_domains, vec!["ThingPlug", "Other"]);
        assert_eq!(c.writer_batch_max, 1000);
    }

    #[test]
    fn bad_flag_value_is_refused_by_name() {
        let err = Cli::try_parse_from(["omp-server", "--provisioning", "maybe"]).unwrap_err();
        assert!(err.to_string().contains("--provisioning"), "{err}");
    }

    #[test]
    fn nonsense_values_are_refused() {
        let err = load_toml("writer_batch_max = 0\n").unwrap_err();
        assert!(err.to_string().contains("writer_batch_max"), "{err}");
        let err = load_toml("control_ttl = \"500ms\"\n").unwrap_err();
        assert!(err.to_string().contains("control_ttl"), "{err}");
        let err = load_toml("control_completion_timeout = \"later\"\n").unwrap_err();
        assert!(
            err.to_string().contains("control_completion_timeout"),
            "{err}"
        );
        let err = load_toml("writer_batch_max = 0\n").unwrap_err();
        assert!(err.to_string().contains("writer_batch_max"), "{err}");
        let err = load_toml("default_model = \"a model name that is far longer than 32 bytes\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("default_model"), "{err}");
    }

    #[test]
    fn hostile_input_limits_are_settings() {
        let c = Config::defaults();
        assert_eq!(c.frame_timeout, Duration::from_secs(20));
        assert_eq!(c.auth_timeout, Duration::from_secs(60));
        assert_eq!(c.max_unauthenticated, 4096);
        assert_eq!(c.max_unauthenticated_per_ip, 512);
        let c = load_toml(
            "frame_timeout = \"3s\"\nauth_timeout = \"1m\"\nmax_unauthenticated = 10\nmax_unauthenticated_per_ip = 2\n",
        )
        .unwrap();
        assert_eq!(c.frame_timeout, Duration::from_secs(3));
        assert_eq!(c.auth_timeout, Duration::from_secs(60));
        assert_eq!(c.max_unauthenticated, 10);
        assert_eq!(c.max_unauthenticated_per_ip, 2);
        let cli = Cli::try_parse_from([
            "omp-server",
            "--frame-timeout",
            "500ms",
            "--max-unauthenticated-per-ip",
            "7",
        ])
        .unwrap();
        let c = Config::load(&cli.settings).unwrap();
        assert_eq!(c.frame_timeout, Duration::from_millis(500));
        assert_eq!(c.max_unauthenticated_per_ip, 7);
        for (text, key) in [
            ("frame_timeout = \"never\"\n", "frame_timeout"),
            ("auth_timeout = \"0s\"\n", "auth_timeout"),
            ("max_unauthenticated = 0\n", "max_unauthenticated"),
            (
                "max_unauthenticated_per_ip = 0\n",
                "max_unauthenticated_per_ip",
            ),
        ] {
            let err = load_toml(text).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn http_body_limits_are_settings() {
        let c = Config::defaults();
        assert_eq!(c.http_body_limit, 64 * 1024);
        assert_eq!(c.http_body_deadline, Duration::from_secs(30));
        let c = load_toml("http_body_limit = 4096\nhttp_body_deadline = \"5s\"\n").unwrap();
        assert_eq!(
            (c.http_body_limit, c.http_body_deadline),
            (4096, Duration::from_secs(5))
        );
        let cli = Cli::try_parse_from([
            "omp-server",
            "--http-body-limit",
            "100000",
            "--http-body-deadline",
            "1m",
        ])
        .unwrap();
        let c = Config::load(&cli.settings).unwrap();
        assert_eq!(
            (c.http_body_limit, c.http_body_deadline),
            (100_000, Duration::from_secs(60))
        );
        for (text, key) in [
            ("http_body_limit = 10\n", "http_body_limit"),
            ("http_body_deadline = \"0s\"\n", "http_body_deadline"),
        ] {
            let err = load_toml(text).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn defaults_match_the_issue() {
        let c = Config::defaults();
        assert_eq!(c.gmmp_listen.to_string(), DEFAULT_GMMP_LISTEN);
        assert_eq!(c.http_listen.to_string(), DEFAULT_HTTP_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from("./omp-data"));
        assert_eq!(c.provisioning, ProvisioningMode::Approved);
        assert_eq!(c.profile_defaults.heartbeat_period, 10);
        assert_eq!(c.profile_defaults.response_timeout, 30);
    }
}
