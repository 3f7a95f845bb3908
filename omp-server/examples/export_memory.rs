//! Peak memory of an export against the number of rows: stores N
//! deliveries in a fresh database, then exports them as CSV to a sink
//! and prints the process's peak RSS (`VmHWM`, Linux) before and after.
//!
//! ```text
//! cargo run --release -p omp-server --example export_memory -- 100000 1000000
//! ```

use omp_server::export::{self, Format, Selection};
use omp_server::store::{self, deliveries, deliveries::DeliveryRow};

/// Peak resident set size in KiB (0 where /proc is missing).
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let sizes: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a row count"))
        .collect();
    for n in if sizes.is_empty() {
        vec![100_000]
    } else {
        sizes
    } {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("omp.sqlite3");
        let pool = store::open(&path).await.expect("the store");
        let mut conn = store::open_dedicated_connection(&path)
            .await
            .expect("a connection");
        for start in (0..n).step_by(10_000) {
            let rows: Vec<DeliveryRow> = (start..n.min(start + 10_000))
                .map(|i| DeliveryRow {
                    gw_id: "SC10010001".into(),
                    device_id: String::new(),
                    report_type: 1,
                    media_type: 1,
                    tid: i,
                    origin_timestamp: 0,
                    received_at: i64::from(i),
                    encryption_flag: 2,
                    payload: vec![b'x'; 64].into(),
                    keyed: false,
                })
                .collect();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .expect("BEGIN");
            deliveries::insert_batch(&mut omp_server::store::Conn::from(&mut conn), &rows)
                .await
                .expect("insert");
            sqlx::query("COMMIT")
                .execute(&mut conn)
                .await
                .expect("COMMIT");
        }
        let before = peak_kib();
        let started = std::time::Instant::now();
        let selection = Selection {
            gw_id: "SC10010001".into(),
            filter: Default::default(),
        };
        let bytes = export::write(
            pool.clone().into(),
            selection,
            Format::Csv,
            &mut std::io::sink(),
        )
        .await
        .expect("the export");
        println!(
            "rows {n}: {bytes} bytes in {:.2} s; peak RSS {before} KiB before the export, {} KiB after",
            started.elapsed().as_secs_f64(),
            peak_kib()
        );
    }
}
