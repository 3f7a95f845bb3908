//! [`EventFeed`]: "events up to id N are committed", for the readers of
//! the outbox (table `events`, [`crate::store::events`]).
//!
//! Whoever commits events — the delivery writer after each batch, the
//! control dispatcher after each change — reads the newest id on its own
//! connection after its COMMIT and calls [`EventFeed::committed`]; the
//! feed keeps the highest id in a `tokio::sync::watch`. Readers never get
//! events through the feed, only the news that there are more: each keeps
//! its own cursor and reads the table from it (a slow reader costs the
//! writer nothing and misses nothing). A later per-subscriber task (a
//! webhook) reads the same way, with its cursor stored where it likes.
//!
//! Events that have no row of their own to ride with (a gateway going
//! online or offline, a refused registration) go into the writer's queue
//! behind what is queued, so they keep their place among their gateway's
//! rows (`WriterHandle::record_event`); only when that queue is full are
//! they noted here ([`EventFeed::note`]) and handed over by the server's
//! flush task, which the note wakes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::store::events::NewEvent;

/// Most noted events held for the writer. Past this (the writer stopped,
/// or a flood of refused registrations) new ones are counted in
/// [`EventMetrics::not_recorded`] and logged, not held without bound.
pub const MAX_NOTED: usize = 100_000;

/// Counters of the outbox, for `/metrics`.
#[derive(Debug, Default)]
pub struct EventMetrics {
    /// Events committed since the server started.
    pub written: AtomicU64,
    /// Event streams (`GET /api/v1/events`, Server-Sent Events) open now.
    pub sse_clients: AtomicU64,
    /// Deliveries written by exports (`…/deliveries/export`).
    pub export_rows: AtomicU64,
    /// Noted events dropped over [`MAX_NOTED`].
    pub not_recorded: AtomicU64,
}

/// The committed head of the outbox, and the events waiting for the writer.
#[derive(Debug)]
pub struct EventFeed {
    head: watch::Sender<i64>,
    noted: Mutex<Vec<NewEvent>>,
    wake_flush: Notify,
    closed: CancellationToken,
    metrics: EventMetrics,
}

impl EventFeed {
    /// A feed whose committed head is `last_id` (read at start-up).
    pub fn new(last_id: i64) -> EventFeed {
        EventFeed {
            head: watch::Sender::new(last_id),
            noted: Mutex::new(Vec::new()),
            wake_flush: Notify::new(),
            closed: CancellationToken::new(),
            metrics: EventMetrics::default(),
        }
    }

    /// Events up to `last_id` are committed. Ids only grow: an older
    /// announcement arriving late changes nothing.
    pub fn committed(&self, last_id: i64) {
        self.head.send_if_modified(|head| {
            if last_id > *head {
                let new = u64::try_from(last_id - *head).unwrap_or(0);
                self.metrics.written.fetch_add(new, Ordering::Relaxed);
                *head = last_id;
                true
            } else {
                false
            }
        });
    }

    /// The highest committed id now.
    pub fn head(&self) -> i64 {
        *self.head.borrow()
    }

    /// A receiver that wakes when the head moves.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// Notes an event for the writer's next batch and wakes the flush.
    pub fn note(&self, event: NewEvent) {
        {
            let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
            if noted.len() >= MAX_NOTED {
                let n = self.metrics.not_recorded.fetch_add(1, Ordering::Relaxed);
                // The 1st, 2nd, 4th, 8th… dropped: said, not a line per event.
                if (n + 1).is_power_of_two() {
                    tracing::warn!(
                        kind = event.kind,
                        dropped = n + 1,
                        "events waiting for the writer are over the cap; dropping new ones"
                    );
                }
                return;
            }
            noted.push(event);
        }
        self.wake_flush.notify_one();
    }

    /// The events noted since the last call, in order.
    pub fn take_noted(&self) -> Vec<NewEvent> {
        std::mem::take(&mut *self.noted.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Wakes the flush task for a change noted elsewhere (an MQTT
    /// client's online state).
    pub fn wake_flush(&self) {
        self.wake_flush.notify_one();
    }

    /// Resolves when an event has been noted since the last take.
    pub async fn noted(&self) {
        self.wake_flush.notified().await;
    }

    /// The server is stopping: open streams end.
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// Cancelled once the server stops.
    pub fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    /// The outbox counters.
    pub fn metrics(&self) -> &EventMetrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_only_moves_forward_and_counts_what_it_passes() {
        let feed = EventFeed::new(10);
        let mut rx = feed.subscribe();
        feed.committed(13);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 13);
        feed.committed(12);
        assert!(
            !rx.has_changed().unwrap(),
            "an older announcement changes nothing"
        );
        assert_eq!(feed.head(), 13);
        assert_eq!(feed.metrics().written.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn noted_events_are_taken_in_order() {
        let feed = EventFeed::new(0);
        for at in 0..3 {
            feed.note(NewEvent {
                kind: crate::store::events::GATEWAY_ONLINE,
                gw_id: Some("SC10010001".into()),
                device_id: None,
                at,
                data: serde_json::json!({}),
            });
        }
        let taken: Vec<i64> = feed.take_noted().iter().map(|e| e.at).collect();
        assert_eq!(taken, [0, 1, 2]);
        assert!(feed.take_noted().is_empty());
    }
}
