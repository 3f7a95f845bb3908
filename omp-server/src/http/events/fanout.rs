//! [`Fanout`]: the newest part of the outbox rendered once, shared by
//! every live SSE stream.
//!
//! A stream that read the table and rendered each event's JSON for
//! itself would cost the server once per stream for every event: ten
//! followers of the head were ten readers of the same rows. Instead,
//! while at least one stream is open, one task follows the committed
//! head, reads each event once (unfiltered), renders its SSE frame once
//! and keeps the newest frames in a ring ([`RING_FRAMES`] frames and
//! [`RING_BYTES`] bytes at most). A stream whose cursor is inside the
//! ring takes its frames from there, filtering in memory; one further
//! behind (catching up from an old id, or a slow reader the ring has
//! passed) reads the table as before, and joins the ring once it has
//! caught up with it.
//!
//! The ring covers an id range without holes: every event with an id in
//! `(from, to]` is in it, because the task reads unfiltered pages up to
//! how far each page looked. So a stream that takes the frames after
//! its cursor from the ring misses none and repeats none, exactly as a
//! read of the table would.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, watch};

use super::sse::frame;
use crate::state::Shared;
use crate::store::events::{self, EventFilter};

/// Most frames the ring keeps.
pub const RING_FRAMES: usize = 8192;
/// Most bytes of frames the ring keeps.
pub const RING_BYTES: usize = 8 << 20;
/// Events the task reads per page.
const PAGE: i64 = 500;
/// Wait before the task reads again after a database error.
const RETRY: Duration = Duration::from_millis(200);

/// One event's frame and what filters look at.
#[derive(Debug)]
struct Rendered {
    id: i64,
    kind: String,
    gw_id: Option<String>,
    device_id: Option<String>,
    frame: Bytes,
}

/// The frames of every event with an id in `(from, to]`, by id.
#[derive(Debug, Default)]
struct Ring {
    /// False while no task follows the head (no stream open yet, or the
    /// last one closed): nothing is covered then.
    live: bool,
    from: i64,
    to: i64,
    frames: VecDeque<Rendered>,
    bytes: usize,
}

impl Ring {
    fn restart_at(&mut self, head: i64) {
        *self = Ring {
            live: true,
            from: head,
            to: head,
            ..Ring::default()
        };
    }

    fn push(&mut self, rendered: Rendered) {
        self.bytes += rendered.frame.len();
        self.frames.push_back(rendered);
        while self.frames.len() > RING_FRAMES || self.bytes > RING_BYTES {
            let Some(old) = self.frames.pop_front() else {
                break;
            };
            self.bytes -= old.frame.len();
            self.from = old.id;
        }
    }
}

/// What a stream found in the ring after its cursor.
#[derive(Debug)]
pub enum Taken {
    /// Frames (possibly none, when the filter matched nothing) and the
    /// cursor to go on from.
    Frames(Bytes, i64),
    /// The cursor is at the ring's end: the next events come here.
    Wait,
    /// The cursor is outside the ring: read the table.
    Outside,
}

/// The shared rendered tail; one per server, in [`Shared`].
#[derive(Debug, Default)]
pub struct Fanout {
    ring: Mutex<Ring>,
    /// The ring's `to`, announced after each page.
    covered: watch::Sender<i64>,
    /// Wakes the task when a stream opens (the count of open streams is
    /// the feed's `sse_clients` gauge).
    opened: Notify,
    started: AtomicBool,
}

impl Fanout {
    /// Counts a stream (in `omp_events_sse_clients`, which the task reads
    /// too) while the returned guard lives, starting the task at the first.
    pub fn open(state: &Arc<Shared>) -> StreamGuard {
        let fanout = &state.sse_fanout;
        state
            .events()
            .metrics()
            .sse_clients
            .fetch_add(1, Ordering::Relaxed);
        fanout.opened.notify_one();
        if !fanout.started.swap(true, Ordering::Relaxed) {
            state.outbound.spawn(follow(state.clone()));
        }
        StreamGuard(state.clone())
    }

    /// A receiver that wakes when the ring grows.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.covered.subscribe()
    }

    /// The frames after `cursor` matching `filter`, at most `limit`.
    pub fn take(&self, cursor: i64, filter: &EventFilter, limit: usize) -> Taken {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if !ring.live || cursor < ring.from || cursor > ring.to {
            return Taken::Outside;
        }
        if cursor == ring.to {
            return Taken::Wait;
        }
        let start = ring.frames.partition_point(|f| f.id <= cursor);
        let mut out = Vec::new();
        let mut taken = 0;
        let mut next = ring.to;
        for f in ring.frames.range(start..) {
            if !matches(filter, f) {
                continue;
            }
            out.extend_from_slice(&f.frame);
            taken += 1;
            if taken == limit {
                next = f.id;
                break;
            }
        }
        Taken::Frames(Bytes::from(out), next)
    }
}

