//! The HTTP listener against hostile connections, over raw TCP sockets
//! against the whole server:
//!
//! - a request with both `Transfer-Encoding` and `Content-Length` (the
//!   request-smuggling shape) is answered 400 JSON naming
//!   `Transfer-Encoding`, and nothing it carries is executed;
//! - a request head that stops half-way is closed at the header timeout;
//! - one address holding more half-sent requests than the server has
//!   connection places does not keep `/healthz` from another address;
//! - a request not answered within the request deadline gets 503.

mod answer;
mod common;
mod http_support;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const KEY: &str = "connections-test-key-8c1f";

/// Bound on the liveness check while the slots are taken: generous, it
/// says "answered", not "answered fast".
const HEALTHZ_BOUND: Duration = Duration::from_secs(15);

async fn server(
    tweak: impl FnOnce(&mut omp_server::Config),
) -> (common::TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = common::start(dir.path(), |c| {
        c.api_key = Some(KEY.into());
        tweak(c);
    })
    .await;
    (server, dir)
}

/// Everything the server sends until it closes the connection.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

async fn provisioned(server: &common::TestServer) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM provisioning")
        .fetch_one(server.state.db.as_sqlite().expect("a SQLite store"))
        .await
        .unwrap()
}

#[tokio::test]
async fn transfer_encoding_with_content_length_is_refused_and_nothing_runs() {
    let (server, _dir) = server(|_| {}).await;
    let before = provisioned(&server).await;
    // Read by its length, the body is `0\r\n\r\n`; read as chunks, the
    // empty chunk ends it and a second request to approve an auth ID
    // follows. Each order of the two headers.
    let smuggled = "POST /api/v1/provisioning HTTP/1.1\r\nHost: x\r\n\
        Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n\
        Content-Length: 24\r\n\r\n{\"auth_id\":\"smuggled01\"}";
    let smuggled = smuggled.replace("{KEY}", KEY);
    for headers in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 5",
    ] {
        let mut s = TcpStream::connect(server.http_addr).await.unwrap();
        let request = format!(
            "POST /api/v1/provisioning HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n\
             {headers}\r\n\r\n0\r\n\r\n{smuggled}"
        );
        s.write_all(request.as_bytes()).await.unwrap();
        let answer = tokio::time::timeout(common::GUARD, read_to_close(&mut s))
            .await
            .expect("answered and closed");
        assert!(answer.starts_with("HTTP/1.1 400 "), "{headers:?}: {answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
        let json: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("a JSON error ({e}): {answer}"));
        assert_eq!(json["error"]["field"], "Transfer-Encoding", "{answer}");
        assert_eq!(
            answer.matches("HTTP/1.1").count(),
            1,
            "one answer, the smuggled request not run: {answer}"
        );
    }
    assert_eq!(provisioned(&server).await, before, "nothing approved");

    // Either header alone is an ordinary request.
    for (framing, body) in [
        ("Content-Length: 24", "{\"auth_id\":\"lengthed01\"}"),
        (
            "Transfer-Encoding: chunked",
            "18\r\n{\"auth_id\":\"chunked001\"}\r\n0\r\n\r\n",
        ),
    ] {
        let mut s = TcpStream::connect(server.http_addr).await.unwrap();
        let request = format!(
            "POST /api/v1/provisioning HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n\
             Connection: close\r\n{framing}\r\n\r\n{body}"
        );
        s.write_all(request.as_bytes()).await.unwrap();
        let answer = tokio::time::timeout(common::GUARD, read_to_close(&mut s))
            .await
            .expect("answered");
        assert!(answer.starts_with("HTTP/1.1 201 "), "{framing}: {answer}");
    }
    assert_eq!(provisioned(&server).await, before + 2);
    server.stop().await;
}

#[tokio::test]
async fn a_half_sent_request_head_is_closed_at_the_header_timeout() {
    let (server, _dir) = server(|c| c.http_header_timeout = Duration::from_millis(300)).await;
    let mut s = TcpStream::connect(server.http_addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::timeout(common::GUARD, read_to_close(&mut s))
        .await
        .expect("closed at the header timeout, long before the idle limit");
    server.stop().await;
}

async fn connect_from(local: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{local}:0").parse().unwrap())?;
    socket.connect(to).await
}

async fn healthz_from(local: &str, to: SocketAddr) -> String {
    let mut s = connect_from(local, to).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    read_to_close(&mut s).await
}

#[tokio::test]
async fn one_address_full_of_half_sent_requests_leaves_healthz_to_another() {
    // The header timeout far away: only the per-address share can let
    // the second address in.
    let (server, _dir) = server(|c| c.http_header_timeout = Duration::from_secs(300)).await;
    let places = server.state.config.http_max_connections;
    let wanted = places + places / 10;
    let mut held = Vec::with_capacity(wanted);
    for _ in 0..wanted {
        let Ok(mut s) = connect_from("127.0.0.1", server.http_addr).await else {
            break;
        };
        // Refused connections may be closed already: a failed write is fine.
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
        held.push(s);
    }
    assert!(
        held.len() > places,
        "only {} connections opened",
        held.len()
    );

    // One more from the same address gets its share's refusal.
    let mut extra = connect_from("127.0.0.1", server.http_addr).await.unwrap();
    let refused = tokio::time::timeout(HEALTHZ_BOUND, read_to_close(&mut extra))
        .await
        .expect("refused, not left waiting");
    assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
    assert!(refused.contains("its share"), "{refused}");

    let answer = tokio::time::timeout(HEALTHZ_BOUND, healthz_from("127.0.0.2", server.http_addr))
        .await
        .expect("/healthz answered while 127.0.0.1 holds its share");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    drop(held);
    server.stop().await;
}

#[tokio::test]
async fn a_request_not_answered_within_the_request_deadline_gets_503() {
    use axum::body::{Body, Bytes};
    use futures::StreamExt;
    let app = http_support::TestApp::with_config(|c| {
        // Below what the settings allow, to see it fire: the body would be
        // waited for far longer.
        c.http_request_deadline = Duration::from_millis(200);
        c.http_body_deadline = Duration::from_secs(600);
    })
    .await;
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
        .expect("answered once the request deadline passed");
    assert_eq!(
        answer.status,
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text
    );
    assert_eq!(answer.code(), "unavailable");
}
