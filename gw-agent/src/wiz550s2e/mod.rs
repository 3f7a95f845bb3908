//! The WIZnet WIZ550S2E (serial-to-Ethernet) AT-command driver.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gw_agent::wiz550s2e::Error> {
//! use gw_agent::wiz550s2e::{Driver, Event, Timeouts};
//! use gw_agent::wizfi310::SerialConfig;
//! let (driver, mut events) = Driver::open(&SerialConfig::new("/dev/ttyUSB0"), Timeouts::default())?;
//! driver.init().await?;                      // AT (and +++ when in data mode)
//! println!("{}", driver.mac().await?);      // AT+NMAC?
//! driver.open_tcp("192.168.1.10".parse().unwrap(), 31002).await?; // [W,0] … [S,0]
//! driver.send(0, b"\x01\x02[R,0,1]\r\n").await?;                  // AT+NSEND=0,10 … [S,0]
//! while let Some(Event::Data { data, .. }) = events.recv().await {
//!     println!("{data:?}");
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - [`reply`]: the bracketed response lines and the module's error codes.
//! - [`parser`]: sans-IO byte stream → [`Item`]s (lines, events, dumps and
//!   received data taken by length).
//! - [`command`]: one typed struct per AT command and its answer parser.
//! - [`pipeline`]: sans-IO AT+NSEND records and how far the driver may
//!   write ahead of the module's answers (its 1,024-byte receive ring).
//! - [`data_mode`]: sans-IO AT+MMODE / AT+MDATA, the module as a TCP
//!   client of the OMP passing bytes untouched (the driver's
//!   [`Driver::enter_data_mode`], [`Driver::write_stream`], `+++`).
//! - [`timeouts`]: the driver's waits.
//! - [`driver`]: the async [`Driver`] (reader task, command exchange,
//!   two-step answers, pipelined AT+NSEND, re-sync, the `+++` escape).
//! - [`error`]: [`Error`], the one error type.
//!
//! The serial port settings and the MAC type are the WizFi310 driver's
//! ([`crate::wizfi310::SerialConfig`], [`crate::wizfi310::MacAddress`]).
//!
//! # Decisions and assumptions (where the guide is silent; from the
//! firmware source, `WIZ550S2E_App/src/ATcmd/`)
//!
//! - Commands end with CR LF (the firmware ends a line at LF and ignores
//!   CR). It has no echo.
//! - Received data `[R,<sock>,<len>]\r\n<len bytes>\r\n` is taken by length
//!   and only at a line start: `act_nrecv` waits for the UART's ring buffer
//!   to empty before printing a record. Records are at most 1024 bytes; a
//!   GMMP frame may span several.
//! - Socket events and received data go to one unbounded channel, in
//!   module order; nothing is dropped, so the receiver must be drained.
//!   Lines that are not part of a command in flight are logged and dropped.
//! - Two-step commands (AT+NOPEN, AT+NCLOSE): `[W,<sock>]` within
//!   `command`, then the final within the command's own timeout.
//! - AT+NSEND: the firmware takes at most 1024 bytes each (`WORK_BUF_SIZE`);
//!   the driver's records are at most [`MAX_RECORD`] (1007) so that the
//!   next AT+NSEND line, written right behind a record's data before its
//!   `[S,<sock>]`, fits the firmware's 1,024-byte receive ring with it
//!   ([`pipeline`]). A record's bytes are written only after its own
//!   `[W,<sock>]`. A busy buffer (`[F,,7,<free>]`) is tried again. When the
//!   go-ahead does not come, NULs of the record's length are written before
//!   the re-sync: the firmware waits without a timeout for the payload, and
//!   drops control bytes in command mode. When a record fails with the next
//!   line queued, that line's answer is taken too (NULs as its bytes when it
//!   is accepted), so the module is not left reading commands as payload.
//! - Timeouts: on a timeout the driver sends bare `AT`s (up to
//!   `resync_attempts`, `resync` each); only a plain `[S]` counts; after it,
//!   answers arriving within 100 ms are dropped, and `Error::Timeout` is
//!   reported; with no `[S]` at all, `Error::Unresponsive`. The timed-out
//!   command is not retried: its effect is unknown.
//! - Start-up ([`Driver::init`]): the firmware boots into data mode unless
//!   configured otherwise, where `AT` is payload. So when the `AT`s go
//!   unanswered, `+++` is sent between two `escape_guard` silences (which
//!   closes a data-mode connection), and `AT` is tried again.
//! - The module prints nothing when it boots: a reboot it did on its own is
//!   seen only when a socket command fails (`[F,,11]`), or as no answer
//!   (booted into data mode).

pub mod command;
pub mod data_mode;
pub mod driver;
pub mod error;
pub mod parser;
pub mod pipeline;
pub mod reply;
pub mod timeouts;

pub use command::{Answer, Command, NetStatus, SocketInfo};
pub use data_mode::WorkingMode;
pub use driver::{Driver, Event, EventReceiver, MAX_SEND};
pub use error::Error;
pub use parser::{Item, Parser};
pub use pipeline::{MAX_RECORD, RX_RING};
pub use reply::{ErrorCode, ReceiveHeader, ReplyLine, SocketEvent};
pub use timeouts::Timeouts;
