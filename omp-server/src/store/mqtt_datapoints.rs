//! Table `mqtt_datapoints`: the data points decoded from OneNET `$dp`
//! payloads, inserted by the writer with their message (same commit).

use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use crate::error::StoreError;
use crate::store::{Conn, Db};

/// One data point to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPointRow {
    /// The stream (datastream id).
    pub stream: String,
    /// When the value was taken, as the payload states it.
    pub at: Option<String>,
    /// The value as JSON text.
    pub value: String,
}

/// A stored data point.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredDataPoint {
    /// Row id.
    pub id: i64,
    /// The message it came in.
    pub message_id: i64,
    /// The sender's client id.
    pub client_id: String,
    /// The stream.
    pub stream: String,
    /// When the value was taken, as the payload states it.
    pub at: Option<String>,
    /// The value as JSON text.
    pub value: String,
}

const COLUMNS: &str = "id, message_id, client_id, stream, at, value";

/// Inserts data points, each `(message id, client id, point)` (writer
/// connection, inside its transaction), a hundred per statement.
pub(crate) async fn insert_batch(
    conn: &mut Conn<'_>,
    points: &[(i64, &str, &DataPointRow)],
) -> Result<(), StoreError> {
    let conn = conn.sqlite_only()?;
    for chunk in points.chunks(100) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO mqtt_datapoints (message_id, client_id, stream, at, value) ",
        );
        qb.push_values(chunk, |mut b, (message_id, client_id, p)| {
            b.push_bind(*message_id)
                .push_bind(*client_id)
                .push_bind(p.stream.as_str())
                .push_bind(p.at.as_deref())
                .push_bind(p.value.as_str());
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// At most `limit` data points of `client_id` with ids below `before`
/// (newest first), optionally of one stream only.
pub async fn page(
    db: &Db,
    client_id: &str,
    stream: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredDataPoint>, StoreError> {
    let pool = db.sqlite_only()?;
    Ok(
        sqlx::query_as::<_, StoredDataPoint>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_datapoints
         WHERE client_id = ?1 AND (?2 IS NULL OR stream = ?2) AND (?3 IS NULL OR id < ?3)
         ORDER BY id DESC LIMIT ?4"
        )))
        .bind(client_id)
        .bind(stream)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await?,
    )
}

/// The data points stored from message `message_id`, in order.
pub async fn of_message(db: &Db, message_id: i64) -> Result<Vec<StoredDataPoint>, StoreError> {
    let pool = db.sqlite_only()?;
    Ok(
        sqlx::query_as::<_, StoredDataPoint>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_datapoints WHERE message_id = ? ORDER BY id"
        )))
        .bind(message_id)
        .fetch_all(pool)
        .await?,
    )
}
