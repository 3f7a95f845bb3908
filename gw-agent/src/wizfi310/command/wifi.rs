//! AT+WSET, AT+WSEC, AT+WNET, AT+WJOIN, AT+WLEAVE, AT+WSTAT.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::basic::MacAddress;
use super::{Command, ParseFail, Reply, field};
use crate::wizfi310::config::Timeouts;
use crate::wizfi310::error::Error;
use crate::wizfi310::events::Event;

/// Wi-Fi mode of AT+WSET/AT+WSEC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WifiMode {
    /// 0: station.
    Station = 0,
    /// 1: soft access point.
    AccessPoint = 1,
}

/// `AT+WSET=<mode>,<SSID>[,<BSSID>[,<channel>]]`.
#[derive(Debug, Clone)]
pub struct WifiSet {
    /// Station or AP.
    pub mode: WifiMode,
    /// Target (or own) SSID, at most 32 characters, no comma (AT+WSET2 is
    /// the module's way for those).
    pub ssid: String,
    /// Target BSSID, optional.
    pub bssid: Option<MacAddress>,
    /// Channel, optional.
    pub channel: Option<u8>,
}

impl Command for WifiSet {
    type Output = ();
    fn line(&self) -> Result<String, Error> {
        let ssid = field("AT+WSET", "SSID", &self.ssid, false)?;
        if ssid.is_empty() || ssid.chars().count() > 32 {
            return Err(Error::InvalidArgument {
                command: "AT+WSET",
                reason: format!("SSID {ssid:?} must be 1 to 32 characters"),
            });
        }
        let mut line = format!("AT+WSET={},{ssid}", self.mode as u8);
        match (self.bssid, self.channel) {
            (None, None) => {}
            (bssid, channel) => {
                line.push(',');
                if let Some(bssid) = bssid {
                    line.push_str(&bssid.to_string());
                }
                if let Some(channel) = channel {
                    line.push_str(&format!(",{channel}"));
                }
            }
        }
        Ok(line)
    }
    fn parse(&self, _: &Reply) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// AT+WSEC security types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Empty field: the module picks (key of 8 characters or more).
    Auto,
    /// `OPEN` (the module still wants an 8-character dummy key).
    Open,
    /// `WEP`.
    Wep,
    /// `WPA` (TKIP).
    Wpa,
    /// `WPAAES`.
    WpaAes,
    /// `WPA2AES`.
    Wpa2Aes,
    /// `WPA2TKIP`.
    Wpa2Tkip,
    /// `WPA2` (mixed).
    Wpa2,
}

impl Security {
    fn word(self) -> &'static str {
        match self {
            Security::Auto => "",
            Security::Open => "OPEN",
            Security::Wep => "WEP",
            Security::Wpa => "WPA",
            Security::WpaAes => "WPAAES",
            Security::Wpa2Aes => "WPA2AES",
            Security::Wpa2Tkip => "WPA2TKIP",
            Security::Wpa2 => "WPA2",
        }
    }
}

/// `AT+WSEC=<mode>,<sectype>,<key>`. The key is masked in logs and errors.
#[derive(Debug, Clone)]
pub struct WifiSecurity {
    /// Station or AP.
    pub mode: WifiMode,
    /// Security type.
    pub security: Security,
    /// Key / passphrase.
    pub key: String,
}

impl Command for WifiSecurity {
    type Output = ();
    fn line(&self) -> Result<String, Error> {
        let key = field("AT+WSEC", "key", &self.key, true)?;
        Ok(format!(
            "AT+WSEC={},{},{key}",
            self.mode as u8,
            self.security.word()
        ))
    }
    fn shown(&self) -> String {
        format!("AT+WSEC={},{},****", self.mode as u8, self.security.word())
    }
    fn parse(&self, _: &Reply) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// `AT+WNET=<DHCP>,<IP>,<SN>,<GW>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WifiNet {
    /// `AT+WNET=1`: DHCP client.
    Dhcp,
    /// `AT+WNET=0,ip,mask,gateway`: static addresses.
    Static {
        /// Own address.
        ip: Ipv4Addr,
        /// Subnet mask.
        mask: Ipv4Addr,
        /// Gateway.
        gateway: Ipv4Addr,
    },
}

impl Command for WifiNet {
    type Output = ();
    fn line(&self) -> Result<String, Error> {
        Ok(match self {
            WifiNet::Dhcp => "AT+WNET=1".into(),
            WifiNet::Static { ip, mask, gateway } => format!("AT+WNET=0,{ip},{mask},{gateway}"),
        })
    }
    fn parse(&self, _: &Reply) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// What AT+WJOIN did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Joined: the `[Link-Up Event]` addresses (also sent as an event).
    Joined {
        /// Own address.
        ip: Option<Ipv4Addr>,
        /// Gateway.
        gateway: Option<Ipv4Addr>,
    },
    /// `Already Associated : <mode>`.
    AlreadyAssociated(String),
}

/// `AT+WJOIN`: associate; long timeout.
#[derive(Debug, Clone, Copy)]
pub struct Join;

