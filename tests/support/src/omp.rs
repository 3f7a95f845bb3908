//! The real omp-server started in-process with open provisioning, and a
//! minimal HTTP client for its API.

use std::net::SocketAddr;
use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::wait::GUARD;

/// The real OMP, in-process, open provisioning.
pub struct Omp {
    pub server: Option<omp_server::RunningServer>,
    pub shutdown: CancellationToken,
    pub gmmp_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub state: std::sync::Arc<omp_server::Shared>,
}

/// Starts omp-server on `gmmp` (`127.0.0.1:0` for a fresh port) with its
/// data in `dir`.
pub async fn start_omp(dir: &Path, gmmp: SocketAddr) -> Omp {
    let mut config = omp_server::Config::defaults();
    config.gmmp_listen = gmmp;
    config.http_listen = "127.0.0.1:0".parse().unwrap();
    config.mqtt_listen = None;
    config.mqtts_listen = None;
    config.data_dir = dir.to_owned();
    config.provisioning = omp_server::ProvisioningMode::Open;
    let shutdown = CancellationToken::new();
    let server = omp_server::run(config, shutdown.clone()).await.unwrap();
    Omp {
        gmmp_addr: server.gmmp_addr,
        http_addr: server.http_addr,
        state: server.state.clone(),
        server: Some(server),
        shutdown,
    }
}

impl Omp {
    /// Stops the server (sessions closed, store drained).
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            tokio::time::timeout(GUARD, server.wait())
                .await
                .unwrap()
                .unwrap();
        }
    }

    /// The stored payloads of `gw_id`, oldest first.
    pub async fn payloads(&self, gw_id: &str) -> Vec<String> {
        omp_server::store::deliveries::latest(&self.state.db, gw_id, 1000)
            .await
            .unwrap()
            .iter()
            .rev()
            .map(|d| String::from_utf8_lossy(&d.payload).into_owned())
            .collect()
    }

    /// The active gateways: (gw_id, auth_id).
    pub async fn gateways(&self) -> Vec<(String, String)> {
        omp_server::store::gateways::load_active(&self.state.db)
            .await
            .unwrap()
            .into_iter()
            .map(|g| (g.gw_id, g.auth_id))
            .collect()
    }

    /// `GET path` on the HTTP API with the server's key; the JSON body.
    pub async fn get(&self, dir: &Path, path: &str) -> serde_json::Value {
        let key = std::fs::read_to_string(dir.join("api-key")).unwrap();
        http_get(self.http_addr, path, key.trim()).await
    }

    /// Asks for a control through the HTTP API and waits for it to end;
    /// the control's JSON.
    pub async fn control(&self, dir: &Path, gw_id: &str, control_type: &str) -> serde_json::Value {
        let key = std::fs::read_to_string(dir.join("api-key")).unwrap();
        let key = key.trim();
        let body = serde_json::json!({ "control_type": control_type });
        let path = format!("/api/v1/gateways/{gw_id}/controls");
        let (status, created) = http(self.http_addr, "POST", &path, key, Some(&body)).await;
        assert_eq!(status, 202, "{created}");
        let id = created["id"].as_i64().unwrap();
        let mut control = created;
        let deadline = tokio::time::Instant::now() + GUARD;
        while ["QUEUED", "SENT", "PROGRESS"].contains(&control["state"].as_str().unwrap_or("")) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "control still {control}"
            );
            control = http_get(
                self.http_addr,
                &format!("/api/v1/controls/{id}?wait=5"),
                key,
            )
            .await;
        }
        control
    }
}

/// A minimal HTTP/1.1 GET (the API answers with a Content-Length body).
pub async fn http_get(addr: SocketAddr, path: &str, key: &str) -> serde_json::Value {
    let (status, body) = http(addr, "GET", path, key, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// One HTTP/1.1 request with an optional JSON body; (status, JSON body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(GUARD * 2, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}
