//! `[serial]` and `[wifi]`: how the bridge and native transports reach
//! the module and the network it joins.

use super::keys::*;
use super::layers::Settings;
use super::{ConfigError, ModuleKind, SerialSettings, TransportKind, WifiSettings, invalid};
use crate::wizfi310::Security;

/// `[serial]`.
pub(super) fn serial(s: &Settings) -> Result<SerialSettings, ConfigError> {
    let serial = SerialSettings {
        path: s.get(SERIAL_PATH)?,
        baud: s.value(SERIAL_BAUD)?,
        parity: s.value(SERIAL_PARITY)?,
        data_bits: s.value(SERIAL_DATA_BITS)?,
        stop_bits: s.value(SERIAL_STOP_BITS)?,
        flow_control: s.value(SERIAL_FLOW_CONTROL)?,
    };
    if serial.baud == 0 {
        return Err(invalid(SERIAL_BAUD.setting.key, 0, "must be above 0"));
    }
    if !(7..=8).contains(&serial.data_bits) {
        return Err(invalid(
            SERIAL_DATA_BITS.setting.key,
            serial.data_bits,
            "must be 7 or 8 (AT+USET)",
        ));
    }
    if !(1..=2).contains(&serial.stop_bits) {
        return Err(invalid(
            SERIAL_STOP_BITS.setting.key,
            serial.stop_bits,
            "must be 1 or 2",
        ));
    }
    Ok(serial)
}

/// `[wifi]`.
pub(super) fn wifi(s: &Settings) -> Result<WifiSettings, ConfigError> {
    let wifi = WifiSettings {
        ssid: s.get(WIFI_SSID)?,
        security: s.value(WIFI_SECURITY)?,
        passphrase: s.get(WIFI_PASSPHRASE)?,
    };
    check_wifi(&wifi)?;
    Ok(wifi)
}

/// What the module transports cannot start without.
pub(super) fn require_for(
    transport: TransportKind,
    module: ModuleKind,
    serial: &SerialSettings,
    wifi: &WifiSettings,
) -> Result<(), ConfigError> {
    if transport != TransportKind::Direct {
        if serial.path.is_none() {
            return Err(ConfigError::Missing {
                key: SERIAL_PATH.setting.key_and_flag(),
                why: format!("the {} transport talks to the module", transport.name()),
            });
        }
        if module == ModuleKind::Wiz550s2e {
            // Ethernet: no Wi-Fi to join, the wifi settings are not used.
            return Ok(());
        }
        if wifi.ssid.is_none() {
            return Err(ConfigError::Missing {
                key: WIFI_SSID.setting.key_and_flag(),
                why: format!("the {} transport joins Wi-Fi", transport.name()),
            });
        }
        if wifi.passphrase.is_none() && wifi.security != Security::Open {
            return Err(ConfigError::Missing {
                key: WIFI_PASSPHRASE.setting.key_and_flag(),
                why: "the network is not configured as open (wifi.security = \"open\")".into(),
            });
        }
    }
    Ok(())
}

/// The key lengths AT+WSEC accepts (docs/wizfi310.md §2), checked before start-up
/// rather than answered `[ERROR]` by the module at every join.
fn check_wifi(wifi: &WifiSettings) -> Result<(), ConfigError> {
    if let Some(ssid) = &wifi.ssid
        && (ssid.is_empty() || ssid.chars().count() > 32 || ssid.contains([',', '\r', '\n']))
    {
        return Err(invalid(
            WIFI_SSID.setting.key,
            ssid,
            "must be 1 to 32 characters without commas (AT+WSET)",
        ));
    }
    let Some(key) = &wifi.passphrase else {
        // Required only by the module transports; checked there.
        return Ok(());
    };
    if key.contains(['\r', '\n']) {
        return Err(invalid(
            WIFI_PASSPHRASE.setting.key,
            "****",
            "contains CR or LF",
        ));
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
            WIFI_PASSPHRASE.setting.key,
            format!("({n} characters)"),
            "WPA keys are 8..=63 characters (or 64 hex digits), WEP keys 5 or 13 (10 or 26 hex)",
        ));
    }
    Ok(())
}
