//! `[serial]` and `[wifi]`: how the bridge and native transports reach
//! the module and the network it joins.

use super::file::{FileSerial, FileWifi};
use super::{ConfigError, Overrides, SerialSettings, TransportKind, WifiSettings, invalid};
use crate::wizfi310::{FlowControl, Parity, Security};

/// `[serial]`, with `--serial` and `--baud` over the file.
pub(super) fn serial(file: FileSerial, o: &Overrides) -> Result<SerialSettings, ConfigError> {
    let parity = match file.parity {
        Some(p) => p.parse().map_err(|e| invalid("serial.parity", &p, e))?,
        None => Parity::None,
    };
    let flow_control = match file.flow_control {
        Some(f) => f
            .parse()
            .map_err(|e| invalid("serial.flow_control", &f, e))?,
        None => FlowControl::None,
    };
    let serial = SerialSettings {
        path: o.serial.clone().or(file.path),
        baud: o.baud.or(file.baud).unwrap_or(115_200),
        parity,
        data_bits: file.data_bits.unwrap_or(8),
        stop_bits: file.stop_bits.unwrap_or(1),
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
    Ok(serial)
}

/// `[wifi]`, with `--ssid` and `--passphrase` over the file.
pub(super) fn wifi(file: FileWifi, o: &Overrides) -> Result<WifiSettings, ConfigError> {
    let security = match file.security {
        Some(name) => security(&name)?,
        None => Security::Auto,
    };
    let wifi = WifiSettings {
        ssid: o.ssid.clone().or(file.ssid),
        security,
        passphrase: o.passphrase.clone().or(file.passphrase),
    };
    check_wifi(&wifi)?;
    Ok(wifi)
}

/// What the module transports cannot start without.
pub(super) fn require_for(
    transport: TransportKind,
    serial: &SerialSettings,
    wifi: &WifiSettings,
) -> Result<(), ConfigError> {
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
    Ok(())
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
