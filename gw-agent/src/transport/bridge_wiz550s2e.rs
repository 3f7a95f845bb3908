//! The `bridge` transport on a WIZ550S2E: the agent's own GMMP client over
//! the TCP socket the module opens to the OMP in command mode.
//!
//! ```text
//! connect: start-up as needed, AT+NSTAT? (an address), then
//!          AT+NOPEN=C,,<omp ip>,<port>  →  [W,0]  …  [S,0]
//! send:    AT+NSEND=0,<len>  →  [W,0]  →  <frame bytes>  →  [S,0]
//!          from a writer task (the WizFi310's outbox): frames queued
//!          together share one AT+NSEND record of up to MAX_RECORD (1007)
//!          bytes, larger ones are split, and the next AT+NSEND line goes
//!          out right behind the previous record's bytes (the driver's
//!          send_pipelined)
//! recv:    [R,0,<len>]\r\n<bytes>\r\n …  →  reassembled into GMMP frames
//! close:   AT+NCLOSE=0
//! ```
//!
//! A socket left open by an earlier run of the agent is closed with
//! AT+NCLOSE=0 once per module start-up (and when AT+NOPEN answers
//! `[F,,10]`, no free socket). `[V,0,2]` (the OMP closed, or the
//! connection broke) ends the session (`recv` answers `Ok(None)`, or
//! `PaddedRecord` when the driver had just filled a record with NULs after
//! a lost AT+NSEND answer: the OMP closed on those); a failed
//! AT+NSEND (`[F,,11]` after the module rebooted on its own, `[F,,13]`)
//! ends it with an error. The agent loop's reconnect back-off paces the
//! reconnects; the next `connect` starts the module again when needed.
//!
//! Decisions:
//! - An OMP host that is not an IPv4 literal is resolved by the host at
//!   each connect (first IPv4 address): AT+NOPEN takes dotted IPv4 only.
//! - Module operations: Reset → AT+MRST and start-up again; Firmware
//!   Version Check → AT+MSTAT. The module has no Wi-Fi RSSI and no GPIO
//!   command: those controls are answered rc 0x0D.

use std::net::Ipv4Addr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use gmmp_codec::{Frame, GmmpCodec};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::codec::Decoder;

use super::bridge::resolve_ipv4;
use super::bridge::writer::Outbox;
use super::{LinkStatus, ModuleAnswer, ModuleOp, Transport, TransportError};
use crate::module::ModuleError;
use crate::module::wiz550s2e::Wiz550s2eModule;
use crate::wiz550s2e::{self, Driver, ErrorCode, Event, MAX_RECORD, SocketEvent};

/// The one socket the firmware's AT mode has.
const SOCKET: u8 = 0;

/// GMMP over the WIZ550S2E's TCP socket.
#[derive(Debug)]
pub struct Wiz550s2eBridge {
    module: Wiz550s2eModule,
    omp_host: String,
    omp_port: u16,
    connected: bool,
    inbound: BytesMut,
    /// The module start the stale socket was closed for.
    swept: Option<u64>,
    writer: Option<Writer>,
}

/// The running writer of a connected socket.
#[derive(Debug)]
struct Writer {
    outbox: Arc<Outbox>,
    failed: oneshot::Receiver<wiz550s2e::Error>,
    task: JoinHandle<()>,
    driver: Driver,
    /// The driver's padded records when this socket opened.
    padded_before: u64,
}

/// What `recv` woke up for.
enum Next {
    Event(Result<Event, ModuleError>),
    WriterFailed(Option<wiz550s2e::Error>),
}

impl Wiz550s2eBridge {
    /// A bridge to `omp_host:omp_port` through `module` (not connected).
    pub fn new(module: Wiz550s2eModule, omp_host: &str, omp_port: u16) -> Self {
        Wiz550s2eBridge {
            module,
            omp_host: omp_host.to_owned(),
            omp_port,
            connected: false,
            inbound: BytesMut::new(),
            swept: None,
            writer: None,
        }
    }

    fn addr(&self, ip: Ipv4Addr) -> String {
        format!("{ip}:{}", self.omp_port)
    }

