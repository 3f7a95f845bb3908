//! Webhooks over real TCP: a server on 127.0.0.1:0 (no MQTT listeners),
//! gateways delivering over GMMP, receivers in the test (axum on
//! 127.0.0.1:0). Back-off and the failing period are set short in the
//! config rather than waited out.

mod answer;
mod common;
mod tcp_api;
mod webhooks_support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gmmp_codec::ResultCode;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::{Client, TestServer, rc, start};
use tcp_api::{Api, KEY};
use webhooks_support::{Receiver, expected_signature};

const SECRET: &str = "s3cr3t-for-the-test";

async fn server(dir: &std::path::Path, tweak: impl FnOnce(&mut omp_server::Config)) -> TestServer {
    start(dir, |c| {
        c.api_key = Some(KEY.to_owned());
        c.trace_gmmp = false;
        c.webhook.retry_min = Duration::from_millis(10);
        c.webhook.retry_max = Duration::from_millis(40);
        tweak(c);
    })
    .await
}

async fn gateway(server: &TestServer, auth_id: &str) -> Client {
    let mut gw = Client::connect(server.addr, auth_id).await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    gw
}

/// Creates a webhook of `url` for deliveries; its JSON.
async fn create(api: &Api, url: &str, extra: Value) -> Value {
    let mut body = json!({ "url": url, "secret": SECRET, "kinds": ["delivery"] });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let made = api
        .json(Method::POST, "/api/v1/webhooks", &body.to_string())
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    made.json
}

/// The ids of the delivery events committed so far.
async fn delivery_ids(api: &Api) -> Vec<i64> {
    let page = api.get("/api/v1/events?kind=delivery&limit=1000").await;
    page.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

/// GETs the webhook until `done` holds (within the hang guard).
async fn until_hook(api: &Api, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let wait = async {
        loop {
            let hook = api.get(&format!("/api/v1/webhooks/{id}")).await;
            assert_eq!(hook.status, StatusCode::OK, "{}", hook.text);
            if done(&hook.json) {
                return hook.json;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(common::GUARD, wait)
        .await
        .unwrap_or_else(|_| panic!("webhook {id} never {what}"))
}

#[tokio::test]
async fn events_arrive_in_order_signed_and_the_secret_is_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |_| {}).await;
    let api = Api::new(&server);
    let receiver = Receiver::start(200).await;
    let hook = create(&api, &receiver.url(), json!({})).await;
    assert_eq!(hook["secret_set"], true);
    assert!(hook.get("secret").is_none(), "{hook}");
    assert_eq!(hook["kinds"], json!(["delivery"]));
    let mut gw = gateway(&server, "0008dc1e3222").await;
    for i in 0..5u8 {
        assert_eq!(rc(&gw.deliver(&[b'd', i]).await), ResultCode::OK);
    }
    let got = receiver.until("5 events", |r| r.len() >= 5).await;
    let ids = delivery_ids(&api).await;
    assert_eq!(got.iter().map(|r| r.event_id).collect::<Vec<_>>(), ids);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.signature, expected_signature(SECRET, &r.raw));
        assert_ne!(r.signature, expected_signature("another secret", &r.raw));
        assert_eq!(r.body["id"], r.event_id);
        assert_eq!(r.body["kind"], "delivery");
        assert_eq!(r.body["data"]["content"], STANDARD.encode([b'd', i as u8]));
        assert!(r.timestamp.parse::<u64>().unwrap() > 1_600_000_000);
        assert_eq!(r.content_type, "application/json");
    }
    // The body is the Event of GET /api/v1/events, byte for byte in meaning.
    let page = api.get("/api/v1/events?kind=delivery").await;
    assert_eq!(page.json["items"][0], got[0].body);
    let id = hook["id"].as_i64().unwrap();
    let last = *ids.last().unwrap();
    until_hook(&api, id, "persisted its cursor", |h| {
        h["cursor"].as_i64() >= Some(last)
    })
    .await;
    let listed = api.get("/api/v1/webhooks").await;
    assert_eq!(listed.json["items"][0]["id"], id);
    assert!(!listed.text.contains(SECRET));
    let metrics = api.get("/metrics").await.text;
    assert!(
        metrics.contains("omp_webhook_deliveries_ok_total 5"),
        "{metrics}"
    );
    assert!(metrics.contains("omp_webhook_backlog_max"), "{metrics}");
    server.stop().await;
}

