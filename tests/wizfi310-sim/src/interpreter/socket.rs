//! Socket commands and data: AT+SCON, AT+SSEND, AT+SMGMT, AT+SFORM,
//! AT+SDATA, AT+SOPT1, received data, peer close, and data mode.
//!
//! Only TCP clients (`TCN`) are emulated; `TSN`, `TCS`, `USN`, `UCN` answer
//! `[ERROR]`. AT+SCON=O prints `[OK]` once the TCP handshake is done, then
//! `\r\n[CONNECT n]\r\n`; a refused connection prints `[ERROR]`. AT+SCON=S
//! (or SO) registers the socket as the service, opened (with only the
//! `[CONNECT n]` event) on every later join. AT+SMGMT=n prints
//! `[DISCONNECT n]` before its `[OK]`.
//!
//! `AT+SSEND=<sid>,,,<len>` prints the [`SsendPrompt`](crate::SsendPrompt),
//! then reads exactly `len` raw bytes (not echoed) and answers `[OK]` once
//! they are handed to the socket. If they do not all arrive within the
//! timeout (default 10 s + 100 s per MB) it answers `[ERROR]`.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use super::params::{at_most, field, flag, ipv4, number};
use super::sform::ReceiveForm;
use super::{
    Action, AtError, Busy, CommandLine, CommandResult, Input, Interpreter, MAX_SOCKETS, Outcome,
    Timer,
};
use crate::config::SsendPrompt;

/// An open (or opening) socket.
#[derive(Debug, Clone)]
pub(crate) struct Socket {
    remote: SocketAddrV4,
    local_port: u16,
    data_mode: bool,
    connected: bool,
    /// An AT+SCON=O is waiting on this socket for its `[OK]`.
    awaiting_command: bool,
}

/// A socket registered with AT+SCON=S, opened on every join.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Service {
    remote: SocketAddrV4,
    local_port: u16,
    data_mode: bool,
}

impl Interpreter {
    fn socket(&self, sid: u8) -> Option<&Socket> {
        self.sockets.get(usize::from(sid))?.as_ref()
    }

    pub(super) fn cmd_scon(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.is_query() {
            let text = self.last_scon.clone();
            self.line(&text);
            return Ok(Outcome::Ok);
        }
        if self.data_socket.is_some() {
            return Err(AtError::ModeStatus);
        }
        let fields = cmd.fields()?;
        at_most(&fields, 6)?;
        let open_type = field(&fields, 0);
        let (at_once, service) = match open_type {
            "O" => (true, false),
            "S" => (false, true),
            "SO" => (true, true),
            _ => return Err(AtError::InvalidInput),
        };
        match field(&fields, 1) {
            "TCN" => {}
            "TSN" | "TCS" | "USN" | "UCN" => return Err(AtError::Failed),
            _ => return Err(AtError::InvalidInput),
        }
        let ip = ipv4(field(&fields, 2))?;
        let port: u16 = number(field(&fields, 3), 1..=65535)?;
        let local_port: u16 = match field(&fields, 4) {
            "" => 0,
            text => number(text, 0..=65535)?,
        };
        let data_mode = match field(&fields, 5) {
            "" => false,
            text => flag(text)?,
        };
        self.last_scon = cmd.params.clone().unwrap_or_default();
        let target = Service {
            remote: SocketAddrV4::new(ip, port),
            local_port,
            data_mode,
        };
        if service {
            self.service = Some(target);
        }
        if !at_once {
            return Ok(Outcome::Ok);
        }
        if !self.joined() {
            return Err(AtError::WifiStatus);
        }
        if data_mode && self.sockets.iter().any(Option::is_some) {
            return Err(AtError::Failed);
        }
        let sid = self.open_socket(target, true)?;
        self.busy = Some(Busy::Connecting(sid));
        Ok(Outcome::Pending)
    }

    /// Allocates the lowest free socket id and asks the shell to connect it.
    fn open_socket(&mut self, target: Service, awaiting_command: bool) -> Result<u8, AtError> {
        let duplicate_port = target.local_port != 0
            && self
                .sockets
                .iter()
                .flatten()
                .any(|s| s.local_port == target.local_port);
        if duplicate_port {
            return Err(AtError::Failed);
        }
        let slot = self
            .sockets
            .iter()
            .position(Option::is_none)
            .ok_or(AtError::Failed)?;
        self.sockets[slot] = Some(Socket {
            remote: target.remote,
            local_port: target.local_port,
            data_mode: target.data_mode,
            connected: false,
            awaiting_command,
        });
        let sid = slot as u8;
        self.actions.push(Action::Connect {
            sid,
            remote: target.remote,
            local_port: target.local_port,
        });
        Ok(sid)
    }

