//! [`ScriptedOmp`]: a small scripted GMMP peer playing the OMP, for tests
//! of gateways (the agent) and of the load generator without a real one.
//!
//! It answers GW registration with a GW ID and a key of its own
//! ([`assigned`]: `GW00000001` / `KEY00000001` for the first auth ID to
//! register, the same again when it registers twice), profile and device
//! registration requests, heartbeats, deliveries with rc 0 (or, every
//! `backoff_every`-th, rc 0x0F with `backoff_time` 0) and notifications.
//! It records delivery payloads and the frames gateways send in answer to
//! controls, pushes frames into a session ([`ScriptedOmp::push`],
//! [`ScriptedOmp::send_control`]), and can go down and come back. It
//! checks nothing but counts a delivery under a key it did not assign: it
//! is a test double, not an OMP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use gmmp_codec::{
    AuthId, AuthKey, ControlRequest, ControlType, DeliveryResponse, DeviceId,
    DeviceRegistrationResponse, DomainCode, FixedStr, Frame, GmmpCodec, GwId,
    GwRegistrationResponse, Header, HeartbeatResponse, Message, NotificationResponse,
    ProfileResponse, ResultCode,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

/// How the scripted OMP behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScriptedOmpConfig {
    /// Answer every n-th delivery with rc 0x0F and `backoff_time` 0.
    pub backoff_every: Option<u64>,
}

/// What it counted.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted while up.
    pub connections: AtomicU64,
    /// 0x02 sent.
    pub registrations: AtomicU64,
    /// 0x0C with rc 0 sent.
    pub deliveries_acked: AtomicU64,
    /// 0x0C with rc 0x0F sent.
    pub deliveries_backed_off: AtomicU64,
    /// Deliveries whose header carried a key this OMP did not assign.
    pub deliveries_with_a_foreign_key: AtomicU64,
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

/// The GW ID and key the scripted OMP gives the `n`-th auth ID (from 1)
/// that registers.
pub fn assigned(n: usize) -> (GwId, AuthKey) {
    let gw_id = FixedStr::new("gw_id", format!("GW{n:08}")).expect("10 characters fit");
    let key = FixedStr::new("auth_key", format!("KEY{n:08}")).expect("11 characters fit");
    (gw_id, key)
}

/// One open connection's way in: frames to push, and a close.
struct Pusher {
    frames: mpsc::UnboundedSender<Frame>,
    close: mpsc::UnboundedSender<()>,
}

#[derive(Default)]
struct Inner {
    /// Auth ID → what it was given.
    registry: HashMap<AuthId, (GwId, AuthKey)>,
    /// GW ID → its open session.
    sessions: HashMap<GwId, mpsc::UnboundedSender<Frame>>,
    /// The newest connection.
    newest: Option<Pusher>,
    deliveries: Vec<Bytes>,
    control_replies: Vec<Frame>,
}

struct Shared {
    config: ScriptedOmpConfig,
    events: Option<mpsc::UnboundedSender<ControlEvent>>,
    up: AtomicBool,
    delivery_count: AtomicU64,
    inner: Mutex<Inner>,
}

