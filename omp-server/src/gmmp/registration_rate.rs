//! [`RegistrationRate`]: a token bucket per source (IPv4 address or IPv6
//! /64, as `listen::source_key`) for GW registrations, without IO: the
//! caller passes the time.
//!
//! Each registration that is limited takes one token; a source's bucket
//! holds at most `burst` tokens and refills at `per_second`. Over the
//! limit the registration is answered rc 0x0F (service unavailable) and
//! its connection closed (`registration`). Which registrations are
//! limited is decided there: in `open` provisioning mode every one (each
//! may create a gateway row), in `approved` mode the refused ones only —
//! approved gateways behind one carrier NAT all register at once after a
//! power cut, and a refused auth_id retried in a tight loop must not cost
//! a database lookup and a log line each time.
//!
//! Memory: a bucket that has refilled to `burst` says nothing a new one
//! would not, so full buckets are dropped whenever the map has doubled
//! since the last sweep; the map holds about the sources that registered
//! within the last `burst / per_second` seconds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// Fewest buckets before the first sweep of full ones.
const MIN_SWEEP_AT: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per source.
#[derive(Debug)]
pub struct RegistrationRate {
    per_second: f64,
    burst: f64,
    buckets: HashMap<IpAddr, Bucket>,
    sweep_at: usize,
}

impl RegistrationRate {
    /// `per_second` registrations per source, `burst` at once (at least
    /// one each).
    pub fn new(per_second: u32, burst: u32) -> RegistrationRate {
        RegistrationRate {
            per_second: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: HashMap::new(),
            sweep_at: MIN_SWEEP_AT,
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_second).min(self.burst)
    }

    /// Takes a token of `source` at `now`: `true` if it had one (the
    /// registration goes on), `false` over the limit.
    pub fn take(&mut self, source: IpAddr, now: Instant) -> bool {
        if self.buckets.len() >= self.sweep_at {
            self.sweep(now);
        }
        let tokens = match self.buckets.get(&source) {
            Some(bucket) => self.refilled(*bucket, now),
            None => self.burst,
        };
        let (left, taken) = if tokens >= 1.0 {
            (tokens - 1.0, true)
        } else {
            (tokens, false)
        };
        self.buckets.insert(
            source,
            Bucket {
                tokens: left,
                at: now,
            },
        );
        taken
    }

    /// Sources with a bucket now.
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }

    fn sweep(&mut self, now: Instant) {
        let burst = self.burst;
        let per_second = self.per_second;
        self.buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens + elapsed * per_second < burst
        });
        self.sweep_at = (self.buckets.len() * 2).max(MIN_SWEEP_AT);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_passes_then_the_rate_refills() {
        let mut rate = RegistrationRate::new(2, 3);
        let t0 = Instant::now();
        let a = ip("10.0.0.1");
        assert!((0..3).all(|_| rate.take(a, t0)));
        assert!(!rate.take(a, t0));
        assert!(!rate.take(a, t0 + Duration::from_millis(400)));
        // 2 per second: one token after half a second.
        assert!(rate.take(a, t0 + Duration::from_millis(500)));
        assert!(!rate.take(a, t0 + Duration::from_millis(500)));
        // Refills to the burst, no further.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| rate.take(a, later)));
        assert!(!rate.take(a, later));
    }

    #[test]
    fn each_source_has_its_own_bucket() {
        let mut rate = RegistrationRate::new(1, 1);
        let t0 = Instant::now();
        assert!(rate.take(ip("10.0.0.1"), t0));
        assert!(!rate.take(ip("10.0.0.1"), t0));
        assert!(rate.take(ip("10.0.0.2"), t0));
    }

    #[test]
    fn full_buckets_are_swept_once_the_map_grows() {
        let mut rate = RegistrationRate::new(10, 10);
        let t0 = Instant::now();
        for i in 0..MIN_SWEEP_AT as u32 {
            rate.take(IpAddr::from(i.to_be_bytes()), t0);
        }
        assert_eq!(rate.sources(), MIN_SWEEP_AT);
        // A second later every one of them is full again: swept.
        rate.take(ip("10.9.9.9"), t0 + Duration::from_secs(1));
        assert_eq!(rate.sources(), 1);
    }
}
