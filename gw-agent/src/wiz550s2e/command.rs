//! Typed AT commands of the WIZ550S2E: each knows its line, whether the
//! module answers it at once (`[S…]`) or in two steps (`[W,<sock>]`, then
//! `[S,<sock>]`), its timeout, and how to read the answer.
//!
//! AT+NSEND is not here: it writes a payload in the middle of its exchange
//! and lives in the driver ([`super::Driver::send`]).

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;

use super::timeouts::Timeouts;
use crate::wizfi310::MacAddress;
use crate::wizfi310::command::ParseFail;

/// What a command's success carried: the arguments of its final `[S…]`
/// (the id removed), or the bytes of its `[D…]` dump.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// Arguments of `[S,<id>,<a1>,…]`.
    pub args: Vec<String>,
    /// The dump, for commands answered with `[D,…]`.
    pub dump: Option<Bytes>,
}

impl Answer {
    /// An answer of these arguments.
    pub fn of_args(args: &[&str]) -> Answer {
        Answer {
            args: args.iter().map(|a| a.to_string()).collect(),
            dump: None,
        }
    }

    fn arg(&self, i: usize, what: &'static str) -> Result<&str, ParseFail> {
        self.args
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| ParseFail::new(&self.args.join(","), what))
    }
}

/// How the module answers a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answering {
    /// `[S…]`, `[D…]` or `[F…]` at once.
    AtOnce,
    /// `[W,<sock>]` at once, then `[S,<sock>]` or `[F,<sock>,<code>]`.
    Later,
}

/// One AT command.
pub trait Command {
    /// What a success gives.
    type Output;
    /// The line to send (without its CR LF).
    fn line(&self) -> String;
    /// How the module answers.
    fn answering(&self) -> Answering {
        Answering::AtOnce
    }
    /// How long to wait for the (final) answer.
    fn timeout(&self, timeouts: &Timeouts) -> Duration {
        timeouts.command
    }
    /// Reads the success.
    fn parse(&self, answer: &Answer) -> Result<Self::Output, ParseFail>;
}

/// `AT`: is the module there and in command mode? `[S]`.
#[derive(Debug, Clone, Copy)]
pub struct At;

impl Command for At {
    type Output = ();
    fn line(&self) -> String {
        "AT".into()
    }
    fn parse(&self, _: &Answer) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// `AT+NMAC?`: the module's MAC, `[S,,00:08:dc:1d:bb:8a]`.
#[derive(Debug, Clone, Copy)]
pub struct GetMac;

impl Command for GetMac {
    type Output = MacAddress;
    fn line(&self) -> String {
        "AT+NMAC?".into()
    }
    fn parse(&self, answer: &Answer) -> Result<MacAddress, ParseFail> {
        MacAddress::from_str(answer.arg(0, "a MAC address")?)
    }
}

/// `AT+MSTAT`: the firmware version, `[S,,1.3.1]`.
#[derive(Debug, Clone, Copy)]
pub struct FirmwareVersion;

impl Command for FirmwareVersion {
    type Output = String;
    fn line(&self) -> String {
        "AT+MSTAT".into()
    }
    fn parse(&self, answer: &Answer) -> Result<String, ParseFail> {
        let version = answer.arg(0, "a firmware version")?;
        if version.is_empty() {
            return Err(ParseFail::new(version, "a firmware version"));
        }
        Ok(version.to_owned())
    }
}

/// The addresses in use, from AT+NSTAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetStatus {
    /// Addresses by DHCP (`D`) rather than static (`S`).
    pub dhcp: bool,
    /// The module's address (0.0.0.0 while it has none).
    pub ip: Ipv4Addr,
    /// Subnet mask.
    pub subnet: Ipv4Addr,
    /// Default gateway.
    pub gateway: Ipv4Addr,
    /// DNS server.
    pub dns: Ipv4Addr,
}

impl NetStatus {
    /// The module has an address to open sockets from.
    pub fn has_address(&self) -> bool {
        !self.ip.is_unspecified()
    }
}

/// `AT+NSTAT?`: the live addresses, `[S,,D,<ip>,<sn>,<gw>,<dns>]`.
#[derive(Debug, Clone, Copy)]
pub struct GetNetStatus;

