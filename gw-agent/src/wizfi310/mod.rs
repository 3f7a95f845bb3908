//! The WizFi310 AT-command driver.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gw_agent::wizfi310::Error> {
//! use gw_agent::wizfi310::{DataForm, Driver, DriverConfig, SerialConfig};
//! let (driver, mut events) = Driver::open(&SerialConfig::new("/dev/ttyUSB0"), DriverConfig::default())?;
//! driver.init(&DataForm::default()).await?;     // AT, AT+MECHO=0, AT+SFORM=? check
//! println!("{}", driver.mac().await?);
//! while let Some(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - [`config`]: serial settings (factory AT+USET `115200,N,8,1,N`) and timeouts.
//! - [`parser`]: sans-IO byte stream → [`Item`]s (reply lines, events, socket data).
//! - [`response`]: reply lines (`[OK]`, `[ERROR…]`, echo, SSEND go-ahead, text).
//! - [`events`]: unsolicited [`Event`]s.
//! - [`socket_data`]: the `{sid,ip,port,len}` receive header and [`SocketData`].
//! - [`command`]: one typed struct per AT command and its reply parser.
//! - [`driver`]: the async [`Driver`] (reader task, command exchange, re-sync,
//!   AT+SSEND, data mode).
//! - [`error`]: [`Error`], the one error type.
//!
//! # Decisions and assumptions (where the reference is silent)
//!
//! - Commands end with CR only. Module lines end with CR LF, but any CR or
//!   LF ends a line and empty lines are skipped, so an echo ending in a bare
//!   CR and blank lines around events are harmless.
//! - Echo: lines starting with `AT` (then nothing or `+`) are our echo and
//!   are dropped; the module never starts its own output with `AT`.
//!   [`Driver::init`] turns echo off anyway. The AT+SSEND payload is assumed
//!   not to be echoed (with echo on a payload echo would be read as lines).
//! - Socket data is recognised only at the start of a line, as a complete
//!   `{sid,ip,port,len}` header with sid 0..=7 and len ≤ 1 MiB; the payload is
//!   then taken by length, and the data-end bytes skipped when present. A `{`
//!   line that is not such a header is an ordinary text line.
//! - `[Link-Up Event]` is delivered once its `Gateway :` line arrived, or when
//!   a line that is not an address line shows the addresses will not come.
//! - Events go to one unbounded channel, in module order, socket data
//!   included, so CONNECT / data / DISCONNECT keep their order; nothing is
//!   dropped, so the receiver must be drained. Lines that are neither events
//!   nor part of a command in flight are logged and dropped.
//! - AT+SSEND: the real firmware prints `[sid,,,len]` before reading the
//!   payload (WIZnet's mbed and Arduino drivers wait for it). The driver waits
//!   up to `send_prompt` for it, writes no payload if `[ERROR…]` comes first,
//!   and writes the payload anyway when nothing came. `[OK]` is accepted
//!   before the payload too (then a second final reply is taken if it comes
//!   within `send_prompt`). [`Driver::send_pipelined`] writes the next
//!   AT+SSEND line right after a payload instead of after its `[OK]`, so a
//!   stream of payloads keeps the host → module direction busy; it falls
//!   back to one plain exchange when the module gives no `[sid,,,len]`.
//! - AT+SCON for a TCP client: `[CONNECT x]` may come before or after
//!   `[OK]`; the driver waits up to `connect_event` after `[OK]` for it.
//! - Timeouts: on a timeout the driver sends bare `AT`s (up to
//!   `resync_attempts`, `resync` each); after an `[OK]` it drops replies
//!   arriving within 100 ms (a late final of the timed-out command would
//!   otherwise be taken for the next one's) and reports `Error::Timeout`;
//!   with no `[OK]` at all, `Error::Unresponsive`. The timed-out command is
//!   not retried: its effect is unknown.
//! - Data mode (AT+SCON …,1, AT+SDATA): after `[OK]` every received byte is
//!   [`Event::RawData`]; nothing is parsed, so `[DISCONNECT x]` is not seen
//!   as an event in data mode — escape with `+++` and check AT+SMGMT=?.
//!   Bytes arriving between `+++` and its `[OK]` are read as lines.
//! - Only the full event message form (AT+MEVTFORM default) is read; the
//!   short forms (`[0]`…`[a]`) are text lines.

pub mod command;
pub mod config;
pub mod driver;
pub mod error;
pub mod events;
pub mod parser;
pub mod response;
pub mod socket_data;

pub use command::basic::{FirmwareInfo, MacAddress, MessageLevel};
pub use command::function::{GpioConfig, GpioLevel};
pub use command::gmmp::{GmmpData, GmmpOpt, GmmpSet};
pub use command::socket::{OpenType, SocketClose, SocketInfo, SocketOpen, SocketType};
pub use command::wifi::{
    InterfaceStatus, JoinOutcome, Security, WifiMode, WifiNet, WifiSecurity, WifiSet, WifiStatus,
};
pub use command::{Command, Reply};
pub use config::{FlowControl, Parity, SerialConfig, Timeouts};
pub use driver::{Driver, DriverConfig, EventReceiver};
pub use error::{Error, ModuleErrorKind};
pub use events::Event;
pub use parser::{Item, Parser};
pub use response::ResponseLine;
pub use socket_data::{DataForm, SformSetting, SocketData};
