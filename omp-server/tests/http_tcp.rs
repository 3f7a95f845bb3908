//! The whole server over real TCP: `omp_server::run` on
//! 127.0.0.1:0, seeded over GMMP, every route of `openapi/openapi.yaml`
//! called with reqwest — its success answer and the error answers the
//! contract lists for it (400, 401, 404, 409, 413, 415, 422), plus the
//! router's JSON 404 and 405.

mod answer;
mod common;
mod tcp_api;

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::rc;
use gmmp_codec::ResultCode;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tcp_api::{Api, SEED_TEXT, seeded, spec_operations};

const BAD: StatusCode = StatusCode::BAD_REQUEST;
const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

#[tokio::test]
async fn every_route_of_the_contract_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut seed) = seeded(dir.path()).await;
    let api = Api::new(&server);
    let gw = seed.gw_id.clone();
    let dev = seed.device_id.clone();
    // Every (method, path) called below, compared with the contract at the end.
    let mut called: BTreeSet<(String, String)> = BTreeSet::new();
    let mut mark = |method: &str, path: &str| {
        called.insert((method.to_owned(), path.to_owned()));
    };

    // Service routes.
    mark("GET", "/healthz");
    let health = api
        .send(api.client.get(format!("{}/healthz", api.base)))
        .await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json, json!({ "status": "ok", "sessions": 1 }));
    mark("GET", "/openapi.yaml");
    let spec = api
        .send(api.client.get(format!("{}/openapi.yaml", api.base)))
        .await;
    assert_eq!(spec.status, StatusCode::OK);
    assert_eq!(spec.text, omp_server::http::service::OPENAPI_YAML);
    mark("GET", "/metrics");
    let metrics = api.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains("omp_gmmp_sessions 1"),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("omp_deliveries_stored_total 2"));
    api.send(api.client.get(format!("{}/metrics", api.base)))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Provisioning.
    mark("POST", "/api/v1/provisioning");
    let body = r#"{"auth_id":"0008dc1e3333","domain_code":"ThingPlug","manufacture_id":"WIZnet","name":"WizFi310_1E3333"}"#;
    let created = api.json(Method::POST, "/api/v1/provisioning", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["auth_id"], "0008dc1e3333");
    assert_eq!(created.json["domain_code"], "ThingPlug");
    api.json(Method::POST, "/api/v1/provisioning", body)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    api.json(Method::POST, "/api/v1/provisioning", "{")
        .await
        .assert_field(BAD, "body");
    api.json(Method::POST, "/api/v1/provisioning", r#"{"auth_id":7}"#)
        .await
        .assert_field(BAD, "auth_id");
    api.json(Method::POST, "/api/v1/provisioning", "{}")
        .await
        .assert_field(BAD, "auth_id");
    api.json(
        Method::POST,
        "/api/v1/provisioning",
        r#"{"auth_id":"seventeen-bytes-x"}"#,
    )
    .await
    .assert_field(UNPROCESSABLE, "auth_id");
    api.send(
        api.request(Method::POST, "/api/v1/provisioning")
            .header("content-type", "text/plain")
            .body(body),
    )
    .await
    .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let huge = format!(r#"{{"auth_id":"a","name":"{}"}}"#, "x".repeat(100_000));
    api.json(Method::POST, "/api/v1/provisioning", &huge)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    mark("GET", "/api/v1/provisioning");
    let list = api.get("/api/v1/provisioning?limit=1").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json["items"][0]["auth_id"], "0008dc1e3333");
    assert!(list.json["next_cursor"].is_null());
    api.get("/api/v1/provisioning?limit=0")
        .await
        .assert_field(BAD, "limit");
    api.get("/api/v1/provisioning?cursor=not-a-cursor")
        .await
        .assert_field(BAD, "cursor");

    mark("DELETE", "/api/v1/provisioning/{auth_id}");
    let removed = api.delete("/api/v1/provisioning/0008dc1e3333").await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    api.delete("/api/v1/provisioning/0008dc1e3333")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    api.delete(&format!("/api/v1/provisioning/{}", "a".repeat(17)))
        .await
        .assert_field(BAD, "auth_id");

    // Gateways.
    mark("GET", "/api/v1/gateways");
    let list = api.get("/api/v1/gateways?connected=true").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json["items"][0]["gw_id"], gw.as_str());
    assert_eq!(list.json["items"][0]["connected"], true);
    assert!(list.json["next_cursor"].is_null());
    api.get("/api/v1/gateways?connected=yes")
        .await
        .assert_field(BAD, "connected");
    api.get("/api/v1/gateways?registered=1")
        .await
        .assert_field(BAD, "registered");
    api.get("/api/v1/gateways?limit=1001")
        .await
        .assert_field(BAD, "limit");

    mark("GET", "/api/v1/gateways/{gw_id}");
    let one = api.get(&format!("/api/v1/gateways/{gw}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json["auth_id"], "0008dc1e3222");
    assert_eq!(one.json["registered"], true);
    assert!(one.json["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    api.get("/api/v1/gateways/SC99999999")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    api.get(&format!("/api/v1/gateways/{}", "S".repeat(17)))
        .await
        .assert_field(BAD, "gw_id");

    // The registration lock, set and removed (the session stays: locking
    // closes nothing, it only checks later registrations).
    mark("PUT", "/api/v1/gateways/{gw_id}/registration-lock");
    let lock = format!("/api/v1/gateways/{gw}/registration-lock");
    let locked = api.send(api.request(Method::PUT, &lock)).await;
    assert_eq!(locked.status, StatusCode::OK);
    assert_eq!(locked.json["registration_lock"], true);
    api.send(api.request(Method::PUT, "/api/v1/gateways/SC99999999/registration-lock"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    mark("DELETE", "/api/v1/gateways/{gw_id}/registration-lock");
    let unlocked = api.send(api.request(Method::DELETE, &lock)).await;
    assert_eq!(unlocked.status, StatusCode::OK);
    assert_eq!(unlocked.json["registration_lock"], false);

    mark("GET", "/api/v1/gateways/{gw_id}/devices");
    let devices = api.get(&format!("/api/v1/gateways/{gw}/devices")).await;
    assert_eq!(devices.status, StatusCode::OK);
    assert_eq!(devices.json["items"][0]["device_id"], dev.as_str());
    api.get("/api/v1/gateways/SC99999999/devices")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    // Profiles.
    mark("GET", "/api/v1/gateways/{gw_id}/profile");
    let profile = api.get(&format!("/api/v1/gateways/{gw}/profile")).await;
    assert_eq!(profile.status, StatusCode::OK);
    assert_eq!(profile.json["heartbeat_period"], 10);
    api.get("/api/v1/gateways/SC99999999/profile")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    mark("PUT", "/api/v1/gateways/{gw_id}/profile");
    let path = format!("/api/v1/gateways/{gw}/profile");
    let updated = api
        .json(
            Method::PUT,
            &path,
            r#"{"heartbeat_period":5,"model":"WizFi310"}"#,
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.json["heartbeat_period"], 5);
    assert_eq!(updated.json["model"], "WizFi310");
    api.json(Method::PUT, &path, r#"{"heartbeat_period":"5"}"#)
        .await
        .assert_field(BAD, "heartbeat_period");
    api.json(Method::PUT, &path, r#"{"heartbeat_period":4294967296}"#)
        .await
        .assert_field(UNPROCESSABLE, "heartbeat_period");
    api.json(
        Method::PUT,
        &path,
        &format!(r#"{{"model":"{}"}}"#, "m".repeat(33)),
    )
    .await
    .assert_field(UNPROCESSABLE, "model");
    api.json(Method::PUT, &path, r#"{"colour":"red"}"#)
        .await
        .assert_field(BAD, "colour");
    api.json(Method::PUT, &path, "{}")
        .await
        .assert_field(BAD, "body");
    api.json(Method::PUT, &path, "[1]")
        .await
        .assert_field(BAD, "body");
    api.json(
        Method::PUT,
        "/api/v1/gateways/SC99999999/profile",
        r#"{"heartbeat_period":5}"#,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    api.send(api.request(Method::PUT, &path).body("heartbeat_period=5"))
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let huge = format!(r#"{{"model":"{}"}}"#, " ".repeat(70_000));
    api.json(Method::PUT, &path, &huge)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    mark(
        "GET",
        "/api/v1/gateways/{gw_id}/devices/{device_id}/profile",
    );
    let dpath = format!("/api/v1/gateways/{gw}/devices/{dev}/profile");
    let dprofile = api.get(&dpath).await;
    assert_eq!(dprofile.status, StatusCode::OK, "{}", dprofile.text);
    api.get(&format!("/api/v1/gateways/{gw}/devices/AD99999999/profile"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    mark(
        "PUT",
        "/api/v1/gateways/{gw_id}/devices/{device_id}/profile",
    );
    let dupdated = api
        .json(Method::PUT, &dpath, r#"{"report_period":1}"#)
        .await;
    assert_eq!(dupdated.status, StatusCode::OK, "{}", dupdated.text);
    assert_eq!(dupdated.json["report_period"], 1);
    api.json(Method::PUT, &dpath, r#"{"report_period":-1}"#)
        .await
        .assert_field(UNPROCESSABLE, "report_period");
    api.json(
        Method::PUT,
        &format!("/api/v1/gateways/{gw}/devices/AD99999999/profile"),
        r#"{"report_period":1}"#,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");

    // Deliveries.
    mark("GET", "/api/v1/gateways/{gw_id}/deliveries/latest");
    let latest = api
        .get(&format!("/api/v1/gateways/{gw}/deliveries/latest"))
        .await;
    assert_eq!(latest.status, StatusCode::OK);
    assert_eq!(latest.json["content"], STANDARD.encode([0x00, 0xff, 0x10]));
    assert_eq!(latest.json["device_id"], dev.as_str());
    let own = api
        .get(&format!(
            "/api/v1/gateways/{gw}/deliveries/latest?device_id="
        ))
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert_eq!(
        STANDARD
            .decode(own.json["content"].as_str().unwrap())
            .unwrap(),
        SEED_TEXT
    );
    assert_eq!(own.json["content_length"], SEED_TEXT.len());
    api.get("/api/v1/gateways/SC99999999/deliveries/latest")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    api.get(&format!(
        "/api/v1/gateways/{gw}/deliveries/latest?device_id=AD99999999"
    ))
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    api.get(&format!(
        "/api/v1/gateways/{gw}/deliveries/latest?device_id={}",
        "d".repeat(17)
    ))
    .await
    .assert_field(BAD, "device_id");

    mark("GET", "/api/v1/gateways/{gw_id}/deliveries/incomplete");
    let none = api
        .get(&format!("/api/v1/gateways/{gw}/deliveries/incomplete"))
        .await;
    assert_eq!(none.status, StatusCode::OK, "{}", none.text);
    assert_eq!(none.json["items"], json!([]));
    api.get("/api/v1/gateways/SC99999999/deliveries/incomplete")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    api.get(&format!(
        "/api/v1/gateways/{gw}/deliveries/incomplete?limit=0"
    ))
    .await
    .assert_field(BAD, "limit");

    mark("GET", "/api/v1/gateways/{gw_id}/deliveries");
    let hpath = format!("/api/v1/gateways/{gw}/deliveries");
    let page = api.get(&format!("{hpath}?limit=1")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.json["items"].as_array().unwrap().len(), 1);
    let cursor = page.json["next_cursor"].as_str().unwrap().to_owned();
    let rest = api.get(&format!("{hpath}?limit=1&cursor={cursor}")).await;
    assert_eq!(rest.status, StatusCode::OK);
    assert_eq!(rest.json["items"][0]["content"], STANDARD.encode(SEED_TEXT));
    assert!(rest.json["next_cursor"].is_null());
    let filtered = api
        .get(&format!(
            "{hpath}?report_type=alarm&from=2020-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(filtered.status, StatusCode::OK);
    assert_eq!(filtered.json["items"], json!([]));
    for (query, field) in [
        ("cursor=AAAA", "cursor"),
        ("limit=abc", "limit"),
        ("from=yesterday", "from"),
        ("to=2020-13-01T00:00:00Z", "to"),
        ("report_type=loud", "report_type"),
    ] {
        api.get(&format!("{hpath}?{query}"))
            .await
            .assert_field(BAD, field);
    }
    api.get("/api/v1/gateways/SC99999999/deliveries")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    // Controls: one for the connected gateway, one for a gateway that has
    // gone (it stays QUEUED, so it can be cancelled).
    mark("POST", "/api/v1/gateways/{gw_id}/controls");
    let cpath = format!("/api/v1/gateways/{gw}/controls");
    let control = api
        .json(Method::POST, &cpath, r#"{"control_type":"status_check"}"#)
        .await;
    assert_eq!(control.status, StatusCode::ACCEPTED, "{}", control.text);
    assert_eq!(control.json["control_type"]["name"], "status_check");
    let live_id = control.json["id"].as_i64().unwrap();
    let mut away = common::Client::connect(server.addr, "away-gw").await;
    assert_eq!(
        rc(&away.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    let away_id = away.gw_id.to_string();
    drop(away);
    let gone_by = tokio::time::Instant::now() + common::GUARD;
    let queued = loop {
        // Wait until the server has seen the gateway go.
        assert!(
            tokio::time::Instant::now() < gone_by,
            "the session never ended"
        );
        if server.state.registry.get(&away_id).is_none() {
            break api
                .json(
                    Method::POST,
                    &format!("/api/v1/gateways/{away_id}/controls"),
                    r#"{"control_type":12,"data":"AAAAAA==","ttl_seconds":600}"#,
                )
                .await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
    assert_eq!(queued.json["state"], "QUEUED");
    let queued_id = queued.json["id"].as_i64().unwrap();
    for (body, status, field) in [
        (
            r#"{"control_type":"reboot"}"#,
            UNPROCESSABLE,
            "control_type",
        ),
        (r#"{"control_type":256}"#, UNPROCESSABLE, "control_type"),
        (r#"{"control_type":[12]}"#, BAD, "control_type"),
        (r#"{}"#, BAD, "control_type"),
        (
            r#"{"control_type":"reset","data":"not base64!"}"#,
            UNPROCESSABLE,
            "data",
        ),
        (
            r#"{"control_type":"reset","ttl_seconds":0}"#,
            UNPROCESSABLE,
            "ttl_seconds",
        ),
        (
            r#"{"control_type":"reset","ttl_seconds":"1"}"#,
            BAD,
            "ttl_seconds",
        ),
        (r#"{"control_type":"reset","extra":1}"#, BAD, "extra"),
    ] {
        api.json(Method::POST, &cpath, body)
            .await
            .assert_field(status, field);
    }
    api.json(
        Method::POST,
        "/api/v1/gateways/SC99999999/controls",
        r#"{"control_type":"reset"}"#,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    let huge = format!(
        r#"{{"control_type":"reset","data":"{}"}}"#,
        "A".repeat(80_000)
    );
    api.json(Method::POST, &cpath, &huge)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    api.send(api.request(Method::POST, &cpath).body("{}"))
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");

    mark("GET", "/api/v1/gateways/{gw_id}/controls");
    let controls = api.get(&cpath).await;
    assert_eq!(controls.status, StatusCode::OK);
    assert_eq!(controls.json["items"][0]["id"], live_id);
    api.get(&format!("{cpath}?state=DONE"))
        .await
        .assert_field(BAD, "state");
    api.get("/api/v1/gateways/SC99999999/controls")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    mark("GET", "/api/v1/controls/{id}");
    let one = api.get(&format!("/api/v1/controls/{live_id}?wait=0")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json["gw_id"], gw.as_str());
    api.get("/api/v1/controls/999999")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    api.get("/api/v1/controls/abc")
        .await
        .assert_field(BAD, "id");
    api.get(&format!("/api/v1/controls/{live_id}?wait=61"))
        .await
        .assert_field(BAD, "wait");

    mark("DELETE", "/api/v1/controls/{id}");
    let cancelled = api.delete(&format!("/api/v1/controls/{queued_id}")).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    assert_eq!(cancelled.json["state"], "CANCELLED");
    api.delete(&format!("/api/v1/controls/{queued_id}"))
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    api.delete("/api/v1/controls/999999")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    api.delete("/api/v1/controls/0")
        .await
        .assert_field(BAD, "id");

    // MQTT devices: none has connected to this server.
    mark("GET", "/api/v1/mqtt/devices");
    let devices = api.get("/api/v1/mqtt/devices").await;
    assert_eq!(devices.status, StatusCode::OK, "{}", devices.text);
    assert_eq!(devices.json["items"], serde_json::json!([]));
    for path in [
        "/api/v1/mqtt/devices/{client_id}",
        "/api/v1/mqtt/devices/{client_id}/messages",
        "/api/v1/mqtt/devices/{client_id}/datapoints",
        "/api/v1/mqtt/devices/{client_id}/controls",
    ] {
        mark("GET", path);
        api.get(&path.replace("{client_id}", "39599428"))
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    // A command for a client that never connected nor is approved: 404.
    mark("POST", "/api/v1/mqtt/devices/{client_id}/controls");
    api.json(
        Method::POST,
        "/api/v1/mqtt/devices/39599428/controls",
        r#"{"topic":"$creq","payload":"T04="}"#,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");

    // The outbox and the export (their own tests: events.rs, export.rs).
    mark("GET", "/api/v1/events");
    let events = api.get("/api/v1/events?kind=delivery").await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.text);
    assert_eq!(
        events.json["items"][0]["data"]["content"],
        STANDARD.encode(SEED_TEXT)
    );
    mark("GET", "/api/v1/gateways/{gw_id}/deliveries/export");
    let export = api
        .get(&format!(
            "/api/v1/gateways/{gw}/deliveries/export?format=ndjson"
        ))
        .await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.text);
    assert_eq!(export.text.lines().count(), 2, "the two seeded deliveries");

    // Webhooks (their own test: webhooks.rs). The receiver is a closed
    // port: the webhook is disabled before it could be tried.
    mark("POST", "/api/v1/webhooks");
    let hook = api
        .json(
            Method::POST,
            "/api/v1/webhooks",
            r#"{"url":"http://127.0.0.1:9/hook","secret":"s","kinds":["delivery"],"enabled":false}"#,
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.text);
    assert_eq!(hook.json["secret_set"], true);
    let hook_path = format!("/api/v1/webhooks/{}", hook.json["id"]);
    api.json(
        Method::POST,
        "/api/v1/webhooks",
        r#"{"url":"ftp://x/","secret":"s"}"#,
    )
    .await
    .assert_field(UNPROCESSABLE, "url");
    mark("GET", "/api/v1/webhooks");
    let hooks = api.get("/api/v1/webhooks").await;
    assert_eq!(hooks.json["items"][0]["id"], hook.json["id"]);
    mark("GET", "/api/v1/webhooks/{id}");
    assert_eq!(
        api.get(&hook_path).await.json["url"],
        "http://127.0.0.1:9/hook"
    );
    mark("PATCH", "/api/v1/webhooks/{id}");
    let patched = api
        .json(Method::PATCH, &hook_path, r#"{"kinds":null}"#)
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.json["kinds"], serde_json::Value::Null);
    mark("POST", "/api/v1/webhooks/{id}/replay");
    let replayed = api
        .send(api.request(Method::POST, &format!("{hook_path}/replay?from=0")))
        .await;
    assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.text);
    assert_eq!(replayed.json["cursor"], 0);
    mark("DELETE", "/api/v1/webhooks/{id}");
    assert_eq!(api.delete(&hook_path).await.status, StatusCode::NO_CONTENT);

    // The router's own answers: JSON too.
    api.get("/api/v1/no-such-thing")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let wrong = api
        .send(api.request(Method::PATCH, &format!("/api/v1/gateways/{gw}")))
        .await;
    wrong.assert_error(StatusCode::METHOD_NOT_ALLOWED, "bad_request");
    assert!(wrong.headers["allow"].to_str().unwrap().contains("GET"));

    // Every operation of the contract was called.
    let contract: BTreeSet<(String, String)> = spec_operations()
        .into_iter()
        .map(|op| (op.method.to_string(), op.path))
        .collect();
    assert_eq!(called, contract);

    // The gateway's GMMP session was never disturbed by any of it (the
    // status check pushed to it may arrive first).
    assert_eq!(
        tcp_api::deliver_skipping_pushes(&mut seed.gw, b"after the walk").await,
        ResultCode::OK
    );
    server.stop().await;
}

/// `http_body_limit` (and its flag) sets the 413 line; the deadline is
/// checked in `http_hostile`.
#[tokio::test]
async fn the_body_limit_is_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start(dir.path(), |c| {
        c.api_key = Some(tcp_api::KEY.to_owned());
        c.http_body_limit = 2048;
    })
    .await;
    let api = Api::new(&server);
    let body = |name_len: usize| {
        format!(
            r#"{{"auth_id":"0008dc1e3299","name":"{}"}}"#,
            "x".repeat(name_len)
        )
    };
    api.json(Method::POST, "/api/v1/provisioning", &body(3000))
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let fits = api
        .json(Method::POST, "/api/v1/provisioning", &body(100))
        .await;
    assert!(fits.status.is_success(), "{}", fits.text);
    server.stop().await;
}
