//! The module's firmware as a sans-IO state machine.
//!
//! UART bytes go in through [`Interpreter::handle_input`], results of IO
//! (connected, data received, lookup done, timer fired, fault injected)
//! through [`Interpreter::handle_event`]; both take the current `Instant`
//! (the `+++` guard needs it). What the module does in return is
//! collected as [`Action`]s, taken with [`Interpreter::take_actions`]:
//! bytes to write, a connection to open, a timer to start. No IO, no clock.
//!
//! The module has one socket, id 0, shared by command mode (AT+NOPEN) and
//! data mode: entering either mode closes what the other had open.

mod commands;
mod data_mode;
mod line;
mod output;
mod socket;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use bytes::Bytes;
use module_sim::escape::Escape;
use module_sim::faults::ResponseFaults;

pub use self::line::{AtError, mac};
use self::line::{Failure, LINE_BUFFER, Parsed, Sign};
use self::socket::Socket;
use crate::config::{BootMode, NetInfo, SimConfig, WorkingMode};
use crate::control::Fault;

/// Something the IO shell must do for the interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes to the UART.
    Write(Bytes),
    /// Hold back the UART output that follows for this long (response fault).
    Pause(Duration),
    /// Open the TCP connection of socket 0 (closing any earlier one);
    /// answer with [`Event::Connected`] or [`Event::ConnectFailed`].
    Connect {
        /// The peer.
        remote: SocketAddrV4,
        /// Local port to bind, 0 for any.
        local_port: u16,
    },
    /// Write to the connection.
    Send(Bytes),
    /// Close the connection; no event comes back for it.
    Close,
    /// Look up an IPv4 address; answer with [`Event::Resolved`].
    Resolve(String),
    /// Deliver [`Event::Timer`] with this timer after the delay.
    Schedule {
        /// How long from now.
        after: Duration,
        /// What to hand back.
        timer: Timer,
    },
}

/// Timers the interpreter starts; each carries a token so a stale one is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The module finished rebooting.
    Boot(u64),
    /// A `+++` guard time ran out.
    Escape(u64),
    /// Time for the next data-mode connection attempt.
    Reconnect(u64),
    /// A connect over a dead link gives up.
    ConnectTimeout(u64),
}

/// Something that happened outside the interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The connection is up, from this local port.
    Connected {
        /// The local port the host chose.
        local_port: u16,
    },
    /// The connection could not be made.
    ConnectFailed,
    /// Bytes from the peer.
    Received(Bytes),
    /// The peer closed (or the connection broke).
    PeerClosed,
    /// A lookup finished.
    Resolved(Option<Ipv4Addr>),
    /// A timer started with [`Action::Schedule`] fired.
    Timer(Timer),
    /// A fault was injected.
    Fault(Fault),
}

/// Settings that live in RAM and can be saved with AT+MSAVE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) dhcp: bool,
    pub(crate) net: NetInfo,
    pub(crate) working_mode: WorkingMode,
    pub(crate) local_port: u16,
    pub(crate) remote: SocketAddrV4,
}

/// Where UART input goes.
#[derive(Debug)]
enum Mode {
    /// Command lines.
    Command,
    /// The raw payload of an AT+NSEND.
    Payload { remaining: usize, data: Vec<u8> },
    /// Data mode: bytes to the socket, `+++` escapes.
    Data(Escape),
    /// Rebooting: input is lost.
    Booting(u64),
}

/// The data-mode connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataLink {
    Idle,
    Connecting,
    Connected,
}

/// The WIZ550S2E's firmware; see the module docs.
#[derive(Debug)]
pub struct Interpreter {
    config: SimConfig,
    mac: [u8; 6],
    saved: Settings,
    live: Settings,
    link_up: bool,
    mode: Mode,
    line: Vec<u8>,
    history: VecDeque<String>,
    socket: Option<Socket>,
    client_port: u16,
    data_link: DataLink,
    reconnect_token: u64,
    resolving: bool,
    held: Vec<u8>,
    busy_buffer: Option<u16>,
    next_token: u64,
    faults: ResponseFaults,
    actions: Vec<Action>,
}

