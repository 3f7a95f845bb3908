//! MQTT ingest on SQLite and on PostgreSQL: messages and their data
//! points stored and read back (`store::mqtt_messages`,
//! `store::mqtt_datapoints`), and online states upserted with their
//! events (`store::mqtt_presence`).

mod common;

use bytes::Bytes;
use omp_server::store::events::{self, EventFilter};
use omp_server::store::mqtt_datapoints::{self, DataPointRow};
use omp_server::store::mqtt_messages::{self, MessageRow};
use omp_server::store::mqtt_presence::{self, Presence};

use common::seed::{message, same_message};

#[tokio::test]
async fn mqtt_messages_and_their_data_points_store_and_read_back() {
    for store in common::stores::each("mqtt_messages_and_datapoints").await {
        let db = &store.db;
        let backend = store.backend();
        let mut rows: Vec<MessageRow> = (0..150)
            .map(|i| message("c1", if i % 2 == 0 { "t/a" } else { "t/b" }, i))
            .collect();
        for (i, row) in rows.iter_mut().enumerate().filter(|(i, _)| i % 10 == 3) {
            row.datapoints = vec![
                DataPointRow {
                    stream: "temp".into(),
                    at: Some(format!("2026-12-04 10:00:{:02}", i % 60)),
                    value: i.to_string(),
                },
                DataPointRow {
                    stream: "hum".into(),
                    at: None,
                    value: "{\"v\":1}".into(),
                },
            ];
        }
        rows[5].dp_error = Some("unknown payload type 9".into());
        rows[6].client_id = "c2".into();

        let mut tx = db.begin_write().await.unwrap();
        let ids = mqtt_messages::insert_batch(&mut tx.conn(), &rows)
            .await
            .unwrap();
        assert!(
            mqtt_messages::insert_batch(&mut tx.conn(), &[])
                .await
                .unwrap()
                .is_empty(),
            "{backend}"
        );
        tx.commit().await.unwrap();
        assert_eq!(ids.len(), rows.len(), "{backend}");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{backend}");

        for (id, row) in ids.iter().zip(&rows) {
            let stored = mqtt_messages::get(db, *id).await.unwrap().unwrap();
            assert!(same_message(&stored, row), "{backend}: {stored:?} {row:?}");
        }
        assert_eq!(mqtt_messages::get(db, -1).await.unwrap(), None, "{backend}");
        let mut some = mqtt_messages::by_ids(db, &[ids[7], ids[3], 999_999])
            .await
            .unwrap();
        some.sort_by_key(|m| m.id);
        assert_eq!(
            some.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![ids[3], ids[7]],
            "{backend}"
        );
        assert!(mqtt_messages::by_ids(db, &[]).await.unwrap().is_empty());

        let page = mqtt_messages::page(db, "c1", Some("t/a"), Some(ids[100]), 10)
            .await
            .unwrap();
        let expected: Vec<i64> = ids
            .iter()
            .zip(&rows)
            .rev()
            .filter(|(id, r)| **id < ids[100] && r.topic == "t/a" && r.client_id == "c1")
            .take(10)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(
            page.iter().map(|m| m.id).collect::<Vec<_>>(),
            expected,
            "{backend}"
        );
        let all = mqtt_messages::page(db, "c1", None, None, 1_000)
            .await
            .unwrap();
        assert_eq!(all.len(), 149, "{backend}");
        assert_eq!(all[0].id, ids[149], "{backend}: newest first");

        // Data points: with their message, in order.
        let points = mqtt_datapoints::of_message(db, ids[13]).await.unwrap();
        assert_eq!(
            points
                .iter()
                .map(|p| (
                    p.message_id,
                    p.client_id.as_str(),
                    p.stream.as_str(),
                    p.at.as_deref(),
                    p.value.as_str()
                ))
                .collect::<Vec<_>>(),
            vec![
                (ids[13], "c1", "temp", Some("2026-12-04 10:00:13"), "13"),
                (ids[13], "c1", "hum", None, "{\"v\":1}"),
            ],
            "{backend}"
        );
        assert!(
            mqtt_datapoints::of_message(db, ids[0])
                .await
                .unwrap()
                .is_empty()
        );
        let temps = mqtt_datapoints::page(db, "c1", Some("temp"), None, 1_000)
            .await
            .unwrap();
        assert_eq!(
            temps.iter().map(|p| p.value.as_str()).collect::<Vec<_>>(),
            (0..150)
                .rev()
                .filter(|i| i % 10 == 3)
                .map(|i| i.to_string())
                .collect::<Vec<_>>(),
            "{backend}"
        );
        let older = mqtt_datapoints::page(db, "c1", None, Some(temps[1].id), 3)
            .await
            .unwrap();
        assert_eq!(older.len(), 3, "{backend}");
        assert!(older.iter().all(|p| p.id < temps[1].id), "{backend}");
        assert!(older.windows(2).all(|w| w[0].id > w[1].id), "{backend}");

        // Retained: the latest per topic, unless it cleared the topic.
        let retain = |topic: &str, payload: &'static [u8]| MessageRow {
            retain: true,
            payload: Bytes::from_static(payload),
            ..message("c3", topic, 1)
        };
        let later = vec![
            retain("r/1", b"x"),
            retain("r/2", b"kept"),
            retain("r/1", b"y"),
            retain("r/3", b"gone"),
            retain("r/3", b""),
            message("c3", "r/1", 2),
        ];
        let mut tx = db.begin_write().await.unwrap();
        let later_ids = mqtt_messages::insert_batch(&mut tx.conn(), &later)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let retained = mqtt_messages::retained(db).await.unwrap();
        assert_eq!(
            retained.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![later_ids[1], later_ids[2]],
            "{backend}"
        );
        assert!(retained.iter().all(|m| m.retain), "{backend}");
        assert_eq!(retained[1].payload, b"y", "{backend}");
    }
}

