//! Split deliveries on SQLite and on PostgreSQL (`store::splits`): held
//! part by part, then completed into one delivery or abandoned, with the
//! first reason kept. The writer's functions run inside a write
//! transaction opened here, as the writer opens its own.

mod common;

use bytes::Bytes;
use omp_server::store::deliveries::{self, DeliveryRow};
use omp_server::store::splits::{self, AbandonReason, PartRow};

use common::seed::{DEVICE, GW, same_delivery};

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
        assert!(same_delivery(&stored, &whole), "{backend}");
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
