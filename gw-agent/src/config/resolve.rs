//! From the layered settings to a checked [`Config`]: the checks that
//! span settings, and the errors naming the key that is wrong.

use std::collections::BTreeMap;

use super::keys::*;
use super::layers::Settings;
use super::{
    Config, ConfigError, DeviceConfig, MAX_IN_FLIGHT, ModuleKind, TransportKind, UserControl,
    Wiz550s2eMode, invalid, link, sources,
};
use crate::spool::SpoolLimits;

/// Checks every section in the order the file lists them.
pub(super) fn resolve(s: &Settings) -> Result<Config, ConfigError> {
    let transport = s.value(TRANSPORT)?;
    let module = s.value(MODULE)?;
    if module == ModuleKind::Wiz550s2e && transport == TransportKind::Native {
        return Err(invalid(
            MODULE.setting.key,
            module.name(),
            "the native transport is the WizFi310's built-in GMMP client; the WIZ550S2E has \
             none: use transport = \"bridge\" (or leave module at \"wizfi310\")",
        ));
    }
    let (omp_host, omp_port) = match s.given(OMP_HOST) {
        Some(v) => {
            let (host, port) = parse_omp(v)?;
            (Some(host), port.map_or_else(|| s.value(OMP_PORT), Ok)?)
        }
        None => (s.get(OMP_HOST)?, s.value(OMP_PORT)?),
    };
    let omp_host = omp_host
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ConfigError::Missing {
            key: OMP_HOST.setting.key_and_flag(),
            why: "the address of the OMP".into(),
        })?;
    if omp_port == 0 {
        return Err(invalid(
            OMP_PORT.setting.key,
            0,
            "port 0 cannot be connected to",
        ));
    }

    let auth_id = s.get(AUTH_ID)?;
    if let Some(a) = &auth_id {
        check_len(AUTH_ID.setting.key, a, 16)?;
    } else if transport == TransportKind::Direct {
        s.require(
            AUTH_ID,
            "the direct transport has no module MAC to default to",
        )?;
    }
    let manufacture_id = s.value(MANUFACTURE_ID)?;
    check_len(MANUFACTURE_ID.setting.key, &manufacture_id, 16)?;
    let domain_code = s.value(DOMAIN_CODE)?;
    check_len(DOMAIN_CODE.setting.key, &domain_code, 10)?;

    let serial = link::serial(s)?;
    let wifi = link::wifi(s)?;
    link::require_for(transport, module, &serial, &wifi)?;
    let wiz550s2e_mode = s.value(WIZ550S2E_MODE)?;
    if wiz550s2e_mode == Wiz550s2eMode::Data
        && (module != ModuleKind::Wiz550s2e || transport != TransportKind::Bridge)
    {
        return Err(invalid(
            WIZ550S2E_MODE.setting.key,
            wiz550s2e_mode.name(),
            "data mode is the WIZ550S2E's own TCP client for the bridge transport: it needs \
             module = \"wiz550s2e\" and transport = \"bridge\"",
        ));
    }

    let devices = s.file.devices.clone();
    check_devices(&devices)?;

    let max_in_flight = s.value(DELIVERY_MAX_IN_FLIGHT)?;
    if !(1..=MAX_IN_FLIGHT).contains(&max_in_flight) {
        return Err(invalid(
            DELIVERY_MAX_IN_FLIGHT.setting.key,
            max_in_flight,
            format!("must be 1..={MAX_IN_FLIGHT}"),
        ));
    }
    let spool = spool_limits(s)?;

    let sources = sources::resolve(s, &devices, transport, module)?;

    let controls = controls(s.file.controls.clone())?;
    if module == ModuleKind::Wiz550s2e
        && transport != TransportKind::Direct
        && let Some((code, _)) = controls
            .iter()
            .find(|(_, c)| matches!(c, UserControl::Gpio { .. }))
    {
        return Err(invalid(
            &format!("controls.\"0x{code:02X}\".gpio"),
            "set",
            "the WIZ550S2E has no GPIO command: use a `command` control (module = \"wiz550s2e\")",
        ));
    }

    let reconnect_initial = s.value(RECONNECT_INITIAL)?;
    let reconnect_max = s.value(RECONNECT_MAX)?;
    if reconnect_initial.is_zero() || reconnect_max < reconnect_initial {
        return Err(invalid(
            RECONNECT_MAX.setting.key,
            humantime::format_duration(reconnect_max),
            "must be at least reconnect.initial, which must be above 0",
        ));
    }
    let response_timeout = s.get(PERIODS_RESPONSE_TIMEOUT)?;
    if response_timeout.is_some_and(|t| t.is_zero()) {
        return Err(invalid(
            PERIODS_RESPONSE_TIMEOUT.setting.key,
            "0s",
            "must be above 0",
        ));
    }

    Ok(Config {
        transport,
        module,
        state_dir: s.value(STATE_DIR)?,
        auth_id,
        manufacture_id,
        domain_code,
        serial,
        wiz550s2e_mode,
        wifi,
        omp_host,
        omp_port,
        devices,
        heartbeat_period: s.get(PERIODS_HEARTBEAT)?,
        report_period: s.get(PERIODS_REPORT)?,
        response_timeout,
        max_in_flight,
        keyed_deliveries: s.value(DELIVERY_KEYED)?,
        report_type: s.value(DELIVERY_REPORT_TYPE)?.0,
        media_type: s.value(DELIVERY_MEDIA_TYPE)?,
        retry_delay: s.value(DELIVERY_RETRY_DELAY)?,
        max_retries: s.value(DELIVERY_MAX_RETRIES)?,
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

/// `[spool]`.
fn spool_limits(s: &Settings) -> Result<SpoolLimits, ConfigError> {
    let spool = SpoolLimits {
        max_bytes: s.value(SPOOL_MAX_BYTES)?,
        segment_bytes: s.value(SPOOL_SEGMENT_BYTES)?,
        when_full: s.value(SPOOL_WHEN_FULL)?,
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
