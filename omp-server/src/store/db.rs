//! The store's one seam between the two backends: a [`Db`] (the pool
//! for reads and the rare writes), a [`Connection`] a task owns (the
//! writer, the dispatcher), a [`Conn`] borrowed from either or from a
//! [`Tx`], and the macros that run one body of sqlx code on whichever
//! backend is behind them.
//!
//! Both schemas give a column the same Rust type (BIGINT for SQLite's
//! INTEGER, BYTEA for BLOB), and both drivers take `$1`-style
//! placeholders, so most queries are written once: [`on_db!`] and
//! [`on_conn!`] expand the same body for SQLite and for PostgreSQL, and
//! the compiler checks it against each. Where the dialects part (JSON
//! arrays, sequences), a store function matches on the backend itself.
//!
//! A write transaction is [`Db::begin_write`] or [`Conn::begin_write`].
//! On SQLite it is `BEGIN IMMEDIATE` (the write lock up front, see the
//! [store](super) doc). On PostgreSQL it also takes one transaction-scoped
//! advisory lock, [`WRITE_LOCK`], so the rare read-then-write
//! transactions (registrations, ID allocation) stay serialised as they are
//! on SQLite's single writer, across every instance on the database.

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{ConnectOptions, Connection as _, Postgres, Sqlite, Transaction};

use crate::error::StoreError;

/// The advisory lock key a PostgreSQL write transaction holds to its end.
/// Any constant works as long as every instance uses the same one.
pub const WRITE_LOCK: i64 = 0x4f4d_505f_5752; // "OMP_WR"

/// Which backend a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: one file in the data directory.
    Sqlite,
    /// A PostgreSQL server, for several instances.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// The pool for reads and the rare writes, on either backend.
#[derive(Debug, Clone)]
pub enum Db {
    /// On SQLite.
    Sqlite(SqlitePool),
    /// On PostgreSQL.
    Postgres(PgPool),
}

impl From<SqlitePool> for Db {
    fn from(pool: SqlitePool) -> Db {
        Db::Sqlite(pool)
    }
}

impl From<PgPool> for Db {
    fn from(pool: PgPool) -> Db {
        Db::Postgres(pool)
    }
}

/// Runs `$body` with `$pool` bound to the backend's pool (`&SqlitePool`
/// or `&PgPool`); the body is compiled once per backend.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the backend's connection
/// (`&mut SqliteConnection` or `&mut PgConnection`), reborrowed from a
/// [`Conn`]; the body is compiled once per backend.
#[macro_export]
macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn.reborrow() {
            $crate::store::Conn::Sqlite($c) => $body,
            $crate::store::Conn::Postgres($c) => $body,
        }
    };
}

impl Db {
    /// Opens the store: the PostgreSQL database at `database_url` when
    /// given, else (creating it if missing) the SQLite file at
    /// `sqlite_path`; migrated either way. Returns what logs should name
    /// it by (the file, or host, port and database without the password).
    pub async fn open(
        database_url: Option<&str>,
        sqlite_path: &std::path::Path,
    ) -> Result<(Db, String), StoreError> {
        match database_url {
            Some(url) => {
                let (pool, target) = super::postgres::open(url).await?;
                Ok((Db::Postgres(pool), format!("postgres://{target}")))
            }
            None => Ok((
                Db::Sqlite(super::open(sqlite_path).await?),
                sqlite_path.display().to_string(),
            )),
        }
    }

    /// The backend behind this pool.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite pool, when that is the backend (file-level work such
    /// as the metrics' file size has no PostgreSQL counterpart).
    pub fn as_sqlite(&self) -> Option<&SqlitePool> {
        match self {
            Db::Sqlite(pool) => Some(pool),
            Db::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, when that is the backend.
    pub fn as_postgres(&self) -> Option<&PgPool> {
        match self {
            Db::Postgres(pool) => Some(pool),
            Db::Sqlite(_) => None,
        }
    }

    /// Starts a write transaction (see the module doc).
    pub async fn begin_write(&self) -> Result<Tx<'static>, StoreError> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                take_write_lock(&mut tx).await?;
                Tx::Postgres(tx)
            }
        })
    }

    /// A connection of its own, outside the pool, with the pool's
    /// settings (the writer and the dispatcher each own one, so neither
    /// waits for the shared pool).
    pub async fn dedicated(&self) -> Result<Connection, StoreError> {
        Ok(match self {
            Db::Sqlite(pool) => Connection::Sqlite(pool.connect_options().connect().await?),
            Db::Postgres(pool) => Connection::Postgres(pool.connect_options().connect().await?),
        })
    }

    /// Fails when the database does not answer a trivial query (the
    /// health check).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))?;
        Ok(())
    }

    /// Closes the pool: waits for its connections to be returned.
    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

