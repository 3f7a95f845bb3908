//! The bridge's sending side: an outbox the agent loop drops frames into,
//! and one task that empties it through pipelined AT+SSENDs, like a TCP
//! socket's send buffer.
//!
//! The agent loop never waits for the UART: it queues frames and goes
//! back to reading the module's output, which is what lets the OMP's
//! responses come in while the next frames go out (the UART is full
//! duplex; a stop-and-wait AT+SSEND per frame is not). Frames queued
//! together are joined into one AT+SSEND of at most `MAX_SSEND` bytes.
//!
//! Closing lets the writer send what is queued first (a control's
//! notification queued just before a Reset must still go out). An AT+SSEND
//! whose `[OK]` is lost costs at most one send's timeout and goes on (the
//! driver counts it as sent, unconfirmed: the OMP's response confirms the
//! delivery, or the engine resends it). A failed AT+SSEND ends the task; the error reaches the agent through the
//! transport's `recv`, which ends the session. Frames still in the outbox
//! then are dropped: the engine resends the deliveries among them from the
//! spool after the reconnect.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use tokio::sync::{Notify, oneshot};

use crate::wizfi310::{Driver, Error};

/// Most bytes one AT+SSEND carries when frames are joined (a larger frame
/// still goes alone, in one AT+SSEND). Measured with `examples/bridge_bench`
/// at 115200 baud: 1 KiB keeps two AT+SSENDs' worth of frames queued with
/// 16 deliveries in flight, so the next line can follow each payload; 512 B
/// and 1.5–2 KiB did worse.
pub const MAX_SSEND: usize = 1024;

/// Frames waiting for the UART.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    frames: Mutex<VecDeque<Bytes>>,
    closed: AtomicBool,
    ready: Notify,
}

impl Outbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Bytes>> {
        self.frames.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues frames, in order.
    pub(crate) fn push(&self, frames: impl IntoIterator<Item = Bytes>) {
        self.lock().extend(frames);
        self.ready.notify_one();
    }

    /// No more frames: the writer sends what is queued, then ends.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.ready.notify_one();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Waits until frames were pushed or the outbox closed.
    pub(crate) async fn wait_ready(&self) {
        self.ready.notified().await;
    }

    /// Bytes queued.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.lock().iter().map(Bytes::len).sum()
    }

    /// The queued frames from the front, joined up to `MAX_SSEND` bytes
    /// (at least one frame); `None` when empty.
    pub(crate) fn take_chunk(&self) -> Option<Bytes> {
        self.take_chunk_up_to(MAX_SSEND)
    }

    /// The queued frames from the front, joined up to `limit` bytes (at
    /// least one frame, however large); `None` when empty.
    pub(crate) fn take_chunk_up_to(&self, limit: usize) -> Option<Bytes> {
        let mut frames = self.lock();
        let first = frames.pop_front()?;
        if frames.front().is_none_or(|f| first.len() + f.len() > limit) {
            return Some(first);
        }
        let mut chunk = BytesMut::from(&first[..]);
        while let Some(f) = frames.front() {
            if chunk.len() + f.len() > limit {
                break;
            }
            chunk.extend_from_slice(f);
            frames.pop_front();
        }
        Some(chunk.freeze())
    }
}

/// Empties `outbox` into socket `sid` until it is closed and empty, or a
/// send fails (the error goes to `failed`).
pub(crate) async fn write_loop(
    driver: Driver,
    sid: u8,
    outbox: std::sync::Arc<Outbox>,
    failed: oneshot::Sender<Error>,
) {
    loop {
        match driver.send_pipelined(sid, || outbox.take_chunk()).await {
            Ok(0) if outbox.is_closed() => return,
            Ok(0) => outbox.wait_ready().await,
            Ok(_) => {}
            Err(e) => {
                let _ = failed.send(e);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_joined_in_order_up_to_the_limit() {
        let outbox = Outbox::default();
        let frame = |b: u8, n: usize| Bytes::from(vec![b; n]);
        let third = MAX_SSEND / 3;
        outbox.push([
            frame(1, third),
            frame(2, third),
            frame(3, MAX_SSEND - third),
            frame(4, 2 * MAX_SSEND),
        ]);
        let chunk = outbox.take_chunk().unwrap();
        assert_eq!(
            chunk.len(),
            2 * third,
            "two frames joined, the third would not fit"
        );
        assert_eq!((chunk[0], chunk[2 * third - 1]), (1, 2));
        assert_eq!(outbox.take_chunk().unwrap(), frame(3, MAX_SSEND - third));
        assert_eq!(
            outbox.take_chunk().unwrap(),
            frame(4, 2 * MAX_SSEND),
            "a large frame alone"
        );
        assert_eq!(outbox.take_chunk(), None);
        outbox.push([frame(6, 10), frame(7, 10), frame(8, 10)]);
        assert_eq!(outbox.take_chunk_up_to(25).unwrap().len(), 20);
        assert_eq!(outbox.take_chunk_up_to(5).unwrap(), frame(8, 10));
        outbox.push([frame(5, 1)]);
        outbox.close();
        assert_eq!(outbox.queued_bytes(), 1);
        assert_eq!(outbox.take_chunk().unwrap(), frame(5, 1), "closing drains");
        assert_eq!(outbox.take_chunk(), None);
    }
}
