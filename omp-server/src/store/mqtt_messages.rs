//! Table `mqtt_messages`: every PUBLISH received and every will
//! published, payload byte-exact. Rows are inserted only by the
//! group-commit writer (in the batch that also carries their data points,
//! `mqtt_datapoints`); reads go through the pool.

use bytes::Bytes;
use sqlx::{QueryBuilder, Sqlite};

use crate::error::StoreError;
use crate::on_db;
use crate::store::mqtt_datapoints::{self, DataPointRow};
use crate::store::{Backend, Conn, Db};

/// Rows per INSERT statement.
const ROWS_PER_STATEMENT: usize = 100;

/// What a stored message was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A PUBLISH from the client.
    Publish,
    /// The client's will, published as its session ended without
    /// DISCONNECT.
    Will,
}

impl MessageKind {
    fn as_str(self) -> &'static str {
        match self {
            MessageKind::Publish => "publish",
            MessageKind::Will => "will",
        }
    }
}

/// A message to insert, with what its `$dp` payload decoded to.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    /// The sender's client id.
    pub client_id: String,
    /// PUBLISH or will.
    pub kind: MessageKind,
    /// The topic name.
    pub topic: String,
    /// The payload, byte-exact.
    pub payload: Bytes,
    /// 0, 1 or 2.
    pub qos: u8,
    /// The RETAIN flag.
    pub retain: bool,
    /// The DUP flag.
    pub dup: bool,
    /// The packet id (QoS 1 and 2).
    pub packet_id: Option<u16>,
    /// Unix ms.
    pub received_at: i64,
    /// Data points decoded from a `$dp` payload.
    pub datapoints: Vec<DataPointRow>,
    /// Why a `$dp` payload did not decode (the message is flagged).
    pub dp_error: Option<String>,
}

/// A stored message, as read back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredMessage {
    /// Row id (ascending in commit order).
    pub id: i64,
    /// The sender's client id.
    pub client_id: String,
    /// `publish` or `will`.
    pub kind: String,
    /// The topic name.
    pub topic: String,
    /// The payload, byte-exact.
    pub payload: Vec<u8>,
    /// 0, 1 or 2.
    pub qos: i64,
    /// The RETAIN flag.
    pub retain: bool,
    /// The DUP flag.
    pub dup: bool,
    /// The packet id (QoS 1 and 2).
    pub packet_id: Option<i64>,
    /// Unix ms.
    pub received_at: i64,
    /// A `$dp` payload that did not decode.
    pub dp_undecodable: bool,
    /// Why it did not.
    pub dp_error: Option<String>,
}

const COLUMNS: &str = "id, client_id, kind, topic, payload, qos, retain, dup, packet_id, \
                       received_at, dp_undecodable, dp_error";

/// [`COLUMNS`] on PostgreSQL: its 0/1 BIGINT flags do not decode as
/// `bool`, so they are compared into booleans.
const PG_COLUMNS: &str = "id, client_id, kind, topic, payload, qos, retain <> 0 AS retain, \
                          dup <> 0 AS dup, packet_id, received_at, \
                          dp_undecodable <> 0 AS dp_undecodable, dp_error";

/// The columns of [`StoredMessage`] on `db`'s backend.
fn columns(db: &Db) -> &'static str {
    match db.backend() {
        Backend::Sqlite => COLUMNS,
        Backend::Postgres => PG_COLUMNS,
    }
}

