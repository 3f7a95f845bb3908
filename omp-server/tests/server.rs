//! Integration tests: real TCP clients built on the codec against a server
//! started in the test on 127.0.0.1:0 with a temporary database.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Client, GUARD, delivery_row, fixed, rc, start, start_writer};
use gmmp_codec::{
    ControlType, DeviceDeregistrationRequest, DeviceId, EncryptionInfoRequest,
    EncryptionKeyRequest, FixedStr, Frame, FtpInfoRequest, GwDeregistrationRequest,
    LongSentenceRequest, Message, NotificationRequest, ProfileRequest, ResultCode, split,
};
use omp_server::ProvisioningMode;
use omp_server::config::ProvisionCommand;
use omp_server::store::{deliveries, gateways, writer};
use test_support::postgres::TestDatabase;

const MAC: &str = "0008dc1e3222";

/// Where a test's server stores: SQLite in the data directory, or a
/// PostgreSQL database of its own.
enum Store {
    Sqlite,
    Postgres(TestDatabase),
}

impl Store {
    /// PostgreSQL, or `None` (printed) where none can be had.
    async fn postgres(test: &str) -> Option<Store> {
        TestDatabase::create(test).await.map(Store::Postgres)
    }

    fn apply(&self, config: &mut omp_server::Config) {
        if let Store::Postgres(database) = self {
            config.database_url = Some(database.url.clone());
        }
    }
}

#[tokio::test]
async fn full_gw_and_device_lifecycle() {
    gw_and_device_lifecycle(Store::Sqlite).await;
}

#[tokio::test]
async fn on_postgres_full_gw_and_device_lifecycle() {
    if let Some(store) = Store::postgres("full_gw_and_device_lifecycle").await {
        gw_and_device_lifecycle(store).await;
    }
}

async fn gw_and_device_lifecycle(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| store.apply(c)).await;
    let mut gw = Client::connect(server.addr, MAC).await;

    let reg = gw.register_gw("ThingPlug", "WIZnet").await;
    assert_eq!(rc(&reg), ResultCode::OK);
    let key = reg.header.auth_key.to_string();
    // 15 characters: the client library needs a NUL in its 16-byte buffer.
    assert!(key.starts_with("SP") && key.len() == 15, "{key}");
    let gw_id = gw.gw_id.to_string();
    assert!(gw_id.starts_with("SC") && gw_id.len() == 10, "{gw_id}");

    // Profile of the GW itself (device id empty): rc 0 with the defaults.
    let profile = gw
        .request(ProfileRequest {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id: DeviceId::EMPTY,
        })
        .await;
    match &profile.message {
        Message::ProfileResponse(p) => {
            assert_eq!(p.result_code, ResultCode::OK);
            assert_eq!((p.heartbeat_period, p.report_period), (10, 10));
            assert_eq!((p.report_offset, p.response_timeout), (0, 30));
        }
        other => panic!("{other:?}"),
    }

    let dev = gw.register_device(MAC).await;
    assert_eq!(rc(&dev), ResultCode::OK);
    let device_id = *dev.message.device_id().unwrap();
    assert!(device_id.to_string().starts_with("AD"));
    // Idempotent per (GW, manufacture ID).
    let again = gw.register_device(MAC).await;
    assert_eq!(again.message.device_id(), Some(&device_id));
    let other = gw.register_device("sensor-2").await;
    assert_ne!(other.message.device_id(), Some(&device_id));

    let hb = gw.heartbeat().await;
    assert!(matches!(hb.message, Message::HeartbeatResponse(_)));
    assert_eq!(hb.message.gw_id(), Some(&gw.gw_id));

    let d = gw.delivery(device_id, b"device data");
    assert_eq!(rc(&gw.request(d).await), ResultCode::OK);
    let stored = deliveries::latest(&server.state.db, &gw_id, 10)
        .await
        .unwrap();
    assert_eq!(stored[0].device_id, device_id.to_string());

    let dereg = DeviceDeregistrationRequest {
        domain_code: gw.domain,
        gw_id: gw.gw_id,
        device_id,
    };
    assert_eq!(rc(&gw.request(dereg.clone()).await), ResultCode::OK);
    assert_eq!(rc(&gw.request(dereg).await), ResultCode::NOT_FOUND);
    // A deregistered device can no longer deliver.
    let d = gw.delivery(device_id, b"late");
    assert_eq!(rc(&gw.request(d).await), ResultCode::NOT_FOUND);

    let gw_dereg = GwDeregistrationRequest {
        domain_code: gw.domain,
        gw_id: gw.gw_id,
    };
    assert_eq!(rc(&gw.request(gw_dereg).await), ResultCode::OK);
    // Deregistered: a heartbeat (no rc in its response) closes the connection.
    let header = gw.header();
    gw.send(Frame::new(
        header,
        gmmp_codec::HeartbeatRequest {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
        },
    ))
    .await;
    gw.expect_closed().await;

    // Registering again returns the same GW ID.
    let mut gw2 = Client::connect(server.addr, MAC).await;
    assert_eq!(
        rc(&gw2.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    assert_eq!(gw2.gw_id.to_string(), gw_id);
    server.stop().await;
}

#[tokio::test]
async fn registering_again_returns_the_same_id_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut a = Client::connect(server.addr, MAC).await;
    a.register_gw("ThingPlug", "WIZnet").await;
    let mut b = Client::connect(server.addr, "another-gw").await;
    b.register_gw("ThingPlug", "WIZnet").await;
    assert_ne!(a.gw_id, b.gw_id);
    assert_ne!(a.key, b.key);
    let mut a2 = Client::connect(server.addr, MAC).await;
    a2.register_gw("ThingPlug", "WIZnet").await;
    assert_eq!((a2.gw_id, a2.key), (a.gw_id, a.key));
    server.stop().await;
}

