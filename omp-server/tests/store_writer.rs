//! The group-commit writer on each backend: deliveries acknowledged only
//! once committed, keyed resends stored once, and on PostgreSQL a lost
//! connection (the server restarted, the backend killed) fails the
//! batches in flight, acknowledges nothing of them, and is made again.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use omp_server::store::writer::{self, Committed, WriterHandle};
use omp_server::store::{Db, deliveries};
use tokio_util::sync::CancellationToken;

async fn start(db: &Db) -> (WriterHandle, CancellationToken) {
    let stop = CancellationToken::new();
    let (handle, _task) = writer::spawn(
        db,
        256,
        100,
        gmmp_codec::SplitLimits::default(),
        stop.clone(),
    )
    .await
    .expect("the writer starts");
    (handle, stop)
}

#[tokio::test]
async fn deliveries_are_acknowledged_once_committed_on_each_backend() {
    for store in common::stores::each("writer_deliveries").await {
        let backend = store.backend();
        let (writer, stop) = start(&store.db).await;
        let queued: Vec<_> = (0..50u32)
            .map(|tid| {
                writer
                    .submit(common::delivery_row(tid, 0, false, b"payload"))
                    .unwrap()
            })
            .collect();
        for q in queued {
            assert_eq!(q.await.unwrap().unwrap(), Committed::Stored, "{backend}");
        }
        let stored = deliveries::latest(&store.db, "SC10010001", 100)
            .await
            .unwrap();
        assert_eq!(stored.len(), 50, "{backend}");
        let tids: Vec<i64> = stored.iter().rev().map(|d| d.tid).collect();
        assert_eq!(
            tids,
            (0..50).collect::<Vec<i64>>(),
            "{backend}: commit order"
        );
        assert!(
            stored.iter().all(|d| &d.payload[..] == b"payload"),
            "{backend}"
        );
        assert!(
            writer.events().head() > 0,
            "{backend}: the batch's events announced"
        );
        stop.cancel();
    }
}

#[tokio::test]
async fn a_keyed_resend_is_stored_once_on_each_backend() {
    for store in common::stores::each("writer_keyed").await {
        let backend = store.backend();
        let (writer, stop) = start(&store.db).await;
        let first = writer
            .submit(common::delivery_row(7, 1234, true, b"once"))
            .unwrap();
        assert_eq!(
            first.await.unwrap().unwrap(),
            Committed::Stored,
            "{backend}"
        );
        let again = writer
            .submit(common::delivery_row(7, 1234, true, b"once"))
            .unwrap();
        assert_eq!(
            again.await.unwrap().unwrap(),
            Committed::AlreadyStored,
            "{backend}"
        );
        let stored = deliveries::latest(&store.db, "SC10010001", 10)
            .await
            .unwrap();
        assert_eq!(stored.len(), 1, "{backend}");
        stop.cancel();
    }
}

/// Ends every other connection to the test's database, as a PostgreSQL
/// restart does.
async fn cut_connections(url: &str) {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
}

#[tokio::test]
async fn a_lost_postgres_connection_fails_its_batch_and_is_made_again() {
    let Some(store) = common::stores::postgres("writer_reconnect").await else {
        return;
    };
    let url = store.postgres_url.clone().unwrap();
    let (writer, stop) = start(&store.db).await;
    let mut acknowledged = BTreeSet::new();
    let before = writer
        .submit(common::delivery_row(1, 0, false, b"before"))
        .unwrap();
    assert_eq!(before.await.unwrap().unwrap(), Committed::Stored);
    acknowledged.insert(1i64);

    cut_connections(&url).await;
    let lost = writer
        .submit(common::delivery_row(2, 0, false, b"lost"))
        .unwrap();
    let lost = lost.await.unwrap();
    assert!(
        lost.is_err(),
        "a batch on a dead connection is not acknowledged: {lost:?}"
    );

    // Batches fail (never acknowledged) until the connection is back.
    let deadline = Instant::now() + common::GUARD;
    let mut tid = 3u32;
    let mut refused = 0;
    loop {
        assert!(Instant::now() < deadline, "the writer never came back");
        let q = writer
            .submit(common::delivery_row(tid, 0, false, b"after"))
            .unwrap();
        match q.await.unwrap() {
            Ok(outcome) => {
                assert_eq!(outcome, Committed::Stored);
                acknowledged.insert(i64::from(tid));
                break;
            }
            Err(_) => refused += 1,
        }
        tid += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored: BTreeSet<i64> = deliveries::latest(&store.db, "SC10010001", 1000)
        .await
        .unwrap()
        .iter()
        .map(|d| d.tid)
        .collect();
    assert_eq!(
        stored, acknowledged,
        "exactly the acknowledged deliveries are stored ({refused} refused while reconnecting)"
    );
    stop.cancel();
}
