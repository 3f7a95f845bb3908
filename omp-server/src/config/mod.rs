//! Settings: command-line flags, `OMP_…` environment variables and an
//! optional TOML file (`--config`), merged into one [`Config`].
//!
//! Precedence: flag > environment > file > built-in default. clap handles
//! flag > environment; the file is read with `deny_unknown_fields`, so an
//! unknown key stops start-up naming it, and a bad value names its key.
//!
//! Durations are humantime strings everywhere (`30s`, `500ms`, `2m`), in
//! flags, the environment and the file alike.

mod check;
mod cli;
mod defaults;
mod file;
mod load;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use serde::Deserialize;

use crate::error::ConfigError;
pub use cli::{Cli, Command, ProvisionCommand, Settings};

/// Who may register (docs/gmmp.md §6.1, "provisioning").
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvisioningMode {
    /// Only auth_ids added ahead of time (`omp-server provision add`).
    Approved,
    /// Any auth_id registers (a private sandbox).
    Open,
}

/// A listen address, or `none` (no listener), as given in a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct OptionalListen(pub Option<SocketAddr>);

impl std::str::FromStr for OptionalListen {
    type Err = String;

    fn from_str(s: &str) -> Result<OptionalListen, String> {
        if s == "none" {
            return Ok(OptionalListen(None));
        }
        s.parse().map(|a| OptionalListen(Some(a))).map_err(|e| {
            format!("{s:?} is neither an address such as 0.0.0.0:1883 nor `none`: {e}")
        })
    }
}

impl TryFrom<String> for OptionalListen {
    type Error = String;

    fn try_from(s: String) -> Result<OptionalListen, String> {
        s.parse()
    }
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
    /// MQTT listen address; `None` = no MQTT listener.
    pub mqtt_listen: Option<SocketAddr>,
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
/// Default MQTT address.
pub const DEFAULT_MQTT_LISTEN: &str = "0.0.0.0:1883";
/// Default HTTP API address.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8080";

impl Config {
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
