//! Retention at the store, with the writer alone: deliveries keep coming
//! while batches remove the old ones, and the database file stops growing
//! once the retained window is full (SQLite reuses the freed pages).
//!
//! Time is the test's own: each round's rows carry the round number as
//! their receive time, and each round removes what is older than the
//! last `KEPT` rounds, so the outcome does not depend on the machine's
//! speed. The sizes are printed (`--nocapture`) for BENCHMARKS.md.

mod common;

use std::path::Path;

use omp_server::store::deliveries::DeliveryRow;
use omp_server::store::retention::{Kind, Purge};

const ROUNDS: i64 = 30;
const ROWS_PER_ROUND: usize = 500;
const KEPT: i64 = 3;

fn row(round: i64, i: usize) -> DeliveryRow {
    DeliveryRow {
        gw_id: "SC10010001".into(),
        device_id: String::new(),
        report_type: 1,
        media_type: 1,
        tid: i as u32,
        origin_timestamp: 0,
        received_at: round,
        encryption_flag: 2,
        payload: bytes::Bytes::from(vec![0x5a; 512]),
        keyed: false,
    }
}

fn file_size(dir: &Path) -> u64 {
    ["omp.sqlite3", "omp.sqlite3-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test]
async fn the_file_stays_flat_once_the_window_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::start_writer(dir.path(), 1024, 256).await;
    let mut sizes = Vec::new();
    let mut removed = 0;
    for round in 0..ROUNDS {
        let mut pending = Vec::new();
        for i in 0..ROWS_PER_ROUND {
            pending.push(w.handle.submit(row(round, i)).unwrap());
            if pending.len() == 256 {
                for p in pending.drain(..) {
                    p.await.unwrap().unwrap();
                }
            }
        }
        for p in pending {
            p.await.unwrap().unwrap();
        }
        for kind in [Kind::Deliveries, Kind::Events] {
            loop {
                let n = w
                    .handle
                    .purge(Purge {
                        kind,
                        cutoff_ms: round - KEPT + 1,
                        batch: 100,
                    })
                    .await
                    .unwrap();
                if n == 0 {
                    break;
                }
                removed += n;
            }
        }
        sizes.push(file_size(dir.path()));
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert_eq!(rows, KEPT * ROWS_PER_ROUND as i64, "the window holds");
    assert_eq!(
        removed,
        2 * ((ROUNDS - KEPT) * ROWS_PER_ROUND as i64) as u64,
        "each removed delivery took its event with the events period"
    );
    let full = sizes[(2 * KEPT) as usize];
    let last = *sizes.last().unwrap();
    println!(
        "retention file size: {} rows/round, {KEPT} rounds kept, {ROUNDS} rounds; \
         after round {}: {full} bytes, after round {ROUNDS}: {last} bytes; all: {sizes:?}",
        ROWS_PER_ROUND,
        2 * KEPT + 1
    );
    // Without retention the file would be ten times the window by now.
    assert!(
        last <= full * 2,
        "the file kept growing: {full} → {last} bytes ({sizes:?})"
    );
    w.stop().await;
}

#[tokio::test]
async fn an_emptied_outbox_keeps_its_head_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let w = common::start_writer(dir.path(), 64, 64).await;
    for tid in 1..=3 {
        w.handle
            .submit(row(0, tid))
            .unwrap()
            .await
            .unwrap()
            .unwrap();
    }
    let head = w.handle.events().head();
    assert_eq!(head, 3);
    let removed = w
        .handle
        .purge(Purge {
            kind: Kind::Events,
            cutoff_ms: 1,
            batch: 100,
        })
        .await
        .unwrap();
    assert_eq!(removed, 3);
    w.stop().await;
    let w = common::start_writer(dir.path(), 64, 64).await;
    assert_eq!(w.handle.events().head(), head, "no event id is given twice");
    w.handle.submit(row(5, 9)).unwrap().await.unwrap().unwrap();
    assert_eq!(w.handle.events().head(), head + 1);
    w.stop().await;
}