/// Inserts `rows` (writer connection, inside its transaction) and their
/// data points; the new ids, in `rows`' order.
///
/// On SQLite a hundred rows per statement, as deliveries are: each
/// statement is a round trip to sqlx's SQLite worker thread, and one per
/// message cost more than the rows themselves (a batch of 100 messages
/// took 100 of them). On PostgreSQL one statement for the whole batch,
/// each column bound as an array and `UNNEST`ed in the rows' order. The
/// ids of one statement are assigned in the order of its rows (the writer
/// is the only one inserting), so sorted they map back to the rows
/// whatever order RETURNING gives them in.
pub async fn insert_batch(
    conn: &mut Conn<'_>,
    rows: &[MessageRow],
) -> Result<Vec<i64>, StoreError> {
    let mut ids = Vec::with_capacity(rows.len());
    match conn.reborrow() {
        Conn::Sqlite(c) => {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "INSERT INTO mqtt_messages (client_id, kind, topic, payload, qos, retain, dup,
                         packet_id, received_at, dp_undecodable, dp_error) ",
                );
                qb.push_values(chunk, |mut b, row| {
                    b.push_bind(row.client_id.as_str())
                        .push_bind(row.kind.as_str())
                        .push_bind(row.topic.as_str())
                        .push_bind(&row.payload[..])
                        .push_bind(row.qos)
                        .push_bind(row.retain)
                        .push_bind(row.dup)
                        .push_bind(row.packet_id)
                        .push_bind(row.received_at)
                        .push_bind(row.dp_error.is_some())
                        .push_bind(row.dp_error.as_deref());
                });
                qb.push(" RETURNING id");
                let chunk_ids: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *c).await?;
                push_ids(&mut ids, chunk.len(), chunk_ids)?;
            }
        }
        Conn::Postgres(c) if !rows.is_empty() => {
            let flag = |f: fn(&MessageRow) -> bool| {
                rows.iter().map(|r| i64::from(f(r))).collect::<Vec<i64>>()
            };
            let batch_ids: Vec<i64> = sqlx::query_scalar(
                "INSERT INTO mqtt_messages (client_id, kind, topic, payload, qos, retain, dup,
                     packet_id, received_at, dp_undecodable, dp_error)
                 SELECT client_id, kind, topic, payload, qos, retain, dup, packet_id,
                     received_at, dp_undecodable, dp_error
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bigint[],
                     $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
                     $11::text[])
                     WITH ORDINALITY AS r (client_id, kind, topic, payload, qos, retain, dup,
                         packet_id, received_at, dp_undecodable, dp_error, n)
                 ORDER BY n
                 RETURNING id",
            )
            .bind(
                rows.iter()
                    .map(|r| r.client_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.topic.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| &r.payload[..]).collect::<Vec<&[u8]>>())
            .bind(rows.iter().map(|r| i64::from(r.qos)).collect::<Vec<_>>())
            .bind(flag(|r| r.retain))
            .bind(flag(|r| r.dup))
            .bind(
                rows.iter()
                    .map(|r| r.packet_id.map(i64::from))
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.received_at).collect::<Vec<_>>())
            .bind(flag(|r| r.dp_error.is_some()))
            .bind(
                rows.iter()
                    .map(|r| r.dp_error.as_deref())
                    .collect::<Vec<_>>(),
            )
            .fetch_all(&mut *c)
            .await?;
            push_ids(&mut ids, rows.len(), batch_ids)?;
        }
        Conn::Postgres(_) => {}
    }
    let points: Vec<(i64, &str, &DataPointRow)> = rows
        .iter()
        .zip(&ids)
        .flat_map(|(row, &id)| {
            row.datapoints
                .iter()
                .map(move |p| (id, row.client_id.as_str(), p))
        })
        .collect();
    mqtt_datapoints::insert_batch(conn, &points).await?;
    Ok(ids)
}

/// Appends the ids one statement returned for its `inserted` rows, in
/// insertion order.
fn push_ids(ids: &mut Vec<i64>, inserted: usize, mut returned: Vec<i64>) -> Result<(), StoreError> {
    returned.sort_unstable();
    if returned.len() != inserted {
        return Err(StoreError::Unexpected(format!(
            "{inserted} messages inserted, {} ids returned",
            returned.len()
        )));
    }
    ids.extend(returned);
    Ok(())
}

/// One message by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<StoredMessage>, StoreError> {
    let sql = format!("SELECT {} FROM mqtt_messages WHERE id = $1", columns(db));
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoredMessage>(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(pool)
            .await
    })?)
}

/// The messages whose ids are in `ids`, in any order.
pub async fn by_ids(db: &Db, ids: &[i64]) -> Result<Vec<StoredMessage>, StoreError> {
    Ok(match db {
        Db::Sqlite(pool) => {
            sqlx::query_as::<_, StoredMessage>(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM mqtt_messages WHERE id IN (SELECT value FROM json_each($1))"
            )))
            .bind(serde_json::Value::from(ids).to_string())
            .fetch_all(pool)
            .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as::<_, StoredMessage>(sqlx::AssertSqlSafe(format!(
                "SELECT {PG_COLUMNS} FROM mqtt_messages WHERE id = ANY($1)"
            )))
            .bind(ids)
            .fetch_all(pool)
            .await?
        }
    })
}

/// At most `limit` messages of `client_id` with ids below `before`
/// (newest first), optionally on one topic only.
pub async fn page(
    db: &Db,
    client_id: &str,
    topic: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredMessage>, StoreError> {
    let sql = format!(
        "SELECT {} FROM mqtt_messages
         WHERE client_id = $1 AND ($2 IS NULL OR topic = $2) AND ($3 IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4",
        columns(db)
    );
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoredMessage>(sqlx::AssertSqlSafe(sql))
            .bind(client_id)
            .bind(topic)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await
    })?)
}

/// The latest retained message of every topic, unless that message
/// cleared the topic (an empty payload): what new subscribers get.
pub async fn retained(db: &Db) -> Result<Vec<StoredMessage>, StoreError> {
    let sql = format!(
        "SELECT {} FROM mqtt_messages WHERE id IN
             (SELECT MAX(id) FROM mqtt_messages WHERE retain = 1 GROUP BY topic)
         AND length(payload) > 0 ORDER BY id",
        columns(db)
    );
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoredMessage>(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
    })?)
}
