//! Shared helpers of the HTTP API tests: a router over a temp SQLite
//! database with the migrations applied, fake GMMP-side traits, and
//! one-shot requests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use futures::future::BoxFuture;
use omp_server::http::{
    ApiError, ApiKey, ControlSink, GmmpMetrics, HttpConfig, HttpState, NewControl, ProfileValues,
    SessionView, router,
};
use omp_server::store::controls::{self, ControlState, Outcome};
use serde_json::Value;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tower::ServiceExt;

/// The key the test router requires.
pub const KEY: &str = "test-key-0123456789abcdef";

/// Live sessions, set by the test.
#[derive(Default)]
pub struct FakeSessions {
    pub peers: Mutex<BTreeMap<String, SocketAddr>>,
}

impl SessionView for FakeSessions {
    fn peer(&self, gw_id: &str) -> Option<SocketAddr> {
        self.peers.lock().unwrap().get(gw_id).copied()
    }
    fn connected_count(&self) -> usize {
        self.peers.lock().unwrap().len()
    }
    fn connected_gw_ids(&self) -> Vec<String> {
        self.peers.lock().unwrap().keys().cloned().collect()
    }
}

/// Stands in for the control dispatcher: stores and cancels controls with
/// the store's own functions (as the dispatcher does) on the test's pool,
/// pushes nothing, and records the controls it created.
pub struct FakeSink {
    pub pool: SqlitePool,
    pub queued: Arc<Mutex<Vec<(String, i64)>>>,
}

impl ControlSink for FakeSink {
    fn create(&self, control: NewControl) -> BoxFuture<'static, Result<Option<i64>, ApiError>> {
        let pool = self.pool.clone();
        let queued = self.queued.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await.unwrap();
            let id = controls::insert(&mut conn, &control).await.unwrap();
            if let Some(id) = id {
                queued.lock().unwrap().push((control.gw_id, id));
            }
            Ok(id)
        })
    }

    fn cancel(&self, id: i64) -> BoxFuture<'static, Result<bool, ApiError>> {
        let pool = self.pool.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await.unwrap();
            Ok(controls::transition(
                &mut conn,
                id,
                &[ControlState::Queued],
                ControlState::Cancelled,
                1_586_937_600_000,
                &Outcome::default(),
            )
            .await
            .unwrap())
        })
    }
}

/// A fixed GMMP metrics text.
pub struct FakeGmmpMetrics;

impl GmmpMetrics for FakeGmmpMetrics {
    fn render(&self, out: &mut String) {
        out.push_str("# TYPE omp_gmmp_sessions gauge\nomp_gmmp_sessions 1\n");
    }
}

pub fn defaults() -> ProfileValues {
    ProfileValues {
        heartbeat_period: 5,
        report_period: 10,
        report_offset: 0,
        response_timeout: 30,
        model: "WizFi310".into(),
        firmware_version: "1.0.0.6".into(),
        software_version: String::new(),
        hardware_version: String::new(),
    }
}

pub struct TestApp {
    pub pool: SqlitePool,
    pub state: HttpState,
    pub router: Router,
    pub sessions: Arc<FakeSessions>,
    pub sink: Arc<FakeSink>,
    _dir: tempfile::TempDir,
}

pub use crate::answer::Answer;

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(edit: impl FnOnce(&mut HttpConfig)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(dir.path().join("omp.db"))
                    .create_if_missing(true)
                    .foreign_keys(true),
            )
            .await
            .unwrap();
        sqlx::migrate!("../migrations").run(&pool).await.unwrap();
        let mut config = HttpConfig::new(ApiKey::new(KEY).unwrap(), defaults());
        edit(&mut config);
        let sessions = Arc::new(FakeSessions::default());
        let sink = Arc::new(FakeSink {
            pool: pool.clone(),
            queued: Arc::default(),
        });
        let state = HttpState::new(
            pool.clone(),
            config,
            sessions.clone(),
            sink.clone(),
            Arc::new(FakeGmmpMetrics),
        );
        TestApp {
            pool,
            router: router(state.clone()),
            state,
            sessions,
            sink,
            _dir: dir,
        }
    }

    /// A request with any headers and body.
    pub async fn request(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    /// An authorized request without a body.
    pub async fn call(&self, method: Method, uri: &str) -> Answer {
        self.request(
            Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", format!("Bearer {KEY}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.call(Method::GET, uri).await
    }

    /// An authorized request with a JSON body.
    pub async fn send_json(&self, method: Method, uri: &str, body: &str) -> Answer {
        self.request(
            Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", format!("Bearer {KEY}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_owned()))
                .unwrap(),
        )
        .await
    }

    pub async fn add_gateway(&self, gw_id: &str, auth_id: &str) {
        sqlx::query(
            "INSERT INTO gateways (gw_id, auth_id, auth_key, domain, manufacture_id,
                 registered_at, last_peer)
             VALUES (?, ?, 'SP10033827key', 'ThingPlug', 'WIZnet', 1586937600000, '10.0.0.9:4000')",
        )
        .bind(gw_id)
        .bind(auth_id)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    pub async fn add_device(&self, gw_id: &str, device_id: &str, manufacture_id: &str) {
        sqlx::query(
            "INSERT INTO devices (device_id, gw_id, manufacture_id, registered_at)
             VALUES (?, ?, ?, 1586937601000)",
        )
        .bind(device_id)
        .bind(gw_id)
        .bind(manufacture_id)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    /// Inserts a delivery; answers its id.
    pub async fn add_delivery(
        &self,
        gw_id: &str,
        device_id: &str,
        report_type: u8,
        received_at: i64,
        payload: &[u8],
    ) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO deliveries (gw_id, device_id, report_type, media_type, tid,
                 origin_timestamp, received_at, encryption_flag, payload)
             VALUES (?, ?, ?, 1, 129, 1586937600, ?, 0, ?) RETURNING id",
        )
        .bind(gw_id)
        .bind(device_id)
        .bind(i64::from(report_type))
        .bind(received_at)
        .bind(payload)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// Row counts of every table (to check a request changed nothing).
    pub async fn counts(&self) -> Vec<i64> {
        let mut out = Vec::new();
        for table in [
            "provisioning",
            "gateways",
            "devices",
            "profiles",
            "deliveries",
            "controls",
            "control_events",
        ] {
            let n: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&self.pool)
                    .await
                    .unwrap();
            out.push(n);
        }
        out
    }
}
