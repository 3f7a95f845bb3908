//! GMMP commands of the module: AT+GMMPSET, AT+GMMPDATA, AT+GMMPOPT, and
//! the printing of what the GMMP client reports.
//!
//! The client itself runs in the IO shell (module `gmmp_client`); the
//! interpreter only validates commands, hands them over as
//! [`GmmpCommand`]s and prints the client's [`GmmpLine`]s:
//! events (`[GMMP Connect]`) like any event; `<OMP><Marker:…>` lines only at
//! AT+MMSG=3 with the event log on (AT+GMMPOPT=10,1,1,x); `GMMP Trace :`
//! and the other debug lines only at AT+MMSG=3 with debug on
//! (AT+GMMPOPT=10,1,x,1). Both flags are off after power-up.
//!
//! AT+GMMPDATA's data is what follows `AT+GMMPDATA=<0|1>,` on the line,
//! byte for byte. The firmware copies it (`strcpy`) into its 256-byte
//! message buffer `g_pszMessage`, which the 255-byte command buffer
//! (`COMMAND_BUFFER`) can never overrun: data holds at most 241 bytes
//! (255 − `AT+GMMPDATA=1,`), ends at the line's first NUL and never
//! reaches GMMP's 2048-byte part size, so the module's deliveries are
//! never split.

use std::net::Ipv4Addr;

use bytes::Bytes;

use super::params::{field, flag, ipv4, number};
use super::{Action, AtError, CommandLine, CommandResult, Interpreter, Outcome};

/// The OMP and identities given by AT+GMMPSET=1,….
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GmmpServer {
    /// OMP address.
    pub ip: Ipv4Addr,
    /// OMP port.
    pub port: u16,
    /// Domain code (service name), at most 10 characters.
    pub domain: String,
    /// Auth ID (the MAC as 12 hex digits on the real module).
    pub auth_id: String,
    /// Manufacture id used for GW registration (6th parameter).
    pub gw_manufacture_id: String,
    /// Manufacture id used for device registration (7th parameter).
    pub device_manufacture_id: String,
}

/// What the interpreter asks of the GMMP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GmmpCommand {
    /// (Re)start: connect, register, then report.
    Start(GmmpServer),
    /// Stop and close the connection.
    Stop,
    /// AT+GMMPDATA=0: data for every report period.
    StoreData(Bytes),
    /// AT+GMMPDATA=1: deliver this now.
    SendNow(Bytes),
    /// AT+GMMPOPT=11: heartbeat period in minutes (0 = off).
    HeartbeatPeriod(u32),
    /// AT+GMMPOPT=12: report period in minutes (0 = off).
    ReportPeriod(u32),
}

/// A line the GMMP client wants printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GmmpLine {
    /// An event such as `[GMMP Connect]`.
    Event(String),
    /// A `<OMP><Marker:…>` event-log line.
    Marker(String),
    /// A debug line (`GMMP Trace :  …`, `GmmpRecvThread : …`).
    Debug(String),
}

/// AT+GMMPOPT settings as the module keeps them.
#[derive(Debug, Clone, Default)]
pub(crate) struct GmmpSettings {
    event_log: bool,
    debug: bool,
    heartbeat_period: u32,
    report_period: u32,
    started: bool,
}

fn bounded(text: &str, max: usize) -> Result<String, AtError> {
    if text.is_empty() || text.len() > max {
        Err(AtError::InvalidInput)
    } else {
        Ok(text.to_string())
    }
}

