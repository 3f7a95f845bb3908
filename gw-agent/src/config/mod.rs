//! The agent's configuration: each setting declared once in [`keys`]
//! (TOML key, flag, `GW_AGENT_…` variable, type, default, help); a flag
//! wins over its variable, which wins over the file (`--config`), which
//! wins over the default. An example file (every key with its flag and
//! default is in [`keys`] and the README's table):
//!
//! ```toml
//! transport = "direct"              # bridge (default) | direct | native
//! module = "wizfi310"               # or "wiz550s2e" (Ethernet, bridge only)
//! state_dir = "/var/lib/gw-agent"   # identity, spool, status file
//! auth_id = "0008dc1e3222"          # default: the module's MAC (bridge/native)
//! manufacture_id = "WIZnet"
//! domain_code = "ThingPlug"
//!
//! [serial]                          # bridge / native
//! path = "/dev/ttyUSB0"
//! baud = 115200                     # also parity, data_bits, stop_bits, flow_control
//!
//! [wiz550s2e]                       # module = "wiz550s2e"
//! mode = "command"                  # or "data" (the module's transparent TCP client)
//!
//! [wifi]
//! ssid = "lab"
//! security = "auto"                 # auto | open | wep | wpa | wpa-aes | wpa2 | wpa2-aes | wpa2-tkip
//! passphrase = "secret"
//!
//! [omp]
//! host = "omp.example"
//! port = 31002
//!
//! [[devices]]
//! name = "sensor1"
//! manufacture_id = "dev-1"
//!
//! [periods]                         # default: what the OMP's profile says
//! heartbeat = "1m"
//! report = "5m"
//! response_timeout = "30s"
//!
//! [delivery]
//! max_in_flight = 1                 # 1..=1000
//! keyed = true                      # resends not stored twice (omp-server)
//! report_type = "collect_data"      # or a number
//! media_type = 1
//!
//! [spool]
//! max_bytes = 8388608
//! when_full = "drop-oldest"         # or "reject-new"
//!
//! [sources]
//! stdin = true
//! listen = "unix:/run/gw-agent.sock" # or "tcp:127.0.0.1:7001"
//! fixed_payload = "WizFi310 test data"
//!
//! [sources.module]                  # bridge / native: module readings as JSON
//! interval = "60s"                  # absent or 0 = off
//! adc = true                        # AT+FGETADC=?
//! gpio = [3, 4]                     # AT+FGPIO=<pin>,2,0
//! device = "sensor1"                # optional: deliver as this device
//!
//! [controls]                        # user-defined control types 0x80..=0x9F
//! "0x80" = { command = "systemctl restart pump" }
//! "0x81" = { gpio = 3, value = 1 }
//!
//! [reconnect]
//! initial = "1s"
//! max = "60s"
//! ```
//!
//! Unknown keys in the file are errors; every mistake stops start-up with
//! an error naming the key.

#[cfg(test)]
mod example_tests;
mod file;
mod flags;
pub mod keys;
mod layers;
mod link;
#[cfg(test)]
mod readme_tests;
mod resolve;
mod setting;
mod sources;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::spool::SpoolLimits;
use crate::wizfi310::{FlowControl, Parity, Security};
pub use flags::Overrides;
pub use layers::Settings;
use resolve::resolve;
pub use setting::{ENV_PREFIX, Fallback, Key, Setting, SettingValue};
pub use sources::parse_listen;

/// The OMP's default GMMP port.
pub const DEFAULT_OMP_PORT: u16 = 31002;
/// Most deliveries in flight at once: far below the 90 000 delivery T-IDs,
/// so two deliveries in flight never share one (`engine::tid`).
pub const MAX_IN_FLIGHT: usize = 1000;

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (the message names the
    /// key and line).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's words.
        message: String,
    },
    /// The file has a key no setting has.
    #[error("config file {path}: unknown key `{key}`")]
    Unknown {
        /// The file.
        path: PathBuf,
        /// The key, sections joined with dots.
        key: String,
    },
    /// A value is wrong.
    #[error("config key `{key}` = {value:?}: {reason}")]
    Invalid {
        /// The key (`omp.port`, `--baud`).
        key: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A required value is missing.
    #[error("config key `{key}` is required: {why}")]
    Missing {
        /// The key.
        key: String,
        /// Why it is needed.
        why: String,
    },
}

fn invalid(key: &str, value: impl ToString, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Which transport carries GMMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// The WizFi310's TCP socket, driven over AT commands.
    #[default]
    Bridge,
    /// The host's own TCP connection; no module.
    Direct,
    /// The module's built-in GMMP client.
    Native,
}

impl TransportKind {
    /// The name as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Bridge => "bridge",
            TransportKind::Direct => "direct",
            TransportKind::Native => "native",
        }
    }
}

/// How the log is written (`log.format`). Read before the rest of the
/// settings, by `main`, since the log starts first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people; coloured only when stderr is a terminal and
    /// `NO_COLOR` is unset.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`,
    /// `message` and the line's fields beside it), for a log collector.
    Json,
}

/// Which module is on the serial port (bridge and native transports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModuleKind {
    /// The WIZnet WizFi310 (Wi-Fi).
    #[default]
    Wizfi310,
    /// The WIZnet WIZ550S2E (Ethernet); `bridge` only.
    Wiz550s2e,
}

