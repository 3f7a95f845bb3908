//! The async driver: one reader task owning the read half, command calls
//! serialised on the write half.
//!
//! The reader task feeds the [`Parser`] and sends every event to the event
//! channel; while a command is in flight it also forwards reply lines (and
//! copies of socket/link events) to that command. A command call takes the
//! exchange lock, writes its CR-terminated line and waits for `[OK]` /
//! `[ERROR…]` or its timeout; on timeout it re-synchronises with bare `AT`s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

    /// `AT`.
    pub async fn at(&self) -> Result<(), Error> {
        self.execute(&At).await
    }

    /// `AT+MMAC=?`.
    pub async fn mac(&self) -> Result<MacAddress, Error> {
        self.execute(&GetMac).await
    }

    /// `AT+MINFO`.
    pub async fn info(&self) -> Result<FirmwareInfo, Error> {
        self.execute(&GetInfo).await
    }

    /// `AT+MECHO=<0|1>`.
    pub async fn set_echo(&self, on: bool) -> Result<(), Error> {
        self.execute(&SetEcho(on)).await
    }

    /// `AT+MMSG=<level>`.
    pub async fn set_message_level(&self, level: MessageLevel) -> Result<(), Error> {
        self.execute(&SetMessageLevel(level)).await
    }

    /// `AT+MRESET` (long timeout). The module comes back with echo as saved
    /// in its profile; call [`Driver::init`] again.
    pub async fn reset(&self) -> Result<(), Error> {
        self.execute(&Reset).await
    }

    /// `AT+WSET`.
    pub async fn wifi_set(&self, set: &WifiSet) -> Result<(), Error> {
        self.execute(set).await
    }

    /// `AT+WSEC`.
    pub async fn wifi_security(&self, sec: &WifiSecurity) -> Result<(), Error> {
        self.execute(sec).await
    }

    /// `AT+WNET`.
    pub async fn wifi_net(&self, net: &WifiNet) -> Result<(), Error> {
        self.execute(net).await
    }

    /// `AT+WJOIN` (long timeout).
    pub async fn join(&self) -> Result<JoinOutcome, Error> {
        self.execute(&Join).await
    }

    /// `AT+WLEAVE`.
    pub async fn leave(&self) -> Result<(), Error> {
        self.execute(&Leave).await
    }

    /// `AT+WSTAT`.
    pub async fn wifi_status(&self) -> Result<WifiStatus, Error> {
        self.execute(&GetWifiStatus).await
    }

    /// `AT+SMGMT=<sid>` / `ALL`.
    pub async fn close_socket(&self, which: SocketClose) -> Result<(), Error> {
        self.execute(&which).await
    }

    /// `AT+SMGMT=?`.
    pub async fn sockets(&self) -> Result<Vec<SocketInfo>, Error> {
        self.execute(&ListSockets).await
    }

    /// `AT+SFORM=?`.
    pub async fn data_form(&self) -> Result<SformSetting, Error> {
        self.execute(&GetDataForm).await
    }

    /// `AT+FGETADC=?`.
    pub async fn adc(&self) -> Result<u16, Error> {
        self.execute(&ReadAdc).await
    }

    /// `AT+FGPIO=<pin>,2,0`: read a pin.
    pub async fn gpio_read(&self, pin: u8) -> Result<GpioLevel, Error> {
        let shown = Gpio::Read(pin).shown();
        self.execute(&Gpio::Read(pin)).await?.ok_or(Error::Parse {
            command: shown,
            line: String::new(),
            reason: "a GPIO level",
        })
    }

    /// `AT+FGPIO=<pin>,3,<level>`: set a pin.
    pub async fn gpio_write(&self, pin: u8, level: GpioLevel) -> Result<(), Error> {
        self.execute(&Gpio::Write(pin, level)).await.map(drop)
    }

    /// `AT+FGPIO=<pin>,<0|1>,<config>`: configure a pin as input or output.
    pub async fn gpio_configure(
        &self,
        pin: u8,
        output: bool,
        config: GpioConfig,
    ) -> Result<(), Error> {
        let command = if output {
            Gpio::ConfigureOutput(pin, config)
        } else {
            Gpio::ConfigureInput(pin, config)
        };
        self.execute(&command).await.map(drop)
    }

    /// `AT+GMMPSET`.
    pub async fn gmmp_set(&self, set: &GmmpSet) -> Result<(), Error> {
        self.execute(set).await
    }

    /// `AT+GMMPDATA`.
    pub async fn gmmp_data(&self, data: &GmmpData) -> Result<(), Error> {
        self.execute(data).await
    }

    /// `AT+GMMPOPT`.
    pub async fn gmmp_opt(&self, opt: GmmpOpt) -> Result<(), Error> {
        self.execute(&opt).await
    }

    /// `AT+SCON`: opens a socket. Returns the socket id when the module
    /// reported `[CONNECT x]` (a TCP client opened at once reports it; the
    /// driver waits up to `Timeouts::connect_event` after `[OK]` for it).
    /// With `data_mode` set the driver is in data mode after `[OK]`.
    pub async fn open_socket(&self, open: &SocketOpen) -> Result<Option<u8>, Error> {
        let line = open.line()?;
        let shown = open.shown();
        let timeouts = &self.inner.timeouts;
        let mut ex = self.lock_command_mode().await?;
        let _guard = self.begin(&mut ex);
        if open.data_mode {
            self.inner
                .shared
                .request_data_after_ok
                .store(true, Ordering::SeqCst);
        }
        let reply = self
            .exchange(&mut ex, &line, &shown, open.timeout(timeouts))
            .await?;
        let sid = open.parse(&reply).unwrap_or(None);
        if sid.is_some() || !open.expects_connect() || open.data_mode {
            return Ok(sid);
        }
        let deadline = Instant::now() + timeouts.connect_event;
        loop {
            match timeout_at(deadline, ex.replies.recv()).await {
                Ok(Some(Incoming::Event(Event::Connect { sid }))) => return Ok(Some(sid)),
                Ok(Some(_)) => {}
                Ok(None) => return Err(Error::Closed),
                Err(_) => return Ok(None),
            }
        }
    }

    /// `AT+SSEND=<sid>,,,<len>` then exactly the payload, then `[OK]`.
    ///
    /// The driver waits up to `Timeouts::send_prompt` for the module's
    /// `[sid,,,len]` go-ahead (or an `[ERROR…]`, in which case no payload
    /// is written), then writes the payload whether or not a go-ahead came.
    pub async fn send(&self, sid: u8, payload: &[u8]) -> Result<(), Error> {
        check_send_size(payload.len())?;
        let line = ssend_line(sid, payload.len());
        let mut ex = self.lock_command_mode().await?;
        let _guard = self.begin(&mut ex);
        write_all(&mut ex, &[line.as_bytes(), b"\r"]).await?;
        let go = self.await_go_ahead(&mut ex, &line).await?;
        self.finish_send(&mut ex, line, payload, go).await
    }

    /// AT+SSEND for a stream of payloads: sends what `next` yields, in
    /// order, until it yields `None` or another command waits for the
    /// driver (it then gets its turn; call again for the rest). Returns how
    /// many payloads went out.
    ///
    /// Unlike [`send`](Self::send), the next `AT+SSEND` line is written
    /// right after the previous payload, before its `[OK]`: the module
    /// reads it from its UART buffer once the payload is in, and its
    /// go-ahead comes back right after that `[OK]`, ahead of any socket
    /// data the payload caused. A payload is still written only after its
    /// go-ahead. A module that gives no bracketed go-ahead is served one
    /// payload the plain way, without pipelining.
    ///
    /// `next` must yield 1..=100,000,000 bytes. On an error the payloads
    /// not yet sent are lost to the caller (it took them from `next`): a
    /// caller that must not lose them keeps its own copy — the agent's
    /// spool does.
    pub async fn send_pipelined<F>(&self, sid: u8, mut next: F) -> Result<usize, Error>
    where
        F: FnMut() -> Option<Bytes>,
    {
        let Some(mut payload) = next() else {
            return Ok(0);
        };
        check_send_size(payload.len())?;
        let mut line = ssend_line(sid, payload.len());
        let mut ex = self.lock_command_mode().await?;
        let _guard = self.begin(&mut ex);
        write_all(&mut ex, &[line.as_bytes(), b"\r"]).await?;
        let mut sent = 0;
        loop {
            let go = self.await_go_ahead(&mut ex, &line).await?;
            if go != GoAhead::Prompt {
                self.finish_send(&mut ex, line, &payload, go).await?;
                return Ok(sent + 1);
            }
            write_all(&mut ex, &[&payload]).await?;
            let others_wait = self.inner.shared.waiting.load(Ordering::SeqCst) > 0;
            let following = match (!others_wait).then(&mut next).flatten() {
                Some(p) if check_send_size(p.len()).is_ok() => Some(p),
                Some(p) => return Err(check_send_size(p.len()).unwrap_err()),
                None => None,
            };
            let following = following.map(|p| (ssend_line(sid, p.len()), p));
            if let Some((next_line, _)) = &following {
                write_all(&mut ex, &[next_line.as_bytes(), b"\r"]).await?;
            }
            let after = self.inner.timeouts.send_for(payload.len());
            match await_final(&mut ex, Instant::now() + after).await? {
                Some(Final::Ok(_)) => sent += 1,
                Some(Final::Error(words)) => {
                    if let Some((next_line, next_payload)) = following {
                        // The module has read that line: finish its exchange
                        // so that it does not take later commands as payload.
                        if let Ok(go) = self.await_go_ahead(&mut ex, &next_line).await {
                            let _ = self
                                .finish_send(&mut ex, next_line, &next_payload, go)
                                .await;
                        }
                    }
                    return Err(Error::Module {
                        command: line,
                        words,
                    });
                }
                None => return Err(self.recover(&mut ex, line, after).await),
            }
            match following {
                Some((next_line, next_payload)) => {
                    line = next_line;
                    payload = next_payload;
                }
                None => return Ok(sent),
            }
        }
    }

    /// Waits for the go-ahead of an AT+SSEND line (see [`send`](Self::send)).
    async fn await_go_ahead(&self, ex: &mut Exchange, line: &str) -> Result<GoAhead, Error> {
        let deadline = Instant::now() + self.inner.timeouts.send_prompt;
        loop {
            match timeout_at(deadline, ex.replies.recv()).await {
                Ok(Some(Incoming::Line(ResponseLine::SendPrompt { .. }))) => {
                    return Ok(GoAhead::Prompt);
                }
                Err(_) => return Ok(GoAhead::Silent),
                Ok(Some(Incoming::Line(ResponseLine::Ok))) => return Ok(GoAhead::OkEarly),
                Ok(Some(Incoming::Line(ResponseLine::Error(words)))) => {
                    return Err(Error::Module {
                        command: line.to_owned(),
                        words,
                    });
                }
                Ok(Some(_)) => {}
                Ok(None) => return Err(Error::Closed),
            }
        }
    }

    /// Writes the payload of an AT+SSEND and takes its final reply.
    async fn finish_send(
        &self,
        ex: &mut Exchange,
        line: String,
        payload: &[u8],
        go: GoAhead,
    ) -> Result<(), Error> {
        let timeouts = &self.inner.timeouts;
        write_all(ex, &[payload]).await?;
        if go == GoAhead::OkEarly {
            // `[OK]` came before the payload: take a second final if it
            // comes soon, and success if none does.
            let deadline = Instant::now() + timeouts.send_prompt;
            return match await_final(ex, deadline).await {
                Ok(Some(Final::Error(words))) => Err(Error::Module {
                    command: line,
                    words,
                }),
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
        }
        let after = timeouts.send_for(payload.len());
        match await_final(ex, Instant::now() + after).await? {
            Some(Final::Ok(_)) => Ok(()),
            Some(Final::Error(words)) => Err(Error::Module {
                command: line,
                words,
            }),
            None => Err(self.recover(ex, line, after).await),
        }
    }

    /// `AT+SDATA`: back to data mode after a `+++` escape.
    pub async fn resume_data_mode(&self) -> Result<(), Error> {
        let mut ex = self.lock_command_mode().await?;
        let _guard = self.begin(&mut ex);
        self.inner
            .shared
            .request_data_after_ok
            .store(true, Ordering::SeqCst);
        let timeout = self.inner.timeouts.command;
        self.exchange(&mut ex, "AT+SDATA", "AT+SDATA", timeout)
            .await
            .map(drop)
    }

    /// Writes raw bytes to the data-mode socket.
    pub async fn send_raw(&self, bytes: &[u8]) -> Result<(), Error> {
        let mut ex = self.inner.exchange.lock().await;
        if !self.in_data_mode() {
            return Err(Error::WrongMode("command"));
        }
        write_all(&mut ex, &[bytes]).await
    }

    /// Leaves data mode with `+++`: silence for the guard time, `+++`,
    /// then the module's `[OK]` (it waits the guard time too).
    pub async fn escape_data_mode(&self) -> Result<(), Error> {
        let mut ex = self.inner.exchange.lock().await;
        if !self.in_data_mode() {
            return Err(Error::WrongMode("command"));
        }
        let guard_time = self.inner.timeouts.escape_guard;
        let _guard = self.begin(&mut ex);
        tokio::time::sleep(guard_time).await;
        write_all(&mut ex, &[b"+++"]).await?;
        self.inner
            .shared
            .request_command_mode
            .store(true, Ordering::SeqCst);
        let after = guard_time * 2 + self.inner.timeouts.command;
        match await_final(&mut ex, Instant::now() + after).await? {
            Some(Final::Ok(_)) => Ok(()),
            Some(Final::Error(words)) => Err(Error::Module {
                command: "+++".into(),
                words,
            }),
            None => Err(self.recover(&mut ex, "+++".into(), after).await),
        }
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

/// What answered an AT+SSEND line before its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GoAhead {
    /// `[sid,,,len]`.
    Prompt,
    /// `[OK]` (a firmware that answers before reading the payload).
    OkEarly,
    /// Nothing within `send_prompt`.
    Silent,
}

fn check_send_size(len: usize) -> Result<(), Error> {
    if len == 0 || len > 100_000_000 {
        return Err(Error::InvalidArgument {
            command: "AT+SSEND",
            reason: format!("size {len} outside 1..=100000000"),
        });
    }
    Ok(())
}

fn ssend_line(sid: u8, len: usize) -> String {
    format!("AT+SSEND={sid},,,{len}")
}

async fn write_all(ex: &mut Exchange, parts: &[&[u8]]) -> Result<(), Error> {
    let bytes = parts.concat();
    ex.writer.write_all(&bytes).await?;
    ex.writer.flush().await?;
    Ok(())
}

/// Collects the reply until `[OK]`/`[ERROR…]`; `None` at the deadline.
async fn await_final(ex: &mut Exchange, deadline: Instant) -> Result<Option<Final>, Error> {
    let mut reply = Reply::default();
    loop {
        match timeout_at(deadline, ex.replies.recv()).await {
            Err(_) => return Ok(None),
            Ok(None) => return Err(Error::Closed),
            Ok(Some(Incoming::Event(event))) => reply.events.push(event),
            Ok(Some(Incoming::Line(line))) => match line {
                ResponseLine::Ok => return Ok(Some(Final::Ok(reply))),
                ResponseLine::Error(words) => return Ok(Some(Final::Error(words))),
                ResponseLine::Text(text) => reply.lines.push(text),
                ResponseLine::Echo(_) | ResponseLine::SendPrompt { .. } => {}
            },
        }
    }
}

/// The reader task: port bytes → parser → events / replies.
async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: R,
    mut parser: Parser,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<Event>,
    replies: mpsc::UnboundedSender<Incoming>,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "serial read failed; driver stops");
                break;
            }
        };
        parser.feed(&buf[..n]);
        loop {
            if shared.request_command_mode.swap(false, Ordering::SeqCst) {
                parser.enter_command_mode();
            }
            if shared.request_data_after_ok.swap(false, Ordering::SeqCst) {
                parser.enter_data_mode_after_ok();
            }
            let Some(item) = parser.next_item() else {
                break;
            };
            shared
                .data_mode
                .store(parser.in_data_mode(), Ordering::SeqCst);
            let pending = shared.pending.load(Ordering::SeqCst);
            match item {
                Item::Event(event) => {
                    if pending
                        && matches!(
                            event,
                            Event::Connect { .. }
                                | Event::Disconnect { .. }
                                | Event::LinkUp { .. }
                                | Event::LinkDown
                        )
                    {
                        let _ = replies.send(Incoming::Event(event.clone()));
                    }
                    let _ = events.send(event);
                }
                Item::Response(line) if pending => {
                    let _ = replies.send(Incoming::Line(line));
                }
                Item::Response(line) => tracing::debug!(?line, "unsolicited line"),
            }
        }
    }
}
