//! The connected MQTT clients, their subscriptions, and the retained
//! message of each topic — in memory, shared by the sessions.
//!
//! A client id has one live session: binding a newer one closes the older
//! (OneNET kicks the old connection the same way). Messages reach a
//! subscriber through its bounded outbox; a subscriber too slow to take
//! them loses the overflow (logged): every message is in the store
//! already, and one stalled reader must not hold up the sender's session.
//!
//! Routing looks at every connected client's filters: fine for the
//! hundreds of devices of a sandbox; a topic tree would be the next step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mqtt_codec::QoS;
use tokio_util::sync::CancellationToken;

use crate::escaped;
use crate::mqtt::inbox::Inbox;
use crate::mqtt::topic;
use crate::store::mqtt_messages::StoredMessage;

/// Messages queued for one subscriber at most (in its [`Inbox`]).
pub const OUTBOX_CAPACITY: usize = 64;

/// A message on its way to a subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The topic name.
    pub topic: String,
    /// The payload.
    pub payload: Bytes,
    /// The QoS to send it with (the message's, at most the granted one).
    pub qos: QoS,
    /// Sent because it is retained (on a new subscription).
    pub retain: bool,
}

/// A message to route or retain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic name.
    pub topic: String,
    /// The payload.
    pub payload: Bytes,
    /// The QoS it was published with.
    pub qos: QoS,
}

struct Live {
    session: u64,
    close: CancellationToken,
    inbox: Arc<Inbox>,
    filters: Vec<(String, QoS)>,
}

#[derive(Default)]
struct Inner {
    live: HashMap<String, Live>,
    retained: HashMap<String, Message>,
}

/// The clients, subscriptions and retained messages.
#[derive(Default)]
pub struct Router {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("clients", &self.connected())
            .finish_non_exhaustive()
    }
}

impl Router {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Clients connected now.
    pub fn connected(&self) -> usize {
        self.lock().live.len()
    }

    /// True when `client_id` has a live session.
    pub fn is_connected(&self, client_id: &str) -> bool {
        self.lock().live.contains_key(client_id)
    }

    /// Binds `client_id` to `session`, closing an older session of it
    /// (whose subscriptions go with it: every session here is clean).
    pub fn bind(&self, client_id: &str, session: u64, close: CancellationToken, inbox: Arc<Inbox>) {
        let old = self.lock().live.insert(
            client_id.to_owned(),
            Live {
                session,
                close,
                inbox,
                filters: Vec::new(),
            },
        );
        if let Some(old) = old {
            old.close.cancel();
        }
    }

    /// Forgets `client_id` if `session` still holds it.
    pub fn unbind(&self, client_id: &str, session: u64) {
        let mut inner = self.lock();
        if inner
            .live
            .get(client_id)
            .is_some_and(|l| l.session == session)
        {
            inner.live.remove(client_id);
        }
    }

    /// Adds (or replaces the QoS of) `filters` for the session, and
    /// returns the retained messages they match, to send at once.
    pub fn subscribe(
        &self,
        client_id: &str,
        session: u64,
        filters: &[(String, QoS)],
    ) -> Vec<Outgoing> {
        let mut inner = self.lock();
        let Some(live) = inner
            .live
            .get_mut(client_id)
            .filter(|l| l.session == session)
        else {
            return Vec::new();
        };
        for (filter, qos) in filters {
            match live.filters.iter_mut().find(|(f, _)| f == filter) {
                Some(existing) => existing.1 = *qos,
                None => live.filters.push((filter.clone(), *qos)),
            }
        }
        let mut out = Vec::new();
        for m in inner.retained.values() {
            if let Some(granted) = topic::granted_qos(filters, &m.topic) {
                out.push(Outgoing {
                    topic: m.topic.clone(),
                    payload: m.payload.clone(),
                    qos: m.qos.min(granted),
                    retain: true,
                });
            }
        }
        out
    }

    /// The session's subscription filters, each with its granted QoS.
    pub fn filters(&self, client_id: &str, session: u64) -> Vec<(String, QoS)> {
        self.lock()
            .live
            .get(client_id)
            .filter(|l| l.session == session)
            .map_or_else(Vec::new, |l| l.filters.clone())
    }

