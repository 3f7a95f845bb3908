//! The `bridge` transport on a WIZ550S2E in data mode
//! (`wiz550s2e.mode = "data"`): the module is the TCP client of the OMP,
//! and the agent's GMMP frames are the serial line's bytes both ways, as
//! the `direct` transport writes them to its socket.
//!
//! ```text
//! connect: start-up as needed, AT+NSTAT? (an address), AT+MMODE? (and
//!          AT+MMODE=C,<lport>,<omp ip>,<port> when it holds another),
//!          AT+MSTAT, AT+MDATA  →  [S]; the module connects on its own
//! send:    <frame bytes>                       (no AT+NSEND, no records)
//! recv:    <bytes>  →  reassembled into GMMP frames
//! close:   nothing: the module keeps (or re-makes) its connection
//! ```
//!
//! Data mode has no connection events: a lost connection is seen only by
//! GMMP (heartbeat and response timeouts end the session), and the module
//! connects again by itself, every "Reconnection" interval. So a new
//! session mostly goes out on the connection as the module holds it; the
//! module's connection is made again (`+++`, which closes it, then
//! AT+MDATA) only when the stream cannot be trusted ([`LinkWatch`]): the
//! OMP sent bytes that are not GMMP, or sessions in a row heard nothing
//! from it (a connection the module believes up that carries nothing).
//! Bytes written while the module is not connected are dropped by the
//! firmware; the request they carried is answered by no one and sent
//! again by the engine, and deliveries stay in the spool until their
//! STATUS_OK, as on every transport.
//!
//! Module operations leave data mode with `+++` (between its guard times:
//! the line is silent for about 1.2 s, and the module's connection is
//! closed): Reset → AT+MRST, the next connect sets data mode up again.
//! Firmware Version is answered from the AT+MSTAT read when data mode was
//! entered, so that asking it does not close the session that asked.

use std::net::{Ipv4Addr, SocketAddrV4};

use bytes::{Bytes, BytesMut};
use gmmp_codec::{Frame, GmmpCodec};
use tokio_util::codec::Decoder;

use super::bridge::resolve_ipv4;
use super::bridge_wiz550s2e;
use super::{LinkStatus, ModuleAnswer, ModuleOp, Transport, TransportError};
use crate::module::ModuleError;
use crate::module::wiz550s2e::Wiz550s2eModule;
use crate::wiz550s2e::Event;

/// Sessions in a row that heard nothing from the OMP before the module's
/// connection is made again. Two: the first request of a fresh data mode
/// can be dropped while the module is still connecting.
pub const SILENT_SESSIONS: u32 = 2;

/// What a connect does with the module's data-mode connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStep {
    /// Set data mode up (the module is in command mode, or started again).
    Enter,
    /// Leave data mode and enter it again: a fresh connection.
    Restart,
    /// Use the connection as the module holds it.
    Keep,
}

/// Sans-IO: whether the module's data-mode connection can carry the next
/// session, from what the sessions on it heard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkWatch {
    /// The module start data mode was entered in.
    entered: Option<u64>,
    /// Bytes came from the OMP since the last connect.
    heard: bool,
    /// Sessions in a row that heard nothing.
    silent: u32,
    /// The stream went out of step (not GMMP).
    desynced: bool,
}

impl LinkWatch {
    /// Bytes came from the OMP.
    pub fn heard(&mut self) {
        self.heard = true;
    }

    /// The OMP's bytes were not GMMP: the stream is out of step.
    pub fn desynced(&mut self) {
        self.desynced = true;
    }

    /// What the next connect does; `in_data_mode` and `starts` are the
    /// module's now.
    pub fn next_step(&mut self, in_data_mode: bool, starts: u64) -> LinkStep {
        if std::mem::take(&mut self.heard) {
            self.silent = 0;
        } else if self.entered.is_some() {
            self.silent += 1;
        }
        let step = if !in_data_mode || self.entered != Some(starts) {
            LinkStep::Enter
        } else if self.desynced || self.silent >= SILENT_SESSIONS {
            LinkStep::Restart
        } else {
            LinkStep::Keep
        };
        if step != LinkStep::Keep {
            self.silent = 0;
            self.desynced = false;
            self.entered = None;
        }
        step
    }

    /// Data mode was entered in module start `starts`.
    pub fn entered(&mut self, starts: u64) {
        self.entered = Some(starts);
    }
}

/// GMMP over the WIZ550S2E's data-mode connection.
#[derive(Debug)]
pub struct Wiz550s2eDataBridge {
    module: Wiz550s2eModule,
    omp_host: String,
    omp_port: u16,
    watch: LinkWatch,
    ready: bool,
    inbound: BytesMut,
}

impl Wiz550s2eDataBridge {
    /// A bridge to `omp_host:omp_port` through `module` (not set up yet).
    pub fn new(module: Wiz550s2eModule, omp_host: &str, omp_port: u16) -> Self {
        Wiz550s2eDataBridge {
            module,
            omp_host: omp_host.to_owned(),
            omp_port,
            watch: LinkWatch::default(),
            ready: false,
            inbound: BytesMut::new(),
        }
    }