impl Command for GetNetStatus {
    type Output = NetStatus;
    fn line(&self) -> String {
        "AT+NSTAT?".into()
    }
    fn parse(&self, answer: &Answer) -> Result<NetStatus, ParseFail> {
        let whole = answer.args.join(",");
        let fail = || ParseFail::new(&whole, "D|S and four IPv4 addresses");
        let dhcp = match answer.arg(0, "D|S and four IPv4 addresses")? {
            "D" => true,
            "S" => false,
            _ => return Err(fail()),
        };
        let addr = |i: usize| -> Result<Ipv4Addr, ParseFail> {
            answer
                .args
                .get(i)
                .and_then(|a| a.parse().ok())
                .ok_or_else(fail)
        };
        Ok(NetStatus {
            dhcp,
            ip: addr(1)?,
            subnet: addr(2)?,
            gateway: addr(3)?,
            dns: addr(4)?,
        })
    }
}

/// `AT+NOPEN=C,,<ip>,<port>`: a TCP client socket (id 0) from the
/// firmware's source-port counter. `[W,0]`, then `[S,0]` once connected or
/// `[F,0,8]` when the connect fails.
#[derive(Debug, Clone, Copy)]
pub struct OpenTcpClient {
    /// The server (the module takes dotted IPv4 only).
    pub ip: Ipv4Addr,
    /// Its port.
    pub port: u16,
}

impl Command for OpenTcpClient {
    type Output = ();
    fn line(&self) -> String {
        format!("AT+NOPEN=C,,{},{}", self.ip, self.port)
    }
    fn answering(&self) -> Answering {
        Answering::Later
    }
    fn timeout(&self, timeouts: &Timeouts) -> Duration {
        timeouts.connect
    }
    fn parse(&self, _: &Answer) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// `AT+NCLOSE=<sock>`: `[W,0]` then `[S,0]`; `[F,,11]` when closed already.
#[derive(Debug, Clone, Copy)]
pub struct CloseSocket(pub u8);

impl Command for CloseSocket {
    type Output = ();
    fn line(&self) -> String {
        format!("AT+NCLOSE={}", self.0)
    }
    fn answering(&self) -> Answering {
        Answering::Later
    }
    fn parse(&self, _: &Answer) -> Result<(), ParseFail> {
        Ok(())
    }
}

/// One socket as AT+NSOCK lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    /// The socket id.
    pub sock: u8,
    /// `C` (TCP client), `S` (server), `U` (UDP).
    pub kind: char,
    /// The source port.
    pub source_port: u16,
    /// The peer, once connected.
    pub peer: Option<(Ipv4Addr, u16)>,
    /// Unread data waits (`,R`).
    pub unread: bool,
}

/// `AT+NSOCK`: the open sockets, `[D,,<n>]` and one line each.
#[derive(Debug, Clone, Copy)]
pub struct ListSockets;

impl Command for ListSockets {
    type Output = Vec<SocketInfo>;
    fn line(&self) -> String {
        "AT+NSOCK".into()
    }
    fn parse(&self, answer: &Answer) -> Result<Vec<SocketInfo>, ParseFail> {
        let dump = answer
            .dump
            .as_ref()
            .ok_or_else(|| ParseFail::new(&answer.args.join(","), "a [D,,<n>] dump"))?;
        let text = String::from_utf8_lossy(dump);
        text.split(['\r', '\n'])
            .filter(|l| !l.is_empty())
            .map(parse_socket_line)
            .collect()
    }
}

fn parse_socket_line(line: &str) -> Result<SocketInfo, ParseFail> {
    let fail = || ParseFail::new(line, "<id>,<C|S|U>,<port>[,<ip>,<port>][,R]");
    let mut fields: Vec<&str> = line.split(',').collect();
    let unread = fields.last() == Some(&"R");
    if unread {
        fields.pop();
    }
    let sock = fields
        .first()
        .and_then(|f| f.parse().ok())
        .ok_or_else(fail)?;
    let kind = fields
        .get(1)
        .and_then(|f| f.chars().next())
        .ok_or_else(fail)?;
    let source_port = fields
        .get(2)
        .and_then(|f| f.parse().ok())
        .ok_or_else(fail)?;
    let peer = match (fields.get(3), fields.get(4)) {
        (Some(ip), Some(port)) if !ip.is_empty() => Some((
            ip.parse().map_err(|_| fail())?,
            port.parse().map_err(|_| fail())?,
        )),
        _ => None,
    };
    Ok(SocketInfo {
        sock,
        kind,
        source_port,
        peer,
        unread,
    })
}

