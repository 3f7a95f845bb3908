//! `MqttCodec` under `tokio_util::codec::Framed` on an in-memory socket:
//! a OneNET module's session (CONNECT, flagless SUBSCRIBE, QoS 1 `$dp`,
//! PINGREQ, DISCONNECT) arrives in odd-sized writes and comes out as
//! packets; an oversized packet ends the stream with an error.

mod common;

use futures::{SinkExt, StreamExt};
use mqtt_codec::{HeaderForm, MqttCodec, MqttError, Packet, PubAck};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Framed;

#[tokio::test]
async fn a_onenet_session_through_framed() {
    let names = [
        "onenet_sdk_connect",
        "onenet_sdk_subscribe",
        "onenet_sdk_dp_03_publish",
        "onenet_sdk_pingreq",
        "onenet_sdk_disconnect",
    ];
    let vectors = common::hex_vectors();
    let stream: Vec<u8> = names
        .iter()
        .flat_map(|n| vectors.iter().find(|(v, _)| v == n).unwrap().1.clone())
        .collect();

    let (mut device, server) = tokio::io::duplex(64);
    let writer = tokio::spawn(async move {
        for chunk in stream.chunks(7) {
            device.write_all(chunk).await.unwrap();
        }
        device
    });
    let mut framed = Framed::new(server, MqttCodec::new());
    let mut kinds = Vec::new();
    while let Some(packet) = framed.next().await {
        let packet = packet.unwrap();
        if let Packet::Subscribe(s) = &packet {
            assert_eq!(s.form, HeaderForm::ZeroFlags);
        }
        if let Packet::Publish(p) = &packet {
            framed
                .send(Packet::PubAck(PubAck {
                    packet_id: p.packet_id,
                }))
                .await
                .unwrap();
        }
        kinds.push(packet.packet_type().name());
        if kinds.len() == names.len() {
            break;
        }
    }
    assert_eq!(
        kinds,
        ["CONNECT", "SUBSCRIBE", "PUBLISH", "PINGREQ", "DISCONNECT"]
    );
    let mut device = writer.await.unwrap();
    let mut ack = [0u8; 4];
    tokio::io::AsyncReadExt::read_exact(&mut device, &mut ack)
        .await
        .unwrap();
    assert_eq!(ack, [0x40, 0x02, 0x00, 0x03]);
}

#[tokio::test]
async fn an_oversized_packet_is_an_error() {
    let (mut device, server) = tokio::io::duplex(64);
    // PUBLISH declaring 1,000 bytes to a codec allowing 512.
    device.write_all(&[0x30, 0xe8, 0x07]).await.unwrap();
    let mut framed = Framed::new(server, MqttCodec::with_max_packet_size(512));
    match framed.next().await {
        Some(Err(MqttError::PacketTooLarge {
            len: 1003,
            max: 512,
        })) => {}
        other => panic!("{other:?}"),
    }
}