impl ModuleKind {
    /// The name as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            ModuleKind::Wizfi310 => "wizfi310",
            ModuleKind::Wiz550s2e => "wiz550s2e",
        }
    }
}

/// How the WIZ550S2E carries the bridge (`wiz550s2e.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Wiz550s2eMode {
    /// The module's command mode: AT+NOPEN, AT+NSEND, `[R,…]` records.
    #[default]
    Command,
    /// The module's data mode: a TCP client to the OMP set up with
    /// AT+MMODE, the frames as raw bytes on the serial line.
    Data,
}

impl Wiz550s2eMode {
    /// The name as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            Wiz550s2eMode::Command => "command",
            Wiz550s2eMode::Data => "data",
        }
    }
}

/// Serial port settings (bridge and native transports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialSettings {
    /// Device path.
    pub path: Option<String>,
    /// Line rate.
    pub baud: u32,
    /// Parity (`N`, `O` or `E` in the file).
    pub parity: Parity,
    /// 7 or 8.
    pub data_bits: u8,
    /// 1 or 2.
    pub stop_bits: u8,
    /// Flow control (`N` or `HW` in the file).
    pub flow_control: FlowControl,
}

/// Wi-Fi settings (bridge and native transports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WifiSettings {
    /// Network name.
    pub ssid: Option<String>,
    /// Security type for AT+WSEC.
    pub security: Security,
    /// Passphrase.
    pub passphrase: Option<String>,
}

/// A device under the GW.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Local name (what data sources use).
    pub name: String,
    /// Manufacture ID for device registration.
    pub manufacture_id: String,
}

/// What a user-defined control type (0x80..=0x9F) does.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum UserControl {
    /// Run a host command (`sh -c`); the control payload is on its stdin,
    /// its stdout (up to 2048 bytes) is the notification body, exit status
    /// 0 gives rc 0x00, anything else rc 0x0C.
    Command {
        /// The command line.
        command: String,
    },
    /// Write a module GPIO (bridge/native only).
    Gpio {
        /// GPIO number.
        gpio: u8,
        /// Value to write.
        value: u8,
    },
}

/// Where the local data socket listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A Unix socket path.
    Unix(PathBuf),
    /// A TCP address (loopback expected).
    Tcp(std::net::SocketAddr),
}

/// Data source settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcesConfig {
    /// Read deliveries from stdin, one per line.
    pub stdin: bool,
    /// The local socket, if any.
    pub listen: Option<ListenAddr>,
    /// A payload sent on every report period (like AT+GMMPDATA=0).
    pub fixed_payload: Option<String>,
    /// Module readings on a schedule (bridge and native transports).
    pub module: Option<ModuleSourceConfig>,
}

/// Module readings (`AT+FGETADC=?`, `AT+FGPIO=<pin>,2,0`) delivered as JSON on
/// a schedule: `{"adc":1697,"gpio":{"3":0,"4":1}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSourceConfig {
    /// Time between readings.
    pub interval: Duration,
    /// Read the ADC.
    pub adc: bool,
    /// GPIO pins to read.
    pub gpio: Vec<u8>,
    /// Deliver as this configured device (`None`: the GW).
    pub device: Option<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Transport.
    pub transport: TransportKind,
    /// The module on the serial port.
    pub module: ModuleKind,
    /// State directory.
    pub state_dir: PathBuf,
    /// Auth ID; `None` = ask the module for its MAC.
    pub auth_id: Option<String>,
    /// GW manufacture ID.
    pub manufacture_id: String,
    /// Domain code.
    pub domain_code: String,
    /// Serial port.
    pub serial: SerialSettings,
    /// The WIZ550S2E's mode for the bridge.
    pub wiz550s2e_mode: Wiz550s2eMode,
    /// Wi-Fi.
    pub wifi: WifiSettings,
    /// OMP host.
    pub omp_host: String,
    /// OMP port.
    pub omp_port: u16,
    /// Devices.
    pub devices: Vec<DeviceConfig>,
    /// Heartbeat period override.
    pub heartbeat_period: Option<Duration>,
    /// Report period override.
    pub report_period: Option<Duration>,
    /// Response timeout override.
    pub response_timeout: Option<Duration>,
    /// Deliveries in flight at once.
    pub max_in_flight: usize,
    /// Send deliveries keyed (`gmmp_codec::KEYED_DELIVERY`): an OMP that
    /// honours the key never stores a resend twice. Off for an OMP that
    /// refuses a non-zero reserved header byte.
    pub keyed_deliveries: bool,
    /// Default report type of host deliveries.
    pub report_type: u8,
    /// Default media type of host deliveries.
    pub media_type: u8,
    /// Wait before re-sending a refused delivery.
    pub retry_delay: Duration,
    /// Re-sends of an unanswered request before reconnecting.
    pub max_retries: u32,
    /// Spool bounds.
    pub spool: SpoolLimits,
    /// Data sources.
    pub sources: SourcesConfig,
    /// User-defined controls by type byte.
    pub controls: BTreeMap<u8, UserControl>,
    /// First reconnect delay.
    pub reconnect_initial: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
}

impl Config {
    /// Reads the file named by `--config` (if any) and applies the flags.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        resolve(&Settings::load(overrides)?)
    }

    /// Parses TOML text (no flags); for tests and embedding.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        resolve(&Settings::from_toml(text)?)
    }

    /// The spool's directory.
    pub fn spool_dir(&self) -> PathBuf {
        self.state_dir.join("spool")
    }
}