#[tokio::test]
async fn the_seed_delivery_is_stored_byte_exact_and_answered_with_43_bytes() {
    let hex_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../gmmp-codec/tests/vectors/delivery_req.hex"
    );
    let seed = hex::decode(std::fs::read_to_string(hex_path).unwrap().trim()).unwrap();
    let seed = Frame::decode_slice(&seed).unwrap();
    let Message::DeliveryRequest(seed_body) = &seed.message else {
        panic!("seed is a delivery")
    };

    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut gw = Client::connect(server.addr, MAC).await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );

    // Same fields and payload, with the key and GW ID this OMP assigned.
    let mut frame = seed.clone();
    frame.header.auth_key = gw.key;
    let mut body = seed_body.clone();
    body.gw_id = gw.gw_id;
    frame.message = body.into();
    gw.send(frame).await;
    let rsp = gw.recv().await;
    assert_eq!(
        rsp.header.message_length as usize - gmmp_codec::HEADER_LEN,
        43
    );
    assert_eq!(rsp.header.tid, 0x81);
    assert_eq!(rc(&rsp), ResultCode::OK);

    let rows = deliveries::latest(&server.state.db, &gw.gw_id.to_string(), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.payload, seed_body.payload.as_ref());
    assert_eq!(row.payload, b"WizFi310 test data !@#$%^&*(/)");
    assert_eq!(row.device_id, "");
    assert_eq!((row.report_type, row.media_type), (1, 1));
    assert_eq!(row.tid, 0x81);
    assert_eq!(
        row.origin_timestamp,
        i64::from(seed.header.origin_timestamp)
    );
    assert_eq!(row.encryption_flag, 0x02);
    assert!(row.received_at > 0);
    server.stop().await;
}

