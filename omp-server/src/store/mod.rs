//! The store: one file per table, the group-commit [`writer`], on SQLite
//! (the embedded default, this file) or PostgreSQL ([`postgres`]), both
//! behind the seam of [`db`].
//!
//! Reads and the rare writes (registration, provisioning, encryption key)
//! go through the pool of a [`Db`]; deliveries, the hot path, go only
//! through the single writer task, which owns its own [`Connection`].
//! SQLite runs in WAL mode with `synchronous=FULL`: a commit is on disk
//! (survives power loss) before it returns, and group commit makes that
//! affordable. PostgreSQL commits as its server is configured (durable
//! with its defaults).
//!
//! Every write transaction starts with [`Db::begin_write`]: on SQLite
//! `BEGIN IMMEDIATE` — a deferred transaction that reads first and writes
//! later cannot wait for the lock in WAL mode (SQLITE_BUSY_SNAPSHOT once
//! the writer has committed in between), whereas IMMEDIATE takes the write
//! lock up front and honours `busy_timeout` — and on PostgreSQL a
//! transaction holding the store's advisory write lock.

use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection as _, migrate::Migrator};

use crate::error::StoreError;

pub mod controls;
pub mod db;
pub mod deliveries;
pub mod devices;
pub mod events;
pub mod gateways;
pub mod mqtt_controls;
pub mod mqtt_datapoints;
pub mod mqtt_messages;
pub mod mqtt_presence;
pub mod mqtt_provisioning;
pub mod postgres;
pub mod profiles;
pub mod provisioning;
pub mod retention;
pub mod revocations;
pub mod splits;
pub mod webhooks;
pub mod writer;

pub use db::{Backend, Conn, Connection, Db, Tx};

/// The migrations in the top-level `migrations/sqlite/` folder, embedded at build
/// time (no database is needed to build).
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");

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
        // Statement journals (kept while a multi-row INSERT runs inside
        // the writer's transaction, to undo just that statement) spill to
        // a temporary file past 64 KiB; in memory they cost no write().
        // They are not part of durability: the WAL is.
        .pragma("temp_store", "memory")
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
    check_writable(path)?;
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        // A connection handed back inside a transaction is closed, not
        // reused: after a failed commit on a full disk SQLite has rolled
        // back by itself, sqlx's ROLLBACK fails, and sqlx would refuse
        // every later BEGIN on that connection for good.
        .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .connect_with(options(path))
        .await
        .map_err(|source| cannot_open(path, source))?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// SQLite's result code SQLITE_CANTOPEN.
const SQLITE_CANTOPEN: &str = "14";

/// Checks that this user can open the database file at `path` and its
/// companions for writing: SQLite would open a read-only file read-only
/// and fail at the first write with "attempt to write a readonly
/// database", and an unreadable one with "unable to open database file",
/// neither naming the file.
fn check_writable(path: &Path) -> Result<(), StoreError> {
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        files.push(companion.into());
    }
    for file in files {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&file)
        {
            Err(source)
                if matches!(
                    source.kind(),
                    ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                return Err(StoreError::FileNotWritable { path: file, source });
            }
            // Missing companions are made by SQLite; other errors are
            // SQLite's to report.
            _ => {}
        }
    }
    Ok(())
}

/// A failed open, naming the file when SQLite's own message does not.
fn cannot_open(path: &Path, source: sqlx::Error) -> StoreError {
    match &source {
        sqlx::Error::Database(e) if e.code().as_deref() == Some(SQLITE_CANTOPEN) => {
            StoreError::CannotOpen {
                path: path.to_path_buf(),
                source,
            }
        }
        _ => StoreError::Sqlx(source),
    }
}

/// Opens a connection of its own to the SQLite database at `path`, with
/// the store's settings (tools and tests; the server's writer and
/// dispatcher take theirs from [`Db::dedicated`]).
pub async fn open_dedicated_connection(path: &Path) -> Result<SqliteConnection, StoreError> {
    options(path)
        .connect()
        .await
        .map_err(|source| cannot_open(path, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn a_read_only_database_file_is_named_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("omp.sqlite3");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o400)).unwrap();
        if std::fs::OpenOptions::new().write(true).open(&db).is_ok() {
            // Root (CAP_DAC_OVERRIDE) writes any file: nothing to refuse.
            eprintln!("skipped: this user writes read-only files");
            return;
        }
        let text = open(&db).await.unwrap_err().to_string();
        assert!(text.contains(&db.display().to_string()), "{text}");
        assert!(text.contains("not writable by this user"), "{text}");
        assert!(text.contains("--data-dir"), "{text}");
    }

    #[tokio::test]
    async fn a_database_sqlite_cannot_open_is_named() {
        // A directory in place of the database file: SQLite's
        // SQLITE_CANTOPEN, whoever runs the test.
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("omp.sqlite3");
        std::fs::create_dir(&db).unwrap();
        let text = open(&db).await.unwrap_err().to_string();
        assert!(text.contains(&db.display().to_string()), "{text}");
        assert!(text.contains("--data-dir"), "{text}");
    }
}
