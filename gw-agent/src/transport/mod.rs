//! Transports: how GMMP frames reach the OMP. One [`Transport`] trait, so
//! that the engine and the agent loop do not care which carries them.
//!
//! - [`direct`]: the host's own TCP connection (a software gateway, and the
//!   load generator's building block).
//! - [`bridge`]: a TCP socket the WizFi310 opens (AT+SCON), frames written
//!   with AT+SSEND and read from its `{sid,ip,port,len}` socket data.
//! - [`bridge_wiz550s2e`]: the same over a WIZ550S2E's socket (AT+NOPEN,
//!   AT+NSEND, `[R,0,<len>]` records).
//! - [`bridge_wiz550s2e_data`]: a WIZ550S2E in data mode, its own TCP
//!   client of the OMP (AT+MMODE, AT+MDATA), frames as raw bytes on the
//!   serial line (`wiz550s2e.mode = "data"`).
//! - [`native`]: not a frame transport — the module's own GMMP client,
//!   configured and fed with AT+GMMP… commands and followed through its
//!   trace lines ([`native::trace`]); the agent runs it with
//!   [`Agent::run_native`](crate::agent::Agent::run_native).
//!
//! Module-dependent operations (reset, RSSI, firmware version, GPIO, ADC)
//! go through [`Transport::module_op`]; a transport without a module says
//! so through [`Transport::supports`], and the agent answers those
//! controls with rc 0x0D.

use std::future::Future;

use bytes::Bytes;
use gmmp_codec::Frame;

pub mod bridge;
pub mod bridge_wiz550s2e;
pub mod bridge_wiz550s2e_data;
pub mod direct;
pub mod native;

pub use bridge::BridgeTransport;
pub use bridge_wiz550s2e::Wiz550s2eBridge;
pub use bridge_wiz550s2e_data::Wiz550s2eDataBridge;
pub use direct::DirectTransport;
pub use native::NativeTransport;

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Connecting failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where to.
        addr: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Connecting took too long.
    #[error("connecting to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// Where to.
        addr: String,
        /// The time waited.
        after: std::time::Duration,
    },
    /// Reading or writing the connection failed.
    #[error("connection i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The OMP sent bytes that are not GMMP; the stream cannot be
    /// re-synchronised, so the connection must be closed.
    #[error("bad frame from the OMP: {0}{hint}", hint = not_gmmp_hint(.0))]
    Codec(#[from] gmmp_codec::CodecError),
    /// The operation needs a connection and there is none.
    #[error("not connected")]
    NotConnected,
    /// This transport cannot do that (no module).
    #[error("{op:?} is not available on the {transport} transport")]
    Unsupported {
        /// The operation asked for.
        op: ModuleOp,
        /// The transport's name.
        transport: &'static str,
    },
    /// The module failed (a command, the Wi-Fi join, the serial port).
    #[error("module: {0}")]
    Module(#[from] crate::module::ModuleError),
    /// The hardware gave no auth ID.
    #[error("the module reported no MAC address")]
    NoMac,
    /// The socket closed after the driver filled a record with NULs (an
    /// AT+NSEND answer was lost): the OMP closes on bytes that are not
    /// GMMP. The agent's own doing, not the OMP going away.
    #[error(
        "the module's socket closed after a record the agent filled with NULs \
         (its AT+NSEND answer was lost); reconnecting"
    )]
    PaddedRecord,
}

/// A first byte that is printable text means the peer is not a GMMP
/// server at all — most often the OMP's HTTP port (`H` of `HTTP/1.1`).
fn not_gmmp_hint(error: &gmmp_codec::CodecError) -> String {
    match error {
        gmmp_codec::CodecError::BadVersion { version } if version.is_ascii_graphic() => {
            let what = if *version == b'H' {
                "an HTTP server answers there (the OMP's HTTP API?)"
            } else {
                "the peer sent text, not GMMP"
            };
            format!(
                " ({:?}: {what}; point --omp / omp.port at the OMP's GMMP port, 31002 unless \
                 its gmmp_listen says otherwise)",
                char::from(*version)
            )
        }
        _ => String::new(),
    }
}

/// An operation only a module can perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleOp {
    /// AT+MRESET and full re-initialisation.
    Reset,
    /// RSSI from AT+WSTAT.
    SignalPower,
    /// Firmware version from AT+MINFO.
    FirmwareVersion,
    /// Write a GPIO.
    GpioWrite {
        /// GPIO number.
        pin: u8,
        /// Value.
        value: u8,
    },
}

/// What a module operation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleAnswer {
    /// Done, nothing to report.
    Done,
    /// A signal strength in dBm.
    Rssi(i32),
    /// Text (a firmware version).
    Text(String),
}

/// The link state below the OMP session, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStatus {
    /// The module: `none`, `ready`, `absent`, …
    pub module: String,
    /// Wi-Fi: `n/a`, `joined`, `down`, …
    pub wifi: String,
}

/// A carrier of GMMP frames to one OMP.
///
/// `recv` must be cancel-safe (the agent loop races it with timers and
/// data sources); the others are awaited to completion.
pub trait Transport: Send {
    /// The transport's name (`direct`).
    fn name(&self) -> &'static str;

    /// Opens the connection to the OMP (bringing the link up first when
    /// the transport has one).
    fn connect(&mut self) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Sends one encoded frame — or queues it, for a transport with a send
    /// buffer (the bridge): a later failure then comes back from
    /// [`recv`](Self::recv).
    fn send(&mut self, frame: Bytes) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Sends encoded frames in order; a transport with a per-write cost
    /// (the bridge's AT+SSEND) sends them in as few writes as it can.
    fn send_batch(
        &mut self,
        frames: Vec<Bytes>,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        async move {
            for frame in frames {
                self.send(frame).await?;
            }
            Ok(())
        }
    }

    /// The next frame from the OMP; `Ok(None)` when the connection closed.
    fn recv(&mut self) -> impl Future<Output = Result<Option<Frame>, TransportError>> + Send;

    /// Closes the connection; harmless when there is none.
    fn close(&mut self) -> impl Future<Output = ()> + Send;

    /// The auth ID the hardware suggests (the module's MAC), if any.
    fn default_auth_id(
        &mut self,
    ) -> impl Future<Output = Result<Option<String>, TransportError>> + Send {
        async { Ok(None) }
    }

    /// The state of the link below GMMP.
    fn link_status(&self) -> LinkStatus {
        LinkStatus {
            module: "none".into(),
            wifi: "n/a".into(),
        }
    }

    /// True when [`module_op`](Self::module_op) can perform `op`.
    fn supports(&self, op: ModuleOp) -> bool {
        let _ = op;
        false
    }

    /// Performs a module operation.
    fn module_op(
        &mut self,
        op: ModuleOp,
    ) -> impl Future<Output = Result<ModuleAnswer, TransportError>> + Send {
        let transport = self.name();
        async move { Err(TransportError::Unsupported { op, transport }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_answer_names_the_gmmp_port() {
        let text =
            TransportError::from(gmmp_codec::CodecError::BadVersion { version: b'H' }).to_string();
        assert!(text.contains("HTTP") && text.contains("31002"), "{text}");
        let binary =
            TransportError::from(gmmp_codec::CodecError::BadVersion { version: 0x01 }).to_string();
        assert!(!binary.contains("31002"), "{binary}");
    }
}