    /// Opens the AT+SCON=S socket, if any, after a join.
    pub(super) fn open_service(&mut self) {
        if let Some(service) = self.service {
            // No slot or a clash just means the service does not come up,
            // as with the firmware; nothing is printed.
            let _ = self.open_socket(service, false);
        }
    }

    pub(super) fn on_connected(&mut self, sid: u8, local_port: u16, now: Instant) {
        let Some(Some(socket)) = self.sockets.get_mut(usize::from(sid)) else {
            return;
        };
        if socket.connected {
            return;
        }
        socket.connected = true;
        if socket.local_port == 0 {
            socket.local_port = local_port;
        }
        let awaiting = std::mem::take(&mut socket.awaiting_command);
        let data_mode = socket.data_mode;
        if awaiting {
            self.ok();
        }
        self.event(&format!("[CONNECT {sid}]"), &[]);
        if data_mode {
            self.data_socket = Some(sid);
            self.input = Input::Data {
                sid,
                pluses: 0,
                last_input: None,
                token: 0,
            };
        }
        if awaiting {
            self.end_busy(now);
        }
    }

    pub(super) fn on_connect_failed(&mut self, sid: u8, now: Instant) {
        let Some(slot) = self.sockets.get_mut(usize::from(sid)) else {
            return;
        };
        let Some(socket) = slot.take() else {
            return;
        };
        if socket.awaiting_command {
            self.error(AtError::Failed);
            self.end_busy(now);
        }
    }

    pub(super) fn on_received(&mut self, sid: u8, data: &[u8]) {
        let Some(socket) = self.socket(sid) else {
            return;
        };
        let remote = socket.remote;
        if self.data_socket == Some(sid) && self.in_data_mode() {
            self.write(data.to_vec());
            return;
        }
        let chunk = self.config.recv_chunk.max(1);
        for piece in data.chunks(chunk) {
            let record = self.form.record(sid, remote, piece);
            self.write(record);
        }
    }

    /// The connection of `sid` ended from outside: `[DISCONNECT n]`.
    pub(super) fn on_peer_closed(&mut self, sid: u8, now: Instant) {
        let Some(socket) = self.socket(sid) else {
            return;
        };
        if !socket.connected {
            // Still connecting: the shell reports the failure instead.
            self.actions.push(Action::Close { sid });
            self.on_connect_failed(sid, now);
            return;
        }
        self.close_socket(sid);
    }

    /// Closes `sid` and prints `[DISCONNECT n]`.
    fn close_socket(&mut self, sid: u8) {
        let Some(socket) = self
            .sockets
            .get_mut(usize::from(sid))
            .and_then(Option::take)
        else {
            return;
        };
        self.actions.push(Action::Close { sid });
        if socket.connected {
            self.event(&format!("[DISCONNECT {sid}]"), &[]);
        }
        if self.data_socket == Some(sid) {
            self.data_socket = None;
            if self.in_data_mode() {
                self.input = Input::command();
            }
        }
    }

    pub(super) fn close_all_sockets(&mut self) {
        for sid in 0..MAX_SOCKETS as u8 {
            self.close_socket(sid);
        }
    }

    pub(super) fn cmd_ssend(&mut self, cmd: &CommandLine) -> CommandResult {
        let fields = cmd.fields()?;
        if !(4..=5).contains(&fields.len()) {
            return Err(AtError::InvalidInput);
        }
        if !self.joined() {
            return Err(AtError::WifiStatus);
        }
        let sid: u8 = number(fields[0], 0..=7).map_err(|_| AtError::InvalidScid)?;
        match self.socket(sid) {
            Some(s) if s.connected => {}
            _ => return Err(AtError::InvalidScid),
        }
        let size: usize = number(fields[3], 1..=100_000_000)?;
        let timeout = match field(&fields, 4) {
            "" => Duration::from_secs(10) + Duration::from_secs(100) * (size as u32) / 1_000_000,
            text => Duration::from_millis(number(text, 1..=u64::MAX)?),
        };
        if self.config.ssend_prompt == SsendPrompt::Bracketed {
            let prompt = format!("[{}]", fields[..4].join(","));
            self.line(&prompt);
        }
        let token = self.token();
        self.input = Input::Payload {
            sid,
            remaining: size,
            data: Vec::with_capacity(size.min(1 << 20)),
            token,
        };
        self.schedule(timeout, Timer::Payload(token));
        Ok(Outcome::Pending)
    }

    /// Consumes payload bytes of a pending AT+SSEND.
    pub(super) fn payload_bytes(&mut self, bytes: &[u8]) -> usize {
        let Input::Payload {
            sid,
            remaining,
            data,
            ..
        } = &mut self.input
        else {
            return bytes.len();
        };
        let n = (*remaining).min(bytes.len());
        data.extend_from_slice(&bytes[..n]);
        *remaining -= n;
        if *remaining == 0 {
            let sid = *sid;
            let data = std::mem::take(data);
            self.input = Input::command();
            self.actions.push(Action::Send {
                sid,
                data: data.into(),
            });
            self.ok();
        }
        n
    }

