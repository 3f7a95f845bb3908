//! The `bridge` transport: the agent's own GMMP client over a TCP socket
//! that the WizFi310 opens to the OMP, driven with AT commands.
//!
//! ```text
//! connect: start-up and Wi-Fi join as needed (module.rs), then
//!          AT+SCON=O,TCN,<omp ip>,<port>,0,0  →  [OK] [CONNECT n]
//! send:    AT+SSEND=n,,,<len>  →  [n,,,len]  →  <frame bytes>  →  [OK]
//!          from a writer task (writer.rs): frames queued together share
//!          one AT+SSEND (up to [`MAX_SSEND`]), and the next AT+SSEND line
//!          goes out right behind the previous payload
//! recv:    {n,<ip>,<port>,<len}<bytes>\r\n …  →  reassembled into GMMP frames
//! close:   AT+SMGMT=n
//! ```
//!
//! Sockets left open by an earlier run of the agent (the module outlives
//! it) are closed with AT+SMGMT=ALL once per module start-up.
//!
//! The socket is opened in command mode (not data mode): AT commands (the
//! sensor readings, RSSI, AT+MINFO for controls) stay usable while the
//! session runs, and the receive header keeps binary payloads framed by
//! length. A `[DISCONNECT n]` ends the session (`recv` answers `Ok(None)`),
//! `[Link-Down Event]` and `[Reset Event]` end it with an error; the next
//! `connect` re-joins Wi-Fi / re-initialises the module first. The agent
//! loop's reconnect back-off (exponential, with jitter) paces all of it.
//!
//! Decisions:
//! - An OMP host that is not an IPv4 literal is resolved by the host at
//!   each connect (first IPv4 address): the emulator's AT+SCON takes
//!   addresses only, and so does the AT reference's `<RemoteIP>`.
//! - Bytes that do not decode as GMMP end the session (as in `direct`):
//!   the stream cannot be re-synchronised.
//! - Module operations for controls: Reset → AT+MRESET and a full
//!   re-initialisation at the next connect; Signal Power Check → the
//!   station RSSI of AT+WSTAT; Firmware Version Check → AT+MINFO's
//!   firmware version; a user GPIO control → AT+FGPIO output then level.

pub(crate) mod writer;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use gmmp_codec::{Frame, GmmpCodec};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::codec::Decoder;

pub use writer::MAX_SSEND;
use writer::Outbox;

use super::{LinkStatus, ModuleAnswer, ModuleOp, Transport, TransportError};
use crate::module::{Module, ModuleError, ModuleHandle};
use crate::wizfi310::{Event, GpioConfig, GpioLevel, SocketClose, SocketOpen};

/// GMMP over a WizFi310 TCP socket.
#[derive(Debug)]
pub struct BridgeTransport {
    module: Module,
    omp_host: String,
    omp_port: u16,
    sid: Option<u8>,
    inbound: BytesMut,
    /// The module start the stale sockets were closed for.
    swept: Option<u64>,
    writer: Option<Writer>,
}

/// What `recv` woke up for.
enum Next {
    Event(Result<Event, ModuleError>),
    WriterFailed(Option<crate::wizfi310::Error>),
}

/// The running writer of a connected socket.
#[derive(Debug)]
struct Writer {
    outbox: Arc<Outbox>,
    failed: oneshot::Receiver<crate::wizfi310::Error>,
    task: JoinHandle<()>,
}

impl BridgeTransport {
    /// A bridge to `omp_host:omp_port` through `module` (not connected).
    pub fn new(module: Module, omp_host: &str, omp_port: u16) -> Self {
        BridgeTransport {
            module,
            omp_host: omp_host.to_owned(),
            omp_port,
            sid: None,
            inbound: BytesMut::new(),
            swept: None,
            writer: None,
        }
    }

    /// The handle module data sources read through.
    pub fn module_handle(&self) -> ModuleHandle {
        self.module.handle()
    }

    /// The socket id in use, if connected.
    pub fn socket(&self) -> Option<u8> {
        self.sid
    }

    fn module_err(&mut self, e: crate::wizfi310::Error) -> TransportError {
        self.module.note_error(&e);
        TransportError::Module(e.into())
    }
}

/// The OMP address as the module's AT+SCON takes it.
pub(crate) async fn resolve_ipv4(host: &str, port: u16) -> Result<String, TransportError> {
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(host.to_owned());
    }
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| TransportError::Connect {
            addr: format!("{host}:{port}"),
            source,
        })?;
    addrs
        .filter_map(|a| match a {
            std::net::SocketAddr::V4(v4) => Some(v4.ip().to_string()),
            std::net::SocketAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(|| TransportError::Connect {
            addr: format!("{host}:{port}"),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no IPv4 address (the WizFi310 speaks IPv4 only)",
            ),
        })
}

