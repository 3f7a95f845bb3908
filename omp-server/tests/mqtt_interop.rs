//! Interop with a real client library: rumqttc connects, subscribes to
//! its own topics and publishes at QoS 0, 1 and 2; every publish is
//! stored byte-exact and routed back.

mod common;
mod mqtt;

use std::time::Duration;

use omp_server::ProvisioningMode;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

#[tokio::test]
async fn rumqttc_publishes_at_every_qos_and_receives_its_own_messages() {
    let dir = tempfile::tempdir().unwrap();
    let server = mqtt::start(dir.path(), ProvisioningMode::Open).await;
    let addr = server.mqtt_addr.unwrap();
    let mut options = MqttOptions::new("rumqttc-interop", addr.ip().to_string(), addr.port());
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    client
        .subscribe("interop/#", QoS::ExactlyOnce)
        .await
        .unwrap();
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        client
            .publish(
                format!("interop/{i}"),
                qos,
                false,
                vec![i as u8, 0xff, 0x00],
            )
            .await
            .unwrap();
    }
    let (mut acked, mut completed, mut echoes) = (0, 0, Vec::new());
    tokio::time::timeout(common::GUARD, async {
        while acked < 1 || completed < 1 || echoes.len() < 3 {
            match eventloop.poll().await.unwrap() {
                Event::Incoming(Packet::PubAck(_)) => acked += 1,
                Event::Incoming(Packet::PubComp(_)) => completed += 1,
                Event::Incoming(Packet::Publish(p)) => echoes.push(p),
                _ => {}
            }
        }
    })
    .await
    .expect("acknowledgements and echoes within the guard");
    echoes.sort_by(|a, b| a.topic.cmp(&b.topic));
    assert_eq!(echoes[2].topic, "interop/2");
    assert_eq!(&echoes[2].payload[..], &[2, 0xff, 0x00]);

    let stored = mqtt::wait_for_messages(&server, "rumqttc-interop", 3).await;
    let mut by_qos: Vec<(i64, String, Vec<u8>)> = stored
        .into_iter()
        .map(|m| (m.qos, m.topic, m.payload))
        .collect();
    by_qos.sort();
    assert_eq!(
        by_qos,
        vec![
            (0, "interop/0".to_owned(), vec![0, 0xff, 0]),
            (1, "interop/1".to_owned(), vec![1, 0xff, 0]),
            (2, "interop/2".to_owned(), vec![2, 0xff, 0]),
        ]
    );
    client.disconnect().await.unwrap();
    let _ = tokio::time::timeout(common::GUARD, eventloop.poll()).await;
    server.stop().await;
}