/// `AT+MRST`: `[S]`, then the module reboots (into its boot mode: data
/// mode unless changed).
#[derive(Debug, Clone, Copy)]
pub struct Reset;

impl Command for Reset {
    type Output = ();
    fn line(&self) -> String {
        "AT+MRST".into()
    }
    fn parse(&self, _: &Answer) -> Result<(), ParseFail> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_the_module_takes_them() {
        assert_eq!(At.line(), "AT");
        assert_eq!(GetMac.line(), "AT+NMAC?");
        assert_eq!(FirmwareVersion.line(), "AT+MSTAT");
        assert_eq!(GetNetStatus.line(), "AT+NSTAT?");
        let open = OpenTcpClient {
            ip: Ipv4Addr::new(127, 0, 0, 1),
            port: 31002,
        };
        assert_eq!(open.line(), "AT+NOPEN=C,,127.0.0.1,31002");
        assert_eq!(open.answering(), Answering::Later);
        assert_eq!(
            open.timeout(&Timeouts::default()),
            Timeouts::default().connect
        );
        assert_eq!(CloseSocket(0).line(), "AT+NCLOSE=0");
        assert_eq!(CloseSocket(0).answering(), Answering::Later);
        assert_eq!(ListSockets.line(), "AT+NSOCK");
        assert_eq!(Reset.line(), "AT+MRST");
        assert_eq!(At.answering(), Answering::AtOnce);
    }

    #[test]
    fn mac_and_firmware_version() {
        let mac = GetMac
            .parse(&Answer::of_args(&["00:08:dc:1d:bb:8a"]))
            .unwrap();
        assert_eq!(mac.to_hex_lower(), "0008dc1dbb8a");
        assert!(GetMac.parse(&Answer::of_args(&[])).is_err());
        assert!(GetMac.parse(&Answer::of_args(&["00:08:dc"])).is_err());
        assert_eq!(
            FirmwareVersion.parse(&Answer::of_args(&["1.3.1"])).unwrap(),
            "1.3.1"
        );
        assert!(FirmwareVersion.parse(&Answer::of_args(&[""])).is_err());
    }

    #[test]
    fn net_status_and_the_link() {
        let s = GetNetStatus
            .parse(&Answer::of_args(&[
                "D",
                "192.168.11.150",
                "255.255.255.0",
                "192.168.11.1",
                "8.8.8.8",
            ]))
            .unwrap();
        assert!(s.dhcp && s.has_address());
        assert_eq!(s.gateway, Ipv4Addr::new(192, 168, 11, 1));
        let down = GetNetStatus
            .parse(&Answer::of_args(&[
                "D", "0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0",
            ]))
            .unwrap();
        assert!(!down.has_address());
        assert!(
            GetNetStatus
                .parse(&Answer::of_args(&["X", "1.2.3.4", "", "", ""]))
                .is_err()
        );
        assert!(GetNetStatus.parse(&Answer::of_args(&["S"])).is_err());
    }

    #[test]
    fn socket_list() {
        let answer = |text: &'static str| Answer {
            args: vec![],
            dump: Some(Bytes::from_static(text.as_bytes())),
        };
        assert_eq!(
            ListSockets
                .parse(&answer("0,C,2000,127.0.0.1,31002"))
                .unwrap(),
            vec![SocketInfo {
                sock: 0,
                kind: 'C',
                source_port: 2000,
                peer: Some((Ipv4Addr::LOCALHOST, 31002)),
                unread: false
            }]
        );
        let connecting = ListSockets.parse(&answer("0,C,2001,R")).unwrap();
        assert_eq!((connecting[0].peer, connecting[0].unread), (None, true));
        assert_eq!(ListSockets.parse(&answer("")).unwrap(), vec![]);
        assert!(ListSockets.parse(&answer("x,C")).is_err());
        assert!(ListSockets.parse(&Answer::of_args(&[])).is_err());
    }
}