async fn take_write_lock(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITE_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// A connection a task owns, on either backend.
#[derive(Debug)]
pub enum Connection {
    /// On SQLite.
    Sqlite(SqliteConnection),
    /// On PostgreSQL.
    Postgres(PgConnection),
}

impl Connection {
    /// This connection, borrowed for store functions.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Connection::Sqlite(c) => Conn::Sqlite(c),
            Connection::Postgres(c) => Conn::Postgres(c),
        }
    }

    /// The backend behind this connection.
    pub fn backend(&self) -> Backend {
        match self {
            Connection::Sqlite(_) => Backend::Sqlite,
            Connection::Postgres(_) => Backend::Postgres,
        }
    }

    /// Fails when the connection no longer answers.
    pub async fn ping(&mut self) -> Result<(), StoreError> {
        match self {
            Connection::Sqlite(c) => c.ping().await?,
            Connection::Postgres(c) => c.ping().await?,
        }
        Ok(())
    }

    /// Closes the connection cleanly.
    pub async fn close(self) -> Result<(), StoreError> {
        match self {
            Connection::Sqlite(c) => c.close().await?,
            Connection::Postgres(c) => c.close().await?,
        }
        Ok(())
    }
}

impl From<SqliteConnection> for Connection {
    fn from(conn: SqliteConnection) -> Connection {
        Connection::Sqlite(conn)
    }
}

impl From<PgConnection> for Connection {
    fn from(conn: PgConnection) -> Connection {
        Connection::Postgres(conn)
    }
}

/// A borrowed connection (an owned [`Connection`], a pooled one, or the
/// inside of a [`Tx`]), on either backend.
#[derive(Debug)]
pub enum Conn<'c> {
    /// On SQLite.
    Sqlite(&'c mut SqliteConnection),
    /// On PostgreSQL.
    Postgres(&'c mut PgConnection),
}

impl<'c> Conn<'c> {
    /// The same connection for a shorter borrow (what [`on_conn!`]
    /// matches on, so a `Conn` can be used again after it).
    pub fn reborrow(&mut self) -> Conn<'_> {
        match self {
            Conn::Sqlite(c) => Conn::Sqlite(c),
            Conn::Postgres(c) => Conn::Postgres(c),
        }
    }

    /// The backend behind this connection.
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    /// Starts a write transaction on this connection (see the module
    /// doc).
    pub async fn begin_write(&mut self) -> Result<Tx<'_>, StoreError> {
        Ok(match self {
            Conn::Sqlite(c) => Tx::Sqlite(c.begin_with("BEGIN IMMEDIATE").await?),
            Conn::Postgres(c) => {
                let mut tx = c.begin().await?;
                take_write_lock(&mut tx).await?;
                Tx::Postgres(tx)
            }
        })
    }
}

impl<'c> From<&'c mut SqliteConnection> for Conn<'c> {
    fn from(conn: &'c mut SqliteConnection) -> Conn<'c> {
        Conn::Sqlite(conn)
    }
}

impl<'c> From<&'c mut PgConnection> for Conn<'c> {
    fn from(conn: &'c mut PgConnection) -> Conn<'c> {
        Conn::Postgres(conn)
    }
}

/// A transaction on either backend, rolled back when dropped uncommitted.
#[derive(Debug)]
pub enum Tx<'c> {
    /// On SQLite.
    Sqlite(Transaction<'c, Sqlite>),
    /// On PostgreSQL.
    Postgres(Transaction<'c, Postgres>),
}

impl Tx<'_> {
    /// The transaction's connection, for store functions.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(tx) => Conn::Sqlite(tx),
            Tx::Postgres(tx) => Conn::Postgres(tx),
        }
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}
