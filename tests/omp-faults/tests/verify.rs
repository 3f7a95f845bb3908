//! The checker itself must catch what it claims to: a database built by
//! hand with one of each fault, checked against a hand-made ledger.

use bytes::Bytes;
use omp_faults::ledger::{GatewayLedger, SeqRecord};
use omp_faults::payload::{self, PayloadId};
use omp_faults::verify::{Store, verify};
use omp_server::store::Conn;
use omp_server::store::Db;
use omp_server::store::deliveries::{DeliveryRow, insert_batch};
use sqlx::Acquire;
use test_support::postgres::TestDatabase;

fn row(gw_id: &str, payload: Bytes) -> DeliveryRow {
    DeliveryRow {
        gw_id: gw_id.into(),
        device_id: String::new(),
        report_type: 1,
        media_type: 1,
        tid: 0,
        origin_timestamp: 0,
        received_at: 0,
        encryption_flag: 2,
        payload,
        keyed: false,
    }
}

fn p(gateway: u32, seq: u64) -> Bytes {
    payload::build(PayloadId { gateway, seq }, payload::Size::Single)
}

fn rec(attempts: u32, unanswered: u32, error_rcs: u32, acked: bool) -> SeqRecord {
    SeqRecord {
        attempts,
        unanswered,
        error_rcs,
        acked,
    }
}

#[tokio::test]
async fn every_kind_of_fault_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("omp.sqlite3");
    let pool = omp_server::store::open(&db).await.unwrap();
    every_kind_of_fault_is_counted_in(Db::Sqlite(pool), Store::Sqlite(db)).await;
}

/// The same database on PostgreSQL, read back through `--database-url`'s
/// path of the checker (its integrity is `ok` once the rows read).
#[tokio::test]
async fn every_kind_of_fault_is_counted_on_postgres() {
    let Some(database) = TestDatabase::create("verify_every_kind_of_fault").await else {
        return;
    };
    let (pool, _) = omp_server::store::postgres::open(&database.url)
        .await
        .unwrap();
    every_kind_of_fault_is_counted_in(Db::Postgres(pool), Store::Postgres(database.url.clone()))
        .await;
}

/// Stores one row of each fault in `db` with the OMP's own insert, then
/// checks `store` (the same database) against a hand-made ledger.
async fn every_kind_of_fault_is_counted_in(db: Db, store: Store) {
    let mut ledger = GatewayLedger::new(0);
    ledger.gw_ids.insert("SC1".into());
    ledger.seqs = vec![
        rec(1, 0, 0, true),  // 0: stored once: fine
        rec(1, 0, 0, true),  // 1: missing: lost
        rec(1, 0, 0, true),  // 2: stored twice from one send: duplicated
        rec(2, 1, 0, true),  // 3: stored twice, one send died unanswered: retry duplicate
        rec(1, 1, 0, false), // 4: stored, never acknowledged: allowed
        rec(2, 0, 1, true),  // 5: stored twice, one send answered an error: false error
        rec(1, 0, 0, true),  // 6: bytes changed: corrupt
        rec(1, 0, 0, true),  // 7: stored under another GW ID
    ];
    let mut corrupt = p(0, 6).to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let rows = vec![
        row("SC1", p(0, 0)),
        row("SC1", p(0, 2)),
        row("SC1", p(0, 2)),
        row("SC1", p(0, 3)),
        row("SC1", p(0, 3)),
        row("SC1", p(0, 4)),
        row("SC1", p(0, 5)),
        row("SC1", p(0, 5)),
        row("SC1", Bytes::from(corrupt)),
        row("SC2", p(0, 7)),
        row("SC1", Bytes::from_static(b"WizFi310 test data")),
        row("SC1", p(0, 99)),
        row("SC1", p(5, 0)),
    ];
    let mut tx = db.begin_write().await.unwrap();
    insert_batch(&mut tx.conn(), &rows).await.unwrap();
    tx.commit().await.unwrap();
    db.close().await;

    let v = verify(&store, &[ledger]).await.unwrap();
    assert_eq!(v.rows, 13);
    assert_eq!(v.acked, 7);
    assert_eq!(v.lost, 1);
    assert_eq!(v.duplicated, 1);
    assert_eq!(v.retry_duplicates, 1);
    assert_eq!(v.stored_unacked, 1);
    assert_eq!(v.stored_despite_error, 1);
    assert_eq!(v.corrupt, 1);
    assert_eq!(v.wrong_gw, 1);
    assert_eq!(v.foreign, 3, "foreign text, unknown seq, unknown gateway");
    assert_eq!(v.integrity, "ok");
    assert_eq!(v.violations().len(), 5, "{:?}", v.violations());
}

#[tokio::test]
async fn a_clean_database_has_no_violation() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("omp.sqlite3");
    let pool = omp_server::store::open(&db).await.unwrap();
    let mut ledger = GatewayLedger::new(3);
    ledger.gw_ids.insert("SC9".into());
    ledger.seqs = vec![rec(1, 0, 0, true); 3];
    let rows: Vec<DeliveryRow> = (0..3).map(|s| row("SC9", p(3, s))).collect();
    let mut conn = pool.acquire().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    insert_batch(&mut Conn::from(&mut *tx), &rows)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    drop(conn);
    pool.close().await;

    let v = verify(&Store::Sqlite(db), &[ledger]).await.unwrap();
    assert_eq!(v.acked, 3);
    assert!(v.violations().is_empty(), "{:?}", v.violations());
}
