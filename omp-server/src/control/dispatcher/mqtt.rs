//! MQTT commands in the dispatcher: creating them, handing QUEUED ones to
//! the client's live session, and moving them on as the session reports
//! (written, acknowledged, replied, gone). The rules are in
//! [`crate::control::mqtt`].

use std::collections::HashMap;

use bytes::Bytes;
use mqtt_codec::QoS;

use super::{Dispatcher, PUSH_BATCH, millis};
use crate::control::mqtt::{Awaits, MqttCommand, MqttLive, ONENET_REQUEST, command_uuid};
use crate::error::StoreError;
use crate::escaped;
use crate::mqtt::topic::granted_qos;
use crate::store::controls::{ControlState, Outcome};
use crate::store::mqtt_controls::{self as mqtt_rows, NewMqttControl, QueuedMqttControl};
use crate::store::now_millis;

/// A command handed to a session, written or not yet.
#[derive(Debug, Clone)]
pub(super) struct MqttFlight {
    client_id: String,
    session: u64,
    /// Written to the connection (SENT), else still in the session's inbox.
    sent: bool,
    awaits: Awaits,
    /// When it ends TIMEOUT (SENT) or is taken back (not yet written).
    deadline: i64,
}

/// The live MQTT sessions and the commands in flight.
#[derive(Debug, Default)]
pub(super) struct MqttTable {
    live: HashMap<String, MqttLive>,
    flight: HashMap<i64, MqttFlight>,
}

impl MqttTable {
    fn count(&self, client_id: &str) -> usize {
        self.flight
            .values()
            .filter(|f| f.client_id == client_id)
            .count()
    }

    /// The earliest deadline of a command in flight.
    pub(super) fn next_deadline(&self) -> Option<i64> {
        self.flight.values().map(|f| f.deadline).min()
    }

    /// Commands in flight.
    pub(super) fn len(&self) -> usize {
        self.flight.len()
    }

    /// The clients with a live session.
    pub(super) fn live_clients(&self) -> Vec<String> {
        self.live.keys().cloned().collect()
    }

    /// The flight of `control_id` if it is on `session`.
    fn on_session(&self, control_id: i64, session: u64) -> Option<&MqttFlight> {
        self.flight
            .get(&control_id)
            .filter(|f| f.session == session)
    }
}

/// The QoS a queued command asked for.
fn requested_qos(c: &QueuedMqttControl) -> QoS {
    QoS::from_bits(u8::try_from(c.qos).unwrap_or(0)).unwrap_or(QoS::AtMostOnce)
}

/// What a queued command is published as, at `qos`, and what ends it.
fn command_of(c: &QueuedMqttControl, qos: QoS) -> MqttCommand {
    let (topic, awaits) = if c.topic == ONENET_REQUEST {
        let uuid = command_uuid();
        (
            format!("{ONENET_REQUEST}/{uuid}"),
            Awaits::Reply(format!("{}{uuid}", crate::control::mqtt::ONENET_RESPONSE)),
        )
    } else if let Some(reply) = &c.reply_topic {
        (c.topic.clone(), Awaits::Reply(reply.clone()))
    } else if qos == QoS::AtMostOnce {
        (c.topic.clone(), Awaits::Written)
    } else {
        (c.topic.clone(), Awaits::Ack)
    };
    MqttCommand {
        control_id: c.id,
        topic,
        payload: Bytes::from(c.payload.clone()),
        qos,
        awaits,
    }
}

impl Dispatcher {
    /// Stores a new MQTT command QUEUED, then pushes its client's queue.
    pub(super) async fn create_mqtt(
        &mut self,
        control: NewMqttControl,
    ) -> Result<Option<i64>, StoreError> {
        let Some(id) = mqtt_rows::insert(&mut self.db.conn(), &control).await? else {
            return Ok(None);
        };
        self.events_pending = true;
        let at = control.expires_at;
        self.next_expiry = Some(self.next_expiry.map_or(at, |t| t.min(at)));
        self.mqtt_push(&control.client_id).await;
        Ok(Some(id))
    }

