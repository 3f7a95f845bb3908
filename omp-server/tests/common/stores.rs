//! A store of each backend for one test: SQLite in a temporary
//! directory, and PostgreSQL on a database of its own
//! (`test_support::postgres`: skipped with the reason printed when no
//! PostgreSQL can be had, unless `CI=true`, where it fails).
//!
//! A store test runs its body once per store:
//!
//! ```ignore
//! for store in common::stores::each("devices_register").await {
//!     let db = &store.db;
//!     // … assertions, with `store.backend()` in messages
//! }
//! ```

use omp_server::store::{Backend, Db};
use test_support::postgres::TestDatabase;

/// One migrated, empty store, and what keeps it alive.
pub struct TestStore {
    /// The pool.
    pub db: Db,
    /// The SQLite file (for a dedicated connection), when on SQLite.
    pub sqlite_path: Option<std::path::PathBuf>,
    /// The PostgreSQL URL, when on PostgreSQL.
    pub postgres_url: Option<String>,
    _dir: Option<tempfile::TempDir>,
    _database: Option<TestDatabase>,
}

impl TestStore {
    /// The backend, for assertion messages.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// A connection of its own (what the writer and the dispatcher own).
    pub async fn dedicated(&self) -> omp_server::store::Connection {
        self.db.dedicated().await.expect("a dedicated connection")
    }
}

/// A fresh SQLite store.
pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("omp.sqlite3");
    let pool = omp_server::store::open(&path).await.expect("open SQLite");
    TestStore {
        db: Db::from(pool),
        sqlite_path: Some(path),
        postgres_url: None,
        _dir: Some(dir),
        _database: None,
    }
}

/// A fresh PostgreSQL store, or `None` where none can be had (printed).
pub async fn postgres(test: &str) -> Option<TestStore> {
    let database = TestDatabase::create(test).await?;
    let (pool, _) = omp_server::store::postgres::open(&database.url)
        .await
        .expect("open PostgreSQL");
    Some(TestStore {
        db: Db::from(pool),
        sqlite_path: None,
        postgres_url: Some(database.url.clone()),
        _dir: None,
        _database: Some(database),
    })
}

/// SQLite, then PostgreSQL where it can be had.
pub async fn each(test: &str) -> Vec<TestStore> {
    let mut stores = vec![sqlite().await];
    stores.extend(postgres(test).await);
    stores
}

/// Ends every other connection to the database at `url`, as a
/// PostgreSQL restart does to a server's connections.
pub async fn cut_connections(url: &str) {
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
