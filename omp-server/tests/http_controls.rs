//! Controls: create (validation, idempotency, hand-off to the dispatcher),
//! read with decoded results and `?wait=`, list with filters, cancel.

mod answer;
mod http_support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_support::{KEY, TestApp};

const CONTROLS: &str = "/api/v1/gateways/SC10010254/controls";

async fn app() -> TestApp {
    let app = TestApp::new().await;
    app.add_gateway("SC10010254", "0008dc1e3222").await;
    app.add_gateway("SC10010255", "0008dc1e3223").await;
    app.add_device("SC10010254", "AD10014858", "m1").await;
    app.add_device("SC10010255", "AD10014860", "m2").await;
    app
}

#[tokio::test]
async fn create_queues_and_hands_the_control_to_the_dispatcher() {
    let app = app().await;
    let created = app
        .send_json(Method::POST, CONTROLS, r#"{"control_type":"status_check"}"#)
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.text);
    let c = &created.json;
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["gw_id"], "SC10010254");
    assert_eq!(c["device_id"], serde_json::Value::Null);
    assert_eq!(
        c["control_type"],
        serde_json::json!({ "code": 12, "name": "status_check" })
    );
    assert_eq!(c["state"], "QUEUED");
    assert_eq!(c["data"], serde_json::Value::Null);
    assert_eq!(c["tid"], serde_json::Value::Null);
    assert_eq!(c["result"], serde_json::Value::Null);
    assert_eq!(c["timeline"].as_array().unwrap().len(), 1);
    assert_eq!(c["timeline"][0]["state"], "QUEUED");
    let created_at = humantime::parse_rfc3339(c["created_at"].as_str().unwrap()).unwrap();
    let expires_at = humantime::parse_rfc3339(c["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        expires_at.duration_since(created_at).unwrap(),
        Duration::from_secs(86_400)
    );
    assert_eq!(app.queued().await, vec![("SC10010254".to_owned(), id)]);

    let by_code = app
        .send_json(
            Method::POST,
            CONTROLS,
            r#"{"control_type":5,"device_id":"AD10014858","data":"XpbDAA==","ttl_seconds":60}"#,
        )
        .await;
    assert_eq!(by_code.status, StatusCode::ACCEPTED, "{}", by_code.text);
    assert_eq!(by_code.json["control_type"]["name"], "time_sync");
    assert_eq!(by_code.json["device_id"], "AD10014858");
    assert_eq!(by_code.json["data"], "XpbDAA==");
    let stored: (String, Vec<u8>) =
        sqlx::query_as("SELECT device_id, data FROM controls WHERE id = ?")
            .bind(by_code.json["id"].as_i64().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        ("AD10014858".to_owned(), vec![0x5E, 0x96, 0xC3, 0x00])
    );
    assert_eq!(app.queued().await.len(), 2);
    let code_text = app
        .send_json(Method::POST, CONTROLS, r#"{"control_type":"12"}"#)
        .await;
    assert_eq!(code_text.status, StatusCode::ACCEPTED);
    assert_eq!(code_text.json["control_type"]["name"], "status_check");
}

#[tokio::test]
async fn create_refuses_bad_controls_without_storing_them() {
    let app = app().await;
    let before = app.counts().await;
    for (body, status, field) in [
        (r#"{"control_type":"reboot"}"#, 422, "control_type"),
        (r#"{"control_type":"user_defined"}"#, 422, "control_type"),
        (r#"{"control_type":256}"#, 422, "control_type"),
        (r#"{"control_type":-1}"#, 422, "control_type"),
        (r#"{"control_type":true}"#, 400, "control_type"),
        (r#"{}"#, 400, "control_type"),
        (
            r#"{"control_type":"reset","ttl_seconds":0}"#,
            422,
            "ttl_seconds",
        ),
        (
            r#"{"control_type":"reset","ttl_seconds":604801}"#,
            422,
            "ttl_seconds",
        ),
        (
            r#"{"control_type":"reset","ttl_seconds":"1"}"#,
            400,
            "ttl_seconds",
        ),
        (
            r#"{"control_type":"reset","data":"not base64!"}"#,
            422,
            "data",
        ),
        (r#"{"control_type":"reset","data":"AQI"}"#, 422, "data"),
        (r#"{"control_type":"time_sync","data":"AQI="}"#, 422, "data"),
        (r#"{"control_type":"reset","data":7}"#, 400, "data"),
        (
            r#"{"control_type":"reset","device_id":"AD10014860"}"#,
            404,
            "",
        ),
        (
            r#"{"control_type":"reset","device_id":"AD100148580000000"}"#,
            422,
            "device_id",
        ),
        (r#"{"control_type":"reset","priority":1}"#, 400, "priority"),
    ] {
        let answer = app.send_json(Method::POST, CONTROLS, body).await;
        assert_eq!(answer.status.as_u16(), status, "{body}: {}", answer.text);
        assert_eq!(answer.field(), field, "{body}");
    }
    let too_much = format!(
        r#"{{"control_type":"reset","data":"{}"}}"#,
        base64_of(&[0u8; 16 * 2048 + 1])
    );
    let answer = app.send_json(Method::POST, CONTROLS, &too_much).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.field(), "data");
    let misspelt = app
        .send_json(Method::POST, CONTROLS, r#"{"control_type":"staus_check"}"#)
        .await;
    assert_eq!(misspelt.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        misspelt.text.contains("status_check") && misspelt.text.contains("time_sync"),
        "the valid names are listed: {}",
        misspelt.text
    );
    let unknown = app
        .send_json(
            Method::POST,
            "/api/v1/gateways/SC99999999/controls",
            r#"{"control_type":"reset"}"#,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(app.counts().await, before);
    assert!(app.queued().await.is_empty());
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn post_with_key(app: &TestApp, uri: &str, key: &str, body: &str) -> http_support::Answer {
    app.request(
        Request::post(uri)
            .header("authorization", format!("Bearer {KEY}"))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(Body::from(body.to_owned()))
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_control() {
    let app = app().await;
    let first = post_with_key(&app, CONTROLS, "k-1", r#"{"control_type":"reset"}"#).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    let retry = post_with_key(&app, CONTROLS, "k-1", r#"{"control_type":"reset"}"#).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED);
    assert_eq!(retry.json["id"], first.json["id"]);
    // Another key, or the same key on another gateway, is another control.
    let other = post_with_key(&app, CONTROLS, "k-2", r#"{"control_type":"reset"}"#).await;
    assert_ne!(other.json["id"], first.json["id"]);
    let elsewhere = post_with_key(
        &app,
        "/api/v1/gateways/SC10010255/controls",
        "k-1",
        r#"{"control_type":"reset"}"#,
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::ACCEPTED);
    assert_ne!(elsewhere.json["id"], first.json["id"]);
    assert_eq!(app.queued().await.len(), 3);
    let long = post_with_key(
        &app,
        CONTROLS,
        &"k".repeat(129),
        r#"{"control_type":"reset"}"#,
    )
    .await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert_eq!(long.field(), "Idempotency-Key");
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_refused_naming_the_key() {
    let app = app().await;
    let body = r#"{"control_type":"time_sync","data":"XpZ6AA==","ttl_seconds":60}"#;
    let first = post_with_key(&app, CONTROLS, "k-9", body).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    // The same control spelled another way is a retry: the type's code for
    // its name, the fields in another order.
    let same = r#"{"ttl_seconds":60,"data":"XpZ6AA==","control_type":5}"#;
    let retry = post_with_key(&app, CONTROLS, "k-9", same).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED);
    assert_eq!(retry.json["id"], first.json["id"]);
    for other in [
        r#"{"control_type":"reset"}"#,
        r#"{"control_type":"time_sync","data":"XpZ6AQ==","ttl_seconds":60}"#,
        r#"{"control_type":"time_sync","data":"XpZ6AA==","ttl_seconds":61}"#,
        r#"{"control_type":"time_sync","ttl_seconds":60}"#,
    ] {
        let refused = post_with_key(&app, CONTROLS, "k-9", other).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{other}");
        assert_eq!(refused.field(), "Idempotency-Key", "{other}");
        let message = refused.json["error"]["message"].as_str().unwrap();
        assert!(message.contains("\"k-9\""), "the key is named: {message}");
    }
    assert_eq!(app.queued().await.len(), 1, "no second control");
}

/// What the dispatcher will do: move the row on and announce it (the
/// final state's timeline row comes from the database's trigger).
async fn finish(app: &TestApp, id: i64, state: &str, rc: i64, result: &[u8]) {
    for s in ["SENT", "PROGRESS"] {
        sqlx::query(
            "INSERT INTO control_events (control_id, state, at) VALUES (?, ?, 1586937600000)",
        )
        .bind(id)
        .bind(s)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "UPDATE controls SET state = ?, tid = 100001, result_code = ?, result_data = ?,
             sent_at = created_at + 1, acknowledged_at = created_at + 2,
             completed_at = created_at + 3, changed_at = 1586937600000
         WHERE id = ?",
    )
    .bind(state)
    .bind(rc)
    .bind(result)
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    app.state.control_watch().changed(id);
}

#[tokio::test]
async fn get_decodes_the_result_and_shows_the_timeline() {
    let app = app().await;
    let created = app
        .send_json(Method::POST, CONTROLS, r#"{"control_type":"status_check"}"#)
        .await;
    let id = created.json["id"].as_i64().unwrap();
    finish(&app, id, "SUCCESS", 0, &[0x01, 0x00]).await;
    let got = app.get(&format!("/api/v1/controls/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json["state"], "SUCCESS");
    assert_eq!(got.json["tid"], 100001);
    assert_eq!(
        got.json["result_code"],
        serde_json::json!({ "code": 0, "name": "STATUS_OK" })
    );
    assert_eq!(
        got.json["result"],
        serde_json::json!({ "report_state": "ON", "operation_state": "PAUSE" })
    );
    let states: Vec<&str> = got.json["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["QUEUED", "SENT", "PROGRESS", "SUCCESS"]);
    assert!(got.json["completed_at"].is_string());

    assert_eq!(
        app.get("/api/v1/controls/999").await.status,
        StatusCode::NOT_FOUND
    );
    for bad in ["0", "-1", "abc", "99999999999999999999"] {
        let answer = app.get(&format!("/api/v1/controls/{bad}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(answer.field(), "id");
    }
    let bad_wait = app.get(&format!("/api/v1/controls/{id}?wait=61")).await;
    assert_eq!(bad_wait.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_wait.field(), "wait");
}

#[tokio::test]
async fn wait_returns_when_the_dispatcher_announces_a_change() {
    let app = app().await;
    let created = app
        .send_json(
            Method::POST,
            CONTROLS,
            r#"{"control_type":"signal_power_check"}"#,
        )
        .await;
    let id = created.json["id"].as_i64().unwrap();
    let uri = format!("/api/v1/controls/{id}?wait=60");
    let waiting = {
        let router = app.router.clone();
        tokio::spawn(async move {
            use tower::ServiceExt;
            let response = router
                .oneshot(
                    Request::get(uri)
                        .header("authorization", format!("Bearer {KEY}"))
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        })
    };
    // Announcements of other controls, and of ours without a change, do not end the wait.
    while !app.state.control_watch().is_watched(id) {
        tokio::task::yield_now().await;
    }
    app.state.control_watch().changed(id + 1000);
    app.state.control_watch().changed(id);
    finish(&app, id, "SUCCESS", 0, &[0, 0, 0, 42]).await;
    let got = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the wait did not end")
        .unwrap();
    assert_eq!(got["state"], "SUCCESS");
    assert_eq!(got["result"], serde_json::json!({ "signal_power": 42 }));
}

#[tokio::test]
async fn wait_gives_up_after_n_seconds_with_the_current_state() {
    let app = app().await;
    let created = app
        .send_json(Method::POST, CONTROLS, r#"{"control_type":"reset"}"#)
        .await;
    let id = created.json["id"].as_i64().unwrap();
    let got = app.get(&format!("/api/v1/controls/{id}?wait=1")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json["state"], "QUEUED");
    // A final state cannot change: no wait at all.
    app.call(Method::DELETE, &format!("/api/v1/controls/{id}"))
        .await;
    let got = app.get(&format!("/api/v1/controls/{id}?wait=60")).await;
    assert_eq!(got.json["state"], "CANCELLED");
}

#[tokio::test]
async fn list_filters_pages_and_cancel() {
    let app = app().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let c = app
            .send_json(Method::POST, CONTROLS, r#"{"control_type":"reset"}"#)
            .await;
        ids.push(c.json["id"].as_i64().unwrap());
    }
    app.send_json(
        Method::POST,
        "/api/v1/gateways/SC10010255/controls",
        r#"{"control_type":"reset"}"#,
    )
    .await;
    finish(&app, ids[0], "FAILED", 6, b"").await;

    let cancelled = app
        .call(Method::DELETE, &format!("/api/v1/controls/{}", ids[1]))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    assert_eq!(cancelled.json["state"], "CANCELLED");
    assert_eq!(cancelled.json["timeline"][1]["state"], "CANCELLED");
    let twice = app
        .call(Method::DELETE, &format!("/api/v1/controls/{}", ids[1]))
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    let done = app
        .call(Method::DELETE, &format!("/api/v1/controls/{}", ids[0]))
        .await;
    assert_eq!(done.status, StatusCode::CONFLICT);
    assert_eq!(done.code(), "conflict");
    assert_eq!(
        app.call(Method::DELETE, "/api/v1/controls/999")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let mut seen = Vec::new();
    let mut uri = format!("{CONTROLS}?limit=2");
    loop {
        let page = app.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        for item in page.json["items"].as_array().unwrap() {
            assert_eq!(item["gw_id"], "SC10010254");
            seen.push(item["id"].as_i64().unwrap());
        }
        match page.json["next_cursor"].as_str() {
            Some(c) => uri = format!("{CONTROLS}?limit=2&cursor={c}"),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let queued = app.get(&format!("{CONTROLS}?state=QUEUED")).await;
    let queued: Vec<i64> = queued.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(queued, [ids[4], ids[3], ids[2]]);
    let failed = app.get(&format!("{CONTROLS}?state=FAILED")).await;
    assert_eq!(
        failed.json["items"][0]["result_code"]["name"],
        "STATUS_NOT_FOUND"
    );
    assert_eq!(
        failed.json["items"][0]["result"],
        serde_json::json!({ "data": "" })
    );
    let bad = app.get(&format!("{CONTROLS}?state=queued")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.field(), "state");
    assert_eq!(
        app.get("/api/v1/gateways/SC99999999/controls").await.status,
        StatusCode::NOT_FOUND
    );
}
