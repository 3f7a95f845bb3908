//! The HTTP API under hostile requests, over real TCP
//! against the whole server, driven by the contract itself: every
//! operation and parameter is read from `openapi/openapi.yaml`, so a new
//! route is covered without editing this file.
//!
//! - Authentication: every protected operation without a key, with a
//!   wrong key, with keys of the right length differing in one byte
//!   (first, middle, last), and with near-miss headers: 401 JSON, nothing
//!   changed in the database.
//! - Body size: every operation with a body refuses one byte over the
//!   limit with 413 JSON, whether the length is declared, streamed in
//!   chunks, or only claimed.
//! - SQL injection: classic payloads in every string parameter (path and
//!   query) and every string field of every body: never a 5xx, never
//!   another row's data, tables and their row counts intact, the database
//!   passes `PRAGMA integrity_check`.
//! - Slow bodies: a body that stops coming is answered 400 once the body
//!   deadline passes, instead of holding the request.
//! - Malformed input: wrong JSON types for every body field, bad Base64,
//!   bad cursors, nesting beyond serde_json's depth limit, non-UTF-8 and
//!   absurd numbers: 4xx naming the field.

mod answer;
mod common;
mod http_support;
mod tcp_api;

use std::collections::BTreeMap;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tcp_api::{Answer, Api, KEY, Operation, seeded, spec, spec_operations};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server's request body limit (the default of `Config`).
const BODY_LIMIT: usize = omp_server::http::DEFAULT_BODY_LIMIT;

/// Classic SQL injection strings (and a few other hostile texts).
const INJECTIONS: &[&str] = &[
    "' OR '1'='1",
    "' OR 1=1 --",
    "\" OR \"\"=\"",
    "'; DROP TABLE deliveries; --",
    "1; DELETE FROM gateways",
    "') UNION SELECT auth_key, auth_key FROM gateways --",
    "%' OR gw_id LIKE '%",
    "SC10010001' --",
    "\\'; SELECT sqlite_version(); --",
    "\0",
    "ü' OR 'ü'='ü",
];

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Valid values for the parameters, as the seed made them.
struct Values {
    gw_id: String,
    device_id: String,
    control_id: i64,
}

impl Values {
    fn for_param(&self, name: &str) -> String {
        match name {
            "gw_id" => self.gw_id.clone(),
            "device_id" => self.device_id.clone(),
            "auth_id" => "0008dc1e3222".into(),
            "client_id" => "39599428".into(),
            "id" => self.control_id.to_string(),
            _ => String::new(),
        }
    }

    /// The operation's path with valid IDs, and `name` (path or query)
    /// set to `value` when given.
    fn uri(&self, op: &Operation, inject: Option<(&str, &str)>) -> String {
        let mut path = op.path.clone();
        let mut query = Vec::new();
        for p in &op.parameters {
            let value = match inject {
                Some((name, v)) if name == p.name => encode(v),
                _ if p.location == "path" => encode(&self.for_param(&p.name)),
                _ => continue,
            };
            if p.location == "path" {
                path = path.replace(&format!("{{{}}}", p.name), &value);
            } else {
                query.push(format!("{}={value}", p.name));
            }
        }
        if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        }
    }
}

/// A valid body for `op` (when it has one).
fn valid_body(op: &Operation) -> &'static str {
    if op.path.starts_with("/api/v1/mqtt/") && op.path.ends_with("/controls") {
        r#"{"topic":"cmd/led","payload":"T04=","qos":1}"#
    } else if op.path.ends_with("/controls") {
        r#"{"control_type":"status_check"}"#
    } else if op.path.ends_with("/profile") {
        r#"{"report_period":10}"#
    } else if op.path == "/api/v1/webhooks" {
        r#"{"url":"http://127.0.0.1:9/hook","secret":"s","enabled":false}"#
    } else if op.path.starts_with("/api/v1/webhooks/") {
        r#"{"enabled":false}"#
    } else {
        r#"{"auth_id":"0008dc1e3999"}"#
    }
}

/// Row counts of every table, and the integrity check.
async fn snapshot(server: &common::TestServer) -> BTreeMap<String, i64> {
    let pool = server.state.db.as_sqlite().expect("a SQLite store");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name NOT LIKE '_sqlx_%' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut counts = BTreeMap::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM \"{table}\""
        )))
        .fetch_one(pool)
        .await
        .unwrap();
        counts.insert(table, n);
    }
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    counts
}

