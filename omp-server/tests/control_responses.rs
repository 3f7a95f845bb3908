//! A control response (0x0E) is taken only when it authenticates as the
//! GW its session is bound to — auth key, GW ID and domain — as every
//! request is. Forged ones (a zeroed key, another GW's ID, or on a
//! connection that never registered) are counted and ignored: the control
//! they name stays where it was.

mod common;

use std::time::Duration;

use common::{Client, GUARD, TestServer, rc, start};
use gmmp_codec::{AuthKey, ControlRequest, ControlResponse, Frame, Message, ResultCode};
use serde_json::{Value, json};

const MAC: &str = "0008dc1e3222";
const KEY: &str = "control-responses-test-key";

async fn http(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = reqwest::Client::new()
        .request(method, format!("http://{}{path}", server.http_addr))
        .bearer_auth(KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = tokio::time::timeout(Duration::from_secs(70), request.send())
        .await
        .expect("an answer in time")
        .expect("HTTP works");
    response.json().await.unwrap()
}

/// Long-polls control `id` until it leaves `state`; its body then.
async fn after(server: &TestServer, id: i64, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let path = format!("/api/v1/controls/{id}?wait=2");
        let control = http(server, reqwest::Method::GET, &path, None).await;
        if control["state"] != state {
            return control;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "control {id} stayed {state}"
        );
    }
}

/// A GW registered on `server`, with a reset control POSTed for it and
/// pushed to it: the GW, the control's id, its request and its T-ID.
async fn registered_with_a_pushed_control(
    server: &TestServer,
) -> (Client, i64, ControlRequest, u32) {
    let mut gw = Client::connect(server.addr, MAC).await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    let path = format!("/api/v1/gateways/{}/controls", gw.gw_id);
    let control = http(
        server,
        reqwest::Method::POST,
        &path,
        Some(json!({ "control_type": "reset" })),
    )
    .await;
    let id = control["id"].as_i64().expect("an id");
    let pushed = gw.recv().await;
    let Message::ControlRequest(req) = pushed.message else {
        panic!("expected a control request, got {pushed:?}");
    };
    (gw, id, req, pushed.header.tid)
}

/// A 0x0E answering `req` (T-ID `tid`) with `rc`, from `gw` as it is.
fn response(gw: &mut Client, tid: u32, req: &ControlRequest, rc: ResultCode) -> Frame {
    let mut header = gw.header();
    header.tid = tid;
    Frame::new(
        header,
        ControlResponse {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id: req.device_id,
            control_type: req.control_type,
            result_code: rc,
        },
    )
}

#[tokio::test]
async fn forged_control_responses_on_a_bound_session_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.api_key = Some(KEY.to_owned())).await;
    let (mut gw, id, req, tid) = registered_with_a_pushed_control(&server).await;
    let req = &req;

    // Each would fail the control (rc 0x05) if it were taken.
    let mut zero_key = response(&mut gw, tid, req, ResultCode::FORBIDDEN);
    zero_key.header.auth_key = AuthKey::EMPTY;
    let mut other_gw = response(&mut gw, tid, req, ResultCode::FORBIDDEN);
    if let Message::ControlResponse(r) = &mut other_gw.message {
        r.gw_id = common::fixed("SC10019999");
    }
    let mut other_domain = response(&mut gw, tid, req, ResultCode::FORBIDDEN);
    if let Message::ControlResponse(r) = &mut other_domain.message {
        r.domain_code = common::fixed("Other");
    }
    for forged in [zero_key, other_gw, other_domain] {
        gw.send(forged).await;
    }
    // Frames are handled in order: once the heartbeat is answered, the
    // three were refused, and the session is still served.
    let beat = gw.heartbeat().await;
    assert!(
        matches!(beat.message, Message::HeartbeatResponse(_)),
        "{beat:?}"
    );
    let refused = server
        .state
        .metrics
        .responses_refused
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(refused, 3);

    // The real answer is taken: the control fails with its rc, and its
    // timeline shows it was still SENT until then.
    let genuine = response(&mut gw, tid, req, ResultCode::BAD_REQUEST);
    gw.send(genuine).await;
    let ended = after(&server, id, "SENT").await;
    assert_eq!(ended["state"], "FAILED", "{ended}");
    assert_eq!(
        ended["result_code"]["code"],
        ResultCode::BAD_REQUEST.0,
        "{ended}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_control_response_on_an_unregistered_connection_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.api_key = Some(KEY.to_owned())).await;
    let (mut gw, id, req, tid) = registered_with_a_pushed_control(&server).await;
    let req = &req;

    // The right key and GW ID, but on a second connection that is not
    // bound to the GW: refused (the GW's own session carries its answers).
    let mut stranger = Client::connect(server.addr, MAC).await;
    stranger.key = gw.key;
    stranger.gw_id = gw.gw_id;
    let forged = response(&mut stranger, tid, req, ResultCode::FORBIDDEN);
    stranger.send(forged).await;
    let beat = gw.heartbeat().await;
    assert!(
        matches!(beat.message, Message::HeartbeatResponse(_)),
        "{beat:?}"
    );
    let deadline = tokio::time::Instant::now() + GUARD;
    while server
        .state
        .metrics
        .responses_refused
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(tokio::time::Instant::now() < deadline, "never refused");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let genuine = response(&mut gw, tid, req, ResultCode::BAD_REQUEST);
    gw.send(genuine).await;
    let ended = after(&server, id, "SENT").await;
    assert_eq!(
        ended["result_code"]["code"],
        ResultCode::BAD_REQUEST.0,
        "{ended}"
    );
    server.stop().await;
}
