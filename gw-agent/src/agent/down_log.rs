//! How loudly a lost session is logged: a new reason is a warning; the
//! same reason again, while the reconnect delays keep growing, is a debug
//! line, with an info line at 10, 100, 1000… repeats so a long outage
//! still shows in an info-level log. An agent refused by an OMP that has
//! not approved it retries for as long as it runs; it says why once, not
//! every back-off step.

use std::time::Duration;

/// The last reason a session ended for, and how often it repeated.
#[derive(Debug, Default)]
pub(super) struct DownLog {
    last: Option<String>,
    repeats: u64,
}

/// What [`DownLog::loudness`] decided for one session end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Loudness {
    /// A new reason (or the first after a session that came up).
    Warn,
    /// The same reason for the n-th time, n a power of ten.
    Remind(u64),
    /// The same reason again.
    Quiet,
}

impl DownLog {
    /// How loudly to log a session ended for `reason`; `recovered` is true
    /// when a session came up since the last end (the back-off was reset).
    pub(super) fn loudness(&mut self, reason: &str, recovered: bool) -> Loudness {
        if recovered || self.last.as_deref() != Some(reason) {
            self.last = Some(reason.to_owned());
            self.repeats = 0;
            return Loudness::Warn;
        }
        self.repeats += 1;
        if self.repeats >= 10 && is_power_of_ten(self.repeats) {
            Loudness::Remind(self.repeats)
        } else {
            Loudness::Quiet
        }
    }

    /// Logs `message` (what is down) for `reason`, retried in `delay`.
    pub(super) fn report(&mut self, message: &str, reason: &str, delay: Duration, recovered: bool) {
        // The agent's log target, not this module's: users filter on it.
        match self.loudness(reason, recovered) {
            Loudness::Warn => {
                tracing::warn!(target: "gw_agent::agent", %reason, retry_in = ?delay, "{message}")
            }
            Loudness::Remind(n) => tracing::info!(
                target: "gw_agent::agent",
                %reason,
                retry_in = ?delay,
                "{message} (the same reason {n} times in a row)"
            ),
            Loudness::Quiet => tracing::debug!(
                target: "gw_agent::agent",
                %reason,
                retry_in = ?delay,
                "{message} (the same reason again)"
            ),
        }
    }
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n % 10 == 0 {
        n /= 10;
    }
    n == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_reason_warns_once_then_reminds_at_powers_of_ten() {
        let mut log = DownLog::default();
        let decided: Vec<Loudness> = (0..=100).map(|_| log.loudness("refused", false)).collect();
        assert_eq!(decided[0], Loudness::Warn);
        assert_eq!(decided[1], Loudness::Quiet);
        assert_eq!(decided[10], Loudness::Remind(10));
        assert_eq!(decided[100], Loudness::Remind(100));
        let warnings = decided.iter().filter(|l| **l == Loudness::Warn).count();
        let reminders = decided
            .iter()
            .filter(|l| matches!(l, Loudness::Remind(_)))
            .count();
        assert_eq!((warnings, reminders), (1, 2));
    }

    #[test]
    fn a_new_reason_or_a_recovery_warns_again() {
        let mut log = DownLog::default();
        assert_eq!(log.loudness("refused", false), Loudness::Warn);
        assert_eq!(log.loudness("refused", false), Loudness::Quiet);
        assert_eq!(log.loudness("link down", false), Loudness::Warn);
        assert_eq!(log.loudness("link down", true), Loudness::Warn);
    }
}
