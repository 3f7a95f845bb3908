//! The one GMMP test client: [`Gateway`], a simulated Always-On gateway
//! on its own TCP session, used by the load generator, the fault harness
//! and tests.
//!
//! It speaks GMMP as the WizFi310 does: GW registration first (auth key
//! zero, domain `ThingPlug`), then every request carries the auth ID, the
//! key the OMP put in the 0x02 header and the GW ID from the 0x02 body.
//! T-IDs run 0‥99 999 per gateway and wrap.
//!
//! Deliveries are sent from a pre-encoded template
//! ([`DeliveryTemplate`]) with only the T-IDs patched in, so the bench
//! spends its CPU on the OMP's answers rather than on encoding the same
//! bytes a million times.
//! Controls are answered the WizFi310's way: 0x0E rc 0 at once, then a 0x17
//! notification with the same T-ID, rc 0 and an empty body.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use gmmp_codec::{
    AuthId, AuthKey, CodecError, ControlRequest, ControlResponse, DeliveryRequest, DeviceId,
    DomainCode, FixedStr, Frame, GmmpCodec, GwId, GwRegistrationRequest, Header, HeartbeatRequest,
    ManufactureId, Message, NotificationRequest, ReportType, ResultCode,
};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::codec::{Decoder, Encoder, Framed};

pub use delivery::{DeliveryTemplate, PartTids};
pub use error::ClientError;

pub mod delivery;
mod error;

/// A gateway's T-IDs are `gmmp_codec::GW_TIDS`, counted modulo its end.
pub const TID_MODULO: u32 = gmmp_codec::GW_TIDS.end;
/// The domain every simulated gateway registers with.
pub const DOMAIN: &str = "ThingPlug";

/// The auth ID of simulated gateway `index`: `prefix` + 8 digits (at most
/// 16 bytes, GMMP's auth ID width).
pub fn auth_id_for(prefix: &str, index: usize) -> String {
    format!("{prefix}{index:08}")
}

/// Decodes GMMP frames; encodes frames or pre-encoded bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCodec;

impl Decoder for ClientCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        GmmpCodec.decode(src)
    }
}

impl Encoder<&Frame> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        item.encode(dst)
    }
}

impl Encoder<&[u8]> for ClientCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.extend_from_slice(item);
        Ok(())
    }
}

/// Opens a TCP connection to `target`, from `source` (any port) when given,
/// with Nagle off.
pub async fn connect(
    target: SocketAddr,
    source: Option<Ipv4Addr>,
) -> Result<TcpStream, ClientError> {
    let what = || match source {
        Some(s) => format!("connect {s} → {target}"),
        None => format!("connect {target}"),
    };
    let stream = match source {
        Some(ip) => {
            let socket = TcpSocket::new_v4().map_err(|e| ClientError::io(what(), e))?;
            socket
                .bind(SocketAddr::V4(SocketAddrV4::new(ip, 0)))
                .map_err(|e| ClientError::io(what(), e))?;
            socket
                .connect(target)
                .await
                .map_err(|e| ClientError::io(what(), e))?
        }
        None => TcpStream::connect(target)
            .await
            .map_err(|e| ClientError::io(what(), e))?,
    };
    stream
        .set_nodelay(true)
        .map_err(|e| ClientError::io(what(), e))?;
    Ok(stream)
}

/// What a gateway learnt from its registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Its auth ID.
    pub auth_id: AuthId,
    /// The key from the 0x02 header.
    pub auth_key: AuthKey,
    /// The GW ID from the 0x02 body.
    pub gw_id: GwId,
}

/// A registered simulated gateway and its session.
#[derive(Debug)]
pub struct Gateway {
    framed: Framed<TcpStream, ClientCodec>,
    identity: Identity,
    domain: DomainCode,
    name: String,
    next_tid: u32,
}

