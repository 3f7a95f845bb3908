//! Provisioning through the store, on SQLite and on PostgreSQL: GMMP
//! approvals (`store::provisioning`), revocations that deregister and
//! are read in order (`store::revocations`), and MQTT approvals with
//! their hashed secrets (`store::mqtt_provisioning`). Each test runs its
//! body once per backend and names the backend in its assertions.

mod common;

use std::collections::BTreeSet;

use omp_server::store::devices;
use omp_server::store::gateways::{self, Approval};
use omp_server::store::mqtt_provisioning::{self, LoginProfile, MqttProvision};
use omp_server::store::provisioning::{self, Provision};
use omp_server::store::revocations::{self, Revoked};

use common::seed::KEY_LEN;
use common::stores::exec_with;

#[tokio::test]
async fn approvals_are_added_replaced_paged_and_removed() {
    for store in common::stores::each("registry_provisioning").await {
        let b = store.backend();
        let db = &store.db;
        let named = Provision {
            auth_id: "auth-b".into(),
            domain: None,
            manufacture_id: Some("mfr".into()),
            name: Some("portal name".into()),
            created_at: 1234,
        };
        assert!(provisioning::insert_new(db, &named).await.unwrap(), "{b}");
        let taken = Provision {
            name: None,
            ..named.clone()
        };
        assert!(
            !provisioning::insert_new(db, &taken).await.unwrap(),
            "{b}: approved already"
        );
        assert_eq!(
            provisioning::get(db, "auth-b").await.unwrap(),
            Some(named.clone()),
            "{b}"
        );

        // `add` replaces the restrictions and keeps the name.
        provisioning::add(db, "auth-b", Some("dom"), None)
            .await
            .unwrap();
        let replaced = provisioning::get(db, "auth-b").await.unwrap().unwrap();
        assert_eq!(
            (
                replaced.domain.as_deref(),
                replaced.manufacture_id,
                replaced.name.as_deref()
            ),
            (Some("dom"), None, Some("portal name")),
            "{b}"
        );
        assert_eq!(replaced.created_at, 1234, "{b}");
        provisioning::add(db, "auth-a", None, None).await.unwrap();
        provisioning::add(db, "auth-c", None, Some("m"))
            .await
            .unwrap();
        let added = provisioning::get(db, "auth-c").await.unwrap().unwrap();
        assert!(added.created_at > 1_600_000_000_000, "{b}: now, in ms");
        assert_eq!(provisioning::get(db, "nobody").await.unwrap(), None, "{b}");

        let ids = |v: Vec<Provision>| v.into_iter().map(|p| p.auth_id).collect::<Vec<_>>();
        assert_eq!(
            ids(provisioning::list(db).await.unwrap()),
            ["auth-a", "auth-b", "auth-c"],
            "{b}"
        );
        assert_eq!(
            ids(provisioning::page(db, None, 2).await.unwrap()),
            ["auth-a", "auth-b"],
            "{b}"
        );
        assert_eq!(
            ids(provisioning::page(db, Some("auth-a"), 5).await.unwrap()),
            ["auth-b", "auth-c"],
            "{b}"
        );
        assert!(
            provisioning::page(db, Some("auth-c"), 5)
                .await
                .unwrap()
                .is_empty(),
            "{b}"
        );

        assert!(provisioning::remove(db, "auth-b").await.unwrap(), "{b}");
        assert!(!provisioning::remove(db, "auth-b").await.unwrap(), "{b}");
        assert_eq!(
            ids(provisioning::list(db).await.unwrap()),
            ["auth-a", "auth-c"],
            "{b}"
        );
    }
}

