//! `sqlite-ceiling`: how fast SQLite commits rows of the OMP's deliveries
//! shape on this machine, the bound any OMP that stores before it
//! acknowledges cannot beat.
//!
//! The table is the OMP's `deliveries` as `migrations/sqlite/0001_initial.sql`
//! creates it (GW ID text, device ID `''` for the GW, report type, media
//! type, T-ID, origin timestamp, received-at in ms, encryption flag,
//! payload BLOB; index on (gw_id, id)), in WAL with `synchronous=FULL`, in
//! a fresh directory. Rows go in batches (default 1,000 per transaction)
//! over 1,000 random GW IDs, two ways:
//! - `per_row`: BEGIN, one prepared INSERT per row, COMMIT;
//! - `multi_row`: BEGIN, INSERT … VALUES (…), (…), … of
//!   `--rows-per-statement` rows (default 100, what the OMP's writer uses),
//!   COMMIT.
//!
//! Through sqlx, the driver the OMP uses, so the figure includes the same
//! per-statement cost. `rows_per_sec` is the better of the two.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite, SqliteConnection};

use crate::error::BenchError;
use test_support::gmmp_client::payload_of;
use test_support::report::Report;

/// The deliveries table as migrations/sqlite/0001_initial.sql creates it.
pub const SCHEMA: &str = "
CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY,
    gw_id            TEXT NOT NULL,
    device_id        TEXT NOT NULL,
    report_type      INTEGER NOT NULL,
    media_type       INTEGER NOT NULL,
    tid              INTEGER NOT NULL,
    origin_timestamp INTEGER NOT NULL,
    received_at      INTEGER NOT NULL,
    encryption_flag  INTEGER NOT NULL,
    payload          BLOB NOT NULL
);
CREATE INDEX deliveries_gw_id ON deliveries (gw_id, id);
";

/// Bound parameters per row.
const COLUMNS: usize = 9;
/// SQLite's default limit on bound parameters in one statement.
const MAX_PARAMS: usize = 32_766;

/// What `sqlite-ceiling` needs.
#[derive(Debug, Clone)]
pub struct SqliteCeilingOptions {
    /// Rows per method at most.
    pub rows: u64,
    /// Rows per transaction.
    pub batch: usize,
    /// Distinct GW IDs.
    pub gateways: usize,
    /// Payload bytes.
    pub payload_size: usize,
    /// Rows per INSERT statement of the multi-row method.
    pub rows_per_statement: usize,
    /// Time per method at most.
    pub duration: Duration,
    /// Where to put the databases (default: a temp dir, removed after).
    pub dir: Option<PathBuf>,
}

/// Runs both methods and reports rows/s.
pub async fn run(opts: &SqliteCeilingOptions) -> Result<Report, BenchError> {
    if opts.batch == 0 || opts.gateways == 0 {
        return Err(BenchError::Config {
            option: "--batch/--gateways",
            detail: "must be at least 1".into(),
        });
    }
    let dir = ScratchDir::new(opts.dir.as_deref())?;
    let mut report = Report::new("sqlite-ceiling");
    report
        .set("batch", opts.batch)
        .set("gateways", opts.gateways)
        .set("payload_bytes", opts.payload_size)
        .set("rows_per_statement", opts.rows_per_statement);
    let mut best = 0.0f64;
    for method in [Method::PerRow, Method::MultiRow] {
        let path = dir.path().join(format!("{}.db", method.name()));
        let (rows, elapsed) = insert(&path, method, opts).await?;
        let rate = rows as f64 / elapsed.as_secs_f64().max(1e-9);
        best = best.max(rate);
        report.set(format!("{}_rows", method.name()), rows).set_f64(
            format!("{}_rows_per_sec", method.name()),
            rate,
            1,
        );
    }
    report.set_f64("rows_per_sec", best, 1);
    Ok(report)
}

#[derive(Debug, Clone, Copy)]
enum Method {
    PerRow,
    MultiRow,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::PerRow => "per_row",
            Method::MultiRow => "multi_row",
        }
    }
}

/// Inserts into a fresh database at `path`; returns rows committed and the
/// time taken.
async fn insert(
    path: &Path,
    method: Method,
    opts: &SqliteCeilingOptions,
) -> Result<(u64, Duration), BenchError> {
    let db_err = |source| BenchError::Db {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await
        .map_err(db_err)?;
    sqlx::raw_sql(SCHEMA)
        .execute(&mut conn)
        .await
        .map_err(db_err)?;
    let gw_ids: Vec<String> = (0..opts.gateways).map(|i| format!("SC{i:08}")).collect();
    let payload = payload_of(opts.payload_size).to_vec();
    let mut rng = fastrand::Rng::with_seed(7);
    let start = Instant::now();
    let deadline = start + opts.duration;
    let mut rows = 0u64;
    while rows < opts.rows && Instant::now() < deadline {
        let n = (opts.batch as u64).min(opts.rows - rows) as usize;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let batch: Vec<Row> = (0..n)
            .map(|i| Row {
                gw_id: &gw_ids[rng.usize(..gw_ids.len())],
                tid: ((rows + i as u64) % 100_000) as i64,
                origin: now.as_secs() as i64,
                received: now.as_millis() as i64,
            })
            .collect();
        match method {
            Method::PerRow => per_row(&mut conn, &batch, &payload).await,
            Method::MultiRow => {
                multi_row(&mut conn, &batch, &payload, opts.rows_per_statement).await
            }
        }
        .map_err(db_err)?;
        rows += n as u64;
    }
    let elapsed = start.elapsed();
    conn.close().await.map_err(db_err)?;
    Ok((rows, elapsed))
}

struct Row<'a> {
    gw_id: &'a str,
    tid: i64,
    origin: i64,
    received: i64,
}

async fn per_row(
    conn: &mut SqliteConnection,
    batch: &[Row<'_>],
    payload: &[u8],
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    for row in batch {
        sqlx::query(
            "INSERT INTO deliveries (gw_id, device_id, report_type, media_type, tid, \
             origin_timestamp, received_at, encryption_flag, payload) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(row.gw_id)
        .bind("")
        .bind(1i64)
        .bind(1i64)
        .bind(row.tid)
        .bind(row.origin)
        .bind(row.received)
        .bind(2i64)
        .bind(payload)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

async fn multi_row(
    conn: &mut SqliteConnection,
    batch: &[Row<'_>],
    payload: &[u8],
    rows_per_statement: usize,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    for chunk in batch.chunks(rows_per_statement.clamp(1, MAX_PARAMS / COLUMNS)) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO deliveries (gw_id, device_id, report_type, media_type, tid, \
             origin_timestamp, received_at, encryption_flag, payload) ",
        );
        q.push_values(chunk, |mut b, row| {
            b.push_bind(row.gw_id)
                .push_bind("")
                .push_bind(1i64)
                .push_bind(1i64)
                .push_bind(row.tid)
                .push_bind(row.origin)
                .push_bind(row.received)
                .push_bind(2i64)
                .push_bind(payload);
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// A directory for the databases: under `parent` if given, else in the
/// system temp dir; removed (with its content) when dropped.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates a fresh directory.
    pub fn new(parent: Option<&Path>) -> Result<Self, BenchError> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = parent.join(format!("gmmp-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|e| BenchError::io(format!("create {}", path.display()), e))?;
        Ok(ScratchDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