impl Transport for BridgeTransport {
    fn name(&self) -> &'static str {
        "bridge"
    }

    async fn connect(&mut self) -> Result<(), TransportError> {
        self.close().await;
        let ip = resolve_ipv4(&self.omp_host, self.omp_port).await?;
        let driver = self.module.ensure_ready().await?;
        if self.swept != Some(self.module.starts()) {
            // Sockets a previous agent run left open hold ids and reach
            // an OMP nobody listens to: close them once per module start.
            if let Err(e) = driver.close_socket(SocketClose::All).await {
                tracing::debug!(error = %e, "AT+SMGMT=ALL");
            }
            self.swept = Some(self.module.starts());
        }
        let open = SocketOpen::tcp_client(ip.clone(), self.omp_port);
        match driver.open_socket(&open).await {
            Ok(Some(sid)) => {
                tracing::info!(sid, omp = %format!("{ip}:{}", self.omp_port), "module socket connected");
                self.sid = Some(sid);
                let outbox = Arc::new(Outbox::default());
                let (failed_tx, failed) = oneshot::channel();
                let task = tokio::spawn(writer::write_loop(driver, sid, outbox.clone(), failed_tx));
                self.writer = Some(Writer {
                    outbox,
                    failed,
                    task,
                });
                Ok(())
            }
            Ok(None) => Err(TransportError::Connect {
                addr: format!("{ip}:{}", self.omp_port),
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "AT+SCON answered [OK] but no [CONNECT n] followed",
                ),
            }),
            Err(crate::wizfi310::Error::Module { command, words }) => {
                // `[ERROR: WiFi Status]`: the link went away under us.
                if crate::wizfi310::ModuleErrorKind::from_words(&words)
                    == crate::wizfi310::ModuleErrorKind::WifiStatus
                {
                    self.module.note_link_down();
                }
                Err(TransportError::Connect {
                    addr: format!("{ip}:{}", self.omp_port),
                    source: std::io::Error::other(format!("`{command}` failed: {words}")),
                })
            }
            Err(e) => Err(self.module_err(e)),
        }
    }

    async fn send(&mut self, frame: Bytes) -> Result<(), TransportError> {
        self.send_batch(vec![frame]).await
    }

    /// Queues the frames for the writer task; a failure of an earlier
    /// AT+SSEND comes back through [`recv`](Transport::recv).
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
            let Some(sid) = self.sid else {
                return Err(TransportError::NotConnected);
            };
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
                    self.sid = None;
                    return Err(match error {
                        Some(e) => {
                            self.module.note_error(&e);
                            TransportError::Module(e.into())
                        }
                        None => TransportError::NotConnected,
                    });
                }
            };
            match event {
                Event::Data(data) if data.sid == sid => {
                    self.inbound.extend_from_slice(&data.payload)
                }
                Event::Disconnect { sid: closed } if closed == sid => {
                    self.sid = None;
                    return Ok(None);
                }
                Event::LinkDown => {
                    self.sid = None;
                    return Err(ModuleError::LinkDown.into());
                }
                Event::Reset => {
                    self.sid = None;
                    return Err(ModuleError::Reset.into());
                }
                other => tracing::trace!(event = ?other, "module event during the session"),
            }
        }
    }

    async fn close(&mut self) {
        self.inbound.clear();
        if let Some(writer) = self.writer.take() {
            // Queued frames go out first; an AT+SSEND cut off halfway would
            // leave the module reading our next commands as payload.
            let t = self.module.timeouts();
            let bound = t.send_for(writer.outbox.queued_bytes() + MAX_SSEND) + t.send_prompt * 2;
            writer.outbox.close();
            let mut task = writer.task;
            if tokio::time::timeout(bound, &mut task).await.is_err() {
                task.abort();
            }
        }
        let Some(sid) = self.sid.take() else {
            return;
        };
        if let Some(driver) = self.module.handle().driver()
            && let Err(e) = driver.close_socket(SocketClose::One(sid)).await
        {
            // Usually `[ERROR: INVALID SCID]`: the module closed it already.
            tracing::debug!(sid, error = %e, "closing the module socket");
            self.module.note_error(&e);
        }
    }

    async fn default_auth_id(&mut self) -> Result<Option<String>, TransportError> {
        let mac = self.module.mac().await?;
        Ok(Some(mac.to_hex_lower()))
    }

    fn link_status(&self) -> LinkStatus {
        let (module, wifi) = self.module.status_words();
        LinkStatus { module, wifi }
    }

    fn supports(&self, _op: ModuleOp) -> bool {
        true
    }

    async fn module_op(&mut self, op: ModuleOp) -> Result<ModuleAnswer, TransportError> {
        module_op(&mut self.module, op).await
    }
}

/// Carries out a module operation on `module` (the native transport uses
/// it too).
pub(crate) async fn module_op(
    module: &mut Module,
    op: ModuleOp,
) -> Result<ModuleAnswer, TransportError> {
    let driver = module.driver().await?;
    let result = match op {
        ModuleOp::Reset => {
            module.reset().await?;
            return Ok(ModuleAnswer::Done);
        }
        ModuleOp::SignalPower => match driver.wifi_status().await {
            Ok(status) => {
                let rssi = status.station().and_then(|s| s.rssi_dbm);
                return rssi
                    .map(ModuleAnswer::Rssi)
                    .ok_or(TransportError::Module(ModuleError::NotJoined("AT+WSTAT")));
            }
            Err(e) => Err(e),
        },
        ModuleOp::FirmwareVersion => match driver.info().await {
            Ok(info) => return Ok(ModuleAnswer::Text(info.firmware)),
            Err(e) => Err(e),
        },
        ModuleOp::GpioWrite { pin, value } => {
            let level = if value == 0 {
                GpioLevel::Low
            } else {
                GpioLevel::High
            };
            let done = async {
                driver
                    .gpio_configure(pin, true, GpioConfig::PullNone)
                    .await?;
                driver.gpio_write(pin, level).await
            }
            .await;
            done.map(|()| ModuleAnswer::Done)
        }
    };
    result.map_err(|e| {
        module.note_error(&e);
        TransportError::Module(e.into())
    })
}