impl Command for Join {
    type Output = JoinOutcome;
    fn line(&self) -> Result<String, Error> {
        Ok("AT+WJOIN".into())
    }
    fn timeout(&self, timeouts: &Timeouts) -> Duration {
        timeouts.join
    }
    fn parse(&self, reply: &Reply) -> Result<JoinOutcome, ParseFail> {
        if let Some(mode) = reply
            .lines
            .iter()
            .find_map(|l| l.trim().strip_prefix("Already Associated"))
        {
            return Ok(JoinOutcome::AlreadyAssociated(
                mode.trim().trim_start_matches(':').trim().to_owned(),
            ));
        }
        let (ip, gateway) = reply
            .events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::LinkUp { ip, gateway } => Some((*ip, *gateway)),
                _ => None,
            })
            .unwrap_or((None, None));
        Ok(JoinOutcome::Joined { ip, gateway })
    }
}

/// `AT+WLEAVE`: leave the AP (`[Link-Down Event]` comes as an event).
#[derive(Debug, Clone, Copy)]
pub struct Leave;

impl Command for Leave {
    type Output = ();
    fn line(&self) -> Result<String, Error> {
        Ok("AT+WLEAVE".into())
    }
    fn parse(&self, _: &Reply) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// One row of AT+WSTAT:
/// `IF/SSID/IP-Addr/Gateway/MAC/TxPower(dBm)/RSSI(-dBm)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceStatus {
    /// `STA` or `AP`.
    pub interface: String,
    /// SSID (may itself hold `/`).
    pub ssid: String,
    /// Own address (`None` when not a valid address).
    pub ip: Option<Ipv4Addr>,
    /// Gateway.
    pub gateway: Option<Ipv4Addr>,
    /// Own MAC.
    pub mac: Option<MacAddress>,
    /// Transmit power in dBm.
    pub tx_power_dbm: Option<i32>,
    /// Received signal strength in dBm, always ≤ 0 (the column is titled
    /// `-dBm`, so a positive number is read as its negative).
    pub rssi_dbm: Option<i32>,
}

/// AT+WSTAT's answer: one row per active interface; none when not joined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WifiStatus {
    /// The rows.
    pub interfaces: Vec<InterfaceStatus>,
}

impl WifiStatus {
    /// The station row, if joined.
    pub fn station(&self) -> Option<&InterfaceStatus> {
        self.interfaces.iter().find(|i| i.interface == "STA")
    }
}

/// `AT+WSTAT`: current Wi-Fi status.
#[derive(Debug, Clone, Copy)]
pub struct GetWifiStatus;

impl Command for GetWifiStatus {
    type Output = WifiStatus;
    fn line(&self) -> Result<String, Error> {
        Ok("AT+WSTAT".into())
    }
    fn parse(&self, reply: &Reply) -> Result<WifiStatus, ParseFail> {
        let mut status = WifiStatus::default();
        for line in reply.lines.iter().map(|l| l.trim()) {
            if line.is_empty() || line.starts_with("IF/") {
                continue;
            }
            let fields: Vec<&str> = line.split('/').collect();
            if fields.len() < 7 {
                return Err(ParseFail::new(line, "IF/SSID/IP/Gateway/MAC/TxPower/RSSI"));
            }
            let n = fields.len();
            let number = |s: &str| s.trim().parse::<i32>().ok();
            status.interfaces.push(InterfaceStatus {
                interface: fields[0].trim().to_owned(),
                ssid: fields[1..n - 5].join("/"),
                ip: fields[n - 5].trim().parse().ok(),
                gateway: fields[n - 4].trim().parse().ok(),
                mac: fields[n - 3].parse().ok(),
                tx_power_dbm: number(fields[n - 2]),
                rssi_dbm: number(fields[n - 1]).map(|r| -r.abs()),
            });
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wset_omits_unused_trailing_fields() {
        let mut set = WifiSet {
            mode: WifiMode::Station,
            ssid: "WizFiAP".into(),
            bssid: None,
            channel: None,
        };
        assert_eq!(set.line().unwrap(), "AT+WSET=0,WizFiAP");
        set.channel = Some(1);
        assert_eq!(set.line().unwrap(), "AT+WSET=0,WizFiAP,,1");
        set.ssid = "a,b".into();
        assert!(set.line().is_err());
    }

    #[test]
    fn wsec_masks_the_key() {
        let sec = WifiSecurity {
            mode: WifiMode::Station,
            security: Security::Auto,
            key: "12345678".into(),
        };
        assert_eq!(sec.line().unwrap(), "AT+WSEC=0,,12345678");
        assert_eq!(sec.shown(), "AT+WSEC=0,,****");
    }

    #[test]
    fn wstat_rows_are_read() {
        let status = GetWifiStatus
            .parse(&Reply::of_lines(&[
                "IF/SSID/IP-Addr/Gateway/MAC/TxPower(dBm)/RSSI(-dBm)",
                "STA/my/net/192.168.1.4/192.168.1.1/00:08:DC:1E:32:22/15/-61",
            ]))
            .unwrap();
        let sta = status.station().unwrap();
        assert_eq!(sta.ssid, "my/net");
        assert_eq!(sta.ip, Some(Ipv4Addr::new(192, 168, 1, 4)));
        assert_eq!(sta.rssi_dbm, Some(-61));
        assert_eq!(sta.tx_power_dbm, Some(15));
        let none = GetWifiStatus
            .parse(&Reply::of_lines(&[
                "IF/SSID/IP-Addr/Gateway/MAC/TxPower(dBm)/RSSI(-dBm)",
            ]))
            .unwrap();
        assert!(none.station().is_none());
    }

    #[test]
    fn wjoin_reads_already_associated() {
        assert_eq!(
            Join.parse(&Reply::of_lines(&["Already Associated : STA"]))
                .unwrap(),
            JoinOutcome::AlreadyAssociated("STA".into())
        );
    }
}
