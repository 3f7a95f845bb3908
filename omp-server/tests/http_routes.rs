//! The router against the contract: same routes, auth on every protected
//! route, JSON 404 / 405, the open service routes and `/metrics`.

mod answer;
mod http_support;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_support::{KEY, TestApp};
use omp_server::http::{ROUTES, Route};

/// Every route the router serves.
fn routes() -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().chain(omp_server::http::mqtt::ROUTES)
}

fn spec() -> serde_norway::Value {
    serde_norway::from_str(omp_server::http::service::OPENAPI_YAML).unwrap()
}

/// (METHOD, path) of every operation of the contract.
fn spec_routes() -> BTreeSet<(String, String)> {
    let spec = spec();
    let paths = spec["paths"].as_mapping().unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for (key, _) in item.as_mapping().unwrap() {
            let key = key.as_str().unwrap();
            if [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&key)
            {
                out.insert((key.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    out
}

/// The query parameters the contract gives each operation.
fn spec_query(method: &str, path: &str) -> BTreeSet<String> {
    let spec = spec();
    let item = &spec["paths"][path];
    let operation = &item[method.to_lowercase().as_str()];
    let resolve = |p: &serde_norway::Value| match p["$ref"].as_str() {
        Some(r) => spec["components"]["parameters"][r.rsplit('/').next().unwrap()].clone(),
        None => p.clone(),
    };
    [&item["parameters"], &operation["parameters"]]
        .into_iter()
        .filter_map(|ps| ps.as_sequence())
        .flatten()
        .map(resolve)
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_route_takes_the_query_parameters_of_the_contract() {
    for route in routes() {
        let ours: BTreeSet<String> = route.query.iter().map(|q| q.to_string()).collect();
        assert_eq!(ours, spec_query(route.method, route.path), "{route:?}");
    }
}

#[tokio::test]
async fn a_misspelled_query_parameter_is_refused_naming_it() {
    let app = TestApp::new().await;
    let typo = app.get("/api/v1/gateways?limt=5").await;
    typo.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(typo.field(), "limt", "{}", typo.text);
    assert!(typo.text.contains("did you mean `limit`"), "{}", typo.text);
    let none = app.get("/api/v1/gateways/SC10010254?wait=5").await;
    none.assert_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(none.field(), "wait", "{}", none.text);
    let fine = app.get("/api/v1/gateways?limit=5&connected=true").await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.text);
}

#[test]
fn router_routes_are_the_contract_operations() {
    let ours: BTreeSet<(String, String)> = routes()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(ours.len(), routes().count(), "a route is listed twice");
    assert_eq!(ours, spec_routes());
}

/// A concrete URI for a route template.
fn concrete(path: &str) -> String {
    path.replace("{gw_id}", "SC10010254")
        .replace("{device_id}", "AD10014858")
        .replace("{auth_id}", "0008dc1e3222")
        .replace("{id}", "1")
        .replace("{client_id}", "39599428")
}

fn is_open(path: &str) -> bool {
    path == "/healthz" || path == "/openapi.yaml"
}

#[tokio::test]
async fn every_protected_route_refuses_a_missing_or_wrong_key() {
    let app = TestApp::new().await;
    app.add_gateway("SC10010254", "0008dc1e3222").await;
    // Same length as the key, one byte different.
    let mut near = KEY.as_bytes().to_vec();
    near[5] ^= 0x01;
    let near = String::from_utf8(near).unwrap();
    let headers: [Option<String>; 5] = [
        None,
        Some("Bearer wrong".into()),
        Some(format!("Bearer {near}")),
        Some(format!("Basic {KEY}")),
        Some(format!("Bearer {KEY}x")),
    ];
    let before = app.counts().await;
    for route in routes().filter(|r| !is_open(r.path)) {
        for header in &headers {
            let mut request = Request::builder()
                .method(route.method)
                .uri(concrete(route.path))
                .header("content-type", "application/json");
            if let Some(h) = header {
                request = request.header("authorization", h);
            }
            let answer = app
                .request(
                    request
                        .body(Body::from("{\"control_type\":\"reset\"}"))
                        .unwrap(),
                )
                .await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{route:?} with {header:?}"
            );
            assert_eq!(answer.code(), "unauthorized");
            assert!(!answer.text.contains(KEY));
        }
    }
    assert_eq!(
        app.counts().await,
        before,
        "a refused request changed the database"
    );
}

#[tokio::test]
async fn every_route_answers_with_the_key() {
    let app = TestApp::new().await;
    for route in routes() {
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let answer = app.call(method, &concrete(route.path)).await;
        // Without data most answer 404 (no such gateway) or 415 (no body);
        // what matters is the key got them past the auth layer.
        assert_ne!(answer.status, StatusCode::UNAUTHORIZED, "{route:?}");
        assert!(answer.status.as_u16() < 500, "{route:?}: {}", answer.status);
    }
}

#[tokio::test]
async fn open_routes_need_no_key() {
    let app = TestApp::new().await;
    let health = app
        .request(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(
        health.json,
        serde_json::json!({ "status": "ok", "sessions": 0 })
    );

    let spec = app
        .request(Request::get("/openapi.yaml").body(Body::empty()).unwrap())
        .await;
    assert_eq!(spec.status, StatusCode::OK);
    assert_eq!(spec.headers["content-type"], "application/yaml");
    assert_eq!(spec.text, omp_server::http::service::OPENAPI_YAML);
}

#[tokio::test]
async fn health_is_503_when_the_database_is_closed() {
    let app = TestApp::new().await;
    app.pool.close().await;
    let health = app
        .request(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.code(), "unavailable");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::new().await;
    let unknown = app.get("/api/v1/nothing-here").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "not_found");

    let open_unknown = app
        .request(Request::get("/favicon.ico").body(Body::empty()).unwrap())
        .await;
    assert_eq!(open_unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(open_unknown.code(), "not_found");

    let wrong = app.call(Method::PATCH, "/api/v1/gateways/SC10010254").await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.code(), "bad_request");
    assert_eq!(wrong.headers["allow"], "GET,HEAD");

    let wrong = app.call(Method::DELETE, "/healthz").await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong.json["error"]["message"].is_string());
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = TestApp::new().await;
    app.connect("SC10010254", "10.0.0.9:4000".parse().unwrap());
    app.get("/api/v1/gateways/SC10010254").await;
    app.get("/api/v1/gateways/SC10010999").await;
    app.request(
        Request::get("/api/v1/gateways")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        metrics.text.contains(
            "omp_http_requests_total{method=\"GET\",route=\"/api/v1/gateways/{gw_id}\",status=\"404\"} 2"
        ),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains(
        "omp_http_requests_total{method=\"GET\",route=\"/api/v1/gateways\",status=\"401\"} 1"
    ));
    assert!(metrics.text.contains("omp_gmmp_sessions 1"));
}
