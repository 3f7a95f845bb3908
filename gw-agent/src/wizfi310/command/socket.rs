//! AT+SCON, AT+SMGMT, AT+SFORM=?.

use std::time::Duration;

use super::{Command, ParseFail, Reply, field, single_line};
use crate::wizfi310::config::Timeouts;
use crate::wizfi310::error::Error;
use crate::wizfi310::events::Event;
use crate::wizfi310::socket_data::SformSetting;

/// AT+SCON `<OpenType>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenType {
    /// `O`: open at once.
    Once,
    /// `S`: register as a service (opened on join).
    Service,
    /// `SO`: both.
    OnceAndService,
}

/// AT+SCON `<SocketType>` (also the `Mode` column of AT+SMGMT=?).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketType {
    /// `TSN`: TCP server.
    TcpServer,
    /// `TCN`: TCP client.
    TcpClient,
    /// `TCS`: TCP client over SSL.
    TcpClientSecure,
    /// `USN`: UDP server.
    UdpServer,
    /// `UCN`: UDP client.
    UdpClient,
}

impl SocketType {
    /// The module's word.
    pub fn word(self) -> &'static str {
        match self {
            SocketType::TcpServer => "TSN",
            SocketType::TcpClient => "TCN",
            SocketType::TcpClientSecure => "TCS",
            SocketType::UdpServer => "USN",
            SocketType::UdpClient => "UCN",
        }
    }

    /// Reads the module's word.
    pub fn from_word(word: &str) -> Option<Self> {
        [
            SocketType::TcpServer,
            SocketType::TcpClient,
            SocketType::TcpClientSecure,
            SocketType::UdpServer,
            SocketType::UdpClient,
        ]
        .into_iter()
        .find(|t| t.word().eq_ignore_ascii_case(word.trim()))
    }
}

/// `AT+SCON=<OpenType>,<SocketType>,<RemoteIP>,<RemotePort>,<LocalPort>,<DataMode>`.
#[derive(Debug, Clone)]
pub struct SocketOpen {
    /// When to open.
    pub open: OpenType,
    /// Protocol and role.
    pub kind: SocketType,
    /// Peer address (clients), as text: the module also takes names.
    pub remote_ip: Option<String>,
    /// Peer port (clients).
    pub remote_port: Option<u16>,
    /// Local port; 0 picks one for clients.
    pub local_port: u16,
    /// Open in data mode (`1`): after `[OK]` the line carries raw payload.
    pub data_mode: bool,
}

impl SocketOpen {
    /// A TCP client opened at once, in command mode.
    pub fn tcp_client(remote_ip: impl Into<String>, remote_port: u16) -> Self {
        SocketOpen {
            open: OpenType::Once,
            kind: SocketType::TcpClient,
            remote_ip: Some(remote_ip.into()),
            remote_port: Some(remote_port),
            local_port: 0,
            data_mode: false,
        }
    }

    /// Whether the module should report `[CONNECT x]` for this open.
    pub(crate) fn expects_connect(&self) -> bool {
        self.open != OpenType::Service
            && matches!(
                self.kind,
                SocketType::TcpClient | SocketType::TcpClientSecure
            )
    }
}

impl Command for SocketOpen {
    /// The socket id from `[CONNECT x]` when it came during the exchange.
    type Output = Option<u8>;
    fn line(&self) -> Result<String, Error> {
        let open = match self.open {
            OpenType::Once => "O",
            OpenType::Service => "S",
            OpenType::OnceAndService => "SO",
        };
        let ip = field(
            "AT+SCON",
            "remote IP",
            self.remote_ip.as_deref().unwrap_or(""),
            false,
        )?;
        let port = self.remote_port.map(|p| p.to_string()).unwrap_or_default();
        Ok(format!(
            "AT+SCON={open},{},{ip},{port},{},{}",
            self.kind.word(),
            self.local_port,
            u8::from(self.data_mode)
        ))
    }
    fn timeout(&self, timeouts: &Timeouts) -> Duration {
        timeouts.connect
    }
    fn parse(&self, reply: &Reply) -> Result<Option<u8>, ParseFail> {
        Ok(reply.events.iter().find_map(|e| match e {
            Event::Connect { sid } => Some(*sid),
            _ => None,
        }))
    }
}