#[tokio::test]
async fn wrong_key_wrong_gw_id_and_unregistered_auth_id_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut gw = Client::connect(server.addr, MAC).await;
    gw.register_gw("ThingPlug", "WIZnet").await;
    let mut other = Client::connect(server.addr, "other-gw").await;
    other.register_gw("ThingPlug", "WIZnet").await;

    // Wrong auth key → rc 0x04, nothing stored.
    let mut bad_key = Client::connect(server.addr, MAC).await;
    bad_key.domain = gw.domain;
    bad_key.gw_id = gw.gw_id;
    bad_key.key = fixed("SP10033827key");
    assert_eq!(
        rc(&bad_key.deliver(b"x").await),
        ResultCode::PERMISSION_DENIED
    );
    // … and a heartbeat (no rc in its response) closes the connection.
    let header = bad_key.header();
    bad_key
        .send(Frame::new(
            header,
            gmmp_codec::HeartbeatRequest {
                domain_code: gw.domain,
                gw_id: gw.gw_id,
            },
        ))
        .await;
    bad_key.expect_closed().await;

    // Right key, another GW's ID → rc 0x04.
    let mut wrong_id = Client::connect(server.addr, MAC).await;
    wrong_id.domain = gw.domain;
    wrong_id.key = gw.key;
    wrong_id.gw_id = other.gw_id;
    assert_eq!(
        rc(&wrong_id.deliver(b"x").await),
        ResultCode::PERMISSION_DENIED
    );

    // Never registered → rc 0x04.
    let mut stranger = Client::connect(server.addr, "stranger").await;
    stranger.domain = gw.domain;
    stranger.gw_id = gw.gw_id;
    stranger.key = gw.key;
    assert_eq!(
        rc(&stranger.deliver(b"x").await),
        ResultCode::PERMISSION_DENIED
    );

    assert!(
        deliveries::latest(&server.state.db, &gw.gw_id.to_string(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The real GW is unaffected.
    assert_eq!(rc(&gw.deliver(b"ok").await), ResultCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn approved_mode_refuses_until_provisioned_and_open_mode_takes_anyone() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        c.provisioning = ProvisioningMode::Approved;
        c.allowed_domains = vec!["ThingPlug".into()];
    })
    .await;
    let mut gw = Client::connect(server.addr, MAC).await;
    let refused = gw.register_gw("ThingPlug", "WIZnet").await;
    assert_eq!(rc(&refused), ResultCode::PERMISSION_DENIED);
    assert!(
        refused.header.auth_key.is_empty(),
        "no key for a refused GW"
    );

    // Approve it the way the log line says (the CLI's code path), while
    // the server runs.
    let add = ProvisionCommand::Add {
        auth_id: MAC.into(),
        domain: Some("ThingPlug".into()),
        manufacture_id: None,
    };
    let mut out = Vec::new();
    omp_server::provision::execute(&server.state.config, &add, &mut out)
        .await
        .unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), format!("approved {MAC}\n"));
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );

    // A domain outside allowed_domains → rc 0x06.
    let mut elsewhere = Client::connect(server.addr, "gw-elsewhere").await;
    assert_eq!(
        rc(&elsewhere.register_gw("Other", "WIZnet").await),
        ResultCode::NOT_FOUND
    );
    // Provisioned for one manufacture ID only → another one is refused.
    let restricted = ProvisionCommand::Add {
        auth_id: "gw-restricted".into(),
        domain: None,
        manufacture_id: Some("WIZnet".into()),
    };
    omp_server::provision::execute(&server.state.config, &restricted, &mut Vec::new())
        .await
        .unwrap();
    let mut r = Client::connect(server.addr, "gw-restricted").await;
    assert_eq!(
        rc(&r.register_gw("ThingPlug", "Acme").await),
        ResultCode::PERMISSION_DENIED
    );
    assert_eq!(
        rc(&r.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    server.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let open = start(dir.path(), |c| c.provisioning = ProvisioningMode::Open).await;
    let mut anyone = Client::connect(open.addr, "unprovisioned").await;
    assert_eq!(
        rc(&anyone.register_gw("AnyDomain", "Acme").await),
        ResultCode::OK
    );
    open.stop().await;
}

#[tokio::test]
async fn garbage_oversized_and_truncated_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut good = Client::connect(server.addr, MAC).await;
    good.register_gw("ThingPlug", "WIZnet").await;

    // Garbage: not GMMP 2.x.
    let mut garbage = Client::connect(server.addr, "x").await;
    garbage.send_raw(b"GET / HTTP/1.1\r\n\r\n").await;
    garbage.expect_closed().await;

    // Oversized: message_length 0xFFFF.
    let mut oversized = Client::connect(server.addr, "x").await;
    let mut big = vec![0x21, 0xff, 0xff, 0x0b];
    big.resize(60, 0);
    oversized.send_raw(&big).await;
    oversized.expect_closed().await;

    // Truncated: a delivery whose declared length leaves a 12-byte body.
    let mut truncated = Client::connect(server.addr, "x").await;
    let mut short = vec![0x21, 0x00, 62, 0x0b];
    short.resize(62, 0);
    truncated.send_raw(&short).await;
    truncated.expect_closed().await;

    // The registered session still works.
    assert!(matches!(
        good.heartbeat().await.message,
        Message::HeartbeatResponse(_)
    ));
    assert_eq!(rc(&good.deliver(b"still here").await), ResultCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_first_frame_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        c.first_frame_timeout = Duration::from_millis(200)
    })
    .await;
    let mut silent = Client::connect(server.addr, MAC).await;
    silent.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn a_gw_that_connects_again_replaces_its_older_session() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut first = Client::connect(server.addr, MAC).await;
    first.register_gw("ThingPlug", "WIZnet").await;
    let first_id = server
        .state
        .registry
        .get(&first.gw_id.to_string())
        .unwrap()
        .id;

    let mut second = Client::connect(server.addr, MAC).await;
    second.register_gw("ThingPlug", "WIZnet").await;
    first.expect_closed().await;
    let now = server
        .state
        .registry
        .get(&second.gw_id.to_string())
        .unwrap();
    assert_ne!(now.id, first_id);
    assert_eq!(
        rc(&second.deliver(b"from the new session").await),
        ResultCode::OK
    );
    server.stop().await;
}

