//! The control queue's store (`store::controls`, `store::mqtt_controls`),
//! retention's batches (`store::retention`) and the dispatcher on its own
//! connection, on SQLite and on PostgreSQL: the same calls give the same
//! rows, timelines, events and T-IDs on both.

mod common;

use std::sync::Arc;
use std::time::Duration;

use omp_server::control::{ControlHandle, ControlWatch, dispatcher};
use omp_server::events::EventFeed;
use omp_server::on_db;
use omp_server::store::controls::{
    self, AnyControl, ControlState, NewControl, Outcome, QueuedControl,
};
use omp_server::store::mqtt_controls::{self, NewMqttControl};
use omp_server::store::retention::{self, Kind, Purge};
use omp_server::store::{Backend, Db};
use tokio_util::sync::CancellationToken;

const GW: &str = "SC10010001";
const OTHER_GW: &str = "SC10010002";

/// Runs `sql` (no parameters: test constants only).
async fn exec(db: &Db, sql: &str) {
    on_db!(db, pool => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .map(drop))
    .unwrap_or_else(|e| panic!("{sql} on {}: {e}", db.backend()));
}

/// The one BIGINT `sql` selects.
async fn count(db: &Db, sql: &str) -> i64 {
    on_db!(db, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await)
    .unwrap_or_else(|e| panic!("{sql} on {}: {e}", db.backend()))
}

/// A gateway row for the controls' foreign key (`store::gateways` is
/// not what is tested here).
async fn seed_gateway(db: &Db, gw_id: &str) {
    exec(
        db,
        &format!(
            "INSERT INTO gateways (gw_id, auth_id, auth_key, domain, manufacture_id,
                 registered_at)
             VALUES ('{gw_id}', 'auth-{gw_id}', 'key', 'ThingPlug', 'm-{gw_id}', 1)"
        ),
    )
    .await;
}

fn new_control(gw_id: &str, created_at: i64, key: Option<&str>) -> NewControl {
    NewControl {
        gw_id: gw_id.to_owned(),
        device_id: String::new(),
        control_type: 0x82,
        data: Some(vec![0x00, 0xff, 0x10]),
        created_at,
        expires_at: created_at + 60_000,
        idempotency_key: key.map(str::to_owned),
    }
}

fn new_mqtt(client_id: &str, created_at: i64, key: Option<&str>) -> NewMqttControl {
    NewMqttControl {
        client_id: client_id.to_owned(),
        topic: "$creq/1".to_owned(),
        payload: b"on".to_vec(),
        qos: 1,
        reply_topic: Some("$crsp/1".to_owned()),
        created_at,
        expires_at: created_at + 60_000,
        idempotency_key: key.map(str::to_owned),
    }
}

fn sent_with(tid: u32) -> Outcome {
    Outcome {
        tid: Some(tid),
        ..Outcome::default()
    }
}

