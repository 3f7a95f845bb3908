//! Controls end to end: the HTTP API over real TCP, the control
//! dispatcher, and a scripted gateway built on the codec answering as the
//! WizFi310 does (0x0E, then 0x17).

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Client, GUARD, TestServer, rc, start};
use gmmp_codec::{
    ControlResponse, ControlType, DeviceId, Frame, LongSentenceRequest, Message,
    NotificationRequest, ResultCode,
};
use omp_server::Config;
use serde_json::{Value, json};

const MAC: &str = "0008dc1e3222";
const KEY: &str = "controls-test-key";

async fn server(dir: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
    start(dir, |c| {
        c.api_key = Some(KEY.to_owned());
        tweak(c);
    })
    .await
}

/// The HTTP API of a test server.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(server: &TestServer) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: format!("http://{}", server.http_addr),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = tokio::time::timeout(Duration::from_secs(70), request.send())
            .await
            .expect("an answer in time")
            .expect("HTTP works");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs a control for `gw_id`; the 202 body.
    async fn control(&self, gw_id: &str, body: Value) -> Value {
        let (status, json) = self
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/gateways/{gw_id}/controls"),
                Some(body),
            )
            .await;
        assert_eq!(status, 202, "{json}");
        json
    }

    async fn get(&self, id: i64) -> Value {
        let (status, json) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/controls/{id}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{json}");
        json
    }

    /// Long-polls control `id` until it is in `state`.
    async fn until(&self, id: i64, state: &str) -> Value {
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let (_, json) = self
                .call(
                    reqwest::Method::GET,
                    &format!("/api/v1/controls/{id}?wait=2"),
                    None,
                )
                .await;
            if json["state"] == state {
                return json;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "control {id} never reached {state}: {json}"
            );
        }
    }
}

fn id_of(control: &Value) -> i64 {
    control["id"].as_i64().expect("an id")
}

fn timeline(control: &Value) -> Vec<String> {
    control["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap().to_owned())
        .collect()
}

/// The next frame, which must be a control request: its T-ID and body.
async fn recv_control(gw: &mut Client) -> (u32, gmmp_codec::ControlRequest) {
    let frame = gw.recv().await;
    match frame.message {
        Message::ControlRequest(req) => (frame.header.tid, req),
        other => panic!("expected a control request, got {other:?}"),
    }
}

/// Sends a control response (0x0E) with T-ID `tid`; no answer comes.
async fn acknowledge(gw: &mut Client, tid: u32, req: &gmmp_codec::ControlRequest, rc: ResultCode) {
    let mut header = gw.header();
    header.tid = tid;
    gw.send(Frame::new(
        header,
        ControlResponse {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id: req.device_id,
            control_type: req.control_type,
            result_code: rc,
        },
    ))
    .await;
}

/// Sends a notification (0x17) with T-ID `tid`; the 0x18's rc.
async fn notify(
    gw: &mut Client,
    tid: u32,
    device_id: DeviceId,
    control_type: ControlType,
    result: ResultCode,
    payload: &[u8],
) -> ResultCode {
    let mut header = gw.header();
    header.tid = tid;
    gw.send(Frame::new(
        header,
        NotificationRequest {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id,
            control_type,
            result_code: result,
            payload: Bytes::copy_from_slice(payload),
        },
    ))
    .await;
    let answer = gw.recv().await;
    assert_eq!(answer.header.tid, tid, "the 0x18 echoes the T-ID");
    assert!(matches!(answer.message, Message::NotificationResponse(_)));
    rc(&answer)
}

/// Answers a control as the WizFi310 does: 0x0E rc OK, then 0x17.
async fn carry_out(gw: &mut Client, tid: u32, req: &gmmp_codec::ControlRequest, payload: &[u8]) {
    acknowledge(gw, tid, req, ResultCode::OK).await;
    let answer = notify(
        gw,
        tid,
        req.device_id,
        req.control_type,
        ResultCode::OK,
        payload,
    )
    .await;
    assert_eq!(answer, ResultCode::OK);
}

async fn registered(server: &TestServer) -> Client {
    let mut gw = Client::connect(server.addr, MAC).await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    gw
}

/// A server with one gateway registered on a live session.
struct Fixture {
    _dir: tempfile::TempDir,
    server: TestServer,
    api: Api,
    gw: Client,
    gw_id: String,
}

async fn live_gateway(tweak: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), tweak).await;
    let api = Api::new(&server);
    let gw = registered(&server).await;
    let gw_id = gw.gw_id.to_string();
    Fixture {
        _dir: dir,
        server,
        api,
        gw,
        gw_id,
    }
}

