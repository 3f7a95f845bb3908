//! MQTT commands' store (`store::mqtt_controls`) on SQLite and on
//! PostgreSQL: they share the control table and its state machine with
//! GMMP controls. And the dispatcher on a connection of its own, on
//! either backend: it recovers what a last run left of both kinds, then
//! creates and cancels controls through its handle.

mod common;

use std::sync::Arc;
use std::time::Duration;

use omp_server::control::{ControlHandle, ControlWatch, dispatcher};
use omp_server::events::EventFeed;
use omp_server::store::Db;
use omp_server::store::controls::{self, AnyControl, ControlState, Outcome};
use omp_server::store::mqtt_controls;
use tokio_util::sync::CancellationToken;

use common::seed::{GW, new_control, new_mqtt, seed_gateway, sent_with};
use common::stores::exec;

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
