//! GW ID → live session, so other parts (control requests, the HTTP API's
//! "connected" flag) can reach a connected gateway.
//!
//! A GW that connects again replaces its older session: [`Registry::bind`]
//! closes the old one. A session leaving removes only its own entry (by
//! session id), never its successor's. Replacements are counted per GW
//! ([`Registry::note_replacement`]): many in a short time mean two
//! gateways share one auth ID.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Most frames waiting in one [`Outbox`].
pub const OUTBOX_CAPACITY: usize = 8;

/// Encoded frames waiting to be pushed to a GW (control requests), sent by
/// its session between requests. Lighter than an mpsc channel, whose first
/// block of 32 slots is allocated up front (~1.2 KiB per session against a
/// budget of 4 KiB per idle session): empty, this is a mutex, an empty
/// `VecDeque` (no allocation) and a `Notify`.
#[derive(Debug, Default)]
pub struct Outbox {
    queue: Mutex<VecDeque<Bytes>>,
    notify: Notify,
}

/// The outbox already holds [`OUTBOX_CAPACITY`] frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the session's outbox is full ({OUTBOX_CAPACITY} frames)")]
pub struct OutboxFull;

impl Outbox {
    /// Queues an encoded frame for the session to write.
    pub fn push(&self, frame: Bytes) -> Result<(), OutboxFull> {
        {
            let mut queue = self.lock();
            if queue.len() >= OUTBOX_CAPACITY {
                return Err(OutboxFull);
            }
            queue.push_back(frame);
        }
        // Stores a permit when the session is not waiting yet.
        self.notify.notify_one();
        Ok(())
    }

