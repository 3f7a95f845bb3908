//! A webhook receiver for the tests: an axum server on 127.0.0.1:0 that
//! records every POST (event id, body, headers, the status it answered)
//! and answers as told — a status, or never (hanging).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::sync::Notify;

/// One POST as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub event_id: i64,
    pub body: Value,
    pub raw: Vec<u8>,
    pub signature: String,
    pub timestamp: String,
    pub content_type: String,
    /// The status answered (0: never answered).
    pub answered: u16,
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    status: AtomicU16,
    hang: AtomicBool,
    arrived: Notify,
}

/// A running receiver.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let hang = inner.hang.load(Ordering::SeqCst);
    let status = inner.status.load(Ordering::SeqCst);
    inner.received.lock().unwrap().push(Received {
        event_id: header("x-omp-event-id").parse().unwrap_or(-1),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: body.to_vec(),
        signature: header("x-omp-signature"),
        timestamp: header("x-omp-timestamp"),
        content_type: header("content-type"),
        answered: if hang { 0 } else { status },
    });
    inner.arrived.notify_waiters();
    if hang {
        std::future::pending::<()>().await;
    }
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    /// A receiver answering `status`.
    pub async fn start(status: u16) -> Receiver {
        let inner = Arc::new(Inner::default());
        inner.status.store(status, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn answer(&self, status: u16) {
        self.inner.status.store(status, Ordering::SeqCst);
    }

    pub fn hang(&self, hang: bool) {
        self.inner.hang.store(hang, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// The event ids of the POSTs answered 2xx, in arrival order.
    pub fn accepted(&self) -> Vec<i64> {
        self.received()
            .iter()
            .filter(|r| (200..300).contains(&r.answered))
            .map(|r| r.event_id)
            .collect()
    }

    /// Waits (within the hang guard) until `done` holds of what arrived.
    pub async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let wait = async {
            loop {
                let arrived = self.inner.arrived.notified();
                let now = self.received();
                if done(&now) {
                    return now;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(crate::common::GUARD, wait)
            .await
            .unwrap_or_else(|_| panic!("receiver never saw {what}: {:?}", self.received()))
    }
}

/// `sha256=<hex HMAC-SHA256>` of `body` under `secret`, computed here
/// independently of the server.
pub fn expected_signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}