#[tokio::test]
async fn a_receiver_failing_for_a_while_gets_every_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |_| {}).await;
    let api = Api::new(&server);
    let receiver = Receiver::start(500).await;
    let hook = create(&api, &receiver.url(), json!({})).await;
    let id = hook["id"].as_i64().unwrap();
    let mut gw = gateway(&server, "0008dc1e3222").await;
    for i in 0..3u8 {
        assert_eq!(rc(&gw.deliver(&[b'f', i]).await), ResultCode::OK);
    }
    let ids = delivery_ids(&api).await;
    // Retried, always the first event: the next waits for a 2xx.
    let failed = receiver.until("3 failed attempts", |r| r.len() >= 3).await;
    assert!(failed.iter().all(|r| r.event_id == ids[0]), "{failed:?}");
    let failing = api.get(&format!("/api/v1/webhooks/{id}")).await.json;
    assert!(failing["failing_since"].is_string(), "{failing}");
    assert!(
        failing["last_error"].as_str().unwrap().contains("500"),
        "{failing}"
    );
    receiver.answer(200);
    let last = *ids.last().unwrap();
    let hook = until_hook(&api, id, "caught up", |h| {
        h["cursor"].as_i64() >= Some(last)
    })
    .await;
    assert_eq!(receiver.accepted(), ids, "each once, in order");
    assert_eq!(hook["failing_since"], Value::Null);
    assert_eq!(hook["last_error"], Value::Null);
    assert_eq!(hook["enabled"], true);
    let metrics = api.get("/metrics").await.text;
    assert!(
        metrics.contains("omp_webhook_deliveries_ok_total 3"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("omp_webhook_deliveries_failed_total 0\n"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_restarted_server_goes_on_from_the_persisted_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(200).await;
    let server = server(dir.path(), |_| {}).await;
    let api = Api::new(&server);
    create(&api, &receiver.url(), json!({})).await;
    let mut gw = gateway(&server, "0008dc1e3222").await;
    for i in 0..2u8 {
        assert_eq!(rc(&gw.deliver(&[b'r', i]).await), ResultCode::OK);
    }
    receiver.until("2 events", |r| r.len() >= 2).await;
    // The receiver fails from now on: the backlog grows.
    receiver.answer(503);
    for i in 2..6u8 {
        assert_eq!(rc(&gw.deliver(&[b'r', i]).await), ResultCode::OK);
    }
    receiver
        .until("a failed attempt", |r| r.iter().any(|r| r.answered == 503))
        .await;
    let ids = delivery_ids(&api).await;
    assert_eq!(ids.len(), 6);
    drop(gw);
    server.stop().await;

    receiver.answer(200);
    let server = server_again(dir.path()).await;
    let api = Api::new(&server);
    receiver
        .until("the backlog", |r| {
            r.iter().any(|r| r.answered == 200 && r.event_id == ids[5])
        })
        .await;
    let accepted = receiver.accepted();
    let mut unique = accepted.clone();
    unique.dedup();
    assert_eq!(
        unique, ids,
        "nothing lost, in order (a repeat only in place)"
    );
    assert!(accepted.is_sorted(), "{accepted:?}");
    let hooks = api.get("/api/v1/webhooks").await.json;
    let id = hooks["items"][0]["id"].as_i64().unwrap();
    until_hook(&api, id, "persisted its cursor", |h| {
        h["cursor"].as_i64() >= Some(ids[5])
    })
    .await;
    server.stop().await;
}

async fn server_again(dir: &std::path::Path) -> TestServer {
    server(dir, |_| {}).await
}

#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_another_webhook() {
    let dir = tempfile::tempdir().unwrap();
    // The hanging receiver is not timed out during the test.
    let server = server(dir.path(), |c| c.webhook.timeout = Duration::from_secs(300)).await;
    let api = Api::new(&server);
    let stuck = Receiver::start(200).await;
    stuck.hang(true);
    let fine = Receiver::start(200).await;
    create(&api, &stuck.url(), json!({})).await;
    create(&api, &fine.url(), json!({})).await;
    let mut gw = gateway(&server, "0008dc1e3222").await;
    for i in 0..4u8 {
        assert_eq!(rc(&gw.deliver(&[b'h', i]).await), ResultCode::OK);
    }
    fine.until("4 events", |r| r.len() >= 4).await;
    let ids = delivery_ids(&api).await;
    assert_eq!(fine.accepted(), ids);
    let held = stuck.until("the first event", |r| !r.is_empty()).await;
    assert_eq!(held.len(), 1, "one POST in flight, unanswered: {held:?}");
    assert!(stuck.accepted().is_empty());
    // Ingest is not held either.
    assert_eq!(rc(&gw.deliver(b"after").await), ResultCode::OK);
    fine.until("the fifth event", |r| r.len() >= 5).await;
    // Shutdown is not held by the hanging POST.
    server.stop().await;
}

#[tokio::test]
async fn replay_sends_again_from_an_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |_| {}).await;
    let api = Api::new(&server);
    let receiver = Receiver::start(200).await;
    let hook = create(&api, &receiver.url(), json!({})).await;
    let id = hook["id"].as_i64().unwrap();
    let mut gw = gateway(&server, "0008dc1e3222").await;
    for i in 0..4u8 {
        assert_eq!(rc(&gw.deliver(&[b'p', i]).await), ResultCode::OK);
    }
    receiver.until("4 events", |r| r.len() >= 4).await;
    let ids = delivery_ids(&api).await;
    until_hook(&api, id, "caught up", |h| {
        h["cursor"].as_i64() >= Some(ids[3])
    })
    .await;
    let replayed = api
        .send(api.request(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/replay?from={}", ids[1]),
        ))
        .await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.text);
    assert_eq!(replayed.json["cursor"], ids[1]);
    receiver.until("the replay", |r| r.len() >= 6).await;
    let mut expected = ids.clone();
    expected.extend_from_slice(&ids[2..]);
    assert_eq!(receiver.accepted(), expected);

    // A webhook created with `from` starts after that id.
    let late = Receiver::start(200).await;
    create(&api, &late.url(), json!({ "from": ids[2] })).await;
    late.until("the last event", |r| !r.is_empty()).await;
    assert_eq!(late.accepted(), [ids[3]]);

    // Replay's own errors.
    api.send(api.request(Method::POST, &format!("/api/v1/webhooks/{id}/replay")))
        .await
        .assert_field(StatusCode::BAD_REQUEST, "from");
    api.send(api.request(
        Method::POST,
        &format!("/api/v1/webhooks/{id}/replay?from={}", ids[3] + 1000),
    ))
    .await
    .assert_field(StatusCode::UNPROCESSABLE_ENTITY, "from");
    api.send(api.request(Method::POST, "/api/v1/webhooks/999/replay?from=0"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    server.stop().await;
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |_| {}).await;
    let api = Api::new(&server);
    let post = |body: Value| {
        let api = &api;
        async move {
            api.json(Method::POST, "/api/v1/webhooks", &body.to_string())
                .await
        }
    };
    let url = "http://127.0.0.1:9/hook";
    post(json!({ "secret": SECRET }))
        .await
        .assert_field(StatusCode::BAD_REQUEST, "url");
    post(json!({ "url": url }))
        .await
        .assert_field(StatusCode::BAD_REQUEST, "secret");
    for bad in ["ftp://example.com/", "not a url", "http://"] {
        post(json!({ "url": bad, "secret": SECRET }))
            .await
            .assert_field(StatusCode::UNPROCESSABLE_ENTITY, "url");
    }
    post(json!({ "url": url, "secret": "" }))
        .await
        .assert_field(StatusCode::UNPROCESSABLE_ENTITY, "secret");
    post(json!({ "url": url, "secret": SECRET, "kinds": ["delivery", "nope"] }))
        .await
        .assert_field(StatusCode::UNPROCESSABLE_ENTITY, "kinds[1]");
    post(json!({ "url": url, "secret": SECRET, "from": 1_000_000 }))
        .await
        .assert_field(StatusCode::UNPROCESSABLE_ENTITY, "from");
    post(json!({ "url": url, "secret": SECRET, "enabled": "yes" }))
        .await
        .assert_field(StatusCode::BAD_REQUEST, "enabled");
    post(json!({ "url": url, "secret": SECRET, "colour": "red" }))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "bad_request");
    let made = post(json!({ "url": url, "secret": SECRET, "enabled": false })).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let id = made.json["id"].as_i64().unwrap();
    assert_eq!(made.json["kinds"], Value::Null, "every kind");
    let path = format!("/api/v1/webhooks/{id}");
    api.json(Method::PATCH, &path, r#"{"url":"gopher://x/"}"#)
        .await
        .assert_field(StatusCode::UNPROCESSABLE_ENTITY, "url");
    api.json(Method::PATCH, &path, r#"{"kinds":["x"]}"#)
        .await
        .assert_field(StatusCode::UNPROCESSABLE_ENTITY, "kinds[0]");
    let changed = api
        .json(
            Method::PATCH,
            &path,
            r#"{"kinds":["gateway_online"],"gw_id":"SC10010001"}"#,
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.json["kinds"], json!(["gateway_online"]));
    assert_eq!(changed.json["gw_id"], "SC10010001");
    assert_eq!(changed.json["enabled"], false);
    api.json(Method::PATCH, "/api/v1/webhooks/999", "{}")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    api.get("/api/v1/webhooks/0")
        .await
        .assert_field(StatusCode::BAD_REQUEST, "id");
    let removed = api.delete(&path).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    api.get(&path)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    api.delete(&path)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    server.stop().await;
}

#[tokio::test]
async fn a_webhook_failing_for_the_whole_period_is_disabled_and_can_be_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), |c| {
        c.webhook.disable_after = Duration::from_millis(200);
    })
    .await;
    let api = Api::new(&server);
    let receiver = Receiver::start(500).await;
    let hook = create(&api, &receiver.url(), json!({})).await;
    let id = hook["id"].as_i64().unwrap();
    let mut gw = gateway(&server, "0008dc1e3222").await;
    assert_eq!(rc(&gw.deliver(b"never taken").await), ResultCode::OK);
    let hook = until_hook(&api, id, "disabled", |h| h["enabled"] == false).await;
    let reason = hook["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("webhook_disable_after"), "{reason}");
    assert!(reason.contains("500"), "{reason}");
    let metrics = api.get("/metrics").await.text;
    assert!(
        metrics.contains("omp_webhooks_disabled_total 1"),
        "{metrics}"
    );
    // Disabled: nothing more is attempted.
    let attempts = receiver.received().len();
    assert_eq!(rc(&gw.deliver(b"second").await), ResultCode::OK);
    let ids = delivery_ids(&api).await;
    assert_eq!(ids.len(), 2);
    // Enabled again (the receiver fixed): resumes from its cursor.
    receiver.answer(200);
    let enabled = api
        .json(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            r#"{"enabled":true}"#,
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.text);
    assert_eq!(enabled.json["disabled_reason"], Value::Null);
    assert_eq!(enabled.json["failing_since"], Value::Null);
    until_hook(&api, id, "caught up", |h| {
        h["cursor"].as_i64() >= Some(ids[1])
    })
    .await;
    let after: Vec<i64> = receiver.received()[attempts..]
        .iter()
        .filter(|r| r.answered == 200)
        .map(|r| r.event_id)
        .collect();
    assert_eq!(after, ids);
    server.stop().await;
}
