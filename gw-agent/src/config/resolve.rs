//! From the file's schema and the flags to a checked [`Config`]: every
//! section's defaults, and the errors naming the key that is wrong.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::file::{FileConfig, FileSpool};
use super::{
    Config, ConfigError, DEFAULT_OMP_PORT, DeviceConfig, MAX_IN_FLIGHT, Overrides, TransportKind,
    UserControl, invalid, link, sources,
};
use crate::spool::SpoolLimits;

/// Checks every section in the order the file lists them and fills in
/// the defaults.
pub(super) fn resolve(file: FileConfig, o: &Overrides) -> Result<Config, ConfigError> {
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

    let serial = link::serial(file.serial, o)?;
    let wifi = link::wifi(file.wifi, o)?;
    link::require_for(transport, &serial, &wifi)?;

    check_devices(&file.devices)?;

    let max_in_flight = o.max_in_flight.or(file.delivery.max_in_flight).unwrap_or(1);
    if !(1..=MAX_IN_FLIGHT).contains(&max_in_flight) {
        return Err(invalid(
            "delivery.max_in_flight",
            max_in_flight,
            format!("must be 1..={MAX_IN_FLIGHT}"),
        ));
    }
    let spool = spool_limits(file.spool)?;

    let sources = sources::resolve(file.sources, &file.devices, o, transport)?;

    let controls = controls(file.controls)?;

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

/// `[[devices]]`: unique names, IDs that fit the GMMP header.
fn check_devices(devices: &[DeviceConfig]) -> Result<(), ConfigError> {
    let mut names = std::collections::BTreeSet::new();
    for (i, d) in devices.iter().enumerate() {
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
    Ok(())
}

/// `[spool]`, over the spool's own defaults.
fn spool_limits(file: FileSpool) -> Result<SpoolLimits, ConfigError> {
    let defaults = SpoolLimits::default();
    let spool = SpoolLimits {
        max_bytes: file.max_bytes.unwrap_or(defaults.max_bytes),
        segment_bytes: file.segment_bytes.unwrap_or(defaults.segment_bytes),
        when_full: file.when_full.unwrap_or(defaults.when_full),
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
    Ok(spool)
}

/// `[controls]`: user-defined control types and what each does.
fn controls(file: BTreeMap<String, UserControl>) -> Result<BTreeMap<u8, UserControl>, ConfigError> {
    let mut controls = BTreeMap::new();
    for (key, action) in file {
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
    Ok(controls)
}

pub(super) fn duration(key: &str, value: Option<String>) -> Result<Option<Duration>, ConfigError> {
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