    /// The next queued frame, waiting for one.
    pub(crate) async fn next(&self) -> Bytes {
        loop {
            if let Some(frame) = self.lock().pop_front() {
                return frame;
            }
            self.notify.notified().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Bytes>> {
        // push_back / pop_front cannot leave the queue half-changed.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A handle on one live session.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    /// Unique per connection.
    pub id: u64,
    /// The peer's address.
    pub peer: SocketAddr,
    /// When the session was bound to its GW (its registration, or its
    /// first authenticated frame), Unix ms.
    pub since: i64,
    /// Encoded frames to push to the GW (control requests).
    pub outbound: Arc<Outbox>,
    /// Cancel to close the session.
    pub close: CancellationToken,
}

/// Replacements of one GW's live session within this long count towards
/// [`FLAP_REPLACEMENTS`].
pub const FLAP_WINDOW: Duration = Duration::from_secs(60);
/// This many replacements of a still-live session within [`FLAP_WINDOW`]
/// mean two peers are using one auth ID, not a gateway reconnecting.
pub const FLAP_REPLACEMENTS: u32 = 3;

/// Counts how often one GW's live session is replaced by another, so two
/// gateways configured with the same auth ID are reported instead of
/// silently taking turns.
#[derive(Debug, Default)]
struct FlapCount {
    window_start: Option<Instant>,
    replacements: u32,
    warned: bool,
}

impl FlapCount {
    /// Counts a replacement at `now`; the count when it reaches
    /// [`FLAP_REPLACEMENTS`] (once per window).
    fn replaced(&mut self, now: Instant) -> Option<u32> {
        match self.window_start {
            Some(start) if now.duration_since(start) < FLAP_WINDOW => {}
            _ => {
                self.window_start = Some(now);
                self.replacements = 0;
                self.warned = false;
            }
        }
        self.replacements += 1;
        if self.replacements >= FLAP_REPLACEMENTS && !self.warned {
            self.warned = true;
            return Some(self.replacements);
        }
        None
    }
}

/// The live sessions by GW ID.
#[derive(Debug, Default)]
pub struct Registry {
    sessions: Mutex<HashMap<String, SessionHandle>>,
    flaps: Mutex<HashMap<String, FlapCount>>,
}

impl Registry {
    /// Binds `gw_id` to `handle`; closes and returns the session it replaces.
    pub fn bind(&self, gw_id: &str, handle: SessionHandle) -> Option<SessionHandle> {
        let id = handle.id;
        let old = self.lock().insert(gw_id.to_owned(), handle)?;
        if old.id == id {
            return None;
        }
        old.close.cancel();
        Some(old)
    }

    /// Records that `gw_id`'s live session was replaced at `now`; returns
    /// the number of replacements within [`FLAP_WINDOW`] once it reaches
    /// [`FLAP_REPLACEMENTS`] (then not again in that window).
    pub fn note_replacement(&self, gw_id: &str, now: Instant) -> Option<u32> {
        let mut flaps = self.flaps.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded by the number of registered GWs: entries are per GW ID.
        flaps.entry(gw_id.to_owned()).or_default().replaced(now)
    }

    /// Removes `gw_id` if it is still bound to session `id`; true if it
    /// was (the GW has no live session now).
    pub fn unbind(&self, gw_id: &str, id: u64) -> bool {
        let mut sessions = self.lock();
        if sessions.get(gw_id).is_some_and(|h| h.id == id) {
            sessions.remove(gw_id);
            return true;
        }
        false
    }

    /// Removes and closes the live session of `gw_id` (its approval was
    /// removed); the session closed, if there was one.
    pub fn revoke(&self, gw_id: &str) -> Option<SessionHandle> {
        let handle = self.lock().remove(gw_id)?;
        handle.close.cancel();
        Some(handle)
    }

    /// The live session of `gw_id`.
    pub fn get(&self, gw_id: &str) -> Option<SessionHandle> {
        self.lock().get(gw_id).cloned()
    }

    /// GW IDs with a bound session.
    pub fn gw_ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Number of bound sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no session is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionHandle>> {
        // A panic while holding this lock cannot leave the map half-updated
        // (single insert/remove calls), so a poisoned lock is still usable.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(id: u64) -> SessionHandle {
        SessionHandle {
            id,
            peer: SocketAddr::from(([127, 0, 0, 1], 1000 + id as u16)),
            since: 0,
            outbound: Arc::default(),
            close: CancellationToken::new(),
        }
    }

    #[test]
    fn repeated_replacements_within_the_window_are_reported_once() {
        let r = Registry::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(r.note_replacement("GW1", at(0)), None);
        assert_eq!(r.note_replacement("GW1", at(1)), None);
        assert_eq!(r.note_replacement("GW2", at(1)), None, "per GW");
        assert_eq!(r.note_replacement("GW1", at(2)), Some(FLAP_REPLACEMENTS));
        assert_eq!(r.note_replacement("GW1", at(3)), None, "once per window");
        // A new window starts after FLAP_WINDOW.
        let later = FLAP_WINDOW.as_secs() + 1;
        assert_eq!(r.note_replacement("GW1", at(later)), None);
        assert_eq!(r.note_replacement("GW1", at(later + 1)), None);
        assert_eq!(
            r.note_replacement("GW1", at(later + 2)),
            Some(FLAP_REPLACEMENTS)
        );
    }

    #[test]
    fn reconnect_replaces_and_closes_the_old_session() {
        let r = Registry::default();
        let first = handle(1);
        assert!(r.bind("SC10010001", first.clone()).is_none());
        let replaced = r.bind("SC10010001", handle(2)).unwrap();
        assert_eq!(replaced.id, 1);
        assert!(first.close.is_cancelled());
        // The old session leaving does not remove its successor.
        r.unbind("SC10010001", 1);
        assert_eq!(r.get("SC10010001").unwrap().id, 2);
        r.unbind("SC10010001", 2);
        assert!(r.is_empty());
    }

    #[test]
    fn revoking_closes_and_forgets_the_session() {
        let r = Registry::default();
        let session = handle(1);
        r.bind("SC10010001", session.clone());
        assert_eq!(r.revoke("SC10010001").map(|h| h.id), Some(1));
        assert!(session.close.is_cancelled());
        assert!(r.get("SC10010001").is_none());
        assert!(r.revoke("SC10010001").is_none());
    }

    #[tokio::test]
    async fn the_outbox_is_bounded_and_keeps_order() {
        let outbox = Outbox::default();
        for i in 0..OUTBOX_CAPACITY {
            outbox.push(Bytes::from(vec![i as u8])).unwrap();
        }
        assert_eq!(outbox.push(Bytes::new()), Err(OutboxFull));
        assert_eq!(outbox.next().await, Bytes::from(vec![0u8]));
        assert_eq!(outbox.next().await, Bytes::from(vec![1u8]));
    }
}
