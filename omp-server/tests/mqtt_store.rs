//! The MQTT tables through the store and the group-commit writer: a
//! message and its data points commit together and read back byte-exact;
//! online states and provisioning round-trip.

use bytes::Bytes;
use gmmp_codec::SplitLimits;
use omp_server::store::mqtt_datapoints::{self, DataPointRow};
use omp_server::store::mqtt_messages::{self, MessageKind, MessageRow};
use omp_server::store::mqtt_presence::{self, Presence};
use omp_server::store::mqtt_provisioning::{self, LoginProfile, MqttProvision};
use omp_server::store::{self, writer};
use tokio_util::sync::CancellationToken;

fn row(topic: &str, payload: &'static [u8]) -> MessageRow {
    MessageRow {
        client_id: "client test0".into(),
        kind: MessageKind::Publish,
        topic: topic.into(),
        payload: Bytes::from_static(payload),
        qos: 2,
        retain: true,
        dup: false,
        packet_id: Some(2),
        received_at: 1_700_000_000_000,
        datapoints: Vec::new(),
        dp_error: None,
    }
}

#[tokio::test]
async fn messages_and_their_data_points_commit_through_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("omp.sqlite3");
    let pool = store::open(&path).await.unwrap();
    let stop = CancellationToken::new();
    let (handle, task) = writer::spawn(
        &pool.clone().into(),
        16,
        100,
        SplitLimits::default(),
        stop.clone(),
    )
    .await
    .unwrap();

    let mut dp = row("$dp", b"\x03\x00\x02{}\xff");
    dp.datapoints = vec![DataPointRow {
        stream: "test".into(),
        at: None,
        value: "\"hello\"".into(),
    }];
    let mut flagged = row("$dp", b"\x09");
    flagged.dp_error = Some("unknown payload type 9".into());
    let first = handle.submit_mqtt(dp).await.unwrap();
    let second = handle.submit_mqtt(flagged).await.unwrap();
    let first = first.await.unwrap().unwrap();
    let second = second.await.unwrap().unwrap();
    assert!(second > first);
    handle
        .record_presence(vec![Presence {
            client_id: "client test0".into(),
            online: true,
            reason: None,
            peer: "127.0.0.1:5".into(),
            connected_at: 10,
            last_seen: 10,
        }])
        .await
        .unwrap();
    // A message after the presence change: once it is committed, so is the change.
    handle
        .submit_mqtt(row("t", b""))
        .await
        .unwrap()
        .await
        .unwrap()
        .unwrap();

    let stored = mqtt_messages::get(&omp_server::store::Db::from(pool.clone()), first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.payload, b"\x03\x00\x02{}\xff");
    assert_eq!((stored.qos, stored.retain, stored.dup), (2, true, false));
    assert_eq!(stored.packet_id, Some(2));
    assert!(!stored.dp_undecodable);
    let points = mqtt_datapoints::of_message(&omp_server::store::Db::from(pool.clone()), first)
        .await
        .unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!(
        (points[0].stream.as_str(), points[0].value.as_str()),
        ("test", "\"hello\"")
    );
    let flagged = mqtt_messages::get(&omp_server::store::Db::from(pool.clone()), second)
        .await
        .unwrap()
        .unwrap();
    assert!(flagged.dp_undecodable);
    assert_eq!(flagged.dp_error.as_deref(), Some("unknown payload type 9"));
    let online = mqtt_presence::get(&omp_server::store::Db::from(pool.clone()), "client test0")
        .await
        .unwrap()
        .unwrap();
    assert!(online.online);
    // The empty retained payload clears topic "t"; "$dp" keeps its latest.
    let retained = mqtt_messages::retained(&omp_server::store::Db::from(pool.clone()))
        .await
        .unwrap();
    assert_eq!(
        retained.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![second]
    );

    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn provisioning_by_client_id_and_by_username() {
    let dir = tempfile::tempdir().unwrap();
    let pool = store::open(&dir.path().join("omp.sqlite3")).await.unwrap();
    let onenet = MqttProvision {
        profile: LoginProfile::OneNet,
        client_id: Some("39599428".into()),
        username: Some("165920".into()),
        secret_hash: Some("sha256$00$00".into()),
        created_at: 0,
    };
    mqtt_provisioning::add(&omp_server::store::Db::from(pool.clone()), &onenet)
        .await
        .unwrap();
    let user = MqttProvision {
        profile: LoginProfile::Password,
        client_id: None,
        username: Some("wiz".into()),
        secret_hash: Some("sha256$01$01".into()),
        created_at: 0,
    };
    mqtt_provisioning::add(&omp_server::store::Db::from(pool.clone()), &user)
        .await
        .unwrap();
    // Added again: replaced, not doubled.
    mqtt_provisioning::add(&omp_server::store::Db::from(pool.clone()), &user)
        .await
        .unwrap();
    let found =
        mqtt_provisioning::by_client_id(&omp_server::store::Db::from(pool.clone()), "39599428")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(found.profile, LoginProfile::OneNet);
    assert_eq!(found.username.as_deref(), Some("165920"));
    let found = mqtt_provisioning::by_username(&omp_server::store::Db::from(pool.clone()), "wiz")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.client_id, None);
    assert_eq!(
        mqtt_provisioning::list(&omp_server::store::Db::from(pool.clone()))
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(
        mqtt_provisioning::remove(&omp_server::store::Db::from(pool.clone()), "wiz")
            .await
            .unwrap()
    );
    assert!(
        !mqtt_provisioning::remove(&omp_server::store::Db::from(pool.clone()), "wiz")
            .await
            .unwrap()
    );
    assert!(
        mqtt_provisioning::by_username(&omp_server::store::Db::from(pool.clone()), "wiz")
            .await
            .unwrap()
            .is_none()
    );
}

/// Messages queued together go in multi-row statements: each reply's id
/// is its own message's, and each data point belongs to its message.
#[tokio::test]
async fn a_batch_of_messages_maps_every_id_and_data_point_to_its_own_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("omp.sqlite3");
    let pool = store::open(&path).await.unwrap();
    let stop = CancellationToken::new();
    let (handle, task) = writer::spawn(
        &pool.clone().into(),
        512,
        300,
        SplitLimits::default(),
        stop.clone(),
    )
    .await
    .unwrap();
    let mut replies = Vec::new();
    for i in 0..250usize {
        let mut m = row(&format!("t/{i}"), b"");
        m.retain = false;
        m.payload = Bytes::from(format!("m{i}"));
        if i % 3 == 0 {
            m.datapoints = vec![DataPointRow {
                stream: format!("s{i}"),
                at: None,
                value: i.to_string(),
            }];
        }
        replies.push(handle.submit_mqtt(m).await.unwrap());
    }
    let mut ids = Vec::new();
    for reply in replies {
        ids.push(reply.await.unwrap().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for (i, id) in ids.iter().enumerate() {
        let stored = mqtt_messages::get(&omp_server::store::Db::from(pool.clone()), *id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.payload, format!("m{i}").as_bytes());
        assert_eq!(stored.topic, format!("t/{i}"));
        let points = mqtt_datapoints::of_message(&omp_server::store::Db::from(pool.clone()), *id)
            .await
            .unwrap();
        if i % 3 == 0 {
            assert_eq!(points.len(), 1, "message {i}");
            assert_eq!(points[0].stream, format!("s{i}"));
            assert_eq!(points[0].value, i.to_string());
        } else {
            assert!(points.is_empty(), "message {i}: {points:?}");
        }
    }
    stop.cancel();
    task.await.unwrap();
}