impl Interpreter {
    pub(super) fn cmd_gmmpset(&mut self, cmd: &CommandLine) -> CommandResult {
        let fields = cmd.fields()?;
        match field(&fields, 0) {
            "0" if fields.len() == 1 => {
                self.gmmp.started = false;
                self.actions.push(Action::Gmmp(GmmpCommand::Stop));
                Ok(Outcome::Ok)
            }
            "1" if fields.len() == 7 => {
                let server = GmmpServer {
                    ip: ipv4(fields[1])?,
                    port: number(fields[2], 1..=65535)?,
                    domain: bounded(fields[3], 10)?,
                    auth_id: bounded(fields[4], 16)?,
                    gw_manufacture_id: bounded(fields[5], 16)?,
                    device_manufacture_id: bounded(fields[6], 16)?,
                };
                if !self.joined() {
                    return Err(AtError::WifiStatus);
                }
                if self.gmmp.debug {
                    let text = format!(
                        "GMMPStartService : {}, {}, {}, {}, {}, {}, 1",
                        server.ip,
                        server.port,
                        server.domain,
                        server.auth_id,
                        server.gw_manufacture_id,
                        server.device_manufacture_id
                    );
                    self.debug(&text);
                    self.debug("GMMPStartService : GMMP Thread is running");
                }
                self.gmmp.started = true;
                self.actions.push(Action::Gmmp(GmmpCommand::Start(server)));
                Ok(Outcome::Ok)
            }
            _ => Err(AtError::InvalidInput),
        }
    }

    pub(super) fn cmd_gmmpdata(&mut self, cmd: &CommandLine) -> CommandResult {
        let params = cmd.raw_params().ok_or(AtError::InvalidInput)?;
        let comma = params
            .iter()
            .position(|&b| b == b',')
            .ok_or(AtError::InvalidInput)?;
        let (option, data) = (&params[..comma], &params[comma + 1..]);
        if data.is_empty() {
            return Err(AtError::InvalidInput);
        }
        let data = Bytes::copy_from_slice(data);
        let send_now = match option {
            b"0" => false,
            b"1" => true,
            _ => return Err(AtError::InvalidInput),
        };
        let command = if send_now {
            if !self.gmmp.started {
                return Err(AtError::Failed);
            }
            GmmpCommand::SendNow(data)
        } else {
            GmmpCommand::StoreData(data)
        };
        self.actions.push(Action::Gmmp(command));
        Ok(Outcome::Ok)
    }

    pub(super) fn cmd_gmmpopt(&mut self, cmd: &CommandLine) -> CommandResult {
        let fields = cmd.fields()?;
        match field(&fields, 0) {
            "10" => match (field(&fields, 1), fields.len()) {
                ("0", 2) => {
                    let text = format!(
                        "{},{}",
                        u8::from(self.gmmp.event_log),
                        u8::from(self.gmmp.debug)
                    );
                    self.line(&text);
                    Ok(Outcome::Ok)
                }
                ("1", 4) => {
                    self.gmmp.event_log = flag(fields[2])?;
                    self.gmmp.debug = flag(fields[3])?;
                    Ok(Outcome::Ok)
                }
                _ => Err(AtError::InvalidInput),
            },
            which @ ("11" | "12") => {
                let heartbeat = which == "11";
                if fields.len() == 1 {
                    let period = if heartbeat {
                        self.gmmp.heartbeat_period
                    } else {
                        self.gmmp.report_period
                    };
                    self.line(&period.to_string());
                    return Ok(Outcome::Ok);
                }
                if fields.len() != 2 {
                    return Err(AtError::InvalidInput);
                }
                let period: u32 = number(fields[1], 0..=u32::MAX)?;
                let command = if heartbeat {
                    self.gmmp.heartbeat_period = period;
                    GmmpCommand::HeartbeatPeriod(period)
                } else {
                    self.gmmp.report_period = period;
                    GmmpCommand::ReportPeriod(period)
                };
                self.actions.push(Action::Gmmp(command));
                Ok(Outcome::Ok)
            }
            _ => Err(AtError::InvalidInput),
        }
    }

    pub(super) fn on_gmmp_line(&mut self, line: GmmpLine) {
        match line {
            GmmpLine::Event(text) => self.event(&text, &[]),
            GmmpLine::Marker(text) if self.gmmp.event_log => self.debug(&text),
            GmmpLine::Debug(text) if self.gmmp.debug => self.debug(&text),
            _ => {}
        }
    }
}
