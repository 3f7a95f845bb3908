//! The SQLite store: one file per table, and the group-commit [`writer`].
//!
//! Reads and the rare writes (registration, provisioning, encryption key)
//! go through a [`SqlitePool`]; deliveries, the hot path, go only through
//! the single writer task, which owns its own connection. SQLite runs in
//! WAL mode with `synchronous=FULL`: a commit is on disk (survives power
//! loss) before it returns, and group commit makes that affordable.
//!
//! Every write transaction starts with `BEGIN IMMEDIATE`: a deferred
//! transaction that reads first and writes later cannot wait for the lock
//! in WAL mode (SQLITE_BUSY_SNAPSHOT once the writer has committed in
//! between), whereas IMMEDIATE takes the write lock up front and honours
//! `busy_timeout`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, migrate::Migrator};

use crate::error::StoreError;

pub mod controls;
pub mod deliveries;
pub mod devices;
pub mod gateways;
pub mod mqtt_controls;
pub mod mqtt_datapoints;
pub mod mqtt_messages;
pub mod mqtt_presence;
pub mod mqtt_provisioning;
pub mod profiles;
pub mod provisioning;
pub mod revocations;
pub mod splits;
pub mod writer;

/// The migrations in the top-level `migrations/` folder, embedded at build
/// time (no database is needed to build).
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Unix milliseconds now.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        // 32 MiB of page cache per connection (SQLite's default is 2 MiB):
        // the deliveries index takes inserts all over its pages, and a miss
        // is a read() of the file under the write lock.
        .pragma("cache_size", "-32768")
}

/// Opens (creating if missing) the database at `path` and applies the
/// migrations. A new database file is made with mode 0600 before SQLite
/// opens it: it holds the gateways' auth keys, and SQLite gives its
/// `-wal` and `-shm` files the same permissions.
pub async fn open(path: &Path) -> Result<SqlitePool, StoreError> {
    crate::file_modes::create_private_file(path).map_err(|source| StoreError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        // A connection handed back inside a transaction is closed, not
        // reused: after a failed commit on a full disk SQLite has rolled
        // back by itself, sqlx's ROLLBACK fails, and sqlx would refuse
        // every later BEGIN on that connection for good.
        .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .connect_with(options(path))
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Opens a dedicated connection to the database at `path` (the delivery
/// writer and the control dispatcher each own one, so neither waits for
/// the shared pool).
pub async fn open_dedicated_connection(path: &Path) -> Result<SqliteConnection, StoreError> {
    Ok(options(path).connect().await?)
}

/// Fails when the database does not answer a trivial query (the health
/// check).
pub async fn ping(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}
