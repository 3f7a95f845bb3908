//! AT+GMMPSET, AT+GMMPDATA, AT+GMMPOPT: the firmware's own GMMP client.
//! Their progress comes as events (`[GMMP Connect]`, trace lines).

use super::{Command, ParseFail, Reply, field};
use crate::wizfi310::error::Error;

/// `AT+GMMPSET=1,<ip>,<port>,<domain>,<auth id>,<manufacture id>,<device id>`
/// or `AT+GMMPSET=0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GmmpSet {
    /// Start the client (registration, then deliveries).
    Start {
        /// OMP address.
        ip: String,
        /// OMP port.
        port: u16,
        /// Domain code.
        domain: String,
        /// Auth ID (the MAC, `0008dc1e3222`).
        auth_id: String,
        /// Manufacture ID (used for GW registration).
        manufacture_id: String,
        /// Device ID (used as the device registration's manufacture id).
        device_id: String,
    },
    /// Stop the client and close its connection.
    Stop,
}

impl Command for GmmpSet {
    type Output = ();
    fn line(&self) -> Result<String, Error> {
        match self {
            GmmpSet::Stop => Ok("AT+GMMPSET=0".into()),
            GmmpSet::Start {
                ip,
                port,
                domain,
                auth_id,
                manufacture_id,
                device_id,
            } => {
                let f = |name, v| field("AT+GMMPSET", name, v, false);
                Ok(format!(
                    "AT+GMMPSET=1,{},{port},{},{},{},{}",
                    f("IP", ip)?,
                    f("domain code", domain)?,
                    f("auth ID", auth_id)?,
                    f("manufacture ID", manufacture_id)?,
                    f("device ID", device_id)?
                ))
            }
        }
    }
    fn parse(&self, _: &Reply) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// The firmware's command line keeps 255 bytes and silently drops the
/// rest (docs/wizfi310.md §4).
pub const MAX_COMMAND_LINE: usize = 255;

/// The most text one `AT+GMMPDATA=1,…` line can carry: the line less its
/// 14-byte prefix. Longer text would reach the OMP cut short.
pub const MAX_GMMP_DATA: usize = MAX_COMMAND_LINE - "AT+GMMPDATA=1,".len();

/// `AT+GMMPDATA=<0|1>,<data>`: 0 stores the text for each report period,
/// 1 sends it at once. The text is the last field, so commas pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmmpData {
    /// Send at once (`1`) or store for the period (`0`).
    pub send_now: bool,
    /// The report body.
    pub data: String,
}

impl Command for GmmpData {
    type Output = ();
    fn line(&self) -> Result<String, Error> {
        let data = field("AT+GMMPDATA", "data", &self.data, true)?;
        Ok(format!("AT+GMMPDATA={},{data}", u8::from(self.send_now)))
    }
    fn parse(&self, _: &Reply) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// `AT+GMMPOPT=<option>,…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GmmpOpt {
    /// `10,1,<event log>,<debug>`: print event logs / debug (trace) lines.
    Logging {
        /// Print event logs.
        events: bool,
        /// Print debug messages.
        debug: bool,
    },
    /// `11,<minutes>`: heartbeat period.
    HeartbeatPeriod(u16),
    /// `12,<minutes>`: report period.
    ReportPeriod(u16),
}

impl Command for GmmpOpt {
    type Output = ();
    fn line(&self) -> Result<String, Error> {
        Ok(match *self {
            GmmpOpt::Logging { events, debug } => {
                format!("AT+GMMPOPT=10,1,{},{}", u8::from(events), u8::from(debug))
            }
            GmmpOpt::HeartbeatPeriod(min) => format!("AT+GMMPOPT=11,{min}"),
            GmmpOpt::ReportPeriod(min) => format!("AT+GMMPOPT=12,{min}"),
        })
    }
    fn parse(&self, _: &Reply) -> Result<(), ParseFail> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmmp_lines() {
        let set = GmmpSet::Start {
            ip: "61.250.21.211".into(),
            port: 31002,
            domain: "ThingPlug".into(),
            auth_id: "0008dc1e3222".into(),
            manufacture_id: "WIZnet".into(),
            device_id: "0008dc1e3222".into(),
        };
        assert_eq!(
            set.line().unwrap(),
            "AT+GMMPSET=1,61.250.21.211,31002,ThingPlug,0008dc1e3222,WIZnet,0008dc1e3222"
        );
        let data = GmmpData {
            send_now: true,
            data: "a,b".into(),
        };
        assert_eq!(data.line().unwrap(), "AT+GMMPDATA=1,a,b");
        assert!(
            GmmpData {
                send_now: true,
                data: "a\rAT".into()
            }
            .line()
            .is_err()
        );
        assert_eq!(
            GmmpOpt::Logging {
                events: true,
                debug: true
            }
            .line()
            .unwrap(),
            "AT+GMMPOPT=10,1,1,1"
        );
    }
}
