//! GMMP controls' store (`store::controls`) on SQLite and on PostgreSQL:
//! inserts with their idempotency keys, reads and pages, the state
//! machine with its timeline and events, the dispatcher's reads of the
//! queue and the highest T-ID. The same calls give the same rows,
//! timelines, events and T-IDs on both.

mod common;

use omp_server::store::controls::{self, AnyControl, ControlState, Outcome, QueuedControl};
use omp_server::store::mqtt_controls;

use common::seed::{GW, OTHER_GW, new_control, new_mqtt, seed_gateway, sent_with};
use common::stores::count;

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
