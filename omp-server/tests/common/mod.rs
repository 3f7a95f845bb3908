//! Test helpers: a server on 127.0.0.1:0 with a temporary data directory,
//! and a tiny GMMP client built on `GmmpCodec`.

#![allow(dead_code, unreachable_pub)]

pub mod seed;
pub mod stores;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use gmmp_codec::{
    AuthKey, DeliveryRequest, DeviceId, DeviceRegistrationRequest, FixedStr, Frame, GmmpCodec,
    GwId, GwRegistrationRequest, Header, HeartbeatRequest, Message, ReportType, ResultCode,
};
use omp_server::{Config, ProvisioningMode, RunningServer, Shared};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

/// Guard against a hanging test, not a timing assertion.
pub const GUARD: Duration = Duration::from_secs(20);

pub struct TestServer {
    pub addr: SocketAddr,
    pub mqtt_addr: Option<SocketAddr>,
    pub mqtts_addr: Option<SocketAddr>,
    pub http_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub state: Arc<Shared>,
    shutdown: CancellationToken,
    server: RunningServer,
}

/// A config for tests: loopback, ephemeral port, `dir`, open provisioning.
pub fn test_config(dir: &Path) -> Config {
    let mut c = Config::defaults();
    c.gmmp_listen = "127.0.0.1:0".parse().unwrap();
    c.http_listen = "127.0.0.1:0".parse().unwrap();
    c.mqtt_listen = None;
    c.mqtts_listen = None;
    c.data_dir = dir.to_path_buf();
    c.provisioning = ProvisioningMode::Open;
    c.max_connections = 64;
    c.trace_gmmp = true;
    c
}

pub async fn start(dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = test_config(dir);
    tweak(&mut config);
    let shutdown = CancellationToken::new();
    let server = omp_server::run(config, shutdown.clone()).await.unwrap();
    TestServer {
        addr: server.gmmp_addr,
        mqtt_addr: server.mqtt_addr,
        mqtts_addr: server.mqtts_addr,
        http_addr: server.http_addr,
        data_dir: server.data_dir.clone(),
        state: server.state.clone(),
        shutdown,
        server,
    }
}

impl TestServer {
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(GUARD, self.server.wait())
            .await
            .expect("server stops")
            .expect("clean shutdown");
    }
}

pub fn fixed<const N: usize>(s: &str) -> FixedStr<N> {
    FixedStr::new("test", s).unwrap()
}

pub struct Client {
    pub framed: Framed<TcpStream, GmmpCodec>,
    pub auth_id: FixedStr<16>,
    pub key: AuthKey,
    pub gw_id: GwId,
    pub domain: FixedStr<10>,
    pub tid: u32,
}

impl Client {
    pub async fn connect(addr: SocketAddr, auth_id: &str) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        Client {
            framed: Framed::new(stream, GmmpCodec),
            auth_id: fixed(auth_id),
            key: AuthKey::EMPTY,
            gw_id: GwId::EMPTY,
            domain: fixed("ThingPlug"),
            tid: 0,
        }
    }

    /// Connects from the loopback address `source` (any 127.x.y.z), so
    /// that a test can be two peers on one machine.
    pub async fn connect_from(addr: SocketAddr, source: [u8; 4], auth_id: &str) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::from((source, 0)))
            .expect("loopback source address");
        let stream = socket.connect(addr).await.unwrap();
        Client {
            framed: Framed::new(stream, GmmpCodec),
            auth_id: fixed(auth_id),
            key: AuthKey::EMPTY,
            gw_id: GwId::EMPTY,
            domain: fixed("ThingPlug"),
            tid: 0,
        }
    }

    /// A request header as the WizFi310 sends it (encryption_flag 0x02).
    pub fn header(&mut self) -> Header {
        self.tid += 1;
        Header::new(self.auth_id, self.key, self.tid)
            .with_encryption_flag(0x02)
            .with_timestamp(1_586_937_600)
    }

    pub async fn send(&mut self, frame: Frame) {
        self.framed.send(frame).await.unwrap();
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.framed.get_mut().write_all(bytes).await.unwrap();
    }

    pub async fn recv(&mut self) -> Frame {
        tokio::time::timeout(GUARD, self.framed.next())
            .await
            .expect("a response in time")
            .expect("connection open")
            .expect("a valid frame")
    }

    pub async fn request(&mut self, message: impl Into<Message>) -> Frame {
        let header = self.header();
        self.send(Frame::new(header, message)).await;
        let response = self.recv().await;
        assert_eq!(response.header.tid, self.tid, "T-ID echoed");
        response
    }

    /// Asserts the server closes the connection (EOF or reset), ignoring
    /// nothing: any frame received first fails the test.
    pub async fn expect_closed(&mut self) {
        match tokio::time::timeout(GUARD, self.framed.next())
            .await
            .expect("closed in time")
        {
            None | Some(Err(_)) => {}
            Some(Ok(frame)) => panic!("expected close, got {frame:?}"),
        }
    }

    pub async fn register_gw(&mut self, domain: &str, manufacture_id: &str) -> Frame {
        self.domain = fixed(domain);
        let rsp = self
            .request(GwRegistrationRequest {
                domain_code: self.domain,
                manufacture_id: fixed(manufacture_id),
            })
            .await;
        if rsp.message.result_code() == Some(ResultCode::OK) {
            self.key = rsp.header.auth_key;
            self.gw_id = *rsp.message.gw_id().unwrap();
        }
        rsp
    }

    pub async fn register_device(&mut self, manufacture_id: &str) -> Frame {
        self.request(DeviceRegistrationRequest {
            domain_code: self.domain,
            gw_id: self.gw_id,
            manufacture_id: fixed(manufacture_id),
        })
        .await
    }

    pub async fn heartbeat(&mut self) -> Frame {
        self.request(HeartbeatRequest {
            domain_code: self.domain,
            gw_id: self.gw_id,
        })
        .await
    }

    pub fn delivery(&self, device_id: DeviceId, payload: &[u8]) -> DeliveryRequest {
        DeliveryRequest {
            domain_code: self.domain,
            gw_id: self.gw_id,
            device_id,
            report_type: ReportType::COLLECT_DATA,
            media_type: 0x01,
            payload: bytes::Bytes::copy_from_slice(payload),
        }
    }

    pub async fn deliver(&mut self, payload: &[u8]) -> Frame {
        let d = self.delivery(DeviceId::EMPTY, payload);
        self.request(d).await
    }
}