/// `AT+SMGMT=<sid>` / `AT+SMGMT=ALL`: close sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketClose {
    /// One socket.
    One(u8),
    /// Every open socket.
    All,
}

impl Command for SocketClose {
    type Output = ();
    fn line(&self) -> Result<String, Error> {
        Ok(match self {
            SocketClose::One(sid) => format!("AT+SMGMT={sid}"),
            SocketClose::All => "AT+SMGMT=ALL".into(),
        })
    }
    fn parse(&self, _: &Reply) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// One row of AT+SMGMT=?:
/// `<SocketID>,<SocketAddr>,<SocketType>,<RemoteIP>,<RemotePort>,<LocalPort>,<DataMode>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    /// Socket id.
    pub sid: u8,
    /// The module's internal socket handle, as printed.
    pub handle: String,
    /// Protocol and role.
    pub kind: SocketType,
    /// Peer address as printed.
    pub remote_ip: String,
    /// Peer port.
    pub remote_port: u16,
    /// Local port.
    pub local_port: u16,
    /// Whether it is the data-mode socket.
    pub data_mode: bool,
}

/// `AT+SMGMT=?`: the open sockets.
#[derive(Debug, Clone, Copy)]
pub struct ListSockets;

impl Command for ListSockets {
    type Output = Vec<SocketInfo>;
    fn line(&self) -> Result<String, Error> {
        Ok("AT+SMGMT=?".into())
    }
    fn parse(&self, reply: &Reply) -> Result<Vec<SocketInfo>, ParseFail> {
        let mut sockets = Vec::new();
        for line in reply.lines.iter().map(|l| l.trim()) {
            if line.is_empty() || line.starts_with("Number of Sockets") {
                continue;
            }
            let fail = || {
                ParseFail::new(
                    line,
                    "SCID,Socket,Mode,RemoteIP,RemotePort,LocalPort,DataMode",
                )
            };
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [sid, handle, kind, ip, rport, lport, dm] = fields.as_slice() else {
                return Err(fail());
            };
            sockets.push(SocketInfo {
                sid: sid.parse().map_err(|_| fail())?,
                handle: handle.to_string(),
                kind: SocketType::from_word(kind).ok_or_else(fail)?,
                remote_ip: ip.to_string(),
                remote_port: rport.parse().unwrap_or(0),
                local_port: lport.parse().map_err(|_| fail())?,
                data_mode: *dm == "1",
            });
        }
        Ok(sockets)
    }
}

/// `AT+SFORM=?`: the receive header form.
#[derive(Debug, Clone, Copy)]
pub struct GetDataForm;

impl Command for GetDataForm {
    type Output = SformSetting;
    fn line(&self) -> Result<String, Error> {
        Ok("AT+SFORM=?".into())
    }
    fn parse(&self, reply: &Reply) -> Result<SformSetting, ParseFail> {
        let line = single_line(reply, "`<Format>,<Start>,<Delim>,<End>,<Cls1>,<Cls2>`")?;
        SformSetting::parse(line)
            .ok_or_else(|| ParseFail::new(line, "`<Format>,<Start>,<Delim>,<End>,<Cls1>,<Cls2>`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scon_line_for_a_tcp_client() {
        let open = SocketOpen::tcp_client("127.0.0.1", 5000);
        assert_eq!(open.line().unwrap(), "AT+SCON=O,TCN,127.0.0.1,5000,0,0");
        assert!(open.expects_connect());
    }

    #[test]
    fn smgmt_rows_are_read() {
        let reply = Reply::of_lines(&[
            "Number of Sockets : 1 (SCID/Socket/Mode/Remote/Local/DataMode)",
            "0,1,TCN,127.0.0.1,5000,40000,0",
        ]);
        let sockets = ListSockets.parse(&reply).unwrap();
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets[0].kind, SocketType::TcpClient);
        assert_eq!(sockets[0].local_port, 40000);
        assert!(!sockets[0].data_mode);
    }
}
