//! Socket 0 in command mode: AT+NOPEN (TCP client), AT+NSEND, AT+NCLOSE,
//! AT+NSOCK, and what the connection reports (`[S,0]`, `[F,0,8]`,
//! `[R,0,<len>]`, `[V,0,2]`).

use std::net::SocketAddrV4;
use std::time::Instant;

use bytes::Bytes;

use super::line::{self, AtError, Sign};
use super::{Action, CommandResult, DataLink, Interpreter, Mode, Timer};
use crate::config::WorkingMode;

/// The largest AT+NSEND (`WORK_BUF_SIZE`).
pub(crate) const SEND_LIMIT: u32 = 1024;

/// The command-mode socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Socket {
    pub(crate) src_port: u16,
    pub(crate) remote: SocketAddrV4,
    pub(crate) connected: bool,
    /// Token of the connect timer while the link is down.
    pub(crate) doomed: Option<u64>,
}

impl Interpreter {
    pub(super) fn nopen(&mut self, sign: Sign, args: &[String]) -> CommandResult {
        match sign {
            Sign::None | Sign::Query => return Err(AtError::NotAllowed.into()),
            Sign::Individual => return Err(AtError::WrongSign.into()),
            Sign::Equal => {}
        }
        let kind = line::letter(&args[0], "ASCU", 1)?;
        let (src_port, remote) = match kind {
            'C' => {
                let src_port = line::port(&args[1]).unwrap_or(self.client_port);
                let ip = line::ipv4(&args[2]).ok_or(AtError::WrongArguments.at(3))?;
                let port = line::port(&args[3]).ok_or(AtError::WrongArguments.at(4))?;
                line::must_be_empty(&args[4], 5)?;
                (src_port, SocketAddrV4::new(ip, port))
            }
            'A' if self.live.working_mode == WorkingMode::Client => {
                line::must_be_empty(&args[4], 5)?;
                (self.live.local_port, self.live.remote)
            }
            'A' if matches!(
                self.live.working_mode,
                WorkingMode::Mixed | WorkingMode::Mqtt
            ) =>
            {
                return Err(AtError::NotAllowed.into());
            }
            // Server and UDP sockets are not emulated.
            _ => return Err(AtError::Disabled.into()),
        };
        if let Some(socket) = &self.socket {
            if socket.src_port == src_port {
                return Err(AtError::PortInUse.at(2));
            }
            return Err(AtError::NoSocket.into());
        }
        let doomed = if self.link_up {
            let local_port = if self.config.bind_source_port {
                src_port
            } else {
                0
            };
            self.actions.push(Action::Connect { remote, local_port });
            None
        } else {
            // No link: the SYNs go nowhere and the connect times out.
            let token = self.token();
            self.schedule(self.config.connect_timeout, Timer::ConnectTimeout(token));
            Some(token)
        };
        self.socket = Some(Socket {
            src_port,
            remote,
            connected: false,
            doomed,
        });
        self.respond("[W,0]");
        Ok(())
    }

    pub(super) fn connect_timeout(&mut self, token: u64) {
        if self.socket.is_some_and(|s| s.doomed == Some(token)) {
            self.socket = None;
            self.event("[F,0,8]");
        }
    }

    pub(super) fn on_connected(&mut self) {
        if self.data_link == DataLink::Connecting {
            self.data_link = DataLink::Connected;
            return;
        }
        if let Some(socket) = self.socket.as_mut().filter(|s| !s.connected) {
            socket.connected = true;
            self.event("[S,0]");
        }
    }

    pub(super) fn on_connect_failed(&mut self) {
        if self.data_link == DataLink::Connecting {
            self.data_link = DataLink::Idle;
            self.arm_reconnect();
            return;
        }
        if self.socket.take().is_some() {
            self.event("[F,0,8]");
        }
    }

    pub(super) fn on_received(&mut self, data: &[u8]) {
        if self.data_link == DataLink::Connected {
            self.write(Bytes::copy_from_slice(data));
            return;
        }
        if !self.socket.is_some_and(|s| s.connected) {
            return;
        }
        for chunk in data.chunks(self.config.recv_chunk.max(1)) {
            self.event(&format!("[R,0,{}]", chunk.len()));
            let mut record = chunk.to_vec();
            record.extend_from_slice(b"\r\n");
            self.write(record);
        }
    }

    pub(super) fn on_peer_closed(&mut self) {
        if self.data_link != DataLink::Idle {
            self.data_link = DataLink::Idle;
            self.arm_reconnect();
            return;
        }
        if self.socket.take().is_some() {
            self.event("[V,0,2]");
        }
    }

