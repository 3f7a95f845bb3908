//! Provisioning, gateways, devices and profiles; body errors (400, 413,
//! 415, 422).

mod answer;
mod http_support;

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_support::{KEY, TestApp};
use serde_json::json;

#[tokio::test]
async fn provisioning_add_list_conflict_delete() {
    let app = TestApp::new().await;
    let created = app
        .send_json(
            Method::POST,
            "/api/v1/provisioning",
            r#"{"auth_id":"0008dc1e3222","domain_code":"ThingPlug","manufacture_id":"WIZnet","name":"WizFi310_1E3222"}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["auth_id"], "0008dc1e3222");
    assert_eq!(created.json["domain_code"], "ThingPlug");
    assert_eq!(created.json["name"], "WizFi310_1E3222");
    assert!(created.json["created_at"].as_str().unwrap().ends_with('Z'));
    let stored: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT domain, name FROM provisioning WHERE auth_id = '0008dc1e3222'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        (Some("ThingPlug".into()), Some("WizFi310_1E3222".into()))
    );

    let again = app
        .send_json(
            Method::POST,
            "/api/v1/provisioning",
            r#"{"auth_id":"0008dc1e3222"}"#,
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "conflict");

    let minimal = app
        .send_json(Method::POST, "/api/v1/provisioning", r#"{"auth_id":"a"}"#)
        .await;
    assert_eq!(minimal.status, StatusCode::CREATED);
    assert_eq!(minimal.json["domain_code"], serde_json::Value::Null);

    for i in 0..5 {
        app.send_json(
            Method::POST,
            "/api/v1/provisioning",
            &format!(r#"{{"auth_id":"b{i}"}}"#),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut uri = "/api/v1/provisioning?limit=3".to_owned();
    loop {
        let page = app.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK);
        for item in page.json["items"].as_array().unwrap() {
            seen.push(item["auth_id"].as_str().unwrap().to_owned());
        }
        match page.json["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/provisioning?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["0008dc1e3222", "a", "b0", "b1", "b2", "b3", "b4"]);

    let removed = app.call(Method::DELETE, "/api/v1/provisioning/a").await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone = app.call(Method::DELETE, "/api/v1/provisioning/a").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let long = app
        .call(Method::DELETE, "/api/v1/provisioning/0123456789abcdefX")
        .await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert_eq!(long.field(), "auth_id");
}

#[tokio::test]
async fn a_mac_as_written_on_the_label_is_approved_and_removed_in_the_modules_form() {
    let app = TestApp::new().await;
    let created = app
        .send_json(
            Method::POST,
            "/api/v1/provisioning",
            r#"{"auth_id":"00-08-DC-1E-32-22"}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["auth_id"], "0008dc1e3222");
    assert_eq!(created.json["normalised_from"], "00-08-DC-1E-32-22");
    let again = app
        .send_json(
            Method::POST,
            "/api/v1/provisioning",
            r#"{"auth_id":"0008DC1E3222"}"#,
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "one approval per MAC");
    let listed = app.get("/api/v1/provisioning").await;
    assert_eq!(listed.json["items"][0]["auth_id"], "0008dc1e3222");
    assert!(listed.json["items"][0].get("normalised_from").is_none());

    let removed = app
        .call(Method::DELETE, "/api/v1/provisioning/00:08:DC:1E:32:22")
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    let gone = app
        .call(Method::DELETE, "/api/v1/provisioning/0008dc1e3222")
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bodies_are_checked_field_by_field() {
    let app = TestApp::new().await;
    let before = app.counts().await;
    for (body, status, field) in [
        (r#"{"auth_id":"0123456789abcdefX"}"#, 422, "auth_id"),
        (r#"{"auth_id":""}"#, 422, "auth_id"),
        (
            r#"{"auth_id":"x","domain_code":"ThingPlug01"}"#,
            422,
            "domain_code",
        ),
        (r#"{"auth_id":"x","domain_code":""}"#, 422, "domain_code"),
        (r#"{"auth_id":12}"#, 400, "auth_id"),
        (r#"{"auth_id":"x","name":null}"#, 400, "name"),
        (r#"{"auth_id":"x","extra":1}"#, 400, "extra"),
        (r#"{}"#, 400, "auth_id"),
        (r#"[1]"#, 400, "body"),
        (r#"{"auth_id":"#, 400, "body"),
        ("", 400, "body"),
    ] {
        let answer = app
            .send_json(Method::POST, "/api/v1/provisioning", body)
            .await;
        assert_eq!(answer.status.as_u16(), status, "{body}: {}", answer.text);
        assert_eq!(answer.field(), field, "{body}");
    }
    let not_json = app
        .request(
            Request::post("/api/v1/provisioning")
                .header("authorization", format!("Bearer {KEY}"))
                .header("content-type", "text/plain")
                .body(Body::from(r#"{"auth_id":"x"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(not_json.code(), "unsupported_media_type");
    let no_type = app
        .request(
            Request::post("/api/v1/provisioning")
                .header("authorization", format!("Bearer {KEY}"))
                .body(Body::from(r#"{"auth_id":"x"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(no_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let charset = app
        .request(
            Request::post("/api/v1/provisioning")
                .header("authorization", format!("Bearer {KEY}"))
                .header("content-type", "application/json; charset=utf-8")
                .body(Body::from(r#"{"auth_id":"with-charset"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(charset.status, StatusCode::CREATED);
    sqlx::query("DELETE FROM provisioning")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_json() {
    let app = TestApp::with_config(|c| c.http_body_limit = 1024).await;
    let big = format!(r#"{{"auth_id":"x","name":"{}"}}"#, "n".repeat(2000));
    let answer = app
        .send_json(Method::POST, "/api/v1/provisioning", &big)
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.code(), "payload_too_large");
    // Also when streamed without a Content-Length.
    let stream = Body::from_stream(futures::stream::iter(vec![Ok::<_, std::io::Error>(
        big.clone().into_bytes(),
    )]));
    let answer = app
        .request(
            Request::post("/api/v1/provisioning")
                .header("authorization", format!("Bearer {KEY}"))
                .header("content-type", "application/json")
                .body(stream)
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn gateways_list_filter_and_one() {
    let app = TestApp::new().await;
    for i in 0..7 {
        app.add_gateway(&format!("SC1001025{i}"), &format!("auth{i}"))
            .await;
    }
    sqlx::query("UPDATE gateways SET deregistered_at = 1586937700000 WHERE gw_id = 'SC10010256'")
        .execute(&app.pool)
        .await
        .unwrap();
    let live: SocketAddr = "192.168.0.23:50123".parse().unwrap();
    app.connect("SC10010251", live);
    app.connect("SC10010253", live);

    let one = app.get("/api/v1/gateways/SC10010251").await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(
        one.json,
        json!({
            "gw_id": "SC10010251",
            "auth_id": "auth1",
            "domain_code": "ThingPlug",
            "manufacture_id": "WIZnet",
            "registered": true,
            "registered_at": "2020-04-15T08:00:00.000Z",
            "deregistered_at": null,
            "last_seen": null,
            "connected": true,
            "peer": "192.168.0.23:50123",
            "session_since": "2020-04-15T08:00:50.000Z",
            "registration_lock": false,
            "profile": {
                "heartbeat_period": 5, "report_period": 10, "report_offset": 0,
                "response_timeout": 30, "model": "WizFi310", "firmware_version": "1.0.0.6",
                "software_version": "", "hardware_version": ""
            }
        })
    );
    let offline = app.get("/api/v1/gateways/SC10010252").await;
    assert_eq!(offline.json["connected"], false);
    assert_eq!(offline.json["peer"], "10.0.0.9:4000");
    let gone = app.get("/api/v1/gateways/SC10010256").await;
    assert_eq!(gone.json["registered"], false);
    assert_eq!(gone.json["deregistered_at"], "2020-04-15T08:01:40.000Z");
    assert_eq!(
        app.get("/api/v1/gateways/SC99999999").await.status,
        StatusCode::NOT_FOUND
    );
    let long = app.get("/api/v1/gateways/SC100102540000000").await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert_eq!(long.field(), "gw_id");

    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["gw_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&app.get("/api/v1/gateways?connected=true").await.json),
        ["SC10010251", "SC10010253"]
    );
    assert_eq!(
        ids(&app.get("/api/v1/gateways?connected=false").await.json).len(),
        5
    );
    assert_eq!(
        ids(&app.get("/api/v1/gateways?registered=false").await.json),
        ["SC10010256"]
    );
    assert_eq!(
        ids(&app
            .get("/api/v1/gateways?registered=true&connected=false")
            .await
            .json),
        ["SC10010250", "SC10010252", "SC10010254", "SC10010255"]
    );
    let bad = app.get("/api/v1/gateways?connected=yes").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.field(), "connected");

    let mut seen = Vec::new();
    let mut uri = "/api/v1/gateways?limit=2".to_owned();
    loop {
        let page = app.get(&uri).await;
        seen.extend(ids(&page.json));
        match page.json["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/gateways?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    // A deliveries cursor is not a gateways cursor.
    let page = app
        .get("/api/v1/gateways/SC10010250/deliveries?limit=1")
        .await;
    assert!(page.json["next_cursor"].is_null());
}

#[tokio::test]
async fn devices_and_profiles() {
    let app = TestApp::new().await;
    app.add_gateway("SC10010254", "0008dc1e3222").await;
    app.add_gateway("SC10010255", "0008dc1e3223").await;
    app.add_device("SC10010254", "AD10014859", "m2").await;
    app.add_device("SC10010254", "AD10014858", "m1").await;
    app.add_device("SC10010255", "AD10014860", "m3").await;

    let devices = app.get("/api/v1/gateways/SC10010254/devices").await;
    assert_eq!(devices.status, StatusCode::OK);
    let items = devices.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["device_id"], "AD10014858");
    assert_eq!(items[0]["manufacture_id"], "m1");
    assert_eq!(items[0]["registered"], true);
    assert_eq!(items[0]["registered_at"], "2020-04-15T08:00:01.000Z");
    assert_eq!(
        app.get("/api/v1/gateways/SC1/devices").await.status,
        StatusCode::NOT_FOUND
    );

    let profile = app.get("/api/v1/gateways/SC10010254/profile").await;
    assert_eq!(profile.json["heartbeat_period"], 5);
    let put = app
        .send_json(
            Method::PUT,
            "/api/v1/gateways/SC10010254/profile",
            r#"{"heartbeat_period": 1, "report_period": 2, "model": "WizFi310-B"}"#,
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(put.json["heartbeat_period"], 1);
    assert_eq!(put.json["report_period"], 2);
    assert_eq!(put.json["response_timeout"], 30);
    assert_eq!(put.json["model"], "WizFi310-B");
    let again = app.get("/api/v1/gateways/SC10010254/profile").await;
    assert_eq!(again.json, put.json);
    let gw = app.get("/api/v1/gateways/SC10010254").await;
    assert_eq!(gw.json["profile"], put.json);
    let stored: (i64, String) = sqlx::query_as(
        "SELECT heartbeat_period, model FROM profiles WHERE gw_id = 'SC10010254' AND device_id = ''",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, (1, "WizFi310-B".into()));

    let device = "/api/v1/gateways/SC10010254/devices/AD10014858/profile";
    assert_eq!(app.get(device).await.json["heartbeat_period"], 5);
    let put = app
        .send_json(Method::PUT, device, r#"{"report_offset": 4294967295}"#)
        .await;
    assert_eq!(put.status, StatusCode::OK);
    assert_eq!(put.json["report_offset"], 4_294_967_295u64);
    assert_eq!(
        app.get(device).await.json["report_offset"],
        4_294_967_295u64
    );
    // Another gateway's device.
    let other = app
        .get("/api/v1/gateways/SC10010254/devices/AD10014860/profile")
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);

    for (body, status, field) in [
        (
            r#"{"heartbeat_period": 4294967296}"#,
            422,
            "heartbeat_period",
        ),
        (r#"{"heartbeat_period": -1}"#, 422, "heartbeat_period"),
        (r#"{"heartbeat_period": 1.5}"#, 400, "heartbeat_period"),
        (r#"{"heartbeat_period": "5"}"#, 400, "heartbeat_period"),
        (
            r#"{"model": "0123456789abcdef0123456789abcdefX"}"#,
            422,
            "model",
        ),
        (
            r#"{"firmware_version": "0123456789abcdefX"}"#,
            422,
            "firmware_version",
        ),
        (r#"{"colour": "red"}"#, 400, "colour"),
        (r#"{}"#, 400, "body"),
    ] {
        let answer = app
            .send_json(Method::PUT, "/api/v1/gateways/SC10010254/profile", body)
            .await;
        assert_eq!(answer.status.as_u16(), status, "{body}: {}", answer.text);
        assert_eq!(answer.field(), field, "{body}");
    }
    let unknown = app
        .send_json(
            Method::PUT,
            "/api/v1/gateways/SC1/profile",
            r#"{"report_period": 1}"#,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
