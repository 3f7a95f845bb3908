//! The module's AT command interpreter as a sans-IO state machine.
//!
//! Bytes from the UART go in through [`Interpreter::handle_input`], results
//! of IO (socket connected, data received, timer fired, fault injected)
//! through [`Interpreter::handle_event`]; both take the current `Instant`
//! (only the `+++` guard needs it). What the module does in return is
//! collected as [`Action`]s and taken with [`Interpreter::take_actions`]:
//! bytes to write, sockets to open, timers to start. No IO, no clock.
//!
//! The input side has three states: command lines (echoed, CR-terminated),
//! an AT+SSEND payload (exactly n raw bytes, not echoed) and data mode
//! (everything to the socket, `+++` with guard time escapes). While a
//! command waits on IO (join, connect) further input is held and replayed
//! afterwards, as the firmware's UART buffer would; while the module
//! resets, input is lost.

mod basic;
mod gmmp;
pub(crate) mod output;
mod params;
mod sform;
mod socket;
mod wifi;

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use self::gmmp::{GmmpCommand, GmmpLine, GmmpServer};
pub use self::output::AtError;
use self::params::CommandLine;
use self::sform::ReceiveForm;
use self::socket::Socket;
use self::wifi::WifiState;
use crate::config::SimConfig;
use crate::control::{Board, Fault};
use module_sim::faults::ResponseFaults;

/// True for `0008dc1e3222` or `00:08:DC:1E:32:22`.
pub fn is_valid_mac(text: &str) -> bool {
    params::mac(text).is_ok()
}

/// Sockets the module can hold at once.
pub const MAX_SOCKETS: usize = 8;

/// Bytes of a command line the module keeps. The firmware reads a line
/// into a 256-byte buffer (`WX_CMDBUF_SIZE`) that keeps its NUL, so it
/// holds the first 255 bytes and drops the rest without a word
/// (`WXS2w_CommandCharProcess`); the line then runs as kept. This is also
/// what bounds AT+GMMPDATA's data (module `gmmp`).
pub(crate) const COMMAND_BUFFER: usize = 255;

/// Something the IO shell must do for the interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes to the UART.
    Write(Bytes),
    /// Hold back the UART output that follows for this long (response fault).
    Pause(Duration),
    /// The UART rate changed (AT+USET); pacing follows it.
    SetBaud(u32),
    /// Open a TCP connection for socket `sid`; answer with
    /// [`Event::Connected`] or [`Event::ConnectFailed`].
    Connect {
        /// Socket id 0..=7.
        sid: u8,
        /// The peer.
        remote: SocketAddrV4,
        /// Local port to bind, 0 for any.
        local_port: u16,
    },
    /// Write to socket `sid`.
    Send {
        /// Socket id.
        sid: u8,
        /// The bytes.
        data: Bytes,
    },
    /// Close socket `sid`; no event comes back for it.
    Close {
        /// Socket id.
        sid: u8,
    },
    /// Deliver [`Event::Timer`] with this timer after the delay.
    Schedule {
        /// How long from now.
        after: Duration,
        /// What to hand back.
        timer: Timer,
    },
    /// Drive the module's GMMP client.
    Gmmp(GmmpCommand),
}

/// Timers the interpreter starts; each carries a token so a stale one is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// AT+WJOIN finished associating.
    Join(u64),
    /// The module finished rebooting.
    Reset(u64),
    /// The `+++` guard time after the last `+` ran out.
    Escape(u64),
    /// The AT+SSEND payload did not arrive in time.
    Payload(u64),
}

/// Something that happened outside the interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The TCP connection of `sid` is up.
    Connected {
        /// Socket id.
        sid: u8,
        /// The local port the OS chose.
        local_port: u16,
    },
    /// The TCP connection of `sid` could not be made.
    ConnectFailed {
        /// Socket id.
        sid: u8,
    },
    /// Bytes arrived on `sid`.
    Received {
        /// Socket id.
        sid: u8,
        /// The bytes.
        data: Bytes,
    },
    /// The peer closed `sid` (or the connection broke).
    PeerClosed {
        /// Socket id.
        sid: u8,
    },
    /// A timer started with [`Action::Schedule`] fired.
    Timer(Timer),
    /// A fault was injected.
    Fault(Fault),
    /// The GMMP client has something to print.
    Gmmp(GmmpLine),
}

#[derive(Debug)]
enum Input {
    Command {
        line: Vec<u8>,
    },
    Payload {
        sid: u8,
        remaining: usize,
        data: Vec<u8>,
        token: u64,
    },
    Data {
        sid: u8,
        pluses: u8,
        last_input: Option<Instant>,
        token: u64,
    },
}