    /// The connection is gone from outside (a fault): the real one is
    /// closed too, so the peer sees it. A connect in progress fails.
    pub(super) fn connection_lost(&mut self) {
        if self.data_link != DataLink::Idle {
            self.actions.push(Action::Close);
            self.on_peer_closed();
        } else if let Some(socket) = self.socket {
            self.actions.push(Action::Close);
            if socket.connected {
                self.on_peer_closed();
            } else {
                self.socket = None;
                self.event("[F,0,8]");
            }
        }
    }

    pub(super) fn nsend(&mut self, sign: Sign, args: &[String]) -> CommandResult {
        if sign != Sign::Equal {
            return Err(AtError::WrongSign.into());
        }
        line::number(&args[0], 0, 0, 1)?;
        let len =
            line::number(&args[1], 1, SEND_LIMIT, 2).map_err(|_| AtError::OutOfRange.at(2))?;
        let ip_given = !args[2].is_empty();
        if ip_given && line::ipv4(&args[2]).is_none() {
            return Err(AtError::WrongArguments.at(3));
        }
        let port_given = !args[3].is_empty();
        if port_given && line::port(&args[3]).is_none() {
            return Err(AtError::WrongArguments.at(4));
        }
        line::must_be_empty(&args[4], 5)?;
        line::must_be_empty(&args[5], 6)?;
        let Some(socket) = self.socket else {
            return Err(AtError::SocketClosed.into());
        };
        if !socket.connected {
            // Connecting: the socket is busy until `[S,0]`.
            return Err(AtError::Busy.into());
        }
        if ip_given {
            return Err(AtError::WrongArguments.at(3));
        }
        if port_given {
            return Err(AtError::WrongArguments.at(4));
        }
        let free = self.busy_buffer.take().unwrap_or(self.config.tx_buffer);
        if len > u32::from(free) {
            return Err(AtError::Busy.at(u32::from(free)));
        }
        self.respond("[W,0]");
        self.mode = Mode::Payload {
            remaining: len as usize,
            data: Vec::with_capacity(len as usize),
        };
        Ok(())
    }

    /// The AT+NSEND payload is complete: it is handed to the socket, and
    /// the main loop is busy until that is done (`act_nsend`); the input
    /// behind the record waits in the receive ring until `[S,0]`.
    pub(super) fn payload_complete(&mut self, data: Vec<u8>) {
        if self.socket.is_some_and(|s| s.connected) {
            self.actions.push(Action::SendRecord(Bytes::from(data)));
            self.sending = true;
        } else {
            // The peer went away while the payload came in: send() fails.
            self.event(&line::failure(None, AtError::NotConnected.into()));
        }
    }

    /// The record is with the socket: `[S,0]` (`[F,,13]` when the peer
    /// went away meanwhile), then the ring is read on.
    pub(super) fn on_send_done(&mut self, now: Instant) {
        if !std::mem::take(&mut self.sending) {
            return;
        }
        if self.socket.is_some_and(|s| s.connected) {
            self.event("[S,0]");
        } else {
            self.event(&line::failure(None, AtError::NotConnected.into()));
        }
        self.read_ring(now);
    }

    pub(super) fn nclose(&mut self, sign: Sign, args: &[String]) -> CommandResult {
        if sign != Sign::Equal {
            return Err(AtError::WrongSign.into());
        }
        line::number(&args[0], 0, 0, 1)?;
        // The firmware moves its client port on with every AT+NCLOSE.
        self.client_port = if self.client_port == u16::MAX {
            2000
        } else {
            self.client_port + 1
        };
        match self.socket {
            None => Err(AtError::SocketClosed.into()),
            Some(socket) if !socket.connected => Err(AtError::Busy.into()),
            Some(_) => {
                self.socket = None;
                self.actions.push(Action::Close);
                self.respond("[W,0]");
                self.event("[S,0]");
                Ok(())
            }
        }
    }

    pub(super) fn nsock(&mut self, sign: Sign, args: &[String]) -> CommandResult {
        match sign {
            Sign::None | Sign::Query => {
                let body = match self.socket {
                    None => String::new(),
                    Some(s) if s.connected => {
                        format!("0,C,{},{},{}", s.src_port, s.remote.ip(), s.remote.port())
                    }
                    Some(s) => format!("0,C,{}", s.src_port),
                };
                self.dump(None, &body);
                Ok(())
            }
            Sign::Individual => Err(AtError::WrongSign.into()),
            Sign::Equal => {
                line::number(&args[0], 0, 0, 1)?;
                let line = match self.socket {
                    None => line::response('S', None, None, &["I"]),
                    Some(s) => {
                        let port = s.src_port.to_string();
                        let (ip, dport) = if s.connected {
                            (s.remote.ip().to_string(), s.remote.port().to_string())
                        } else {
                            (String::new(), String::new())
                        };
                        line::response('S', None, None, &["C", &port, &ip, &dport])
                    }
                };
                self.respond(&line);
                Ok(())
            }
        }
    }
}