#[tokio::test]
async fn controls_insert_idempotency_get_and_page() {
    for store in common::stores::each("controls_insert_get_page").await {
        let (db, b) = (&store.db, store.backend());
        seed_gateway(db, GW).await;
        seed_gateway(db, OTHER_GW).await;
        let mut own = store.dedicated().await;
        let mut conn = own.conn();

        let first = controls::insert(&mut conn, &new_control(GW, 1_000, Some("k1")))
            .await
            .unwrap()
            .expect("a new key inserts");
        assert_eq!(
            controls::insert(&mut conn, &new_control(GW, 1_001, Some("k1")))
                .await
                .unwrap(),
            None,
            "{b}: a used key inserts nothing"
        );
        // The key is per gateway.
        let other = controls::insert(&mut conn, &new_control(OTHER_GW, 1_002, Some("k1")))
            .await
            .unwrap()
            .expect("the same key of another gateway inserts");
        let mut plain = new_control(GW, 1_003, None);
        plain.data = None;
        let second = controls::insert(&mut conn, &plain).await.unwrap().unwrap();
        let third = controls::insert(&mut conn, &new_control(GW, 1_004, None))
            .await
            .unwrap()
            .unwrap();
        assert!(
            first < other && other < second && second < third,
            "{b}: ids grow"
        );

        let got = controls::get(db, first).await.unwrap().expect("stored");
        assert_eq!(got.gw_id, GW, "{b}");
        assert_eq!(got.device_id, "", "{b}");
        assert_eq!(got.control_type, 0x82, "{b}");
        assert_eq!(got.data.as_deref(), Some(&[0x00, 0xff, 0x10][..]), "{b}");
        assert_eq!(got.state, ControlState::Queued, "{b}");
        assert_eq!(got.tid, None, "{b}");
        assert_eq!(got.created_at, 1_000, "{b}");
        assert_eq!(got.expires_at, 61_000, "{b}");
        assert_eq!(
            got.timeline,
            vec![(ControlState::Queued, 1_000)],
            "{b}: the trigger wrote the first timeline row"
        );
        assert_eq!(
            controls::get(db, second).await.unwrap().unwrap().data,
            None,
            "{b}: no data stays NULL"
        );
        assert_eq!(controls::get(db, third + 100).await.unwrap(), None, "{b}");
        assert_eq!(
            controls::by_idempotency_key(db, GW, "k1")
                .await
                .unwrap()
                .map(|c| c.id),
            Some(first),
            "{b}"
        );
        assert_eq!(
            controls::by_idempotency_key(db, OTHER_GW, "k1")
                .await
                .unwrap()
                .map(|c| c.id),
            Some(other),
            "{b}"
        );
        assert_eq!(
            controls::by_idempotency_key(db, GW, "k2").await.unwrap(),
            None,
            "{b}"
        );
        match controls::get_any(db, first).await.unwrap() {
            Some(AnyControl::Gmmp(c)) => assert_eq!(c, got, "{b}"),
            other => panic!("{b}: a GMMP control, got {other:?}"),
        }

        let ids = |page: Vec<controls::Control>| page.into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(
            ids(controls::page(db, GW, None, None, 10).await.unwrap()),
            vec![third, second, first],
            "{b}: newest first, of the gateway only"
        );
        assert_eq!(
            ids(controls::page(db, GW, None, Some(third), 1).await.unwrap()),
            vec![second],
            "{b}: below the cursor, at most the limit"
        );
        assert!(
            controls::transition(
                &mut conn,
                second,
                &[ControlState::Queued],
                ControlState::Cancelled,
                2_000,
                &Outcome::default(),
            )
            .await
            .unwrap(),
            "{b}"
        );
        assert_eq!(
            ids(controls::page(db, GW, Some(ControlState::Queued), None, 10)
                .await
                .unwrap()),
            vec![third, first],
            "{b}: by state"
        );
        assert_eq!(
            ids(
                controls::page(db, GW, Some(ControlState::Cancelled), None, 10)
                    .await
                    .unwrap()
            ),
            vec![second],
            "{b}"
        );
    }
}

#[tokio::test]
async fn a_control_moves_through_its_states_with_timeline_and_events() {
    for store in common::stores::each("controls_transition").await {
        let (db, b) = (&store.db, store.backend());
        seed_gateway(db, GW).await;
        let mut own = store.dedicated().await;
        let mut conn = own.conn();
        let id = controls::insert(&mut conn, &new_control(GW, 1_000, None))
            .await
            .unwrap()
            .unwrap();

        let queued = [ControlState::Queued];
        assert!(
            controls::transition(
                &mut conn,
                id,
                &queued,
                ControlState::Sent,
                2_000,
                &sent_with(7)
            )
            .await
            .unwrap(),
            "{b}: QUEUED → SENT"
        );
        assert!(
            !controls::transition(
                &mut conn,
                id,
                &queued,
                ControlState::Cancelled,
                2_500,
                &Outcome::default()
            )
            .await
            .unwrap(),
            "{b}: no longer QUEUED: the cancel loses and writes nothing"
        );
        // No T-ID: the one stored stays.
        let ok = Outcome {
            result_code: Some(0),
            ..Outcome::default()
        };
        assert!(
            controls::transition(
                &mut conn,
                id,
                &[ControlState::Sent, ControlState::Progress],
                ControlState::Progress,
                3_000,
                &ok
            )
            .await
            .unwrap(),
            "{b}: SENT → PROGRESS"
        );
        let done = Outcome {
            tid: None,
            result_code: Some(0),
            result_data: Some(b"result".to_vec()),
        };
        assert!(
            controls::transition(
                &mut conn,
                id,
                &[ControlState::Progress],
                ControlState::Success,
                4_000,
                &done
            )
            .await
            .unwrap(),
            "{b}: PROGRESS → SUCCESS"
        );

        let c = controls::get(db, id).await.unwrap().unwrap();
        assert_eq!(c.state, ControlState::Success, "{b}");
        assert_eq!(c.tid, Some(7), "{b}");
        assert_eq!(c.result_code, Some(0), "{b}");
        assert_eq!(c.result_data.as_deref(), Some(&b"result"[..]), "{b}");
        assert_eq!(c.sent_at, Some(2_000), "{b}");
        assert_eq!(c.acknowledged_at, Some(3_000), "{b}");
        assert_eq!(c.completed_at, Some(4_000), "{b}");
        assert_eq!(
            c.timeline,
            vec![
                (ControlState::Queued, 1_000),
                (ControlState::Sent, 2_000),
                (ControlState::Progress, 3_000),
                (ControlState::Success, 4_000),
            ],
            "{b}: one timeline row per change, none for the lost cancel"
        );
        assert_eq!(
            count(
                db,
                &format!(
                    "SELECT COUNT(*) FROM events WHERE kind = 'control_state' AND ref_id = {id}"
                )
            )
            .await,
            4,
            "{b}: each timeline row wrote its outbox event"
        );
        assert_eq!(
            controls::data(&mut conn, id).await.unwrap().as_deref(),
            Some(&[0x00, 0xff, 0x10][..]),
            "{b}"
        );
        assert_eq!(
            controls::data(&mut conn, id + 1).await.unwrap(),
            None,
            "{b}"
        );
    }
}

