//! Wi-Fi commands: AT+WSET, AT+WSEC, AT+WNET, AT+WJOIN, AT+WLEAVE, AT+WSTAT.
//!
//! The emulated air has one AP, `SimConfig::ssid` / `passphrase`. AT+WJOIN
//! in station mode succeeds when AT+WSET's SSID and AT+WSEC's key match it
//! (an empty passphrase means an open AP: any security type joins); in AP
//! mode it always succeeds with the module at 192.168.12.1. The join prints
//! (docs/wizfi310.md §2's example, with the event framed as AT+MEVTFORM shows it):
//!
//! ```text
//! Joining : testnet\r\n
//! Successfully joined : testnet\r\n
//! \r\n[Link-Up Event]\r\n
//!   IP Addr    : 192.168.1.4\r\n
//!   Gateway    : 192.168.1.1\r\n
//! [OK]\r\n
//! ```
//! A failed join prints `Joining : <ssid>` then `[ERROR]`; every station
//! join fails while the AP is off the air (`SimControl::set_access_point`).

use std::net::Ipv4Addr;
use std::time::Instant;

use super::params::{at_most, field, flag, ipv4, number};
use super::{AtError, Busy, CommandLine, CommandResult, Interpreter, Outcome, Timer};

/// A joined link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) ip: Ipv4Addr,
    pub(crate) gateway: Ipv4Addr,
}

/// Wi-Fi settings (kept in flash) and the link.
#[derive(Debug, Clone, Default)]
pub(crate) struct WifiState {
    mode: u8,
    ssid: String,
    bssid: String,
    channel: String,
    sec_mode: u8,
    sec_type: String,
    key: String,
    dhcp: bool,
    ip: String,
    netmask: String,
    gateway: String,
    pub(crate) link: Option<Link>,
}

const SEC_TYPES: [&str; 8] = [
    "", "OPEN", "WEP", "WPA", "WPAAES", "WPA2AES", "WPA2TKIP", "WPA2",
];

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn key_is_valid(sec_type: &str, key: &str) -> bool {
    match sec_type {
        "OPEN" => true,
        "WEP" => match key.len() {
            5 | 13 => true,
            10 | 26 => is_hex(key),
            _ => false,
        },
        _ => (8..=63).contains(&key.len()) || (key.len() == 64 && is_hex(key)),
    }
}

impl Interpreter {
    pub(crate) fn joined(&self) -> bool {
        self.wifi.link.is_some()
    }

    pub(super) fn cmd_wset(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.is_query() {
            let w = &self.wifi;
            let text = format!("{},{},{},{}", w.mode, w.ssid, w.bssid, w.channel);
            self.line(&text);
            return Ok(Outcome::Ok);
        }
        let fields = cmd.fields()?;
        at_most(&fields, 4)?;
        let mode: u8 = number(field(&fields, 0), 0..=1)?;
        let ssid = field(&fields, 1);
        if ssid.is_empty() || ssid.len() > 32 {
            return Err(AtError::InvalidInput);
        }
        let bssid = field(&fields, 2);
        if !bssid.is_empty() && super::params::mac(bssid).is_err() {
            return Err(AtError::InvalidInput);
        }
        let channel = field(&fields, 3);
        if !channel.is_empty() {
            number::<u8>(channel, 1..=165)?;
        }
        self.wifi.mode = mode;
        self.wifi.ssid = ssid.into();
        self.wifi.bssid = bssid.into();
        self.wifi.channel = channel.into();
        Ok(Outcome::Ok)
    }

    pub(super) fn cmd_wsec(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.is_query() {
            let w = &self.wifi;
            let text = format!("{},{},{}", w.sec_mode, w.sec_type, w.key);
            self.line(&text);
            return Ok(Outcome::Ok);
        }
        let fields = cmd.fields()?;
        at_most(&fields, 3)?;
        let mode: u8 = number(field(&fields, 0), 0..=1)?;
        let sec_type = field(&fields, 1).to_ascii_uppercase();
        if !SEC_TYPES.contains(&sec_type.as_str()) || (mode == 1 && sec_type == "WEP") {
            return Err(AtError::InvalidInput);
        }
        let key = field(&fields, 2);
        if !key_is_valid(&sec_type, key) {
            return Err(AtError::InvalidInput);
        }
        self.wifi.sec_mode = mode;
        self.wifi.sec_type = sec_type;
        self.wifi.key = key.into();
        Ok(Outcome::Ok)
    }

