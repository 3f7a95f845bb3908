//! `[sources]`: where deliveries come from besides the agent itself
//! (stdin, a local socket, a fixed payload, the module's own readings).

use std::path::PathBuf;
use std::time::Duration;

use super::keys::*;
use super::layers::Settings;
use super::{
    ConfigError, DeviceConfig, ListenAddr, ModuleKind, ModuleSourceConfig, SourcesConfig,
    TransportKind, invalid,
};

/// `[sources]`.
pub(super) fn resolve(
    s: &Settings,
    devices: &[DeviceConfig],
    transport: TransportKind,
    module: ModuleKind,
) -> Result<SourcesConfig, ConfigError> {
    let listen = match s.get(SOURCES_LISTEN)? {
        Some(v) => Some(parse_listen(SOURCES_LISTEN.setting.key, &v)?),
        None => None,
    };
    let module_source = module_source(s, devices)?;
    if module_source.is_some() && transport == TransportKind::Direct {
        return Err(invalid(
            SOURCES_MODULE_INTERVAL.setting.key,
            "set",
            "module readings need the bridge or native transport",
        ));
    }
    if module_source.is_some() && module == ModuleKind::Wiz550s2e {
        return Err(invalid(
            SOURCES_MODULE_INTERVAL.setting.key,
            "set",
            "module readings (ADC, GPIO) are the WizFi310's; the WIZ550S2E (module = \"wiz550s2e\") has none",
        ));
    }
    Ok(SourcesConfig {
        stdin: s.value(SOURCES_STDIN)?,
        listen,
        fixed_payload: s.get(SOURCES_FIXED_PAYLOAD)?,
        module: module_source,
    })
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

fn module_source(
    s: &Settings,
    devices: &[DeviceConfig],
) -> Result<Option<ModuleSourceConfig>, ConfigError> {
    let interval = s.get(SOURCES_MODULE_INTERVAL)?.unwrap_or(Duration::ZERO);
    if interval.is_zero() {
        return Ok(None);
    }
    if interval < Duration::from_millis(100) {
        return Err(invalid(
            SOURCES_MODULE_INTERVAL.setting.key,
            humantime::format_duration(interval),
            "must be at least 100ms",
        ));
    }
    let adc = s.value(SOURCES_MODULE_ADC)?;
    let gpio = s.value(SOURCES_MODULE_GPIO)?;
    if !adc && gpio.is_empty() {
        return Err(invalid(
            SOURCES_MODULE_ADC.setting.key,
            false,
            "with no gpio pins either there is nothing to read",
        ));
    }
    let device = s.get(SOURCES_MODULE_DEVICE)?;
    if let Some(device) = &device
        && !devices.iter().any(|d| &d.name == device)
    {
        return Err(invalid(
            SOURCES_MODULE_DEVICE.setting.key,
            device,
            "not a name under [[devices]]",
        ));
    }
    Ok(Some(ModuleSourceConfig {
        interval,
        adc,
        gpio,
        device,
    }))
}