/// A gateway that registered and disconnected; its GW ID once the server
/// has seen its session end.
async fn registered_then_gone(server: &TestServer) -> String {
    let gw_id = registered(server).await.gw_id.to_string();
    let deadline = tokio::time::Instant::now() + GUARD;
    while server.state.registry.get(&gw_id).is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session never ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw_id
}

/// No frame is waiting for the GW: a heartbeat is answered by its own
/// response, not preceded by a pushed control.
async fn nothing_pushed(gw: &mut Client) {
    let answer = gw.heartbeat().await;
    assert!(
        matches!(answer.message, Message::HeartbeatResponse(_)),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_control_for_a_live_gateway_is_pushed_at_once_and_ends_success() {
    pushed_at_once_and_ends_success(|_| {}).await;
}

#[tokio::test]
async fn on_postgres_a_control_for_a_live_gateway_is_pushed_at_once_and_ends_success() {
    let Some(database) =
        test_support::postgres::TestDatabase::create("controls_pushed_at_once").await
    else {
        return;
    };
    pushed_at_once_and_ends_success(|c| c.database_url = Some(database.url.clone())).await;
}

#[tokio::test]
async fn on_postgres_controls_and_deliveries_work_again_after_the_database_drops_every_connection()
{
    let Some(database) = test_support::postgres::TestDatabase::create("controls_after_a_cut").await
    else {
        return;
    };
    let Fixture {
        _dir,
        server,
        api,
        mut gw,
        gw_id,
    } = live_gateway(|c| c.database_url = Some(database.url.clone())).await;
    common::stores::cut_connections(&database.url).await;
    // The pool replaces its connections on its own; the writer and the
    // dispatcher make theirs again (the dispatcher at its next sweep).
    let deadline = tokio::time::Instant::now() + GUARD;
    let created = loop {
        let (status, json) = api
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/gateways/{gw_id}/controls"),
                Some(json!({ "control_type": "status_check" })),
            )
            .await;
        if status == 202 {
            break json;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "controls never worked again: {status} {json}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (tid, req) = recv_control(&mut gw).await;
    assert_eq!(created["tid"], tid);
    carry_out(&mut gw, tid, &req, &[0x01, 0x00]).await;
    assert_eq!(
        api.until(id_of(&created), "SUCCESS").await["state"],
        "SUCCESS"
    );
    let deadline = tokio::time::Instant::now() + GUARD;
    while rc(&gw.deliver(b"after the cut").await) != ResultCode::OK {
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries never acknowledged again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}

async fn pushed_at_once_and_ends_success(tweak: impl FnOnce(&mut Config)) {
    let Fixture {
        _dir,
        server,
        api,
        mut gw,
        gw_id,
    } = live_gateway(tweak).await;

    let created = api
        .control(&gw_id, json!({ "control_type": "status_check" }))
        .await;
    assert_eq!(created["state"], "SENT", "pushed before the POST answered");
    let id = id_of(&created);
    let (tid, req) = recv_control(&mut gw).await;
    assert_eq!(created["tid"], tid);
    assert!(tid >= 100_000);
    assert_eq!(req.control_type, ControlType::STATUS_CHECK);
    assert_eq!(req.gw_id, gw.gw_id);
    assert_eq!(req.domain_code, gw.domain);
    assert!(req.device_id.is_empty() && req.payload.is_empty());

    acknowledge(&mut gw, tid, &req, ResultCode::OK).await;
    api.until(id, "PROGRESS").await;
    // ThingPlug's example: reportState ON, operationState PAUSE.
    let answer = notify(
        &mut gw,
        tid,
        DeviceId::EMPTY,
        ControlType::STATUS_CHECK,
        ResultCode::OK,
        &[0x01, 0x00],
    )
    .await;
    assert_eq!(answer, ResultCode::OK);
    let done = api.get(id).await;
    assert_eq!(done["state"], "SUCCESS");
    assert_eq!(
        done["result"],
        json!({ "report_state": "ON", "operation_state": "PAUSE" })
    );
    assert_eq!(
        done["result_code"],
        json!({ "code": 0, "name": "STATUS_OK" })
    );
    assert_eq!(timeline(&done), ["QUEUED", "SENT", "PROGRESS", "SUCCESS"]);
    for stamp in ["sent_at", "acknowledged_at", "completed_at"] {
        assert!(done[stamp].is_string(), "{stamp}: {done}");
    }
    let metrics = api
        .http
        .get(format!("{}/metrics", api.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "omp_controls_sent_total 1",
        "omp_controls_in_flight 0",
        "omp_controls_ended_total{state=\"SUCCESS\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_error_rc_in_the_control_response_fails_the_control() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |_| {}).await;
    let api = Api::new(&server);
    let mut gw = registered(&server).await;
    let id = id_of(
        &api.control(&gw.gw_id.to_string(), json!({ "control_type": "reset" }))
            .await,
    );
    let (tid, req) = recv_control(&mut gw).await;
    acknowledge(&mut gw, tid, &req, ResultCode::FORBIDDEN).await;
    let failed = api.until(id, "FAILED").await;
    assert_eq!(failed["result_code"]["code"], 5);
    assert_eq!(timeline(&failed), ["QUEUED", "SENT", "FAILED"]);
    // A notification for it afterwards matches nothing.
    let late = notify(
        &mut gw,
        tid,
        DeviceId::EMPTY,
        ControlType::RESET,
        ResultCode::OK,
        &[],
    )
    .await;
    assert_eq!(late, ResultCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn unanswered_controls_time_out_in_either_stage() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |c| {
        c.profile_defaults.response_timeout = 1;
        c.control.completion_timeout = Duration::from_secs(1);
    })
    .await;
    let api = Api::new(&server);
    let mut gw = registered(&server).await;
    let gw_id = gw.gw_id.to_string();

    // No 0x0E at all.
    let silent = id_of(&api.control(&gw_id, json!({ "control_type": 12 })).await);
    recv_control(&mut gw).await;
    let timed_out = api.until(silent, "TIMEOUT").await;
    assert_eq!(timeline(&timed_out), ["QUEUED", "SENT", "TIMEOUT"]);

    // A 0x0E but no 0x17.
    let half = id_of(&api.control(&gw_id, json!({ "control_type": 12 })).await);
    let (tid, req) = recv_control(&mut gw).await;
    acknowledge(&mut gw, tid, &req, ResultCode::OK).await;
    let timed_out = api.until(half, "TIMEOUT").await;
    assert_eq!(
        timeline(&timed_out),
        ["QUEUED", "SENT", "PROGRESS", "TIMEOUT"]
    );
    // Its late result is refused, not stored.
    let late = notify(
        &mut gw,
        tid,
        DeviceId::EMPTY,
        ControlType::STATUS_CHECK,
        ResultCode::OK,
        &[1, 1],
    )
    .await;
    assert_eq!(late, ResultCode::NOT_FOUND);
    assert!(api.get(half).await["result"].is_null());
    server.stop().await;
}

#[tokio::test]
async fn controls_for_an_offline_gateway_wait_and_go_one_at_a_time_in_creation_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |_| {}).await;
    let api = Api::new(&server);
    let gw_id = registered_then_gone(&server).await;

    let types = ["reset", "report_on", "status_check"];
    let mut ids = Vec::new();
    for ct in types {
        let c = api.control(&gw_id, json!({ "control_type": ct })).await;
        assert_eq!(c["state"], "QUEUED");
        ids.push(id_of(&c));
    }
    let mut gw = registered(&server).await;
    for (i, expected) in [
        ControlType::RESET,
        ControlType::REPORT_ON,
        ControlType::STATUS_CHECK,
    ]
    .into_iter()
    .enumerate()
    {
        let (tid, req) = recv_control(&mut gw).await;
        assert_eq!(req.control_type, expected, "creation order");
        // One in flight: nothing else is pushed meanwhile.
        nothing_pushed(&mut gw).await;
        carry_out(&mut gw, tid, &req, &[]).await;
        let done = api.until(ids[i], "SUCCESS").await;
        assert!(done["result"].is_null(), "an empty result body: {done}");
    }
    nothing_pushed(&mut gw).await;
    server.stop().await;
}

#[tokio::test]
async fn a_device_control_is_queued_like_a_gateway_control_and_has_its_own_slot() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |_| {}).await;
    let api = Api::new(&server);
    let mut gw = registered(&server).await;
    let device = gw.register_device("WIZnet").await;
    let device_id = *device.message.device_id().unwrap();
    let gw_id = gw.gw_id.to_string();

    let for_gw = api
        .control(&gw_id, json!({ "control_type": "reset" }))
        .await;
    let for_device = api
        .control(
            &gw_id,
            json!({ "control_type": "status_check", "device_id": device_id.to_string() }),
        )
        .await;
    assert_eq!(for_gw["state"], "SENT");
    assert_eq!(for_device["state"], "SENT", "another target, another slot");
    let (tid_a, a) = recv_control(&mut gw).await;
    let (tid_b, b) = recv_control(&mut gw).await;
    assert!(a.device_id.is_empty());
    assert_eq!(b.device_id, device_id);
    assert_ne!(tid_a, tid_b);
    carry_out(&mut gw, tid_b, &b, &[0x00, 0x01]).await;
    let done = api.until(id_of(&for_device), "SUCCESS").await;
    assert_eq!(
        done["result"],
        json!({ "report_state": "OFF", "operation_state": "RUN" })
    );
    assert_eq!(done["device_id"], device_id.to_string());
    server.stop().await;
}

#[tokio::test]
async fn queued_controls_expire_or_are_cancelled_and_are_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |_| {}).await;
    let api = Api::new(&server);
    let gw_id = registered_then_gone(&server).await;
    let short = id_of(
        &api.control(&gw_id, json!({ "control_type": "reset", "ttl_seconds": 1 }))
            .await,
    );
    let cancelled = id_of(
        &api.control(&gw_id, json!({ "control_type": "reset" }))
            .await,
    );
    let (status, json) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/controls/{cancelled}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["state"], "CANCELLED");
    let expired = api.until(short, "EXPIRED").await;
    assert_eq!(timeline(&expired), ["QUEUED", "EXPIRED"]);
    assert!(expired["sent_at"].is_null() && expired["tid"].is_null());

    let mut gw = registered(&server).await;
    nothing_pushed(&mut gw).await;
    let (status, _) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/controls/{short}"),
            None,
        )
        .await;
    assert_eq!(status, 409, "only a QUEUED control can be cancelled");
    server.stop().await;
}

