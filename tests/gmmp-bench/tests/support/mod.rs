//! Test doubles: a fake OMP HTTP API (controls, deliveries) backed by the
//! scripted GMMP responder, and a minimal MQTT broker answering CONNECT and
//! QoS 1 PUBLISH.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use gmmp_codec::FixedStr;
use serde_json::{Value, json};
use test_support::scripted_omp::{ControlEvent, ScriptedOmp, ScriptedOmpConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A responder plus a fake HTTP API over it.
pub struct FakeOmp {
    pub gmmp: ScriptedOmp,
    pub http: SocketAddr,
    pub state: Arc<ApiState>,
}

#[derive(Default)]
pub struct ApiState {
    controls: Mutex<HashMap<i64, String>>,
    by_tid: Mutex<HashMap<u32, i64>>,
    responder: Mutex<Option<ScriptedOmp>>,
    /// How many 0x0D to push per POST (2 simulates a duplicating OMP).
    pub pushes_per_post: Mutex<usize>,
}

pub async fn start_fake_omp(config: ScriptedOmpConfig) -> FakeOmp {
    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<ControlEvent>();
    let gmmp = ScriptedOmp::start(config, Some(events_tx)).await.unwrap();
    let state = Arc::new(ApiState::default());
    *state.responder.lock().unwrap() = Some(gmmp.clone());
    *state.pushes_per_post.lock().unwrap() = 1;
    let s = state.clone();
    tokio::spawn(async move {
        while let Some(ev) = events_rx.recv().await {
            let id = s.by_tid.lock().unwrap().get(&ev.tid).copied();
            if let Some(id) = id {
                let state = if ev.notification {
                    "SUCCESS"
                } else {
                    "PROGRESS"
                };
                let mut controls = s.controls.lock().unwrap();
                if let Some(current) = controls.get_mut(&id) {
                    if current != "SUCCESS" {
                        *current = state.to_string();
                    }
                }
            }
        }
    });
    let app = axum::Router::new()
        .route("/api/v1/gateways/{gw_id}/controls", post(post_control))
        .route("/api/v1/controls/{id}", get(get_control))
        .route("/api/v1/gateways/{gw_id}/deliveries/latest", get(latest))
        .route("/api/v1/gateways/{gw_id}/deliveries", get(history))
        .with_state(state.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    FakeOmp { gmmp, http, state }
}

async fn post_control(
    State(s): State<Arc<ApiState>>,
    Path(gw_id): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let ct = body["control_type"].as_u64().unwrap_or(0) as u8;
    let data = STANDARD
        .decode(body["data"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let id = {
        let mut controls = s.controls.lock().unwrap();
        let id = controls.len() as i64 + 1;
        controls.insert(id, "SENT".into());
        id
    };
    let tid = 100_000 + id as u32;
    s.by_tid.lock().unwrap().insert(tid, id);
    let gw = FixedStr::new("gw_id", &gw_id).unwrap();
    let responder = s.responder.lock().unwrap().clone().unwrap();
    let pushes = *s.pushes_per_post.lock().unwrap();
    for _ in 0..pushes {
        responder.send_control(gw, tid, ct, Bytes::from(data.clone()));
    }
    (
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "state": "SENT", "tid": tid })),
    )
}

async fn get_control(
    State(s): State<Arc<ApiState>>,
    Path(id): Path<i64>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let read = |s: &ApiState| s.controls.lock().unwrap().get(&id).cloned();
    let Some(first) = read(&s) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"code": "not_found", "message": "no"}})),
        );
    };
    let wait: u64 = q.get("wait").and_then(|w| w.parse().ok()).unwrap_or(0);
    let mut state = first.clone();
    let until = tokio::time::Instant::now() + Duration::from_secs(wait);
    // As the real OMP: a final state cannot change, so no wait.
    let is_final = |st: &str| {
        matches!(
            st,
            "SUCCESS" | "FAILED" | "TIMEOUT" | "EXPIRED" | "CANCELLED"
        )
    };
    while state == first && !is_final(&state) && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(2)).await;
        state = read(&s).unwrap_or_default();
    }
    (
        StatusCode::OK,
        Json(json!({ "id": id, "state": state, "tid": null })),
    )
}

async fn latest(Path(gw_id): Path<String>) -> (StatusCode, Json<Value>) {
    if gw_id.starts_with("GW") {
        (
            StatusCode::OK,
            Json(json!({ "id": 1, "gw_id": gw_id, "content": "" })),
        )
    } else {
        (StatusCode::NOT_FOUND, Json(json!({})))
    }
}

async fn history(Path(gw_id): Path<String>) -> (StatusCode, Json<Value>) {
    (
        StatusCode::OK,
        Json(json!({ "items": [{ "id": 1, "gw_id": gw_id }], "next_cursor": null })),
    )
}

/// A minimal MQTT 3.1.1 broker: CONNACK to CONNECT, PUBACK to QoS 1
/// PUBLISH, nothing else. Returns its address.
pub async fn start_fake_broker() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(broker_session(stream));
        }
    });
    addr
}

async fn broker_session(mut stream: TcpStream) {
    loop {
        let mut first = [0u8; 1];
        if stream.read_exact(&mut first).await.is_err() {
            return;
        }
        // Remaining length: up to 4 bytes of 7-bit groups.
        let mut len = 0usize;
        for shift in 0..4 {
            let mut b = [0u8; 1];
            if stream.read_exact(&mut b).await.is_err() {
                return;
            }
            len |= ((b[0] & 0x7f) as usize) << (7 * shift);
            if b[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; len];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let reply: Option<Vec<u8>> = match first[0] >> 4 {
            1 => Some(vec![0x20, 0x02, 0x00, 0x00]),
            3 if (first[0] >> 1) & 0x03 == 1 => {
                let topic_len = u16::from_be_bytes([body[0], body[1]]) as usize;
                let pkid = &body[2 + topic_len..4 + topic_len];
                Some(vec![0x40, 0x02, pkid[0], pkid[1]])
            }
            12 => Some(vec![0xd0, 0x00]),
            14 => return,
            _ => None,
        };
        if let Some(r) = reply {
            if stream.write_all(&r).await.is_err() {
                return;
            }
        }
    }
}
