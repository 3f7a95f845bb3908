//! Webhooks through the store, on SQLite and on PostgreSQL
//! (`store::webhooks`): stored, changed, and their cursors advanced.
//! Each test runs its body once per backend and names the backend in its
//! assertions.

mod common;

use omp_server::store::webhooks::{self, NewWebhook, StoredWebhook, WebhookChange, WebhookCursor};

#[tokio::test]
async fn webhooks_are_stored_changed_and_advanced() {
    for store in common::stores::each("registry_webhooks").await {
        let b = store.backend();
        let db = &store.db;
        let hook = webhooks::insert(
            db,
            &NewWebhook {
                url: "http://a.example/h".into(),
                secret: "s3cret".into(),
                kinds: vec!["delivery".into(), "gateway_online".into()],
                gw_id: Some("SC10010001".into()),
                enabled: true,
                cursor: 7,
            },
        )
        .await
        .unwrap();
        assert!(hook.enabled, "{b}");
        assert_eq!(hook.kind_list(), ["delivery", "gateway_online"], "{b}");
        assert_eq!(
            (hook.cursor, hook.gw_id.as_deref()),
            (7, Some("SC10010001")),
            "{b}"
        );
        let off = webhooks::insert(
            db,
            &NewWebhook {
                url: "http://b.example/h".into(),
                secret: "t".into(),
                kinds: Vec::new(),
                gw_id: None,
                enabled: false,
                cursor: 0,
            },
        )
        .await
        .unwrap();
        assert!(!off.enabled, "{b}");
        assert_eq!(off.kinds, None, "{b}: every kind is NULL");
        assert!(off.id > hook.id, "{b}");
        assert_eq!(
            webhooks::list(db).await.unwrap(),
            vec![hook.clone(), off.clone()],
            "{b}"
        );
        assert_eq!(
            webhooks::get(db, hook.id).await.unwrap(),
            Some(hook.clone()),
            "{b}"
        );
        assert_eq!(webhooks::get(db, 999).await.unwrap(), None, "{b}");

        // Failures: the first one's time is kept.
        assert_eq!(
            webhooks::failed(db, hook.id, 100, "refused").await.unwrap(),
            Some(100),
            "{b}"
        );
        assert_eq!(
            webhooks::failed(db, hook.id, 200, "timeout").await.unwrap(),
            Some(100),
            "{b}"
        );
        assert_eq!(
            webhooks::failed(db, 999, 200, "x").await.unwrap(),
            None,
            "{b}"
        );
        webhooks::disable(db, hook.id, "failing for a day")
            .await
            .unwrap();
        let disabled = webhooks::get(db, hook.id).await.unwrap().unwrap();
        assert!(!disabled.enabled, "{b}");
        assert_eq!(
            disabled.disabled_reason.as_deref(),
            Some("failing for a day"),
            "{b}"
        );
        assert_eq!(disabled.last_error.as_deref(), Some("timeout"), "{b}");

        // An unrelated change leaves the rest as it is.
        let renamed = webhooks::update(
            db,
            hook.id,
            &WebhookChange {
                url: Some("http://c.example/h".into()),
                ..WebhookChange::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            renamed,
            StoredWebhook {
                url: "http://c.example/h".into(),
                ..disabled
            },
            "{b}"
        );
        // Enabling clears the failure state; kinds and gw_id cleared.
        let enabled = webhooks::update(
            db,
            hook.id,
            &WebhookChange {
                secret: Some("new".into()),
                kinds: Some(Vec::new()),
                gw_id: Some(None),
                enabled: Some(true),
                ..WebhookChange::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
        assert!(enabled.enabled, "{b}");
        assert_eq!(
            (
                enabled.secret.as_str(),
                enabled.kinds.as_deref(),
                enabled.gw_id.as_deref()
            ),
            ("new", None, None),
            "{b}"
        );
        assert_eq!(
            (enabled.failing_since, enabled.disabled_reason),
            (None, None),
            "{b}"
        );
        let filtered = webhooks::update(
            db,
            off.id,
            &WebhookChange {
                kinds: Some(vec!["mqtt_message".into()]),
                gw_id: Some(Some("SC10010002".into())),
                enabled: Some(false),
                ..WebhookChange::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(filtered.kind_list(), ["mqtt_message"], "{b}");
        assert_eq!(filtered.gw_id.as_deref(), Some("SC10010002"), "{b}");
        assert!(!filtered.enabled, "{b}");
        assert!(
            webhooks::update(db, 999, &WebhookChange::default())
                .await
                .unwrap()
                .is_none(),
            "{b}"
        );

        // Cursors: set for a replay, advanced by the writer, never back.
        assert!(webhooks::set_cursor(db, hook.id, 3).await.unwrap(), "{b}");
        assert!(!webhooks::set_cursor(db, 999, 3).await.unwrap(), "{b}");
        webhooks::failed(db, hook.id, 300, "again").await.unwrap();
        let mut conn = store.dedicated().await;
        let mut c = conn.conn();
        let mut tx = c.begin_write().await.unwrap();
        webhooks::advance_cursors(
            &mut tx.conn(),
            &[
                WebhookCursor {
                    id: hook.id,
                    cursor: 10,
                },
                WebhookCursor {
                    id: off.id,
                    cursor: 5,
                },
            ],
        )
        .await
        .unwrap();
        webhooks::advance_cursors(
            &mut tx.conn(),
            &[WebhookCursor {
                id: hook.id,
                cursor: 8,
            }],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let advanced = webhooks::get(db, hook.id).await.unwrap().unwrap();
        assert_eq!(advanced.cursor, 10, "{b}: not moved back");
        assert_eq!(
            (advanced.failing_since, advanced.last_error.clone()),
            (None, None),
            "{b}"
        );
        assert_eq!(
            webhooks::get(db, off.id).await.unwrap().unwrap().cursor,
            5,
            "{b}"
        );

        assert!(webhooks::delete(db, off.id).await.unwrap(), "{b}");
        assert!(!webhooks::delete(db, off.id).await.unwrap(), "{b}");
        assert_eq!(webhooks::list(db).await.unwrap(), vec![advanced], "{b}");
    }
}