impl Interpreter {
    /// A module powered up at `now`.
    pub fn new(config: SimConfig, now: Instant) -> Self {
        let saved = Settings {
            dhcp: config.dhcp,
            net: config.static_net,
            working_mode: config.working_mode,
            local_port: config.local_port,
            remote: config.remote,
        };
        let mut interp = Interpreter {
            mac: config.mac,
            live: saved.clone(),
            saved,
            link_up: true,
            mode: Mode::Command,
            line: Vec::new(),
            history: VecDeque::new(),
            socket: None,
            client_port: 2000,
            data_link: DataLink::Idle,
            reconnect_token: 0,
            resolving: false,
            held: Vec::new(),
            busy_buffer: None,
            next_token: 0,
            faults: ResponseFaults::new(config.fault_plan.clone()),
            actions: Vec::new(),
            config,
        };
        interp.boot(now);
        interp
    }

    /// Takes the actions collected so far, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Whether the module is in data mode.
    pub fn in_data_mode(&self) -> bool {
        matches!(self.mode, Mode::Data(_))
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn schedule(&mut self, after: Duration, timer: Timer) {
        self.actions.push(Action::Schedule { after, timer });
    }

    /// The addresses in use: the lease under DHCP, else the static ones.
    pub(crate) fn netinfo(&self) -> NetInfo {
        if self.live.dhcp {
            if self.link_up {
                self.config.lease
            } else {
                NetInfo {
                    ip: Ipv4Addr::UNSPECIFIED,
                    subnet: Ipv4Addr::UNSPECIFIED,
                    gateway: Ipv4Addr::UNSPECIFIED,
                    dns: Ipv4Addr::UNSPECIFIED,
                }
            }
        } else {
            self.live.net
        }
    }

    /// Bytes from the host.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if self.resolving {
            // AT+FDNS blocks the firmware's main loop: the UART buffers.
            self.held.extend_from_slice(bytes);
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            match &mut self.mode {
                Mode::Booting(_) => return,
                Mode::Data(_) => {
                    self.data_input(rest, now);
                    return;
                }
                Mode::Payload { remaining, data } => {
                    let take = (*remaining).min(rest.len());
                    data.extend_from_slice(&rest[..take]);
                    *remaining -= take;
                    rest = &rest[take..];
                    if *remaining == 0 {
                        let data = std::mem::take(data);
                        self.mode = Mode::Command;
                        self.payload_complete(data);
                    }
                }
                Mode::Command => {
                    let byte = rest[0];
                    rest = &rest[1..];
                    if self.command_byte(byte, now) == Flow::Discard {
                        // AT+MDATA flushes the UART's receive buffer.
                        return;
                    }
                    if self.resolving {
                        self.held.extend_from_slice(rest);
                        return;
                    }
                }
            }
        }
    }

    /// One byte in command mode (`atc_run`): LF ends the line, CR is
    /// ignored, BS deletes, other control bytes are dropped.
    fn command_byte(&mut self, byte: u8, now: Instant) -> Flow {
        match byte {
            b'\n' => {
                if self.line.is_empty() {
                    return Flow::Continue;
                }
                let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
                self.run_line(&line, now)
            }
            0x08 => {
                self.line.pop();
                Flow::Continue
            }
            b' '..=b'~' => {
                if self.line.len() < LINE_BUFFER {
                    self.line.push(byte);
                }
                Flow::Continue
            }
            _ => Flow::Continue,
        }
    }

    fn run_line(&mut self, line: &str, now: Instant) -> Flow {
        // The firmware keeps the last two lines for `AT?`.
        if self.history.len() == 2 {
            self.history.pop_front();
        }
        self.history.push_back(line.to_string());
        self.faults.start_command();
        let flow = match line::parse(line) {
            Ok(Parsed::At(sign)) => {
                self.at(sign);
                Flow::Continue
            }
            Ok(Parsed::Command { op, sign, args }) => self.dispatch(&op, sign, &args, now),
            Err(failure) => {
                self.fail(failure);
                Flow::Continue
            }
        };
        self.faults.end_command();
        flow
    }

    /// `AT` probes, `AT?` prints the line before it.
    fn at(&mut self, sign: Sign) {
        match sign {
            Sign::None => self.respond("[S]"),
            Sign::Query => match (self.history.len() == 2).then(|| self.history[0].clone()) {
                Some(previous) => self.dump(None, &previous),
                None => self.dump(None, ""),
            },
            _ => self.fail(AtError::WrongSign.into()),
        }
    }

    /// Something from outside.
    pub fn handle_event(&mut self, event: Event, now: Instant) {
        match event {
            Event::Connected { .. } => self.on_connected(),
            Event::ConnectFailed => self.on_connect_failed(),
            Event::Received(data) => self.on_received(&data),
            Event::PeerClosed => self.on_peer_closed(),
            Event::Resolved(addr) => self.on_resolved(addr, now),
            Event::Timer(timer) => self.on_timer(timer, now),
            Event::Fault(fault) => self.on_fault(fault),
        }
    }

    fn on_timer(&mut self, timer: Timer, now: Instant) {
        match timer {
            Timer::Boot(token) => {
                if matches!(self.mode, Mode::Booting(t) if t == token) {
                    self.mode = Mode::Command;
                    match self.config.boot_mode {
                        BootMode::Data => self.enter_data_mode(now),
                        BootMode::Command => {}
                    }
                }
            }
            Timer::Escape(token) => self.escape_timer(token),
            Timer::Reconnect(token) => self.reconnect_timer(token),
            Timer::ConnectTimeout(token) => self.connect_timeout(token),
        }
    }

    fn on_fault(&mut self, fault: Fault) {
        match fault {
            Fault::LinkDown => {
                self.link_up = false;
                self.connection_lost();
            }
            Fault::LinkUp => self.link_up = true,
            Fault::PeerClose => self.connection_lost(),
            Fault::Reset => self.reboot(),
            Fault::DropNextResponse => self.faults.drop_next(),
            Fault::DelayNextResponse(d) => self.faults.delay_next(d),
            Fault::GarbleNextLine => self.faults.garble_next(),
            Fault::BusyBuffer(free) => self.busy_buffer = Some(free),
        }
    }

    /// The module restarts: connection dropped, RAM settings back to the
    /// saved ones, input lost until it has booted.
    fn reboot(&mut self) {
        if self.socket.take().is_some() || self.data_link != DataLink::Idle {
            self.actions.push(Action::Close);
        }
        self.data_link = DataLink::Idle;
        self.live = self.saved.clone();
        self.line.clear();
        self.history.clear();
        self.held.clear();
        self.resolving = false;
        self.client_port = 2000;
        self.busy_buffer = None;
        self.faults.end_command();
        let token = self.token();
        self.mode = Mode::Booting(token);
        self.schedule(self.config.reset_delay, Timer::Boot(token));
    }

    /// Power-up: straight into the boot mode (no output, as the firmware).
    fn boot(&mut self, now: Instant) {
        match self.config.boot_mode {
            BootMode::Data => self.enter_data_mode(now),
            BootMode::Command => self.mode = Mode::Command,
        }
    }

    /// Input held while the firmware was blocked, replayed.
    fn replay_held(&mut self, now: Instant) {
        let held = std::mem::take(&mut self.held);
        if !held.is_empty() {
            self.handle_input(&held, now);
        }
    }
}

/// Whether the rest of the input chunk is still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Discard,
}

/// What a failed command's handler returns.
type CommandResult = Result<(), Failure>;
