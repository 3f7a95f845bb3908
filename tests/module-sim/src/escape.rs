//! The data-mode escape both WIZnet modules use: a trigger sequence
//! (`+++`) counts only with a guard time of line silence before its first
//! byte, each next byte within the guard time of the previous one, and the
//! guard time of silence after its last byte. Sans-IO: bytes and the time
//! go in, bytes to pass on and a timer to start come out.
//!
//! Trigger bytes are held, not passed on, until the sequence is decided;
//! when it fails (another byte came, or a gap was too long) they are
//! passed on with what follows, so a payload containing `+++` is
//! delivered intact.

use std::time::{Duration, Instant};

/// What [`Escape::feed`] gives back.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fed {
    /// Bytes to pass on (to the socket), in order.
    pub pass: Vec<u8>,
    /// Start a timer of this length and hand its token to
    /// [`Escape::timer`] when it fires.
    pub arm: Option<(Duration, u64)>,
}

/// What a fired timer decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Expired {
    /// The escape is complete: leave data mode.
    Escaped,
    /// The sequence failed; pass these held bytes on.
    Released(Vec<u8>),
    /// The timer was superseded by later input.
    Stale,
}

/// Escape detector for one stay in data mode.
#[derive(Debug)]
pub struct Escape {
    trigger: Vec<u8>,
    guard: Duration,
    matched: usize,
    last_input: Instant,
    token: u64,
}

impl Escape {
    /// A detector entered at `now` (the line counts as busy until then).
    pub fn new(trigger: &[u8], guard: Duration, now: Instant) -> Self {
        Escape {
            trigger: trigger.to_vec(),
            guard,
            matched: 0,
            last_input: now,
            token: 0,
        }
    }

    fn held(&self) -> &[u8] {
        &self.trigger[..self.matched]
    }

    /// Bytes from the host at `now`.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) -> Fed {
        let mut fed = Fed::default();
        let mut quiet_before = now.saturating_duration_since(self.last_input) >= self.guard;
        for &byte in bytes {
            let expected = self.trigger.get(self.matched).copied();
            let starts = self.matched > 0 || quiet_before;
            if expected == Some(byte) && starts && !self.trigger.is_empty() {
                self.matched += 1;
            } else {
                fed.pass.extend_from_slice(self.held());
                fed.pass.push(byte);
                self.matched = 0;
            }
            quiet_before = false;
        }
        self.last_input = now;
        self.token += 1;
        fed.arm = (self.matched > 0).then_some((self.guard, self.token));
        fed
    }

    /// A timer armed by [`Escape::feed`] fired.
    pub fn timer(&mut self, token: u64) -> Expired {
        if token != self.token || self.matched == 0 {
            return Expired::Stale;
        }
        if self.matched == self.trigger.len() {
            self.matched = 0;
            return Expired::Escaped;
        }
        let held = self.held().to_vec();
        self.matched = 0;
        Expired::Released(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUARD: Duration = Duration::from_millis(500);

    #[test]
    fn plus_plus_plus_between_silences_escapes() {
        let t0 = Instant::now();
        let mut escape = Escape::new(b"+++", GUARD, t0);
        let fed = escape.feed(b"+++", t0 + GUARD);
        assert!(fed.pass.is_empty());
        let (after, token) = fed.arm.unwrap();
        assert_eq!(after, GUARD);
        assert_eq!(escape.timer(token), Expired::Escaped);
    }

    #[test]
    fn without_silence_before_the_pluses_are_data() {
        let t0 = Instant::now();
        let mut escape = Escape::new(b"+++", GUARD, t0);
        let fed = escape.feed(b"a+++", t0 + GUARD);
        assert_eq!(fed.pass, b"a+++");
        assert_eq!(fed.arm, None);
    }

    #[test]
    fn bytes_after_the_pluses_release_them() {
        let t0 = Instant::now();
        let mut escape = Escape::new(b"+++", GUARD, t0);
        let first = escape.feed(b"++", t0 + GUARD);
        let fed = escape.feed(b"+x", t0 + GUARD + Duration::from_millis(10));
        assert_eq!(fed.pass, b"+++x");
        assert_eq!(escape.timer(first.arm.unwrap().1), Expired::Stale);
    }

    #[test]
    fn a_long_gap_between_pluses_releases_them() {
        let t0 = Instant::now();
        let mut escape = Escape::new(b"+++", GUARD, t0);
        let fed = escape.feed(b"++", t0 + GUARD);
        assert_eq!(
            escape.timer(fed.arm.unwrap().1),
            Expired::Released(b"++".to_vec())
        );
    }
}
