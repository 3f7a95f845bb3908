//! The Mosquitto command-line clients (`mosquitto_pub`, `mosquitto_sub`,
//! Debian package `mosquitto-clients`) as the tests run them, and the HTTP
//! reads that check what they sent.
//!
//! A missing client fails the test when `CI=true` (`.ci/run` installs
//! the package); elsewhere the test is skipped with the reason printed.

use std::path::PathBuf;
use std::process::{Output, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::common::{GUARD, TestServer};

/// The key the tests give the HTTP API.
pub const KEY: &str = "mosquitto-interop-test-key-0123456789abcdef";

/// `name` found on `PATH`; `None` (reason printed) outside CI when it is
/// missing. Panics in CI, where a skipped interop test would be a lie.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => Some(path),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "{name} is not installed but CI=true: install the Debian package mosquitto-clients \
             (.ci/run does)"
        ),
        None => {
            eprintln!(
                "skipping: {name} is not installed (apt-get install mosquitto-clients); \
                 with CI=true this fails"
            );
            None
        }
    }
}

/// Runs `program` with `args` to its end (within the guard).
pub async fn run(program: &PathBuf, args: &[&str]) -> Output {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let out = tokio::time::timeout(GUARD, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} did not finish", program.display()))
        .unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}\nstdout: {}\nstderr: {}",
        program.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts `program` with `args`, its output piped, killed when dropped.
pub fn spawn(program: &PathBuf, args: &[&str]) -> Child {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

/// Waits (within the guard) until `client_id` has no session.
pub async fn wait_disconnected(server: &TestServer, client_id: &str) {
    tokio::time::timeout(GUARD, async {
        while server.state.mqtt.router.is_connected(client_id) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{client_id} disconnected within the guard"));
}

/// A stored message as the HTTP API answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiMessage {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u64,
    pub retain: bool,
}

/// The HTTP API of a test server.
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(server: &TestServer) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: format!("http://{}", server.http_addr),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The messages of `client_id`, oldest first, read through
    /// `GET /api/v1/mqtt/devices/{client_id}/messages`.
    pub async fn messages(&self, client_id: &str) -> Vec<ApiMessage> {
        let path = format!(
            "/api/v1/mqtt/devices/{}/messages?limit=1000",
            urlencoding(client_id)
        );
        let (status, body) = self.get(&path).await;
        if status == 404 {
            return Vec::new();
        }
        assert_eq!(status, 200, "{body}");
        let mut items: Vec<ApiMessage> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| ApiMessage {
                topic: m["topic"].as_str().unwrap().to_owned(),
                payload: STANDARD.decode(m["content"].as_str().unwrap()).unwrap(),
                qos: m["qos"].as_u64().unwrap(),
                retain: m["retain"].as_bool().unwrap(),
            })
            .collect();
        items.reverse();
        items
    }

    /// Waits (within the guard) until `client_id` has `n` messages.
    pub async fn wait_for_messages(&self, client_id: &str, n: usize) -> Vec<ApiMessage> {
        tokio::time::timeout(GUARD, async {
            loop {
                let m = self.messages(client_id).await;
                if m.len() >= n {
                    return m;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} messages of {client_id} within the guard"))
    }
}

impl Api {
    /// Control `id` once it is in `state` (fails if it ends otherwise).
    pub async fn control_reaches(&self, id: i64, state: &str) -> Value {
        tokio::time::timeout(GUARD, async {
            loop {
                let (status, c) = self.get(&format!("/api/v1/controls/{id}?wait=1")).await;
                assert_eq!(status, 200, "{c}");
                if c["state"] == state {
                    return c;
                }
                let now = c["state"].as_str().unwrap_or_default();
                assert!(
                    !["SUCCESS", "FAILED", "TIMEOUT", "EXPIRED", "CANCELLED"].contains(&now),
                    "control {id} ended {now} instead of {state}: {c}"
                );
            }
        })
        .await
        .unwrap_or_else(|_| panic!("control {id} not {state} within the guard"))
    }

    /// Waits (within the guard) until `/metrics` has the sample `line`.
    pub async fn wait_for_metric(&self, line: &str) {
        let mut last = String::new();
        let found = tokio::time::timeout(GUARD, async {
            loop {
                last = self.metrics().await;
                if last.lines().any(|l| l == line) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(found.is_ok(), "/metrics never showed `{line}`:\n{last}");
    }
}

/// `s` percent-encoded for a path segment.
pub fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
