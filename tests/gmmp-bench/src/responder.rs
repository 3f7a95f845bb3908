//! [`Responder`]: a tiny scripted GMMP peer playing the OMP, so that the
//! scenarios can be tested (and the bench itself sized) without one.
//!
//! It answers GW registration with a GW ID (`GW00000001`, …) in the body
//! and a key (`KEY00000001`) in the header — the same ones again when an
//! auth ID registers twice — deliveries with rc 0 (or, every
//! `backoff_every`-th, rc 0x0F with `backoff_time` 0), heartbeats, and
//! notifications. [`ResponderHandle::send_control`] pushes a 0x0D onto a
//! gateway's session, and the 0x0E / 0x17 that come back are reported on
//! the events channel. It stores nothing and checks no keys: it is a test
//! double, not an OMP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use gmmp_codec::{
    AuthId, AuthKey, ControlRequest, ControlType, DeliveryResponse, DeviceId, Frame, GmmpCodec,
    GwId, GwRegistrationResponse, Header, HeartbeatResponse, Message, NotificationResponse,
    ResultCode,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

use crate::error::BenchError;
use crate::gateway::fixed;

/// How the responder behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponderConfig {
    /// Answer every n-th delivery with rc 0x0F and `backoff_time` 0.
    pub backoff_every: Option<u64>,
}

/// What the responder counted.
#[derive(Debug, Default)]
pub struct Counters {
    /// 0x02 sent.
    pub registrations: AtomicU64,
    /// 0x0C with rc 0 sent.
    pub deliveries_acked: AtomicU64,
    /// 0x0C with rc 0x0F sent.
    pub deliveries_backed_off: AtomicU64,
    /// 0x10 sent.
    pub heartbeats: AtomicU64,
    /// Sessions open now.
    pub sessions_open: AtomicU64,
}

/// A 0x0E or 0x17 a gateway sent in answer to a control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlEvent {
    /// The GW that answered.
    pub gw_id: GwId,
    /// The T-ID it carried.
    pub tid: u32,
    /// True for the 0x17 notification, false for the 0x0E response.
    pub notification: bool,
    /// Its rc.
    pub result_code: ResultCode,
}

type Sessions = Arc<Mutex<HashMap<GwId, mpsc::UnboundedSender<Frame>>>>;
type Registry = Arc<Mutex<HashMap<AuthId, (GwId, AuthKey)>>>;

/// A handle on a running responder.
#[derive(Debug, Clone)]
pub struct ResponderHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it counted so far.
    pub counters: Arc<Counters>,
    sessions: Sessions,
}

impl ResponderHandle {
    /// Pushes a 0x0D onto `gw_id`'s session; false when it has none.
    pub fn send_control(&self, gw_id: GwId, tid: u32, control_type: u8, payload: Bytes) -> bool {
        let frame = Frame::new(
            Header::new(AuthId::EMPTY, AuthKey::EMPTY, tid),
            ControlRequest {
                domain_code: gmmp_codec::DomainCode::from_raw(*b"ThingPlug\0"),
                gw_id,
                device_id: DeviceId::EMPTY,
                control_type: ControlType(control_type),
                payload,
            },
        );
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .get(&gw_id)
            .is_some_and(|tx| tx.send(frame).is_ok())
    }
}

/// The responder itself.
#[derive(Debug)]
pub struct Responder;

impl Responder {
    /// Listens on `127.0.0.1:0` and serves until the runtime ends. Control
    /// answers go to `events` when given.
    pub async fn start(
        config: ResponderConfig,
        events: Option<mpsc::UnboundedSender<ControlEvent>>,
    ) -> Result<ResponderHandle, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| BenchError::io("bind responder", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| BenchError::io("responder address", e))?;
        let handle = ResponderHandle {
            addr,
            counters: Arc::default(),
            sessions: Arc::default(),
        };
        let registry: Registry = Arc::default();
        let delivery_count = Arc::new(AtomicU64::new(0));
        let shared = handle.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let session = Session {
                    handle: shared.clone(),
                    registry: registry.clone(),
                    config,
                    events: events.clone(),
                    delivery_count: delivery_count.clone(),
                    gw_id: None,
                };
                tokio::spawn(session.run(stream));
            }
        });
        Ok(handle)
    }
}

