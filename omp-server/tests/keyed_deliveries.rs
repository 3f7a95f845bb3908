//! Keyed deliveries (`gmmp_codec::KEYED_DELIVERY`, this project's
//! extension): a resend of a stored keyed delivery is answered STATUS_OK
//! and not stored again — across connections, restarts and the writer's
//! batches — while unkeyed deliveries (every real module's) are stored
//! each time, whatever their T-IDs.

mod common;

use std::sync::atomic::Ordering;

use common::{Client, GUARD, delivery_row, rc, start, start_writer};
use gmmp_codec::{DeviceId, Frame, Header, ResultCode, split};
use omp_server::store::deliveries;
use omp_server::store::writer::Committed;

const MAC: &str = "0008dc1e3222";
/// The spool time an agent would stamp: fixed per delivery.
const SPOOLED_AT: u32 = 1_795_000_000;

/// A keyed delivery frame with T-ID `tid`, as a keyed sender builds it.
fn keyed(gw: &Client, tid: u32, payload: &[u8]) -> Frame {
    let header = Header::new(gw.auth_id, gw.key, tid)
        .with_encryption_flag(0x02)
        .with_timestamp(SPOOLED_AT)
        .keyed();
    Frame::new(header, gw.delivery(DeviceId::EMPTY, payload))
}

async fn send_expect_ok(gw: &mut Client, frame: Frame) {
    let tid = frame.header.tid;
    gw.send(frame).await;
    let rsp = gw.recv().await;
    assert_eq!((rsp.header.tid, rc(&rsp)), (tid, ResultCode::OK));
}

async fn stored_payloads(server: &common::TestServer, gw: &Client) -> Vec<Vec<u8>> {
    let mut rows = deliveries::latest(&server.state.db, &gw.gw_id.to_string(), 100)
        .await
        .unwrap();
    rows.reverse();
    rows.into_iter().map(|r| r.payload).collect()
}

#[tokio::test]
async fn a_keyed_resend_is_acknowledged_and_stored_once_across_connections_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut gw = Client::connect(server.addr, MAC).await;
    gw.register_gw("ThingPlug", "WIZnet").await;

    let frame = keyed(&gw, 7, b"reading 7");
    send_expect_ok(&mut gw, frame).await;
    // The STATUS_OK was "lost": the sender re-sends on the same connection …
    let frame = keyed(&gw, 7, b"reading 7");
    send_expect_ok(&mut gw, frame).await;
    // … and on a new one.
    let mut again = Client::connect(server.addr, MAC).await;
    (again.domain, again.gw_id, again.key) = (gw.domain, gw.gw_id, gw.key);
    let frame = keyed(&again, 7, b"reading 7");
    send_expect_ok(&mut again, frame).await;
    // Same key, other payload: a different delivery, stored.
    let frame = keyed(&again, 7, b"reading 7b");
    send_expect_ok(&mut again, frame).await;
    // Unkeyed deliveries are stored every time, T-IDs repeated or not.
    for _ in 0..2 {
        let frame = Frame::new(
            Header::new(again.auth_id, again.key, 7)
                .with_encryption_flag(0x02)
                .with_timestamp(SPOOLED_AT),
            again.delivery(DeviceId::EMPTY, b"reading 7"),
        );
        send_expect_ok(&mut again, frame).await;
    }
    assert_eq!(
        stored_payloads(&server, &gw).await,
        vec![
            b"reading 7".to_vec(),
            b"reading 7b".to_vec(),
            b"reading 7".to_vec(),
            b"reading 7".to_vec()
        ]
    );
    let metrics = &server.state.metrics;
    assert_eq!(metrics.deliveries_already_stored.load(Ordering::Relaxed), 2);
    assert_eq!(metrics.deliveries_ok.load(Ordering::Relaxed), 4);
    server.stop().await;

    // After a restart the stored key is still found.
    let server = start(dir.path(), |_| {}).await;
    let mut after = Client::connect(server.addr, MAC).await;
    (after.domain, after.gw_id, after.key) = (gw.domain, gw.gw_id, gw.key);
    let frame = keyed(&after, 7, b"reading 7");
    send_expect_ok(&mut after, frame).await;
    assert_eq!(stored_payloads(&server, &gw).await.len(), 4);
    assert_eq!(
        server
            .state
            .metrics
            .deliveries_already_stored
            .load(Ordering::Relaxed),
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn a_split_keyed_delivery_sent_twice_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut gw = Client::connect(server.addr, MAC).await;
    gw.register_gw("ThingPlug", "WIZnet").await;
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    for _ in 0..2 {
        let parts = split(&keyed(&gw, 42, &payload)).unwrap();
        assert_eq!(parts.len(), 3);
        for part in parts {
            assert!(part.header.is_keyed(), "every part carries the mark");
            send_expect_ok(&mut gw, part).await;
        }
    }
    assert_eq!(stored_payloads(&server, &gw).await, vec![payload]);
    server.stop().await;
}

/// A resend can reach the writer before its original (the original still
/// queued from a connection that died): whichever comes first is stored,
/// the other acknowledged — within one batch as across batches.
#[tokio::test]
async fn copies_in_one_writer_batch_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let w = start_writer(dir.path(), 16, 16).await;
    let row = |tid, keyed| delivery_row(tid, SPOOLED_AT, keyed, b"a");
    // Submitted while the writer is held: it takes them as one batch.
    let hold = w.hold().await;
    let submitted = [
        row(1, true),
        row(1, true),
        row(1, false),
        row(2, true),
        row(1, true),
    ]
    .map(|r| w.handle.submit(r).unwrap());
    hold.release().await;
    let mut outcomes = Vec::new();
    for rx in submitted {
        outcomes.push(
            tokio::time::timeout(GUARD, rx)
                .await
                .unwrap()
                .unwrap()
                .unwrap(),
        );
    }
    use Committed::{AlreadyStored, Stored};
    assert_eq!(
        outcomes,
        vec![Stored, AlreadyStored, Stored, Stored, AlreadyStored]
    );
    // And a later batch finds it in the table.
    let later = w.handle.submit(row(2, true)).unwrap();
    assert_eq!(
        tokio::time::timeout(GUARD, later)
            .await
            .unwrap()
            .unwrap()
            .unwrap(),
        AlreadyStored
    );
    let rows = deliveries::latest(
        &omp_server::store::Db::from(w.pool.clone()),
        "SC10010001",
        10,
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);
    w.stop().await;
}
