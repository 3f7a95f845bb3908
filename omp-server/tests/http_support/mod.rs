//! Shared helpers of the HTTP API tests: the router over the server's real
//! state (a temp SQLite database with the migrations applied, the
//! delivery writer and the control dispatcher running, no GMMP listener),
//! and one-shot requests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use omp_server::config::ProfileDefaults;
use omp_server::control::{ControlHandle, dispatcher};
use omp_server::directory::Directory;
use omp_server::http::{ApiKey, router};
use omp_server::registry::SessionHandle;
use omp_server::{Config, Shared, store};
use serde_json::Value;
use sqlx::SqlitePool;
use tokio_util::sync::{CancellationToken, DropGuard};
use tower::ServiceExt;

/// The key the test router requires.
pub const KEY: &str = "test-key-0123456789abcdef";

pub fn defaults() -> ProfileDefaults {
    ProfileDefaults {
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
    pub state: Arc<Shared>,
    pub router: Router,
    _stop: DropGuard,
    _dir: tempfile::TempDir,
}

pub use crate::answer::Answer;

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(edit: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::defaults();
        config.data_dir = dir.path().to_owned();
        config.profile_defaults = defaults();
        edit(&mut config);
        let path = config.database_path();
        let pool = store::open(&path).await.unwrap();
        let stop = CancellationToken::new();
        let (writer, _) = store::writer::spawn(
            &pool.clone().into(),
            config.writer_queue_capacity,
            config.writer_batch_max,
            config.split_limits(),
            stop.clone(),
        )
        .await
        .unwrap();
        let (control, inbox) = ControlHandle::channel();
        let control_config = config.control.clone();
        let state = Arc::new(Shared::new(
            config,
            pool.clone().into(),
            writer,
            Directory::load(vec![], vec![]),
            control,
            ApiKey::new(KEY).unwrap(),
        ));
        dispatcher::spawn(
            &state.db,
            control_config,
            inbox,
            state.control_watch().clone(),
            state.events().clone(),
            stop.clone(),
        )
        .await
        .unwrap();
        TestApp {
            pool,
            router: router(state.clone()),
            state,
            _stop: stop.drop_guard(),
            _dir: dir,
        }
    }

    /// Binds a live session of `gw_id` from `peer` in the session
    /// registry, as a GMMP session does once authenticated (the control
    /// dispatcher is not told: nothing is pushed to it).
    pub fn connect(&self, gw_id: &str, peer: SocketAddr) {
        self.state.registry.bind(
            gw_id,
            SessionHandle {
                id: self.state.next_session_id(),
                peer,
                // 2020-04-15T08:00:50Z, a fixed time the answers show.
                since: 1_586_937_650_000,
                outbound: Arc::default(),
                close: CancellationToken::new(),
            },
        );
    }

    /// The controls the API handed to the dispatcher, as (GW ID, id), in
    /// creation order.
    pub async fn queued(&self) -> Vec<(String, i64)> {
        sqlx::query_as("SELECT gw_id, id FROM controls ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .unwrap()
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