#[tokio::test]
async fn a_split_delivery_is_answered_per_part_and_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut gw = Client::connect(server.addr, MAC).await;
    gw.register_gw("ThingPlug", "WIZnet").await;

    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let header = gw.header();
    let whole = Frame::new(header, gw.delivery(DeviceId::EMPTY, &payload));
    let parts = split(&whole).unwrap();
    assert_eq!(parts.len(), 3);
    for part in parts {
        let (current, total) = (part.header.current_count, part.header.total_count);
        gw.send(part).await;
        let rsp = gw.recv().await;
        assert_eq!(rc(&rsp), ResultCode::OK);
        assert_eq!(
            (rsp.header.current_count, rsp.header.total_count),
            (current, total)
        );
    }
    let rows = deliveries::latest(&server.state.db, &gw.gw_id.to_string(), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].payload, payload);
    server.stop().await;
}

#[tokio::test]
async fn data_survives_a_server_restart() {
    survives_a_restart(Store::Sqlite).await;
}

#[tokio::test]
async fn on_postgres_data_survives_a_server_restart() {
    if let Some(store) = Store::postgres("data_survives_a_server_restart").await {
        survives_a_restart(store).await;
    }
}

async fn survives_a_restart(store: Store) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| store.apply(c)).await;
    let mut gw = Client::connect(server.addr, MAC).await;
    gw.register_gw("ThingPlug", "WIZnet").await;
    let device = *gw.register_device(MAC).await.message.device_id().unwrap();
    assert_eq!(rc(&gw.deliver(b"before restart").await), ResultCode::OK);
    server.stop().await;

    let server = start(dir.path(), |c| store.apply(c)).await;
    // The old key still authenticates (directory loaded from disk) …
    let mut again = Client::connect(server.addr, MAC).await;
    again.domain = gw.domain;
    again.gw_id = gw.gw_id;
    again.key = gw.key;
    assert_eq!(rc(&again.deliver(b"after restart").await), ResultCode::OK);
    let d = again.delivery(device, b"device after restart");
    assert_eq!(rc(&again.request(d).await), ResultCode::OK);
    // … and registering again gives the same identity.
    let mut re = Client::connect(server.addr, MAC).await;
    re.register_gw("ThingPlug", "WIZnet").await;
    assert_eq!((re.gw_id, re.key), (gw.gw_id, gw.key));
    assert_eq!(
        re.register_device(MAC).await.message.device_id(),
        Some(&device)
    );

    let rows = deliveries::latest(&server.state.db, &gw.gw_id.to_string(), 10)
        .await
        .unwrap();
    let payloads: Vec<&[u8]> = rows.iter().map(|r| r.payload.as_slice()).collect();
    assert_eq!(
        payloads,
        vec![
            &b"device after restart"[..],
            b"after restart",
            b"before restart"
        ]
    );
    let (seen, peer) = gateways::last_seen(&server.state.db, &gw.gw_id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert!(
        seen.is_some() && peer.is_some(),
        "last contact saved at shutdown"
    );
    server.stop().await;
}

