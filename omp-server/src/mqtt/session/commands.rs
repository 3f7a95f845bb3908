//! The control queue's commands as one MQTT session carries them: which
//! of its PUBLISHes await a PUBACK / PUBCOMP, and which topics' publishes
//! by the device are replies, each for its control (the rules are in
//! [`crate::control::mqtt`]).

use mqtt_codec::Packet;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use crate::control::mqtt::{Awaits, MqttCommand, MqttLive};
use crate::mqtt::router::Outgoing;

/// Commands written on this session and not yet ended. Lists, not maps:
/// the dispatcher keeps a few in flight per client
/// (`control_max_in_flight`), and an empty list is half an empty map's
/// size in every idle session's task.
#[derive(Debug, Default)]
pub struct Commands {
    awaiting_delivery: Vec<(u16, i64)>,
    awaiting_reply: Vec<(String, i64)>,
}

impl Commands {
    /// `command` was written as the PUBLISH with `packet_id`.
    pub fn written(&mut self, command: &MqttCommand, packet_id: u16) {
        match &command.awaits {
            Awaits::Written => {}
            Awaits::Ack => insert(&mut self.awaiting_delivery, packet_id, command.control_id),
            Awaits::Reply(topic) => {
                insert(&mut self.awaiting_reply, topic.clone(), command.control_id);
            }
        }
    }

    /// The control a PUBACK / PUBCOMP of `packet_id` ends, if any.
    pub fn delivered(&mut self, packet_id: u16) -> Option<i64> {
        remove(&mut self.awaiting_delivery, |id| *id == packet_id)
    }

    /// The control a publish by the device on `topic` answers, if any.
    pub fn replied(&mut self, topic: &str) -> Option<i64> {
        remove(&mut self.awaiting_reply, |t| t == topic)
    }
}

/// Maps `key` to `control_id`, as a map's insert would.
fn insert<K: PartialEq>(list: &mut Vec<(K, i64)>, key: K, control_id: i64) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = control_id,
        None => list.push((key, control_id)),
    }
}

/// Takes out the control of the key `is_key` picks, if any.
fn remove<K>(list: &mut Vec<(K, i64)>, is_key: impl Fn(&K) -> bool) -> Option<i64> {
    let at = list.iter().position(|(k, _)| is_key(k))?;
    Some(list.swap_remove(at).1)
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> Session<S> {
    /// After the CONNACK 0: tells the control dispatcher this session
    /// takes the client's commands.
    pub(super) async fn take_commands(&mut self) {
        let (Some(client), Some(inbox)) = (self.machine.client(), &self.inbox) else {
            return;
        };
        let client_id = client.client_id.clone();
        let live = MqttLive {
            session: self.id,
            commands: inbox.clone(),
            filters: Vec::new(),
        };
        self.state.control.mqtt_connected(&client_id, live).await;
    }

    /// Tells the control dispatcher the session's subscriptions now.
    pub(super) async fn report_filters(&mut self) {
        let Some(client) = self.machine.client() else {
            return;
        };
        let client_id = client.client_id.clone();
        let filters = self.state.mqtt.router.filters(&client_id, self.id);
        self.state
            .control
            .mqtt_subscriptions(&client_id, self.id, filters)
            .await;
    }

    /// Publishes a command of the control queue (never RETAIN) and reports
    /// it written.
    pub(super) async fn send_command(&mut self, command: MqttCommand) -> Result<(), super::Ending> {
        let packet = self.machine.outgoing(Outgoing {
            topic: command.topic.clone(),
            payload: command.payload.clone(),
            qos: command.qos,
            retain: false,
        });
        let packet_id = match &packet {
            Packet::Publish(p) => p.packet_id,
            _ => 0,
        };
        if !self.try_write_packet(&packet).await? {
            return Ok(());
        }
        self.commands.written(&command, packet_id);
        self.state
            .control
            .mqtt_written(self.id, command.control_id)
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use mqtt_codec::QoS;

    use super::*;

    fn command(id: i64, awaits: Awaits) -> MqttCommand {
        MqttCommand {
            control_id: id,
            topic: "t".into(),
            payload: Bytes::new(),
            qos: QoS::AtLeastOnce,
            awaits,
        }
    }

    #[test]
    fn acknowledgements_and_replies_end_their_own_command_once() {
        let mut c = Commands::default();
        c.written(&command(1, Awaits::Ack), 7);
        c.written(&command(2, Awaits::Reply("$crsp/u".into())), 8);
        c.written(&command(3, Awaits::Written), 9);
        assert_eq!(c.delivered(8), None, "a reply command ends on its reply");
        assert_eq!(c.delivered(9), None);
        assert_eq!(c.delivered(7), Some(1));
        assert_eq!(c.delivered(7), None);
        assert_eq!(c.replied("$crsp/other"), None);
        assert_eq!(c.replied("$crsp/u"), Some(2));
        assert_eq!(c.replied("$crsp/u"), None);
    }
}
