//! proptest strategies for arbitrary valid packets.

use bytes::Bytes;
use mqtt_codec::{
    ConnAck, Connect, ConnectReturnCode, HeaderForm, LastWill, Packet, Protocol, PubAck, PubComp,
    PubRec, PubRel, Publish, QoS, SubAck, SubAckCode, Subscribe, SubscribeFilter, UnsubAck,
    Unsubscribe,
};
use proptest::prelude::*;

pub fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn form() -> impl Strategy<Value = HeaderForm> {
    prop_oneof![Just(HeaderForm::Spec), Just(HeaderForm::ZeroFlags)]
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn id() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

/// Any UTF-8 text without U+0000, up to `max` characters.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::string::string_regex(&format!("[^\\x00]{{0,{max}}}")).unwrap()
}

/// A topic name: no wildcards, not empty; `$`, `/`, spaces and
/// non-ASCII included.
pub fn topic_name() -> impl Strategy<Value = String> {
    prop::string::string_regex("[a-zA-Z0-9/$ _\\-\u{4e00}-\u{4e0f}]{1,24}").unwrap()
}

/// A topic filter with `+` and `#` where they are allowed.
pub fn topic_filter() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop_oneof!["[a-z0-9$]{0,5}", Just("+".to_owned())], 1..4),
        any::<bool>(),
    )
        .prop_map(|(mut levels, hash)| {
            if hash {
                levels.push("#".into());
            }
            let f = levels.join("/");
            if f.is_empty() { "a".into() } else { f }
        })
}

fn connect() -> impl Strategy<Value = Connect> {
    let will = prop::option::of((topic_name(), bytes(32), qos(), any::<bool>()).prop_map(
        |(topic, message, qos, retain)| LastWill {
            topic,
            message,
            qos,
            retain,
        },
    ));
    let login = prop_oneof![
        Just((None, None)),
        text(12).prop_map(|u| (Some(u), None)),
        (text(12), bytes(16)).prop_map(|(u, p)| (Some(u), Some(p))),
    ];
    (
        prop_oneof![Just(Protocol::V31), Just(Protocol::V311)],
        any::<bool>(),
        any::<u16>(),
        text(23),
        will,
        login,
    )
        .prop_map(
            |(protocol, clean_session, keep_alive, client_id, will, (username, password))| {
                Connect {
                    protocol,
                    clean_session,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                }
            },
        )
}

fn publish() -> impl Strategy<Value = Publish> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        id(),
        bytes(300),
    )
        .prop_map(|(qos, dup, retain, topic, packet_id, payload)| {
            let qos0 = qos == QoS::AtMostOnce;
            Publish {
                dup: dup && !qos0,
                qos,
                retain,
                topic,
                packet_id: if qos0 { 0 } else { packet_id },
                payload,
            }
        })
}

/// Any packet the codec can encode.
pub fn packet() -> impl Strategy<Value = Packet> {
    let return_code = (0u8..=5).prop_map(|c| ConnectReturnCode::from_u8(c).unwrap());
    let suback_code = prop_oneof![
        qos().prop_map(SubAckCode::Granted),
        Just(SubAckCode::Failure)
    ];
    prop_oneof![
        connect().prop_map(Packet::Connect),
        (any::<bool>(), return_code).prop_map(|(session_present, code)| Packet::ConnAck(ConnAck {
            session_present: session_present && code == ConnectReturnCode::Accepted,
            code,
        })),
        publish().prop_map(Packet::Publish),
        id().prop_map(|packet_id| Packet::PubAck(PubAck { packet_id })),
        id().prop_map(|packet_id| Packet::PubRec(PubRec { packet_id })),
        (id(), form()).prop_map(|(packet_id, form)| Packet::PubRel(PubRel { packet_id, form })),
        id().prop_map(|packet_id| Packet::PubComp(PubComp { packet_id })),
        (
            id(),
            prop::collection::vec(
                (topic_filter(), qos()).prop_map(|(filter, qos)| SubscribeFilter { filter, qos }),
                1..5
            ),
            form()
        )
            .prop_map(|(packet_id, filters, form)| Packet::Subscribe(Subscribe {
                packet_id,
                filters,
                form
            })),
        (id(), prop::collection::vec(suback_code, 1..5)).prop_map(|(packet_id, return_codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                return_codes,
            })
        }),
        (id(), prop::collection::vec(topic_filter(), 1..5), form()).prop_map(
            |(packet_id, filters, form)| Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                form
            })
        ),
        id().prop_map(|packet_id| Packet::UnsubAck(UnsubAck { packet_id })),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        Just(Packet::Disconnect),
    ]
}