#[tokio::test]
async fn unserved_types_get_their_response_never_silence() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut gw = Client::connect(server.addr, MAC).await;
    gw.register_gw("ThingPlug", "WIZnet").await;

    let ftp = gw
        .request(FtpInfoRequest {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id: DeviceId::EMPTY,
            control_type: ControlType::FW_DOWNLOAD,
        })
        .await;
    assert!(matches!(ftp.message, Message::FtpInfoResponse(_)));
    assert_eq!(rc(&ftp), ResultCode::NOT_IMPLEMENTED);

    let ls = gw
        .request(LongSentenceRequest {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id: DeviceId::EMPTY,
            control_type: ControlType::STATUS_CHECK,
        })
        .await;
    assert!(matches!(ls.message, Message::LongSentenceResponse(_)));
    assert_eq!(rc(&ls), ResultCode::NOT_FOUND);

    let note = gw
        .request(NotificationRequest {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id: DeviceId::EMPTY,
            control_type: ControlType::STATUS_CHECK,
            result_code: ResultCode::OK,
            payload: Bytes::new(),
        })
        .await;
    assert!(matches!(note.message, Message::NotificationResponse(_)));
    assert_eq!(rc(&note), ResultCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn encryption_info_is_truthful_and_a_key_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut gw = Client::connect(server.addr, MAC).await;
    gw.register_gw("ThingPlug", "WIZnet").await;
    let info = gw
        .request(EncryptionInfoRequest {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id: DeviceId::EMPTY,
        })
        .await;
    match info.message {
        Message::EncryptionInfoResponse(r) => {
            assert_eq!(r.result_code, ResultCode::OK);
            assert_eq!(r.encryption_flag, 0x00, "default off");
        }
        other => panic!("{other:?}"),
    }
    let key_rsp = gw
        .request(EncryptionKeyRequest {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id: DeviceId::EMPTY,
            key: FixedStr::new("key", "0123456789abcdef").unwrap(),
        })
        .await;
    assert_eq!(rc(&key_rsp), ResultCode::OK);
    let stored = gateways::encryption_key(&server.state.db, &gw.gw_id.to_string())
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"0123456789abcdef"[..]));

    // An encrypted delivery is stored as received, with its flag.
    let mut header = gw.header().with_encryption_flag(0x01);
    header.tid = 7;
    gw.tid = 7;
    gw.send(Frame::new(
        header,
        gw.delivery(DeviceId::EMPTY, b"\x00\x04\xde\xad\xbe\xef"),
    ))
    .await;
    assert_eq!(rc(&gw.recv().await), ResultCode::OK);
    let rows = deliveries::latest(&server.state.db, &gw.gw_id.to_string(), 1)
        .await
        .unwrap();
    assert_eq!(rows[0].encryption_flag, 0x01);
    assert_eq!(rows[0].payload, b"\x00\x04\xde\xad\xbe\xef");
    server.stop().await;
}

/// On a current-thread runtime the writer task cannot run between two
/// submissions, so a queue of one is full at the second: the refusal the
/// session turns into rc 0x0F with a back-off.
#[tokio::test(flavor = "current_thread")]
async fn a_full_writer_queue_refuses_instead_of_buffering() {
    let dir = tempfile::tempdir().unwrap();
    let w = start_writer(dir.path(), 1, 100).await;
    let row = delivery_row(1, 0, false, b"p");
    let first = w.handle.submit(row.clone()).unwrap();
    assert_eq!(w.handle.submit(row).unwrap_err(), writer::SubmitError::Full);
    tokio::time::timeout(GUARD, first)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        deliveries::latest(
            &omp_server::store::Db::from(w.pool.clone()),
            "SC10010001",
            10
        )
        .await
        .unwrap()
        .len(),
        1
    );
    w.stop().await;
}

