//! Helpers of the event tests: an SSE reader over reqwest (frames parsed
//! as they come) and the JSON pages of `GET /api/v1/events`.

#![allow(dead_code)]

use serde_json::Value;

use crate::common::GUARD;
use crate::tcp_api::{Api, KEY};

/// One SSE frame with an id.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

/// An open event stream.
pub struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    /// Opens `GET /api/v1/events{query}` as SSE, from `last_event_id`.
    pub async fn open(api: &Api, query: &str, last_event_id: Option<i64>) -> Stream {
        let mut request = api
            .client
            .get(format!("{}/api/v1/events{query}", api.base))
            .bearer_auth(KEY)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = tokio::time::timeout(GUARD, request.send())
            .await
            .expect("an answer in time")
            .expect("an HTTP answer");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next frame with an id (keep-alive comments skipped).
    pub async fn next(&mut self) -> Frame {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(frame) = parse(&block) {
                    return frame;
                }
                continue;
            }
            let chunk = tokio::time::timeout(GUARD, self.response.chunk())
                .await
                .expect("an event in time")
                .expect("the stream reads")
                .expect("the stream is open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next `n` frames.
    pub async fn take(&mut self, n: usize) -> Vec<Frame> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }
}

/// A frame of `id:`, `event:` and `data:` lines; `None` for a comment.
fn parse(block: &str) -> Option<Frame> {
    let (mut id, mut event, mut data) = (None, None, None);
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.parse().unwrap());
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = Some(serde_json::from_str(v).unwrap());
        } else {
            assert!(line.starts_with(':') || line.is_empty(), "{line:?}");
        }
    }
    Some(Frame {
        id: id?,
        event: event.expect("an event name"),
        data: data.expect("data"),
    })
}

/// Every event of `query` (JSON pages of `limit`), walked with
/// `next_after` until it stops moving.
pub async fn all(api: &Api, query: &str, limit: u32) -> Vec<Value> {
    let mut after = 0;
    let mut out = Vec::new();
    loop {
        let page = api
            .get(&format!(
                "/api/v1/events?after={after}&limit={limit}{query}"
            ))
            .await;
        assert_eq!(page.status, 200, "{}", page.text);
        let items = page.json["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        out.extend(items.iter().cloned());
        let next = page.json["next_after"].as_i64().unwrap();
        if next == after {
            return out;
        }
        after = next;
    }
}