/// Counts one open stream.
#[derive(Debug)]
pub struct StreamGuard(Arc<Shared>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0
            .events()
            .metrics()
            .sse_clients
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// The filter of `GET /api/v1/events` (the SQL of `events::page`) in
/// memory: a missing gateway or device matches no value asked for.
fn matches(filter: &EventFilter, f: &Rendered) -> bool {
    (filter.kinds.is_empty() || filter.kinds.contains(&f.kind))
        && filter
            .gw_id
            .as_ref()
            .is_none_or(|g| f.gw_id.as_ref() == Some(g))
        && filter
            .device_id
            .as_ref()
            .is_none_or(|d| f.device_id.as_ref() == Some(d))
}

/// The task: follows the head while a stream is open, until the server
/// stops.
async fn follow(state: Arc<Shared>) {
    let fanout = &state.sse_fanout;
    let feed = state.events().clone();
    let closed = feed.closed().clone();
    let mut head = feed.subscribe();
    let everything = EventFilter::default();
    loop {
        if feed.metrics().sse_clients.load(Ordering::Relaxed) == 0 {
            fanout.ring.lock().unwrap_or_else(|e| e.into_inner()).live = false;
            tokio::select! {
                () = fanout.opened.notified() => {}
                () = closed.cancelled() => return,
            }
            continue;
        }
        let upto = *head.borrow_and_update();
        let to = {
            let mut ring = fanout.ring.lock().unwrap_or_else(|e| e.into_inner());
            if !ring.live {
                // The first stream since start or since the last closed:
                // cover from the head on, not the whole table.
                ring.restart_at(upto);
            }
            ring.to
        };
        fanout.covered.send_replace(to);
        if to >= upto {
            tokio::select! {
                changed = head.changed() => if changed.is_err() { return },
                // A closed last stream is noticed at the next head move
                // or within a second.
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = closed.cancelled() => return,
            }
            continue;
        }
        let page = match events::page(&state.db, &everything, to, upto, PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, after = to, "event streams: outbox not read; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let rendered: Vec<Rendered> = page
            .events
            .into_iter()
            .map(|e| {
                let (id, kind, gw_id, device_id) =
                    (e.id, e.kind.clone(), e.gw_id.clone(), e.device_id.clone());
                let mut out = Vec::with_capacity(256);
                frame(&mut out, super::EventBody::from(e));
                Rendered {
                    id,
                    kind,
                    gw_id,
                    device_id,
                    frame: Bytes::from(out),
                }
            })
            .collect();
        {
            let mut ring = fanout.ring.lock().unwrap_or_else(|e| e.into_inner());
            for r in rendered {
                ring.push(r);
            }
            ring.to = page.scanned_to;
        }
        fanout.covered.send_replace(page.scanned_to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(id: i64, kind: &str, gw_id: Option<&str>) -> Rendered {
        Rendered {
            id,
            kind: kind.into(),
            gw_id: gw_id.map(Into::into),
            device_id: None,
            frame: Bytes::from(format!("{id};")),
        }
    }

    fn fanout_with(from: i64, to: i64, frames: Vec<Rendered>) -> Fanout {
        let fanout = Fanout::default();
        {
            let mut ring = fanout.ring.lock().unwrap();
            ring.restart_at(from);
            for f in frames {
                ring.push(f);
            }
            ring.to = to;
        }
        fanout
    }

    fn frames(t: Taken) -> (String, i64) {
        match t {
            Taken::Frames(b, next) => (String::from_utf8(b.to_vec()).unwrap(), next),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cursor_inside_the_ring_gets_every_later_frame_matching_its_filter() {
        let f = fanout_with(
            10,
            15,
            vec![
                rendered(11, "delivery", Some("A")),
                rendered(13, "gateway_online", Some("B")),
                rendered(14, "delivery", Some("B")),
            ],
        );
        let all = EventFilter::default();
        assert_eq!(frames(f.take(10, &all, 100)), ("11;13;14;".into(), 15));
        assert_eq!(frames(f.take(11, &all, 100)), ("13;14;".into(), 15));
        assert_eq!(frames(f.take(12, &all, 1)), ("13;".into(), 13));
        let b_deliveries = EventFilter {
            kinds: vec!["delivery".into()],
            gw_id: Some("B".into()),
            device_id: None,
        };
        assert_eq!(frames(f.take(10, &b_deliveries, 100)), ("14;".into(), 15));
        let device = EventFilter {
            device_id: Some("d".into()),
            ..EventFilter::default()
        };
        assert_eq!(frames(f.take(10, &device, 100)), (String::new(), 15));
    }

    #[test]
    fn the_ring_end_waits_and_outside_it_reads_the_table() {
        let f = fanout_with(10, 15, vec![rendered(11, "delivery", None)]);
        let all = EventFilter::default();
        assert!(matches!(f.take(15, &all, 100), Taken::Wait));
        assert!(matches!(f.take(9, &all, 100), Taken::Outside));
        assert!(matches!(f.take(16, &all, 100), Taken::Outside));
        f.ring.lock().unwrap().live = false;
        assert!(matches!(f.take(12, &all, 100), Taken::Outside));
    }

    #[test]
    fn the_ring_drops_its_oldest_frames_and_covers_less() {
        let mut ring = Ring::default();
        ring.restart_at(0);
        for id in 1..=(RING_FRAMES as i64 + 2) {
            ring.push(rendered(id, "delivery", None));
        }
        assert_eq!(ring.frames.len(), RING_FRAMES);
        assert_eq!(ring.from, 2, "ids above 2 are all still there");
        assert_eq!(ring.frames.front().unwrap().id, 3);
    }
}
