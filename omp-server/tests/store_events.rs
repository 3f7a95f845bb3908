//! The events outbox on SQLite and on PostgreSQL (`store::events`):
//! events inserted by hand and by the triggers of deliveries and MQTT
//! messages, paged with what they refer to, and a last id that never
//! names an event not yet committed.

mod common;

use std::time::Duration;

use omp_server::store::Backend;
use omp_server::store::deliveries::DeliveryRow;
use omp_server::store::events::{self, EventFilter, NewEvent};
use omp_server::store::mqtt_messages;

use common::seed::{
    DEVICE, GW, OTHER_GW, delivery, insert_deliveries, message, same_delivery, same_message,
};
use common::stores::exec;

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
        assert!(same_delivery(
            page.events[2].delivery.as_ref().unwrap(),
            &deliveries[0]
        ));
        assert!(same_delivery(
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
        exec(db, "DELETE FROM events").await;
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
        exec(db, "DELETE FROM events").await;
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
