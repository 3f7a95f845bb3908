//! The agent's configuration: a TOML file (`--config`), then flags and
//! `GW_AGENT_…` environment variables, which win over the file.
//!
//! ```toml
//! transport = "direct"              # bridge (default) | direct | native
//! state_dir = "/var/lib/gw-agent"   # identity, spool, status file
//! auth_id = "0008dc1e3222"          # default: the module's MAC (bridge/native)
//! manufacture_id = "WIZnet"
//! domain_code = "ThingPlug"
//!
//! [serial]                          # bridge / native
//! path = "/dev/ttyUSB0"
//! baud = 115200                     # also parity, data_bits, stop_bits, flow_control
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
//! Unknown keys in the file are errors (`deny_unknown_fields`); every
//! mistake stops start-up with an error naming the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::spool::{FullPolicy, SpoolLimits};
use crate::wizfi310::{FlowControl, Parity, Security};

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

/// Flags and environment variables (`GW_AGENT_<FLAG>`); each overrides the
/// file's value.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, global = true, env = "GW_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Serial port of the WizFi310.
    #[arg(long, global = true, env = "GW_AGENT_SERIAL")]
    pub serial: Option<String>,
    /// Serial line rate.
    #[arg(long, global = true, env = "GW_AGENT_BAUD")]
    pub baud: Option<u32>,
    /// Wi-Fi network name.
    #[arg(long, global = true, env = "GW_AGENT_SSID")]
    pub ssid: Option<String>,
    /// Wi-Fi passphrase.
    #[arg(
        long,
        global = true,
        env = "GW_AGENT_PASSPHRASE",
        hide_env_values = true
    )]
    pub passphrase: Option<String>,
    /// OMP address, HOST or HOST:PORT (port 31002 by default).
    #[arg(long, global = true, env = "GW_AGENT_OMP")]
    pub omp: Option<String>,
    /// GW auth ID (default: the module's MAC).
    #[arg(long, global = true, env = "GW_AGENT_AUTH_ID")]
    pub auth_id: Option<String>,
    /// GW manufacture ID.
    #[arg(long, global = true, env = "GW_AGENT_MANUFACTURE_ID")]
    pub manufacture_id: Option<String>,
    /// Domain code.
    #[arg(long, global = true, env = "GW_AGENT_DOMAIN_CODE")]
    pub domain_code: Option<String>,
    /// Transport: bridge, direct or native.
    #[arg(long, global = true, env = "GW_AGENT_TRANSPORT", value_enum)]
    pub transport: Option<TransportKind>,
    /// State directory (identity, spool, status).
    #[arg(long, global = true, env = "GW_AGENT_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Local socket for data: unix:PATH or tcp:127.0.0.1:PORT.
    #[arg(long, global = true, env = "GW_AGENT_LISTEN")]
    pub listen: Option<String>,
    /// Do not read deliveries from stdin.
    #[arg(long, global = true, env = "GW_AGENT_NO_STDIN")]
    pub no_stdin: bool,
    /// Deliveries awaiting a response at once.
    #[arg(long, global = true, env = "GW_AGENT_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
}

