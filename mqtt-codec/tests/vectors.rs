//! Every golden vector (`tests/vectors/*.hex`: the byte examples of the
//! SIM7600 and M5310-A modules and what OneNET's own SDK sends) decodes to
//! exactly the listed fields and re-encodes to exactly the same bytes.

mod common;

use bytes::{Bytes, BytesMut};
use mqtt_codec::{HeaderForm, MqttCodec, Packet, SubAckCode};
use tokio_util::codec::Decoder;

/// One line naming every field of a packet.
fn describe(p: &Packet) -> String {
    match p {
        Packet::Connect(c) => format!(
            "CONNECT {}/{} clean={} keep_alive={} client={:?} will={} user={:?} password={:?}",
            c.protocol.name(),
            c.protocol.level(),
            u8::from(c.clean_session),
            c.keep_alive,
            c.client_id,
            c.will.as_ref().map_or("-".to_owned(), |w| format!(
                "{:?}/{}/qos{}/retain{}",
                w.topic,
                hex::encode(&w.message),
                w.qos as u8,
                u8::from(w.retain)
            )),
            c.username,
            c.password.as_ref().map(hex::encode),
        ),
        Packet::Publish(p) => format!(
            "PUBLISH dup={} qos={} retain={} topic={:?} id={} payload={}",
            u8::from(p.dup),
            p.qos as u8,
            u8::from(p.retain),
            p.topic,
            p.packet_id,
            hex::encode(&p.payload)
        ),
        Packet::PubAck(a) => format!("PUBACK id={}", a.packet_id),
        Packet::PubRec(a) => format!("PUBREC id={}", a.packet_id),
        Packet::PubRel(a) => format!("PUBREL id={} form={:?}", a.packet_id, a.form),
        Packet::PubComp(a) => format!("PUBCOMP id={}", a.packet_id),
        Packet::Subscribe(s) => format!(
            "SUBSCRIBE id={} form={:?} filters={}",
            s.packet_id,
            s.form,
            s.filters
                .iter()
                .map(|f| format!("{}@{}", f.filter, f.qos as u8))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Packet::SubAck(s) => format!(
            "SUBACK id={} codes={}",
            s.packet_id,
            s.return_codes
                .iter()
                .map(|c| match c {
                    SubAckCode::Granted(q) => (*q as u8).to_string(),
                    SubAckCode::Failure => "0x80".to_owned(),
                })
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => format!("{:?}", other.packet_type()),
    }
}

const DP3: &str = "03001b7b2274657374223a2268656c6c6fefbc8c776f726c64efbc81227d";

fn expected(name: &str) -> String {
    let creq = "$creq/81572aae-fc34-5deb-8f06-ab45d73cb12b";
    let crsp = "$crsp/81572aae-fc34-5deb-8f06-ab45d73cb12b";
    match name {
        "m5310a_connect" => "CONNECT MQTT/4 clean=1 keep_alive=20 client=\"39599428\" will=- \
             user=Some(\"165920\") password=Some(\"4150494b4559\")"
            .into(),
        "sim7600_connect" => "CONNECT MQTT/4 clean=1 keep_alive=60 client=\"client test0\" \
             will=\"0123456789\"/717765727479/qos1/retain0 user=None password=None"
            .into(),
        "onenet_sdk_connect" => "CONNECT MQTT/4 clean=1 keep_alive=120 client=\"4069959\" will=- \
             user=Some(\"75829\") password=Some(\"696e7465726f702d61757468\")"
            .into(),
        "dp_publish_qos2_retain" => {
            format!("PUBLISH dup=0 qos=2 retain=1 topic=\"$dp\" id=2 payload={DP3}")
        }
        "dp_publish_qos1" => {
            format!("PUBLISH dup=0 qos=1 retain=0 topic=\"$dp\" id=10 payload={DP3}")
        }
        "creq_publish_qos0" => {
            format!("PUBLISH dup=0 qos=0 retain=0 topic={creq:?} id=0 payload=4f4e")
        }
        "crsp_publish_qos1" => {
            format!("PUBLISH dup=0 qos=1 retain=0 topic={crsp:?} id=11 payload=4f4b")
        }
        "onenet_sdk_crsp" => "PUBLISH dup=0 qos=1 retain=0 \
             topic=\"$crsp/81572aae-fd6f-4e4e-9d83-6ddc7b8a2c2b\" id=11 payload=4f4b"
            .into(),
        "sim7600_publish_qos1" => format!(
            "PUBLISH dup=0 qos=1 retain=0 topic=\"dddrrrggghhhk\" id=1 payload={}",
            hex::encode("0123456789".repeat(6))
        ),
        "puback_10" => "PUBACK id=10".into(),
        "pubrec_2" => "PUBREC id=2".into(),
        "pubrel_2" => "PUBREL id=2 form=Spec".into(),
        "pubcomp_2" => "PUBCOMP id=2".into(),
        "sim7600_subscribe" => "SUBSCRIBE id=2 form=Spec filters=123456789@1".into(),
        "onenet_sdk_subscribe" => {
            "SUBSCRIBE id=10 form=ZeroFlags filters=interop/4069959@1,$creq/+@1".into()
        }
        "suback_qos1" => "SUBACK id=2 codes=1".into(),
        "onenet_sdk_pingreq" => "PingReq".into(),
        "onenet_sdk_disconnect" => "Disconnect".into(),
        dp if dp.starts_with("onenet_sdk_dp_") => {
            // The $dp PUBLISHes of the SDK: QoS 1, packet ids 1..=9 in the
            // order the vectors were captured; the payload is checked
            // against the JSON vectors below.
            let id = match &dp[14..16] {
                "86" => 6,
                "06" => 7,
                "87" => 8,
                "07" => 9,
                n => n.parse().unwrap(),
            };
            format!("PUBLISH dup=0 qos=1 retain=0 topic=\"$dp\" id={id}")
        }
        other => panic!("no expectation for vector {other}"),
    }
}

#[test]
fn every_vector_decodes_to_its_fields_and_back() {
    let vectors = common::hex_vectors();
    assert_eq!(vectors.len(), 27);
    for (name, bytes) in vectors {
        let packet = Packet::from_bytes(Bytes::from(bytes.clone()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let line = describe(&packet);
        let want = expected(&name);
        if name.starts_with("onenet_sdk_dp_") {
            assert!(line.starts_with(&want), "{name}: {line}");
        } else {
            assert_eq!(line, want, "{name}");
        }
        assert_eq!(
            &packet.to_bytes().unwrap()[..],
            &bytes[..],
            "{name} re-encodes"
        );

        // The stream codec agrees, one byte at a time.
        let mut codec = MqttCodec::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in &bytes {
            buf.extend_from_slice(&[*b]);
            if let Some(p) = codec.decode(&mut buf).unwrap() {
                got.push(p);
            }
        }
        assert_eq!(got, vec![packet], "{name} streamed");
    }
}

#[test]
fn sdk_dp_publishes_carry_the_payloads_of_the_json_vectors() {
    let text =
        std::fs::read_to_string(common::vectors_dir().join("onenet-dp-vectors.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    for v in doc["vectors"].as_array().unwrap() {
        let publish = common::unhex(v["publish_hex"].as_str().unwrap());
        let Packet::Publish(p) = Packet::from_bytes(Bytes::from(publish)).unwrap() else {
            panic!("{} is not a PUBLISH", v["step"]);
        };
        assert_eq!(hex::encode(&p.payload), v["payload_hex"].as_str().unwrap());
        assert_eq!(u64::from(p.packet_id), v["pkt_id"].as_u64().unwrap());
        let ack = common::unhex(v["expected_server_ack_hex"].as_str().unwrap());
        let puback = Packet::PubAck(mqtt_codec::PubAck {
            packet_id: p.packet_id,
        });
        assert_eq!(&puback.to_bytes().unwrap()[..], &ack[..]);
    }
}

#[test]
fn the_qos2_handshake_is_three_packets_in_one_read() {
    let bytes = common::unhex("50 02 00 02 62 02 00 02 70 02 00 02");
    let mut buf = BytesMut::from(&bytes[..]);
    let mut codec = MqttCodec::new();
    let mut lines = Vec::new();
    while let Some(p) = codec.decode(&mut buf).unwrap() {
        lines.push(describe(&p));
    }
    assert_eq!(
        lines,
        ["PUBREC id=2", "PUBREL id=2 form=Spec", "PUBCOMP id=2"]
    );
    assert!(matches!(
        Packet::from_bytes(Bytes::from_static(&[0x60, 0x02, 0x00, 0x02])),
        Ok(Packet::PubRel(r)) if r.form == HeaderForm::ZeroFlags
    ));
}