/// A running scripted OMP (cheap to clone).
#[derive(Clone)]
pub struct ScriptedOmp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it counted so far.
    pub counters: Arc<Counters>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ScriptedOmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedOmp")
            .field("addr", &self.addr)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl ScriptedOmp {
    /// Listens on `127.0.0.1:0` and serves until the runtime ends. Control
    /// answers also go to `events` when given.
    pub async fn start(
        config: ScriptedOmpConfig,
        events: Option<mpsc::UnboundedSender<ControlEvent>>,
    ) -> std::io::Result<ScriptedOmp> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let omp = ScriptedOmp {
            addr: listener.local_addr()?,
            counters: Arc::default(),
            shared: Arc::new(Shared {
                config,
                events,
                up: AtomicBool::new(true),
                delivery_count: AtomicU64::new(0),
                inner: Mutex::default(),
            }),
        };
        let me = omp.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                if !me.shared.up.load(Ordering::SeqCst) {
                    drop(stream);
                    continue;
                }
                tokio::spawn(me.clone().serve(stream));
            }
        });
        Ok(omp)
    }

    /// The OMP with the default behaviour and no events channel.
    pub async fn start_default() -> ScriptedOmp {
        ScriptedOmp::start(ScriptedOmpConfig::default(), None)
            .await
            .expect("binding 127.0.0.1:0")
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Delivery payloads in arrival order, as text.
    pub fn deliveries(&self) -> Vec<String> {
        self.inner()
            .deliveries
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }

    /// The 0x0E and 0x17 frames gateways sent, in arrival order.
    pub fn control_replies(&self) -> Vec<Frame> {
        self.inner().control_replies.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// GW registrations answered so far.
    pub fn registrations(&self) -> u64 {
        self.counters.registrations.load(Ordering::SeqCst)
    }

    /// Closes the newest session and refuses new ones until
    /// [`come_back`](Self::come_back).
    pub fn go_down(&self) {
        self.shared.up.store(false, Ordering::SeqCst);
        if let Some(newest) = self.inner().newest.take() {
            let _ = newest.close.send(());
        }
    }

    /// Accepts sessions again.
    pub fn come_back(&self) {
        self.shared.up.store(true, Ordering::SeqCst);
    }

    /// Sends `frame` down the newest connection; false when there is none.
    pub fn push(&self, frame: Frame) -> bool {
        self.inner()
            .newest
            .as_ref()
            .is_some_and(|p| p.frames.send(frame).is_ok())
    }

    /// Pushes a 0x0D onto `gw_id`'s session; false when it has none.
    pub fn send_control(&self, gw_id: GwId, tid: u32, control_type: u8, payload: Bytes) -> bool {
        let frame = Frame::new(
            Header::new(AuthId::EMPTY, AuthKey::EMPTY, tid),
            ControlRequest {
                domain_code: DomainCode::from_raw(*b"ThingPlug\0"),
                gw_id,
                device_id: DeviceId::EMPTY,
                control_type: ControlType(control_type),
                payload,
            },
        );
        self.inner()
            .sessions
            .get(&gw_id)
            .is_some_and(|tx| tx.send(frame).is_ok())
    }

    async fn serve(self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let counters = self.counters.clone();
        counters.connections.fetch_add(1, Ordering::SeqCst);
        counters.sessions_open.fetch_add(1, Ordering::SeqCst);
        let mut framed = Framed::new(stream, GmmpCodec);
        let (push_tx, mut push_rx) = mpsc::unbounded_channel::<Frame>();
        let (close_tx, mut close_rx) = mpsc::unbounded_channel();
        self.inner().newest = Some(Pusher {
            frames: push_tx.clone(),
            close: close_tx,
        });
        let mut session = Session {
            omp: &self,
            gw_id: None,
            key: None,
        };
        loop {
            tokio::select! {
                // Only a close asked for: a newer connection dropping
                // this one's sender as it takes its place is not one.
                Some(()) = close_rx.recv() => break,
                Some(pushed) = push_rx.recv() => {
                    if framed.send(pushed).await.is_err() {
                        break;
                    }
                }
                incoming = framed.next() => {
                    let Some(Ok(frame)) = incoming else { break };
                    let Some(answer) = session.answer(frame, &push_tx) else { continue };
                    if framed.send(answer).await.is_err() {
                        break;
                    }
                }
            }
        }
        if let Some(gw_id) = session.gw_id {
            self.inner().sessions.remove(&gw_id);
        }
        counters.sessions_open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One connection's registration.
struct Session<'a> {
    omp: &'a ScriptedOmp,
    gw_id: Option<GwId>,
    key: Option<AuthKey>,
}

impl Session<'_> {
    fn answer(&mut self, frame: Frame, push_tx: &mpsc::UnboundedSender<Frame>) -> Option<Frame> {
        let counters = &self.omp.counters;
        let mut header = frame.header.response();
        let domain_code = *frame.message.domain_code();
        let message: Message = match frame.message {
            Message::GwRegistrationRequest(_) => {
                let (gw_id, key) = self.register(frame.header.auth_id);
                self.gw_id = Some(gw_id);
                self.key = Some(key);
                self.omp.inner().sessions.insert(gw_id, push_tx.clone());
                counters.registrations.fetch_add(1, Ordering::SeqCst);
                header.auth_key = key;
                GwRegistrationResponse {
                    domain_code,
                    gw_id,
                    result_code: ResultCode::OK,
                }
                .into()
            }
            Message::ProfileRequest(p) => ProfileResponse {
                domain_code,
                gw_id: p.gw_id,
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
            Message::DeviceRegistrationRequest(r) => DeviceRegistrationResponse {
                domain_code,
                gw_id: r.gw_id,
                device_id: DeviceId::new("device_id", "AD0001").expect("6 characters fit"),
                result_code: ResultCode::OK,
            }
            .into(),
            Message::HeartbeatRequest(h) => {
                counters.heartbeats.fetch_add(1, Ordering::SeqCst);
                HeartbeatResponse {
                    domain_code,
                    gw_id: h.gw_id,
                }
                .into()
            }
            Message::DeliveryRequest(d) => {
                if self.key != Some(frame.header.auth_key) {
                    counters
                        .deliveries_with_a_foreign_key
                        .fetch_add(1, Ordering::SeqCst);
                }
                let n = self
                    .omp
                    .shared
                    .delivery_count
                    .fetch_add(1, Ordering::SeqCst)
                    + 1;
                let back_off = self
                    .omp
                    .shared
                    .config
                    .backoff_every
                    .is_some_and(|k| k > 0 && n % k == 0);
                let (result_code, backoff_time) = if back_off {
                    counters
                        .deliveries_backed_off
                        .fetch_add(1, Ordering::SeqCst);
                    (ResultCode::SERVICE_UNAVAILABLE, Some(0))
                } else {
                    counters.deliveries_acked.fetch_add(1, Ordering::SeqCst);
                    self.omp.inner().deliveries.push(d.payload.clone());
                    (ResultCode::OK, None)
                };
                DeliveryResponse {
                    domain_code,
                    gw_id: d.gw_id,
                    device_id: d.device_id,
                    result_code,
                    backoff_time,
                }
                .into()
            }
            Message::ControlResponse(ref c) => {
                self.report(c.gw_id, frame.header.tid, false, c.result_code);
                self.omp.inner().control_replies.push(frame);
                return None;
            }
            Message::NotificationRequest(n) => {
                self.report(n.gw_id, frame.header.tid, true, n.result_code);
                let reply = NotificationResponse {
                    domain_code,
                    gw_id: n.gw_id,
                    device_id: n.device_id,
                    control_type: n.control_type,
                    result_code: ResultCode::OK,
                };
                self.omp
                    .inner()
                    .control_replies
                    .push(Frame::new(frame.header, n));
                reply.into()
            }
            _ => return None,
        };
        Some(Frame::new(header, message))
    }

    fn register(&self, auth_id: AuthId) -> (GwId, AuthKey) {
        let mut inner = self.omp.inner();
        if let Some(known) = inner.registry.get(&auth_id) {
            return *known;
        }
        let given = assigned(inner.registry.len() + 1);
        inner.registry.insert(auth_id, given);
        given
    }

    fn report(&self, gw_id: GwId, tid: u32, notification: bool, result_code: ResultCode) {
        if let Some(events) = &self.omp.shared.events {
            let _ = events.send(ControlEvent {
                gw_id,
                tid,
                notification,
                result_code,
            });
        }
    }
}