    pub(super) fn on_payload_timeout(&mut self, token: u64) {
        if matches!(self.input, Input::Payload { token: t, .. } if t == token) {
            self.input = Input::command();
            self.error(AtError::Failed);
        }
    }

    /// Data mode: bytes go to the socket, except a `+++` framed by guard time.
    pub(super) fn data_bytes(&mut self, bytes: &[u8], now: Instant) -> usize {
        let guard = self.escape_guard;
        let mut armed = false;
        let mut out = Vec::with_capacity(bytes.len());
        let Input::Data {
            sid,
            pluses,
            last_input,
            ..
        } = &mut self.input
        else {
            return bytes.len();
        };
        let sid = *sid;
        for &b in bytes {
            let quiet_before = last_input.is_none_or(|t| now.duration_since(t) >= guard);
            if b == b'+' && (1..3).contains(pluses) {
                *pluses += 1;
            } else if b == b'+' && *pluses == 0 && quiet_before {
                *pluses = 1;
            } else {
                out.resize(out.len() + usize::from(*pluses), b'+');
                *pluses = 0;
                out.push(b);
            }
            *last_input = Some(now);
        }
        if *pluses > 0 {
            armed = true;
        }
        if armed {
            let token = self.token();
            if let Input::Data { token: t, .. } = &mut self.input {
                *t = token;
            }
            self.schedule(guard, Timer::Escape(token));
        }
        if !out.is_empty() {
            self.actions.push(Action::Send {
                sid,
                data: out.into(),
            });
        }
        bytes.len()
    }

    /// The guard time after the last `+` passed: escape on `+++`, else the
    /// pluses were data after all.
    pub(super) fn on_escape_timer(&mut self, token: u64) {
        let Input::Data {
            sid,
            pluses,
            token: t,
            ..
        } = &mut self.input
        else {
            return;
        };
        if *t != token || *pluses == 0 {
            return;
        }
        let (sid, count) = (*sid, std::mem::take(pluses));
        if count == 3 {
            self.input = Input::command();
            self.ok();
        } else {
            self.actions.push(Action::Send {
                sid,
                data: vec![b'+'; usize::from(count)].into(),
            });
        }
    }

    pub(super) fn cmd_smgmt(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.is_query() {
            let open: Vec<(usize, Socket)> = self
                .sockets
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.clone().map(|s| (i, s)))
                .collect();
            self.line(&format!(
                "Number of Sockets : {} (SCID/Socket/Mode/Remote/Local/DataMode)",
                open.len()
            ));
            for (sid, s) in open {
                let text = format!(
                    "{sid},{},TCN,{},{},{},{}",
                    sid + 1,
                    s.remote.ip(),
                    s.remote.port(),
                    s.local_port,
                    u8::from(s.data_mode)
                );
                self.line(&text);
            }
            return Ok(Outcome::Ok);
        }
        let fields = cmd.fields()?;
        at_most(&fields, 1)?;
        match field(&fields, 0) {
            "ALL" => self.close_all_sockets(),
            text => {
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(AtError::InvalidInput);
                }
                let sid: u8 = number(text, 0..=7).map_err(|_| AtError::InvalidScid)?;
                if self.socket(sid).is_none() {
                    return Err(AtError::InvalidScid);
                }
                self.close_socket(sid);
            }
        }
        Ok(Outcome::Ok)
    }

    pub(super) fn cmd_sform(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.is_query() {
            let text = self.form.query();
            self.line(&text);
            return Ok(Outcome::Ok);
        }
        self.form = ReceiveForm::parse(&cmd.fields()?)?;
        Ok(Outcome::Ok)
    }

    pub(super) fn cmd_sdata(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.params.is_some() {
            return Err(AtError::InvalidInput);
        }
        let Some(sid) = self.data_socket else {
            return Err(AtError::Failed);
        };
        self.ok();
        self.input = Input::Data {
            sid,
            pluses: 0,
            last_input: None,
            token: 0,
        };
        Ok(Outcome::Pending)
    }

    pub(super) fn cmd_sopt1(&mut self, cmd: &CommandLine) -> CommandResult {
        let fields = cmd.fields()?;
        if fields.len() != 2 || fields[0] != "10" {
            return Err(AtError::InvalidInput);
        }
        let ms: u64 = number(fields[1], 1..=10_000)?;
        self.escape_guard = Duration::from_millis(ms);
        Ok(Outcome::Ok)
    }
}