#[tokio::test]
async fn notifications_match_by_tid_then_by_device_and_type_and_strays_get_not_found() {
    let Fixture {
        _dir,
        server,
        api,
        mut gw,
        gw_id,
    } = live_gateway(|_| {}).await;

    // Nothing open: a notification and a long sentence find nothing.
    let stray = notify(
        &mut gw,
        100_123,
        DeviceId::EMPTY,
        ControlType::RESET,
        ResultCode::OK,
        b"x",
    )
    .await;
    assert_eq!(stray, ResultCode::NOT_FOUND);
    let long = gw
        .request(LongSentenceRequest {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id: DeviceId::EMPTY,
            control_type: ControlType::FW_DOWNLOAD,
        })
        .await;
    assert_eq!(rc(&long), ResultCode::NOT_FOUND);
    let (status, page) = api
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/gateways/{gw_id}/controls"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"], json!([]), "a stray result is not stored");

    // The module's library may have moved its T-ID on from the control's
    // (a heartbeat in between, docs/gmmp.md §7).
    let id = id_of(
        &api.control(&gw_id, json!({ "control_type": "signal_power_check" }))
            .await,
    );
    let (tid, req) = recv_control(&mut gw).await;
    acknowledge(&mut gw, tid, &req, ResultCode::OK).await;
    api.until(id, "PROGRESS").await;
    let answer = notify(
        &mut gw,
        tid + 1,
        DeviceId::EMPTY,
        ControlType::SIGNAL_POWER_CHECK,
        ResultCode::OK,
        &(-67i32).to_be_bytes(),
    )
    .await;
    assert_eq!(answer, ResultCode::OK);
    let done = api.until(id, "SUCCESS").await;
    assert_eq!(done["tid"], tid, "the control keeps its own T-ID");
    assert!(done["result"]["signal_power"].is_number(), "{done}");
    server.stop().await;
}