    fn module_err(&mut self, e: wiz550s2e::Error) -> TransportError {
        self.module.note_error(&e);
        TransportError::Module(e.into())
    }

    fn start_writer(&mut self, driver: Driver) {
        let outbox = Arc::new(Outbox::default());
        let (failed_tx, failed) = oneshot::channel();
        let padded_before = driver.padded_records();
        let task = tokio::spawn(write_loop(driver.clone(), outbox.clone(), failed_tx));
        self.writer = Some(Writer {
            outbox,
            failed,
            task,
            driver,
            padded_before,
        });
    }
}

/// Empties `outbox` into the socket through pipelined AT+NSENDs until it
/// is closed and empty, or a send fails (the error goes to `failed`).
/// Chunks are at most one record: a record's frames then go out whole
/// behind the line, and the next line fits the module's receive ring
/// behind them.
async fn write_loop(
    driver: Driver,
    outbox: Arc<Outbox>,
    failed: oneshot::Sender<wiz550s2e::Error>,
) {
    loop {
        match driver
            .send_pipelined(SOCKET, || outbox.take_chunk_up_to(MAX_RECORD))
            .await
        {
            Ok(0) if outbox.is_closed() => return,
            Ok(0) => outbox.wait_ready().await,
            Ok(_) => {}
            Err(e) => {
                let _ = failed.send(e);
                return;
            }
        }
    }
}

