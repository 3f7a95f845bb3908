//! One GMMP connection of the module's client: registration sequence, then
//! heartbeats, deliveries and controls until it ends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use gmmp_codec::{
    AuthId, AuthKey, ControlRequest, ControlResponse, DeliveryRequest, DeviceId,
    DeviceRegistrationRequest, DomainCode, FixedStr, Frame, GmmpCodec, GwId, GwRegistrationRequest,
    Header, HeartbeatRequest, Message, MessageType, NotificationRequest, ProfileRequest,
    ReportType, ResultCode,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

use super::{Stored, Timing};
use crate::interpreter::{GmmpCommand, GmmpLine, GmmpServer};

/// Encryption flag the module puts on everything it sends (docs/gmmp.md §7).
const MODULE_ENCRYPTION_FLAG: u8 = 0x02;
/// Media type of the module's deliveries (plain text).
const MEDIA_TYPE_TEXT: u8 = 0x01;
/// How long the client waits for a registration-sequence response.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Timer ticks per period unit (the firmware's period × 6 rule).
const TICKS_PER_PERIOD: u64 = 6;

/// Why a session ended.
#[derive(Debug)]
pub(super) enum SessionEnd {
    /// The connection broke or the OMP went silent: reconnect.
    Lost,
    /// A registration step had rc ≠ 0: idle until AT+GMMPSET=1.
    Refused,
    /// AT+GMMPSET=0 or a reset.
    Stopped,
    /// AT+GMMPSET=1 with new settings.
    Restart(GmmpServer),
    /// The emulator is gone.
    Gone,
}

pub(super) struct Session<'a, P: Fn(GmmpLine)> {
    framed: Framed<TcpStream, GmmpCodec>,
    stored: &'a mut Stored,
    print: &'a P,
    timing: Timing,
    auth_id: AuthId,
    auth_key: AuthKey,
    domain: DomainCode,
    gw_id: GwId,
    gw_manufacture_id: String,
    device_manufacture_id: String,
}

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

/// A fixed field from AT+GMMPSET text, already length-checked by the
/// interpreter; an over-long value (not reachable from AT input) is cut to
/// the width rather than failing the session.
fn fixed<const N: usize>(field: &'static str, text: &str) -> FixedStr<N> {
    let bytes = text.as_bytes();
    FixedStr::new(field, &bytes[..bytes.len().min(N)]).unwrap_or(FixedStr::EMPTY)
}

impl<'a, P: Fn(GmmpLine)> Session<'a, P> {
    pub(super) fn new(
        stream: TcpStream,
        server: &GmmpServer,
        stored: &'a mut Stored,
        print: &'a P,
        timing: Timing,
    ) -> Self {
        Session {
            framed: Framed::new(stream, GmmpCodec),
            stored,
            print,
            timing,
            auth_id: fixed("auth_id", &server.auth_id),
            auth_key: AuthKey::EMPTY,
            domain: fixed("domain_code", &server.domain),
            gw_id: GwId::EMPTY,
            gw_manufacture_id: server.gw_manufacture_id.clone(),
            device_manufacture_id: server.device_manufacture_id.clone(),
        }
    }

    fn trace(&self, text: &str) {
        for line in text.lines() {
            let line = line.to_string();
            if line.starts_with("<OMP>") {
                (self.print)(GmmpLine::Marker(line));
            } else {
                (self.print)(GmmpLine::Debug(line));
            }
        }
    }

    async fn send(&mut self, tid: u32, message: impl Into<Message>) -> Result<(), SessionEnd> {
        let header = Header::new(self.auth_id, self.auth_key, tid)
            .with_timestamp(unix_now())
            .with_encryption_flag(MODULE_ENCRYPTION_FLAG);
        let frame = Frame::new(header, message);
        let trace = frame.trace().to_string();
        self.trace(&trace);
        if let Err(e) = self.framed.send(frame).await {
            tracing::debug!("GMMP send failed: {e}");
            return Err(SessionEnd::Lost);
        }
        let function = trace
            .lines()
            .next()
            .and_then(|l| l.split_once("[GW->OMP]").map(|(_, rest)| rest))
            .and_then(|l| l.strip_suffix(" Start"))
            .unwrap_or("GMMP");
        self.trace(&format!("GMMP Trace :  [GW->OMP]{function} End "));
        Ok(())
    }

    fn traced_receive(&self, frame: &Frame) {
        let body = usize::from(frame.header.message_length).saturating_sub(gmmp_codec::HEADER_LEN);
        self.trace(&format!(
            "GMMP Trace :  Recv Header Type = {:x}, Read Body Size = {body}",
            frame.header.message_type
        ));
        self.trace(&frame.trace().to_string());
    }

    /// Applies a command while connected.
    async fn command(&mut self, command: Option<GmmpCommand>) -> Result<(), SessionEnd> {
        let Some(command) = command else {
            return Err(SessionEnd::Gone);
        };
        match self.stored.absorb(command) {
            Some(GmmpCommand::Stop) => Err(SessionEnd::Stopped),
            Some(GmmpCommand::Start(server)) => Err(SessionEnd::Restart(server)),
            Some(GmmpCommand::SendNow(data)) if !self.gw_id.is_empty() => self.deliver(data).await,
            _ => Ok(()),
        }
    }

