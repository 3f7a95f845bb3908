//! [`LogBudget`]: a few log lines per second for events any peer can cause
//! at will (a connection over the caps, a malformed frame, a refused
//! request or registration), so that an attack does not turn into
//! gigabytes of log. Lines over the budget are counted and the next line
//! logged says how many were left out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A budget of log lines per second, shared by every task logging one
/// kind of event. Lines over the budget are counted, and the next line
/// logged says how many were left out.
#[derive(Debug)]
pub struct LogBudget {
    per_second: u64,
    second: AtomicU64,
    used: AtomicU64,
    left_out: AtomicU64,
}

impl LogBudget {
    /// A budget of `per_second` lines.
    pub const fn new(per_second: u64) -> LogBudget {
        LogBudget {
            per_second,
            second: AtomicU64::new(0),
            used: AtomicU64::new(0),
            left_out: AtomicU64::new(0),
        }
    }

    /// `Some(n)`: log this one, `n` lines were left out since the last
    /// one logged; `None`: over budget (log it at debug level at most).
    pub fn take(&self) -> Option<u64> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.second.swap(now, Ordering::Relaxed) != now {
            self.used.store(0, Ordering::Relaxed);
        }
        if self.used.fetch_add(1, Ordering::Relaxed) < self.per_second {
            Some(self.left_out.swap(0, Ordering::Relaxed))
        } else {
            self.left_out.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_budget_lets_a_few_lines_through_and_counts_the_rest() {
        let budget = LogBudget::new(3);
        let taken: Vec<Option<u64>> = (0..10).map(|_| budget.take()).collect();
        let logged = taken.iter().filter(|t| t.is_some()).count();
        // Three per second; a second boundary during the loop allows three more.
        assert!((3..=6).contains(&logged), "{taken:?}");
        assert!(taken[..3].iter().all(|t| *t == Some(0)));
    }
}
