//! Table `mqtt_datapoints`: the data points decoded from OneNET `$dp`
//! payloads, inserted by the writer with their message (same commit).

use sqlx::{QueryBuilder, Sqlite};

use crate::error::StoreError;
use crate::on_db;
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
/// connection, inside its transaction): on SQLite a hundred per
/// statement, on PostgreSQL all in one statement of `UNNEST`ed arrays (see
/// `mqtt_messages::insert_batch`).
pub async fn insert_batch(
    conn: &mut Conn<'_>,
    points: &[(i64, &str, &DataPointRow)],
) -> Result<(), StoreError> {
    match conn {
        Conn::Sqlite(c) => {
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
                qb.build().execute(&mut **c).await?;
            }
        }
        Conn::Postgres(c) if !points.is_empty() => {
            sqlx::query(
                "INSERT INTO mqtt_datapoints (message_id, client_id, stream, at, value)
                 SELECT message_id, client_id, stream, at, value
                 FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])
                     WITH ORDINALITY AS r (message_id, client_id, stream, at, value, n)
                 ORDER BY n",
            )
            .bind(points.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
            .bind(
                points
                    .iter()
                    .map(|(_, client, _)| *client)
                    .collect::<Vec<_>>(),
            )
            .bind(
                points
                    .iter()
                    .map(|(_, _, p)| p.stream.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                points
                    .iter()
                    .map(|(_, _, p)| p.at.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                points
                    .iter()
                    .map(|(_, _, p)| p.value.as_str())
                    .collect::<Vec<_>>(),
            )
            .execute(&mut **c)
            .await?;
        }
        Conn::Postgres(_) => {}
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
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoredDataPoint>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_datapoints
             WHERE client_id = $1 AND ($2 IS NULL OR stream = $2) AND ($3 IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4"
        )))
        .bind(client_id)
        .bind(stream)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// The data points stored from message `message_id`, in order.
pub async fn of_message(db: &Db, message_id: i64) -> Result<Vec<StoredDataPoint>, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoredDataPoint>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_datapoints WHERE message_id = $1 ORDER BY id"
        )))
        .bind(message_id)
        .fetch_all(pool)
        .await
    })?)
}
