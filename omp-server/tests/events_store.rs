//! The outbox at the store: a batch that rolls back leaves no event and
//! announces nothing; the next one is announced once committed.

mod common;

use omp_server::store::events::{self, EventFilter};

#[tokio::test]
async fn a_rolled_back_batch_makes_no_event_and_announces_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::start_writer(dir.path(), 64, 64).await;
    // A payload the database refuses: its insert aborts the batch's
    // transaction, as a full disk would.
    sqlx::query(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON deliveries WHEN NEW.payload = X'DEAD'
         BEGIN SELECT RAISE(ABORT, 'poison'); END",
    )
    .execute(&w.pool)
    .await
    .unwrap();
    let feed = w.handle.events().clone();
    let head = feed.head();
    // Both queued while the writer is held: one batch.
    let hold = w.hold().await;
    let good = w
        .handle
        .submit(common::delivery_row(1, 0, false, b"good"))
        .unwrap();
    let poison = w
        .handle
        .submit(common::delivery_row(2, 0, false, &[0xde, 0xad]))
        .unwrap();
    hold.release().await;
    assert!(good.await.unwrap().is_err(), "the whole batch fails");
    assert!(poison.await.unwrap().is_err());
    let page = events::page(
        &omp_server::store::Db::from(w.pool.clone()),
        &EventFilter::default(),
        0,
        i64::MAX,
        100,
    )
    .await
    .unwrap();
    assert!(page.events.is_empty(), "{:?}", page.events);
    assert_eq!(feed.head(), head, "nothing announced");
    // The next batch commits, with its one event, announced.
    let head_rx = feed.subscribe();
    let next = w
        .handle
        .submit(common::delivery_row(3, 0, false, b"after"))
        .unwrap();
    assert!(next.await.unwrap().is_ok());
    assert!(head_rx.has_changed().unwrap());
    let page = events::page(
        &omp_server::store::Db::from(w.pool.clone()),
        &EventFilter::default(),
        0,
        feed.head(),
        100,
    )
    .await
    .unwrap();
    assert_eq!(page.events.len(), 1);
    let event = &page.events[0];
    assert_eq!(event.id, feed.head());
    assert_eq!(event.kind, events::DELIVERY);
    assert_eq!(event.delivery.as_ref().unwrap().payload, b"after");
    w.stop().await;
}

#[tokio::test]
async fn a_narrow_filter_over_a_long_history_pages_by_window_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::start_writer(dir.path(), 64, 64).await;
    let mut conn = w.pool.acquire().await.unwrap();
    let total = events::SCAN_WINDOW + 10;
    // One statement: `total` events, the 3rd and the last of gateway B.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO events (kind, gw_id, at)
         SELECT 'gateway_online', CASE WHEN i IN (3, ?1) THEN 'B' ELSE 'A' END, i FROM n",
    )
    .bind(total)
    .execute(&mut *conn)
    .await
    .unwrap();
    let filter = EventFilter {
        gw_id: Some("B".into()),
        ..EventFilter::default()
    };
    let mut after = 0;
    let mut found = Vec::new();
    loop {
        let page = events::page(
            &omp_server::store::Db::from(w.pool.clone()),
            &filter,
            after,
            total,
            100,
        )
        .await
        .unwrap();
        found.extend(page.events.iter().map(|e| e.at));
        if page.scanned_to == after {
            break;
        }
        assert!(page.scanned_to - after <= events::SCAN_WINDOW);
        after = page.scanned_to;
    }
    assert_eq!(found, [3, total]);
    drop(conn);
    w.stop().await;
}

/// Events without a row of their own keep their place among their
/// gateway's rows: one queued before a delivery has a lower id, one
/// queued after it a higher one, even when all three are one batch.
/// The kinds of the events committed once `n` of them are (or after 5 s,
/// whatever is there), in id order.
async fn kinds_committed(w: &common::LoneWriter, n: usize) -> Vec<String> {
    let feed = w.handle.events().clone();
    let db = omp_server::store::Db::from(w.pool.clone());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let page = events::page(&db, &EventFilter::default(), 0, feed.head(), 100)
            .await
            .unwrap();
        if page.events.len() >= n || tokio::time::Instant::now() > deadline {
            return page.events.into_iter().map(|e| e.kind).collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_gateways_events_keep_the_order_they_were_queued_in() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::start_writer(dir.path(), 64, 64).await;
    let presence = |kind: &'static str| events::NewEvent {
        kind,
        gw_id: Some("SC10010001".into()),
        device_id: None,
        at: 0,
        data: serde_json::json!({}),
    };
    let hold = w.hold().await;
    w.handle.record_event(presence(events::GATEWAY_ONLINE));
    let delivery = w
        .handle
        .submit(common::delivery_row(1, 0, false, b"between"))
        .unwrap();
    w.handle.record_event(presence(events::GATEWAY_OFFLINE));
    hold.release().await;
    assert!(delivery.await.unwrap().is_ok());
    assert_eq!(
        kinds_committed(&w, 3).await,
        [
            events::GATEWAY_ONLINE,
            events::DELIVERY,
            events::GATEWAY_OFFLINE
        ]
    );
    w.stop().await;
}

#[tokio::test]
async fn an_mqtt_clients_online_states_keep_their_place_among_its_messages() {
    use omp_server::store::mqtt_messages::{MessageKind, MessageRow};
    use omp_server::store::mqtt_presence::Presence;
    let dir = tempfile::tempdir().unwrap();
    let w = common::start_writer(dir.path(), 64, 64).await;
    let change = |online: bool| Presence {
        client_id: "sim7600".into(),
        online,
        reason: (!online).then(|| "connection closed".into()),
        peer: "127.0.0.1:5000".into(),
        connected_at: 1,
        last_seen: 2,
    };
    let message = MessageRow {
        client_id: "sim7600".into(),
        kind: MessageKind::Publish,
        topic: "dddrrrggghhhk".into(),
        payload: bytes::Bytes::from_static(b"between"),
        qos: 1,
        retain: false,
        dup: false,
        packet_id: Some(1),
        received_at: 3,
        datapoints: Vec::new(),
        dp_error: None,
    };
    // Queued while the writer is held: one batch would hold all three.
    let hold = w.hold().await;
    w.handle.try_record_presence(change(true)).unwrap();
    let committed = w.handle.submit_mqtt(message).await.unwrap();
    w.handle.try_record_presence(change(false)).unwrap();
    hold.release().await;
    assert!(committed.await.unwrap().is_ok());
    assert_eq!(
        kinds_committed(&w, 3).await,
        [
            events::MQTT_ONLINE,
            events::MQTT_MESSAGE,
            events::MQTT_OFFLINE
        ]
    );
    w.stop().await;
}
