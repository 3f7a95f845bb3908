//! Deliveries on SQLite and on PostgreSQL (`store::deliveries`): stored
//! in order and read back by every query, exported oldest first, keyed
//! resends found by their stored copies, and on PostgreSQL a quiet
//! gateway's newest read through its index. The writer's functions run
//! inside a write transaction opened here, as the writer opens its own.

mod common;

use bytes::Bytes;
use omp_server::export::{self, Format, Selection};
use omp_server::store::deliveries::{self, DeliveryRow, HistoryFilter};
use omp_server::store::{Backend, Db};

use common::seed::{DEVICE, GW, OTHER_GW, delivery, insert_deliveries, same_delivery};
use common::stores::exec;

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
        assert!(same_delivery(s, r), "{}: {s:?} is not {r:?}", db.backend());
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
        assert!(same_delivery(&of_device, &expected.unwrap().1), "{backend}");
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
        assert!(same_delivery(&other, &delivery(OTHER_GW, 7)), "{backend}");

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
    exec(&store.db, "ANALYZE deliveries").await;
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
