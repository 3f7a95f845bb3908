//! The async driver: one reader task owning the read half, command calls
//! serialised on the write half.
//!
//! The reader task feeds the [`Parser`] and sends every event to the event
//! channel; while a command is in flight it also forwards reply lines (and
//! copies of socket/link events) to that command. A command call takes the
//! exchange lock, writes its CR-terminated line and waits for `[OK]` /
//! `[ERROR…]` or its timeout; on timeout it re-synchronises with bare `AT`s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};

use super::command::basic::{
    At, FirmwareInfo, GetInfo, GetMac, MacAddress, MessageLevel, Reset, SetEcho, SetMessageLevel,
};
use super::command::function::{Gpio, GpioConfig, GpioLevel, ReadAdc};
use super::command::gmmp::{GmmpData, GmmpOpt, GmmpSet};
use super::command::socket::{GetDataForm, ListSockets, SocketClose, SocketInfo, SocketOpen};
use super::command::wifi::{
    GetWifiStatus, Join, JoinOutcome, Leave, WifiNet, WifiSecurity, WifiSet, WifiStatus,
};
use super::command::{Command, Reply};
use super::config::{SerialConfig, Timeouts};
use super::error::Error;
use super::events::Event;
use super::parser::{Item, Parser};
use super::response::ResponseLine;
use super::socket_data::{DataForm, SformSetting};

mod commands;
mod data;
mod reader;

use reader::read_loop;

/// Receives the module's events, in the order the module printed them.
pub type EventReceiver = mpsc::UnboundedReceiver<Event>;

/// How long to keep listening after a re-sync `[OK]` for replies that were
/// late rather than lost, so they cannot be taken for the next command's.
const RESYNC_SETTLE: Duration = Duration::from_millis(100);

/// Driver settings besides the port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverConfig {
    /// Per-command timeouts.
    pub timeouts: Timeouts,
    /// The receive header form the module is set to (AT+SFORM); the factory
    /// default unless changed.
    pub data_form: DataForm,
}

/// What the reader forwards to the command in flight.
#[derive(Debug)]
enum Incoming {
    Line(ResponseLine),
    Event(Event),
}

/// State shared by the reader task and the command side.
#[derive(Debug, Default)]
struct Shared {
    /// A command is in flight: forward reply lines.
    pending: AtomicBool,
    /// The parser reads data mode.
    data_mode: AtomicBool,
    /// Ask the parser to switch to data mode after the next `[OK]`.
    request_data_after_ok: AtomicBool,
    /// Ask the parser to go back to command mode.
    request_command_mode: AtomicBool,
    /// Callers waiting for the exchange lock.
    waiting: AtomicUsize,
    /// AT+SSENDs whose final reply never came but that the module had
    /// taken (see [`Driver::unconfirmed_sends`]).
    unconfirmed_sends: AtomicU64,
    /// How long AT+SSEND go-aheads took lately, microseconds: a decaying
    /// maximum, 0 until the first. A module that has given one gives them
    /// all, so a later one missing was lost on the way, and the wait for
    /// it can be fitted to the module (see `data::prompt_wait`).
    prompt_micros: AtomicU64,
}

/// The write half and the reply stream, used by one command at a time.
struct Exchange {
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    replies: mpsc::UnboundedReceiver<Incoming>,
}

/// Counts a caller waiting for the exchange lock while it waits, so a
/// pipelined send can let it in ([`Driver::send_pipelined`]).
struct WaitingGuard<'a>(&'a Shared);

impl<'a> WaitingGuard<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.waiting.fetch_add(1, Ordering::SeqCst);
        WaitingGuard(shared)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Clears `pending` when a command ends, even when its future is dropped.
struct PendingGuard<'a>(&'a Shared);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.pending.store(false, Ordering::SeqCst);
    }
}

/// How a command's exchange ended.
enum Final {
    Ok(Reply),
    Error(String),
}

struct Inner {
    exchange: Mutex<Exchange>,
    shared: Arc<Shared>,
    timeouts: Timeouts,
    reader: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A WizFi310 on a byte stream (a serial port, or anything else for tests).
/// Cheap to clone; calls from several tasks are serialised.
#[derive(Clone)]
pub struct Driver {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("data_mode", &self.in_data_mode())
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// Opens the serial port and starts the driver.
    pub fn open(
        serial: &SerialConfig,
        config: DriverConfig,
    ) -> Result<(Driver, EventReceiver), Error> {
        let port = serial.open()?;
        Ok(Driver::new(port, config))
    }

    /// Starts the driver on any byte stream. Must be called within a tokio
    /// runtime (it spawns the reader task).
    pub fn new<T>(io: T, config: DriverConfig) -> (Driver, EventReceiver)
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read_half, write_half) = tokio::io::split(io);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (replies_tx, replies_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let reader = tokio::spawn(read_loop(
            read_half,
            Parser::new(config.data_form),
            shared.clone(),
            events_tx,
            replies_tx,
        ));
        let inner = Inner {
            exchange: Mutex::new(Exchange {
                writer: Box::new(write_half),
                replies: replies_rx,
            }),
            shared,
            timeouts: config.timeouts,
            reader,
        };
        (
            Driver {
                inner: Arc::new(inner),
            },
            events_rx,
        )
    }

    /// Whether the module is in data mode (raw bytes, no AT commands).
    pub fn in_data_mode(&self) -> bool {
        self.inner.shared.data_mode.load(Ordering::SeqCst)
    }

