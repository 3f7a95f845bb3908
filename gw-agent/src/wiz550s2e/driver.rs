//! The async driver: one reader task owning the read half, command calls
//! serialised on the write half (the same shape as the WizFi310 driver).
//!
//! The reader task feeds the [`Parser`], sends socket data and socket
//! events to the event channel, and forwards response lines and dumps to
//! the command in flight. A command call takes the exchange lock, writes
//! its CR LF-terminated line and waits for its answer — for a two-step
//! command `[W,<sock>]` first, then its final `[S,<sock>]` / `[F,…]` — or
//! its timeout; on a timeout it re-synchronises with bare `AT`s. AT+NSEND
//! (one send, or a stream of them pipelined) is in [`send`](self::send).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, MutexGuard, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};

use super::command::{
    Answer, Answering, At, CloseSocket, Command, FirmwareVersion, GetMac, GetNetStatus,
    ListSockets, NetStatus, OpenTcpClient, Reset, SocketInfo,
};
use super::error::Error;
use super::parser::{Item, Parser};
use super::reply::{ErrorCode, ReplyLine, SocketEvent};
use super::timeouts::Timeouts;
use crate::wizfi310::{MacAddress, SerialConfig};

/// Most bytes one AT+NSEND takes (`WORK_BUF_SIZE` of the firmware).
pub const MAX_SEND: usize = 1024;

/// How long to keep listening after a re-sync `[S]` for answers that were
/// late rather than lost, so they cannot be taken for the next command's.
const RESYNC_SETTLE: Duration = Duration::from_millis(100);

/// What the module said on its own, in the order it printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bytes received on a socket (`[R,<sock>,<len>]`), byte-exact.
    Data {
        /// The socket.
        sock: u8,
        /// The payload.
        data: Bytes,
    },
    /// A socket event (`[V,<sock>,<event>]`; 2: closed).
    Socket {
        /// The socket.
        sock: u8,
        /// What happened.
        event: SocketEvent,
    },
    /// Bytes of the data-mode connection, as read from the port.
    Stream(Bytes),
}

/// Receives the module's events.
pub type EventReceiver = mpsc::UnboundedReceiver<Event>;

/// What the reader forwards to the command in flight.
#[derive(Debug)]
enum Incoming {
    Line(ReplyLine),
    Dump(Bytes),
}

/// The write half and the reply stream, used by one command at a time.
struct Exchange {
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    replies: mpsc::UnboundedReceiver<Incoming>,
}