/// A seeded server and the values its routes need (a QUEUED-or-sent
/// control included).
async fn setup(dir: &std::path::Path) -> (common::TestServer, tcp_api::Seed, Api, Values) {
    let (server, seed) = seeded(dir).await;
    let api = Api::new(&server);
    let control = api
        .json(
            Method::POST,
            &format!("/api/v1/gateways/{}/controls", seed.gw_id),
            r#"{"control_type":"status_check"}"#,
        )
        .await;
    assert_eq!(control.status, StatusCode::ACCEPTED, "{}", control.text);
    let values = Values {
        gw_id: seed.gw_id.clone(),
        device_id: seed.device_id.clone(),
        control_id: control.json["id"].as_i64().unwrap(),
    };
    (server, seed, api, values)
}

fn protected(ops: Vec<Operation>) -> Vec<Operation> {
    ops.into_iter().filter(|op| !op.open).collect()
}

#[tokio::test]
async fn every_protected_operation_refuses_missing_wrong_and_near_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _seed, api, values) = setup(dir.path()).await;
    let near = |i: usize| {
        let mut k = KEY.as_bytes().to_vec();
        k[i] ^= 0x01;
        String::from_utf8(k).unwrap()
    };
    let headers: Vec<Option<String>> = vec![
        None,
        Some("Bearer wrong".into()),
        Some(format!("Bearer {}", near(0))),
        Some(format!("Bearer {}", near(KEY.len() / 2))),
        Some(format!("Bearer {}", near(KEY.len() - 1))),
        Some(format!("Bearer {}", &KEY[..KEY.len() - 1])),
        Some(format!("Bearer {KEY}x")),
        Some(format!("Basic {KEY}")),
        Some(format!("Token {KEY}")),
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some(KEY.into()),
    ];
    let before = snapshot(&server).await;
    let ops = protected(spec_operations());
    assert!(ops.len() >= 17, "{ops:?}");
    let mut refused = 0;
    for op in &ops {
        let uri = values.uri(op, None);
        for header in &headers {
            let mut request = api
                .client
                .request(
                    op.method.clone(),
                    format!("{}{uri}?api_key={KEY}", api.base),
                )
                .header("content-type", "application/json")
                .body(valid_body(op));
            if let Some(h) = header {
                request = request.header("authorization", h);
            }
            let answer = api.send(request).await;
            answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
            assert!(!answer.text.contains(KEY), "the key echoed back");
            refused += 1;
        }
    }
    assert_eq!(refused, ops.len() * headers.len());
    assert_eq!(
        snapshot(&server).await,
        before,
        "a refused request changed data"
    );
    // The same walk with the key gets past authentication everywhere.
    for op in &ops {
        let answer = api
            .send(
                api.request(op.method.clone(), &values.uri(op, None))
                    .header("content-type", "application/json")
                    .body(valid_body(op)),
            )
            .await;
        assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{op:?}");
        assert!(answer.status.as_u16() < 500, "{op:?}: {}", answer.text);
    }
    server.stop().await;
}

