//! Readers of the live event stream (`GET /api/v1/events` as
//! Server-Sent Events): [`SseParser`] splits the bytes into events
//! and [`SseCounter`] only counts them (no IO, unit-tested), [`Stream`]
//! runs one reader as a task and counts what it read — and, for the latency phase, how long each delivery
//! took from its gateway's send to this reader.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::task::JoinHandle;

use crate::error::BenchError;
use crate::http::ApiClient;
use crate::latency::Latency;

/// One event of the stream: its `id:` and its `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` field.
    pub id: Option<i64>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

/// Splits an SSE byte stream into events at blank lines; comments
/// (`:` lines, the server's keep-alives) and blocks without data are
/// dropped.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
}

impl SseParser {
    /// Takes the next chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        // A block may end on the chunk's first byte: look from one back.
        let mut from = self.pending.len().saturating_sub(1);
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(at) = self.pending[from..].windows(2).position(|w| w == b"\n\n") {
            let end = from + at;
            if let Some(event) = parse_block(&self.pending[start..end]) {
                events.push(event);
            }
            start = end + 2;
            from = start;
        }
        // One shift per chunk, not one per event.
        self.pending.drain(..start);
        events
    }
}

/// Counts the events of an SSE byte stream without reading them: what
/// a follower that only needs to keep up costs the bench, so that the
/// figures measure the server more than this process.
#[derive(Debug, Default)]
pub struct SseCounter {
    /// The previous chunk's last byte was a line end.
    line_end: bool,
    /// The current block starts with `:` (a comment).
    comment: Option<bool>,
}

impl SseCounter {
    /// Takes the next chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> u64 {
        let mut events = 0;
        for &byte in chunk {
            if self.comment.is_none() {
                self.comment = Some(byte == b':');
            }
            if byte == b'\n' {
                if self.line_end {
                    if self.comment == Some(false) {
                        events += 1;
                    }
                    self.comment = None;
                }
                self.line_end = true;
            } else {
                self.line_end = false;
            }
        }
        events
    }
}

fn parse_block(block: &[u8]) -> Option<SseEvent> {
    let text = String::from_utf8_lossy(block);
    let mut id = None;
    let mut data: Option<String> = None;
    for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "id" => id = value.parse().ok(),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_string()),
            },
            // "" is a comment; "event" and "retry" are not needed here.
            _ => {}
        }
    }
    data.map(|data| SseEvent { id, data })
}

/// A delivery payload carrying its send time: microseconds since the
/// run's epoch, big-endian.
pub fn stamp(epoch: Instant) -> [u8; 8] {
    (epoch.elapsed().as_micros() as u64).to_be_bytes()
}

/// The send → now latency of a delivery event whose content is a
/// [`stamp`]; `None` for any other event.
fn stamped_latency(data: &str, epoch: Instant) -> Option<Duration> {
    let event: serde_json::Value = serde_json::from_str(data).ok()?;
    if event["kind"] != "delivery" {
        return None;
    }
    let content = event["data"]["content"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content)
        .ok()?;
    let sent = u64::from_be_bytes(bytes.try_into().ok()?);
    let now = epoch.elapsed().as_micros() as u64;
    Some(Duration::from_micros(now.saturating_sub(sent)))
}

/// What one reader counted.
#[derive(Debug, Default)]
pub struct StreamTally {
    events: AtomicU64,
    latency: Mutex<Latency>,
    error: Mutex<Option<String>>,
}

/// One reader, running until dropped.
#[derive(Debug)]
pub struct Stream {
    tally: Arc<StreamTally>,
    task: JoinHandle<()>,
}