    async fn enter(&mut self) -> Result<(), TransportError> {
        let ip: Ipv4Addr = resolve_ipv4(&self.omp_host, self.omp_port)
            .await?
            .parse()
            .map_err(|_| TransportError::NotConnected)?;
        let target = SocketAddrV4::new(ip, self.omp_port);
        self.module.enter_data_mode(target).await?;
        self.watch.entered(self.module.starts());
        Ok(())
    }
}

impl Transport for Wiz550s2eDataBridge {
    fn name(&self) -> &'static str {
        "bridge"
    }

    async fn connect(&mut self) -> Result<(), TransportError> {
        self.close().await;
        match self
            .watch
            .next_step(self.module.in_data_mode(), self.module.starts())
        {
            LinkStep::Keep => {}
            LinkStep::Enter => self.enter().await?,
            LinkStep::Restart => {
                // Its first command leaves data mode with +++, which
                // closes the connection; AT+MDATA makes a new one.
                tracing::info!("making the module's data-mode connection again (+++, AT+MDATA)");
                self.enter().await?;
            }
        }
        self.ready = true;
        Ok(())
    }

    async fn send(&mut self, frame: Bytes) -> Result<(), TransportError> {
        self.send_batch(vec![frame]).await
    }

    /// One write for the frames: the module packs what it reads together.
    async fn send_batch(&mut self, frames: Vec<Bytes>) -> Result<(), TransportError> {
        if !self.ready {
            return Err(TransportError::NotConnected);
        }
        let bytes = frames.concat();
        self.module.write_stream(&bytes).await?;
        Ok(())
    }

    async fn recv(&mut self) -> Result<Option<Frame>, TransportError> {
        loop {
            match GmmpCodec.decode(&mut self.inbound) {
                Ok(Some(frame)) => return Ok(Some(frame)),
                Ok(None) => {}
                Err(e) => {
                    self.watch.desynced();
                    return Err(e.into());
                }
            }
            if !self.ready {
                return Err(TransportError::NotConnected);
            }
            match self.module.next_event().await {
                Ok(Event::Stream(data)) => {
                    self.watch.heard();
                    self.inbound.extend_from_slice(&data);
                }
                Ok(other) => tracing::trace!(event = ?other, "module event in data mode"),
                Err(e @ ModuleError::PortClosed { .. }) => {
                    self.ready = false;
                    return Err(e.into());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn close(&mut self) {
        // A frame cut off with the session must not prefix the next one's.
        self.inbound.clear();
        self.ready = false;
    }

    async fn default_auth_id(&mut self) -> Result<Option<String>, TransportError> {
        bridge_wiz550s2e::default_auth_id(&mut self.module).await
    }

    fn link_status(&self) -> LinkStatus {
        bridge_wiz550s2e::link_status(&self.module)
    }

    fn supports(&self, op: ModuleOp) -> bool {
        bridge_wiz550s2e::supports(op)
    }

    async fn module_op(&mut self, op: ModuleOp) -> Result<ModuleAnswer, TransportError> {
        // Firmware Version: the module answers the reading taken when data
        // mode was entered, without leaving it.
        bridge_wiz550s2e::module_op(&mut self.module, op, "bridge (WIZ550S2E data mode)").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_mode_is_entered_once_per_module_start_and_kept_while_the_omp_answers() {
        let mut w = LinkWatch::default();
        assert_eq!(w.next_step(false, 1), LinkStep::Enter);
        w.entered(1);
        for _ in 0..5 {
            w.heard();
            assert_eq!(w.next_step(true, 1), LinkStep::Keep);
        }
        assert_eq!(
            w.next_step(true, 2),
            LinkStep::Enter,
            "the module was reset"
        );
        w.entered(2);
        assert_eq!(w.next_step(false, 2), LinkStep::Enter, "+++ left data mode");
    }

    #[test]
    fn a_stream_out_of_step_or_silent_sessions_make_the_connection_again() {
        let mut w = LinkWatch::default();
        w.next_step(false, 1);
        w.entered(1);
        w.heard();
        w.desynced();
        assert_eq!(w.next_step(true, 1), LinkStep::Restart);
        w.entered(1);
        // The first request of a fresh data mode may be lost: one silent
        // session is kept, the next is not.
        assert_eq!(w.next_step(true, 1), LinkStep::Keep);
        assert_eq!(w.next_step(true, 1), LinkStep::Restart);
        w.entered(1);
        assert_eq!(w.next_step(true, 1), LinkStep::Keep);
        w.heard();
        assert_eq!(
            w.next_step(true, 1),
            LinkStep::Keep,
            "heard: the count starts again"
        );
        assert_eq!(w.next_step(true, 1), LinkStep::Keep);
    }
}
