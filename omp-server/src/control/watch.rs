//! [`ControlWatch`]: wakes the `GET /api/v1/controls/{id}?wait=N`
//! long-polls of one control when the control dispatcher changes it.
//!
//! A map of control id → [`Notify`], holding only the controls someone is
//! waiting on: a change wakes that control's waiters and nobody else (a
//! broadcast of every change to every long-poll costs waiters × changes
//! wake-ups, which at a thousand waiters and a thousand controls a second
//! is the whole machine).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

/// Control id → its waiters.
#[derive(Debug, Default)]
pub struct ControlWatch {
    waiting: Mutex<HashMap<i64, Arc<Notify>>>,
}

/// One waiter on one control; stops watching when dropped.
#[derive(Debug)]
pub struct Watching {
    watch: Arc<ControlWatch>,
    id: i64,
    notify: Arc<Notify>,
}

impl ControlWatch {
    /// Control `id` changed (committed): wakes its waiters.
    pub fn changed(&self, id: i64) {
        if let Some(notify) = self.lock().get(&id) {
            notify.notify_waiters();
        }
    }

    /// Starts watching control `id`.
    pub fn watch(self: &Arc<Self>, id: i64) -> Watching {
        let notify = self.lock().entry(id).or_default().clone();
        Watching {
            watch: self.clone(),
            id,
            notify,
        }
    }

    /// True while someone watches control `id`.
    pub fn is_watched(&self, id: i64) -> bool {
        self.lock().contains_key(&id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Notify>>> {
        // Single inserts and removes cannot leave the map half-changed.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Watching {
    /// A future for the next change. Enable it (`Notified::enable`) before
    /// reading the control, so a change between the read and the await is
    /// not missed.
    pub fn next_change(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut waiting = self.watch.lock();
        // The map's reference and ours: we are the last waiter. (New
        // waiters clone under this same lock, so the count is exact.)
        if Arc::strong_count(&self.notify) == 2 {
            waiting.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn only_the_changed_controls_waiters_wake_and_the_map_empties() {
        let watch = Arc::new(ControlWatch::default());
        let a = watch.watch(1);
        let b = watch.watch(2);
        let a2 = watch.watch(1);
        {
            let mut wake_a = pin!(a.next_change());
            wake_a.as_mut().enable();
            let mut wake_b = pin!(b.next_change());
            wake_b.as_mut().enable();
            watch.changed(1);
            tokio::time::timeout(Duration::from_secs(10), wake_a)
                .await
                .expect("woken");
            assert!(
                tokio::time::timeout(Duration::from_millis(50), wake_b)
                    .await
                    .is_err(),
                "another control's waiter stays asleep"
            );
        }
        drop(a);
        assert!(watch.is_watched(1), "a2 still waits");
        drop(a2);
        drop(b);
        assert!(!watch.is_watched(1) && !watch.is_watched(2));
    }
}