#[tokio::test]
async fn the_writer_histograms_count_every_committed_row_and_batch() {
    let dir = tempfile::tempdir().unwrap();
    let w = start_writer(dir.path(), 100, 4).await;
    let queued: Vec<_> = (0..10)
        .map(|tid| w.handle.submit(delivery_row(tid, 0, false, b"p")).unwrap())
        .collect();
    for q in queued {
        tokio::time::timeout(GUARD, q)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
    let m = w.handle.metrics();
    let batches = m.batches.load(std::sync::atomic::Ordering::Relaxed);
    assert!(batches >= 3, "at most 4 rows a batch: {batches}");
    assert_eq!(m.histograms.rows.count(), batches);
    assert_eq!(m.histograms.rows.sum(), 10.0, "every row once");
    assert_eq!(m.histograms.seconds.count(), batches);
    assert!(m.histograms.seconds.sum() > 0.0);
    w.stop().await;
}

#[tokio::test]
async fn a_bound_session_is_not_held_to_the_first_frame_timeout() {
    // first_frame_timeout is short; the GW's heartbeat period is 0 (no
    // heartbeats), so once bound its session is never closed for silence.
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        c.first_frame_timeout = Duration::from_millis(100);
        c.profile_defaults.heartbeat_period = 0;
    })
    .await;
    let mut gw = Client::connect(server.addr, MAC).await;
    gw.register_gw("ThingPlug", "WIZnet").await;
    // An unbound connection opened at the same time is closed meanwhile.
    let mut unbound = Client::connect(server.addr, "unbound").await;
    unbound.expect_closed().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rc(&gw.deliver(b"still bound").await), ResultCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn frames_pushed_through_the_registry_reach_the_gw() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut gw = Client::connect(server.addr, MAC).await;
    gw.register_gw("ThingPlug", "WIZnet").await;
    let control = Frame::new(
        gmmp_codec::Header::new(gw.auth_id, gw.key, 100_000),
        gmmp_codec::ControlRequest {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id: DeviceId::EMPTY,
            control_type: ControlType::STATUS_CHECK,
            payload: Bytes::new(),
        },
    );
    let session = server.state.registry.get(&gw.gw_id.to_string()).unwrap();
    session.outbound.push(control.to_bytes().unwrap()).unwrap();
    let received = gw.recv().await;
    assert_eq!(received.header.tid, 100_000);
    assert!(matches!(received.message, Message::ControlRequest(_)));
    // The GW's control response is taken (logged) without an answer, and
    // the session goes on.
    let mut header = gw.header();
    header.tid = 100_000;
    gw.send(Frame::new(
        header,
        gmmp_codec::ControlResponse {
            domain_code: gw.domain,
            gw_id: gw.gw_id,
            device_id: DeviceId::EMPTY,
            control_type: ControlType::STATUS_CHECK,
            result_code: ResultCode::OK,
        },
    ))
    .await;
    assert!(matches!(
        gw.heartbeat().await.message,
        Message::HeartbeatResponse(_)
    ));
    server.stop().await;
}

#[tokio::test]
async fn a_connection_carries_one_gw_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut gw = Client::connect(server.addr, MAC).await;
    gw.register_gw("ThingPlug", "WIZnet").await;
    // Another auth_id on the same connection is refused, nothing registered.
    gw.auth_id = fixed("intruder");
    let refused = gw.register_gw("ThingPlug", "WIZnet").await;
    assert_eq!(rc(&refused), ResultCode::PERMISSION_DENIED);
    assert!(
        gateways::find_by_auth_id(&server.state.db, "intruder")
            .await
            .unwrap()
            .is_none()
    );
    gw.auth_id = fixed(MAC);
    assert_eq!(rc(&gw.deliver(b"mine").await), ResultCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_key_too_long_for_real_clients_is_replaced_at_the_next_registration() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut gw = Client::connect(server.addr, MAC).await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    server.stop().await;
    // A data directory from when keys had 16 characters.
    let long = "SP0123456789abcd";
    let pool = omp_server::store::open(&dir.path().join("omp.sqlite3"))
        .await
        .unwrap();
    sqlx::query("UPDATE gateways SET auth_key = ?")
        .bind(long)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let server = start(dir.path(), |_| {}).await;
    let mut gw = Client::connect(server.addr, MAC).await;
    let reg = gw.register_gw("ThingPlug", "WIZnet").await;
    assert_eq!(rc(&reg), ResultCode::OK);
    let key = reg.header.auth_key.to_string();
    assert_eq!(key.len(), 15, "{key}");
    assert_ne!(key, long);
    assert_eq!(rc(&gw.deliver(b"after").await), ResultCode::OK);
    let stored = gateways::find_by_auth_id(&server.state.db, MAC)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.auth_key, key, "the new key is stored");
    // The old key no longer authenticates.
    let mut old = Client::connect(server.addr, MAC).await;
    old.key = FixedStr::new("auth_key", long).unwrap();
    old.gw_id = gw.gw_id;
    assert_eq!(
        rc(&old.deliver(b"old key").await),
        ResultCode::PERMISSION_DENIED
    );
    // Registering again keeps the short key.
    let again = gw.register_gw("ThingPlug", "WIZnet").await;
    assert_eq!(again.header.auth_key.to_string(), key);
    server.stop().await;
}
