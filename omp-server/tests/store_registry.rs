//! The registry tables through the store, on SQLite and on PostgreSQL:
//! gateways, devices, profiles, approvals (GMMP and MQTT), revocations and
//! webhooks. Each test runs its body once per backend and names the
//! backend in its assertions.

mod common;

use std::collections::BTreeSet;

use omp_server::config::ProfileDefaults;
use omp_server::store::gateways::{self, Approval, GatewayFilter, GatewayRecord};
use omp_server::store::mqtt_provisioning::{self, LoginProfile, MqttProvision};
use omp_server::store::provisioning::{self, Provision};
use omp_server::store::revocations::{self, Revoked};
use omp_server::store::webhooks::{self, NewWebhook, StoredWebhook, WebhookChange, WebhookCursor};
use omp_server::store::{Db, devices, profiles};

/// The key length real clients hold (GMMP's auth key field).
const KEY_LEN: usize = 16;

/// Runs one statement of test seeding on whichever backend `db` is.
async fn raw(db: &Db, sql: &'static str, binds: &[i64]) {
    match db {
        Db::Sqlite(pool) => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(pool).await.unwrap();
        }
        Db::Postgres(pool) => {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute(pool).await.unwrap();
        }
    }
}

async fn register(db: &Db, auth_id: &str, key: &str) -> Option<GatewayRecord> {
    gateways::register(db, auth_id, "dom", "mfr", key, KEY_LEN, Approval::NotNeeded)
        .await
        .unwrap()
}

fn profile(heartbeat: u32, model: &str) -> ProfileDefaults {
    ProfileDefaults {
        heartbeat_period: heartbeat,
        report_period: 10,
        report_offset: 3,
        response_timeout: 30,
        model: model.into(),
        firmware_version: "1.0.0.6".into(),
        software_version: String::new(),
        hardware_version: "rev b".into(),
    }
}

#[tokio::test]
async fn gateway_and_device_ids_stay_unique_under_concurrent_registrations() {
    for store in common::stores::each("registry_concurrent_ids").await {
        let b = store.backend();
        let db = &store.db;
        let regs = (0..12).map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                let key = format!("key-{i}");
                register(&db, &format!("auth-{i:02}"), &key).await.unwrap()
            })
        });
        let mut ids = BTreeSet::new();
        for r in futures::future::join_all(regs).await {
            ids.insert(r.unwrap().gw_id);
        }
        let expected: BTreeSet<String> = (10_010_001..=10_010_012)
            .map(|n| format!("SC{n}"))
            .collect();
        assert_eq!(ids, expected, "{b}: one GW ID each, from SC10010001 on");

        let gw = ids.first().unwrap().clone();
        let regs = (0..12).map(|i| {
            let (db, gw) = (db.clone(), gw.clone());
            tokio::spawn(async move {
                devices::register(&db, &gw, &format!("mfr-{i:02}"))
                    .await
                    .unwrap()
            })
        });
        let mut device_ids = BTreeSet::new();
        for r in futures::future::join_all(regs).await {
            device_ids.insert(r.unwrap());
        }
        let expected: BTreeSet<String> = (10_014_001..=10_014_012)
            .map(|n| format!("AD{n}"))
            .collect();
        assert_eq!(device_ids, expected, "{b}: one device ID each");
        assert_eq!(devices::of_gateway(db, &gw).await.unwrap().len(), 12, "{b}");
    }
}

