//! A silent event stream lives past the HTTP request deadline on its
//! keep-alive comments. The stream runs on the server's outbound runtime,
//! whose clock a test cannot pause: the deadline is made short instead,
//! and the test waits one keep-alive period past it in real time.

mod answer;
mod http_support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use http_support::{KEY, TestApp};
use omp_server::http::events::sse::KEEP_ALIVE;
use tower::ServiceExt;

#[tokio::test]
async fn a_silent_stream_outlives_the_request_deadline_on_keep_alives() {
    let app = TestApp::with_config(|c| c.http_request_deadline = Duration::from_secs(2)).await;
    let request = Request::get("/api/v1/events")
        .header("authorization", format!("Bearer {KEY}"))
        .header("accept", "text/event-stream")
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let deadline = app.state.config.http_request_deadline;
    assert!(KEEP_ALIVE * 4 < app.state.config.http_idle_timeout);
    let mut body = response.into_body().into_data_stream();
    let started = tokio::time::Instant::now();
    let mut keep_alives = 0;
    while started.elapsed() <= deadline + KEEP_ALIVE {
        let chunk = body.next().await.expect("the stream goes on").unwrap();
        assert_eq!(&chunk[..], b": keep-alive\n\n");
        keep_alives += 1;
    }
    assert!(keep_alives > deadline.as_secs() / KEEP_ALIVE.as_secs());
}
