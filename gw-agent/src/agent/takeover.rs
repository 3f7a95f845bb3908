//! A hint for a gateway whose working sessions the OMP keeps closing.
//!
//! The OMP replaces a gateway's session when another connection registers
//! the same auth ID, and GMMP has no message that tells the replaced side
//! why. Two agents (or an agent and a module, or an emulator) that share a
//! MAC close each other's sessions about once per reconnect delay; from
//! this side that looks like the OMP closing a session that had come up,
//! again and again. After [`ENDS`] such ends within [`WINDOW`] the agent
//! says what is probably happening, at most once per window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Sessions closed by the OMP after they came up, within [`WINDOW`],
/// before the hint is given.
pub(super) const ENDS: usize = 3;

/// How far back the ends are counted, and how often the hint may repeat.
pub(super) const WINDOW: Duration = Duration::from_secs(60);

/// The recent ends of working sessions closed by the OMP.
#[derive(Debug, Default)]
pub(super) struct TakeoverHint {
    ends: VecDeque<Instant>,
    hinted_at: Option<Instant>,
}

impl TakeoverHint {
    /// Notes a session that had come up and that the OMP then closed.
    /// Returns how many such ends fell within the window when the hint is
    /// due now, `None` otherwise.
    pub(super) fn closed_by_omp(&mut self, now: Instant) -> Option<usize> {
        self.ends.push_back(now);
        while self
            .ends
            .front()
            .is_some_and(|&t| now.duration_since(t) > WINDOW)
        {
            self.ends.pop_front();
        }
        let quiet = self
            .hinted_at
            .is_none_or(|t| now.duration_since(t) >= WINDOW);
        if self.ends.len() >= ENDS && quiet {
            self.hinted_at = Some(now);
            Some(self.ends.len())
        } else {
            None
        }
    }

    /// A session ended for another reason: the ends counted so far were
    /// not a run of takeovers.
    pub(super) fn other_end(&mut self) {
        self.ends.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_closes_within_a_minute_give_the_hint_once_a_minute() {
        let t0 = Instant::now();
        let mut hint = TakeoverHint::default();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(hint.closed_by_omp(at(0)), None);
        assert_eq!(hint.closed_by_omp(at(1)), None);
        assert_eq!(hint.closed_by_omp(at(2)), Some(3));
        // Still flapping: not repeated within the window.
        for s in 3..62 {
            assert_eq!(hint.closed_by_omp(at(s)), None, "at {s} s");
        }
        assert!(hint.closed_by_omp(at(62)).is_some(), "again a window later");
    }

    #[test]
    fn closes_far_apart_or_broken_by_other_ends_give_none() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut hint = TakeoverHint::default();
        assert_eq!(hint.closed_by_omp(at(0)), None);
        assert_eq!(hint.closed_by_omp(at(40)), None);
        assert_eq!(hint.closed_by_omp(at(90)), None, "the first fell out");
        let mut hint = TakeoverHint::default();
        hint.closed_by_omp(at(0));
        hint.closed_by_omp(at(1));
        hint.other_end();
        assert_eq!(hint.closed_by_omp(at(2)), None);
    }
}