#[tokio::test]
async fn long_control_data_is_fetched_with_long_sentence_in_parts() {
    let Fixture {
        _dir,
        server,
        api,
        mut gw,
        gw_id,
    } = live_gateway(|_| {}).await;
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
    let id = id_of(
        &api.control(
            &gw_id,
            json!({ "control_type": "fw_download", "data": encoded }),
        )
        .await,
    );
    let (tid, req) = recv_control(&mut gw).await;
    assert!(req.payload.is_empty(), "too long for the 0x0D");
    acknowledge(&mut gw, tid, &req, ResultCode::OK).await;

    let mut header = gw.header();
    header.tid = tid;
    gw.send(Frame::new(
        header,
        LongSentenceRequest {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id: DeviceId::EMPTY,
            control_type: ControlType::FW_DOWNLOAD,
        },
    ))
    .await;
    let mut fetched = Vec::new();
    for part in 1..=3u16 {
        let frame = gw.recv().await;
        assert_eq!(frame.header.tid, tid);
        assert_eq!(
            (frame.header.current_count, frame.header.total_count),
            (part, 3)
        );
        assert_eq!(rc(&frame), ResultCode::OK);
        fetched.extend_from_slice(frame.message.payload().unwrap());
    }
    assert_eq!(fetched, data);
    carry_out(&mut gw, tid, &req, &[]).await;
    api.until(id, "SUCCESS").await;

    // Short data travels in the 0x0D itself.
    api.control(
        &gw_id,
        json!({ "control_type": "time_sync", "data": "XpbAAA==" }),
    )
    .await;
    let (_, req) = recv_control(&mut gw).await;
    assert_eq!(&req.payload[..], &[0x5e, 0x96, 0xc0, 0x00]);
    server.stop().await;
}

