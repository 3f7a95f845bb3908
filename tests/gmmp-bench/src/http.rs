//! [`ApiClient`]: the few calls of the OMP's HTTP API
//! (`openapi/openapi.yaml`) the `control`, `api` and `events` scenarios
//! make.
//!
//! reqwest with its default features off — no TLS, no HTTP/2, no system
//! proxy lookup — is a pooled hyper-util client over plain HTTP/1.1 with
//! JSON helpers. A bare hyper client would save a little CPU per request
//! but needs its own pool, body collection and error plumbing; at the rates
//! the benchmarks aim at (1,000 controls/s, 20,000 reads/s) the bench's cost per
//! request is small next to the server's, and the `wrk` command in
//! BENCHMARKS.md gives a client-independent cross-check for `api`.

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;

use crate::error::BenchError;

/// A control as the API shows it (the fields the bench reads).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ControlView {
    /// Its id.
    pub id: i64,
    /// QUEUED, SENT, PROGRESS, SUCCESS, FAILED, TIMEOUT, EXPIRED, CANCELLED.
    pub state: String,
    /// The OMP T-ID once sent.
    #[serde(default)]
    pub tid: Option<i64>,
}

impl ControlView {
    /// True once the state can no longer change.
    pub fn is_final(&self) -> bool {
        matches!(
            self.state.as_str(),
            "SUCCESS" | "FAILED" | "TIMEOUT" | "EXPIRED" | "CANCELLED"
        )
    }
}

/// A webhook as the API shows it (the fields the bench reads).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct WebhookView {
    /// Its id.
    pub id: i64,
    /// The last event id it has passed.
    pub cursor: i64,
}

/// A client for one OMP's API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    client: reqwest::Client,
    base: String,
    auth: String,
}

impl ApiClient {
    /// A client for `base` (`http://127.0.0.1:8080`) sending `api_key`,
    /// keeping up to `pool` idle connections.
    pub fn new(base: &str, api_key: &str, pool: usize) -> Result<Self, BenchError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(pool)
            .timeout(Duration::from_secs(70))
            .build()
            .map_err(|e| BenchError::Http {
                method: "-",
                url: base.to_string(),
                detail: format!("client setup: {e}"),
            })?;
        Ok(ApiClient {
            client,
            base: base.trim_end_matches('/').to_string(),
            auth: format!("Bearer {api_key}"),
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST /api/v1/gateways/{gw_id}/controls`; expects 202.
    pub async fn post_control(
        &self,
        gw_id: &str,
        control_type: u8,
        data_base64: &str,
    ) -> Result<ControlView, BenchError> {
        let url = format!("{}/api/v1/gateways/{gw_id}/controls", self.base);
        let body = serde_json::json!({ "control_type": control_type, "data": data_base64 });
        let response = self.send(Method::POST, &url, Some(&body)).await?;
        read_json(response, "POST", &url, 202).await
    }

    /// `GET /api/v1/controls/{id}[?wait=N]`; expects 200.
    pub async fn get_control(&self, id: i64, wait: Option<u64>) -> Result<ControlView, BenchError> {
        let url = match wait {
            Some(w) => format!("{}/api/v1/controls/{id}?wait={w}", self.base),
            None => format!("{}/api/v1/controls/{id}", self.base),
        };
        let response = self.send(Method::GET, &url, None).await?;
        read_json(response, "GET", &url, 200).await
    }

    /// `method` `url` with the API key and, when given, a JSON body.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response, BenchError> {
        let name = match method {
            Method::POST => "POST",
            Method::DELETE => "DELETE",
            _ => "GET",
        };
        let mut request = self
            .client
            .request(method, url)
            .header("authorization", &self.auth);
        if let Some(body) = body {
            request = request.json(body);
        }
        request
            .send()
            .await
            .map_err(|e| http_err(name, url, e.to_string()))
    }

    /// The `Authorization` header value it sends.
    pub fn authorization(&self) -> &str {
        &self.auth
    }

    /// `POST /api/v1/webhooks` for `url`, delivering the events after
    /// `from` (the committed head when `None`); expects 201.
    pub async fn create_webhook(
        &self,
        url: &str,
        from: Option<i64>,
    ) -> Result<WebhookView, BenchError> {
        let endpoint = format!("{}/api/v1/webhooks", self.base);
        let mut body = serde_json::json!({ "url": url, "secret": "gmmp-bench" });
        if let Some(from) = from {
            body["from"] = from.into();
        }
        let response = self.send(Method::POST, &endpoint, Some(&body)).await?;
        read_json(response, "POST", &endpoint, 201).await
    }

    /// `DELETE /api/v1/webhooks/{id}`; expects 204.
    pub async fn delete_webhook(&self, id: i64) -> Result<(), BenchError> {
        let url = format!("{}/api/v1/webhooks/{id}", self.base);
        let response = self.send(Method::DELETE, &url, None).await?;
        let status = response.status().as_u16();
        if status != 204 {
            return Err(http_err(
                "DELETE",
                &url,
                format!("status {status} (expected 204)"),
            ));
        }
        Ok(())
    }

    /// The outbox's committed head: `omp_events_last_id` of `/metrics`.
    pub async fn events_head(&self) -> Result<i64, BenchError> {
        let url = format!("{}/metrics", self.base);
        let response = self.send(Method::GET, &url, None).await?;
        let text = response
            .text()
            .await
            .map_err(|e| http_err("GET", &url, format!("reading body: {e}")))?;
        text.lines()
            .find_map(|line| line.strip_prefix("omp_events_last_id "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as i64)
            .ok_or_else(|| http_err("GET", &url, "no omp_events_last_id line".into()))
    }

    /// `GET {path}` (path starts with `/`); the body is read and dropped.
    /// Returns the status code.
    pub async fn get_status(&self, path: &str) -> Result<u16, BenchError> {
        let url = format!("{}{path}", self.base);
        let response = self.send(Method::GET, &url, None).await?;
        let status = response.status().as_u16();
        response
            .bytes()
            .await
            .map_err(|e| http_err("GET", &url, format!("reading body: {e}")))?;
        Ok(status)
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    method: &'static str,
    url: &str,
    expected: u16,
) -> Result<T, BenchError> {
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| http_err(method, url, format!("reading body: {e}")))?;
    if status != expected {
        return Err(http_err(
            method,
            url,
            format!(
                "status {status} (expected {expected}): {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ),
        ));
    }
    serde_json::from_slice(&body).map_err(|e| {
        http_err(
            method,
            url,
            format!(
                "unexpected body ({e}): {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ),
        )
    })
}

fn http_err(method: &'static str, url: &str, detail: String) -> BenchError {
    BenchError::Http {
        method,
        url: url.to_string(),
        detail,
    }
}