#[tokio::test]
async fn the_dispatchers_reads_of_the_queue() {
    for store in common::stores::each("controls_queue_reads").await {
        let (db, b) = (&store.db, store.backend());
        seed_gateway(db, GW).await;
        seed_gateway(db, OTHER_GW).await;
        let mut own = store.dedicated().await;
        let mut conn = own.conn();
        assert_eq!(controls::next_expiry(&mut conn).await.unwrap(), None, "{b}");
        assert_eq!(controls::max_tid(&mut conn).await.unwrap(), None, "{b}");
        assert!(
            controls::gateways_with_queued(&mut conn)
                .await
                .unwrap()
                .is_empty(),
            "{b}"
        );

        let mut ids = Vec::new();
        for (gw, at) in [(GW, 1_000), (GW, 2_000), (GW, 3_000), (OTHER_GW, 500)] {
            ids.push(
                controls::insert(&mut conn, &new_control(gw, at, None))
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        // An MQTT command is no gateway's.
        mqtt_controls::insert(&mut conn, &new_mqtt("client-1", 100, None))
            .await
            .unwrap()
            .unwrap();

        let queued = controls::queued(&mut conn, GW, 0, 2).await.unwrap();
        assert_eq!(
            queued,
            vec![
                QueuedControl {
                    id: ids[0],
                    device_id: String::new(),
                    control_type: 0x82,
                    data: Some(vec![0x00, 0xff, 0x10]),
                    expires_at: 61_000,
                },
                QueuedControl {
                    id: ids[1],
                    device_id: String::new(),
                    control_type: 0x82,
                    data: Some(vec![0x00, 0xff, 0x10]),
                    expires_at: 62_000,
                },
            ],
            "{b}: oldest first, at most the limit"
        );
        assert_eq!(
            controls::queued(&mut conn, GW, 61_000, 10)
                .await
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>(),
            vec![ids[1], ids[2]],
            "{b}: an expired one is not sent"
        );
        let mut gateways = controls::gateways_with_queued(&mut conn).await.unwrap();
        gateways.sort();
        assert_eq!(gateways, vec![GW, OTHER_GW], "{b}");
        assert_eq!(
            controls::next_expiry(&mut conn).await.unwrap(),
            Some(60_100),
            "{b}: MQTT commands expire too"
        );

        // ids[0] in flight SENT, ids[1] PROGRESS.
        controls::transition(
            &mut conn,
            ids[0],
            &[ControlState::Queued],
            ControlState::Sent,
            5_000,
            &sent_with(11),
        )
        .await
        .unwrap();
        controls::transition(
            &mut conn,
            ids[1],
            &[ControlState::Queued],
            ControlState::Sent,
            5_001,
            &sent_with(12),
        )
        .await
        .unwrap();
        controls::transition(
            &mut conn,
            ids[1],
            &[ControlState::Sent],
            ControlState::Progress,
            5_002,
            &Outcome::default(),
        )
        .await
        .unwrap();
        let open = controls::in_flight(&mut conn).await.unwrap();
        assert_eq!(
            open.iter()
                .map(|c| (
                    c.id,
                    c.gw_id.as_str(),
                    c.tid,
                    c.state.as_str(),
                    c.acknowledged_at
                ))
                .collect::<Vec<_>>(),
            vec![
                (ids[0], GW, Some(11), "SENT", None),
                (ids[1], GW, Some(12), "PROGRESS", Some(5_002)),
            ],
            "{b}: GMMP controls in flight, in id order"
        );
        assert_eq!(controls::max_tid(&mut conn).await.unwrap(), Some(12), "{b}");

        // At 61 000 ids[0]'s TTL has passed, but it is SENT, not QUEUED;
        // the MQTT command (60 100) and OTHER_GW's (60 500) expire.
        let mut expired = controls::expire_due(&mut conn, 61_000).await.unwrap();
        expired.sort();
        assert_eq!(expired.len(), 2, "{b}: {expired:?}");
        assert_eq!(expired[0], ids[3], "{b}");
        let other = controls::get(db, ids[3]).await.unwrap().unwrap();
        assert_eq!(other.state, ControlState::Expired, "{b}");
        assert_eq!(other.completed_at, Some(61_000), "{b}");
        assert_eq!(
            controls::next_expiry(&mut conn).await.unwrap(),
            Some(63_000),
            "{b}: the one QUEUED left"
        );
        assert_eq!(
            controls::gateways_with_queued(&mut conn).await.unwrap(),
            vec![GW],
            "{b}"
        );
    }
}

#[tokio::test]
async fn the_highest_tid_never_goes_down() {
    for store in common::stores::each("controls_max_tid").await {
        let (db, b) = (&store.db, store.backend());
        seed_gateway(db, GW).await;
        let mut own = store.dedicated().await;
        let mut conn = own.conn();
        let low = controls::insert(&mut conn, &new_control(GW, 1_000, None))
            .await
            .unwrap()
            .unwrap();
        let high = controls::insert(&mut conn, &new_control(GW, 1_001, None))
            .await
            .unwrap()
            .unwrap();
        let queued = [ControlState::Queued];
        // Above i32::MAX: a 32-bit column or decode would fail here.
        let big = u32::MAX - 1;
        for (id, tid) in [(low, 5), (high, big)] {
            assert!(
                controls::transition(
                    &mut conn,
                    id,
                    &queued,
                    ControlState::Sent,
                    2_000,
                    &sent_with(tid)
                )
                .await
                .unwrap(),
                "{b}"
            );
        }
        assert_eq!(
            controls::max_tid(&mut conn).await.unwrap(),
            Some(i64::from(big)),
            "{b}"
        );
        // Back to QUEUED (its session died): the T-ID stays stored.
        assert!(
            controls::transition(
                &mut conn,
                high,
                &[ControlState::Sent, ControlState::Progress],
                ControlState::Queued,
                3_000,
                &Outcome::default()
            )
            .await
            .unwrap(),
            "{b}"
        );
        assert_eq!(
            controls::get(db, high).await.unwrap().unwrap().tid,
            Some(i64::from(big)),
            "{b}"
        );
        assert_eq!(
            controls::max_tid(&mut conn).await.unwrap(),
            Some(i64::from(big)),
            "{b}: a requeued control keeps its T-ID"
        );
    }
}

#[tokio::test]
async fn mqtt_commands_share_the_table_and_the_state_machine() {
    for store in common::stores::each("mqtt_controls").await {
        let (db, b) = (&store.db, store.backend());
        seed_gateway(db, GW).await;
        let mut own = store.dedicated().await;
        let mut conn = own.conn();
        let gmmp = controls::insert(&mut conn, &new_control(GW, 900, Some("k")))
            .await
            .unwrap()
            .unwrap();
        let first = mqtt_controls::insert(&mut conn, &new_mqtt("client-1", 1_000, Some("k")))
            .await
            .unwrap()
            .expect("the gateway's key is not the client's");
        assert_eq!(
            mqtt_controls::insert(&mut conn, &new_mqtt("client-1", 1_001, Some("k")))
                .await
                .unwrap(),
            None,
            "{b}: a used key inserts nothing"
        );
        let second = mqtt_controls::insert(&mut conn, &new_mqtt("client-1", 1_002, None))
            .await
            .unwrap()
            .unwrap();
        let elsewhere = mqtt_controls::insert(&mut conn, &new_mqtt("client-2", 1_003, None))
            .await
            .unwrap()
            .unwrap();
        // A command stored without data reads as an empty payload.
        exec(
            db,
            &format!("UPDATE controls SET data = NULL WHERE id = {second}"),
        )
        .await;

        let queued = mqtt_controls::queued(&mut conn, "client-1", 0, 10)
            .await
            .unwrap();
        assert_eq!(
            queued
                .iter()
                .map(|c| (
                    c.id,
                    c.topic.as_str(),
                    c.payload.clone(),
                    c.qos,
                    c.reply_topic.as_deref()
                ))
                .collect::<Vec<_>>(),
            vec![
                (first, "$creq/1", b"on".to_vec(), 1, Some("$crsp/1")),
                (second, "$creq/1", Vec::new(), 1, Some("$crsp/1")),
            ],
            "{b}"
        );
        assert_eq!(
            mqtt_controls::queued(&mut conn, "client-1", 0, 1)
                .await
                .unwrap()
                .len(),
            1,
            "{b}: at most the limit"
        );

        assert!(
            controls::transition(
                &mut conn,
                first,
                &[ControlState::Queued],
                ControlState::Sent,
                2_000,
                &Outcome::default()
            )
            .await
            .unwrap(),
            "{b}"
        );
        assert_eq!(
            mqtt_controls::requeue_sent(&mut conn, 3_000).await.unwrap(),
            vec![first],
            "{b}: only MQTT commands left SENT"
        );
        assert!(
            controls::transition(
                &mut conn,
                elsewhere,
                &[ControlState::Queued],
                ControlState::Success,
                4_000,
                &Outcome {
                    result_data: Some(b"done".to_vec()),
                    ..Outcome::default()
                }
            )
            .await
            .unwrap(),
            "{b}"
        );

        let c = mqtt_controls::get(db, first).await.unwrap().unwrap();
        assert_eq!(c.client_id, "client-1", "{b}");
        assert_eq!(c.topic, "$creq/1", "{b}");
        assert_eq!(c.payload, b"on", "{b}");
        assert_eq!(c.qos, 1, "{b}");
        assert_eq!(c.reply_topic.as_deref(), Some("$crsp/1"), "{b}");
        assert_eq!(c.state, ControlState::Queued, "{b}");
        assert_eq!(c.sent_at, Some(2_000), "{b}");
        assert_eq!(
            c.timeline,
            vec![
                (ControlState::Queued, 1_000),
                (ControlState::Sent, 2_000),
                (ControlState::Queued, 3_000),
            ],
            "{b}"
        );
        assert_eq!(
            mqtt_controls::get(db, second)
                .await
                .unwrap()
                .unwrap()
                .payload,
            Vec::<u8>::new(),
            "{b}"
        );
        let done = mqtt_controls::get(db, elsewhere).await.unwrap().unwrap();
        assert_eq!(done.result.as_deref(), Some(&b"done"[..]), "{b}");
        assert_eq!(done.completed_at, Some(4_000), "{b}");
        assert_eq!(mqtt_controls::get(db, gmmp).await.unwrap(), None, "{b}");
        assert_eq!(controls::get(db, first).await.unwrap(), None, "{b}");
        match controls::get_any(db, first).await.unwrap() {
            Some(AnyControl::Mqtt(m)) => assert_eq!(m, c, "{b}"),
            other => panic!("{b}: an MQTT command, got {other:?}"),
        }
        assert_eq!(
            mqtt_controls::by_idempotency_key(db, "client-1", "k")
                .await
                .unwrap()
                .map(|c| c.id),
            Some(first),
            "{b}"
        );
        assert_eq!(
            mqtt_controls::by_idempotency_key(db, "client-2", "k")
                .await
                .unwrap(),
            None,
            "{b}"
        );
        let ids = |page: Vec<mqtt_controls::MqttControl>| {
            page.into_iter().map(|c| c.id).collect::<Vec<_>>()
        };
        assert_eq!(
            ids(mqtt_controls::page(db, "client-1", None, None, 10)
                .await
                .unwrap()),
            vec![second, first],
            "{b}"
        );
        assert_eq!(
            ids(mqtt_controls::page(db, "client-1", None, Some(second), 10)
                .await
                .unwrap()),
            vec![first],
            "{b}"
        );
        assert_eq!(
            ids(
                mqtt_controls::page(db, "client-2", Some(ControlState::Success), None, 10)
                    .await
                    .unwrap()
            ),
            vec![elsewhere],
            "{b}"
        );
        assert!(
            mqtt_controls::page(db, "client-2", Some(ControlState::Queued), None, 10)
                .await
                .unwrap()
                .is_empty(),
            "{b}"
        );
    }
}

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

/// Waits until control `id` is in `state`.
async fn wait_for(db: &Db, id: i64, state: ControlState) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = controls::get_any(db, id).await.unwrap().map(|c| c.state());
        if now == Some(state) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: control {id} is {now:?}, not {state:?}",
            db.backend()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_dispatcher_runs_on_its_own_connection() {
    for store in common::stores::each("dispatcher").await {
        let (db, b) = (&store.db, store.backend());
        seed_gateway(db, GW).await;
        // What a last run left: a SENT control, a PROGRESS one, a SENT MQTT
        // command, with T-IDs up to 41.
        let now = omp_server::store::now_millis();
        let mut own = store.dedicated().await;
        let mut conn = own.conn();
        let sent = controls::insert(&mut conn, &new_control(GW, now, None))
            .await
            .unwrap()
            .unwrap();
        let progress = controls::insert(&mut conn, &new_control(GW, now, None))
            .await
            .unwrap()
            .unwrap();
        let mqtt = mqtt_controls::insert(&mut conn, &new_mqtt("client-1", now, None))
            .await
            .unwrap()
            .unwrap();
        let queued = [ControlState::Queued];
        for (id, tid) in [(sent, 40), (progress, 41), (mqtt, 0)] {
            controls::transition(
                &mut conn,
                id,
                &queued,
                ControlState::Sent,
                now,
                &sent_with(tid),
            )
            .await
            .unwrap();
        }
        controls::transition(
            &mut conn,
            progress,
            &[ControlState::Sent],
            ControlState::Progress,
            now,
            &Outcome::default(),
        )
        .await
        .unwrap();
        drop(own);

        let config = omp_server::Config::defaults().control.clone();
        let (handle, inbox) = ControlHandle::channel();
        let stop = CancellationToken::new();
        let task = dispatcher::spawn(
            &store.db,
            config,
            inbox,
            Arc::new(ControlWatch::default()),
            Arc::new(EventFeed::new(0)),
            stop.clone(),
        )
        .await
        .unwrap_or_else(|e| panic!("{b}: the dispatcher starts: {e}"));
        assert_eq!(
            controls::get(db, sent).await.unwrap().unwrap().state,
            ControlState::Queued,
            "{b}: recovery queues a SENT control again"
        );
        assert_eq!(
            controls::get(db, progress).await.unwrap().unwrap().state,
            ControlState::Progress,
            "{b}: a PROGRESS one waits for its result"
        );
        wait_for(db, mqtt, ControlState::Queued).await;

        let created = handle
            .create(new_control(GW, now, Some("api-1")))
            .await
            .unwrap()
            .expect("created");
        assert_eq!(
            handle
                .create(new_control(GW, now, Some("api-1")))
                .await
                .unwrap(),
            None,
            "{b}: the key is taken"
        );
        wait_for(db, created, ControlState::Queued).await;
        assert!(
            handle.cancel(created).await.unwrap(),
            "{b}: QUEUED, cancelled"
        );
        assert!(!handle.cancel(created).await.unwrap(), "{b}: already final");
        let c = controls::get(db, created).await.unwrap().unwrap();
        assert_eq!(c.state, ControlState::Cancelled, "{b}");
        assert_eq!(
            c.timeline.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![ControlState::Queued, ControlState::Cancelled],
            "{b}"
        );
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the dispatcher stops")
            .unwrap();
    }
}