#[tokio::test]
async fn the_queue_continues_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |_| {}).await;
    let api = Api::new(&server);
    let mut gw = registered(&server).await;
    let device = gw.register_device("WIZnet").await;
    let device_id = *device.message.device_id().unwrap();
    let gw_id = gw.gw_id.to_string();

    // A: accepted (PROGRESS). B: a device control, sent, unanswered.
    // C: queued behind A. D: queued, and left SENT by a simulated crash.
    let a = id_of(
        &api.control(&gw_id, json!({ "control_type": "status_check" }))
            .await,
    );
    let (tid_a, req_a) = recv_control(&mut gw).await;
    acknowledge(&mut gw, tid_a, &req_a, ResultCode::OK).await;
    api.until(a, "PROGRESS").await;
    let b = id_of(
        &api.control(
            &gw_id,
            json!({ "control_type": "reset", "device_id": device_id.to_string() }),
        )
        .await,
    );
    let (tid_b, _) = recv_control(&mut gw).await;
    let c = id_of(
        &api.control(&gw_id, json!({ "control_type": "report_off" }))
            .await,
    );
    let d = id_of(
        &api.control(&gw_id, json!({ "control_type": "pause" }))
            .await,
    );
    assert_eq!(api.get(c).await["state"], "QUEUED");
    server.stop().await;
    drop(gw);

    // The crash: D as if it had been sent when the power went.
    {
        let pool = sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            dir.path().join("omp.sqlite3").display()
        ))
        .await
        .unwrap();
        sqlx::query("UPDATE controls SET state = 'SENT', tid = 999999 WHERE id = ?")
            .bind(d)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }

    let server = self::server(dir.path(), |_| {}).await;
    let api = Api::new(&server);
    assert_eq!(api.get(a).await["state"], "PROGRESS");
    let requeued = api.get(b).await;
    assert_eq!(requeued["state"], "QUEUED");
    assert_eq!(timeline(&requeued), ["QUEUED", "SENT", "QUEUED"]);
    assert_eq!(api.get(c).await["state"], "QUEUED");
    assert_eq!(api.get(d).await["state"], "QUEUED");

    let mut gw = registered(&server).await;
    // B goes again, with a new T-ID (its target is free); A's slot is held.
    let (tid_b2, req_b) = recv_control(&mut gw).await;
    assert_eq!(req_b.device_id, device_id);
    assert_ne!(tid_b2, tid_b);
    // A's result arrives on the new session with A's T-ID.
    let answer = notify(
        &mut gw,
        tid_a,
        DeviceId::EMPTY,
        ControlType::STATUS_CHECK,
        ResultCode::OK,
        &[1, 1],
    )
    .await;
    assert_eq!(answer, ResultCode::OK);
    assert_eq!(
        api.until(a, "SUCCESS").await["result"]["operation_state"],
        "RUN"
    );
    // Then C and D, in creation order.
    let (tid_c, req_c) = recv_control(&mut gw).await;
    assert_eq!(req_c.control_type, ControlType::REPORT_OFF);
    carry_out(&mut gw, tid_c, &req_c, &[]).await;
    let (tid_d, req_d) = recv_control(&mut gw).await;
    assert_eq!(req_d.control_type, ControlType::PAUSE);
    assert!(tid_d > 999_999, "T-IDs continue after the highest stored");
    carry_out(&mut gw, tid_d, &req_d, &[]).await;
    carry_out(&mut gw, tid_b2, &req_b, &[]).await;
    for id in [b, c, d] {
        api.until(id, "SUCCESS").await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_repeated_notification_is_acknowledged_again_and_never_completes_the_next_control() {
    let Fixture {
        _dir,
        server,
        api,
        mut gw,
        gw_id,
    } = live_gateway(|_| {}).await;
    let a = id_of(
        &api.control(&gw_id, json!({ "control_type": "reset", "data": "QQ==" }))
            .await,
    );
    let b = id_of(
        &api.control(&gw_id, json!({ "control_type": "reset", "data": "Qg==" }))
            .await,
    );
    let (tid_a, req_a) = recv_control(&mut gw).await;
    carry_out(&mut gw, tid_a, &req_a, b"A").await;
    let (tid_b, req_b) = recv_control(&mut gw).await;
    assert_eq!(&req_b.payload[..], b"B");
    // The gateway sends A's result again (it lost our 0x18).
    let again = notify(
        &mut gw,
        tid_a,
        DeviceId::EMPTY,
        ControlType::RESET,
        ResultCode::OK,
        b"A",
    )
    .await;
    assert_eq!(again, ResultCode::OK, "acknowledged again");
    let still = api.get(b).await;
    assert_eq!(still["state"], "SENT", "B is not A's repeat: {still}");
    assert!(still["result"].is_null());
    assert_eq!(api.get(a).await["result"], json!({ "data": "QQ==" }));
    carry_out(&mut gw, tid_b, &req_b, b"B").await;
    assert_eq!(
        api.until(b, "SUCCESS").await["result"],
        json!({ "data": "Qg==" })
    );
    server.stop().await;
}
