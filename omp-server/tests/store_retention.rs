//! Retention's batches (`store::retention`) on SQLite and on PostgreSQL:
//! final controls go with their timeline, old deliveries, split
//! deliveries, MQTT messages and events go in batches (what a webhook has
//! still to read stays), and a failed batch rolls back and lets go of the
//! write lock.

mod common;

use std::time::Duration;

use omp_server::store::Backend;
use omp_server::store::controls::{self, ControlState, Outcome};
use omp_server::store::mqtt_controls;
use omp_server::store::retention::{self, Kind, Purge};

use common::seed::{GW, new_control, new_mqtt, seed_gateway, sent_with};
use common::stores::{count, exec};

async fn purge(
    conn: &mut omp_server::store::Conn<'_>,
    kind: Kind,
    cutoff_ms: i64,
    batch: u32,
) -> u64 {
    retention::run(
        conn,
        Purge {
            kind,
            cutoff_ms,
            batch,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{} purge of {kind:?}: {e}", conn.backend()))
}

#[tokio::test]
async fn retention_removes_final_controls_with_their_timeline() {
    for store in common::stores::each("retention_controls").await {
        let (db, b) = (&store.db, store.backend());
        seed_gateway(db, GW).await;
        let mut own = store.dedicated().await;
        let mut conn = own.conn();
        let mut ids = Vec::new();
        for at in [100, 101, 102, 103] {
            ids.push(
                controls::insert(&mut conn, &new_control(GW, at, None))
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        let mqtt = mqtt_controls::insert(&mut conn, &new_mqtt("client-1", 104, None))
            .await
            .unwrap()
            .unwrap();
        let queued = [ControlState::Queued];
        for (id, to, at) in [
            (ids[0], ControlState::Cancelled, 200),
            (ids[1], ControlState::Sent, 300),
            (ids[2], ControlState::Cancelled, 5_000),
            (mqtt, ControlState::Cancelled, 400),
        ] {
            controls::transition(&mut conn, id, &queued, to, at, &sent_with(1))
                .await
                .unwrap();
        }
        // ids[1] SENT and ids[3] QUEUED are old but open: they stay.
        assert_eq!(
            purge(&mut conn, Kind::Controls, 1_000, 1).await,
            1,
            "{b}: one per batch"
        );
        assert_eq!(
            purge(&mut conn, Kind::Controls, 1_000, 100).await,
            1,
            "{b}: the MQTT command"
        );
        assert_eq!(purge(&mut conn, Kind::Controls, 1_000, 100).await, 0, "{b}");
        for (id, kept) in [
            (ids[0], false),
            (ids[1], true),
            (ids[2], true),
            (ids[3], true),
            (mqtt, false),
        ] {
            assert_eq!(
                controls::get_any(db, id).await.unwrap().is_some(),
                kept,
                "{b}: control {id}"
            );
            assert_eq!(
                count(
                    db,
                    &format!("SELECT COUNT(*) FROM control_events WHERE control_id = {id}")
                )
                .await
                    > 0,
                kept,
                "{b}: the timeline of {id} goes with it"
            );
        }
        // The connection is out of its transaction and writes on.
        assert!(
            controls::transition(
                &mut conn,
                ids[3],
                &queued,
                ControlState::Cancelled,
                6_000,
                &Outcome::default()
            )
            .await
            .unwrap(),
            "{b}"
        );
        assert_eq!(
            purge(&mut conn, Kind::Controls, 10_000, 100).await,
            2,
            "{b}"
        );
    }
}

#[tokio::test]
async fn retention_removes_old_deliveries_messages_and_events() {
    for store in common::stores::each("retention_tables").await {
        let (db, b) = (&store.db, store.backend());
        let blob = match b {
            Backend::Sqlite => "x'00'",
            Backend::Postgres => "'\\x00'::bytea",
        };
        for (id, at) in [(1, 10), (2, 20), (3, 5_000)] {
            exec(
                db,
                &format!(
                    "INSERT INTO deliveries (id, gw_id, device_id, report_type, media_type, tid,
                         origin_timestamp, received_at, encryption_flag, payload)
                     VALUES ({id}, '{GW}', '', 1, 1, {id}, 0, {at}, 2, {blob})"
                ),
            )
            .await;
        }
        for (id, state, closed) in [
            (1, "abandoned", "10"),
            (2, "open", "NULL"),
            (3, "abandoned", "6000"),
        ] {
            exec(
                db,
                &format!(
                    "INSERT INTO delivery_splits (id, gw_id, device_id, report_type, media_type,
                         encryption_flag, keyed, total_count, origin_timestamp, last_tid, state,
                         peer, started_at, last_part_at, closed_at)
                     VALUES ({id}, '{GW}', '', 1, 1, 2, 0, 3, 0, 1, '{state}', 'peer', 1, 1,
                         {closed})"
                ),
            )
            .await;
            exec(
                db,
                &format!(
                    "INSERT INTO delivery_parts (split_id, current_count, tid, received_at, payload)
                     VALUES ({id}, 1, 1, 1, {blob})"
                ),
            )
            .await;
        }
        // Topic a: two retained (the newer is kept), b: one plain, c: a
        // new one.
        for (id, topic, retain, at) in [
            (1, "a", 1, 10),
            (2, "a", 1, 20),
            (3, "b", 0, 30),
            (4, "c", 0, 5_000),
        ] {
            exec(
                db,
                &format!(
                    "INSERT INTO mqtt_messages (id, client_id, kind, topic, payload, qos, retain,
                         dup, received_at)
                     VALUES ({id}, 'client-1', 'publish', '{topic}', {blob}, 0, {retain}, 0, {at})"
                ),
            )
            .await;
            exec(
                db,
                &format!(
                    "INSERT INTO mqtt_datapoints (message_id, client_id, stream, value)
                     VALUES ({id}, 'client-1', 's', '1')"
                ),
            )
            .await;
        }
        let events = count(db, "SELECT COUNT(*) FROM events").await;
        assert_eq!(
            events, 7,
            "{b}: the triggers' events of deliveries and messages"
        );

        let mut own = store.dedicated().await;
        let mut conn = own.conn();
        assert_eq!(
            purge(&mut conn, Kind::Deliveries, 1_000, 1).await,
            2,
            "{b}: the oldest delivery and the oldest abandoned split"
        );
        assert_eq!(
            purge(&mut conn, Kind::Deliveries, 1_000, 100).await,
            1,
            "{b}"
        );
        assert_eq!(
            purge(&mut conn, Kind::Deliveries, 1_000, 100).await,
            0,
            "{b}"
        );
        assert_eq!(count(db, "SELECT COUNT(*) FROM deliveries").await, 1, "{b}");
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM delivery_splits").await,
            2,
            "{b}: the open one and the recent one stay"
        );
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM delivery_parts WHERE split_id = 1").await,
            0,
            "{b}: its parts went with it"
        );

        assert_eq!(
            purge(&mut conn, Kind::MqttMessages, 1_000, 100).await,
            2,
            "{b}"
        );
        assert_eq!(
            purge(&mut conn, Kind::MqttMessages, 1_000, 100).await,
            0,
            "{b}"
        );
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM mqtt_messages WHERE id IN (2, 4)").await,
            2,
            "{b}: the topic's newest retained and the new one stay"
        );
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM mqtt_datapoints").await,
            2,
            "{b}: the data points went with their messages"
        );

        // A webhook that has passed the first event holds the rest back;
        // disabled, it holds nothing back.
        let first: i64 = count(db, "SELECT MIN(id) FROM events").await;
        exec(
            db,
            &format!(
                "INSERT INTO webhooks (url, secret, enabled, cursor, created_at)
                 VALUES ('http://127.0.0.1:9/', 's', 1, {first}, 1)"
            ),
        )
        .await;
        assert_eq!(purge(&mut conn, Kind::Events, 1_000, 100).await, 1, "{b}");
        assert_eq!(purge(&mut conn, Kind::Events, 1_000, 100).await, 0, "{b}");
        exec(db, "UPDATE webhooks SET enabled = 0").await;
        assert_eq!(
            purge(&mut conn, Kind::Events, 1_000, 100).await,
            4,
            "{b}: the old ones, not the two at 5 000"
        );
        assert_eq!(count(db, "SELECT COUNT(*) FROM events").await, 2, "{b}");
    }
}

