//! How long the driver waits for each step of the WIZ550S2E.

use std::time::Duration;

/// Per-command timeouts and the re-sync and escape timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// An answer to an ordinary command, and the `[W,<sock>]` of a
    /// two-step one.
    pub command: Duration,
    /// `[S,0]` after AT+NOPEN's `[W,0]` (the module's own TCP connect).
    pub connect: Duration,
    /// `[S,0]` after an AT+NSEND payload.
    pub send: Duration,
    /// After AT+MRST's `[S]`, before the first `AT` (the module drops its
    /// input while it reboots).
    pub reboot: Duration,
    /// Each re-sync / start-up `AT`.
    pub resync: Duration,
    /// Re-sync `AT`s before the module counts as unresponsive.
    pub resync_attempts: u32,
    /// Silence before and after `+++` (the firmware wants 500 ms).
    pub escape_guard: Duration,
    /// Wait before trying an AT+NSEND again that was answered busy
    /// (`[F,,7,<free>]`).
    pub busy_retry: Duration,
    /// Busy answers in a row before the send fails.
    pub busy_attempts: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            command: Duration::from_secs(2),
            connect: Duration::from_secs(15),
            send: Duration::from_secs(5),
            reboot: Duration::from_millis(500),
            resync: Duration::from_millis(500),
            resync_attempts: 4,
            escape_guard: Duration::from_millis(600),
            busy_retry: Duration::from_millis(20),
            busy_attempts: 100,
        }
    }
}