impl Stream {
    /// Opens the stream after event `after`; with `epoch`, measures the
    /// latency of [`stamp`]ed deliveries.
    pub fn open(api: &ApiClient, after: i64, epoch: Option<Instant>) -> Result<Stream, BenchError> {
        let url = format!("{}/api/v1/events?after={after}", api.base());
        // Not the API client: its time limit covers the whole body, and a
        // stream's body lasts as long as the phase.
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| BenchError::Http {
                method: "GET",
                url: url.clone(),
                detail: format!("client setup: {e}"),
            })?;
        let request = client
            .get(&url)
            .header("authorization", api.authorization())
            .header("accept", "text/event-stream");
        let tally = Arc::new(StreamTally::default());
        let task = tokio::spawn(read(request, tally.clone(), epoch));
        Ok(Stream { tally, task })
    }

    /// Events read.
    pub fn events(&self) -> u64 {
        self.tally.events.load(Ordering::Relaxed)
    }

    /// The latencies of the stamped deliveries read.
    pub fn latency(&self) -> Latency {
        self.tally
            .latency
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Why the stream ended, if it did.
    pub fn error(&self) -> Option<String> {
        self.tally.error.lock().ok().and_then(|e| e.clone())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read(request: reqwest::RequestBuilder, tally: Arc<StreamTally>, epoch: Option<Instant>) {
    let failed = |detail: String| {
        if let Ok(mut e) = tally.error.lock() {
            e.get_or_insert(detail);
        }
    };
    let mut response = match request.send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return failed(format!("status {}", r.status())),
        Err(e) => return failed(e.to_string()),
    };
    let mut parser = SseParser::default();
    let mut counter = SseCounter::default();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return failed("the server ended the stream".into()),
            Err(e) => return failed(e.to_string()),
        };
        let Some(epoch) = epoch else {
            tally
                .events
                .fetch_add(counter.push(&chunk), Ordering::Relaxed);
            continue;
        };
        for event in parser.push(&chunk) {
            tally.events.fetch_add(1, Ordering::Relaxed);
            if let Some(latency) = stamped_latency(&event.data, epoch)
                && let Ok(mut l) = tally.latency.lock()
            {
                l.record(latency);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_at_blank_lines_across_chunks_and_comments_are_dropped() {
        let mut p = SseParser::default();
        assert_eq!(
            p.push(b": keep-alive\n\nid: 7\nevent: delivery\nda"),
            vec![]
        );
        let events = p.push(b"ta: {\"a\":1}\n\nid: 8\ndata: x\ndata: y\n\n");
        assert_eq!(
            events,
            vec![
                SseEvent {
                    id: Some(7),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    id: Some(8),
                    data: "x\ny".into()
                },
            ]
        );
        assert_eq!(p.push(b"\n\n"), vec![]);
    }

    #[test]
    fn the_counter_counts_events_across_chunks_and_skips_comments() {
        let mut c = SseCounter::default();
        assert_eq!(c.push(b": keep-alive\n\nid: 7\ndata: x\n"), 0);
        assert_eq!(c.push(b"\nid: 8\ndata: y\n\nid: 9\ndata: z\n\n"), 3);
        assert_eq!(c.push(b": keep-alive\n\n"), 0);
    }

    #[test]
    fn a_stamped_delivery_gives_its_latency_and_other_events_none() {
        let epoch = Instant::now() - Duration::from_secs(1);
        let sent = (epoch.elapsed() - Duration::from_millis(3)).as_micros() as u64;
        let content = base64::engine::general_purpose::STANDARD.encode(sent.to_be_bytes());
        let event = serde_json::json!({"kind": "delivery", "data": {"content": content}});
        let latency = stamped_latency(&event.to_string(), epoch).unwrap();
        assert!(latency >= Duration::from_millis(3), "{latency:?}");
        let other = serde_json::json!({"kind": "gateway_online", "data": {}});
        assert_eq!(stamped_latency(&other.to_string(), epoch), None);
        let unstamped = serde_json::json!({"kind": "delivery", "data": {"content": "AAAA"}});
        assert_eq!(stamped_latency(&unstamped.to_string(), epoch), None);
    }
}
