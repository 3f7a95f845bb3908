//! One GMMP connection of the module's client: registration sequence, then
//! heartbeats, deliveries and controls until it ends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use gmmp_codec::{
    AuthId, AuthKey, ControlRequest, ControlResponse, DeliveryRequest, DeviceId,
    DeviceRegistrationRequest, DomainCode, FixedStr, Frame, GmmpCodec, GwRegistrationRequest,
    Header, HeartbeatRequest, Message, MessageType, NotificationRequest, ProfileRequest,
    ReportType, ResultCode,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

use super::library::{LIB_PARAM_ERROR, Refusal};
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

/// What one library call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// The frame went out.
    Sent,
    /// The library refused it (LIB_PARAM_ERROR): nothing went out.
    Refused,
}

pub(super) struct Session<'a, P: Fn(GmmpLine)> {
    framed: Framed<TcpStream, GmmpCodec>,
    stored: &'a mut Stored,
    print: &'a P,
    timing: Timing,
    auth_id: AuthId,
    domain: DomainCode,
    gw_manufacture_id: String,
    device_manufacture_id: String,
    /// The library refused a call on this connection and it was logged.
    refusal_logged: bool,
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
            domain: fixed("domain_code", &server.domain),
            gw_manufacture_id: server.gw_manufacture_id.clone(),
            device_manufacture_id: server.device_manufacture_id.clone(),
            refusal_logged: false,
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

    /// One library call sending `message` under the library's current
    /// T-ID: the frame goes out, or the library refuses it as it does
    /// when its key or GW ID buffer lost its NUL.
    async fn call(&mut self, message: impl Into<Message>) -> Result<Call, SessionEnd> {
        let message = message.into();
        let t = message.message_type();
        let key = if t == MessageType::GwRegistrationRequest {
            // GMMP_SetReg builds the GW registration's header without a key.
            Ok(AuthKey::EMPTY)
        } else {
            let own_gw_id = !matches!(
                t,
                MessageType::ControlResponse | MessageType::NotificationRequest
            );
            self.stored.library.key_for_call(own_gw_id)
        };
        let header = Header::new(
            self.auth_id,
            key.unwrap_or(AuthKey::EMPTY),
            self.stored.library.tid,
        )
        .with_timestamp(unix_now())
        .with_encryption_flag(MODULE_ENCRYPTION_FLAG);
        let frame = Frame::new(header, message);
        let trace = frame.trace().to_string();
        if let Err(refusal) = key {
            self.refused(t, &trace, refusal);
            return Ok(Call::Refused);
        }
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
        Ok(Call::Sent)
    }

    /// Prints what the firmware prints when the library refuses a call:
    /// the function's Start line (GMMP_SetControl checks its parameters
    /// before printing anything), then the error code; logs why once per
    /// connection.
    fn refused(&mut self, t: MessageType, trace: &str, refusal: Refusal) {
        if t != MessageType::ControlResponse {
            if let Some(start) = trace.lines().next() {
                self.trace(start);
            }
        }
        (self.print)(GmmpLine::Marker(format!(
            "<OMP><Marker:ERR> Code[{LIB_PARAM_ERROR}], LIB_PARAM_ERROR"
        )));
        if !self.refusal_logged {
            self.refusal_logged = true;
            tracing::warn!("{}", self.stored.library.explain(refusal));
        }
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
            Some(GmmpCommand::SendNow(data)) if !self.stored.library.gw_id.is_empty() => {
                self.deliver(data).await
            }
            _ => Ok(()),
        }
    }

    /// Sends a registration-sequence request (the T-ID already moved as
    /// its library call moves it) and waits for its response. A request
    /// the library refuses leaves the session stalled until it ends.
    async fn request(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<GmmpCommand>,
        message: impl Into<Message>,
    ) -> Result<Frame, SessionEnd> {
        let message = message.into();
        let expected = message.message_type().counterpart();
        if self.call(message.clone()).await? == Call::Refused {
            return Err(self.stalled(commands, message).await);
        }
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

    /// After the library refused the registration step `refused`: the
    /// firmware's receive loop goes on reading, handles what arrives and
    /// tries the step again after every frame. The retry fails the same
    /// way (the buffers change only at GW registration, once per
    /// connection), so nothing more is sent until the connection ends or
    /// the client is stopped.
    async fn stalled(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<GmmpCommand>,
        refused: Message,
    ) -> SessionEnd {
        loop {
            let step = tokio::select! {
                frame = self.framed.next() => match frame {
                    Some(Ok(frame)) => match self.incoming(frame).await {
                        Ok(()) => {
                            self.stored.library.before_sending(refused.message_type());
                            self.call(refused.clone()).await.map(|_| ())
                        }
                        Err(end) => Err(end),
                    },
                    _ => Err(SessionEnd::Lost),
                },
                command = commands.recv() => self.command(command).await,
            };
            if let Err(end) = step {
                return end;
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
        self.stored
            .library
            .before_sending(MessageType::GwRegistrationRequest);
        let response = self.request(commands, registration).await?;
        // WIZnet's receive callback: SetAuthKey from the header, SetGWID
        // from the body.
        let library = &mut self.stored.library;
        library.auth_key.copy_in(response.header.auth_key.raw());
        if let Message::GwRegistrationResponse(body) = &response.message {
            library.gw_id.copy_in(body.gw_id.raw());
        }
        let profile = ProfileRequest {
            domain_code: self.domain,
            gw_id: library.gw_id(),
            device_id: DeviceId::EMPTY,
        };
        library.before_sending(MessageType::ProfileRequest);
        let response = self.request(commands, profile).await?;
        if let Message::ProfileResponse(body) = &response.message {
            self.stored.heartbeat_period = body.heartbeat_period;
            self.stored.report_period = body.report_period;
        }
        let device = DeviceRegistrationRequest {
            domain_code: self.domain,
            gw_id: self.stored.library.gw_id(),
            manufacture_id: fixed("manufacture_id", &self.device_manufacture_id),
        };
        self.stored
            .library
            .before_sending(MessageType::DeviceRegistrationRequest);
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
        let heartbeat = HeartbeatRequest {
            domain_code: self.domain,
            gw_id: self.stored.library.gw_id(),
        };
        self.stored
            .library
            .before_sending(MessageType::HeartbeatRequest);
        self.call(heartbeat).await.map(|_| ())
    }

    /// WIZnet's GW_Delivery: one GO_Delivery per 2048-byte part, each
    /// with the next T-ID. AT+GMMPDATA's data (at most 241 bytes, no NUL:
    /// see the interpreter's `gmmp` module) always makes one part, 1 of 1.
    async fn deliver(&mut self, data: Bytes) -> Result<(), SessionEnd> {
        let delivery = DeliveryRequest {
            domain_code: self.domain,
            gw_id: self.stored.library.gw_id(),
            device_id: DeviceId::EMPTY,
            report_type: ReportType::COLLECT_DATA,
            media_type: MEDIA_TYPE_TEXT,
            payload: data,
        };
        self.stored
            .library
            .before_sending(MessageType::DeliveryRequest);
        self.call(delivery).await.map(|_| ())
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

    /// WIZnet's receive callback for a control: GO_Control (the T-ID
    /// becomes the control's) with rc 0, `[GMMP Control <type>]` whatever
    /// it returned, then GO_Notifi under the same T-ID, rc 0, no body.
    async fn answer_control(
        &mut self,
        tid: u32,
        control: ControlRequest,
    ) -> Result<(), SessionEnd> {
        self.stored.library.tid = tid;
        let response = ControlResponse {
            domain_code: control.domain_code,
            gw_id: control.gw_id,
            device_id: control.device_id,
            control_type: control.control_type,
            result_code: ResultCode::OK,
        };
        self.call(response).await?;
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
        self.stored
            .library
            .before_sending(MessageType::NotificationRequest);
        self.call(notification).await.map(|_| ())
    }
}
