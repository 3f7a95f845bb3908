//! The Server-Sent Events side of `GET /api/v1/events`: a streamed body
//! that reads the outbox from its own cursor, a page at a time, as fast
//! as the client takes it.
//!
//! ```text
//! id: 42
//! event: delivery
//! data: {"at":"…","data":{…},"device_id":null,"gw_id":"SC10010001","id":42,"kind":"delivery"}
//!
//! : keep-alive
//! ```
//!
//! Streams near the head take their frames from the shared ring of
//! [`super::fanout`] (read and rendered once for all of them); one
//! further behind reads the table itself until it has caught up. Each
//! stream's reading runs on the outbound runtime ([`crate::outbound`])
//! and hands its chunks over a one-chunk channel that hyper drains only
//! while the socket takes bytes, so a slow reader holds a page or two in
//! memory and costs the writer nothing; it
//! falls behind in the table, never out of it. A client that reconnects
//! with `Last-Event-ID` gets every event after that id (matching its
//! filter), none twice. When nothing comes a comment every
//! [`KEEP_ALIVE`] keeps the connection inside the HTTP idle limit
//! (`http_idle_timeout`, over 60 s); `http_request_deadline` bounds the
//! handler up to the response head only, so it does not end a stream.
//! The stream ends when the server stops, or on a database error (the
//! client reconnects from its last id).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::EventBody;
use super::fanout::{Fanout, StreamGuard, Taken};
use crate::error::StoreError;
use crate::state::Shared;
use crate::store::events::{self, EventFilter, StoredEvent};

/// How often a silent stream sends a comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events read per page.
const PAGE: i64 = 200;
/// Longest wait for the shared ring before a stream reads the table.
const RING_LAG: Duration = Duration::from_secs(1);
/// The keep-alive comment.
const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";

/// One event as an SSE frame (`id`, `event`, `data`).
pub(super) fn frame(out: &mut Vec<u8>, event: EventBody) {
    out.extend_from_slice(
        format!("id: {}\nevent: {}\ndata: ", event.id(), event.kind()).as_bytes(),
    );
    // Compact JSON has no line breaks, so one `data:` line holds it.
    let _ = serde_json::to_writer(&mut *out, &event);
    out.extend_from_slice(b"\n\n");
}

/// One stream's reading state.
struct Tail {
    state: Arc<Shared>,
    filter: EventFilter,
    /// Every matching event up to here has been sent.
    cursor: i64,
    head: watch::Receiver<i64>,
    /// Wakes when the shared ring grows.
    covered: watch::Receiver<i64>,
    /// When a silent stream sends its next comment: moved on only by a
    /// chunk sent, not by a head that moved for events the filter skips.
    keep_alive_at: tokio::time::Instant,
    /// Counts the stream in `omp_events_sse_clients`.
    _open: StreamGuard,
}

impl Tail {
    /// The next chunk: a page of events, a keep-alive, or `None` once the
    /// server stops.
    async fn next(&mut self) -> Option<Result<Bytes, StoreError>> {
        loop {
            // Checked on every turn, not only while idle: a filtered stream
            // whose head keeps moving for events it skips would otherwise
            // send nothing at all.
            if tokio::time::Instant::now() >= self.keep_alive_at {
                self.keep_alive_at = tokio::time::Instant::now() + KEEP_ALIVE;
                return Some(Ok(Bytes::from_static(KEEP_ALIVE_FRAME)));
            }
            let head = *self.head.borrow_and_update();
            if self.cursor < head {
                match self
                    .state
                    .sse_fanout
                    .take(self.cursor, &self.filter, PAGE as usize)
                {
                    Taken::Frames(frames, next) => {
                        self.cursor = next;
                        if frames.is_empty() {
                            continue;
                        }
                        self.keep_alive_at = tokio::time::Instant::now() + KEEP_ALIVE;
                        return Some(Ok(frames));
                    }
                    Taken::Wait => {
                        let closed = self.state.events().closed().clone();
                        tokio::select! {
                            _ = self.covered.changed() => continue,
                            // The ring's task is stuck (the database):
                            // this stream reads the table meanwhile.
                            () = tokio::time::sleep(RING_LAG) => {}
                            () = closed.cancelled() => return None,
                        }
                    }
                    Taken::Outside => {}
                }
                let page =
                    events::page(&self.state.db, &self.filter, self.cursor, head, PAGE).await;
                let page = match page {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(error = %e, cursor = self.cursor,
                            "event stream ended: database error (the client resumes from its last id)");
                        return Some(Err(e));
                    }
                };
                self.cursor = page.scanned_to;
                if page.events.is_empty() {
                    continue;
                }
                self.keep_alive_at = tokio::time::Instant::now() + KEEP_ALIVE;
                return Some(Ok(frames(page.events)));
            }
            let closed = self.state.events().closed().clone();
            tokio::select! {
                changed = self.head.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = tokio::time::sleep_until(self.keep_alive_at) => {
                    self.keep_alive_at = tokio::time::Instant::now() + KEEP_ALIVE;
                    return Some(Ok(Bytes::from_static(KEEP_ALIVE_FRAME)));
                }
                () = closed.cancelled() => return None,
            }
        }
    }
}

fn frames(events: Vec<StoredEvent>) -> Bytes {
    let mut out = Vec::with_capacity(events.len() * 256);
    for event in events {
        frame(&mut out, EventBody::from(event));
    }
    Bytes::from(out)
}

/// The streamed response from `after`.
pub fn response(state: Arc<Shared>, filter: EventFilter, after: i64) -> Response {
    let mut tail = Tail {
        head: state.events().subscribe(),
        covered: state.sse_fanout.subscribe(),
        _open: Fanout::open(&state),
        keep_alive_at: tokio::time::Instant::now() + KEEP_ALIVE,
        state,
        filter,
        cursor: after,
    };
    // The stream is read and rendered on the outbound runtime; hyper's
    // connection task only moves its chunks to the socket. One chunk
    // waits in the channel at most, so a slow reader still holds one
    // page, and a closed connection (the receiver dropped) ends the task.
    let (chunks, rx) = mpsc::channel(1);
    tail.state.clone().outbound.spawn(async move {
        loop {
            let chunk = tokio::select! {
                chunk = tail.next() => chunk,
                () = chunks.closed() => return,
            };
            let Some(chunk) = chunk else { return };
            if chunks.send(chunk).await.is_err() {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((chunk, rx))
    });
    Response::builder()
        .header(CONTENT_TYPE, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache")
        .header("x-accel-buffering", "no")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}