impl Input {
    fn command() -> Input {
        Input::Command { line: Vec::new() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    Joining(u64),
    Connecting(u8),
    Resetting(u64),
}

/// What a command handler reports back to the dispatcher.
pub(crate) enum Outcome {
    /// Print `[OK]`.
    Ok,
    /// The command finishes later (IO pending) or has already answered.
    Pending,
}

type CommandResult = Result<Outcome, AtError>;

/// The WizFi310's command interpreter; see the module docs.
#[derive(Debug)]
pub struct Interpreter {
    config: SimConfig,
    board: Board,
    echo: bool,
    msg_level: u8,
    wifi: WifiState,
    sockets: [Option<Socket>; MAX_SOCKETS],
    last_scon: String,
    form: ReceiveForm,
    uart: basic::UartSettings,
    escape_guard: Duration,
    data_socket: Option<u8>,
    service: Option<socket::Service>,
    input: Input,
    busy: Option<Busy>,
    held: Vec<u8>,
    next_token: u64,
    faults: ResponseFaults,
    gmmp: gmmp::GmmpSettings,
    actions: Vec<Action>,
}

impl Interpreter {
    /// A freshly powered module; writes `config`'s MAC and firmware version
    /// to the board. An invalid `config.mac` leaves the board's MAC as it is
    /// (`00:08:DC:1E:32:22` on a new board).
    pub fn new(config: SimConfig, board: Board) -> Interpreter {
        let mac = params::mac(&config.mac).ok();
        board.with(|v| {
            if let Some(mac) = mac {
                v.mac = mac;
            }
            v.fw_version = config.fw_version.clone();
        });
        Interpreter {
            echo: true,
            msg_level: 2,
            wifi: WifiState::default(),
            sockets: Default::default(),
            last_scon: String::new(),
            form: ReceiveForm::default(),
            uart: basic::UartSettings::new(config.baud),
            escape_guard: config.escape_guard,
            data_socket: None,
            service: None,
            input: Input::command(),
            busy: None,
            held: Vec::new(),
            next_token: 0,
            faults: ResponseFaults::new(config.fault_plan.clone()),
            gmmp: gmmp::GmmpSettings::default(),
            actions: Vec::new(),
            config,
            board,
        }
    }

    /// Takes the actions collected so far, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// True while the host's bytes go straight to a socket.
    pub fn in_data_mode(&self) -> bool {
        matches!(self.input, Input::Data { .. })
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn schedule(&mut self, after: Duration, timer: Timer) {
        self.actions.push(Action::Schedule { after, timer });
    }

    /// Bytes from the UART.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.busy {
                Some(Busy::Resetting(_)) => return,
                Some(_) => {
                    self.held.extend_from_slice(rest);
                    return;
                }
                None => {}
            }
            let used = match self.input {
                Input::Command { .. } => self.command_bytes(rest),
                Input::Payload { .. } => self.payload_bytes(rest),
                Input::Data { .. } => self.data_bytes(rest, now),
            };
            rest = &rest[used.max(1).min(rest.len())..];
        }
    }

    /// Consumes command-line bytes up to and including one CR.
    fn command_bytes(&mut self, bytes: &[u8]) -> usize {
        let cr = bytes.iter().position(|&b| b == b'\r');
        let take = cr.unwrap_or(bytes.len());
        let typed = &bytes[..take];
        self.echo(typed);
        if let Input::Command { line } = &mut self.input {
            for &b in typed {
                // LF is not a line end for the module; a host sending CR LF
                // gets its LF ignored rather than prefixed to the next command.
                if b == b'\n' {
                    continue;
                }
                if line.len() < COMMAND_BUFFER {
                    line.push(b);
                }
            }
        }
        let Some(cr) = cr else {
            return bytes.len();
        };
        self.echo(b"\r\n");
        let line = match std::mem::replace(&mut self.input, Input::command()) {
            Input::Command { line } => line,
            other => {
                self.input = other;
                return cr + 1;
            }
        };
        if !line.is_empty() {
            self.run_line(&line);
        }
        cr + 1
    }

    fn run_line(&mut self, line: &[u8]) {
        self.start_command();
        let result = CommandLine::parse(line).and_then(|cmd| self.dispatch(&cmd));
        match result {
            Ok(Outcome::Ok) => self.ok(),
            Ok(Outcome::Pending) => {}
            Err(e) => self.error(e),
        }
    }

