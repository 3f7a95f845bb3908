//! The ingest tables on each backend (SQLite, PostgreSQL): deliveries and
//! their reads and export, keyed resends, split deliveries, the events
//! outbox, MQTT messages, data points and online states. The writer's
//! functions run inside a write transaction opened here, as the writer
//! opens its own.

mod common;

use std::time::Duration;

use bytes::Bytes;
use omp_server::export::{self, Format, Selection};
use omp_server::store::deliveries::{self, DeliveryRow, HistoryFilter, StoredDelivery};
use omp_server::store::events::{self, EventFilter, NewEvent};
use omp_server::store::mqtt_datapoints::{self, DataPointRow};
use omp_server::store::mqtt_messages::{self, MessageKind, MessageRow, StoredMessage};
use omp_server::store::mqtt_presence::{self, Presence};
use omp_server::store::splits::{self, AbandonReason, PartRow};
use omp_server::store::{Backend, Db};

const GW: &str = "SC10010001";
const OTHER_GW: &str = "SC10010002";
const DEVICE: &str = "AD10014001";

/// Runs one statement of test set-up that no store function does.
async fn execute(db: &Db, sql: &'static str) {
    match db {
        Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Delivery `i` of `gw_id`: every field varies with `i`, and the payload
/// holds bytes text would not (NUL, 0xff), empty for `i = 0`.
fn delivery(gw_id: &str, i: u32) -> DeliveryRow {
    DeliveryRow {
        gw_id: gw_id.to_owned(),
        device_id: if i.is_multiple_of(5) {
            DEVICE.to_owned()
        } else {
            String::new()
        },
        report_type: (i % 3) as u8 + 1,
        media_type: (i % 2) as u8 + 1,
        tid: u32::MAX - i,
        origin_timestamp: 1_586_937_600 + i,
        received_at: 1_000 + i64::from(i),
        encryption_flag: (i % 2) as u8 * 2,
        payload: (0..i).map(|b| (b * 37) as u8).collect::<Vec<u8>>().into(),
        keyed: i.is_multiple_of(7),
    }
}

/// `stored` is `row` as stored.
fn same(stored: &StoredDelivery, row: &DeliveryRow) -> bool {
    (
        stored.gw_id.as_str(),
        stored.device_id.as_str(),
        stored.report_type,
        stored.media_type,
        stored.tid,
        stored.origin_timestamp,
        stored.received_at,
        stored.encryption_flag,
        stored.payload.as_slice(),
    ) == (
        row.gw_id.as_str(),
        row.device_id.as_str(),
        i64::from(row.report_type),
        i64::from(row.media_type),
        i64::from(row.tid),
        i64::from(row.origin_timestamp),
        row.received_at,
        i64::from(row.encryption_flag),
        row.payload.as_ref(),
    )
}

async fn insert_deliveries(db: &Db, rows: &[DeliveryRow]) {
    let mut tx = db.begin_write().await.unwrap();
    deliveries::insert_batch(&mut tx.conn(), rows)
        .await
        .unwrap_or_else(|e| panic!("{}: insert_batch: {e}", db.backend()));
    tx.commit().await.unwrap();
}

/// The rows of `GW` stored in order, with their ids: 250 of them (more
/// than one SQLite statement holds) with one of `OTHER_GW` among them.
async fn seed_deliveries(db: &Db) -> Vec<(i64, DeliveryRow)> {
    let mut rows: Vec<DeliveryRow> = (0..250).map(|i| delivery(GW, i)).collect();
    rows.insert(120, delivery(OTHER_GW, 7));
    insert_deliveries(db, &rows).await;
    insert_deliveries(db, &[]).await;
    let mut stored = deliveries::latest(db, GW, 1_000).await.unwrap();
    stored.reverse();
    let ours: Vec<DeliveryRow> = rows.into_iter().filter(|r| r.gw_id == GW).collect();
    assert_eq!(stored.len(), ours.len(), "{}", db.backend());
    for (s, r) in stored.iter().zip(&ours) {
        assert!(same(s, r), "{}: {s:?} is not {r:?}", db.backend());
    }
    stored.into_iter().map(|s| s.id).zip(ours).collect()
}

#[tokio::test]
async fn deliveries_insert_in_order_and_read_back_by_every_query() {
    for store in common::stores::each("deliveries_insert_and_read").await {
        let db = &store.db;
        let backend = store.backend();
        let rows = seed_deliveries(db).await;
        assert!(
            rows.windows(2).all(|w| w[0].0 < w[1].0),
            "{backend}: ids follow the batch's order"
        );

        // newest: of the gateway, of one device, of nobody.
        let newest = deliveries::newest(db, GW, None).await.unwrap().unwrap();
        assert_eq!(newest.id, rows.last().unwrap().0, "{backend}");
        let of_device = deliveries::newest(db, GW, Some(DEVICE))
            .await
            .unwrap()
            .unwrap();
        let expected = rows.iter().rev().find(|(_, r)| r.device_id == DEVICE);
        assert_eq!(Some(of_device.id), expected.map(|e| e.0), "{backend}");
        assert!(same(&of_device, &expected.unwrap().1), "{backend}");
        assert_eq!(
            deliveries::newest(db, GW, Some("AD19999999"))
                .await
                .unwrap(),
            None,
            "{backend}"
        );
        let other = deliveries::newest(db, OTHER_GW, None)
            .await
            .unwrap()
            .unwrap();
        assert!(same(&other, &delivery(OTHER_GW, 7)), "{backend}");

        // history: every filter at once, newest first.
        let before = rows[200].0;
        let filter = HistoryFilter {
            before_id: Some(before),
            from: Some(1_010),
            to: Some(1_200),
            device_id: Some(String::new()),
            report_type: Some(2),
        };
        let page = deliveries::history(db, GW, &filter, 1_000).await.unwrap();
        let expected: Vec<i64> = rows
            .iter()
            .rev()
            .filter(|(id, r)| {
                *id < before
                    && r.received_at >= 1_010
                    && r.received_at < 1_200
                    && r.device_id.is_empty()
                    && r.report_type == 2
            })
            .map(|(id, _)| *id)
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(
            page.iter().map(|d| d.id).collect::<Vec<_>>(),
            expected,
            "{backend}"
        );
        let first_page = deliveries::history(db, GW, &HistoryFilter::default(), 10)
            .await
            .unwrap();
        assert_eq!(
            first_page.iter().map(|d| d.id).collect::<Vec<_>>(),
            rows.iter().rev().take(10).map(|r| r.0).collect::<Vec<_>>(),
            "{backend}"
        );

        // oldest_after: the export's keyset pages, oldest first.
        let filter = HistoryFilter {
            from: Some(1_005),
            to: Some(1_240),
            device_id: Some(DEVICE.to_owned()),
            ..HistoryFilter::default()
        };
        let mut paged = Vec::new();
        let mut after = 0;
        loop {
            let page = deliveries::oldest_after(db, GW, &filter, after, 7)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = last.id;
            paged.extend(page.into_iter().map(|d| d.id));
        }
        let expected: Vec<i64> = rows
            .iter()
            .filter(|(_, r)| {
                r.received_at >= 1_005 && r.received_at < 1_240 && r.device_id == DEVICE
            })
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(paged, expected, "{backend}");
    }
}

#[tokio::test]
async fn an_export_reads_every_row_of_the_gateway_oldest_first() {
    for store in common::stores::each("deliveries_export").await {
        let backend = store.backend();
        let rows = seed_deliveries(&store.db).await;
        let selection = Selection {
            gw_id: GW.to_owned(),
            filter: HistoryFilter::default(),
        };
        let mut csv = Vec::new();
        export::write(store.db.clone(), selection.clone(), Format::Csv, &mut csv)
            .await
            .unwrap();
        let csv = String::from_utf8(csv).unwrap();
        let ids: Vec<i64> = csv
            .lines()
            .skip(1)
            .map(|line| line.split(',').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            ids,
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "{backend}"
        );
        let mut ndjson = Vec::new();
        export::write(store.db.clone(), selection, Format::Ndjson, &mut ndjson)
            .await
            .unwrap();
        assert_eq!(
            ndjson.iter().filter(|b| **b == b'\n').count(),
            rows.len(),
            "{backend}"
        );
    }
}

#[tokio::test]
async fn stored_keyed_finds_exactly_the_stored_copies() {
    for store in common::stores::each("deliveries_stored_keyed").await {
        let db = &store.db;
        let backend = store.backend();
        let keyed = |tid: u32, payload: &'static [u8]| DeliveryRow {
            tid,
            origin_timestamp: 1_586_937_600,
            keyed: true,
            payload: Bytes::from_static(payload),
            ..delivery(GW, 1)
        };
        let unkeyed = DeliveryRow {
            keyed: false,
            ..keyed(3, b"three")
        };
        insert_deliveries(db, &[keyed(1, b"one"), keyed(2, b"two"), unkeyed.clone()]).await;
        let stored = deliveries::latest(db, GW, 10).await.unwrap();
        let id_of = |tid: i64| stored.iter().find(|d| d.tid == tid).unwrap().id;

        let asked = vec![
            keyed(1, b"one"),
            keyed(1, b"ONE"),
            DeliveryRow {
                device_id: DEVICE.to_owned(),
                ..keyed(2, b"two")
            },
            unkeyed.clone(),
            DeliveryRow {
                keyed: true,
                ..unkeyed
            },
            DeliveryRow {
                keyed: false,
                ..keyed(1, b"one")
            },
            keyed(4, b"four"),
            keyed(2, b"two"),
            keyed(1, b"one"),
            DeliveryRow {
                gw_id: OTHER_GW.to_owned(),
                ..keyed(1, b"one")
            },
        ];
        // Outside a transaction (a dedicated connection) and inside one.
        let mut conn = store.dedicated().await;
        let found = deliveries::stored_keyed(&mut conn.conn(), &asked)
            .await
            .unwrap();
        let expected = vec![
            Some(id_of(1)),
            None,
            None,
            None,
            None,
            None,
            None,
            Some(id_of(2)),
            Some(id_of(1)),
            None,
        ];
        assert_eq!(found, expected, "{backend}");
        let mut tx = db.begin_write().await.unwrap();
        let found = deliveries::stored_keyed(&mut tx.conn(), &asked)
            .await
            .unwrap();
        assert_eq!(found, expected, "{backend}");
        let plain = vec![delivery(GW, 1), delivery(GW, 2)];
        let found = deliveries::stored_keyed(&mut tx.conn(), &plain)
            .await
            .unwrap();
        assert_eq!(found, vec![None, None], "{backend}");
    }
}

fn part(device_id: &str, tid: u32, current: u16, total: u16, payload: &'static [u8]) -> PartRow {
    PartRow {
        gw_id: GW.to_owned(),
        device_id: device_id.to_owned(),
        report_type: 1,
        media_type: 2,
        tid,
        current,
        total,
        origin_timestamp: 1_586_937_600,
        received_at: 5_000 + i64::from(tid),
        encryption_flag: 2,
        payload: Bytes::from_static(payload),
        keyed: true,
        peer: format!("10.0.0.1:{tid}"),
    }
}

#[tokio::test]
async fn a_split_delivery_is_held_part_by_part_then_completed_or_abandoned() {
    for store in common::stores::each("splits_lifecycle").await {
        let db = &store.db;
        let backend = store.backend();

        let mut tx = db.begin_write().await.unwrap();
        splits::open(&mut tx.conn(), 5, &part("", 100, 1, 3, b"ab"))
            .await
            .unwrap();
        splits::add(&mut tx.conn(), 5, &part("", 101, 2, 3, b"cd"))
            .await
            .unwrap();
        // Part 2 again, as resent: only the T-ID to follow and the time move.
        splits::touch(&mut tx.conn(), 5, &part("", 102, 2, 3, b"cd"))
            .await
            .unwrap();
        splits::open(&mut tx.conn(), 6, &part(DEVICE, 200, 1, 2, b"\x00\xff"))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let mut conn = store.dedicated().await;
        let (open, next_id) = splits::load_open(&mut conn.conn()).await.unwrap();
        assert_eq!(next_id, 7, "{backend}");
        assert_eq!(open.len(), 2, "{backend}");
        let ((gw_id, device_id), five) = &open[0];
        assert_eq!((gw_id.as_str(), device_id.as_str()), (GW, ""), "{backend}");
        assert_eq!(
            (five.id, five.total, five.report_type, five.media_type),
            (5, 3, 1, 2),
            "{backend}"
        );
        assert_eq!(five.tids, vec![100, 101], "{backend}");
        assert_eq!(five.last_tid, 102, "{backend}");
        assert_eq!(five.bytes, 4, "{backend}");
        assert_eq!(
            (five.started_at, five.last_part_at),
            (5_100, 5_102),
            "{backend}"
        );
        assert_eq!(five.last_payload.as_ref(), b"cd", "{backend}");
        assert_eq!(open[1].0.1, DEVICE, "{backend}");

        let incomplete = splits::incomplete(db, GW, 10).await.unwrap();
        assert_eq!(
            incomplete.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![6, 5],
            "{backend}: newest first"
        );
        let held = &incomplete[1];
        assert_eq!(
            (held.state.as_str(), held.reason.as_deref(), held.closed_at),
            ("open", None, None),
            "{backend}"
        );
        assert_eq!(held.peer, "10.0.0.1:102", "{backend}");
        assert_eq!(
            held.parts
                .iter()
                .map(|p| (p.current_count, p.tid, p.payload.as_slice()))
                .collect::<Vec<_>>(),
            vec![(1, 100, &b"ab"[..]), (2, 101, &b"cd"[..])],
            "{backend}"
        );
        assert_eq!(
            splits::incomplete(db, GW, 1).await.unwrap().len(),
            1,
            "{backend}"
        );

        // The last part: the delivery is whole, the split gone.
        let mut tx = db.begin_write().await.unwrap();
        let whole = splits::complete(&mut tx.conn(), five, &part("", 103, 3, 3, b"ef"))
            .await
            .unwrap();
        assert_eq!(
            whole,
            DeliveryRow {
                gw_id: GW.to_owned(),
                device_id: String::new(),
                report_type: 1,
                media_type: 2,
                tid: 100,
                origin_timestamp: 1_586_937_600,
                received_at: 5_103,
                encryption_flag: 2,
                payload: Bytes::from_static(b"abcdef"),
                keyed: true,
            },
            "{backend}"
        );
        deliveries::insert_batch(&mut tx.conn(), std::slice::from_ref(&whole))
            .await
            .unwrap();
        splits::abandon(&mut tx.conn(), 6, AbandonReason::Superseded, 9_000)
            .await
            .unwrap();
        // Only an open split is abandoned: the first reason stays.
        splits::abandon(&mut tx.conn(), 6, AbandonReason::Expired, 9_500)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let stored = deliveries::newest(db, GW, None).await.unwrap().unwrap();
        assert!(same(&stored, &whole), "{backend}");
        let incomplete = splits::incomplete(db, GW, 10).await.unwrap();
        assert_eq!(incomplete.len(), 1, "{backend}");
        let abandoned = &incomplete[0];
        assert_eq!(
            (
                abandoned.id,
                abandoned.state.as_str(),
                abandoned.reason.as_deref(),
                abandoned.closed_at
            ),
            (6, "abandoned", Some("superseded"), Some(9_000)),
            "{backend}"
        );
        assert_eq!(abandoned.parts.len(), 1, "{backend}: its parts stay");
        assert_eq!(abandoned.parts[0].payload, b"\x00\xff", "{backend}");
        let (open, next_id) = splits::load_open(&mut conn.conn()).await.unwrap();
        assert!(open.is_empty(), "{backend}");
        assert_eq!(next_id, 7, "{backend}");
    }
}

fn message(client_id: &str, topic: &str, i: u32) -> MessageRow {
    MessageRow {
        client_id: client_id.to_owned(),
        kind: if i.is_multiple_of(11) {
            MessageKind::Will
        } else {
            MessageKind::Publish
        },
        topic: topic.to_owned(),
        payload: vec![i as u8, 0, 0xff].into(),
        qos: (i % 3) as u8,
        retain: false,
        dup: i % 4 == 1,
        packet_id: (!i.is_multiple_of(3)).then_some(i as u16),
        received_at: 7_000 + i64::from(i),
        datapoints: Vec::new(),
        dp_error: None,
    }
}

fn same_message(stored: &StoredMessage, row: &MessageRow) -> bool {
    let kind = match row.kind {
        MessageKind::Publish => "publish",
        MessageKind::Will => "will",
    };
    (
        stored.client_id.as_str(),
        stored.kind.as_str(),
        stored.topic.as_str(),
        stored.payload.as_slice(),
        stored.qos,
        stored.retain,
        stored.dup,
        stored.packet_id,
        stored.received_at,
        stored.dp_undecodable,
        stored.dp_error.as_deref(),
    ) == (
        row.client_id.as_str(),
        kind,
        row.topic.as_str(),
        row.payload.as_ref(),
        i64::from(row.qos),
        row.retain,
        row.dup,
        row.packet_id.map(i64::from),
        row.received_at,
        row.dp_error.is_some(),
        row.dp_error.as_deref(),
    )
}

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

#[tokio::test]
async fn events_are_inserted_and_paged_with_what_they_refer_to() {
    for store in common::stores::each("events_page").await {
        let db = &store.db;
        let backend = store.backend();
        let mut conn = store.dedicated().await;
        assert_eq!(
            events::last_id(&mut conn.conn()).await.unwrap(),
            0,
            "{backend}"
        );

        let mut tx = db.begin_write().await.unwrap();
        events::insert(
            &mut tx.conn(),
            &[
                NewEvent {
                    kind: events::GATEWAY_ONLINE,
                    gw_id: Some(GW.to_owned()),
                    device_id: None,
                    at: 1,
                    data: serde_json::json!({ "peer": "10.0.0.1:1" }),
                },
                NewEvent {
                    kind: events::REGISTRATION_REFUSED,
                    gw_id: None,
                    device_id: None,
                    at: 2,
                    data: serde_json::json!({ "auth_id": "x", "result_code": 3 }),
                },
            ],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        // The triggers' events: a delivery each, an MQTT message.
        let deliveries = [
            DeliveryRow {
                device_id: String::new(),
                ..delivery(GW, 3)
            },
            DeliveryRow {
                device_id: DEVICE.to_owned(),
                ..delivery(OTHER_GW, 4)
            },
        ];
        insert_deliveries(db, &deliveries).await;
        let mut tx = db.begin_write().await.unwrap();
        let message_ids = mqtt_messages::insert_batch(&mut tx.conn(), &[message("c1", "t", 1)])
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let last = events::last_id(&mut conn.conn()).await.unwrap();
        let page = events::page(db, &EventFilter::default(), 0, last, 100)
            .await
            .unwrap();
        assert_eq!(page.scanned_to, last, "{backend}");
        assert_eq!(page.events.last().map(|e| e.id), Some(last), "{backend}");
        assert!(page.events.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(
            page.events
                .iter()
                .map(|e| (e.kind.as_str(), e.gw_id.as_deref(), e.device_id.as_deref()))
                .collect::<Vec<_>>(),
            vec![
                (events::GATEWAY_ONLINE, Some(GW), None),
                (events::REGISTRATION_REFUSED, None, None),
                (events::DELIVERY, Some(GW), None),
                (events::DELIVERY, Some(OTHER_GW), Some(DEVICE)),
                (events::MQTT_MESSAGE, None, Some("c1")),
            ],
            "{backend}"
        );
        let data: serde_json::Value = serde_json::from_str(&page.events[1].data).unwrap();
        assert_eq!(data["result_code"], 3, "{backend}");
        assert!(same(
            page.events[2].delivery.as_ref().unwrap(),
            &deliveries[0]
        ));
        assert!(same(
            page.events[3].delivery.as_ref().unwrap(),
            &deliveries[1]
        ));
        assert_eq!(
            page.events[3].ref_id,
            Some(page.events[3].delivery.as_ref().unwrap().id)
        );
        let attached = page.events[4].message.as_ref().unwrap();
        assert_eq!(attached.id, message_ids[0], "{backend}");
        assert!(same_message(attached, &message("c1", "t", 1)), "{backend}");
        assert!(
            page.events[..2]
                .iter()
                .all(|e| e.delivery.is_none() && e.message.is_none() && e.ref_id.is_none())
        );

        // Filters.
        let kinds = |kinds: &[&str]| kinds.iter().map(|k| (*k).to_owned()).collect();
        let filtered = |filter: EventFilter| async move {
            events::page(db, &filter, 0, last, 100)
                .await
                .unwrap()
                .events
                .into_iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            filtered(EventFilter {
                kinds: kinds(&[events::DELIVERY, events::GATEWAY_ONLINE]),
                gw_id: Some(GW.to_owned()),
                device_id: None,
            })
            .await,
            vec![events::GATEWAY_ONLINE, events::DELIVERY],
            "{backend}"
        );
        assert_eq!(
            filtered(EventFilter {
                device_id: Some(DEVICE.to_owned()),
                ..EventFilter::default()
            })
            .await,
            vec![events::DELIVERY],
            "{backend}"
        );
        assert_eq!(
            filtered(EventFilter {
                kinds: kinds(&[events::MQTT_MESSAGE]),
                ..EventFilter::default()
            })
            .await,
            vec![events::MQTT_MESSAGE],
            "{backend}"
        );

        // A full page stops at its last row; an empty range reads nothing.
        let two = events::page(db, &EventFilter::default(), 0, last, 2)
            .await
            .unwrap();
        assert_eq!(two.events.len(), 2, "{backend}");
        assert_eq!(two.scanned_to, two.events[1].id, "{backend}");
        let rest = events::page(db, &EventFilter::default(), two.scanned_to, last, 100)
            .await
            .unwrap();
        assert_eq!(rest.events.len(), 3, "{backend}");
        let none = events::page(db, &EventFilter::default(), last, last, 100)
            .await
            .unwrap();
        assert!(none.events.is_empty(), "{backend}");
        assert_eq!(none.scanned_to, last, "{backend}");
        let far = events::page(db, &EventFilter::default(), last, i64::MAX, 100)
            .await
            .unwrap();
        assert_eq!(
            far.scanned_to,
            last + events::SCAN_WINDOW,
            "{backend}: one window at most"
        );

        // Emptied by retention, the outbox still knows its last id.
        execute(db, "DELETE FROM events").await;
        assert_eq!(
            events::last_id(&mut conn.conn()).await.unwrap(),
            last,
            "{backend}"
        );
        let mut tx = db.begin_write().await.unwrap();
        assert_eq!(
            events::last_id(&mut tx.conn()).await.unwrap(),
            last,
            "{backend}: inside a transaction"
        );
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn last_id_never_names_an_event_not_yet_committed() {
    for store in common::stores::each("events_last_id_uncommitted").await {
        let db = &store.db;
        let backend = store.backend();
        let event = |at: i64| NewEvent {
            kind: events::GATEWAY_OFFLINE,
            gw_id: Some(GW.to_owned()),
            device_id: None,
            at,
            data: serde_json::json!({}),
        };
        let mut tx = db.begin_write().await.unwrap();
        events::insert(&mut tx.conn(), &[event(1)]).await.unwrap();
        tx.commit().await.unwrap();
        let mut reader = store.dedicated().await;
        let committed = events::last_id(&mut reader.conn()).await.unwrap();
        assert!(committed > 0, "{backend}");

        // Rows in the table: the newest committed one, at once.
        let mut tx = db.begin_write().await.unwrap();
        events::insert(&mut tx.conn(), &[event(2)]).await.unwrap();
        let read = tokio::time::timeout(common::GUARD, events::last_id(&mut reader.conn()))
            .await
            .expect("not held up by the open transaction")
            .unwrap();
        assert_eq!(read, committed, "{backend}");
        drop(tx);

        // An empty table: the sequence, but not while an id drawn from it
        // may still commit.
        execute(db, "DELETE FROM events").await;
        let mut tx = db.begin_write().await.unwrap();
        events::insert(&mut tx.conn(), &[event(3)]).await.unwrap();
        let last = tokio::spawn(async move {
            let id = events::last_id(&mut reader.conn()).await.unwrap();
            (id, reader)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        match backend {
            // SQLite's reader sees the committed sequence beside the open
            // write transaction.
            Backend::Sqlite => assert!(last.is_finished(), "{backend}"),
            // PostgreSQL's sequence already counts the open transaction's
            // id: the read waits for it to end.
            Backend::Postgres => assert!(!last.is_finished(), "{backend}"),
        }
        drop(tx);
        let (read, _) = tokio::time::timeout(common::GUARD, last)
            .await
            .unwrap()
            .unwrap();
        // SQLite: the last committed id. PostgreSQL: the last id drawn, by
        // transactions that have all ended (two rolled back; no later
        // event takes their ids). Neither leaves a committed event unread.
        match backend {
            Backend::Sqlite => assert_eq!(read, committed, "{backend}"),
            Backend::Postgres => assert_eq!(read, committed + 2, "{backend}"),
        }
    }
}

#[tokio::test]
async fn postgres_reads_a_quiet_gateway_through_its_index() {
    let Some(store) = common::stores::postgres("deliveries_postgres_plan").await else {
        return;
    };
    // Half the table is an old gateway's, the newer half another's: with
    // `gw_id = $1 ORDER BY id` the planner walks the primary key back
    // through every newer row to find the old gateway's latest.
    let rows = |gw_id: &str, from: u32| -> Vec<DeliveryRow> {
        (from..from + 20_000)
            .map(|i| DeliveryRow {
                payload: Bytes::new(),
                ..delivery(gw_id, i)
            })
            .collect()
    };
    insert_deliveries(&store.db, &rows("SC10010009", 0)).await;
    insert_deliveries(&store.db, &rows(OTHER_GW, 20_000)).await;
    execute(&store.db, "ANALYZE deliveries").await;
    let pool = store.db.as_postgres().unwrap();
    for with_device in [false, true] {
        let sql = deliveries::newest_sql(Backend::Postgres, with_device);
        let mut explain =
            sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
                .persistent(false)
                .bind("SC10010009");
        if with_device {
            explain = explain.bind(DEVICE);
        }
        let plan = explain.fetch_all(pool).await.unwrap().join("\n");
        assert!(plan.contains("using deliveries_gw_id"), "{plan}");
        assert!(!plan.contains("deliveries_pkey"), "{plan}");
    }
    let newest = deliveries::newest(&store.db, "SC10010009", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newest.tid, i64::from(u32::MAX - 19_999));
}
