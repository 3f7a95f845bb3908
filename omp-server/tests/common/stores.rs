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
//!
//! What no store function does, a test does in raw SQL on either
//! backend: [`exec`], [`exec_with`] (with parameters) and [`count`].

use omp_server::on_db;
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

/// Runs `sql` on whichever backend `db` is: test set-up that no store
/// function does (test constants only, no parameters).
pub async fn exec(db: &Db, sql: &str) {
    exec_with(db, sql, &[]).await;
}

/// Runs `sql` with `binds` bound in order (`$1`, `$2`, … on both).
pub async fn exec_with(db: &Db, sql: &str, binds: &[i64]) {
    on_db!(db, pool => {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
        for b in binds {
            q = q.bind(*b);
        }
        q.execute(pool).await.map(drop)
    })
    .unwrap_or_else(|e| panic!("{sql} on {}: {e}", db.backend()));
}

/// The one BIGINT `sql` selects.
pub async fn count(db: &Db, sql: &str) -> i64 {
    on_db!(db, pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await)
    .unwrap_or_else(|e| panic!("{sql} on {}: {e}", db.backend()))
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
