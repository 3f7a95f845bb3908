//! `omp-server migrate --from <data dir> --to postgres://…`: copies every
//! table of a SQLite data directory into a PostgreSQL database, verifies
//! it, and commits only a verified copy.
//!
//! - [`schema`]: the tables copied, parents first, and the check that
//!   both schemas have exactly those tables and columns;
//! - [`copy`]: one table's streamed copy and the checksum of its values.
//!
//! The source is read in one SQLite read transaction (one snapshot, so a
//! server running on it meanwhile does not tear the copy); the target is
//! written in one PostgreSQL transaction, with the tables' own triggers
//! off (the timeline and outbox rows are copied, not written again), then
//! read back: a count or checksum that differs rolls everything back.
//! The identity sequences are moved past the copied ids, so the first row
//! a server writes afterwards takes the next id.

pub mod copy;
pub mod schema;

use std::io::Write;
use std::path::Path;

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::config::MigrateCommand;
use crate::error::{ServerError, StoreError};
use crate::store::postgres::{self, Target};
use schema::Table;

/// What one table's copy came to.
#[derive(Debug, Clone)]
pub struct TableReport {
    /// The table.
    pub table: &'static str,
    /// Rows copied (and read back).
    pub rows: u64,
    /// Checksum of the values, equal on both sides.
    pub checksum: String,
}

/// Runs `omp-server migrate`, reporting to stdout.
pub async fn execute(command: &MigrateCommand) -> Result<(), ServerError> {
    run(
        &command.from,
        &command.to,
        command.replace_target,
        &mut std::io::stdout(),
    )
    .await
    .map(|_| ())
}

/// Copies the database of the data directory `from` into the PostgreSQL
/// database at `to` (migrated first); a target holding any row is refused
/// unless `replace_target`, which empties it first. Prints one line per
/// table and the verdict to `out`.
pub async fn run(
    from: &Path,
    to: &str,
    replace_target: bool,
    out: &mut dyn Write,
) -> Result<Vec<TableReport>, ServerError> {
    let database = from.join(crate::config::DATABASE_FILE);
    if !database.exists() {
        let path = std::path::absolute(&database).unwrap_or(database);
        return Err(ServerError::MigrateWithoutDatabase { path });
    }
    // The source at this binary's schema, as the server would open it.
    let source = crate::store::open(&database).await?;
    let (target_pool, target) = postgres::open(to).await?;
    let mut sqlite = source.acquire().await.map_err(StoreError::from)?;
    let mut pg = target_pool.acquire().await.map_err(StoreError::from)?;

    let tables = schema::tables(&mut sqlite, &mut pg).await?;
    let mut read = sqlite.begin().await.map_err(StoreError::from)?;
    let mut write = pg.begin().await.map_err(StoreError::from)?;
    prepare_target(&tables, &target, replace_target, &mut write).await?;

    let mut reports = Vec::with_capacity(tables.len());
    for table in &tables {
        let copied = copy::copy(table, &mut read, &mut write).await?;
        let stored = copy::checksum(table, &mut write).await?;
        if stored != copied {
            return Err(ServerError::MigrateVerify {
                table: table.name,
                source_rows: copied.rows,
                target_rows: stored.rows,
            });
        }
        let report = TableReport {
            table: table.name,
            rows: copied.rows,
            checksum: copied.hex(),
        };
        let _ = writeln!(
            out,
            "{:<18} {:>10} rows  sha256-sum {}",
            report.table, report.rows, report.checksum
        );
        reports.push(report);
    }
    finish_target(&tables, &mut write).await?;
    write.commit().await.map_err(StoreError::from)?;
    read.rollback().await.map_err(StoreError::from)?;
    let rows: u64 = reports.iter().map(|r| r.rows).sum();
    let _ = writeln!(
        out,
        "copied {rows} rows of {} tables to {target}; every table's count and checksum \
         verified on the target",
        reports.len()
    );
    Ok(reports)
}

/// Refuses a target with rows unless told to empty it; turns the tables'
/// own triggers off for the copy.
async fn prepare_target(
    tables: &[Table],
    target: &Target,
    replace_target: bool,
    pg: &mut PgConnection,
) -> Result<(), ServerError> {
    let mut occupied = Vec::new();
    for table in tables {
        let any: bool = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM \"{}\")",
            table.name
        )))
        .fetch_one(&mut *pg)
        .await
        .map_err(StoreError::from)?;
        if any {
            occupied.push(table.name);
        }
    }
    if !occupied.is_empty() {
        if !replace_target {
            return Err(ServerError::MigrateTargetNotEmpty {
                target: target.clone(),
                tables: occupied.join(", "),
            });
        }
        let all = tables
            .iter()
            .map(|t| format!("\"{}\"", t.name))
            .collect::<Vec<_>>()
            .join(", ");
        sqlx::query(AssertSqlSafe(format!("TRUNCATE {all} RESTART IDENTITY")))
            .execute(&mut *pg)
            .await
            .map_err(StoreError::from)?;
    }
    for table in tables {
        sqlx::query(AssertSqlSafe(format!(
            "ALTER TABLE \"{}\" DISABLE TRIGGER USER",
            table.name
        )))
        .execute(&mut *pg)
        .await
        .map_err(StoreError::from)?;
    }
    Ok(())
}

/// Turns the triggers back on and moves every sequence past the copied
/// ids.
async fn finish_target(tables: &[Table], pg: &mut PgConnection) -> Result<(), ServerError> {
    for table in tables {
        sqlx::query(AssertSqlSafe(format!(
            "ALTER TABLE \"{}\" ENABLE TRIGGER USER",
            table.name
        )))
        .execute(&mut *pg)
        .await
        .map_err(StoreError::from)?;
        for column in &table.columns {
            let sequence: Option<String> =
                sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
                    .bind(format!("\"{}\"", table.name))
                    .bind(&column.name)
                    .fetch_one(&mut *pg)
                    .await
                    .map_err(StoreError::from)?;
            if let Some(sequence) = sequence {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT setval($1::regclass, COALESCE((SELECT max(\"{}\") FROM \"{}\"), 0) + 1, false)",
                    column.name, table.name
                )))
                .bind(sequence)
                .execute(&mut *pg)
                .await
                .map_err(StoreError::from)?;
            }
        }
    }
    Ok(())
}