    pub(super) fn cmd_wnet(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.is_query() {
            let w = &self.wifi;
            let text = format!("{},{},{},{}", u8::from(w.dhcp), w.ip, w.netmask, w.gateway);
            self.line(&text);
            return Ok(Outcome::Ok);
        }
        let fields = cmd.fields()?;
        at_most(&fields, 4)?;
        let dhcp = match field(&fields, 0) {
            "" => self.wifi.dhcp,
            other => flag(other)?,
        };
        let mut addrs = [String::new(), String::new(), String::new()];
        for (i, slot) in addrs.iter_mut().enumerate() {
            let text = field(&fields, i + 1);
            if !text.is_empty() {
                ipv4(text)?;
            }
            *slot = text.to_string();
        }
        if !dhcp && addrs[0].is_empty() && self.wifi.ip.is_empty() {
            return Err(AtError::InvalidInput);
        }
        self.wifi.dhcp = dhcp;
        let [ip, netmask, gateway] = addrs;
        for (slot, value) in [
            (&mut self.wifi.ip, ip),
            (&mut self.wifi.netmask, netmask),
            (&mut self.wifi.gateway, gateway),
        ] {
            if !value.is_empty() {
                *slot = value;
            }
        }
        Ok(Outcome::Ok)
    }

    pub(super) fn cmd_wjoin(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.params.is_some() {
            return Err(AtError::InvalidInput);
        }
        if self.joined() {
            let mode = if self.wifi.mode == 1 { "AP" } else { "STA" };
            self.line(&format!("Already Associated : {mode}"));
            return Ok(Outcome::Ok);
        }
        if self.wifi.ssid.is_empty() {
            return Err(AtError::Failed);
        }
        let ssid = self.wifi.ssid.clone();
        self.line(&format!("Joining : {ssid}"));
        let token = self.token();
        self.busy = Some(Busy::Joining(token));
        self.schedule(self.config.join_delay, Timer::Join(token));
        Ok(Outcome::Pending)
    }

    fn credentials_match(&self) -> bool {
        let w = &self.wifi;
        if w.ssid != self.config.ssid || !self.board.with(|v| v.ap_on_air) {
            return false;
        }
        if self.config.passphrase.is_empty() {
            return true;
        }
        w.sec_type != "OPEN" && w.key == self.config.passphrase
    }

    /// The join timer ran out: link up or `[ERROR]`.
    pub(super) fn finish_join(&mut self) {
        let link = if self.wifi.mode == 1 {
            let ip = Ipv4Addr::new(192, 168, 12, 1);
            Some(Link { ip, gateway: ip })
        } else if self.credentials_match() {
            let ip = if self.wifi.dhcp || self.wifi.ip.is_empty() {
                self.config.dhcp_ip
            } else {
                self.wifi.ip.parse().unwrap_or(self.config.dhcp_ip)
            };
            Some(Link {
                ip,
                gateway: self.config.gateway,
            })
        } else {
            None
        };
        let Some(link) = link else {
            self.error(AtError::Failed);
            return;
        };
        if self.wifi.mode == 0 {
            let ssid = self.wifi.ssid.clone();
            self.line(&format!("Successfully joined : {ssid}"));
        }
        self.wifi.link = Some(link);
        self.event(
            "[Link-Up Event]",
            &[
                format!("  IP Addr    : {}", link.ip),
                format!("  Gateway    : {}", link.gateway),
            ],
        );
        self.ok();
        self.open_service();
    }

    pub(super) fn cmd_wleave(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.params.is_some() {
            return Err(AtError::InvalidInput);
        }
        if !self.joined() {
            return Err(AtError::WifiStatus);
        }
        self.wifi.link = None;
        self.close_all_sockets();
        self.event("[Link-Down Event]", &[]);
        Ok(Outcome::Ok)
    }

    /// The AP went away (fault): `[Link-Down Event]`, then every socket closes.
    pub(super) fn link_down(&mut self, now: Instant) {
        if !self.joined() {
            return;
        }
        self.wifi.link = None;
        self.event("[Link-Down Event]", &[]);
        self.close_all_sockets();
        if let Some(Busy::Connecting(_)) = self.busy {
            self.error(AtError::Failed);
            self.end_busy(now);
        }
    }

    pub(super) fn cmd_wstat(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.params.is_some() {
            return Err(AtError::InvalidInput);
        }
        self.line("IF/SSID/IP-Addr/Gateway/MAC/TxPower(dBm)/RSSI(-dBm)");
        if let Some(link) = self.wifi.link {
            let (rssi, mac) = self.board.with(|v| (v.rssi, v.mac));
            let mode = if self.wifi.mode == 1 { "AP" } else { "STA" };
            let text = format!(
                "{mode}/{}/{}/{}/{}/15/{rssi}",
                self.wifi.ssid,
                link.ip,
                link.gateway,
                super::params::format_mac(&mac)
            );
            self.line(&text);
        }
        Ok(Outcome::Ok)
    }
}
