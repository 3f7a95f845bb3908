//! Serial port settings and the driver's timeouts.
//!
//! Defaults are the module's factory AT+USET: `115200,N,8,1,N`.

use std::str::FromStr;
use std::time::Duration;

use super::error::Error;

/// Parity, as AT+USET writes it (`N`, `O`, `E`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parity {
    /// `N`.
    #[default]
    None,
    /// `O`.
    Odd,
    /// `E`.
    Even,
}

/// Flow control, as AT+USET writes it (`N`, `HW`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowControl {
    /// `N`.
    #[default]
    None,
    /// `HW`: RTS/CTS.
    Hardware,
}

impl FromStr for Parity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "N" | "NONE" => Ok(Parity::None),
            "O" | "ODD" => Ok(Parity::Odd),
            "E" | "EVEN" => Ok(Parity::Even),
            _ => Err(format!("parity {s:?} is not N, O or E")),
        }
    }
}

impl FromStr for FlowControl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "N" | "NONE" => Ok(FlowControl::None),
            "HW" | "HARDWARE" => Ok(FlowControl::Hardware),
            _ => Err(format!("flow control {s:?} is not N or HW")),
        }
    }
}

/// How to open the serial port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialConfig {
    /// Device path, e.g. `/dev/ttyUSB0`.
    pub path: String,
    /// Line rate.
    pub baud: u32,
    /// Parity.
    pub parity: Parity,
    /// Data bits: 7 or 8.
    pub data_bits: u8,
    /// Stop bits: 1 or 2.
    pub stop_bits: u8,
    /// Flow control.
    pub flow_control: FlowControl,
}

impl SerialConfig {
    /// `path` at the factory settings 115200 8N1, no flow control.
    pub fn new(path: impl Into<String>) -> Self {
        SerialConfig {
            path: path.into(),
            baud: 115_200,
            parity: Parity::None,
            data_bits: 8,
            stop_bits: 1,
            flow_control: FlowControl::None,
        }
    }

    /// Opens the port with these settings.
    pub fn open(&self) -> Result<tokio_serial::SerialStream, Error> {
        use tokio_serial::SerialPortBuilderExt;
        let invalid = |reason: String| Error::InvalidArgument {
            command: "serial port settings",
            reason,
        };
        let data_bits = match self.data_bits {
            7 => tokio_serial::DataBits::Seven,
            8 => tokio_serial::DataBits::Eight,
            n => return Err(invalid(format!("{n} data bits (AT+USET allows 7 or 8)"))),
        };
        let stop_bits = match self.stop_bits {
            1 => tokio_serial::StopBits::One,
            2 => tokio_serial::StopBits::Two,
            n => return Err(invalid(format!("{n} stop bits (AT+USET allows 1 or 2)"))),
        };
        let parity = match self.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Odd => tokio_serial::Parity::Odd,
            Parity::Even => tokio_serial::Parity::Even,
        };
        let flow = match self.flow_control {
            FlowControl::None => tokio_serial::FlowControl::None,
            FlowControl::Hardware => tokio_serial::FlowControl::Hardware,
        };
        tokio_serial::new(&self.path, self.baud)
            .data_bits(data_bits)
            .stop_bits(stop_bits)
            .parity(parity)
            .flow_control(flow)
            .open_native_async()
            .map_err(|source| Error::Open {
                path: self.path.clone(),
                source,
            })
    }
}

/// How long the driver waits, per kind of command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// Most commands: time from the command line to `[OK]`/`[ERROR]`.
    pub command: Duration,
    /// AT+WJOIN (association + DHCP).
    pub join: Duration,
    /// AT+MRESET (the module reboots).
    pub reset: Duration,
    /// AT+SCON (a TCP handshake may be inside).
    pub connect: Duration,
    /// AT+SCON to a TCP client: how long after `[OK]` to wait for
    /// `[CONNECT x]` when it did not come before.
    pub connect_event: Duration,
    /// AT+SSEND: how long to wait for the `[sid,,,len]` go-ahead before
    /// writing the payload anyway.
    pub send_prompt: Duration,
    /// AT+SSEND: base time for `[OK]` after the payload; the reference's
    /// default adds 100 s per MB on top.
    pub send: Duration,
    /// Each bare-`AT` re-sync attempt after a timeout.
    pub resync: Duration,
    /// Bare-`AT` attempts before giving up with `Unresponsive`.
    pub resync_attempts: u32,
    /// The `+++` escape: silence before and after (AT+SOPT1=10, default 1 s).
    pub escape_guard: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            command: Duration::from_secs(5),
            join: Duration::from_secs(60),
            reset: Duration::from_secs(30),
            connect: Duration::from_secs(30),
            connect_event: Duration::from_secs(5),
            send_prompt: Duration::from_secs(1),
            send: Duration::from_secs(10),
            resync: Duration::from_secs(2),
            resync_attempts: 3,
            escape_guard: Duration::from_secs(1),
        }
    }
}

impl Timeouts {
    /// AT+SSEND's wait for `[OK]` for `len` bytes: 10 s + 100 s / MB.
    pub fn send_for(&self, len: usize) -> Duration {
        self.send + Duration::from_micros(len as u64 * 100)
    }
}