impl Gateway {
    /// Registers `auth_id` over `stream` and waits for the 0x02, at most
    /// `timeout`.
    pub async fn register(
        stream: TcpStream,
        auth_id: &str,
        manufacture_id: &str,
        timeout: Duration,
    ) -> Result<Gateway, ClientError> {
        let name = auth_id.to_string();
        let field = |source| ClientError::Codec {
            auth_id: name.clone(),
            source,
        };
        let auth = AuthId::new("auth_id", auth_id).map_err(field)?;
        let domain = DomainCode::new("domain_code", DOMAIN).map_err(field)?;
        let manufacture = ManufactureId::new("manufacture_id", manufacture_id).map_err(field)?;
        let mut gateway = Gateway {
            framed: Framed::new(stream, ClientCodec),
            identity: Identity {
                auth_id: auth,
                auth_key: AuthKey::EMPTY,
                gw_id: GwId::EMPTY,
            },
            domain,
            name,
            next_tid: 0,
        };
        let tid = gateway.take_tid();
        let request = Frame::new(
            gateway.header(tid),
            GwRegistrationRequest {
                domain_code: domain,
                manufacture_id: manufacture,
            },
        );
        gateway.send(&request).await?;
        let response = gateway
            .recv_within(timeout, "waiting for the 0x02 registration response")
            .await?;
        match &response.message {
            Message::GwRegistrationResponse(r) if r.result_code.is_ok() => {
                gateway.identity.auth_key = response.header.auth_key;
                gateway.identity.gw_id = r.gw_id;
                Ok(gateway)
            }
            Message::GwRegistrationResponse(r) => Err(ClientError::RegistrationRefused {
                auth_id: gateway.name.clone(),
                rc: r.result_code.0,
                name: r.result_code.name(),
            }),
            other => Err(gateway.unexpected("a 0x02 registration response", other)),
        }
    }

    /// The identity the OMP gave this gateway.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The auth ID as text, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The GW ID as text.
    pub fn gw_id(&self) -> String {
        self.identity.gw_id.to_string()
    }

    /// The next T-ID (0‥99 999, wrapping).
    pub fn take_tid(&mut self) -> u32 {
        self.take_tids(1)
    }

    /// The T-ID [`take_tid`](Self::take_tid) hands out next.
    pub fn next_tid(&self) -> u32 {
        self.next_tid
    }

    /// Goes on numbering from `tid` (modulo [`TID_MODULO`]): a client whose
    /// T-ID counter outlives its connection, as SK Telecom's library's
    /// global one does, continues where the last session stopped.
    pub fn continue_tids_from(&mut self, tid: u32) {
        self.next_tid = tid % TID_MODULO;
    }

    /// The first of `n` consecutive T-IDs (at most [`TID_MODULO`]); a run
    /// that would wrap starts at 0 instead, so its T-IDs count up by one.
    pub fn take_tids(&mut self, n: usize) -> u32 {
        let (first, next) = tid_run(self.next_tid, n);
        self.next_tid = next;
        first
    }

    /// A request header with this gateway's auth ID and key.
    pub fn header(&self, tid: u32) -> Header {
        Header::new(self.identity.auth_id, self.identity.auth_key, tid)
            .with_timestamp(unix_now())
            .with_encryption_flag(0x02)
    }

    /// A heartbeat request.
    pub fn heartbeat(&self, tid: u32) -> Frame {
        Frame::new(
            self.header(tid),
            HeartbeatRequest {
                domain_code: self.domain,
                gw_id: self.identity.gw_id,
            },
        )
    }

    /// Pre-encodes a GW-level delivery (report type collect data, media
    /// type 0x01, as the WizFi310 sends) carrying `payload`; over 2048
    /// bytes it is split into parts.
    pub fn delivery_template(&self, payload: Bytes) -> Result<DeliveryTemplate, ClientError> {
        let frame = Frame::new(
            self.header(0),
            DeliveryRequest {
                domain_code: self.domain,
                gw_id: self.identity.gw_id,
                device_id: DeviceId::EMPTY,
                report_type: ReportType::COLLECT_DATA,
                media_type: 0x01,
                payload,
            },
        );
        DeliveryTemplate::new(&frame).map_err(|source| ClientError::Codec {
            auth_id: self.name.clone(),
            source,
        })
    }

    /// Queues a frame without flushing.
    pub async fn feed(&mut self, frame: &Frame) -> Result<(), ClientError> {
        let name = &self.name;
        self.framed
            .feed(frame)
            .await
            .map_err(|e| codec_or_io(name, e))
    }

