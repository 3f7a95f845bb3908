//! Every setting of the agent, each declared once: its TOML key, its flag
//! (the environment variable is `GW_AGENT_` and the flag's name), its
//! type, its default and its help. `[[devices]]` and `[controls]` are
//! lists, not settings, and are read by [`super::file`].

use std::path::PathBuf;
use std::time::Duration;

use super::Setting;
use super::setting::{Fallback, settings};
use super::{DEFAULT_OMP_PORT, LogFormat, ModuleKind, TransportKind, Wiz550s2eMode};
use crate::spool::{FullPolicy, SpoolLimits};
use crate::wizfi310::{FlowControl, Parity, Security};
use Fallback::{Absent, Derived, Text};

settings! {
    /// Transport: bridge, direct or native.
    TRANSPORT: TransportKind { key: "transport", flag: "transport", default: Text("bridge") }
    /// Module on the serial port: wizfi310 or wiz550s2e.
    MODULE: ModuleKind { key: "module", flag: "module", default: Text("wizfi310") }
    /// State directory (identity, spool, status).
    STATE_DIR: PathBuf { key: "state_dir", flag: "state-dir", default: Text("gw-agent-state") }
    /// GW auth ID.
    AUTH_ID: String { key: "auth_id", flag: "auth-id", default: Absent("the module's MAC") }
    /// GW manufacture ID.
    MANUFACTURE_ID: String { key: "manufacture_id", flag: "manufacture-id", default: Text("WIZnet") }
    /// Domain code.
    DOMAIN_CODE: String { key: "domain_code", flag: "domain-code", default: Text("ThingPlug") }
    /// Serial port of the module.
    SERIAL_PATH: String { key: "serial.path", flag: "serial", default: Absent("required for `bridge` / `native`") }
    /// Serial line rate.
    SERIAL_BAUD: u32 { key: "serial.baud", flag: "baud", default: Text("115200") }
    /// Serial parity: N, O or E.
    SERIAL_PARITY: Parity { key: "serial.parity", default: Text("N") }
    /// Serial data bits: 7 or 8.
    SERIAL_DATA_BITS: u8 { key: "serial.data_bits", default: Text("8") }
    /// Serial stop bits: 1 or 2.
    SERIAL_STOP_BITS: u8 { key: "serial.stop_bits", default: Text("1") }
    /// Serial flow control: N or HW.
    SERIAL_FLOW_CONTROL: FlowControl { key: "serial.flow_control", default: Text("N") }
    /// WIZ550S2E bridge mode: command or data.
    WIZ550S2E_MODE: Wiz550s2eMode { key: "wiz550s2e.mode", flag: "wiz550s2e-mode", default: Text("command") }
    /// Wi-Fi network name.
    WIFI_SSID: String { key: "wifi.ssid", flag: "ssid", default: Absent("required for `bridge` / `native`") }
    /// Wi-Fi security type (AT+WSEC).
    WIFI_SECURITY: Security { key: "wifi.security", default: Text("auto") }
    /// Wi-Fi passphrase.
    WIFI_PASSPHRASE: String { key: "wifi.passphrase", flag: "passphrase", secret: true, default: Absent("required unless `open`") }
    /// OMP address, HOST or HOST:PORT (without a port, omp.port).
    OMP_HOST: String { key: "omp.host", flag: "omp", default: Absent("required") }
    /// OMP GMMP port.
    OMP_PORT: u16 { key: "omp.port", default: Derived(|| DEFAULT_OMP_PORT.to_string()) }
    /// Heartbeat period.
    PERIODS_HEARTBEAT: Duration { key: "periods.heartbeat", default: Absent("the OMP's profile") }
    /// Report period.
    PERIODS_REPORT: Duration { key: "periods.report", default: Absent("the OMP's profile") }
    /// Time to wait for a response before sending the request again.
    PERIODS_RESPONSE_TIMEOUT: Duration { key: "periods.response_timeout", default: Absent("the OMP's profile") }
    /// Deliveries awaiting a response at once.
    DELIVERY_MAX_IN_FLIGHT: usize { key: "delivery.max_in_flight", flag: "max-in-flight", default: Text("1") }
    /// Send deliveries keyed, so that a resend is not stored twice.
    DELIVERY_KEYED: bool { key: "delivery.keyed", default: Text("true") }
    /// Report type of host deliveries: a name or a number.
    DELIVERY_REPORT_TYPE: gmmp_codec::ReportType { key: "delivery.report_type", default: Text("collect_data") }
    /// Media type of host deliveries.
    DELIVERY_MEDIA_TYPE: u8 { key: "delivery.media_type", default: Text("1") }
    /// Wait before re-sending a refused delivery.
    DELIVERY_RETRY_DELAY: Duration { key: "delivery.retry_delay", default: Text("5s") }
    /// Re-sends of an unanswered request before reconnecting.
    DELIVERY_MAX_RETRIES: u32 { key: "delivery.max_retries", default: Text("3") }
    /// Most bytes of pending deliveries in the spool.
    SPOOL_MAX_BYTES: u64 { key: "spool.max_bytes", default: Derived(|| SpoolLimits::default().max_bytes.to_string()) }
    /// Size at which the spool starts a new segment file.
    SPOOL_SEGMENT_BYTES: u64 { key: "spool.segment_bytes", default: Derived(|| SpoolLimits::default().segment_bytes.to_string()) }
    /// What a full spool does: drop-oldest or reject-new.
    SPOOL_WHEN_FULL: FullPolicy { key: "spool.when_full", default: Text("drop-oldest") }
    /// Do not read deliveries from stdin.
    SOURCES_STDIN: bool { key: "sources.stdin", flag: "no-stdin", switch: "false", default: Text("true") }
    /// Local socket for data: unix:PATH or tcp:127.0.0.1:PORT.
    SOURCES_LISTEN: String { key: "sources.listen", flag: "listen", default: Absent("none") }
    /// A payload sent on every report period.
    SOURCES_FIXED_PAYLOAD: String { key: "sources.fixed_payload", default: Absent("none") }
    /// Time between module readings (0 = off).
    SOURCES_MODULE_INTERVAL: Duration { key: "sources.module.interval", default: Absent("off") }
    /// Read the module's ADC.
    SOURCES_MODULE_ADC: bool { key: "sources.module.adc", default: Text("true") }
    /// Module GPIO pins to read.
    SOURCES_MODULE_GPIO: Vec<u8> { key: "sources.module.gpio", default: Text("[]") }
    /// Deliver module readings as this device.
    SOURCES_MODULE_DEVICE: String { key: "sources.module.device", default: Absent("none (the GW)") }
    /// First reconnect delay.
    RECONNECT_INITIAL: Duration { key: "reconnect.initial", default: Text("1s") }
    /// Longest reconnect delay.
    RECONNECT_MAX: Duration { key: "reconnect.max", default: Text("60s") }
    /// Log lines on stderr: text or json (one object per line).
    LOG_FORMAT: LogFormat { key: "log.format", flag: "log-format", default: Text("text") }
}

/// The settings whose key is under `section` (`omp`, `sources.module`).
pub fn in_section(section: &str) -> impl Iterator<Item = &'static Setting> + '_ {
    ALL.iter().copied().filter(move |s| {
        s.key
            .strip_prefix(section)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The declared setting with this key.
pub fn find(key: &str) -> Option<&'static Setting> {
    ALL.iter().copied().find(|s| s.key == key)
}
