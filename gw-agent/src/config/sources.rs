//! `[sources]`: where deliveries come from besides the agent itself
//! (stdin, a local socket, a fixed payload, the module's own readings).

use std::path::PathBuf;
use std::time::Duration;

use super::file::{FileModuleSource, FileSources};
use super::resolve::duration;
use super::{
    ConfigError, DeviceConfig, ListenAddr, ModuleSourceConfig, Overrides, SourcesConfig,
    TransportKind, invalid,
};

/// `[sources]`, with `--listen` and `--no-stdin` over the file.
pub(super) fn resolve(
    file: FileSources,
    devices: &[DeviceConfig],
    o: &Overrides,
    transport: TransportKind,
) -> Result<SourcesConfig, ConfigError> {
    let listen = match o.listen.as_deref().or(file.listen.as_deref()) {
        Some(v) => Some(parse_listen("sources.listen", v)?),
        None => None,
    };
    let module_source = module_source(file.module, devices)?;
    if module_source.is_some() && transport == TransportKind::Direct {
        return Err(invalid(
            "sources.module.interval",
            "set",
            "module readings need the bridge or native transport",
        ));
    }
    let sources = SourcesConfig {
        stdin: !o.no_stdin && file.stdin.unwrap_or(true),
        listen,
        fixed_payload: file.fixed_payload,
        module: module_source,
    };
    Ok(sources)
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