    /// Removes `filters` from the session's subscriptions.
    pub fn unsubscribe(&self, client_id: &str, session: u64, filters: &[String]) {
        let mut inner = self.lock();
        if let Some(live) = inner
            .live
            .get_mut(client_id)
            .filter(|l| l.session == session)
        {
            live.filters.retain(|(f, _)| !filters.contains(f));
        }
    }

    /// Keeps `m` as its topic's retained message (an empty payload clears
    /// the topic).
    pub fn retain(&self, m: Message) {
        let mut inner = self.lock();
        if m.payload.is_empty() {
            inner.retained.remove(&m.topic);
        } else {
            inner.retained.insert(m.topic.clone(), m);
        }
    }

    /// Restores the retained messages read back from the store.
    pub fn restore_retained(&self, stored: Vec<StoredMessage>) {
        for m in stored {
            let qos = QoS::from_bits(m.qos as u8).unwrap_or(QoS::AtMostOnce);
            self.retain(Message {
                topic: m.topic,
                payload: Bytes::from(m.payload),
                qos,
            });
        }
    }

    /// Sends `m` to every subscriber whose filters match it, at the
    /// highest QoS granted among them (at most the message's); returns how
    /// many got it.
    pub fn route(&self, m: &Message) -> usize {
        let inner = self.lock();
        let mut sent = 0;
        for (client_id, live) in &inner.live {
            let Some(granted) = topic::granted_qos(&live.filters, &m.topic) else {
                continue;
            };
            let out = Outgoing {
                topic: m.topic.clone(),
                payload: m.payload.clone(),
                qos: m.qos.min(granted),
                retain: false,
            };
            match live.inbox.route(out) {
                Ok(()) => sent += 1,
                Err(_) => {
                    tracing::warn!(client_id = %escaped::text(client_id), topic = %escaped::text(&m.topic),
                    "subscriber not keeping up; message not forwarded to it (it is stored)")
                }
            }
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::inbox::Delivery;

    fn message(topic: &str, payload: &'static [u8], qos: QoS) -> Message {
        Message {
            topic: topic.into(),
            payload: Bytes::from_static(payload),
            qos,
        }
    }

    #[tokio::test]
    async fn a_subscriber_gets_matching_messages_at_the_lower_qos() {
        let router = Router::default();
        let inbox = Arc::new(Inbox::default());
        router.bind("a", 1, CancellationToken::new(), inbox.clone());
        router.subscribe("a", 1, &[("led/+".into(), QoS::AtLeastOnce)]);
        assert_eq!(router.route(&message("led/2", b"on", QoS::ExactlyOnce)), 1);
        assert_eq!(router.route(&message("other", b"x", QoS::AtMostOnce)), 0);
        let Delivery::Routed(got) = inbox.next().await else {
            panic!("not a routed message");
        };
        assert_eq!(
            (got.topic.as_str(), got.qos, got.retain),
            ("led/2", QoS::AtLeastOnce, false)
        );
        router.unsubscribe("a", 1, &["led/+".into()]);
        assert_eq!(router.route(&message("led/2", b"on", QoS::AtMostOnce)), 0);
    }

    #[test]
    fn a_newer_session_closes_the_older_and_keeps_the_client_id() {
        let router = Router::default();
        let old = CancellationToken::new();
        router.bind("a", 1, old.clone(), Arc::default());
        router.bind("a", 2, CancellationToken::new(), Arc::default());
        assert!(old.is_cancelled());
        // The older session's end does not unbind the newer.
        router.unbind("a", 1);
        assert!(router.is_connected("a"));
        router.unbind("a", 2);
        assert!(!router.is_connected("a"));
    }

    #[test]
    fn retained_messages_go_to_new_subscriptions_and_an_empty_one_clears() {
        let router = Router::default();
        router.retain(message("led2", b"on", QoS::ExactlyOnce));
        router.retain(message("gone", b"x", QoS::AtMostOnce));
        router.retain(message("gone", b"", QoS::AtMostOnce));
        router.bind("a", 1, CancellationToken::new(), Arc::default());
        let got = router.subscribe("a", 1, &[("#".into(), QoS::AtLeastOnce)]);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].topic.as_str(), got[0].qos, got[0].retain),
            ("led2", QoS::AtLeastOnce, true)
        );
    }
}