#[tokio::test]
async fn registration_repeats_revives_and_replaces_long_keys() {
    for store in common::stores::each("registry_register").await {
        let b = store.backend();
        let db = &store.db;
        let first = register(db, "auth-a", "key-a").await.unwrap();
        assert_eq!(first.gw_id, "SC10010001", "{b}");
        assert_eq!(
            (first.auth_key.as_str(), first.registration_lock),
            ("key-a", false),
            "{b}"
        );
        assert_eq!(first.deregistered_at, None, "{b}");

        // Again: the same registration, the new key ignored.
        let again = register(db, "auth-a", "other").await.unwrap();
        assert_eq!(again, first, "{b}: a repeat returns the row as stored");
        assert_eq!(
            gateways::find_by_auth_id(db, "auth-a").await.unwrap(),
            Some(first.clone()),
            "{b}"
        );

        // A key longer than clients hold is replaced.
        let long = register(db, "auth-long", "a-key-of-twenty-chars").await;
        let long = long.unwrap();
        assert_eq!(long.auth_key, "a-key-of-twenty-chars", "{b}");
        let short = register(db, "auth-long", "short").await.unwrap();
        assert_eq!(
            (short.gw_id.as_str(), short.auth_key.as_str()),
            (long.gw_id.as_str(), "short"),
            "{b}"
        );
        let stored = gateways::find_by_auth_id(db, "auth-long").await.unwrap();
        assert_eq!(stored.unwrap().auth_key, "short", "{b}");

        // Deregistered (with its devices), then revived with a new key.
        let device = devices::register(db, &first.gw_id, "dev-1").await.unwrap();
        assert!(gateways::deregister(db, &first.gw_id).await.unwrap(), "{b}");
        assert!(
            !gateways::deregister(db, &first.gw_id).await.unwrap(),
            "{b}"
        );
        assert!(
            !devices::exists(db, &first.gw_id, &device, true)
                .await
                .unwrap(),
            "{b}: its devices deregistered with it"
        );
        assert!(
            devices::exists(db, &first.gw_id, &device, false)
                .await
                .unwrap(),
            "{b}"
        );
        let active: Vec<String> = gateways::load_active(db)
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.gw_id)
            .collect();
        assert_eq!(active, vec![long.gw_id.clone()], "{b}");
        assert!(devices::load_active(db).await.unwrap().is_empty(), "{b}");

        let revived = gateways::register(
            db,
            "auth-a",
            "dom2",
            "mfr2",
            "key-b",
            KEY_LEN,
            Approval::NotNeeded,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(revived.gw_id, first.gw_id, "{b}: the same GW ID");
        assert_eq!(
            (
                revived.auth_key.as_str(),
                revived.domain.as_str(),
                revived.manufacture_id.as_str()
            ),
            ("key-b", "dom2", "mfr2"),
            "{b}"
        );
        assert_eq!(
            gateways::find_by_auth_id(db, "auth-a").await.unwrap(),
            Some(revived),
            "{b}"
        );
        // Devices come back by registering again, under the same ID.
        assert_eq!(
            devices::register(db, &first.gw_id, "dev-1").await.unwrap(),
            device,
            "{b}"
        );
        assert!(
            devices::deregister(db, &first.gw_id, &device)
                .await
                .unwrap(),
            "{b}"
        );
        assert!(
            !devices::deregister(db, &first.gw_id, &device)
                .await
                .unwrap(),
            "{b}"
        );
        assert_eq!(
            gateways::find_by_auth_id(db, "nobody").await.unwrap(),
            None,
            "{b}"
        );
    }
}

#[tokio::test]
async fn an_approval_is_required_in_the_registering_transaction() {
    for store in common::stores::each("registry_approval").await {
        let b = store.backend();
        let db = &store.db;
        let approved = || {
            gateways::register(
                db,
                "auth-p",
                "dom",
                "mfr",
                "key",
                KEY_LEN,
                Approval::Required,
            )
        };
        assert_eq!(
            approved().await.unwrap(),
            None,
            "{b}: no approval, no registration"
        );
        assert_eq!(
            gateways::find_by_auth_id(db, "auth-p").await.unwrap(),
            None,
            "{b}"
        );
        provisioning::add(db, "auth-p", None, None).await.unwrap();
        let record = approved().await.unwrap().expect("registered once approved");
        assert_eq!(record.gw_id, "SC10010001", "{b}");
    }
}

#[tokio::test]
async fn the_registration_lock_is_set_and_cleared() {
    for store in common::stores::each("registry_lock").await {
        let b = store.backend();
        let db = &store.db;
        let gw = register(db, "auth-l", "key").await.unwrap().gw_id;
        let locked = gateways::set_registration_lock(db, &gw, true)
            .await
            .unwrap();
        assert_eq!(locked.as_deref(), Some("auth-l"), "{b}");
        let record = gateways::find_by_auth_id(db, "auth-l")
            .await
            .unwrap()
            .unwrap();
        assert!(record.registration_lock, "{b}: read back as set");
        assert!(
            register(db, "auth-l", "key")
                .await
                .unwrap()
                .registration_lock,
            "{b}: a repeat registration returns it"
        );
        gateways::set_registration_lock(db, &gw, false)
            .await
            .unwrap();
        let record = gateways::load_active(db).await.unwrap().remove(0);
        assert!(!record.registration_lock, "{b}: read back as cleared");
        assert_eq!(
            gateways::set_registration_lock(db, "SC99999999", true)
                .await
                .unwrap(),
            None,
            "{b}: no such gateway"
        );
    }
}