#[tokio::test]
async fn a_failed_retention_batch_rolls_back_and_lets_go_of_the_lock() {
    for store in common::stores::each("retention_rollback").await {
        let (db, b) = (&store.db, store.backend());
        let blob = match b {
            Backend::Sqlite => "x'00'",
            Backend::Postgres => "'\\x00'::bytea",
        };
        exec(
            db,
            &format!(
                "INSERT INTO mqtt_messages (id, client_id, kind, topic, payload, qos, retain, dup,
                     received_at)
                 VALUES (1, 'client-1', 'publish', 't', {blob}, 0, 0, 0, 10)"
            ),
        )
        .await;
        // The batch's first DELETE fails.
        exec(db, "DROP TABLE mqtt_datapoints").await;
        let mut own = store.dedicated().await;
        let mut conn = own.conn();
        let failed = retention::run(
            &mut conn,
            Purge {
                kind: Kind::MqttMessages,
                cutoff_ms: 1_000,
                batch: 100,
            },
        )
        .await;
        assert!(failed.is_err(), "{b}: {failed:?}");
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM mqtt_messages").await,
            1,
            "{b}"
        );
        // Neither the connection nor the write lock is left held: a write
        // transaction elsewhere starts, and the next batch runs.
        let tx = tokio::time::timeout(Duration::from_secs(10), db.begin_write())
            .await
            .unwrap_or_else(|_| panic!("{b}: the write lock is still held"))
            .unwrap_or_else(|e| panic!("{b}: no write transaction: {e}"));
        tx.commit().await.unwrap();
        assert_eq!(
            purge(&mut conn, Kind::Events, 1_000, 100).await,
            1,
            "{b}: the message's event"
        );
        assert_eq!(
            purge(&mut conn, Kind::Deliveries, 1_000, 100).await,
            0,
            "{b}"
        );
    }
}
