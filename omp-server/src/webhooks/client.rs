//! The HTTP client of webhook deliveries: hyper over rustls (ring, the
//! platform's root certificates), HTTP/1.1, plain `http` too. The
//! connector (TLS settings, roots) is built once; a client per delivery
//! task, so receivers share no connection pool. Redirects are
//! not followed: a signed POST is not re-sent elsewhere.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, Method, Request, Uri, header};
use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A POST to send: its headers besides `Content-Type`.
pub struct Post<'a> {
    /// The receiver.
    pub url: &'a str,
    /// `(name, value)` pairs.
    pub headers: &'a [(&'static str, String)],
    /// The JSON body.
    pub body: Bytes,
}

/// The connector every webhook client is built on: the TLS settings and
/// the platform's root certificates, read once. Cloning it is cheap (the
/// rustls configuration is shared); each client still has its own pool.
pub type Connector = HttpsConnector<HttpConnector>;

/// Builds the [`Connector`] whose connections give up after `timeout`;
/// an error only if rustls refuses its own default protocol versions.
pub fn connector(timeout: Duration) -> Result<Connector, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(timeout));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider.clone())
    {
        Ok(builder) => builder,
        Err(e) => {
            // Plain http receivers still work; https ones fail with a
            // certificate error shown in `last_error`.
            tracing::warn!(error = %e, "webhooks: no root certificates found; https receivers will fail");
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS configuration: {e}"))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    Ok(builder.https_or_http().enable_http1().wrap_connector(http))
}

/// A client with a per-request time limit.
pub struct WebhookClient {
    inner: Client<Connector, Full<Bytes>>,
    timeout: Duration,
}

impl WebhookClient {
    /// A client on `connector` whose requests (connect included) end
    /// after `timeout`, with a connection pool of its own.
    pub fn new(connector: Connector, timeout: Duration) -> WebhookClient {
        WebhookClient {
            inner: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    /// Sends `post`; the answer's status, or the error as text.
    pub async fn post(&self, post: Post<'_>) -> Result<u16, String> {
        let uri: Uri = post
            .url
            .parse()
            .map_err(|e| format!("bad URL {:?}: {e}", post.url))?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                HeaderValue::from_static(concat!("omp-server/", env!("CARGO_PKG_VERSION"))),
            );
        for (name, value) in post.headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(post.body))
            .map_err(|e| format!("request not built: {e}"))?;
        match tokio::time::timeout(self.timeout, self.inner.request(request)).await {
            Err(_) => Err(format!(
                "timed out: no answer within {}",
                humantime::format_duration(self.timeout)
            )),
            Ok(Err(e)) => Err(describe(&e)),
            Ok(Ok(response)) => Ok(response.status().as_u16()),
        }
    }
}

/// An error with its causes (hyper's own text omits them).
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
