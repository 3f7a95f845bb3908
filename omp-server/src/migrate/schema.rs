//! What `omp-server migrate` copies: every table of the schema, parents
//! before children (foreign keys hold at every insert), each with its
//! columns as PostgreSQL types them; and the check that both databases
//! have exactly these tables and columns, so a table added to one
//! schema and not this list stops the copy instead of being left out.

use std::collections::BTreeSet;

use sqlx::{PgConnection, SqliteConnection};

use crate::error::StoreError;

/// Every table, parents first.
pub const TABLES: &[&str] = &[
    "provisioning",
    "gateways",
    "devices",
    "profiles",
    "deliveries",
    "delivery_splits",
    "delivery_parts",
    "controls",
    "control_events",
    "mqtt_provisioning",
    "mqtt_messages",
    "mqtt_datapoints",
    "mqtt_presence",
    "webhooks",
    "revocations",
    "events",
];

/// Tables of PostgreSQL only, not copied: which instances run and which
/// holds each live session (`migrations/postgres/0002…`) describe running
/// processes, not data, and SQLite has no such tables.
pub const POSTGRES_ONLY: &[&str] = &["instances", "sessions"];

/// Tables of the migration tool or the engine, not of the OMP.
fn is_internal(table: &str) -> bool {
    table.starts_with("_sqlx") || table.starts_with("sqlite_")
}

/// The three storage types of the schema (SQLite INTEGER, TEXT, BLOB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// INTEGER / BIGINT.
    Integer,
    /// TEXT.
    Text,
    /// BLOB / BYTEA.
    Bytes,
}

/// A column and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: ColumnType,
}

/// A table and its columns, in PostgreSQL's order.
#[derive(Debug, Clone)]
pub struct Table {
    /// Its name.
    pub name: &'static str,
    /// Its columns.
    pub columns: Vec<Column>,
}

impl Table {
    /// `"a", "b", …`: the column list of a SELECT or INSERT.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The tables of both databases, checked to be [`TABLES`] with the same
/// columns on each side.
pub async fn tables(
    sqlite: &mut SqliteConnection,
    postgres: &mut PgConnection,
) -> Result<Vec<Table>, StoreError> {
    let expected: BTreeSet<&str> = TABLES.iter().copied().collect();
    let sqlite_tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut *sqlite)
            .await?;
    let postgres_tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut *postgres)
    .await?;
    for (side, found) in [("SQLite", &sqlite_tables), ("PostgreSQL", &postgres_tables)] {
        let found: BTreeSet<&str> = found
            .iter()
            .map(String::as_str)
            .filter(|t| !is_internal(t) && !POSTGRES_ONLY.contains(t))
            .collect();
        if found != expected {
            return Err(StoreError::Unexpected(format!(
                "the {side} database's tables {found:?} are not the ones this omp-server \
                 copies {expected:?}"
            )));
        }
    }
    let mut tables = Vec::with_capacity(TABLES.len());
    for &name in TABLES {
        let columns = postgres_columns(postgres, name).await?;
        let in_sqlite: BTreeSet<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info(?1)")
                .bind(name)
                .fetch_all(&mut *sqlite)
                .await?
                .into_iter()
                .collect();
        let in_postgres: BTreeSet<String> = columns.iter().map(|c| c.name.clone()).collect();
        if in_sqlite != in_postgres {
            return Err(StoreError::Unexpected(format!(
                "table {name}: SQLite has columns {in_sqlite:?}, PostgreSQL {in_postgres:?}"
            )));
        }
        tables.push(Table { name, columns });
    }
    Ok(tables)
}

/// The columns of `table` in PostgreSQL, in their order.
pub async fn postgres_columns(
    postgres: &mut PgConnection,
    table: &str,
) -> Result<Vec<Column>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1
         ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *postgres)
    .await?;
    rows.into_iter()
        .map(|(name, data_type)| {
            let ty = match data_type.as_str() {
                "bigint" => ColumnType::Integer,
                "text" => ColumnType::Text,
                "bytea" => ColumnType::Bytes,
                other => {
                    return Err(StoreError::Unexpected(format!(
                        "column {table}.{name} has PostgreSQL type {other}, which the copy \
                         does not know"
                    )));
                }
            };
            Ok(Column { name, ty })
        })
        .collect()
}
