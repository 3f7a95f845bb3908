//! Fault machinery every emulated module shares, whatever its grammar:
//! a queue the test's control handle feeds and the IO shell drains
//! ([`FaultQueue`]), and the response faults of a command — dropped,
//! delayed or garbled replies, armed one-shot or every n-th command
//! ([`FaultPlan`], [`ResponseFaults`]).
//!
//! A garbled line keeps its CR LF; its content is reversed and its first
//! byte replaced by 0xFF ([`garble`]), so it matches nothing a driver
//! expects and a driver must re-synchronise.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

/// Faults queued by a control handle, taken by the IO shell before it
/// handles its next input, which keeps "inject, then write the command"
/// in order.
#[derive(Debug)]
pub struct FaultQueue<F> {
    queue: Arc<Mutex<VecDeque<F>>>,
    wake: Arc<Notify>,
}

impl<F> Clone for FaultQueue<F> {
    fn clone(&self) -> Self {
        FaultQueue {
            queue: Arc::clone(&self.queue),
            wake: Arc::clone(&self.wake),
        }
    }
}

impl<F> Default for FaultQueue<F> {
    fn default() -> Self {
        FaultQueue {
            queue: Arc::default(),
            wake: Arc::default(),
        }
    }
}

impl<F> FaultQueue<F> {
    fn lock(&self) -> MutexGuard<'_, VecDeque<F>> {
        // A panic while holding the lock leaves a plain queue behind,
        // which stays usable.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a fault and wakes the shell.
    pub fn push(&self, fault: F) {
        self.lock().push_back(fault);
        self.wake.notify_one();
    }

    /// Takes every queued fault, oldest first.
    pub fn take_all(&self) -> Vec<F> {
        self.lock().drain(..).collect()
    }

    /// Resolves when a fault has been queued.
    pub async fn queued(&self) {
        self.wake.notified().await
    }
}

/// Response faults that recur every n-th command; `None` disables each.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// Drop the response of every n-th command.
    pub drop_every: Option<NonZeroU32>,
    /// Delay the response of every n-th command by `delay`.
    pub delay_every: Option<NonZeroU32>,
    /// The delay used by `delay_every`.
    pub delay: Duration,
    /// Garble the first response line of every n-th command.
    pub garble_every: Option<NonZeroU32>,
}

/// What happens to the response of the command being answered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum CommandFault {
    /// Written as it is.
    #[default]
    None,
    /// Never written.
    Drop,
    /// Written after this quiet time.
    Delay(Duration),
}

/// Response faults armed for the next command (one-shot or by the plan),
/// and the one in force for the command being answered.
#[derive(Debug, Default)]
pub struct ResponseFaults {
    plan: FaultPlan,
    commands: u64,
    drop_next: bool,
    delay_next: Option<Duration>,
    garble_next: bool,
    current: CommandFault,
}

impl ResponseFaults {
    /// Faults following `plan`, none armed.
    pub fn new(plan: FaultPlan) -> Self {
        ResponseFaults {
            plan,
            ..ResponseFaults::default()
        }
    }

    /// The next command's response is dropped.
    pub fn drop_next(&mut self) {
        self.drop_next = true;
    }

    /// The next command's response is delayed by `delay`.
    pub fn delay_next(&mut self, delay: Duration) {
        self.delay_next = Some(delay);
    }

    /// The next candidate line is garbled.
    pub fn garble_next(&mut self) {
        self.garble_next = true;
    }

    /// A command is starting: decides what happens to its response.
    pub fn start_command(&mut self) -> CommandFault {
        self.commands += 1;
        let n = self.commands;
        let every = |k: Option<NonZeroU32>| k.is_some_and(|k| n % u64::from(k.get()) == 0);
        let drop = std::mem::take(&mut self.drop_next) || every(self.plan.drop_every);
        let delay = self
            .delay_next
            .take()
            .or_else(|| every(self.plan.delay_every).then_some(self.plan.delay));
        if every(self.plan.garble_every) {
            self.garble_next = true;
        }
        self.current = match (drop, delay) {
            (true, _) => CommandFault::Drop,
            (false, Some(d)) => CommandFault::Delay(d),
            (false, None) => CommandFault::None,
        };
        self.current
    }

    /// The fault of the command being answered.
    pub fn current(&self) -> CommandFault {
        self.current
    }

    /// The delay has been applied (a delay holds back the first line only;
    /// later lines follow it).
    pub fn delay_applied(&mut self) {
        if matches!(self.current, CommandFault::Delay(_)) {
            self.current = CommandFault::None;
        }
    }

    /// The command has been answered: its fault no longer applies.
    pub fn end_command(&mut self) {
        self.current = CommandFault::None;
    }

    /// Whether the next line is to be garbled (and disarms it).
    pub fn take_garble(&mut self) -> bool {
        std::mem::take(&mut self.garble_next)
    }
}

/// `line` (without its CR LF) garbled: content reversed, first byte 0xFF,
/// CR LF appended.
pub fn garble(line: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = line.iter().rev().copied().collect();
    if let Some(first) = out.first_mut() {
        *first = 0xFF;
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_garbled_line_keeps_its_end_and_nothing_else() {
        assert_eq!(garble(b"[S]"), b"\xffS[\r\n");
        assert_eq!(garble(b""), b"\r\n");
    }

    #[test]
    fn one_shot_faults_apply_to_the_next_command_only() {
        let mut faults = ResponseFaults::new(FaultPlan::default());
        faults.drop_next();
        assert_eq!(faults.start_command(), CommandFault::Drop);
        assert_eq!(faults.start_command(), CommandFault::None);
        faults.delay_next(Duration::from_millis(5));
        assert_eq!(
            faults.start_command(),
            CommandFault::Delay(Duration::from_millis(5))
        );
        faults.delay_applied();
        assert_eq!(faults.current(), CommandFault::None);
    }

    #[test]
    fn the_plan_counts_commands() {
        let mut faults = ResponseFaults::new(FaultPlan {
            drop_every: NonZeroU32::new(2),
            garble_every: NonZeroU32::new(3),
            ..FaultPlan::default()
        });
        assert_eq!(faults.start_command(), CommandFault::None);
        assert_eq!(faults.start_command(), CommandFault::Drop);
        assert!(!faults.take_garble());
        faults.start_command();
        assert!(faults.take_garble());
        assert!(!faults.take_garble());
    }

    #[tokio::test]
    async fn the_queue_keeps_order_and_wakes() {
        let queue = FaultQueue::default();
        queue.push(1);
        queue.push(2);
        queue.queued().await;
        assert_eq!(queue.take_all(), vec![1, 2]);
        assert!(queue.take_all().is_empty());
    }
}
