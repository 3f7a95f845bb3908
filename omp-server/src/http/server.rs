//! The HTTP API's accept loop: hyper's HTTP/1 connection with a timer, so
//! that its header-read timeout runs (`axum::serve` builds hyper without
//! one, and the timeout never fires there; see [`super::listener`]).
//!
//! - A request head must arrive whole within `header_timeout` of its first
//!   byte, and a keep-alive connection must start its next request within
//!   it; else hyper closes the connection. This is what frees the places
//!   half-sent requests hold long before the idle limit would.
//! - Each request's body framing comes from the connection's
//!   [`HeadScanner`](super::framing::HeadScanner): both `Transfer-Encoding`
//!   and `Content-Length` is answered 400 naming `Transfer-Encoding` (hyper
//!   closes such a connection after the answer); after a chunked request
//!   the connection is closed (`Connection: close`), as the scanner does
//!   not follow chunked bodies to the next head.
//! - Shutdown: no new connection is accepted, each open one finishes the
//!   request it is in (hyper's graceful shutdown), and after
//!   [`SHUTDOWN_GRACE`] the rest are dropped.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, Request};
use axum::response::IntoResponse;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::SHUTDOWN_GRACE;
use super::error::ApiError;
use super::framing::Framing;
use super::listener::{LimitedListener, LimitedStream};

/// Serves `router` on `listener` until `shutdown` fires, then lets
/// in-flight requests finish for up to [`SHUTDOWN_GRACE`].
pub async fn serve(
    mut listener: LimitedListener,
    router: Router,
    header_timeout: Duration,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connections = TaskTracker::new();
    let force = CancellationToken::new();
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        connections.spawn(connection(
            builder.clone(),
            stream,
            addr,
            router.clone(),
            shutdown.clone(),
            force.clone(),
        ));
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("HTTP API: requests still running after the shutdown grace; dropped");
        force.cancel();
        connections.wait().await;
    }
    Ok(())
}

/// One connection, until it ends, or until `shutdown` lets its request
/// finish, or until `force`.
async fn connection(
    builder: hyper::server::conn::http1::Builder,
    stream: LimitedStream,
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
    force: CancellationToken,
) {
    let heads = stream.heads();
    let api = TowerToHyperService::new(router);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let framing = heads.lock().unwrap_or_else(|e| e.into_inner()).next_head();
        let answer = (framing != Some(Framing::Conflicting)).then(|| api.call(request));
        async move {
            let Some(answer) = answer else {
                tracing::info!(%addr, "HTTP request with both Transfer-Encoding and Content-Length refused");
                return Ok::<_, std::convert::Infallible>(
                    ApiError::bad_request(
                        "Transfer-Encoding",
                        "a request may carry Transfer-Encoding or Content-Length, not both",
                    )
                    .into_response(),
                );
            };
            let mut response = answer.await?;
            if framing == Some(Framing::Chunked) {
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        }
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%addr, error = %e, "HTTP connection ended");
            }
            return;
        }
        () = shutdown.cancelled() => {}
        () = force.cancelled() => return,
    }
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn.as_mut() => {}
        () = force.cancelled() => {}
    }
}
