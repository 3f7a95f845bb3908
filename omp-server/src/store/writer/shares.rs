//! [`Shares`]: each gateway's fair share of the writer queue, without IO.
//!
//! A gateway's deliveries (and split parts) count from their submission
//! to their commit's answer. A gateway holding its share already is
//! answered rc 0x0F with the back-off; one under its share is queued as
//! long as the queue has room. The share is the queue's capacity divided
//! among the gateways holding deliveries now, the submitter included,
//! plus one part kept for a gateway that holds none — so the gateways
//! that fill the queue get the back-off, not a quiet one that arrives
//! while it is busy. One GMMP session has one request in flight at a
//! time, so a gateway over its share is one that keeps many connections
//! open at once (or reconnects faster than its deliveries commit).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::error::StoreError;

/// Deliveries awaiting their commit, per gateway.
#[derive(Debug)]
pub struct Shares {
    capacity: usize,
    held: HashMap<String, usize>,
}

impl Shares {
    /// Shares of a queue of `capacity`.
    pub fn new(capacity: usize) -> Shares {
        Shares {
            capacity,
            held: HashMap::new(),
        }
    }

    /// The most `gw_id` may hold now (at least one).
    pub fn share(&self, gw_id: &str) -> usize {
        let holders = self.held.len() + usize::from(!self.held.contains_key(gw_id));
        (self.capacity / (holders + 1)).max(1)
    }

    /// Takes a place for one delivery of `gw_id`: `false` if it holds its
    /// share already.
    pub fn take(&mut self, gw_id: &str) -> bool {
        let held = self.held(gw_id);
        if held >= self.share(gw_id) {
            return false;
        }
        *self.held.entry(gw_id.to_owned()).or_insert(0) += 1;
        true
    }

    /// Gives back one place of `gw_id` (its delivery was answered).
    pub fn release(&mut self, gw_id: &str) {
        if let Some(n) = self.held.get_mut(gw_id) {
            *n -= 1;
            if *n == 0 {
                self.held.remove(gw_id);
            }
        }
    }

    /// Deliveries `gw_id` holds now.
    pub fn held(&self, gw_id: &str) -> usize {
        self.held.get(gw_id).copied().unwrap_or(0)
    }

    /// Gateways holding deliveries now.
    pub fn holders(&self) -> usize {
        self.held.len()
    }
}

pub(super) fn lock_shares(shares: &Mutex<Shares>) -> std::sync::MutexGuard<'_, Shares> {
    shares.lock().unwrap_or_else(|e| e.into_inner())
}

/// A gateway's place in the queue, given back when dropped.
#[derive(Debug)]
pub(super) struct ShareHeld {
    shares: Arc<Mutex<Shares>>,
    gw_id: String,
}

impl ShareHeld {
    /// Holds a place `shares` gave to `gw_id`.
    pub(super) fn new(shares: Arc<Mutex<Shares>>, gw_id: &str) -> ShareHeld {
        ShareHeld {
            shares,
            gw_id: gw_id.to_owned(),
        }
    }
}

impl Drop for ShareHeld {
    fn drop(&mut self) {
        lock_shares(&self.shares).release(&self.gw_id);
    }
}

/// A delivery or part in the writer's queue: resolves with its outcome
/// once committed (or failed); holds its gateway's place until then.
#[derive(Debug)]
pub struct Queued<T> {
    rx: oneshot::Receiver<Result<T, Arc<StoreError>>>,
    _share: ShareHeld,
}

impl<T> Queued<T> {
    pub(super) fn new(rx: oneshot::Receiver<Result<T, Arc<StoreError>>>, share: ShareHeld) -> Self {
        Queued { rx, _share: share }
    }
}

impl<T> Future for Queued<T> {
    type Output = Result<Result<T, Arc<StoreError>>, oneshot::error::RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_gateway_may_hold_half_and_keeps_room_for_a_newcomer() {
        let mut s = Shares::new(8);
        assert!((0..4).all(|_| s.take("flood")));
        assert!(!s.take("flood"));
        // The quiet one is under its share.
        assert!(s.take("quiet"));
        assert_eq!(s.share("quiet"), 8 / 3);
        // Now three ways: the flooder is over its share until it drains.
        assert!(!s.take("flood"));
        s.release("flood");
        s.release("flood");
        assert!(!s.take("flood"));
        s.release("flood");
        assert!(s.take("flood"));
    }

    #[test]
    fn every_gateway_may_hold_one() {
        let mut s = Shares::new(2);
        assert!(s.take("a"));
        assert!(!s.take("a"));
        assert!(s.take("b"));
        assert!(s.take("c"));
        assert_eq!(s.holders(), 3);
    }

    #[test]
    fn a_gateway_that_holds_none_is_forgotten() {
        let mut s = Shares::new(10);
        assert!(s.take("a"));
        s.release("a");
        s.release("a");
        assert_eq!(s.held("a"), 0);
        assert_eq!(s.holders(), 0);
    }
}