/// Writes a raw HTTP/1.1 request and returns the status line's code.
async fn raw_status(server: &common::TestServer, head: &str, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(server.http_addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (and close) before it has read it all.
    let _ = s.write_all(body).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(common::GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to {head:?}");
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413_however_they_come() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _seed, api, values) = setup(dir.path()).await;
    let before = snapshot(&server).await;
    let body_ops: Vec<Operation> = spec_operations()
        .into_iter()
        .filter(|op| op.has_body)
        .collect();
    assert_eq!(body_ops.len(), 7, "{body_ops:?}");
    for op in &body_ops {
        let uri = values.uri(op, None);
        // A JSON document one byte over the limit, length declared.
        let mut over = String::from(r#"{"name":""#);
        over.push_str(&" ".repeat(BODY_LIMIT + 1 - over.len() - 2));
        over.push_str("\"}");
        assert_eq!(over.len(), BODY_LIMIT + 1);
        api.json(op.method.clone(), &uri, &over)
            .await
            .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        // Exactly at the limit is read (and refused for its content).
        let at = &over[..BODY_LIMIT - 2];
        let at = format!("{at}\"}}");
        let answer = api.json(op.method.clone(), &uri, &at).await;
        assert!(
            [400, 422].contains(&answer.status.as_u16()),
            "{op:?}: {}",
            answer.status
        );
        // Streamed in chunks without a length: cut at the limit.
        let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
        let chunks = chunk.repeat(BODY_LIMIT / (16 * 1024) + 2) + "0\r\n\r\n";
        let head = format!(
            "{} {uri} HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {KEY}\r\n\
             content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
            op.method
        );
        assert_eq!(raw_status(&server, &head, chunks.as_bytes()).await, 413);
        // Claimed but never sent: refused from the header alone.
        let head = format!(
            "{} {uri} HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {KEY}\r\n\
             content-type: application/json\r\ncontent-length: 10000000000\r\n\r\n",
            op.method
        );
        assert_eq!(raw_status(&server, &head, b"").await, 413);
        // Without the key, a huge body is refused before it is read.
        let head = format!(
            "{} {uri} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n\
             content-length: 10000000000\r\n\r\n",
            op.method
        );
        assert_eq!(raw_status(&server, &head, b"").await, 401);
    }
    assert_eq!(snapshot(&server).await, before);
    server.stop().await;
}

/// The string fields of each request body schema of the contract.
fn body_string_fields() -> BTreeMap<String, Vec<String>> {
    let spec = spec();
    let mut out = BTreeMap::new();
    for name in [
        "ProvisioningCreate",
        "ProfileUpdate",
        "ControlCreate",
        "MqttControlCreate",
        "WebhookCreate",
        "WebhookUpdate",
    ] {
        let schema = &spec["components"]["schemas"][name];
        let mut fields = Vec::new();
        for (field, s) in schema["properties"].as_mapping().unwrap() {
            let is_string = s["type"].as_str() == Some("string")
                || s["oneOf"]
                    .as_sequence()
                    .is_some_and(|alts| alts.iter().any(|a| a["type"].as_str() == Some("string")));
            if is_string {
                fields.push(field.as_str().unwrap().to_owned());
            }
        }
        out.insert(name.to_owned(), fields);
    }
    out
}

fn body_schema(op: &Operation) -> &'static str {
    if op.path.starts_with("/api/v1/mqtt/") && op.path.ends_with("/controls") {
        "MqttControlCreate"
    } else if op.path.ends_with("/controls") {
        "ControlCreate"
    } else if op.path.ends_with("/profile") {
        "ProfileUpdate"
    } else if op.path == "/api/v1/webhooks" {
        "WebhookCreate"
    } else if op.path.starts_with("/api/v1/webhooks/") {
        "WebhookUpdate"
    } else {
        "ProvisioningCreate"
    }
}

fn no_server_error(answer: &Answer, what: &str) {
    assert!(
        answer.status.as_u16() < 500,
        "{what}: {} {}",
        answer.status,
        answer.text
    );
    if answer.status.as_u16() >= 400 {
        assert!(
            answer.json["error"]["code"].is_string(),
            "{what}: {}",
            answer.text
        );
    }
}

#[tokio::test]
async fn sql_injection_in_every_string_parameter_and_field_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut seed, api, values) = setup(dir.path()).await;
    let real_key = seed.gw.key.to_string();
    let before = snapshot(&server).await;
    let mut requests = 0;
    // Path and query parameters.
    for op in spec_operations() {
        for p in op
            .parameters
            .iter()
            .filter(|p| p.kind == "string" || p.kind == "enum")
        {
            for injection in INJECTIONS {
                let uri = values.uri(&op, Some((&p.name, injection)));
                let mut request = api.request(op.method.clone(), &uri);
                if op.has_body {
                    request = request
                        .header("content-type", "application/json")
                        .body(valid_body(&op));
                }
                let answer = api.send(request).await;
                let what = format!("{} {uri}", op.method);
                no_server_error(&answer, &what);
                assert!(!answer.text.contains(&real_key), "{what} leaked a key");
                // An injected ID names nothing: a list comes back empty,
                // a single resource is not found or refused.
                if answer.status == StatusCode::OK && p.location == "path" {
                    panic!("{what} answered 200 for an injected {}", p.name);
                }
                if answer.status == StatusCode::OK
                    && let Some(items) = answer.json["items"].as_array()
                    && ["device_id", "cursor", "state"].contains(&p.name.as_str())
                {
                    assert!(items.is_empty(), "{what}: {}", answer.text);
                }
                requests += 1;
            }
        }
    }
    // Body fields.
    let fields = body_string_fields();
    let mut stored_literally = Vec::new();
    let mut provisioned = 0;
    for op in spec_operations().into_iter().filter(|op| op.has_body) {
        let uri = values.uri(&op, None);
        for field in &fields[body_schema(&op)] {
            for injection in INJECTIONS {
                let mut body: Value = serde_json::from_str(valid_body(&op)).unwrap();
                body[field.as_str()] = json!(injection);
                let answer = api.json(op.method.clone(), &uri, &body.to_string()).await;
                let what = format!("{} {uri} {field}={injection:?}", op.method);
                no_server_error(&answer, &what);
                if answer.status == StatusCode::CREATED && op.path == "/api/v1/provisioning" {
                    provisioned += 1;
                    if field == "auth_id" {
                        stored_literally.push((*injection).to_owned());
                    }
                }
                requests += 1;
            }
        }
    }
    assert!(requests > 200, "{requests}");
    // What was created holds the hostile text as plain text, and nothing
    // else moved: every other table has the rows it had.
    let after = snapshot(&server).await;
    for (table, n) in &before {
        match table.as_str() {
            "provisioning" => assert_eq!(after[table], n + provisioned, "only the 201s added rows"),
            "profiles" | "controls" | "control_events" | "webhooks" => {
                assert!(after[table] >= *n)
            }
            _ => assert_eq!(after[table], *n, "{table}"),
        }
    }
    let listed = api.get("/api/v1/provisioning?limit=1000").await;
    for text in &stored_literally {
        assert!(
            listed.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["auth_id"] == text.as_str()),
            "{text:?} not stored as given"
        );
    }
    // The gateway still delivers and reads back.
    assert_eq!(
        tcp_api::deliver_skipping_pushes(&mut seed.gw, b"after injections").await,
        gmmp_codec::ResultCode::OK
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_input_is_a_4xx_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _seed, api, values) = setup(dir.path()).await;
    let spec = spec();
    // A wrong JSON type for every field of every body: 400 naming it.
    for op in spec_operations().into_iter().filter(|op| op.has_body) {
        let uri = values.uri(&op, None);
        let schema = &spec["components"]["schemas"][body_schema(&op)];
        for (field, s) in schema["properties"].as_mapping().unwrap() {
            let field = field.as_str().unwrap();
            // `type: [T, 'null']`: null is a value, a number is wrong for
            // an array or a string alike.
            let nullable = s["type"]
                .as_sequence()
                .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("null")));
            let wrong = match s["type"].as_str() {
                Some("string") => json!(12345),
                Some("integer") => json!("12"),
                _ if nullable => json!(12345),
                _ => json!([true]),
            };
            let mut body: Value = serde_json::from_str(valid_body(&op)).unwrap();
            body[field] = wrong.clone();
            api.json(op.method.clone(), &uri, &body.to_string())
                .await
                .assert_field(StatusCode::BAD_REQUEST, field);
            if nullable {
                continue;
            }
            // null is a wrong type too.
            body[field] = Value::Null;
            let answer = api.json(op.method.clone(), &uri, &body.to_string()).await;
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{field}: {}",
                answer.text
            );
        }
        // Not JSON, not an object, not UTF-8, nested past the depth limit,
        // numbers no integer can hold.
        let deep = "[".repeat(50_000);
        for body in [
            "".to_owned(),
            "not json".to_owned(),
            "[]".to_owned(),
            "\"text\"".to_owned(),
            deep,
        ] {
            let answer = api.json(op.method.clone(), &uri, &body).await;
            answer.assert_field(StatusCode::BAD_REQUEST, "body");
        }
        let answer = api
            .send(
                api.request(op.method.clone(), &uri)
                    .header("content-type", "application/json")
                    .body(vec![b'{', 0xff, 0xfe, b'}']),
            )
            .await;
        answer.assert_field(StatusCode::BAD_REQUEST, "body");
    }
    let profile = format!("/api/v1/gateways/{}/profile", values.gw_id);
    // (1e400 is not a number serde_json can read: 400 naming `body`.)
    api.json(Method::PUT, &profile, r#"{"report_period":1e400}"#)
        .await
        .assert_field(StatusCode::BAD_REQUEST, "body");
    for number in ["-0.5", "18446744073709551616", "1.5", "-1e300"] {
        let answer = api
            .json(
                Method::PUT,
                &profile,
                &format!(r#"{{"report_period":{number}}}"#),
            )
            .await;
        assert!(
            [400, 422].contains(&answer.status.as_u16()),
            "{number}: {}",
            answer.text
        );
        assert_eq!(answer.field(), "report_period", "{number}: {}", answer.text);
    }
    // Bad Base64 in control data: 422 naming `data`.
    let controls = format!("/api/v1/gateways/{}/controls", values.gw_id);
    for data in ["A", "AB=", "====", "AB$D", "QUJD\n", "QUJD RA==", "ü"] {
        let body = json!({ "control_type": "reset", "data": data }).to_string();
        api.json(Method::POST, &controls, &body)
            .await
            .assert_field(StatusCode::UNPROCESSABLE_ENTITY, "data");
    }
    // Bad cursors on every paged list: 400 naming `cursor`.
    let cursor_ops: Vec<Operation> = spec_operations()
        .into_iter()
        .filter(|op| op.parameters.iter().any(|p| p.name == "cursor"))
        .collect();
    assert_eq!(cursor_ops.len(), 8, "{cursor_ops:?}");
    let long = "A".repeat(201);
    for op in &cursor_ops {
        for cursor in ["x", "AAAA", "eyJpZCI6MX0", "-1", "%FF%FE", long.as_str()] {
            let uri = values.uri(op, Some(("cursor", cursor)));
            api.get(&uri)
                .await
                .assert_field(StatusCode::BAD_REQUEST, "cursor");
        }
    }
    // A cursor of one list is not accepted by another.
    let page = api
        .get(&format!(
            "/api/v1/gateways/{}/deliveries?limit=1",
            values.gw_id
        ))
        .await;
    let cursor = page.json["next_cursor"].as_str().unwrap().to_owned();
    api.get(&format!("/api/v1/gateways?cursor={cursor}"))
        .await
        .assert_field(StatusCode::BAD_REQUEST, "cursor");
    // Integer and boolean query parameters of the wrong type.
    for op in spec_operations() {
        for p in op
            .parameters
            .iter()
            .filter(|p| p.location == "query" && (p.kind == "integer" || p.kind == "boolean"))
        {
            for bad in ["abc", "-1", "1.5", "99999999999999999999", ""] {
                if p.kind == "integer" && bad.is_empty() {
                    continue;
                }
                let uri = values.uri(&op, Some((&p.name, bad)));
                let mut request = api.request(op.method.clone(), &uri);
                if op.has_body {
                    request = request
                        .header("content-type", "application/json")
                        .body(valid_body(&op));
                }
                api.send(request)
                    .await
                    .assert_field(StatusCode::BAD_REQUEST, &p.name);
            }
        }
    }
    // Many requests at once on the same key do not trip anything.
    let burst = (0..200).map(|_| api.get("/api/v1/gateways"));
    for answer in futures::future::join_all(burst).await {
        assert_eq!(answer.status, StatusCode::OK);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_stops_coming_is_cut_at_the_body_deadline() {
    use axum::body::{Body, Bytes};
    let app = http_support::TestApp::with_config(|c| {
        c.http_body_deadline = std::time::Duration::from_millis(200);
    })
    .await;
    // Ten bytes of a declared hundred, then nothing, ever.
    let first: Result<Bytes, std::io::Error> = Ok(Bytes::from_static(b"{\"auth_id\""));
    let stream = futures::stream::iter([first]).chain(futures::stream::pending());
    let request = axum::http::Request::post("/api/v1/provisioning")
        .header("authorization", format!("Bearer {}", http_support::KEY))
        .header("content-type", "application/json")
        .header("content-length", "100")
        .body(Body::from_stream(stream))
        .unwrap();
    let answer = tokio::time::timeout(common::GUARD, app.request(request))
        .await
        .expect("answered once the deadline passed");
    assert_eq!(
        answer.status,
        axum::http::StatusCode::BAD_REQUEST,
        "{}",
        answer.text
    );
    assert_eq!(answer.code(), "bad_request");
}
