//! Differential test against `rumqttc::mqttbytes::v4`, an independent
//! MQTT 3.1.1 codec: wherever both accept the same bytes, they must read
//! the same fields.
//!
//! Where they are known to differ, only one side accepts and nothing is
//! compared: rumqttc reads only `MQTT`/4 CONNECTs (not 3.1's `MQIsdp`/3),
//! takes a password as UTF-8 text, does not check fixed-header flags,
//! reserved CONNECT/CONNACK bits, packet id 0, topic rules or U+0000;
//! this codec refuses all of those (and accepts the flagless SUBSCRIBE /
//! UNSUBSCRIBE / PUBREL that rumqttc ignores the flags of anyway).

mod common;

use bytes::{Bytes, BytesMut};
use mqtt_codec::{Packet, Protocol, QoS, SubAckCode};
use proptest::prelude::*;
use rumqttc::mqttbytes::v4 as rq;

use common::arb;

fn qos(q: QoS) -> rumqttc::mqttbytes::QoS {
    match q {
        QoS::AtMostOnce => rumqttc::mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::mqttbytes::QoS::ExactlyOnce,
    }
}

/// Whether rumqttc can express `p` at all (see the module doc).
fn comparable(p: &Packet) -> bool {
    match p {
        Packet::Connect(c) => {
            c.protocol == Protocol::V311
                && c.password
                    .as_ref()
                    .is_none_or(|p| std::str::from_utf8(p).is_ok())
        }
        _ => true,
    }
}

/// The fields of both, side by side; `Err` names the first difference.
fn same(ours: &Packet, theirs: &rq::Packet) -> Result<(), String> {
    let diff = |what: &str| Err(format!("{what}: ours {ours:?}, rumqttc {theirs:?}"));
    match (ours, theirs) {
        (Packet::Connect(a), rq::Packet::Connect(b)) => {
            let login = match (&a.username, &a.password) {
                (None, None) => None,
                (u, p) => {
                    let username = u.clone().unwrap_or_default();
                    let password = p
                        .as_ref()
                        .map(|p| String::from_utf8(p.to_vec()).unwrap())
                        .unwrap_or_default();
                    (!username.is_empty() || !password.is_empty())
                        .then_some(rq::Login { username, password })
                }
            };
            let will = a.will.as_ref().map(|w| rq::LastWill {
                topic: w.topic.clone(),
                message: w.message.clone(),
                qos: qos(w.qos),
                retain: w.retain,
            });
            if a.keep_alive != b.keep_alive
                || a.clean_session != b.clean_session
                || a.client_id != b.client_id
                || will != b.last_will
                || login != b.login
            {
                return diff("CONNECT");
            }
        }
        (Packet::ConnAck(a), rq::Packet::ConnAck(b)) => {
            if a.session_present != b.session_present || a.code as u8 != b.code as u8 {
                return diff("CONNACK");
            }
        }
        (Packet::Publish(a), rq::Packet::Publish(b)) => {
            if a.dup != b.dup
                || qos(a.qos) != b.qos
                || a.retain != b.retain
                || a.topic != b.topic
                || a.packet_id != b.pkid
                || a.payload != b.payload
            {
                return diff("PUBLISH");
            }
        }
        (Packet::PubAck(a), rq::Packet::PubAck(b)) if a.packet_id == b.pkid => {}
        (Packet::PubRec(a), rq::Packet::PubRec(b)) if a.packet_id == b.pkid => {}
        (Packet::PubRel(a), rq::Packet::PubRel(b)) if a.packet_id == b.pkid => {}
        (Packet::PubComp(a), rq::Packet::PubComp(b)) if a.packet_id == b.pkid => {}
        (Packet::UnsubAck(a), rq::Packet::UnsubAck(b)) if a.packet_id == b.pkid => {}
        (Packet::Subscribe(a), rq::Packet::Subscribe(b)) => {
            let filters: Vec<_> = a
                .filters
                .iter()
                .map(|f| rq::SubscribeFilter {
                    path: f.filter.clone(),
                    qos: qos(f.qos),
                })
                .collect();
            if a.packet_id != b.pkid || filters != b.filters {
                return diff("SUBSCRIBE");
            }
        }
        (Packet::SubAck(a), rq::Packet::SubAck(b)) => {
            let codes: Vec<_> = a
                .return_codes
                .iter()
                .map(|c| match c {
                    SubAckCode::Granted(q) => rq::SubscribeReasonCode::Success(qos(*q)),
                    SubAckCode::Failure => rq::SubscribeReasonCode::Failure,
                })
                .collect();
            if a.packet_id != b.pkid || codes != b.return_codes {
                return diff("SUBACK");
            }
        }
        (Packet::Unsubscribe(a), rq::Packet::Unsubscribe(b)) => {
            if a.packet_id != b.pkid || a.filters != b.topics {
                return diff("UNSUBSCRIBE");
            }
        }
        (Packet::PingReq, rq::Packet::PingReq)
        | (Packet::PingResp, rq::Packet::PingResp)
        | (Packet::Disconnect, rq::Packet::Disconnect) => {}
        _ => return diff("packet type or identifier"),
    }
    Ok(())
}

fn rumqttc_read(bytes: &[u8]) -> Option<rq::Packet> {
    let mut buf = BytesMut::from(bytes);
    let p = rq::Packet::read(&mut buf, bytes.len().max(2)).ok()?;
    // Only a read of exactly these bytes is comparable.
    buf.is_empty().then_some(p)
}

/// Compares the two where both accept `bytes`; returns whether both did.
fn compare(bytes: &[u8]) -> Result<bool, String> {
    let ours = Packet::from_bytes(Bytes::copy_from_slice(bytes));
    let theirs = rumqttc_read(bytes);
    match (ours, theirs) {
        (Ok(a), Some(b)) => same(&a, &b).map(|()| true),
        _ => Ok(false),
    }
}

#[test]
fn golden_vectors_read_the_same() {
    let mut both = 0;
    for (name, bytes) in common::hex_vectors() {
        if compare(&bytes).unwrap_or_else(|e| panic!("{name}: {e}")) {
            both += 1;
        }
    }
    // Every vector is 3.1.1 with UTF-8 credentials: rumqttc reads all 27.
    assert_eq!(both, 27);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn our_encodings_read_the_same_in_rumqttc(packet in arb::packet()) {
        let bytes = packet.to_bytes().unwrap();
        if comparable(&packet) {
            let theirs = rumqttc_read(&bytes);
            prop_assert!(theirs.is_some(), "rumqttc refused {:?}", packet);
            if let Err(e) = same(&packet, &theirs.unwrap()) {
                return Err(TestCaseError::fail(e));
            }
        }
    }

    #[test]
    fn mutated_inputs_read_the_same_where_both_accept(
        packet in arb::packet(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..3),
    ) {
        let mut bytes = packet.to_bytes().unwrap().to_vec();
        for (at, xor) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
        }
        if let Err(e) = compare(&bytes) {
            return Err(TestCaseError::fail(e));
        }
    }
}
