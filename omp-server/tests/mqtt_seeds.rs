//! Byte replays of the MQTT seeds over real TCP: the OneNET M5310-A
//! (CONNECT, SUBSCRIBE `led2` QoS 2, PUBLISH `$dp` type 3 QoS 2 retain,
//! its echo) and the SIM7600 (CONNECT as 3.1 and 3.1.1 with a QoS 1 will,
//! QoS 1 PUBLISH, SUBSCRIBE, DISCONNECT, a cut connection).

mod common;
mod mqtt;

use mqtt::sim7600::{CONNACK_OK, SIM_CONNECT_31, SIM_CONNECT_311, SIM_PUBLISH};
use mqtt::{Raw, hex};
use mqtt_codec::{Packet, QoS};
use omp_server::ProvisioningMode;
use omp_server::store::mqtt_datapoints;
use omp_server::store::mqtt_presence;
use omp_server::store::mqtt_provisioning::LoginProfile;

/// M5310-A CONNECT: client 39599428, user 165920, password APIKEY, keep-alive 20.
const ONENET_CONNECT: &str = "10 24 00 04 4d 51 54 54 04 c2 00 14 00 08 33 39 35 39 39 34 32 38 \
                              00 06 31 36 35 39 32 30 00 06 41 50 49 4b 45 59";
/// The same with password APIKEZ.
const ONENET_CONNECT_WRONG: &str = "10 24 00 04 4d 51 54 54 04 c2 00 14 00 08 33 39 35 39 39 34 32 38 \
                                    00 06 31 36 35 39 32 30 00 06 41 50 49 4b 45 5a";
/// `AT+MQTTPUB=$dp,2,1,0,30,03001B…`: QoS 2, retain, packet id 2.
const DP_PUBLISH: &str = "35 25 00 03 24 64 70 00 02 03 00 1b 7b 22 74 65 73 74 22 3a 22 68 65 6c \
                          6c 6f ef bc 8c 77 6f 72 6c 64 ef bc 81 22 7d";
/// The type-3 payload alone.
const DP_PAYLOAD: &str = "03 00 1b 7b 22 74 65 73 74 22 3a 22 68 65 6c 6c 6f ef bc 8c 77 6f 72 6c \
                          64 ef bc 81 22 7d";
/// SIM7600 SUBSCRIBE 123456789 QoS 1, packet id 2.
const SIM_SUBSCRIBE: &str = "82 0e 00 02 00 09 31 32 33 34 35 36 37 38 39 01";

async fn onenet_server(dir: &std::path::Path) -> common::TestServer {
    let server = mqtt::start(dir, ProvisioningMode::Approved).await;
    mqtt::provision(
        &server,
        LoginProfile::OneNet,
        Some("39599428"),
        Some("165920"),
        Some("APIKEY"),
    )
    .await;
    server
}

#[tokio::test]
async fn seed_004_onenet_dp_qos2_is_stored_once_and_acknowledged_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let server = onenet_server(dir.path()).await;
    let mut c = Raw::connect(&server).await;
    c.send(&hex(ONENET_CONNECT)).await;
    assert_eq!(c.read_exact(4).await, hex(CONNACK_OK));
    // The online state goes to the writer ahead of the messages below.
    server.state.flush_last_seen().await.unwrap();
    // SUBSCRIBE led2 QoS 2 in the OneNET SDK's form (first byte 0x80).
    c.send(&hex("80 09 00 01 00 04 6c 65 64 32 02")).await;
    assert_eq!(c.read_exact(5).await, hex("90 03 00 01 02"));

    c.send(&hex(DP_PUBLISH)).await;
    assert_eq!(c.read_exact(4).await, hex("50 02 00 02"), "PUBREC");
    // PUBREC came: the row is committed.
    let stored = mqtt::messages(&server, "39599428").await;
    assert_eq!(stored.len(), 1);
    let m = &stored[0];
    assert_eq!(m.payload, hex(DP_PAYLOAD));
    assert_eq!(
        (m.topic.as_str(), m.qos, m.retain, m.dup),
        ("$dp", 2, true, false)
    );
    assert_eq!(m.packet_id, Some(2));
    assert!(!m.dp_undecodable);
    let points = mqtt_datapoints::of_message(&server.state.db, m.id)
        .await
        .unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].stream, "test");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&points[0].value).unwrap(),
        serde_json::json!("hello，world！")
    );

    // Sent again (DUP) before PUBREL: PUBREC again, stored once.
    let mut dup = hex(DP_PUBLISH);
    dup[0] |= 0x08;
    c.send(&dup).await;
    assert_eq!(c.read_exact(4).await, hex("50 02 00 02"));
    c.send(&hex("62 02 00 02")).await;
    assert_eq!(c.read_exact(4).await, hex("70 02 00 02"), "PUBCOMP");
    assert_eq!(mqtt::messages(&server, "39599428").await.len(), 1);

    // PUBLISH led2 QoS 2 retain: PUBREC, then its own echo (QoS 2, RETAIN 0).
    c.send(&hex("35 0a 00 04 6c 65 64 32 00 03 6f 6e")).await;
    assert_eq!(c.read_exact(4).await, hex("50 02 00 03"));
    let Packet::Publish(echo) = c.packet().await else {
        panic!("echo expected")
    };
    assert_eq!(
        (echo.topic.as_str(), &echo.payload[..]),
        ("led2", &b"on"[..])
    );
    assert_eq!((echo.qos, echo.retain), (QoS::ExactlyOnce, false));
    let presence = mqtt_presence::get(&server.state.db, "39599428")
        .await
        .unwrap()
        .unwrap();
    assert!(presence.online);
    c.send(&hex("e0 00")).await;
    assert!(c.closed().await);
    server.stop().await;
}