#[tokio::test]
async fn mqtt_online_states_upsert_with_their_events() {
    for store in common::stores::each("mqtt_presence").await {
        let db = &store.db;
        let backend = store.backend();
        let state = |client: &str, online: bool, reason: Option<&str>, at: i64| Presence {
            client_id: client.to_owned(),
            online,
            reason: reason.map(str::to_owned),
            peer: format!("10.0.0.9:{at}"),
            connected_at: at,
            last_seen: at,
        };
        let mut tx = db.begin_write().await.unwrap();
        mqtt_presence::record(
            &mut tx.conn(),
            &[state("c1", true, None, 10), state("c2", true, None, 20)],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        // An offline state whose last packet is older than the stored one
        // (a late flush): the contact time does not go back.
        let mut tx = db.begin_write().await.unwrap();
        mqtt_presence::record(
            &mut tx.conn(),
            &[Presence {
                last_seen: 5,
                ..state("c1", false, Some("keep alive timeout"), 8)
            }],
        )
        .await
        .unwrap();
        mqtt_presence::record(&mut tx.conn(), &[]).await.unwrap();
        tx.commit().await.unwrap();

        let c1 = mqtt_presence::get(db, "c1").await.unwrap().unwrap();
        assert_eq!(
            (
                c1.online,
                c1.reason.as_deref(),
                c1.peer.as_str(),
                c1.connected_at,
                c1.last_seen
            ),
            (false, Some("keep alive timeout"), "10.0.0.9:8", 8, 10),
            "{backend}"
        );
        let c2 = mqtt_presence::get(db, "c2").await.unwrap().unwrap();
        assert!(c2.online, "{backend}");
        assert_eq!(mqtt_presence::get(db, "c9").await.unwrap(), None);
        let first = mqtt_presence::page(db, None, 1).await.unwrap();
        assert_eq!(first, vec![c1.clone()], "{backend}");
        let rest = mqtt_presence::page(db, Some("c1"), 10).await.unwrap();
        assert_eq!(rest, vec![c2], "{backend}");

        let page = events::page(db, &EventFilter::default(), 0, i64::MAX, 100)
            .await
            .unwrap();
        assert_eq!(
            page.events
                .iter()
                .map(|e| (e.kind.as_str(), e.device_id.as_deref(), e.at))
                .collect::<Vec<_>>(),
            vec![
                (events::MQTT_ONLINE, Some("c1"), 10),
                (events::MQTT_ONLINE, Some("c2"), 20),
                (events::MQTT_OFFLINE, Some("c1"), 5),
            ],
            "{backend}"
        );
        let data: serde_json::Value = serde_json::from_str(&page.events[2].data).unwrap();
        assert_eq!(
            data,
            serde_json::json!({ "peer": "10.0.0.9:8", "reason": "keep alive timeout" }),
            "{backend}"
        );
    }
}