/// The file's schema.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    transport: Option<TransportKind>,
    state_dir: Option<PathBuf>,
    auth_id: Option<String>,
    manufacture_id: Option<String>,
    domain_code: Option<String>,
    #[serde(default)]
    serial: FileSerial,
    #[serde(default)]
    wifi: FileWifi,
    #[serde(default)]
    omp: FileOmp,
    #[serde(default)]
    devices: Vec<DeviceConfig>,
    #[serde(default)]
    periods: FilePeriods,
    #[serde(default)]
    delivery: FileDelivery,
    #[serde(default)]
    spool: FileSpool,
    #[serde(default)]
    sources: FileSources,
    #[serde(default)]
    controls: BTreeMap<String, UserControl>,
    #[serde(default)]
    reconnect: FileReconnect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSerial {
    path: Option<String>,
    baud: Option<u32>,
    parity: Option<String>,
    data_bits: Option<u8>,
    stop_bits: Option<u8>,
    flow_control: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWifi {
    ssid: Option<String>,
    security: Option<String>,
    passphrase: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOmp {
    host: Option<String>,
    port: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePeriods {
    heartbeat: Option<String>,
    report: Option<String>,
    response_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDelivery {
    max_in_flight: Option<usize>,
    keyed: Option<bool>,
    report_type: Option<toml::Value>,
    media_type: Option<u8>,
    retry_delay: Option<String>,
    max_retries: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpool {
    max_bytes: Option<u64>,
    segment_bytes: Option<u64>,
    when_full: Option<FullPolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSources {
    stdin: Option<bool>,
    listen: Option<String>,
    fixed_payload: Option<String>,
    #[serde(default)]
    module: FileModuleSource,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModuleSource {
    interval: Option<String>,
    adc: Option<bool>,
    gpio: Option<Vec<u8>>,
    device: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileReconnect {
    initial: Option<String>,
    max: Option<String>,
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
        let file = match &overrides.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        resolve(file, overrides)
    }

    /// Parses TOML text (no flags); for tests and embedding.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let file = parse(Path::new("<inline>"), text)?;
        resolve(file, &Overrides::default())
    }

    /// The spool's directory.
    pub fn spool_dir(&self) -> PathBuf {
        self.state_dir.join("spool")
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn duration(key: &str, value: Option<String>) -> Result<Option<Duration>, ConfigError> {
    value
        .map(|v| humantime::parse_duration(&v).map_err(|e| invalid(key, &v, e)))
        .transpose()
}

fn check_len(key: &str, value: &str, max: usize) -> Result<(), ConfigError> {
    if value.len() > max {
        return Err(invalid(key, value, format!("longer than {max} bytes")));
    }
    if !value.is_ascii() {
        return Err(invalid(key, value, "must be ASCII"));
    }
    Ok(())
}

/// Splits `HOST[:PORT]` (`[v6]:PORT` too).
fn parse_omp(value: &str) -> Result<(String, Option<u16>), ConfigError> {
    let bad = |why: &str| invalid("--omp", value, why);
    if let Some(rest) = value.strip_prefix('[') {
        let (host, tail) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(
                p.parse()
                    .map_err(|_| bad("port is not a number 1..=65535"))?,
            ),
            None if tail.is_empty() => None,
            None => return Err(bad("expected HOST:PORT")),
        };
        return Ok((host.to_owned(), port));
    }
    match value.rsplit_once(':') {
        Some((host, port)) => Ok((
            host.to_owned(),
            Some(
                port.parse()
                    .map_err(|_| bad("port is not a number 1..=65535"))?,
            ),
        )),
        None => Ok((value.to_owned(), None)),
    }
}

/// Parses `unix:PATH` or `tcp:ADDR`.
pub fn parse_listen(key: &str, value: &str) -> Result<ListenAddr, ConfigError> {
    if let Some(path) = value.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(invalid(key, value, "empty Unix socket path"));
        }
        return Ok(ListenAddr::Unix(PathBuf::from(path)));
    }
    if let Some(addr) = value.strip_prefix("tcp:") {
        return addr
            .parse()
            .map(ListenAddr::Tcp)
            .map_err(|e| invalid(key, value, e));
    }
    Err(invalid(key, value, "expected unix:PATH or tcp:HOST:PORT"))
}

fn report_type(value: Option<toml::Value>) -> Result<u8, ConfigError> {
    let key = "delivery.report_type";
    match value {
        None => Ok(gmmp_codec::ReportType::COLLECT_DATA.0),
        Some(toml::Value::Integer(n)) => {
            u8::try_from(n).map_err(|_| invalid(key, n, "not 0..=255"))
        }
        Some(toml::Value::String(s)) => gmmp_codec::ReportType::from_name(&s)
            .map(|r| r.0)
            .ok_or_else(|| invalid(key, &s, "not collect_data, alarm, event or alarm_clear")),
        Some(other) => Err(invalid(key, other, "expected a name or a number")),
    }
}

/// The config's security names → AT+WSEC types.
fn security(name: &str) -> Result<Security, ConfigError> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "auto" => Security::Auto,
        "open" => Security::Open,
        "wep" => Security::Wep,
        "wpa" => Security::Wpa,
        "wpa-aes" => Security::WpaAes,
        "wpa2" => Security::Wpa2,
        "wpa2-aes" => Security::Wpa2Aes,
        "wpa2-tkip" => Security::Wpa2Tkip,
        _ => {
            return Err(invalid(
                "wifi.security",
                name,
                "must be auto, open, wep, wpa, wpa-aes, wpa2, wpa2-aes or wpa2-tkip",
            ));
        }
    })
}

/// The key lengths AT+WSEC accepts (docs/wizfi310.md §2), checked before start-up
/// rather than answered `[ERROR]` by the module at every join.
fn check_wifi(wifi: &WifiSettings) -> Result<(), ConfigError> {
    if let Some(ssid) = &wifi.ssid
        && (ssid.is_empty() || ssid.chars().count() > 32 || ssid.contains([',', '\r', '\n']))
    {
        return Err(invalid(
            "wifi.ssid",
            ssid,
            "must be 1 to 32 characters without commas (AT+WSET)",
        ));
    }
    let Some(key) = &wifi.passphrase else {
        // Required only by the module transports; checked there.
        return Ok(());
    };
    if key.contains(['\r', '\n']) {
        return Err(invalid("wifi.passphrase", "****", "contains CR or LF"));
    }
    let n = key.len();
    let hex = key.bytes().all(|b| b.is_ascii_hexdigit());
    let ok = match wifi.security {
        Security::Open => true,
        Security::Wep => matches!(n, 5 | 13) || (matches!(n, 10 | 26) && hex),
        _ => (8..=63).contains(&n) || (n == 64 && hex),
    };
    if !ok {
        return Err(invalid(
            "wifi.passphrase",
            format!("({n} characters)"),
            "WPA keys are 8..=63 characters (or 64 hex digits), WEP keys 5 or 13 (10 or 26 hex)",
        ));
    }
    Ok(())
}

fn module_source(
    file: FileModuleSource,
    devices: &[DeviceConfig],
) -> Result<Option<ModuleSourceConfig>, ConfigError> {
    let interval = duration("sources.module.interval", file.interval)?.unwrap_or(Duration::ZERO);
    if interval.is_zero() {
        return Ok(None);
    }
    if interval < Duration::from_millis(100) {
        return Err(invalid(
            "sources.module.interval",
            humantime::format_duration(interval),
            "must be at least 100ms",
        ));
    }
    let adc = file.adc.unwrap_or(true);
    let gpio = file.gpio.unwrap_or_default();
    if !adc && gpio.is_empty() {
        return Err(invalid(
            "sources.module.adc",
            false,
            "with no gpio pins either there is nothing to read",
        ));
    }
    if let Some(device) = &file.device
        && !devices.iter().any(|d| &d.name == device)
    {
        return Err(invalid(
            "sources.module.device",
            device,
            "not a name under [[devices]]",
        ));
    }
    Ok(Some(ModuleSourceConfig {
        interval,
        adc,
        gpio,
        device: file.device,
    }))
}

fn resolve(file: FileConfig, o: &Overrides) -> Result<Config, ConfigError> {
    let transport = o.transport.or(file.transport).unwrap_or_default();
    let (omp_host, omp_port) = match &o.omp {
        Some(v) => {
            let (host, port) = parse_omp(v)?;
            (Some(host), port.or(file.omp.port))
        }
        None => (file.omp.host, file.omp.port),
    };
    let omp_host = omp_host
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ConfigError::Missing {
            key: "omp.host (--omp)".into(),
            why: "the address of the OMP".into(),
        })?;
    let omp_port = omp_port.unwrap_or(DEFAULT_OMP_PORT);
    if omp_port == 0 {
        return Err(invalid("omp.port", 0, "port 0 cannot be connected to"));
    }

    let auth_id = o.auth_id.clone().or(file.auth_id);
    if let Some(a) = &auth_id {
        check_len("auth_id", a, 16)?;
    } else if transport == TransportKind::Direct {
        return Err(ConfigError::Missing {
            key: "auth_id (--auth-id)".into(),
            why: "the direct transport has no module MAC to default to".into(),
        });
    }
    let manufacture_id = o
        .manufacture_id
        .clone()
        .or(file.manufacture_id)
        .unwrap_or_else(|| "WIZnet".into());
    check_len("manufacture_id", &manufacture_id, 16)?;
    let domain_code = o
        .domain_code
        .clone()
        .or(file.domain_code)
        .unwrap_or_else(|| "ThingPlug".into());
    check_len("domain_code", &domain_code, 10)?;

    let parity = match file.serial.parity {
        Some(p) => p.parse().map_err(|e| invalid("serial.parity", &p, e))?,
        None => Parity::None,
    };
    let flow_control = match file.serial.flow_control {
        Some(f) => f
            .parse()
            .map_err(|e| invalid("serial.flow_control", &f, e))?,
        None => FlowControl::None,
    };
    let serial = SerialSettings {
        path: o.serial.clone().or(file.serial.path),
        baud: o.baud.or(file.serial.baud).unwrap_or(115_200),
        parity,
        data_bits: file.serial.data_bits.unwrap_or(8),
        stop_bits: file.serial.stop_bits.unwrap_or(1),
        flow_control,
    };
    if serial.baud == 0 {
        return Err(invalid("serial.baud", 0, "must be above 0"));
    }
    if !(7..=8).contains(&serial.data_bits) {
        return Err(invalid(
            "serial.data_bits",
            serial.data_bits,
            "must be 7 or 8 (AT+USET)",
        ));
    }
    if !(1..=2).contains(&serial.stop_bits) {
        return Err(invalid(
            "serial.stop_bits",
            serial.stop_bits,
            "must be 1 or 2",
        ));
    }
    let security = match file.wifi.security {
        Some(name) => security(&name)?,
        None => Security::Auto,
    };
    let wifi = WifiSettings {
        ssid: o.ssid.clone().or(file.wifi.ssid),
        security,
        passphrase: o.passphrase.clone().or(file.wifi.passphrase),
    };
    check_wifi(&wifi)?;
    if transport != TransportKind::Direct {
        if serial.path.is_none() {
            return Err(ConfigError::Missing {
                key: "serial.path (--serial)".into(),
                why: format!("the {} transport talks to the module", transport.name()),
            });
        }
        if wifi.ssid.is_none() {
            return Err(ConfigError::Missing {
                key: "wifi.ssid (--ssid)".into(),
                why: format!("the {} transport joins Wi-Fi", transport.name()),
            });
        }
        if wifi.passphrase.is_none() && wifi.security != Security::Open {
            return Err(ConfigError::Missing {
                key: "wifi.passphrase (--passphrase)".into(),
                why: "the network is not configured as open (wifi.security = \"open\")".into(),
            });
        }
    }

    let mut names = std::collections::BTreeSet::new();
    for (i, d) in file.devices.iter().enumerate() {
        let key = format!("devices[{i}].name");
        if d.name.is_empty() || d.name.len() > 255 {
            return Err(invalid(&key, &d.name, "must be 1..=255 bytes"));
        }
        if !names.insert(d.name.as_str()) {
            return Err(invalid(&key, &d.name, "names must be unique"));
        }
        check_len(
            &format!("devices[{i}].manufacture_id"),
            &d.manufacture_id,
            16,
        )?;
    }

    let max_in_flight = o.max_in_flight.or(file.delivery.max_in_flight).unwrap_or(1);
    if !(1..=MAX_IN_FLIGHT).contains(&max_in_flight) {
        return Err(invalid(
            "delivery.max_in_flight",
            max_in_flight,
            format!("must be 1..={MAX_IN_FLIGHT}"),
        ));
    }
    let defaults = SpoolLimits::default();
    let spool = SpoolLimits {
        max_bytes: file.spool.max_bytes.unwrap_or(defaults.max_bytes),
        segment_bytes: file.spool.segment_bytes.unwrap_or(defaults.segment_bytes),
        when_full: file.spool.when_full.unwrap_or(defaults.when_full),
    };
    if spool.max_bytes < 4096 {
        return Err(invalid(
            "spool.max_bytes",
            spool.max_bytes,
            "must be at least 4096",
        ));
    }
    if spool.segment_bytes == 0 {
        return Err(invalid("spool.segment_bytes", 0, "must be above 0"));
    }

    let listen = match o.listen.as_deref().or(file.sources.listen.as_deref()) {
        Some(v) => Some(parse_listen("sources.listen", v)?),
        None => None,
    };
    let module_source = module_source(file.sources.module, &file.devices)?;
    if module_source.is_some() && transport == TransportKind::Direct {
        return Err(invalid(
            "sources.module.interval",
            "set",
            "module readings need the bridge or native transport",
        ));
    }
    let sources = SourcesConfig {
        stdin: !o.no_stdin && file.sources.stdin.unwrap_or(true),
        listen,
        fixed_payload: file.sources.fixed_payload,
        module: module_source,
    };

    let mut controls = BTreeMap::new();
    for (key, action) in file.controls {
        let full_key = format!("controls.{key:?}");
        let digits = key.trim_start_matches("0x").trim_start_matches("0X");
        let code = u8::from_str_radix(digits, if key.len() != digits.len() { 16 } else { 10 })
            .map_err(|_| invalid(&full_key, &key, "not a control type number"))?;
        if !(0x80..=0x9F).contains(&code) {
            return Err(invalid(
                &full_key,
                &key,
                "user-defined control types are 0x80..=0x9F",
            ));
        }
        if let UserControl::Command { command } = &action
            && command.trim().is_empty()
        {
            return Err(invalid(&full_key, command, "empty command"));
        }
        controls.insert(code, action);
    }

    let reconnect_initial =
        duration("reconnect.initial", file.reconnect.initial)?.unwrap_or(Duration::from_secs(1));
    let reconnect_max =
        duration("reconnect.max", file.reconnect.max)?.unwrap_or(Duration::from_secs(60));
    if reconnect_initial.is_zero() || reconnect_max < reconnect_initial {
        return Err(invalid(
            "reconnect.max",
            humantime::format_duration(reconnect_max),
            "must be at least reconnect.initial, which must be above 0",
        ));
    }
    let response_timeout = duration("periods.response_timeout", file.periods.response_timeout)?;
    if response_timeout.is_some_and(|t| t.is_zero()) {
        return Err(invalid("periods.response_timeout", "0s", "must be above 0"));
    }

    Ok(Config {
        transport,
        state_dir: o
            .state_dir
            .clone()
            .or(file.state_dir)
            .unwrap_or_else(|| PathBuf::from("gw-agent-state")),
        auth_id,
        manufacture_id,
        domain_code,
        serial,
        wifi,
        omp_host,
        omp_port,
        devices: file.devices,
        heartbeat_period: duration("periods.heartbeat", file.periods.heartbeat)?,
        report_period: duration("periods.report", file.periods.report)?,
        response_timeout,
        max_in_flight,
        keyed_deliveries: file.delivery.keyed.unwrap_or(true),
        report_type: report_type(file.delivery.report_type)?,
        media_type: file.delivery.media_type.unwrap_or(0x01),
        retry_delay: duration("delivery.retry_delay", file.delivery.retry_delay)?
            .unwrap_or(Duration::from_secs(5)),
        max_retries: file.delivery.max_retries.unwrap_or(3),
        spool,
        sources,
        controls,
        reconnect_initial,
        reconnect_max,
    })
}

#[cfg(test)]
mod tests;