#[tokio::test]
async fn onenet_refusals_and_a_retained_message_without_the_retain_flag() {
    let dir = tempfile::tempdir().unwrap();
    let server = onenet_server(dir.path()).await;
    let mut bad = Raw::connect(&server).await;
    bad.send(&hex(ONENET_CONNECT_WRONG)).await;
    assert_eq!(bad.read_exact(4).await, hex("20 02 00 04"));
    assert!(bad.closed().await);
    // Not provisioned: CONNACK 5 (client "x", no credentials).
    let mut stranger = Raw::connect(&server).await;
    stranger
        .send(&hex("10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 78"))
        .await;
    assert_eq!(stranger.read_exact(4).await, hex("20 02 00 05"));
    // Protocol level 5: CONNACK 1.
    let mut v5 = Raw::connect(&server).await;
    v5.send(&hex("10 0d 00 04 4d 51 54 54 05 02 00 3c 00 01 78"))
        .await;
    assert_eq!(v5.read_exact(4).await, hex("20 02 00 01"));
    // The first packet must be CONNECT.
    let mut ping = Raw::connect(&server).await;
    ping.send(&hex("c0 00")).await;
    assert!(ping.closed().await);

    // A retained message on led2, then the OneNET device subscribes: it
    // gets the message with RETAIN 0.
    let mut first = Raw::connect(&server).await;
    first.send(&hex(ONENET_CONNECT)).await;
    assert_eq!(first.read_exact(4).await, hex(CONNACK_OK));
    first
        .send(&hex("33 0a 00 04 6c 65 64 32 00 05 6f 6e"))
        .await;
    assert_eq!(first.read_exact(4).await, hex("40 02 00 05"));
    first.send(&hex("82 09 00 06 00 04 6c 65 64 32 01")).await;
    assert_eq!(first.read_exact(5).await, hex("90 03 00 06 01"));
    let Packet::Publish(p) = first.packet().await else {
        panic!("retained expected")
    };
    assert_eq!(
        (p.topic.as_str(), p.retain, p.qos),
        ("led2", false, QoS::AtLeastOnce)
    );
    assert!(mqtt::messages(&server, "x").await.is_empty());

    // A second CONNECT of the same client id closes the first connection.
    let mut second = Raw::connect(&server).await;
    second.send(&hex(ONENET_CONNECT)).await;
    assert_eq!(second.read_exact(4).await, hex(CONNACK_OK));
    assert!(first.closed().await);
    server.stop().await;
}

#[tokio::test]
async fn seed_003_sim7600_as_3_1_and_3_1_1_with_a_will() {
    let dir = tempfile::tempdir().unwrap();
    let server = mqtt::start(dir.path(), ProvisioningMode::Approved).await;
    mqtt::provision(
        &server,
        LoginProfile::ClientId,
        Some("client test0"),
        None,
        None,
    )
    .await;

    // 3.1.1: publish, subscribe, DISCONNECT — no will.
    let mut c = Raw::connect(&server).await;
    c.send(&hex(SIM_CONNECT_311)).await;
    assert_eq!(c.read_exact(4).await, hex(CONNACK_OK));
    c.send(&hex(SIM_PUBLISH)).await;
    assert_eq!(c.read_exact(4).await, hex("40 02 00 01"), "PUBACK");
    let stored = mqtt::messages(&server, "client test0").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].payload, hex(SIM_PUBLISH)[19..].to_vec());
    assert_eq!(stored[0].payload.len(), 60);
    assert_eq!(
        (stored[0].topic.as_str(), stored[0].qos),
        ("dddrrrggghhhk", 1)
    );
    assert_eq!(stored[0].kind, "publish");
    c.send(&hex(SIM_SUBSCRIBE)).await;
    assert_eq!(c.read_exact(5).await, hex("90 03 00 02 01"));
    c.send(&hex("c0 00")).await;
    assert_eq!(c.read_exact(2).await, hex("d0 00"), "PINGRESP");
    c.send(&hex("e0 00")).await;
    assert!(c.closed().await);

    // A watcher subscribed to the will's topic.
    mqtt::provision(&server, LoginProfile::ClientId, Some("watcher"), None, None).await;
    let mut watcher = Raw::connect(&server).await;
    watcher
        .send(&hex(
            "10 13 00 04 4d 51 54 54 04 02 00 3c 00 07 77 61 74 63 68 65 72",
        ))
        .await;
    assert_eq!(watcher.read_exact(4).await, hex(CONNACK_OK));
    watcher
        .send(&hex("82 0f 00 07 00 0a 30 31 32 33 34 35 36 37 38 39 01"))
        .await;
    assert_eq!(watcher.read_exact(5).await, hex("90 03 00 07 01"));

    // 3.1: publish, then the connection is cut — the will is stored.
    let mut c = Raw::connect(&server).await;
    c.send(&hex(SIM_CONNECT_31)).await;
    assert_eq!(c.read_exact(4).await, hex(CONNACK_OK));
    c.send(&hex(SIM_PUBLISH)).await;
    assert_eq!(c.read_exact(4).await, hex("40 02 00 01"));
    drop(c);
    let Packet::Publish(will) = watcher.packet().await else {
        panic!("the will expected")
    };
    assert_eq!(
        (will.topic.as_str(), &will.payload[..]),
        ("0123456789", &b"qwerty"[..])
    );
    assert_eq!(will.qos, QoS::AtLeastOnce);
    let stored = mqtt::wait_for_messages(&server, "client test0", 3).await;
    assert_eq!(
        stored.len(),
        3,
        "two publishes and one will, no will after DISCONNECT"
    );
    let will = &stored[2];
    assert_eq!(will.kind, "will");
    assert_eq!(
        (will.topic.as_str(), &will.payload[..], will.qos),
        ("0123456789", &b"qwerty"[..], 1)
    );

    // Not provisioned under 3.1 either.
    let mut other = Raw::connect(&server).await;
    other
        .send(&hex(
            "10 11 00 06 4d 51 49 73 64 70 03 02 00 3c 00 03 61 62 63",
        ))
        .await;
    assert_eq!(other.read_exact(4).await, hex("20 02 00 05"));
    server.stop().await;
}

