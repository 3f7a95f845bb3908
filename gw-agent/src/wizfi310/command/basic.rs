//! AT, AT+MMAC=?, AT+MINFO, AT+MECHO, AT+MMSG, AT+MRESET.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::{Command, ParseFail, Reply, single_line};
use crate::wizfi310::config::Timeouts;
use crate::wizfi310::error::Error;

/// `AT`: terminal check, answers `[OK]`.
#[derive(Debug, Clone, Copy)]
pub struct At;

impl Command for At {
    type Output = ();
    fn line(&self) -> Result<String, Error> {
        Ok("AT".into())
    }
    fn parse(&self, _: &Reply) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// A MAC address; shown as `00:08:DC:1E:32:22`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    /// Lower-case hex without separators (`0008dc1e3222`), the form GMMP
    /// uses as Auth ID.
    pub fn to_hex_lower(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}:{b:02X}:{c:02X}:{d:02X}:{e:02X}:{g:02X}")
    }
}

impl FromStr for MacAddress {
    type Err = ParseFail;
    /// Reads `00:08:DC:1E:32:22` (also `-` separated, or 12 bare hex digits).
    fn from_str(s: &str) -> Result<Self, ParseFail> {
        let fail = || ParseFail::new(s, "a MAC address like 00:08:DC:1E:32:22");
        let hex: String = s
            .trim()
            .chars()
            .filter(|c| *c != ':' && *c != '-')
            .collect();
        if hex.len() != 12 || !hex.is_ascii() {
            return Err(fail());
        }
        let mut mac = [0u8; 6];
        for (i, byte) in mac.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| fail())?;
        }
        Ok(MacAddress(mac))
    }
}

/// `AT+MMAC=?`: the module's MAC address.
#[derive(Debug, Clone, Copy)]
pub struct GetMac;

impl Command for GetMac {
    type Output = MacAddress;
    fn line(&self) -> Result<String, Error> {
        Ok("AT+MMAC=?".into())
    }
    fn parse(&self, reply: &Reply) -> Result<MacAddress, ParseFail> {
        single_line(reply, "a MAC address line")?.parse()
    }
}

/// What AT+MINFO prints under `FW version / HW version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareInfo {
    /// Firmware version, e.g. `1.1.1.0`.
    pub firmware: String,
    /// Hardware version, e.g. `WizFi310 Rev 1.0`.
    pub hardware: String,
}

/// `AT+MINFO`: firmware and hardware versions.
#[derive(Debug, Clone, Copy)]
pub struct GetInfo;

impl Command for GetInfo {
    type Output = FirmwareInfo;
    fn line(&self) -> Result<String, Error> {
        Ok("AT+MINFO".into())
    }
    fn parse(&self, reply: &Reply) -> Result<FirmwareInfo, ParseFail> {
        let line = reply
            .lines
            .iter()
            .map(|l| l.trim())
            .find(|l| l.contains('/') && !l.starts_with("FW version"))
            .ok_or_else(|| ParseFail::new("", "a `<FWver> / <HWver>` line"))?;
        let (firmware, hardware) = line
            .split_once('/')
            .ok_or_else(|| ParseFail::new(line, "a `<FWver> / <HWver>` line"))?;
        Ok(FirmwareInfo {
            firmware: firmware.trim().to_owned(),
            hardware: hardware.trim().to_owned(),
        })
    }
}

/// `AT+MECHO=<0|1>`: echo of our input off or on.
#[derive(Debug, Clone, Copy)]
pub struct SetEcho(pub bool);

impl Command for SetEcho {
    type Output = ();
    fn line(&self) -> Result<String, Error> {
        Ok(format!("AT+MECHO={}", u8::from(self.0)))
    }
    fn parse(&self, _: &Reply) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// AT+MMSG levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageLevel {
    /// 1: no responses printed (the driver cannot work in this level).
    Silent = 1,
    /// 2: responses and events (default).
    Normal = 2,
    /// 3: responses, events and debug logs (GMMP trace lines).
    Debug = 3,
}

/// `AT+MMSG=<level>`.
#[derive(Debug, Clone, Copy)]
pub struct SetMessageLevel(pub MessageLevel);

impl Command for SetMessageLevel {
    type Output = ();
    fn line(&self) -> Result<String, Error> {
        Ok(format!("AT+MMSG={}", self.0 as u8))
    }
    fn parse(&self, _: &Reply) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// `AT+MRESET`: system reset; long timeout.
#[derive(Debug, Clone, Copy)]
pub struct Reset;

impl Command for Reset {
    type Output = ();
    fn line(&self) -> Result<String, Error> {
        Ok("AT+MRESET".into())
    }
    fn timeout(&self, timeouts: &Timeouts) -> Duration {
        timeouts.reset
    }
    fn parse(&self, _: &Reply) -> Result<(), ParseFail> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_is_read_and_shown_both_ways() {
        let mac = GetMac
            .parse(&Reply::of_lines(&["00:08:DC:1E:32:22"]))
            .unwrap();
        assert_eq!(mac.to_string(), "00:08:DC:1E:32:22");
        assert_eq!(mac.to_hex_lower(), "0008dc1e3222");
        assert!(GetMac.parse(&Reply::of_lines(&["00:08:DC"])).is_err());
        assert!(GetMac.parse(&Reply::of_lines(&[])).is_err());
    }

    #[test]
    fn minfo_skips_its_header() {
        let info = GetInfo
            .parse(&Reply::of_lines(&[
                "FW version / HW version",
                "1.1.1.0 / WizFi310 Rev 1.0",
            ]))
            .unwrap();
        assert_eq!(info.firmware, "1.1.1.0");
        assert_eq!(info.hardware, "WizFi310 Rev 1.0");
    }
}