/// Clears the in-flight flag when a command ends, even when its future is
/// dropped.
struct PendingGuard<'a>(&'a AtomicBool);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Counts a caller waiting for the exchange lock while it waits, so a
/// pipelined send gives way to it.
struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn new(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::SeqCst);
        WaitingGuard(waiting)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Inner {
    exchange: Mutex<Exchange>,
    pending: Arc<AtomicBool>,
    /// How the reader takes the port's bytes ([`stream::PORT_LINES`] …).
    port_mode: Arc<AtomicU8>,
    /// Callers waiting for the exchange lock.
    waiting: AtomicUsize,
    /// Records whose bytes the driver replaced with NULs (see
    /// [`Driver::padded_records`]).
    padded_records: AtomicU64,
    timeouts: Timeouts,
    reader: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A WIZ550S2E on a byte stream (a serial port, or anything else for
/// tests). Cheap to clone; calls from several tasks are serialised.
#[derive(Clone)]
pub struct Driver {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

/// How an exchange ended.
enum Final {
    Done(Answer),
    Failed { code: ErrorCode, param: Option<u32> },
}

impl Driver {
    /// Opens the serial port (the WizFi310's [`SerialConfig`]: the same
    /// UART settings, factory `115200,N,8,1,N`) and starts the driver.
    pub fn open(
        serial: &SerialConfig,
        timeouts: Timeouts,
    ) -> Result<(Driver, EventReceiver), Error> {
        let port = serial.open().map_err(|e| match e {
            crate::wizfi310::Error::Open { path, source } => Error::Open { path, source },
            other => Error::InvalidArgument {
                command: "serial port settings",
                reason: other.to_string(),
            },
        })?;
        Ok(Driver::new(port, timeouts))
    }

    /// Starts the driver on any byte stream. Must be called within a tokio
    /// runtime (it spawns the reader task).
    pub fn new<T>(io: T, timeouts: Timeouts) -> (Driver, EventReceiver)
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read_half, write_half) = tokio::io::split(io);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (replies_tx, replies_rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicBool::new(false));
        let port_mode = Arc::new(AtomicU8::new(stream::PORT_LINES));
        let reader = tokio::spawn(read_loop(
            read_half,
            pending.clone(),
            port_mode.clone(),
            events_tx,
            replies_tx,
        ));
        let inner = Inner {
            exchange: Mutex::new(Exchange {
                writer: Box::new(write_half),
                replies: replies_rx,
            }),
            pending,
            port_mode,
            waiting: AtomicUsize::new(0),
            padded_records: AtomicU64::new(0),
            timeouts,
            reader,
        };
        (
            Driver {
                inner: Arc::new(inner),
            },
            events_rx,
        )
    }

    /// The timeouts in use.
    pub fn timeouts(&self) -> &Timeouts {
        &self.inner.timeouts
    }

    /// Records the driver filled with NULs instead of their bytes: an
    /// AT+NSEND whose answer was lost, where the module may be waiting for
    /// that many bytes. If it was, the NULs went to the peer, and a GMMP
    /// peer closes the connection on them; a socket closing after this
    /// count grew was closed by the driver's own padding, not by a peer
    /// that went away.
    pub fn padded_records(&self) -> u64 {
        self.inner.padded_records.load(Ordering::Relaxed)
    }

    /// Start-up: bare `AT`s until one is answered; if none is, the module
    /// is taken to be in data mode (its factory boot mode): `+++` with the
    /// guard times, then `AT`s again.
    pub async fn init(&self) -> Result<(), Error> {
        if self.probe().await? {
            return Ok(());
        }
        tracing::info!("no answer to AT: escaping data mode with +++");
        self.escape().await?;
        if self.probe().await? {
            return Ok(());
        }
        Err(Error::Unresponsive {
            command: "AT".into(),
        })
    }

    /// Runs one typed command.
    pub async fn execute<C: Command>(&self, command: &C) -> Result<C::Output, Error> {
        let line = command.line();
        let timeout = command.timeout(&self.inner.timeouts);
        let mut ex = self.lock().await;
        let _guard = self.begin(&mut ex);
        tracing::debug!(command = %line, "sending");
        write_all(&mut ex, &[line.as_bytes(), b"\r\n"]).await?;
        let answer = match self
            .await_final(&mut ex, command.answering(), timeout)
            .await?
        {
            Some(Final::Done(answer)) => answer,
            Some(Final::Failed { code, param }) => {
                return Err(Error::Module {
                    command: line,
                    code,
                    param,
                });
            }
            None => return Err(self.recover(&mut ex, line, timeout).await),
        };
        command.parse(&answer).map_err(|fail| Error::Parse {
            command: line,
            line: fail.line,
            reason: fail.reason,
        })
    }

    /// `AT`.
    pub async fn at(&self) -> Result<(), Error> {
        self.execute(&At).await
    }

    /// The MAC (AT+NMAC?).
    pub async fn mac(&self) -> Result<MacAddress, Error> {
        self.execute(&GetMac).await
    }

    /// The firmware version (AT+MSTAT).
    pub async fn firmware_version(&self) -> Result<String, Error> {
        self.execute(&FirmwareVersion).await
    }

    /// The addresses in use (AT+NSTAT?).
    pub async fn net_status(&self) -> Result<NetStatus, Error> {
        self.execute(&GetNetStatus).await
    }

    /// Opens socket 0 as a TCP client of `ip:port` (AT+NOPEN=C,,…); returns
    /// once connected.
    pub async fn open_tcp(&self, ip: Ipv4Addr, port: u16) -> Result<(), Error> {
        self.execute(&OpenTcpClient { ip, port }).await
    }

    /// Closes a socket (AT+NCLOSE).
    pub async fn close_socket(&self, sock: u8) -> Result<(), Error> {
        self.execute(&CloseSocket(sock)).await
    }

    /// The open sockets (AT+NSOCK).
    pub async fn sockets(&self) -> Result<Vec<SocketInfo>, Error> {
        self.execute(&ListSockets).await
    }

    /// AT+MRST, then the reboot wait and start-up again ([`init`](Self::init)).
    pub async fn reset(&self) -> Result<(), Error> {
        self.execute(&Reset).await?;
        tokio::time::sleep(self.inner.timeouts.reboot).await;
        self.init().await
    }

    /// Leaves data mode: silence, `+++`, silence (the firmware's trigger).
    /// Its `[W,0]` `[S,0]` answer is dropped by the next command. From the
    /// `+++` on, the port's bytes are read as lines again (the answer's
    /// leading CR LFs end whatever the connection sent last).
    pub async fn escape(&self) -> Result<(), Error> {
        let guard = self.inner.timeouts.escape_guard;
        let mut ex = self.lock().await;
        tokio::time::sleep(guard).await;
        self.inner
            .port_mode
            .store(stream::PORT_LINES, Ordering::SeqCst);
        write_all(&mut ex, &[b"+++"]).await?;
        tokio::time::sleep(guard).await;
        Ok(())
    }

    /// Up to `resync_attempts` bare `AT`s of `resync` each; true once one
    /// is answered `[S]`.
    async fn probe(&self) -> Result<bool, Error> {
        let mut ex = self.lock().await;
        let _guard = self.begin(&mut ex);
        self.resync(&mut ex).await
    }

    /// The exchange, counted as waiting for it until it is ours.
    async fn lock(&self) -> MutexGuard<'_, Exchange> {
        let _waiting = WaitingGuard::new(&self.inner.waiting);
        self.inner.exchange.lock().await
    }

    /// Whether another call waits for the exchange.
    fn others_wait(&self) -> bool {
        self.inner.waiting.load(Ordering::SeqCst) > 0
    }

    /// Drops replies nobody asked for and marks a command in flight.
    fn begin<'a>(&'a self, ex: &mut Exchange) -> PendingGuard<'a> {
        while let Ok(stale) = ex.replies.try_recv() {
            tracing::debug!(?stale, "dropping an answer that came between commands");
        }
        self.inner.pending.store(true, Ordering::SeqCst);
        PendingGuard(&self.inner.pending)
    }

    /// Waits for the final answer; `None` at the timeout. A two-step
    /// command gets `command` for its `[W,…]`, then `timeout` for the rest.
    async fn await_final(
        &self,
        ex: &mut Exchange,
        answering: Answering,
        timeout: Duration,
    ) -> Result<Option<Final>, Error> {
        let first = match answering {
            Answering::AtOnce => timeout,
            Answering::Later => self.inner.timeouts.command,
        };
        let mut deadline = Instant::now() + first;
        loop {
            let incoming = match timeout_at(deadline, ex.replies.recv()).await {
                Err(_) => return Ok(None),
                Ok(None) => return Err(Error::Closed),
                Ok(Some(incoming)) => incoming,
            };
            match incoming {
                Incoming::Dump(data) => {
                    return Ok(Some(Final::Done(Answer {
                        args: Vec::new(),
                        dump: Some(data),
                    })));
                }
                Incoming::Line(ReplyLine::Success { args, .. }) => {
                    return Ok(Some(Final::Done(Answer { args, dump: None })));
                }
                Incoming::Line(ReplyLine::Failure { code, param, .. }) => {
                    return Ok(Some(Final::Failed { code, param }));
                }
                Incoming::Line(ReplyLine::Wait { .. }) if answering == Answering::Later => {
                    deadline = Instant::now() + timeout;
                }
                Incoming::Line(other) => tracing::debug!(line = ?other, "ignored during a command"),
            }
        }
    }

    /// After a timeout: bare `AT` until one is answered. Returns the error
    /// to report for the command that timed out.
    async fn recover(&self, ex: &mut Exchange, command: String, after: Duration) -> Error {
        tracing::warn!(%command, ?after, "no answer; re-synchronising with AT");
        match self.resync(ex).await {
            Ok(true) => Error::Timeout { command, after },
            Ok(false) => Error::Unresponsive { command },
            Err(e) => e,
        }
    }

    async fn resync(&self, ex: &mut Exchange) -> Result<bool, Error> {
        let t = &self.inner.timeouts;
        for attempt in 1..=t.resync_attempts {
            write_all(ex, &[b"AT\r\n"]).await?;
            let deadline = Instant::now() + t.resync;
            loop {
                match timeout_at(deadline, ex.replies.recv()).await {
                    Err(_) => break,
                    Ok(None) => return Err(Error::Closed),
                    // Only AT's own `[S]`: a late `[S,0]` is not it.
                    Ok(Some(Incoming::Line(ReplyLine::Success { id: None, args })))
                        if args.is_empty() =>
                    {
                        tokio::time::sleep(RESYNC_SETTLE).await;
                        while ex.replies.try_recv().is_ok() {}
                        return Ok(true);
                    }
                    Ok(Some(_)) => {}
                }
            }
            tracing::debug!(attempt, "re-sync AT not answered with [S]");
        }
        Ok(false)
    }
}