    pub(super) async fn mqtt_connected(&mut self, client_id: String, live: MqttLive) {
        // A newer session replaces the older: what the older held waits
        // for this one (its end, when it comes, finds nothing of its own).
        let old: Vec<i64> = self
            .mqtt
            .flight
            .iter()
            .filter(|(_, f)| f.client_id == client_id)
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            self.mqtt_take_back(id).await;
        }
        self.mqtt.live.insert(client_id.clone(), live);
        self.mqtt_push(&client_id).await;
    }

    pub(super) async fn mqtt_subscriptions(
        &mut self,
        client_id: &str,
        session: u64,
        filters: Vec<(String, QoS)>,
    ) {
        match self.mqtt.live.get_mut(client_id) {
            Some(live) if live.session == session => live.filters = filters,
            _ => return,
        }
        self.mqtt_push(client_id).await;
    }

    pub(super) async fn mqtt_disconnected(&mut self, client_id: &str, session: u64) {
        if self
            .mqtt
            .live
            .get(client_id)
            .is_some_and(|l| l.session == session)
        {
            self.mqtt.live.remove(client_id);
        }
        let held: Vec<i64> = self
            .mqtt
            .flight
            .iter()
            .filter(|(_, f)| f.client_id == client_id && f.session == session)
            .map(|(id, _)| *id)
            .collect();
        for id in held {
            self.mqtt_take_back(id).await;
        }
    }

    /// Takes command `id` out of flight; a SENT one goes back to QUEUED.
    async fn mqtt_take_back(&mut self, id: i64) {
        let Some(f) = self.mqtt.flight.remove(&id) else {
            return;
        };
        if !f.sent {
            return;
        }
        match self
            .commit(
                id,
                &[ControlState::Sent],
                ControlState::Queued,
                &Outcome::default(),
            )
            .await
        {
            Ok(_) => tracing::info!(client_id = %escaped::text(&f.client_id), control_id = id,
                "MQTT session ended before the command was answered; queued again"),
            Err(e) => tracing::error!(control_id = id, error = %e,
                "MQTT command not queued again: database error"),
        }
    }

    /// Session `session` wrote command `control_id` to its connection.
    pub(super) async fn mqtt_written(&mut self, session: u64, control_id: i64) {
        let Some(f) = self.mqtt.on_session(control_id, session).cloned() else {
            return;
        };
        match self
            .commit(
                control_id,
                &[ControlState::Queued],
                ControlState::Sent,
                &Outcome::default(),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                // Cancelled or expired while it waited in the session's inbox.
                self.mqtt.flight.remove(&control_id);
                return;
            }
            Err(e) => {
                tracing::error!(control_id, error = %e, "MQTT command SENT not recorded: database error");
                self.mqtt.flight.remove(&control_id);
                return;
            }
        }
        tracing::info!(client_id = %escaped::text(&f.client_id), control_id, "MQTT command sent");
        if f.awaits == Awaits::Written {
            self.mqtt_finish(control_id, ControlState::Success, None)
                .await;
            return;
        }
        if let Some(f) = self.mqtt.flight.get_mut(&control_id) {
            f.sent = true;
            f.deadline = now_millis().saturating_add(millis(self.config.completion_timeout));
        }
    }

    /// Session `session` got what ends command `control_id`: its
    /// acknowledgement (`result` `None`) or its reply.
    pub(super) async fn mqtt_answered(
        &mut self,
        session: u64,
        control_id: i64,
        result: Option<Bytes>,
    ) {
        if self
            .mqtt
            .on_session(control_id, session)
            .is_none_or(|f| !f.sent)
        {
            return;
        }
        self.mqtt_finish(control_id, ControlState::Success, result)
            .await;
    }

    /// Ends SENT command `id` in `to`, frees its slot, pushes the next.
    async fn mqtt_finish(&mut self, id: i64, to: ControlState, result: Option<Bytes>) {
        let outcome = Outcome {
            result_data: result.map(|r| r.to_vec()),
            ..Outcome::default()
        };
        let Some(f) = self.mqtt.flight.remove(&id) else {
            return;
        };
        match self.commit(id, &[ControlState::Sent], to, &outcome).await {
            Ok(_) => tracing::info!(client_id = %escaped::text(&f.client_id), control_id = id,
                state = to.as_str(), "MQTT command ended"),
            Err(e) => {
                tracing::error!(control_id = id, state = to.as_str(), error = %e,
                    "MQTT command end not recorded: database error");
                // Kept in flight: its deadline tries again.
                let retry = now_millis().saturating_add(millis(super::RETRY_AFTER));
                self.mqtt.flight.insert(
                    id,
                    MqttFlight {
                        deadline: retry,
                        ..f
                    },
                );
                return;
            }
        }
        self.mqtt_push(&f.client_id).await;
    }

    /// Deadlines of MQTT commands in flight: a SENT one ends TIMEOUT; one
    /// its session never wrote is taken back (it is still QUEUED).
    pub(super) async fn mqtt_timers(&mut self, now: i64) {
        let due: Vec<(i64, MqttFlight)> = self
            .mqtt
            .flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, f)| (*id, f.clone()))
            .collect();
        for (id, f) in due {
            if f.sent {
                tracing::info!(client_id = %escaped::text(&f.client_id), control_id = id,
                    "MQTT command not answered in time; TIMEOUT");
                self.mqtt_finish(id, ControlState::Timeout, None).await;
            } else {
                self.mqtt.flight.remove(&id);
            }
        }
    }

    /// Hands the QUEUED commands of `client_id` that can go now to its
    /// live session, oldest first.
    pub(super) async fn mqtt_push(&mut self, client_id: &str) {
        let Some(live) = self.mqtt.live.get(client_id).cloned() else {
            return;
        };
        let now = now_millis();
        let queued = match mqtt_rows::queued(&mut self.db.conn(), client_id, now, PUSH_BATCH).await
        {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(client_id = %escaped::text(client_id), error = %e,
                    "cannot read the MQTT command queue");
                return;
            }
        };
        for c in queued {
            if self.mqtt.count(client_id) >= self.config.max_in_flight {
                break;
            }
            if self.mqtt.flight.contains_key(&c.id) {
                continue;
            }
            let requested = requested_qos(&c);
            let qos = if c.topic == ONENET_REQUEST {
                // Delivered without a subscription, at the QoS asked for.
                requested
            } else {
                let Some(granted) = granted_qos(&live.filters, &c.topic) else {
                    // Waits for a matching SUBSCRIBE (or its TTL).
                    continue;
                };
                if granted < requested {
                    tracing::debug!(client_id = %escaped::text(client_id), control_id = c.id,
                        requested = requested as u8, granted = granted as u8,
                        "MQTT command published at the QoS its subscription was granted");
                }
                requested.min(granted)
            };
            let command = command_of(&c, qos);
            let awaits = command.awaits.clone();
            if live.commands.command(command).is_err() {
                // Full: the next push, or the session's end, comes.
                break;
            }
            // Taken back if the session has not written it by then.
            let deadline = now.saturating_add(millis(self.config.completion_timeout));
            self.mqtt.flight.insert(
                c.id,
                MqttFlight {
                    client_id: client_id.to_owned(),
                    session: live.session,
                    sent: false,
                    awaits,
                    deadline,
                },
            );
        }
    }
}
