//! Counting rows in the OMP's SQLite database.
//!
//! sqlx (the workspace's SQLite driver, the one the OMP uses) rather than
//! rusqlite: both link `libsqlite3-sys`, which Cargo allows only once per
//! workspace, so a second driver would tie the bench to whatever version
//! sqlx pins. The file is opened read-only and never created, so the bench
//! cannot disturb the OMP's database; in WAL mode a reader sees every
//! committed row and does not block the writer.

use std::path::Path;

use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use crate::error::BenchError;

/// Counts the rows of `table` in the SQLite file at `path`.
pub async fn count_rows(path: &Path, table: &str) -> Result<i64, BenchError> {
    if table.is_empty() || !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(BenchError::Config {
            option: "--check-table",
            detail: format!("{table:?} is not a plain table name"),
        });
    }
    let db_err = |source| BenchError::Db {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        .connect()
        .await
        .map_err(db_err)?;
    // The table name was checked to be a plain identifier above.
    let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
    let count: i64 = sqlx::query_scalar(sql)
        .fetch_one(&mut conn)
        .await
        .map_err(db_err)?;
    Ok(count)
}