async fn write_all(ex: &mut Exchange, parts: &[&[u8]]) -> Result<(), Error> {
    let bytes = parts.concat();
    ex.writer.write_all(&bytes).await?;
    ex.writer.flush().await?;
    Ok(())
}

/// The reader task: port bytes → parser → events / answers.
async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: R,
    pending: Arc<AtomicBool>,
    port_mode: Arc<AtomicU8>,
    events: mpsc::UnboundedSender<Event>,
    replies: mpsc::UnboundedSender<Incoming>,
) {
    let mut parser = Parser::new();
    let mut line_end = stream::LineEnd::done();
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
        if port_mode.load(Ordering::SeqCst) == stream::PORT_STREAM {
            let bytes = line_end.strip(&buf[..n]);
            if !bytes.is_empty() {
                let _ = events.send(Event::Stream(Bytes::copy_from_slice(bytes)));
            }
            continue;
        }
        parser.feed(&buf[..n]);
        while let Some(item) = parser.next_item() {
            let pending = pending.load(Ordering::SeqCst);
            if let Item::Line(line @ ReplyLine::Success { .. }) = &item
                && pending
                && stream::begins_stream(&port_mode)
            {
                // AT+MDATA's `[S]`: what follows it is the connection's.
                let _ = replies.send(Incoming::Line(line.clone()));
                let rest = parser.take_rest();
                line_end = stream::LineEnd::pending();
                let rest = line_end.strip(&rest);
                if !rest.is_empty() {
                    let _ = events.send(Event::Stream(Bytes::copy_from_slice(rest)));
                }
                break;
            }
            match item {
                Item::Received { sock, data, .. } => {
                    let _ = events.send(Event::Data { sock, data });
                }
                Item::Event { sock, event } => {
                    let _ = events.send(Event::Socket { sock, event });
                }
                Item::Line(line) if pending => {
                    let _ = replies.send(Incoming::Line(line));
                }
                Item::Dump { data, .. } if pending => {
                    let _ = replies.send(Incoming::Dump(data));
                }
                other => tracing::debug!(item = ?other, "unsolicited"),
            }
        }
    }
}

mod send;
mod stream;

#[cfg(test)]
mod tests;
