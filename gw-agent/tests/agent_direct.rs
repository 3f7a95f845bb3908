//! The agent over the `direct` transport against a scripted GMMP
//! responder (a tokio listener on 127.0.0.1:0 answering with gmmp-codec).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use gmmp_codec::{
    AuthKey, ControlRequest, ControlType, DeliveryResponse, DeviceId, DeviceRegistrationResponse,
    FixedStr, Frame, GmmpCodec, GwId, GwRegistrationResponse, Header, HeartbeatResponse, Message,
    MessageType, NotificationResponse, ProfileResponse, ResultCode,
};
use gw_agent::agent::Agent;
use gw_agent::config::{Config, ListenAddr};
use gw_agent::spool::Spool;
use gw_agent::transport::DirectTransport;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

const GUARD: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Recorded {
    /// Delivery payloads in arrival order.
    deliveries: Vec<Bytes>,
    /// Types of the frames received after a control was pushed.
    control_replies: Vec<Frame>,
    gw_registrations: usize,
    /// False: connections are accepted and closed at once.
    up: bool,
    /// Frames to push into the current connection.
    push: Option<mpsc::UnboundedSender<Frame>>,
    /// Close the current connection.
    kill: Option<mpsc::UnboundedSender<()>>,
}

/// The scripted OMP.
#[derive(Clone)]
struct Responder {
    addr: std::net::SocketAddr,
    rec: Arc<Mutex<Recorded>>,
}

fn key() -> AuthKey {
    AuthKey::new("auth_key", "KEY0001").unwrap()
}

fn gw() -> GwId {
    GwId::new("gw_id", "SC0001").unwrap()
}

impl Responder {
    async fn start() -> Responder {
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

    fn deliveries(&self) -> Vec<String> {
        let rec = self.rec.lock().unwrap();
        rec.deliveries
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }

    /// Closes the session and refuses new ones.
    fn go_down(&self) {
        let mut rec = self.rec.lock().unwrap();
        rec.up = false;
        if let Some(kill) = rec.kill.take() {
            let _ = kill.send(());
        }
        rec.push = None;
    }

    fn come_back(&self) {
        self.rec.lock().unwrap().up = true;
    }

    fn push(&self, frame: Frame) -> bool {
        let rec = self.rec.lock().unwrap();
        rec.push.as_ref().is_some_and(|p| p.send(frame).is_ok())
    }
}

/// Polls `check` until it holds (the guard only stops a hang).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(GUARD, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for: {what}");
}

fn config(omp: std::net::SocketAddr, state_dir: &std::path::Path) -> Config {
    Config::from_toml(&format!(
        r#"
transport = "direct"
auth_id = "0008dc1e3222"
state_dir = "{}"
[omp]
host = "127.0.0.1"
port = {}
[[devices]]
name = "sensor1"
manufacture_id = "dev-1"
[sources]
stdin = false
listen = "tcp:127.0.0.1:0"
[reconnect]
initial = "50ms"
max = "200ms"
"#,
        state_dir.display(),
        omp.port()
    ))
    .unwrap()
}

