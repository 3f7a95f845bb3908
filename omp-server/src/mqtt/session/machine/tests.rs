//! The connection rules, by passing packets and instants.

use std::time::{Duration, Instant};

use bytes::Bytes;
use mqtt_codec::{
    ConnAck, Connect, ConnectReturnCode, LastWill, MqttError, Packet, Protocol, PubRel, Publish,
    QoS, SubAckCode, Subscribe, SubscribeFilter,
};

use super::*;

const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(30),
    packet: Duration::from_secs(20),
};

fn connect_packet(client_id: &str, keep_alive: u16, will: bool) -> Connect {
    Connect {
        protocol: Protocol::V311,
        clean_session: true,
        keep_alive,
        client_id: client_id.into(),
        will: will.then(|| LastWill {
            topic: "0123456789".into(),
            message: Bytes::from_static(b"qwerty"),
            qos: QoS::AtLeastOnce,
            retain: false,
        }),
        username: None,
        password: None,
    }
}

fn publish(qos: QoS, packet_id: u16) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: "dddrrrggghhhk".into(),
        packet_id,
        payload: Bytes::from_static(b"0123456789"),
    }
}

fn code(code: ConnectReturnCode) -> Packet {
    Packet::ConnAck(ConnAck {
        session_present: false,
        code,
    })
}

/// A machine logged in at `t0` with keep-alive 60 s.
fn connected(t0: Instant, will: bool) -> Machine {
    let mut m = Machine::new(TIMEOUTS, 7, t0);
    let action = m.handle_packet(
        Packet::Connect(connect_packet("client test0", 60, will)),
        t0,
    );
    assert!(matches!(action, Action::Authenticate(_)));
    assert_eq!(
        m.logged_in(Ok(None), t0),
        Action::Send(code(ConnectReturnCode::Accepted))
    );
    m
}

#[test]
fn the_first_packet_must_be_connect() {
    let t0 = Instant::now();
    let mut m = Machine::new(TIMEOUTS, 1, t0);
    assert!(matches!(
        m.handle_packet(Packet::PingReq, t0),
        Action::Close(None, Close::ProtocolViolation(_))
    ));
}

#[test]
fn an_unacceptable_protocol_level_is_answered_connack_1() {
    let m = Machine::new(TIMEOUTS, 1, Instant::now());
    let e = MqttError::UnacceptableProtocol {
        name: "MQTT".into(),
        level: 5,
    };
    assert_eq!(
        m.undecodable(&e),
        Action::Close(
            Some(code(ConnectReturnCode::UnacceptableProtocolVersion)),
            Close::Refused(ConnectReturnCode::UnacceptableProtocolVersion)
        )
    );
    assert!(matches!(
        m.undecodable(&MqttError::NoBytes),
        Action::Close(None, _)
    ));
}

#[test]
fn an_empty_client_id_is_assigned_one_or_refused_with_connack_2() {
    let t0 = Instant::now();
    let mut m = Machine::new(TIMEOUTS, 42, t0);
    match m.handle_packet(Packet::Connect(connect_packet("", 0, false)), t0) {
        Action::Authenticate(c) => assert_eq!(c.client_id, "omp-42"),
        other => panic!("{other:?}"),
    }
    let mut m = Machine::new(TIMEOUTS, 42, t0);
    let mut keep = connect_packet("", 0, false);
    keep.clean_session = false;
    assert_eq!(
        m.handle_packet(Packet::Connect(keep), t0),
        Action::Close(
            Some(code(ConnectReturnCode::IdentifierRejected)),
            Close::Refused(ConnectReturnCode::IdentifierRejected)
        )
    );
}

#[test]
fn refused_logins_answer_their_code_and_close_without_a_will() {
    for refused in [
        ConnectReturnCode::BadUserNameOrPassword,
        ConnectReturnCode::NotAuthorized,
    ] {
        let t0 = Instant::now();
        let mut m = Machine::new(TIMEOUTS, 1, t0);
        m.handle_packet(Packet::Connect(connect_packet("x", 60, true)), t0);
        assert_eq!(
            m.logged_in(Err(refused), t0),
            Action::Close(Some(code(refused)), Close::Refused(refused))
        );
        assert_eq!(m.take_will(), None);
        assert_eq!(m.client_id(), Some("x"));
    }
}

#[test]
fn qos_1_is_acknowledged_only_once_stored() {
    let t0 = Instant::now();
    let mut m = connected(t0, false);
    let p = publish(QoS::AtLeastOnce, 1);
    assert_eq!(
        m.handle_packet(Packet::Publish(p.clone()), t0),
        Action::Store(p.clone())
    );
    assert_eq!(
        m.stored(&p),
        Some(Packet::PubAck(mqtt_codec::PubAck { packet_id: 1 }))
    );
    assert_eq!(m.stored(&publish(QoS::AtMostOnce, 0)), None);
}