struct Session {
    handle: ResponderHandle,
    registry: Registry,
    config: ResponderConfig,
    events: Option<mpsc::UnboundedSender<ControlEvent>>,
    delivery_count: Arc<AtomicU64>,
    gw_id: Option<GwId>,
}

impl Session {
    async fn run(mut self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let counters = self.handle.counters.clone();
        counters.sessions_open.fetch_add(1, Ordering::Relaxed);
        let mut framed = Framed::new(stream, GmmpCodec);
        let (push_tx, mut push_rx) = mpsc::unbounded_channel::<Frame>();
        loop {
            tokio::select! {
                incoming = framed.next() => {
                    let Some(Ok(frame)) = incoming else { break };
                    let Some(answer) = self.answer(&frame, &push_tx) else { continue };
                    if framed.send(answer).await.is_err() {
                        break;
                    }
                }
                Some(pushed) = push_rx.recv() => {
                    if framed.send(pushed).await.is_err() {
                        break;
                    }
                }
            }
        }
        if let Some(gw_id) = self.gw_id {
            let mut sessions = self
                .handle
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            sessions.remove(&gw_id);
        }
        counters.sessions_open.fetch_sub(1, Ordering::Relaxed);
    }

    fn answer(&mut self, frame: &Frame, push_tx: &mpsc::UnboundedSender<Frame>) -> Option<Frame> {
        let counters = &self.handle.counters;
        let header = frame.header.response();
        match &frame.message {
            Message::GwRegistrationRequest(r) => {
                let (gw_id, key) = self.register(frame.header.auth_id)?;
                self.gw_id = Some(gw_id);
                self.handle
                    .sessions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(gw_id, push_tx.clone());
                counters.registrations.fetch_add(1, Ordering::Relaxed);
                let header = Header {
                    auth_key: key,
                    ..header
                };
                Some(Frame::new(
                    header,
                    GwRegistrationResponse {
                        domain_code: r.domain_code,
                        gw_id,
                        result_code: ResultCode::OK,
                    },
                ))
            }
            Message::DeliveryRequest(d) => {
                let n = self.delivery_count.fetch_add(1, Ordering::Relaxed) + 1;
                let back_off = self
                    .config
                    .backoff_every
                    .is_some_and(|k| k > 0 && n % k == 0);
                let (result_code, backoff_time) = if back_off {
                    counters
                        .deliveries_backed_off
                        .fetch_add(1, Ordering::Relaxed);
                    (ResultCode::SERVICE_UNAVAILABLE, Some(0))
                } else {
                    counters.deliveries_acked.fetch_add(1, Ordering::Relaxed);
                    (ResultCode::OK, None)
                };
                Some(Frame::new(
                    header,
                    DeliveryResponse {
                        domain_code: d.domain_code,
                        gw_id: d.gw_id,
                        device_id: d.device_id,
                        result_code,
                        backoff_time,
                    },
                ))
            }
            Message::HeartbeatRequest(h) => {
                counters.heartbeats.fetch_add(1, Ordering::Relaxed);
                Some(Frame::new(
                    header,
                    HeartbeatResponse {
                        domain_code: h.domain_code,
                        gw_id: h.gw_id,
                    },
                ))
            }
            Message::ControlResponse(c) => {
                self.report(c.gw_id, frame.header.tid, false, c.result_code);
                None
            }
            Message::NotificationRequest(n) => {
                self.report(n.gw_id, frame.header.tid, true, n.result_code);
                Some(Frame::new(
                    header,
                    NotificationResponse {
                        domain_code: n.domain_code,
                        gw_id: n.gw_id,
                        device_id: n.device_id,
                        control_type: n.control_type,
                        result_code: ResultCode::OK,
                    },
                ))
            }
            _ => None,
        }
    }

    fn register(&self, auth_id: AuthId) -> Option<(GwId, AuthKey)> {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = registry.get(&auth_id) {
            return Some(*known);
        }
        let n = registry.len() + 1;
        let gw_id = fixed("gw_id", &format!("GW{n:08}")).ok()?;
        let key = fixed("auth_key", &format!("KEY{n:08}")).ok()?;
        registry.insert(auth_id, (gw_id, key));
        Some((gw_id, key))
    }

    fn report(&self, gw_id: GwId, tid: u32, notification: bool, result_code: ResultCode) {
        if let Some(events) = &self.events {
            let _ = events.send(ControlEvent {
                gw_id,
                tid,
                notification,
                result_code,
            });
        }
    }
}