pub fn rc(frame: &Frame) -> ResultCode {
    frame
        .message
        .result_code()
        .expect("a response with a result code")
}

/// The delivery writer alone on a fresh database in `dir`, with a pool to
/// read what it stored.
pub struct LoneWriter {
    pub pool: sqlx::SqlitePool,
    pub handle: omp_server::store::writer::WriterHandle,
    pub task: tokio::task::JoinHandle<()>,
    pub stop: CancellationToken,
}

pub async fn start_writer(dir: &Path, capacity: usize, batch_max: usize) -> LoneWriter {
    let path = dir.join("omp.sqlite3");
    let pool = omp_server::store::open(&path).await.unwrap();
    let stop = CancellationToken::new();
    let (handle, task) = omp_server::store::writer::spawn(
        &pool.clone().into(),
        capacity,
        batch_max,
        gmmp_codec::SplitLimits::default(),
        stop.clone(),
    )
    .await
    .unwrap();
    LoneWriter {
        pool,
        handle,
        task,
        stop,
    }
}

impl LoneWriter {
    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }

    /// Keeps the writer busy until [`WriterHold::release`]: a pool
    /// connection takes the write lock and a job queued behind it (a
    /// cursor of no webhook, which writes no row) keeps the writer
    /// waiting in its BEGIN. What is submitted meanwhile is taken as one
    /// batch once released — the writer runs on a thread of its own, so
    /// nothing else says what a batch holds.
    pub async fn hold(&self) -> WriterHold {
        let mut conn = self.pool.acquire().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .unwrap();
        let blocker = self.handle.submit_webhook_cursor(-1, 0).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.handle.queued() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the writer takes no job"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        WriterHold { conn, blocker }
    }
}

/// The writer waiting for the write lock ([`LoneWriter::hold`]).
pub struct WriterHold {
    conn: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    blocker: omp_server::store::writer::CursorCommit,
}

impl WriterHold {
    /// Lets the writer go on, and waits for its held batch.
    pub async fn release(mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut *self.conn)
            .await
            .unwrap();
        self.blocker.committed().await.unwrap();
    }
}

/// A delivery of GW `SC10010001` with T-ID `tid` and `origin_timestamp`.
pub fn delivery_row(
    tid: u32,
    origin_timestamp: u32,
    keyed: bool,
    payload: &'static [u8],
) -> omp_server::store::deliveries::DeliveryRow {
    omp_server::store::deliveries::DeliveryRow {
        gw_id: "SC10010001".into(),
        device_id: String::new(),
        report_type: 1,
        media_type: 1,
        tid,
        origin_timestamp,
        received_at: 0,
        encryption_flag: 2,
        payload: bytes::Bytes::from_static(payload),
        keyed,
    }
}