#[tokio::test]
async fn a_revocation_deregisters_and_is_read_in_order() {
    for store in common::stores::each("registry_revocations").await {
        let b = store.backend();
        let db = &store.db;
        assert_eq!(revocations::last_seq(db).await.unwrap(), 0, "{b}");
        assert_eq!(
            revocations::revoke(db, "auth-r").await.unwrap(),
            Revoked::NotProvisioned,
            "{b}"
        );
        // A day-old row: pruned by the next revocation.
        exec_with(
            db,
            "INSERT INTO revocations (auth_id, gw_id, revoked_at) VALUES ('old', NULL, $1)",
            &[1],
        )
        .await;
        assert_eq!(revocations::last_seq(db).await.unwrap(), 1, "{b}");

        provisioning::add(db, "auth-r", None, None).await.unwrap();
        let gw = gateways::register(
            db,
            "auth-r",
            "dom",
            "mfr",
            "key",
            KEY_LEN,
            Approval::Required,
        )
        .await
        .unwrap()
        .unwrap()
        .gw_id;
        let device = devices::register(db, &gw, "dev").await.unwrap();
        let Revoked::Removed(first) = revocations::revoke(db, "auth-r").await.unwrap() else {
            panic!("{b}: the approval was there");
        };
        assert_eq!(
            (first.seq, first.auth_id.as_str(), first.gw_id.as_deref()),
            (2, "auth-r", Some(gw.as_str())),
            "{b}"
        );
        assert_eq!(provisioning::get(db, "auth-r").await.unwrap(), None, "{b}");
        let record = gateways::find_by_auth_id(db, "auth-r")
            .await
            .unwrap()
            .unwrap();
        assert!(
            record.deregistered_at.is_some(),
            "{b}: the gateway deregistered"
        );
        assert!(
            !devices::exists(db, &gw, &device, true).await.unwrap(),
            "{b}: and its device"
        );
        assert_eq!(
            revocations::after(db, 0).await.unwrap(),
            vec![first.clone()],
            "{b}: pruned"
        );

        // An approval never registered: a row without a gateway.
        provisioning::add(db, "auth-s", None, None).await.unwrap();
        let Revoked::Removed(second) = revocations::revoke(db, "auth-s").await.unwrap() else {
            panic!("{b}");
        };
        assert_eq!((second.seq, second.gw_id.as_deref()), (3, None), "{b}");
        assert_eq!(revocations::last_seq(db).await.unwrap(), 3, "{b}");
        assert_eq!(
            revocations::after(db, 2).await.unwrap(),
            vec![second],
            "{b}"
        );
        assert!(revocations::after(db, 3).await.unwrap().is_empty(), "{b}");

        // Concurrent revocations: distinct seqs, all read after the last.
        for i in 0..8 {
            provisioning::add(db, &format!("auth-c{i}"), None, None)
                .await
                .unwrap();
        }
        let revokes = (0..8).map(|i| {
            let db = db.clone();
            tokio::spawn(async move { revocations::revoke(&db, &format!("auth-c{i}")).await })
        });
        let mut seqs = BTreeSet::new();
        for r in futures::future::join_all(revokes).await {
            match r.unwrap().unwrap() {
                Revoked::Removed(r) => seqs.insert(r.seq),
                Revoked::NotProvisioned => panic!("{b}"),
            };
        }
        assert_eq!(seqs.len(), 8, "{b}: distinct seqs");
        let read: BTreeSet<i64> = revocations::after(db, 3)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(read, seqs, "{b}");
        assert_eq!(
            revocations::last_seq(db).await.unwrap(),
            *seqs.last().unwrap(),
            "{b}"
        );
    }
}

#[tokio::test]
async fn mqtt_approvals_keep_hashed_secrets_and_replace_by_name() {
    for store in common::stores::each("registry_mqtt_provisioning").await {
        let b = store.backend();
        let db = &store.db;
        let onenet = omp_server::mqtt::provision::approval(
            omp_server::mqtt::provision::ProfileArg::Onenet,
            Some("dev-1"),
            Some("product"),
            Some("clear secret"),
        )
        .unwrap();
        let hash = onenet.secret_hash.clone().unwrap();
        assert!(
            !hash.contains("clear secret"),
            "{b}: hashed before the store"
        );
        mqtt_provisioning::add(db, &onenet).await.unwrap();
        let password = MqttProvision {
            profile: LoginProfile::Password,
            client_id: None,
            username: Some("user".into()),
            secret_hash: Some(omp_server::mqtt::secret::hash(b"pw").unwrap()),
            created_at: 0,
        };
        mqtt_provisioning::add(db, &password).await.unwrap();
        let bare = MqttProvision {
            profile: LoginProfile::ClientId,
            client_id: Some("bare".into()),
            username: None,
            secret_hash: None,
            created_at: 99,
        };
        mqtt_provisioning::add(db, &bare).await.unwrap();

        let stored = mqtt_provisioning::by_client_id(db, "dev-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.secret_hash.as_deref(),
            Some(hash.as_str()),
            "{b}: stored as given"
        );
        assert!(
            omp_server::mqtt::secret::verify(&hash, b"clear secret"),
            "{b}"
        );
        assert_eq!(stored.profile, LoginProfile::OneNet, "{b}");
        assert!(stored.created_at > 1_600_000_000_000, "{b}: 0 is now");
        let user = mqtt_provisioning::by_username(db, "user")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.profile, LoginProfile::Password, "{b}");
        assert!(
            mqtt_provisioning::by_username(db, "product")
                .await
                .unwrap()
                .is_none(),
            "{b}"
        );
        assert_eq!(
            mqtt_provisioning::by_client_id(db, "bare").await.unwrap(),
            Some(bare.clone()),
            "{b}"
        );

        // Replaced: same client id; same username for `password`.
        let replacement = MqttProvision {
            profile: LoginProfile::ClientId,
            client_id: Some("dev-1".into()),
            username: None,
            secret_hash: None,
            created_at: 5,
        };
        mqtt_provisioning::add(db, &replacement).await.unwrap();
        let user2 = MqttProvision {
            secret_hash: Some(omp_server::mqtt::secret::hash(b"pw2").unwrap()),
            created_at: 6,
            ..password.clone()
        };
        mqtt_provisioning::add(db, &user2).await.unwrap();
        let listed = mqtt_provisioning::list(db).await.unwrap();
        assert_eq!(
            listed,
            vec![bare.clone(), replacement.clone(), user2.clone()],
            "{b}: oldest first"
        );

        assert!(
            mqtt_provisioning::remove(db, "user").await.unwrap(),
            "{b}: by username"
        );
        assert!(
            mqtt_provisioning::remove(db, "dev-1").await.unwrap(),
            "{b}: by client id"
        );
        assert!(
            !mqtt_provisioning::remove(db, "dev-1").await.unwrap(),
            "{b}"
        );
        assert_eq!(
            mqtt_provisioning::list(db).await.unwrap(),
            vec![bare],
            "{b}"
        );
    }
}