struct Running {
    data_addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn start_agent(omp: &Responder, state_dir: &std::path::Path) -> Running {
    let config = config(omp.addr, state_dir);
    let transport = DirectTransport::new(&config.omp_host, config.omp_port);
    let agent = Agent::start(config).await.unwrap();
    let Some(ListenAddr::Tcp(data_addr)) = agent.local_addr().cloned() else {
        panic!("no TCP data socket");
    };
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { agent.run(transport, token).await.unwrap() });
    Running {
        data_addr,
        shutdown,
        task,
    }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(GUARD, self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// Sends lines on the data socket; returns the answers.
async fn send_lines(addr: std::net::SocketAddr, lines: &[&str]) -> Vec<String> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut answers = BufReader::new(r).lines();
    let mut out = Vec::new();
    for line in lines {
        w.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        let answer = tokio::time::timeout(GUARD, answers.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        out.push(answer);
    }
    out
}

#[tokio::test]
async fn lines_on_the_local_socket_are_delivered_in_order() {
    let omp = Responder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = start_agent(&omp, dir.path()).await;
    let lines = [
        "one",
        "two",
        r#"{"payload":"three","device":"sensor1","report_type":"event"}"#,
        "four",
    ];
    let answers = send_lines(agent.data_addr, &lines).await;
    assert!(answers.iter().all(|a| a.starts_with("ok ")), "{answers:?}");
    eventually("four deliveries", || omp.deliveries().len() == 4).await;
    assert_eq!(omp.deliveries(), ["one", "two", "three", "four"]);
    let refused = send_lines(agent.data_addr, &[r#"{"payload":"x","device":"nope"}"#]).await;
    assert!(
        refused[0].starts_with("error unknown device"),
        "{refused:?}"
    );
    agent.stop().await;
}

#[tokio::test]
async fn deliveries_wait_in_the_spool_while_the_omp_is_down_and_go_once_in_order() {
    let omp = Responder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = start_agent(&omp, dir.path()).await;
    send_lines(agent.data_addr, &["a"]).await;
    eventually("the first delivery", || omp.deliveries() == ["a"]).await;

    omp.go_down();
    let answers = send_lines(agent.data_addr, &["b", "c", "d"]).await;
    assert!(
        answers.iter().all(|a| a.starts_with("ok ")),
        "spooled while down: {answers:?}"
    );
    let status_path = dir.path().join("status.json");
    eventually("the status file to show the spooled deliveries", || {
        gw_agent::status::read(dir.path()).is_ok_and(|s| s.spool_depth == 3)
    })
    .await;
    assert!(status_path.exists());

    omp.come_back();
    eventually("all deliveries", || omp.deliveries().len() >= 4).await;
    eventually("an empty spool", || {
        gw_agent::status::read(dir.path()).is_ok_and(|s| s.spool_depth == 0 && s.omp == "ready")
    })
    .await;
    assert_eq!(
        omp.deliveries(),
        ["a", "b", "c", "d"],
        "each once, in order"
    );
    agent.stop().await;
    let (spool, _) = Spool::open(dir.path().join("spool"), Default::default()).unwrap();
    assert!(spool.is_empty());
}

#[tokio::test]
async fn a_status_check_is_answered_with_0e_then_0x17_carrying_the_states() {
    let omp = Responder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = start_agent(&omp, dir.path()).await;
    // A delivery that went through means the session is ready.
    send_lines(agent.data_addr, &["ready?"]).await;
    eventually("the session", || omp.deliveries().len() == 1).await;
    let header = Header::new(
        FixedStr::new("auth_id", "0008dc1e3222").unwrap(),
        key(),
        100_001,
    );
    for (tid, ct) in [
        (100_001, ControlType::PAUSE),
        (100_002, ControlType::STATUS_CHECK),
    ] {
        let mut h = header;
        h.tid = tid;
        let control = ControlRequest {
            domain_code: FixedStr::new("domain_code", "ThingPlug").unwrap(),
            gw_id: gw(),
            device_id: DeviceId::EMPTY,
            control_type: ct,
            payload: Bytes::new(),
        };
        assert!(omp.push(Frame::new(h, control)));
    }
    eventually("two control answers and two notifications", || {
        omp.rec.lock().unwrap().control_replies.len() == 4
    })
    .await;
    let replies = omp.rec.lock().unwrap().control_replies.clone();
    let seen: Vec<(MessageType, u32)> = replies
        .iter()
        .map(|f| (f.message_type(), f.header.tid))
        .collect();
    assert_eq!(
        seen,
        [
            (MessageType::ControlResponse, 100_001),
            (MessageType::NotificationRequest, 100_001),
            (MessageType::ControlResponse, 100_002),
            (MessageType::NotificationRequest, 100_002),
        ]
    );
    assert_eq!(replies[2].message.result_code(), Some(ResultCode::OK));
    // Report ON, operation PAUSE.
    assert_eq!(
        replies[3].message.payload().map(|p| p.to_vec()),
        Some(vec![0x01, 0x00])
    );
    agent.stop().await;
}

#[tokio::test]
async fn a_restart_reuses_the_identity_and_the_spool() {
    let omp = Responder::start().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = start_agent(&omp, dir.path()).await;
    send_lines(agent.data_addr, &["before"]).await;
    eventually("the first delivery", || omp.deliveries() == ["before"]).await;
    omp.go_down();
    send_lines(agent.data_addr, &["while down"]).await;
    agent.stop().await;

    omp.come_back();
    let agent = start_agent(&omp, dir.path()).await;
    eventually("the spooled delivery after the restart", || {
        omp.deliveries().len() == 2
    })
    .await;
    assert_eq!(omp.deliveries(), ["before", "while down"]);
    assert_eq!(
        omp.rec.lock().unwrap().gw_registrations,
        1,
        "the stored GW ID and key were reused"
    );
    agent.stop().await;
}