#[test]
fn a_qos_2_resend_before_pubrel_is_not_stored_again() {
    let t0 = Instant::now();
    let mut m = connected(t0, false);
    let p = publish(QoS::ExactlyOnce, 2);
    assert_eq!(
        m.handle_packet(Packet::Publish(p.clone()), t0),
        Action::Store(p.clone())
    );
    let pubrec = Packet::PubRec(mqtt_codec::PubRec { packet_id: 2 });
    assert_eq!(m.stored(&p), Some(pubrec.clone()));
    let mut again = p.clone();
    again.dup = true;
    assert_eq!(
        m.handle_packet(Packet::Publish(again), t0),
        Action::Send(pubrec)
    );
    assert_eq!(
        m.handle_packet(Packet::PubRel(PubRel::new(2)), t0),
        Action::Send(Packet::PubComp(mqtt_codec::PubComp { packet_id: 2 }))
    );
    // After PUBREL the packet id is free: a new message under it is stored.
    assert_eq!(
        m.handle_packet(Packet::Publish(p.clone()), t0),
        Action::Store(p)
    );
}

#[test]
fn ping_subscribe_and_disconnect() {
    let t0 = Instant::now();
    let mut m = connected(t0, true);
    assert_eq!(
        m.handle_packet(Packet::PingReq, t0),
        Action::Send(Packet::PingResp)
    );
    let sub = Subscribe {
        packet_id: 3,
        filters: vec![SubscribeFilter {
            filter: "led2".into(),
            qos: QoS::ExactlyOnce,
        }],
        form: mqtt_codec::HeaderForm::ZeroFlags,
    };
    match m.handle_packet(Packet::Subscribe(sub), t0) {
        Action::Subscribe(_, suback) => {
            assert_eq!(suback.packet_id, 3);
            assert_eq!(
                suback.return_codes,
                vec![SubAckCode::Granted(QoS::ExactlyOnce)]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        m.handle_packet(Packet::Disconnect, t0),
        Action::Close(None, Close::Disconnect)
    );
    assert_eq!(m.take_will(), None, "no will after DISCONNECT");
}

#[test]
fn the_will_is_given_after_an_ungraceful_end() {
    let t0 = Instant::now();
    let mut m = connected(t0, true);
    let will = m.take_will().unwrap();
    assert_eq!(will.topic, "0123456789");
}

#[test]
fn a_second_connect_closes() {
    let t0 = Instant::now();
    let mut m = connected(t0, false);
    assert!(matches!(
        m.handle_packet(Packet::Connect(connect_packet("again", 0, false)), t0),
        Action::Close(None, Close::ProtocolViolation(_))
    ));
}

#[test]
fn no_connect_in_time_closes() {
    let t0 = Instant::now();
    let m = Machine::new(TIMEOUTS, 1, t0);
    assert_eq!(m.poll_timeout(), Some(t0 + TIMEOUTS.connect));
    assert_eq!(m.handle_timeout(t0 + Duration::from_secs(29)), None);
    assert_eq!(
        m.handle_timeout(t0 + TIMEOUTS.connect),
        Some(Expiry::NoConnect(TIMEOUTS.connect))
    );
}

#[test]
fn keep_alive_is_enforced_at_one_and_a_half_times() {
    let t0 = Instant::now();
    let mut m = connected(t0, false);
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(90)));
    let t1 = t0 + Duration::from_secs(80);
    m.handle_packet(Packet::PingReq, t1);
    assert_eq!(m.handle_timeout(t0 + Duration::from_secs(90)), None);
    assert_eq!(
        m.handle_timeout(t1 + Duration::from_secs(90)),
        Some(Expiry::KeepAlive(Duration::from_secs(90)))
    );
}

#[test]
fn keep_alive_0_never_expires_but_a_started_packet_does() {
    let t0 = Instant::now();
    let mut m = Machine::new(TIMEOUTS, 1, t0);
    m.handle_packet(Packet::Connect(connect_packet("c", 0, false)), t0);
    m.logged_in(Ok(None), t0);
    assert_eq!(m.poll_timeout(), None);
    let t1 = t0 + Duration::from_secs(3600);
    m.packet_started(t1);
    assert!(m.packet_in_progress());
    assert_eq!(m.poll_timeout(), Some(t1 + TIMEOUTS.packet));
    assert_eq!(
        m.handle_timeout(t1 + TIMEOUTS.packet),
        Some(Expiry::PacketNotCompleted(TIMEOUTS.packet))
    );
}

#[test]
fn retained_messages_reach_a_onenet_device_without_the_retain_flag() {
    let t0 = Instant::now();
    let retained = Outgoing {
        topic: "led2".into(),
        payload: Bytes::from_static(b"on"),
        qos: QoS::AtLeastOnce,
        retain: true,
    };
    let mut m = Machine::new(TIMEOUTS, 1, t0);
    m.handle_packet(Packet::Connect(connect_packet("39599428", 60, false)), t0);
    m.logged_in(Ok(Some(LoginProfile::OneNet)), t0);
    let Packet::Publish(p) = m.outgoing(retained.clone()) else {
        panic!()
    };
    assert!(!p.retain);
    assert_eq!((p.qos, p.packet_id), (QoS::AtLeastOnce, 1));
    let mut other = connected(t0, false);
    let Packet::Publish(p) = other.outgoing(retained) else {
        panic!()
    };
    assert!(p.retain);
}
