//! One MQTT session's inbox: the messages the [`crate::mqtt::router`]
//! forwards to it and the commands the control dispatcher hands it
//! ([`crate::control::mqtt`]), in the one place its IO loop waits on.
//!
//! Not a tokio channel for each: a channel allocates its cache-padded
//! shared state and a first block of 32 slots when it is made, and the
//! two took about 1.6 KiB of every idle session's 4 KiB budget. Empty,
//! this is a mutex, two empty `VecDeque`s (no allocation) and a `Notify`
//! — as the GMMP session's [`crate::registry::Outbox`].

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::control::mqtt::{COMMANDS_CAPACITY, MqttCommand};
use crate::mqtt::router::{OUTBOX_CAPACITY, Outgoing};

/// What the session takes from its inbox next; boxed, so that the
/// session's task, which holds one while it writes it, stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A message to forward to the client.
    Routed(Box<Outgoing>),
    /// A command to publish.
    Command(Box<MqttCommand>),
}

/// The queue of that kind already holds its capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the MQTT session's inbox is full")]
pub struct InboxFull;

#[derive(Debug, Default)]
struct Queues {
    routed: VecDeque<Box<Outgoing>>,
    commands: VecDeque<Box<MqttCommand>>,
}

/// Routed messages (at most [`OUTBOX_CAPACITY`]) and commands (at most
/// [`COMMANDS_CAPACITY`]) waiting for one session.
#[derive(Debug, Default)]
pub struct Inbox {
    queues: Mutex<Queues>,
    notify: Notify,
}

impl Inbox {
    /// Queues a routed message.
    pub fn route(&self, m: Outgoing) -> Result<(), InboxFull> {
        self.push(|q| push_bounded(&mut q.routed, Box::new(m), OUTBOX_CAPACITY))
    }

    /// Queues a command.
    pub fn command(&self, c: MqttCommand) -> Result<(), InboxFull> {
        self.push(|q| push_bounded(&mut q.commands, Box::new(c), COMMANDS_CAPACITY))
    }

    fn push(&self, f: impl FnOnce(&mut Queues) -> Result<(), InboxFull>) -> Result<(), InboxFull> {
        f(&mut self.lock())?;
        // Stores a permit when the session is not waiting yet.
        self.notify.notify_one();
        Ok(())
    }

    /// The next delivery, routed messages first, waiting for one.
    /// Cancel-safe: nothing is taken unless it is returned.
    pub async fn next(&self) -> Delivery {
        loop {
            if let Some(d) = self.try_next() {
                return d;
            }
            self.notify.notified().await;
        }
    }

    fn try_next(&self) -> Option<Delivery> {
        let mut q = self.lock();
        let d = match q.routed.pop_front() {
            Some(m) => Delivery::Routed(m),
            None => Delivery::Command(q.commands.pop_front()?),
        };
        // A burst must not leave a session idle after it holding the
        // burst's space.
        if q.routed.is_empty() {
            q.routed = VecDeque::new();
        }
        if q.commands.is_empty() {
            q.commands = VecDeque::new();
        }
        Some(d)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        // push_back / pop_front cannot leave a queue half-changed.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, capacity: usize) -> Result<(), InboxFull> {
    if queue.len() >= capacity {
        return Err(InboxFull);
    }
    queue.push_back(item);
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use mqtt_codec::QoS;

    use super::*;
    use crate::control::mqtt::Awaits;

    fn routed(topic: &str) -> Outgoing {
        Outgoing {
            topic: topic.into(),
            payload: Bytes::new(),
            qos: QoS::AtMostOnce,
            retain: false,
        }
    }

    fn command(control_id: i64) -> MqttCommand {
        MqttCommand {
            control_id,
            topic: "t".into(),
            payload: Bytes::new(),
            qos: QoS::AtLeastOnce,
            awaits: Awaits::Ack,
        }
    }

    #[tokio::test]
    async fn routed_messages_come_first_and_each_kind_keeps_its_order() {
        let inbox = Inbox::default();
        inbox.command(command(1)).unwrap();
        inbox.route(routed("a")).unwrap();
        inbox.command(command(2)).unwrap();
        inbox.route(routed("b")).unwrap();
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(match inbox.next().await {
                Delivery::Routed(m) => m.topic,
                Delivery::Command(c) => c.control_id.to_string(),
            });
        }
        assert_eq!(got, ["a", "b", "1", "2"]);
    }

    #[test]
    fn each_kind_is_bounded_on_its_own() {
        let inbox = Inbox::default();
        for i in 0..OUTBOX_CAPACITY {
            inbox.route(routed(&i.to_string())).unwrap();
        }
        assert_eq!(inbox.route(routed("over")), Err(InboxFull));
        for i in 0..COMMANDS_CAPACITY {
            inbox.command(command(i as i64)).unwrap();
        }
        assert_eq!(inbox.command(command(-1)), Err(InboxFull));
    }

    #[tokio::test]
    async fn a_delivery_wakes_the_waiting_session() {
        let inbox = std::sync::Arc::new(Inbox::default());
        let waiting = tokio::spawn({
            let inbox = inbox.clone();
            async move { inbox.next().await }
        });
        tokio::task::yield_now().await;
        inbox.command(command(7)).unwrap();
        assert!(matches!(waiting.await.unwrap(), Delivery::Command(c) if c.control_id == 7));
    }
}
