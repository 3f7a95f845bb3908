//! Exponential reconnect delays with jitter.

use std::time::Duration;

/// Exponential reconnect delays with jitter.
#[derive(Debug)]
pub(super) struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
    /// No delay was taken since the last reset (or ever).
    fresh: bool,
    /// Jitter only, not security: a fast seedable generator is enough.
    rng: fastrand::Rng,
}

impl Backoff {
    /// Delays from `initial` doubling up to `max`, jitter seeded at random.
    pub(super) fn new(initial: Duration, max: Duration) -> Self {
        Self::with_rng(initial, max, fastrand::Rng::new())
    }

    fn with_rng(initial: Duration, max: Duration, rng: fastrand::Rng) -> Self {
        Backoff {
            initial,
            max,
            current: initial,
            fresh: true,
            rng,
        }
    }

    /// The next delay: uniformly in the upper half of the current step,
    /// which then doubles (capped).
    pub(super) fn next(&mut self) -> Duration {
        let step = self.current;
        self.fresh = false;
        self.current = (self.current * 2).min(self.max);
        let half = step / 2;
        let fraction = self.rng.u32(0..1000);
        half + half * fraction / 1000
    }

    /// Back to `initial`, once a session is ready again.
    pub(super) fn reset(&mut self) {
        self.current = self.initial;
        self.fresh = true;
    }

    /// True when no delay was taken since the last reset: the session
    /// that just ended came up (or it is the first attempt).
    pub(super) fn is_fresh(&self) -> bool {
        self.fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_grow_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let delays: Vec<Duration> = (0..6).map(|_| b.next()).collect();
        let caps = [1, 2, 4, 8, 8, 8];
        for (d, cap) in delays.iter().zip(caps) {
            let cap = Duration::from_secs(cap);
            assert!(
                *d >= cap / 2 && *d <= cap,
                "{d:?} not in [{:?}, {cap:?}]",
                cap / 2
            );
        }
        assert!(!b.is_fresh());
        b.reset();
        assert!(b.is_fresh());
        assert!(b.next() <= Duration::from_secs(1));
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let delays = |seed| {
            let mut b = Backoff::with_rng(
                Duration::from_secs(1),
                Duration::from_secs(60),
                fastrand::Rng::with_seed(seed),
            );
            (0..8).map(|_| b.next()).collect::<Vec<_>>()
        };
        assert_eq!(delays(7), delays(7));
        assert_ne!(delays(7), delays(8));
    }
}
