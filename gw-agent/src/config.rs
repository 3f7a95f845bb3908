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
//! security = "wpa2"                 # open | wep | wpa | wpa2 | wpa-wpa2
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
//! max_in_flight = 1
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

/// The OMP's default GMMP port.
pub const DEFAULT_OMP_PORT: u16 = 31002;

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
    /// `N`, `O` or `E`.
    pub parity: String,
    /// 5..=8.
    pub data_bits: u8,
    /// 1 or 2.
    pub stop_bits: u8,
    /// `N` or `HW`.
    pub flow_control: String,
}

/// Wi-Fi settings (bridge and native transports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WifiSettings {
    /// Network name.
    pub ssid: Option<String>,
    /// Security mode name.
    pub security: String,
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

    let serial = SerialSettings {
        path: o.serial.clone().or(file.serial.path),
        baud: o.baud.or(file.serial.baud).unwrap_or(115_200),
        parity: file.serial.parity.unwrap_or_else(|| "N".into()),
        data_bits: file.serial.data_bits.unwrap_or(8),
        stop_bits: file.serial.stop_bits.unwrap_or(1),
        flow_control: file.serial.flow_control.unwrap_or_else(|| "N".into()),
    };
    if serial.baud == 0 {
        return Err(invalid("serial.baud", 0, "must be above 0"));
    }
    if !(5..=8).contains(&serial.data_bits) {
        return Err(invalid(
            "serial.data_bits",
            serial.data_bits,
            "must be 5..=8",
        ));
    }
    if !(1..=2).contains(&serial.stop_bits) {
        return Err(invalid(
            "serial.stop_bits",
            serial.stop_bits,
            "must be 1 or 2",
        ));
    }
    if !["N", "O", "E"].contains(&serial.parity.to_ascii_uppercase().as_str()) {
        return Err(invalid(
            "serial.parity",
            &serial.parity,
            "must be N, O or E",
        ));
    }
    if !["N", "HW"].contains(&serial.flow_control.to_ascii_uppercase().as_str()) {
        return Err(invalid(
            "serial.flow_control",
            &serial.flow_control,
            "must be N or HW",
        ));
    }
    let wifi = WifiSettings {
        ssid: o.ssid.clone().or(file.wifi.ssid),
        security: file.wifi.security.unwrap_or_else(|| "wpa2".into()),
        passphrase: o.passphrase.clone().or(file.wifi.passphrase),
    };
    const SECURITIES: [&str; 5] = ["open", "wep", "wpa", "wpa2", "wpa-wpa2"];
    if !SECURITIES.contains(&wifi.security.to_ascii_lowercase().as_str()) {
        return Err(invalid(
            "wifi.security",
            &wifi.security,
            format!("must be one of {SECURITIES:?}"),
        ));
    }
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
    if max_in_flight == 0 {
        return Err(invalid("delivery.max_in_flight", 0, "must be at least 1"));
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
    let sources = SourcesConfig {
        stdin: !o.no_stdin && file.sources.stdin.unwrap_or(true),
        listen,
        fixed_payload: file.sources.fixed_payload,
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
mod tests {
    use super::*;

    const DIRECT: &str =
        "transport = \"direct\"\nauth_id = \"0008dc1e3222\"\n[omp]\nhost = \"127.0.0.1\"\n";

    #[test]
    fn a_minimal_direct_config_gets_the_defaults() {
        let c = Config::from_toml(DIRECT).unwrap();
        assert_eq!(c.transport, TransportKind::Direct);
        assert_eq!(c.omp_port, 31002);
        assert_eq!(c.domain_code, "ThingPlug");
        assert_eq!(c.max_in_flight, 1);
        assert!(c.sources.stdin);
        assert_eq!(c.heartbeat_period, None);
    }

    #[test]
    fn an_unknown_key_is_named() {
        let err = Config::from_toml(&format!("{DIRECT}colour = 3\n")).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn a_bad_duration_names_its_key() {
        let err =
            Config::from_toml(&format!("{DIRECT}[periods]\nheartbeat = \"soon\"\n")).unwrap_err();
        assert!(err.to_string().contains("periods.heartbeat"), "{err}");
    }

    #[test]
    fn a_long_domain_code_is_refused() {
        let err =
            Config::from_toml(&format!("domain_code = \"ThingPlug123\"\n{DIRECT}")).unwrap_err();
        assert!(err.to_string().contains("domain_code"), "{err}");
    }

    #[test]
    fn bridge_needs_a_serial_port() {
        let err = Config::from_toml("[omp]\nhost = \"h\"\n").unwrap_err();
        assert!(err.to_string().contains("serial.path"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let o = Overrides {
            omp: Some("10.1.2.3:4000".into()),
            baud: Some(9600),
            no_stdin: true,
            ..Overrides::default()
        };
        let c = resolve(parse(Path::new("x"), DIRECT).unwrap(), &o).unwrap();
        assert_eq!((c.omp_host.as_str(), c.omp_port), ("10.1.2.3", 4000));
        assert_eq!(c.serial.baud, 9600);
        assert!(!c.sources.stdin);
    }

    #[test]
    fn user_controls_must_be_in_the_user_range() {
        let ok = Config::from_toml(&format!("{DIRECT}[controls]\n\"0x80\" = {{ command = \"true\" }}\n\"0x81\" = {{ gpio = 3, value = 1 }}\n")).unwrap();
        assert_eq!(ok.controls.len(), 2);
        assert_eq!(ok.controls[&0x81], UserControl::Gpio { gpio: 3, value: 1 });
        let err = Config::from_toml(&format!(
            "{DIRECT}[controls]\n\"0x20\" = {{ command = \"x\" }}\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("0x20"), "{err}");
    }

    #[test]
    fn listen_addresses_parse() {
        assert_eq!(
            parse_listen("k", "tcp:127.0.0.1:0").unwrap(),
            ListenAddr::Tcp("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(
            parse_listen("k", "unix:/tmp/s").unwrap(),
            ListenAddr::Unix("/tmp/s".into())
        );
        assert!(parse_listen("k", "/tmp/s").is_err());
    }
}
