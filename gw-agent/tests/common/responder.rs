//! A scripted OMP: a tokio listener on 127.0.0.1:0 answering with
//! gmmp-codec, recording what it got, able to go down, come back and push
//! frames (controls) into the current connection.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use gmmp_codec::{
    AuthKey, DeliveryResponse, DeviceId, DeviceRegistrationResponse, FixedStr, Frame, GmmpCodec,
    GwId, GwRegistrationResponse, HeartbeatResponse, Message, NotificationResponse,
    ProfileResponse, ResultCode,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

#[derive(Default)]
pub struct Recorded {
    /// Delivery payloads in arrival order.
    pub deliveries: Vec<Bytes>,
    /// Types of the frames received after a control was pushed.
    pub control_replies: Vec<Frame>,
    pub gw_registrations: usize,
    /// Connections served.
    pub connections: usize,
    /// False: connections are accepted and closed at once.
    pub up: bool,
    /// Frames to push into the current connection.
    pub push: Option<mpsc::UnboundedSender<Frame>>,
    /// Close the current connection.
    pub kill: Option<mpsc::UnboundedSender<()>>,
}

/// The scripted OMP.
#[derive(Clone)]
pub struct Responder {
    pub addr: std::net::SocketAddr,
    pub rec: Arc<Mutex<Recorded>>,
}

pub fn key() -> AuthKey {
    AuthKey::new("auth_key", "KEY0001").unwrap()
}

pub fn gw() -> GwId {
    GwId::new("gw_id", "SC0001").unwrap()
}

impl Responder {
    pub async fn start() -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let rec = Arc::new(Mutex::new(Recorded {
            up: true,
            ..Recorded::default()
        }));
        let r = Responder { addr, rec };
        let me = r.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                if !me.rec.lock().unwrap().up {
                    drop(stream);
                    continue;
                }
                tokio::spawn(me.clone().serve(stream));
            }
        });
        r
    }

    async fn serve(self, stream: TcpStream) {
        let mut framed = Framed::new(stream, GmmpCodec);
        let (push_tx, mut push_rx) = mpsc::unbounded_channel();
        let (kill_tx, mut kill_rx) = mpsc::unbounded_channel();
        {
            let mut rec = self.rec.lock().unwrap();
            rec.connections += 1;
            rec.push = Some(push_tx);
            rec.kill = Some(kill_tx);
        }
        loop {
            tokio::select! {
                _ = kill_rx.recv() => return,
                Some(frame) = push_rx.recv() => {
                    if framed.send(frame).await.is_err() { return; }
                }
                frame = framed.next() => {
                    let Some(Ok(frame)) = frame else { return };
                    if let Some(answer) = self.answer(frame) {
                        if framed.send(answer).await.is_err() { return; }
                    }
                }
            }
        }
    }

    fn answer(&self, frame: Frame) -> Option<Frame> {
        let mut header = frame.header.response();
        let domain_code = *frame.message.domain_code();
        let mut rec = self.rec.lock().unwrap();
        let message: Message = match frame.message {
            Message::GwRegistrationRequest(_) => {
                rec.gw_registrations += 1;
                header.auth_key = key();
                GwRegistrationResponse {
                    domain_code,
                    gw_id: gw(),
                    result_code: ResultCode::OK,
                }
                .into()
            }
            Message::ProfileRequest(_) => ProfileResponse {
                domain_code,
                gw_id: gw(),
                device_id: DeviceId::EMPTY,
                result_code: ResultCode::OK,
                heartbeat_period: 0,
                report_period: 0,
                report_offset: 0,
                response_timeout: 5,
                model: FixedStr::EMPTY,
                firmware_version: FixedStr::EMPTY,
                software_version: FixedStr::EMPTY,
                hardware_version: FixedStr::EMPTY,
            }
            .into(),
            Message::DeviceRegistrationRequest(_) => DeviceRegistrationResponse {
                domain_code,
                gw_id: gw(),
                device_id: DeviceId::new("device_id", "AD0001").unwrap(),
                result_code: ResultCode::OK,
            }
            .into(),
            Message::HeartbeatRequest(_) => HeartbeatResponse {
                domain_code,
                gw_id: gw(),
            }
            .into(),
            Message::DeliveryRequest(d) => {
                assert_eq!(
                    frame.header.auth_key,
                    key(),
                    "deliveries carry the assigned key"
                );
                rec.deliveries.push(d.payload.clone());
                DeliveryResponse {
                    domain_code,
                    gw_id: gw(),
                    device_id: d.device_id,
                    result_code: ResultCode::OK,
                    backoff_time: None,
                }
                .into()
            }
            Message::ControlResponse(_) => {
                rec.control_replies.push(frame);
                return None;
            }
            Message::NotificationRequest(n) => {
                let reply = NotificationResponse {
                    domain_code,
                    gw_id: gw(),
                    device_id: n.device_id,
                    control_type: n.control_type,
                    result_code: ResultCode::OK,
                };
                rec.control_replies.push(Frame::new(frame.header, n));
                reply.into()
            }
            _ => return None,
        };
        Some(Frame::new(header, message))
    }

    pub fn deliveries(&self) -> Vec<String> {
        let rec = self.rec.lock().unwrap();
        rec.deliveries
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }

    /// Closes the session and refuses new ones.
    pub fn go_down(&self) {
        let mut rec = self.rec.lock().unwrap();
        rec.up = false;
        if let Some(kill) = rec.kill.take() {
            let _ = kill.send(());
        }
        rec.push = None;
    }

    pub fn come_back(&self) {
        self.rec.lock().unwrap().up = true;
    }

    pub fn push(&self, frame: Frame) -> bool {
        let rec = self.rec.lock().unwrap();
        rec.push.as_ref().is_some_and(|p| p.send(frame).is_ok())
    }
}