    fn dispatch(&mut self, cmd: &CommandLine) -> CommandResult {
        match cmd.name.as_str() {
            "" => Ok(Outcome::Ok),
            "MMAC" => self.cmd_mmac(cmd),
            "MINFO" => self.cmd_minfo(cmd),
            "MECHO" => self.cmd_mecho(cmd),
            "MMSG" => self.cmd_mmsg(cmd),
            "MRESET" => self.cmd_mreset(cmd),
            "USET" => self.cmd_uset(cmd),
            "FGETADC" => self.cmd_fgetadc(cmd),
            "FGPIO" => self.cmd_fgpio(cmd),
            "WSET" => self.cmd_wset(cmd),
            "WSEC" => self.cmd_wsec(cmd),
            "WNET" => self.cmd_wnet(cmd),
            "WJOIN" => self.cmd_wjoin(cmd),
            "WLEAVE" => self.cmd_wleave(cmd),
            "WSTAT" => self.cmd_wstat(cmd),
            "SCON" => self.cmd_scon(cmd),
            "SSEND" => self.cmd_ssend(cmd),
            "SMGMT" => self.cmd_smgmt(cmd),
            "SFORM" => self.cmd_sform(cmd),
            "SDATA" => self.cmd_sdata(cmd),
            "SOPT1" => self.cmd_sopt1(cmd),
            "GMMPSET" => self.cmd_gmmpset(cmd),
            "GMMPDATA" => self.cmd_gmmpdata(cmd),
            "GMMPOPT" => self.cmd_gmmpopt(cmd),
            _ => Err(AtError::InvalidInput),
        }
    }

    /// Ends a wait on IO and replays the input held meanwhile.
    fn end_busy(&mut self, now: Instant) {
        self.busy = None;
        let held = std::mem::take(&mut self.held);
        self.handle_input(&held, now);
    }

    /// Something happened outside; see [`Event`].
    pub fn handle_event(&mut self, event: Event, now: Instant) {
        match event {
            Event::Connected { sid, local_port } => self.on_connected(sid, local_port, now),
            Event::ConnectFailed { sid } => self.on_connect_failed(sid, now),
            Event::Received { sid, data } => self.on_received(sid, &data),
            Event::PeerClosed { sid } => self.on_peer_closed(sid, now),
            Event::Timer(timer) => self.on_timer(timer, now),
            Event::Fault(fault) => self.on_fault(fault, now),
            Event::Gmmp(line) => self.on_gmmp_line(line),
        }
    }

    fn on_timer(&mut self, timer: Timer, now: Instant) {
        match timer {
            Timer::Join(token) if self.busy == Some(Busy::Joining(token)) => {
                self.finish_join();
                self.end_busy(now);
            }
            Timer::Reset(token) if self.busy == Some(Busy::Resetting(token)) => {
                self.reboot();
                self.busy = None;
            }
            Timer::Escape(token) => self.on_escape_timer(token),
            Timer::Payload(token) => self.on_payload_timeout(token),
            _ => {}
        }
    }

    fn on_fault(&mut self, fault: Fault, now: Instant) {
        match fault {
            Fault::ResetEvent => {
                self.reboot();
                self.busy = None;
            }
            Fault::LinkDown => self.link_down(now),
            Fault::CloseSocket(sid) => self.on_peer_closed(sid, now),
            Fault::DropNextResponse => self.faults.drop_next(),
            Fault::DelayNextResponse(d) => self.faults.delay_next(d),
            Fault::GarbleNextLine => self.faults.garble_next(),
        }
    }

    /// The module restarts: sockets and Wi-Fi dropped, settings that live
    /// in RAM back to defaults (Wi-Fi settings, MAC and UART are in flash),
    /// then `[Reset Event]`.
    fn reboot(&mut self) {
        self.board.with(|v| v.boots += 1);
        for sid in 0..MAX_SOCKETS as u8 {
            if self.sockets[usize::from(sid)].take().is_some() {
                self.actions.push(Action::Close { sid });
            }
        }
        self.actions.push(Action::Gmmp(GmmpCommand::Stop));
        self.wifi.link = None;
        self.echo = true;
        self.msg_level = 2;
        self.form = ReceiveForm::default();
        self.escape_guard = self.config.escape_guard;
        self.data_socket = None;
        self.service = None;
        self.input = Input::command();
        self.held.clear();
        self.gmmp = gmmp::GmmpSettings::default();
        self.faults.end_command();
        self.event("[Reset Event]", &[]);
    }
}

#[cfg(test)]
mod tests;