impl Transport for Wiz550s2eBridge {
    fn name(&self) -> &'static str {
        "bridge"
    }

    async fn connect(&mut self) -> Result<(), TransportError> {
        self.close().await;
        let ip: Ipv4Addr = resolve_ipv4(&self.omp_host, self.omp_port)
            .await?
            .parse()
            .map_err(|_| TransportError::NotConnected)?;
        let driver = self.module.ensure_ready().await?;
        if self.swept != Some(self.module.starts()) {
            // A socket a previous agent run left open holds the one id.
            if let Err(e) = driver.close_socket(SOCKET).await {
                tracing::debug!(error = %e, "AT+NCLOSE=0 at start-up");
            }
            self.swept = Some(self.module.starts());
        }
        let mut opened = driver.open_tcp(ip, self.omp_port).await;
        // The firmware answers `[F,,10]` when its one socket is open, and
        // `[F,,12,2]` when it is open from the same source port: a socket
        // this side took for closed (a socket event that belonged to the
        // one before) is still open on the module. Either way it is closed
        // and the open tried once more; left open, every later AT+NOPEN
        // would fail the same way.
        if let Err(wiz550s2e::Error::Module {
            code: ErrorCode::NoSocket | ErrorCode::PortInUse,
            ..
        }) = &opened
        {
            tracing::info!("AT+NOPEN: the socket is in use; closing it first");
            if let Err(e) = driver.close_socket(SOCKET).await {
                tracing::debug!(error = %e, "AT+NCLOSE=0");
            }
            opened = driver.open_tcp(ip, self.omp_port).await;
        }
        match opened {
            Ok(()) => {
                tracing::info!(omp = %self.addr(ip), "module socket connected");
                self.connected = true;
                self.start_writer(driver);
                Ok(())
            }
            Err(e @ wiz550s2e::Error::Module { .. }) => Err(TransportError::Connect {
                addr: self.addr(ip),
                source: std::io::Error::other(e.to_string()),
            }),
            Err(e) => Err(self.module_err(e)),
        }
    }

    async fn send(&mut self, frame: Bytes) -> Result<(), TransportError> {
        self.send_batch(vec![frame]).await
    }

    /// Queues the frames for the writer task; a failure of an earlier
    /// AT+NSEND comes back through [`recv`](Transport::recv).
    async fn send_batch(&mut self, frames: Vec<Bytes>) -> Result<(), TransportError> {
        let writer = self.writer.as_ref().ok_or(TransportError::NotConnected)?;
        if writer.task.is_finished() {
            return Err(TransportError::NotConnected);
        }
        writer.outbox.push(frames);
        Ok(())
    }

    async fn recv(&mut self) -> Result<Option<Frame>, TransportError> {
        loop {
            if let Some(frame) = GmmpCodec.decode(&mut self.inbound)? {
                return Ok(Some(frame));
            }
            if !self.connected {
                return Err(TransportError::NotConnected);
            }
            let next = match self.writer.as_mut() {
                Some(writer) => tokio::select! {
                    event = self.module.next_event() => Next::Event(event),
                    failed = &mut writer.failed => Next::WriterFailed(failed.ok()),
                },
                None => Next::Event(self.module.next_event().await),
            };
            let event = match next {
                Next::Event(event) => event?,
                Next::WriterFailed(error) => {
                    // The task has ended; its receiver must not be polled again.
                    self.writer = None;
                    self.connected = false;
                    return Err(match error {
                        Some(e) => self.module_err(e),
                        None => TransportError::NotConnected,
                    });
                }
            };
            match event {
                Event::Data { sock: SOCKET, data } => self.inbound.extend_from_slice(&data),
                Event::Socket {
                    sock: SOCKET,
                    event: SocketEvent::Closed | SocketEvent::Disconnected,
                } => {
                    self.connected = false;
                    // The socket event can come before the writer's own
                    // error: a close right after padding is the padding's.
                    let padded = self
                        .writer
                        .as_ref()
                        .is_some_and(|w| w.driver.padded_records() > w.padded_before);
                    if padded {
                        return Err(TransportError::PaddedRecord);
                    }
                    return Ok(None);
                }
                other => tracing::trace!(event = ?other, "module event during the session"),
            }
        }
    }

    async fn close(&mut self) {
        self.inbound.clear();
        if let Some(writer) = self.writer.take() {
            // Queued frames go out first (a control's answer queued just
            // before a Reset); an AT+NSEND cut off halfway would leave the
            // module reading our next commands as payload.
            let records = writer.outbox.queued_bytes() / MAX_RECORD + 2;
            let bound = self.module.timeouts().send * records as u32;
            writer.outbox.close();
            let mut task = writer.task;
            if tokio::time::timeout(bound, &mut task).await.is_err() {
                task.abort();
            }
        }
        if !std::mem::take(&mut self.connected) {
            return;
        }
        if let Ok(driver) = self.module.ensure_started().await
            && let Err(e) = driver.close_socket(SOCKET).await
        {
            // Usually `[F,,11]`: the module closed it already.
            tracing::debug!(error = %e, "closing the module socket");
            self.module.note_error(&e);
        }
    }

    async fn default_auth_id(&mut self) -> Result<Option<String>, TransportError> {
        default_auth_id(&mut self.module).await
    }

    fn link_status(&self) -> LinkStatus {
        link_status(&self.module)
    }

    fn supports(&self, op: ModuleOp) -> bool {
        supports(op)
    }

    async fn module_op(&mut self, op: ModuleOp) -> Result<ModuleAnswer, TransportError> {
        module_op(&mut self.module, op, "bridge (WIZ550S2E)").await
    }
}

// What both WIZ550S2E transports (command mode here, data mode in
// `bridge_wiz550s2e_data`) ask of the module alike.

/// The module's MAC as the auth ID.
pub(super) async fn default_auth_id(
    module: &mut Wiz550s2eModule,
) -> Result<Option<String>, TransportError> {
    Ok(Some(module.mac().await?.to_hex_lower()))
}

pub(super) fn link_status(module: &Wiz550s2eModule) -> LinkStatus {
    let (module, wifi) = module.status_words();
    LinkStatus { module, wifi }
}

/// The controls the module executes: Reset (AT+MRST) and Firmware Version
/// (AT+MSTAT).
pub(super) fn supports(op: ModuleOp) -> bool {
    matches!(op, ModuleOp::Reset | ModuleOp::FirmwareVersion)
}

pub(super) async fn module_op(
    module: &mut Wiz550s2eModule,
    op: ModuleOp,
    transport: &'static str,
) -> Result<ModuleAnswer, TransportError> {
    match op {
        ModuleOp::Reset => {
            module.reset().await?;
            Ok(ModuleAnswer::Done)
        }
        ModuleOp::FirmwareVersion => Ok(ModuleAnswer::Text(module.firmware_version().await?)),
        op => Err(TransportError::Unsupported { op, transport }),
    }
}
