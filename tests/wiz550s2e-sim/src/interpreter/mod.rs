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
//!
//! UART input goes through the firmware's 1,024-byte receive ring
//! ([`ring`]): the main loop reads it in order while it is free, and leaves
//! it while it is busy — from an AT+NSEND record's last byte until the IO
//! shell reports the record handed to the socket ([`Event::SendDone`],
//! then `[S,0]`), and during AT+FDNS. What the host sends meanwhile waits
//! in the ring, and what does not fit is lost.

mod commands;
mod data_mode;
mod line;
mod output;
mod ring;
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
pub use self::ring::RX_RING;
use self::ring::RxRing;
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
    /// Write to the connection (data mode).
    Send(Bytes),
    /// Write an AT+NSEND record to the connection; answer with
    /// [`Event::SendDone`] once it is handed over (or the connection is gone).
    SendRecord(Bytes),
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
    /// The record of the last [`Action::SendRecord`] was handed over.
    SendDone,
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
    /// An AT+NSEND record handed to the socket, `[S,0]` not yet printed.
    sending: bool,
    ring: RxRing,
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
            sending: false,
            ring: RxRing::default(),
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

    /// Bytes from the host: into the receive ring, then read while the
    /// firmware is free.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if matches!(self.mode, Mode::Booting(_)) {
            return;
        }
        let lost = self.ring.put(bytes);
        if lost > 0 {
            tracing::warn!(
                lost,
                total = self.ring.lost(),
                "UART receive ring full: input lost"
            );
        }
        self.read_ring(now);
    }

    /// Bytes lost to a full receive ring since power-up.
    pub fn input_lost(&self) -> u64 {
        self.ring.lost()
    }

    /// Whether the main loop is held up and leaves the ring unread.
    fn busy(&self) -> bool {
        self.resolving || self.sending
    }

    /// The main loop: what waits in the ring, in order, until it is empty
    /// or the firmware becomes busy (the rest stays in the ring).
    pub(crate) fn read_ring(&mut self, now: Instant) {
        while !self.busy() && self.ring.len() > 0 {
            let bytes = self.ring.take();
            let read = self.consume(&bytes, now);
            if read < bytes.len() {
                self.ring.put_back(&bytes[read..]);
            }
        }
    }

    /// Takes `bytes` as the firmware does; returns how many it read before
    /// it became busy (all of them otherwise, also when they were lost).
    fn consume(&mut self, bytes: &[u8], now: Instant) -> usize {
        let mut read = 0;
        while read < bytes.len() && !self.busy() {
            let rest = &bytes[read..];
            match &mut self.mode {
                Mode::Booting(_) => return bytes.len(),
                Mode::Data(_) => {
                    self.data_input(rest, now);
                    return bytes.len();
                }
                Mode::Payload { remaining, data } => {
                    let take = (*remaining).min(rest.len());
                    data.extend_from_slice(&rest[..take]);
                    *remaining -= take;
                    read += take;
                    if *remaining == 0 {
                        let data = std::mem::take(data);
                        self.mode = Mode::Command;
                        self.payload_complete(data);
                    }
                }
                Mode::Command => {
                    read += 1;
                    if self.command_byte(rest[0], now) == Flow::Discard {
                        // AT+MDATA flushes the UART's receive buffer.
                        self.ring.flush();
                        return bytes.len();
                    }
                }
            }
        }
        read
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
            Event::SendDone => self.on_send_done(now),
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
        self.ring.flush();
        self.resolving = false;
        self.sending = false;
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
}

/// Whether the rest of the input chunk is still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Discard,
}

/// What a failed command's handler returns.
type CommandResult = Result<(), Failure>;