#[tokio::test]
async fn encryption_settings_and_keys_round_trip() {
    for store in common::stores::each("registry_encryption").await {
        let b = store.backend();
        let db = &store.db;
        let gw = register(db, "auth-e", "key").await.unwrap().gw_id;
        assert_eq!(gateways::encryption(db, &gw).await.unwrap(), (0, 0), "{b}");
        assert_eq!(
            gateways::encryption(db, "SC99999999").await.unwrap(),
            (0, 0),
            "{b}"
        );
        assert_eq!(
            gateways::encryption_key(db, &gw).await.unwrap(),
            None,
            "{b}"
        );
        assert_eq!(
            gateways::encryption_key(db, "SC99999999").await.unwrap(),
            None,
            "{b}"
        );
        // Set by hand: no store function writes the setting.
        raw(
            db,
            "UPDATE gateways SET encryption_enabled = $1, encryption_algorithm = $2",
            &[7, 2],
        )
        .await;
        assert_eq!(
            gateways::encryption(db, &gw).await.unwrap(),
            (1, 2),
            "{b}: any non-zero is on"
        );
        let key = [0x00, 0xff, 0x80, 0x1b, 0x00];
        gateways::set_encryption_key(db, &gw, &key).await.unwrap();
        assert_eq!(
            gateways::encryption_key(db, &gw).await.unwrap().as_deref(),
            Some(&key[..]),
            "{b}: raw bytes as received"
        );
    }
}

#[tokio::test]
async fn last_contact_is_written_in_one_batch_in_the_writers_transaction() {
    for store in common::stores::each("registry_last_seen").await {
        let b = store.backend();
        let db = &store.db;
        let mut gws = Vec::new();
        for i in 0..40 {
            gws.push(
                register(db, &format!("auth-{i:02}"), "key")
                    .await
                    .unwrap()
                    .gw_id,
            );
        }
        assert_eq!(
            gateways::last_seen(db, &gws[0]).await.unwrap(),
            Some((None, None)),
            "{b}"
        );
        assert_eq!(
            gateways::last_seen(db, "SC99999999").await.unwrap(),
            None,
            "{b}"
        );

        let seen: Vec<(String, i64, String)> = gws
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, gw)| {
                (
                    gw.clone(),
                    1_700_000_000_000 + i as i64,
                    format!("10.0.0.{i}:5"),
                )
            })
            .chain([("SC99999999".to_owned(), 1, "unknown".to_owned())])
            .collect();
        let mut conn = store.dedicated().await;
        let mut empty = conn.conn();
        gateways::record_last_seen(&mut empty, &[]).await.unwrap();
        let mut c = conn.conn();
        let mut tx = c.begin_write().await.unwrap();
        gateways::record_last_seen(&mut tx.conn(), &seen)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        assert_eq!(
            gateways::last_seen(db, &gws[0]).await.unwrap(),
            Some((None, None)),
            "{b}: a gateway not in the batch is untouched"
        );
        for (i, gw) in gws.iter().enumerate().skip(1) {
            assert_eq!(
                gateways::last_seen(db, gw).await.unwrap(),
                Some((
                    Some(1_700_000_000_000 + i as i64),
                    Some(format!("10.0.0.{i}:5"))
                )),
                "{b}: {gw}"
            );
        }
        let record = gateways::find_by_auth_id(db, "auth-07")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.last_seen, Some(1_700_000_000_007), "{b}");
        assert_eq!(record.last_peer.as_deref(), Some("10.0.0.7:5"), "{b}");
    }
}