    /// Start-up: a bare `AT` (re-synchronising if it goes unanswered),
    /// echo off, and a check that AT+SFORM is the form the parser reads.
    pub async fn init(&self, form: &DataForm) -> Result<(), Error> {
        if let Err(Error::Timeout { .. }) = self.at().await {
            // The timeout's re-sync got an [OK]: the module is there now.
            self.at().await?;
        }
        self.set_echo(false).await?;
        let setting = self.data_form().await?;
        if setting.data_form().as_ref() != Some(form) {
            return Err(Error::UnsupportedDataForm(format!("{setting:?}")));
        }
        Ok(())
    }

    /// Runs one typed command.
    pub async fn execute<C: Command>(&self, command: &C) -> Result<C::Output, Error> {
        let line = command.line()?;
        let shown = command.shown();
        let timeout = command.timeout(&self.inner.timeouts);
        let mut ex = self.lock_command_mode().await?;
        let _guard = self.begin(&mut ex);
        let reply = self.exchange(&mut ex, &line, &shown, timeout).await?;
        command.parse(&reply).map_err(|fail| Error::Parse {
            command: shown,
            line: fail.line,
            reason: fail.reason,
        })
    }

    async fn lock_command_mode(&self) -> Result<tokio::sync::MutexGuard<'_, Exchange>, Error> {
        let waiting = WaitingGuard::new(&self.inner.shared);
        let ex = self.inner.exchange.lock().await;
        drop(waiting);
        if self.in_data_mode() {
            return Err(Error::WrongMode("data"));
        }
        Ok(ex)
    }

    /// Drops replies nobody asked for and marks a command in flight.
    fn begin<'a>(&'a self, ex: &mut Exchange) -> PendingGuard<'a> {
        while let Ok(stale) = ex.replies.try_recv() {
            tracing::debug!(?stale, "dropping a reply that came between commands");
        }
        self.inner.shared.pending.store(true, Ordering::SeqCst);
        PendingGuard(&self.inner.shared)
    }

    /// Writes `line` + CR and waits for its final reply; re-syncs on timeout.
    async fn exchange(
        &self,
        ex: &mut Exchange,
        line: &str,
        shown: &str,
        timeout: Duration,
    ) -> Result<Reply, Error> {
        tracing::debug!(command = shown, "sending");
        let result = async {
            write_all(ex, &[line.as_bytes(), b"\r"]).await?;
            match await_final(ex, Instant::now() + timeout).await? {
                Some(Final::Ok(reply)) => Ok(reply),
                Some(Final::Error(words)) => Err(Error::Module {
                    command: shown.to_owned(),
                    words,
                }),
                None => Err(self.recover(ex, shown.to_owned(), timeout).await),
            }
        }
        .await;
        if result.is_err() {
            // A failed AT+SCON …,1 / AT+SDATA must not leave the parser armed.
            self.inner
                .shared
                .request_data_after_ok
                .store(false, Ordering::SeqCst);
        }
        result
    }

    /// After a timeout: bare `AT` until one is answered. Returns the error
    /// to report for the command that timed out.
    async fn recover(&self, ex: &mut Exchange, command: String, after: Duration) -> Error {
        tracing::warn!(%command, ?after, "no reply; re-synchronising with AT");
        let timeouts = &self.inner.timeouts;
        for attempt in 1..=timeouts.resync_attempts {
            if let Err(e) = write_all(ex, &[b"AT\r"]).await {
                return e;
            }
            match await_final(ex, Instant::now() + timeouts.resync).await {
                Ok(Some(Final::Ok(_))) => {
                    tokio::time::sleep(RESYNC_SETTLE).await;
                    while ex.replies.try_recv().is_ok() {}
                    return Error::Timeout { command, after };
                }
                Ok(_) => tracing::debug!(attempt, "re-sync AT not answered with [OK]"),
                Err(e) => return e,
            }
        }
        Error::Unresponsive { command }
    }
}

async fn write_all(ex: &mut Exchange, parts: &[&[u8]]) -> Result<(), Error> {
    let bytes = parts.concat();
    ex.writer.write_all(&bytes).await?;
    ex.writer.flush().await?;
    Ok(())
}

/// Collects the reply until `[OK]`/`[ERROR…]`; `None` at the deadline.
async fn await_final(ex: &mut Exchange, deadline: Instant) -> Result<Option<Final>, Error> {
    // Without `prompt_ends` the wait ends on a final reply or the deadline.
    match await_end(ex, deadline, false).await? {
        Some(End::Final(f)) => Ok(Some(f)),
        Some(End::Prompt) | None => Ok(None),
    }
}

/// How a wait for a command's end ended.
enum End {
    Final(Final),
    /// An AT+SSEND go-ahead (`[sid,,,len]`) came first.
    Prompt,
}

/// Collects the reply until `[OK]`/`[ERROR…]`, or, with `prompt_ends`,
/// until an AT+SSEND go-ahead; `None` at the deadline.
async fn await_end(
    ex: &mut Exchange,
    deadline: Instant,
    prompt_ends: bool,
) -> Result<Option<End>, Error> {
    let mut reply = Reply::default();
    loop {
        match timeout_at(deadline, ex.replies.recv()).await {
            Err(_) => return Ok(None),
            Ok(None) => return Err(Error::Closed),
            Ok(Some(Incoming::Event(event))) => reply.events.push(event),
            Ok(Some(Incoming::Line(line))) => match line {
                ResponseLine::Ok => return Ok(Some(End::Final(Final::Ok(reply)))),
                ResponseLine::Error(words) => return Ok(Some(End::Final(Final::Error(words)))),
                ResponseLine::Text(text) => reply.lines.push(text),
                ResponseLine::SendPrompt { .. } if prompt_ends => return Ok(Some(End::Prompt)),
                ResponseLine::Echo(_) | ResponseLine::SendPrompt { .. } => {}
            },
        }
    }
}
