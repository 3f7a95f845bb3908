//! `ingest` with split deliveries against the real omp-server (in this
//! process): both T-ID forms of the parts, every acknowledged delivery one
//! row, byte-exact, under its first part's T-ID.

mod real_omp;

use std::time::Duration;

use gmmp_bench::scenario::ingest::{self, IngestOptions};
use serde_json::Value;
use test_support::gmmp_client::PartTids;
use test_support::gmmp_client::payload_of;

/// Generous guard against a hang; never a performance assertion.
const GUARD: Duration = Duration::from_secs(60);
/// Three parts: 2048 + 2048 + 904 bytes.
const PAYLOAD: usize = 5000;
const DELIVERIES: u64 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_deliveries_are_one_row_each_whichever_way_their_parts_number_tids() {
    let real = real_omp::start(|_| {}).await;
    let omp = &real.server;
    let db_path = real.db_path.clone();

    for (form, prefix, step) in [
        (PartTids::Same, "same", 1),
        (PartTids::PerPart, "perpart", 3),
    ] {
        let opts = IngestOptions {
            target: omp.gmmp_addr,
            gateways: 2,
            payload_size: PAYLOAD,
            in_flight: 2,
            duration: GUARD,
            max_deliveries: Some(DELIVERIES),
            check_db: Some(db_path.clone()),
            check_table: "deliveries".into(),
            server_pid: None,
            auth_prefix: prefix.into(),
            connect_concurrency: 2,
            keyed: false,
            part_tids: form,
        };
        let outcome = tokio::time::timeout(GUARD, ingest::run(&opts))
            .await
            .unwrap()
            .unwrap();
        let r = &outcome.report;
        assert!(outcome.check_failure.is_none(), "{form:?}: {r}");
        assert_eq!(outcome.acknowledged, DELIVERIES, "{form:?}: {r}");
        assert_eq!(r.get("parts_per_delivery"), Some(&Value::from(3)), "{r}");
        assert_eq!(
            r.get("result_codes"),
            Some(&Value::from(format!("0x00:{}", 3 * DELIVERIES))),
            "every part answered rc 0: {r}"
        );

        // Each gateway's rows: the whole payload, under the first part's
        // T-ID (registration took T-ID 0, the deliveries count on from 1).
        for gw_id in &outcome.gw_ids {
            let rows: Vec<(i64, Vec<u8>)> =
                sqlx::query_as("SELECT tid, payload FROM deliveries WHERE gw_id = ? ORDER BY id")
                    .bind(gw_id)
                    .fetch_all(omp.state.db.as_sqlite().expect("a SQLite store"))
                    .await
                    .unwrap();
            for (i, (tid, payload)) in rows.iter().enumerate() {
                assert_eq!(*tid, 1 + step * i as i64, "{form:?} {gw_id}: {rows:?}");
                assert!(payload[..] == payload_of(PAYLOAD)[..], "{form:?} {gw_id}");
            }
        }
    }
    real.stop().await;
}
