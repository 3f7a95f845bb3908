//! One table's copy: rows streamed from SQLite, inserted into PostgreSQL
//! in multi-row statements, and a checksum of every value on both sides
//! (the source's as it is read, the target's read back afterwards) so the
//! copy is verified value for value, not just counted.

use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, PgConnection, Postgres, QueryBuilder, Row, SqliteConnection};

use super::schema::{ColumnType, Table};
use crate::error::StoreError;

/// PostgreSQL takes at most 65,535 parameters a statement.
const MAX_PARAMETERS: usize = 60_000;
/// Rows a statement carries at most, whatever their width.
const MAX_ROWS: usize = 1_000;

/// One value, as either database stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// INTEGER / BIGINT.
    Integer(Option<i64>),
    /// TEXT.
    Text(Option<String>),
    /// BLOB / BYTEA.
    Bytes(Option<Vec<u8>>),
}

/// Rows and a checksum of their values that does not depend on their
/// order: the sum, lane by lane, of each row's SHA-256. The two databases
/// may return rows in different orders (PostgreSQL's text collation is not
/// SQLite's); the same rows give the same sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    /// Rows summed.
    pub rows: u64,
    lanes: [u64; 4],
}

impl Checksum {
    /// Adds one row.
    pub fn add(&mut self, row: &[Value]) {
        let mut hash = Sha256::new();
        for value in row {
            match value {
                Value::Integer(None) | Value::Text(None) | Value::Bytes(None) => hash.update([0]),
                Value::Integer(Some(v)) => {
                    hash.update([1]);
                    hash.update(v.to_le_bytes());
                }
                Value::Text(Some(v)) => {
                    hash.update([2]);
                    hash.update((v.len() as u64).to_le_bytes());
                    hash.update(v.as_bytes());
                }
                Value::Bytes(Some(v)) => {
                    hash.update([3]);
                    hash.update((v.len() as u64).to_le_bytes());
                    hash.update(v);
                }
            }
        }
        let digest = hash.finalize();
        for (lane, chunk) in self.lanes.iter_mut().zip(digest.chunks_exact(8)) {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(chunk);
            *lane = lane.wrapping_add(u64::from_le_bytes(bytes));
        }
        self.rows += 1;
    }

    /// The sum as 64 hex digits.
    pub fn hex(&self) -> String {
        self.lanes.iter().map(|l| format!("{l:016x}")).collect()
    }
}

fn sqlite_values(table: &Table, row: &SqliteRow) -> Result<Vec<Value>, StoreError> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let value = match column.ty {
                ColumnType::Integer => row.try_get(i).map(Value::Integer),
                ColumnType::Text => row.try_get(i).map(Value::Text),
                ColumnType::Bytes => row.try_get(i).map(Value::Bytes),
            };
            value.map_err(|e| {
                StoreError::Unexpected(format!(
                    "SQLite {}.{} holds a value that is not {:?}: {e}",
                    table.name, column.name, column.ty
                ))
            })
        })
        .collect()
}

fn postgres_values(table: &Table, row: &PgRow) -> Result<Vec<Value>, StoreError> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            Ok(match column.ty {
                ColumnType::Integer => Value::Integer(row.try_get(i)?),
                ColumnType::Text => Value::Text(row.try_get(i)?),
                ColumnType::Bytes => Value::Bytes(row.try_get(i)?),
            })
        })
        .collect()
}

/// Copies `table` from `sqlite` (inside the caller's read transaction:
/// one snapshot for every table) into `postgres` (inside the caller's
/// transaction); returns the source's checksum.
pub async fn copy(
    table: &Table,
    sqlite: &mut SqliteConnection,
    postgres: &mut PgConnection,
) -> Result<Checksum, StoreError> {
    let select = format!("SELECT {} FROM \"{}\"", table.column_list(), table.name);
    let per_statement = (MAX_PARAMETERS / table.columns.len().max(1)).clamp(1, MAX_ROWS);
    let mut checksum = Checksum::default();
    let mut pending: Vec<Vec<Value>> = Vec::with_capacity(per_statement);
    let mut rows = sqlx::query(AssertSqlSafe(select)).fetch(&mut *sqlite);
    while let Some(row) = rows.try_next().await? {
        let values = sqlite_values(table, &row)?;
        checksum.add(&values);
        pending.push(values);
        if pending.len() == per_statement {
            insert(table, &pending, postgres).await?;
            pending.clear();
        }
    }
    if !pending.is_empty() {
        insert(table, &pending, postgres).await?;
    }
    Ok(checksum)
}

async fn insert(
    table: &Table,
    rows: &[Vec<Value>],
    postgres: &mut PgConnection,
) -> Result<(), StoreError> {
    let mut statement: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "INSERT INTO \"{}\" ({}) ",
        table.name,
        table.column_list()
    ));
    statement.push_values(rows, |mut row, values| {
        for value in values {
            match value {
                Value::Integer(v) => row.push_bind(*v),
                Value::Text(v) => row.push_bind(v.clone()),
                Value::Bytes(v) => row.push_bind(v.clone()),
            };
        }
    });
    statement.build().execute(&mut *postgres).await?;
    Ok(())
}

/// The checksum of `table` as `postgres` holds it.
pub async fn checksum(table: &Table, postgres: &mut PgConnection) -> Result<Checksum, StoreError> {
    let select = format!("SELECT {} FROM \"{}\"", table.column_list(), table.name);
    let mut checksum = Checksum::default();
    let mut rows = sqlx::query(AssertSqlSafe(select)).fetch(&mut *postgres);
    while let Some(row) = rows.try_next().await? {
        checksum.add(&postgres_values(table, &row)?);
    }
    Ok(checksum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_ignores_row_order_but_not_values() {
        let a = vec![Value::Integer(Some(1)), Value::Text(Some("x".into()))];
        let b = vec![Value::Integer(Some(2)), Value::Bytes(None)];
        let mut forward = Checksum::default();
        forward.add(&a);
        forward.add(&b);
        let mut backward = Checksum::default();
        backward.add(&b);
        backward.add(&a);
        assert_eq!(forward, backward);
        let mut other = Checksum::default();
        other.add(&a);
        other.add(&[Value::Integer(Some(2)), Value::Bytes(Some(vec![]))]);
        assert_ne!(forward.hex(), other.hex(), "NULL and empty must differ");
    }

    #[test]
    fn text_and_bytes_of_the_same_content_differ() {
        let mut text = Checksum::default();
        text.add(&[Value::Text(Some("ab".into()))]);
        let mut bytes = Checksum::default();
        bytes.add(&[Value::Bytes(Some(b"ab".to_vec()))]);
        assert_ne!(text, bytes);
    }
}