    /// Sends a registration-sequence request and waits for its response.
    async fn request(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<GmmpCommand>,
        message: impl Into<Message>,
    ) -> Result<Frame, SessionEnd> {
        let message = message.into();
        let expected = message.message_type().counterpart();
        self.stored.tid = self.stored.tid.wrapping_add(1);
        self.send(self.stored.tid, message).await?;
        let deadline = tokio::time::sleep(RESPONSE_TIMEOUT);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                frame = self.framed.next() => {
                    let frame = match frame {
                        Some(Ok(frame)) => frame,
                        _ => return Err(SessionEnd::Lost),
                    };
                    self.traced_receive(&frame);
                    if frame.message_type() == expected {
                        if frame.message.result_code().is_some_and(|rc| rc != ResultCode::OK) {
                            return Err(SessionEnd::Refused);
                        }
                        return Ok(frame);
                    }
                }
                command = commands.recv() => self.command(command).await?,
                _ = &mut deadline => return Err(SessionEnd::Lost),
            }
        }
    }

    /// Registers, then serves until the session ends.
    pub(super) async fn run(
        mut self,
        commands: &mut mpsc::UnboundedReceiver<GmmpCommand>,
    ) -> SessionEnd {
        match self.serve(commands).await {
            Ok(()) => SessionEnd::Lost,
            Err(end) => end,
        }
    }

    async fn serve(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<GmmpCommand>,
    ) -> Result<(), SessionEnd> {
        let registration = GwRegistrationRequest {
            domain_code: self.domain,
            manufacture_id: fixed("manufacture_id", &self.gw_manufacture_id),
        };
        let response = self.request(commands, registration).await?;
        self.auth_key = response.header.auth_key;
        if let Message::GwRegistrationResponse(body) = &response.message {
            self.gw_id = body.gw_id;
        }
        let profile = ProfileRequest {
            domain_code: self.domain,
            gw_id: self.gw_id,
            device_id: DeviceId::EMPTY,
        };
        let response = self.request(commands, profile).await?;
        if let Message::ProfileResponse(body) = &response.message {
            self.stored.heartbeat_period = body.heartbeat_period;
            self.stored.report_period = body.report_period;
        }
        let device = DeviceRegistrationRequest {
            domain_code: self.domain,
            gw_id: self.gw_id,
            manufacture_id: fixed("manufacture_id", &self.device_manufacture_id),
        };
        self.request(commands, device).await?;
        self.serve_registered(commands).await
    }

    async fn serve_registered(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<GmmpCommand>,
    ) -> Result<(), SessionEnd> {
        let mut ticker = tokio::time::interval(self.timing.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let (mut hb_ticks, mut report_ticks) = (0u64, 0u64);
        loop {
            tokio::select! {
                frame = self.framed.next() => match frame {
                    Some(Ok(frame)) => self.incoming(frame).await?,
                    Some(Err(e)) => {
                        tracing::debug!("GMMP receive failed: {e}");
                        return Err(SessionEnd::Lost);
                    }
                    None => return Err(SessionEnd::Lost),
                },
                command = commands.recv() => self.command(command).await?,
                _ = ticker.tick() => {
                    hb_ticks += 1;
                    report_ticks += 1;
                    let hb = u64::from(self.stored.heartbeat_period) * TICKS_PER_PERIOD;
                    if hb > 0 && hb_ticks >= hb {
                        hb_ticks = 0;
                        self.heartbeat().await?;
                    }
                    let report = u64::from(self.stored.report_period) * TICKS_PER_PERIOD;
                    if report > 0 && report_ticks >= report {
                        report_ticks = 0;
                        if let Some(data) = self.stored.data.clone() {
                            self.deliver(data).await?;
                        }
                    }
                }
            }
        }
    }

    async fn heartbeat(&mut self) -> Result<(), SessionEnd> {
        self.stored.tid = self.stored.tid.wrapping_add(1);
        let heartbeat = HeartbeatRequest {
            domain_code: self.domain,
            gw_id: self.gw_id,
        };
        self.send(self.stored.tid, heartbeat).await
    }

    async fn deliver(&mut self, data: String) -> Result<(), SessionEnd> {
        let delivery = DeliveryRequest {
            domain_code: self.domain,
            gw_id: self.gw_id,
            device_id: DeviceId::EMPTY,
            report_type: ReportType::COLLECT_DATA,
            media_type: MEDIA_TYPE_TEXT,
            payload: Bytes::from(data),
        };
        self.send(self.stored.tid, delivery).await
    }

    async fn incoming(&mut self, frame: Frame) -> Result<(), SessionEnd> {
        self.traced_receive(&frame);
        if frame.message_type() != MessageType::ControlRequest {
            return Ok(());
        }
        let Message::ControlRequest(control) = frame.message else {
            return Ok(());
        };
        self.answer_control(frame.header.tid, control).await
    }

    async fn answer_control(
        &mut self,
        tid: u32,
        control: ControlRequest,
    ) -> Result<(), SessionEnd> {
        self.stored.tid = tid;
        let response = ControlResponse {
            domain_code: control.domain_code,
            gw_id: control.gw_id,
            device_id: control.device_id,
            control_type: control.control_type,
            result_code: ResultCode::OK,
        };
        self.send(tid, response).await?;
        (self.print)(GmmpLine::Event(format!(
            "[GMMP Control {}]",
            control.control_type.0
        )));
        let notification = NotificationRequest {
            domain_code: control.domain_code,
            gw_id: control.gw_id,
            device_id: control.device_id,
            control_type: control.control_type,
            result_code: ResultCode::OK,
            payload: Bytes::new(),
        };
        self.send(self.stored.tid, notification).await
    }
}