#[tokio::test]
async fn a_client_approved_with_the_provision_command_logs_in() {
    use clap::Parser;
    use omp_server::config::{Cli, Command, ProvisionCommand};

    let dir = tempfile::tempdir().unwrap();
    let server = mqtt::start(dir.path(), ProvisioningMode::Approved).await;
    let cli = Cli::try_parse_from([
        "omp-server",
        "provision",
        "mqtt",
        "add",
        "--profile",
        "client-id",
        "--client-id",
        "client test0",
    ])
    .unwrap();
    let Some(Command::Provision(add @ ProvisionCommand::Mqtt(_))) = cli.command else {
        panic!("provision mqtt add parses");
    };
    let mut out = Vec::new();
    omp_server::provision::execute(&server.state.config, &add, &mut out)
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "approved MQTT client client test0 (client-id)\n"
    );
    let mut c = Raw::connect(&server).await;
    c.send(&hex(SIM_CONNECT_311)).await;
    assert_eq!(c.read_exact(4).await, hex(CONNACK_OK));
    server.stop().await;
}

/// With the writer stalled (another connection holds SQLite's write lock)
/// and its queue full, publishers get no PUBACK and their sessions wait
/// for room instead of dropping; once the lock goes every message is
/// acknowledged and stored once.
#[tokio::test]
async fn a_full_writer_holds_the_acknowledgements_back_and_loses_nothing() {
    use sqlx::Connection;
    use std::sync::atomic::Ordering;

    let dir = tempfile::tempdir().unwrap();
    let server = common::start(dir.path(), |c| {
        c.mqtt_listen = Some("127.0.0.1:0".parse().unwrap());
        c.provisioning = ProvisioningMode::Open;
        c.writer_queue_capacity = 1;
    })
    .await;
    let mut lock =
        omp_server::store::open_dedicated_connection(&server.state.config.database_path())
            .await
            .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();

    let mut clients = Vec::new();
    for i in 0..5u8 {
        let mut c = Raw::connect(&server).await;
        // CONNECT client "c<i>", clean, keep-alive 60.
        c.send(&[
            0x10,
            0x0e,
            0,
            4,
            b'M',
            b'Q',
            b'T',
            b'T',
            4,
            2,
            0,
            60,
            0,
            2,
            b'c',
            b'0' + i,
        ])
        .await;
        assert_eq!(c.read_exact(4).await, hex(CONNACK_OK));
        // PUBLISH QoS 1 on "t", packet id 1, payload [i].
        c.send(&[0x32, 0x06, 0, 1, b't', 0, 1, i]).await;
        clients.push(c);
    }
    let waited = &server.state.writer.metrics().mqtt_waited_full;
    tokio::time::timeout(common::GUARD, async {
        while waited.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("a publisher waits for room in the writer's queue");
    // Nothing can be committed while the lock is held: no PUBACK yet.
    for c in &mut clients {
        let mut byte = [0u8; 1];
        assert!(matches!(
            c.stream.try_read(&mut byte),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        ));
    }
    sqlx::query("COMMIT").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.read_exact(4).await, hex("40 02 00 01"), "client {i}");
        let stored = mqtt::messages(&server, &format!("c{i}")).await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].payload, vec![i as u8]);
    }
    server.stop().await;
}