#[tokio::test]
async fn gateways_page_with_their_profiles() {
    for store in common::stores::each("registry_pages").await {
        let b = store.backend();
        let db = &store.db;
        let mut gws = Vec::new();
        for i in 0..5 {
            gws.push(
                register(db, &format!("auth-{i}"), "key")
                    .await
                    .unwrap()
                    .gw_id,
            );
        }
        assert!(gateways::exists(db, &gws[0]).await.unwrap(), "{b}");
        assert!(!gateways::exists(db, "SC99999999").await.unwrap(), "{b}");
        gateways::deregister(db, &gws[1]).await.unwrap();
        gateways::deregister(db, &gws[3]).await.unwrap();
        assert!(
            gateways::exists(db, &gws[1]).await.unwrap(),
            "{b}: deregistered still exists"
        );
        profiles::put(db, &gws[2], "", &profile(5, "WizFi310"))
            .await
            .unwrap();
        gateways::set_registration_lock(db, &gws[2], true)
            .await
            .unwrap();

        let one = gateways::get_with_profile(db, &gws[2])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(one.gateway.gw_id, gws[2], "{b}");
        assert!(one.gateway.registration_lock, "{b}");
        assert_eq!(one.profile, Some(profile(5, "WizFi310")), "{b}");
        let bare = gateways::get_with_profile(db, &gws[0])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bare.profile, None, "{b}: no row, the defaults apply");
        assert!(
            gateways::get_with_profile(db, "SC99999999")
                .await
                .unwrap()
                .is_none(),
            "{b}"
        );

        let page = |filter: GatewayFilter, limit: i64| async move {
            gateways::page_with_profile(db, &filter, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|w| w.gateway.gw_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            page(GatewayFilter::default(), 100).await,
            gws,
            "{b}: in GW ID order"
        );
        assert_eq!(page(GatewayFilter::default(), 2).await, gws[..2], "{b}");
        let after = GatewayFilter {
            after: Some(gws[1].clone()),
            ..GatewayFilter::default()
        };
        assert_eq!(page(after, 2).await, gws[2..4], "{b}: after the cursor");
        let registered = GatewayFilter {
            registered: Some(true),
            ..GatewayFilter::default()
        };
        assert_eq!(
            page(registered, 100).await,
            vec![gws[0].clone(), gws[2].clone(), gws[4].clone()],
            "{b}"
        );
        let deregistered = GatewayFilter {
            registered: Some(false),
            ..GatewayFilter::default()
        };
        assert_eq!(
            page(deregistered, 100).await,
            vec![gws[1].clone(), gws[3].clone()],
            "{b}"
        );
        let live = vec![gws[0].clone(), gws[3].clone(), "SC99999999".to_owned()];
        let connected = GatewayFilter {
            connected: Some((true, live.clone())),
            ..GatewayFilter::default()
        };
        assert_eq!(
            page(connected, 100).await,
            vec![gws[0].clone(), gws[3].clone()],
            "{b}"
        );
        let offline = GatewayFilter {
            connected: Some((false, live)),
            registered: Some(true),
            after: Some(gws[0].clone()),
        };
        assert_eq!(
            page(offline, 100).await,
            vec![gws[2].clone(), gws[4].clone()],
            "{b}"
        );
        let none_live = GatewayFilter {
            connected: Some((true, Vec::new())),
            ..GatewayFilter::default()
        };
        assert!(page(none_live, 100).await.is_empty(), "{b}");
        let with_profile = gateways::page_with_profile(db, &GatewayFilter::default(), 100)
            .await
            .unwrap();
        let profiles: Vec<bool> = with_profile.iter().map(|w| w.profile.is_some()).collect();
        assert_eq!(profiles, [false, false, true, false, false], "{b}");
    }
}

#[tokio::test]
async fn profiles_are_stored_per_gateway_and_device_and_replaced() {
    for store in common::stores::each("registry_profiles").await {
        let b = store.backend();
        let db = &store.db;
        let gw = register(db, "auth-p", "key").await.unwrap().gw_id;
        assert_eq!(profiles::get(db, &gw, "").await.unwrap(), None, "{b}");
        profiles::put(db, &gw, "", &profile(5, "gw")).await.unwrap();
        profiles::put(db, &gw, "AD10014001", &profile(6, "dev"))
            .await
            .unwrap();
        assert_eq!(
            profiles::get(db, &gw, "").await.unwrap(),
            Some(profile(5, "gw")),
            "{b}"
        );
        assert_eq!(
            profiles::get(db, &gw, "AD10014001").await.unwrap(),
            Some(profile(6, "dev")),
            "{b}"
        );
        let max = ProfileDefaults {
            report_offset: u32::MAX,
            ..profile(0, "replaced")
        };
        profiles::put(db, &gw, "", &max).await.unwrap();
        assert_eq!(
            profiles::get(db, &gw, "").await.unwrap(),
            Some(max),
            "{b}: replaced"
        );
        assert_eq!(
            profiles::get(db, &gw, "AD10014001").await.unwrap(),
            Some(profile(6, "dev")),
            "{b}: the device's untouched"
        );
        assert_eq!(
            profiles::get(db, "SC99999999", "").await.unwrap(),
            None,
            "{b}"
        );
    }
}

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
        raw(
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