    /// Queues pre-encoded bytes without flushing.
    pub async fn feed_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let name = &self.name;
        self.framed
            .feed(bytes)
            .await
            .map_err(|e| codec_or_io(name, e))
    }

    /// Writes what was queued.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        let name = &self.name;
        <Framed<TcpStream, ClientCodec> as SinkExt<&[u8]>>::flush(&mut self.framed)
            .await
            .map_err(|e| codec_or_io(name, e))
    }

    /// Sends one frame.
    pub async fn send(&mut self, frame: &Frame) -> Result<(), ClientError> {
        self.feed(frame).await?;
        self.flush().await
    }

    /// The next frame from the OMP.
    pub async fn recv(&mut self, during: &'static str) -> Result<Frame, ClientError> {
        match self.framed.next().await {
            Some(Ok(frame)) => Ok(frame),
            Some(Err(e)) => Err(codec_or_io(&self.name, e)),
            None => Err(ClientError::Closed {
                auth_id: self.name.clone(),
                during,
            }),
        }
    }

    /// The next frame, at most `timeout` later.
    pub async fn recv_within(
        &mut self,
        timeout: Duration,
        during: &'static str,
    ) -> Result<Frame, ClientError> {
        match tokio::time::timeout(timeout, self.recv(during)).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                what: format!("gateway {}: {during}", self.name),
                secs: timeout.as_secs(),
            }),
        }
    }

    /// Answers a control as the WizFi310 does: 0x0E rc 0 with the same
    /// T-ID and control type, then a 0x17 notification with rc 0 and an
    /// empty body. The 0x18 comes back later through [`recv`](Self::recv).
    pub async fn answer_control(
        &mut self,
        request_header: &Header,
        control: &ControlRequest,
    ) -> Result<(), ClientError> {
        let header = self.header(request_header.tid);
        let response = Frame::new(
            header,
            ControlResponse {
                domain_code: self.domain,
                gw_id: self.identity.gw_id,
                device_id: control.device_id,
                control_type: control.control_type,
                result_code: ResultCode::OK,
            },
        );
        let notification = Frame::new(
            header,
            NotificationRequest {
                domain_code: self.domain,
                gw_id: self.identity.gw_id,
                device_id: control.device_id,
                control_type: control.control_type,
                result_code: ResultCode::OK,
                payload: Bytes::new(),
            },
        );
        self.feed(&response).await?;
        self.feed(&notification).await?;
        self.flush().await
    }

    /// The error for a message that should not have come.
    pub fn unexpected(&self, expected: &str, got: &Message) -> ClientError {
        ClientError::Protocol {
            auth_id: self.name.clone(),
            detail: format!(
                "expected {expected}, got 0x{:02x} {}",
                got.message_type() as u8,
                got.message_type().description()
            ),
        }
    }
}

/// The first of `n` consecutive T-IDs from `next` (restarting at 0 rather
/// than wrapping inside the run), and the T-ID after them.
fn tid_run(next: u32, n: usize) -> (u32, u32) {
    let n = u32::try_from(n).unwrap_or(TID_MODULO).clamp(1, TID_MODULO);
    let first = if next + n > TID_MODULO { 0 } else { next };
    (first, (first + n) % TID_MODULO)
}

/// A payload of `len` printable bytes (what a sensor report looks like).
pub fn payload_of(len: usize) -> Bytes {
    const TEXT: &[u8] = b"WizFi310 test data !@#$%^&*(/) ";
    Bytes::from(TEXT.iter().copied().cycle().take(len).collect::<Vec<u8>>())
}

/// Seconds since the Unix epoch, as GMMP's 32-bit `origin_timestamp`.
pub fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

fn codec_or_io(auth_id: &str, e: CodecError) -> ClientError {
    match e {
        CodecError::Io(source) => ClientError::io(format!("gateway {auth_id}"), source),
        source => ClientError::Codec {
            auth_id: auth_id.to_string(),
            source,
        },
    }
}

/// Builds a fixed-width field from text known to fit (names the bench
/// chose), for tests and the responder.
pub fn fixed<const N: usize>(field: &'static str, value: &str) -> Result<FixedStr<N>, ClientError> {
    FixedStr::new(field, value).map_err(|source| ClientError::Codec {
        auth_id: value.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_tids_never_wraps_inside() {
        assert_eq!(tid_run(5, 1), (5, 6));
        assert_eq!(tid_run(99_999, 1), (99_999, 0));
        assert_eq!(tid_run(99_998, 3), (0, 3));
        assert_eq!(tid_run(99_997, 3), (99_997, 0));
    }
}
