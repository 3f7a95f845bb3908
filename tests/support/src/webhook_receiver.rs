//! [`Receiver`]: a webhook receiver on 127.0.0.1 for the load generator
//! and the fault harness. It records the `X-OMP-Event-Id` of every POST
//! in arrival order and answers 204 — after `delay` if one is set, or
//! never ([`Answer::Hang`]: a receiver that accepts the POST and then
//! hangs, the worst a webhook can do to its sender).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 204, after the delay.
    NoContent,
    /// Never: the request stays open until the sender gives up.
    Hang,
}

/// What the receiver recorded.
#[derive(Debug)]
struct Tally {
    answer: Answer,
    delay: Option<Duration>,
    last_id: AtomicI64,
    /// POSTs whose event id was not above the previous one's.
    not_rising: AtomicU64,
    ids: Mutex<Vec<i64>>,
    changed: Notify,
}

/// A running receiver; stopped when dropped.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    tally: Arc<Tally>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Listens on an ephemeral port of 127.0.0.1; a 204 waits `delay`.
    pub async fn start(answer: Answer, delay: Option<Duration>) -> std::io::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tally = Arc::new(Tally {
            answer,
            delay,
            last_id: AtomicI64::new(0),
            not_rising: AtomicU64::new(0),
            ids: Mutex::new(Vec::new()),
            changed: Notify::new(),
        });
        let app = Router::new()
            .route("/", post(receive))
            .with_state(tally.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { addr, tally, task })
    }

    /// The URL to register.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// POSTs received (answered or not).
    pub fn posts(&self) -> u64 {
        self.tally.ids.lock().map_or(0, |ids| ids.len() as u64)
    }

    /// POSTs whose event id did not rise (a repeat or a reordering).
    pub fn not_rising(&self) -> u64 {
        self.tally.not_rising.load(Ordering::Relaxed)
    }

    /// The highest event id received.
    pub fn last_id(&self) -> i64 {
        self.tally.last_id.load(Ordering::Relaxed)
    }

    /// Every event id received, in arrival order.
    pub fn ids(&self) -> Vec<i64> {
        self.tally
            .ids
            .lock()
            .map(|ids| ids.clone())
            .unwrap_or_default()
    }

    /// Waits until `done(self)` holds; `false` at `deadline`.
    pub async fn until(&self, deadline: Instant, done: impl Fn(&Receiver) -> bool) -> bool {
        loop {
            let changed = self.tally.changed.notified();
            if done(self) {
                return true;
            }
            // Checked again at least every 100 ms in case a wake-up fell
            // between the check and the wait.
            let wait = deadline.min(Instant::now() + Duration::from_millis(100));
            if tokio::time::timeout_at(wait, changed).await.is_err() && Instant::now() >= deadline {
                return done(self);
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Not a graceful shutdown: a hanging receiver's requests never end.
        self.task.abort();
    }
}

async fn receive(
    State(tally): State<Arc<Tally>>,
    headers: HeaderMap,
    _body: axum::body::Bytes,
) -> StatusCode {
    let id = headers
        .get("x-omp-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    if let Ok(mut ids) = tally.ids.lock() {
        ids.push(id);
    }
    if tally.last_id.fetch_max(id, Ordering::Relaxed) >= id {
        tally.not_rising.fetch_add(1, Ordering::Relaxed);
    }
    tally.changed.notify_waiters();
    if tally.answer == Answer::Hang {
        std::future::pending::<()>().await;
    }
    if let Some(delay) = tally.delay {
        tokio::time::sleep(delay).await;
    }
    StatusCode::NO_CONTENT
}
