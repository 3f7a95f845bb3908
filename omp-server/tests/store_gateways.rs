//! Gateways and devices through the store, on SQLite and on PostgreSQL
//! (`store::gateways`, `store::devices`, `store::profiles`): unique ids
//! under concurrent registrations, repeats and revivals, the approval
//! and the registration lock, encryption settings, last contact, and
//! pages with their profiles. Each test runs its body once per backend
//! and names the backend in its assertions.

mod common;

use std::collections::BTreeSet;

use omp_server::config::ProfileDefaults;
use omp_server::store::gateways::{self, Approval, GatewayFilter, GatewayRecord};
use omp_server::store::{Db, devices, profiles, provisioning};

use common::seed::KEY_LEN;
use common::stores::exec_with;

/// Registers a gateway of `auth_id` with `key` (no approval needed).
async fn register(db: &Db, auth_id: &str, key: &str) -> Option<GatewayRecord> {
    gateways::register(db, auth_id, "dom", "mfr", key, KEY_LEN, Approval::NotNeeded)
        .await
        .unwrap()
}

/// A profile with `heartbeat` and `model`, the rest fixed.
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
        exec_with(
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
