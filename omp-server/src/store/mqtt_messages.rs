//! Table `mqtt_messages`: every PUBLISH received and every will
//! published, payload byte-exact. Rows are inserted only by the
//! group-commit writer (in the batch that also carries their data points,
//! `mqtt_datapoints`); reads go through the pool.

use bytes::Bytes;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use crate::error::StoreError;
use crate::store::mqtt_datapoints::{self, DataPointRow};
use crate::store::{Conn, Db};

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

/// Inserts `rows` (writer connection, inside its transaction) and their
/// data points; the new ids, in `rows`' order.
///
/// A hundred rows per statement, as deliveries are: each statement is a
/// round trip to sqlx's SQLite worker thread, and one per message cost
/// more than the rows themselves (a batch of 100 messages took 100 of
/// them). The ids of one statement are assigned in the order of its
/// VALUES (the writer is the only one inserting), so sorted they map back
/// to the rows whatever order RETURNING gives them in.
pub async fn insert_batch(
    conn: &mut Conn<'_>,
    rows: &[MessageRow],
) -> Result<Vec<i64>, StoreError> {
    let conn = conn.sqlite_only()?;
    let mut ids = Vec::with_capacity(rows.len());
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
        let mut chunk_ids: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *conn).await?;
        chunk_ids.sort_unstable();
        if chunk_ids.len() != chunk.len() {
            return Err(StoreError::Unexpected(format!(
                "{} messages inserted, {} ids returned",
                chunk.len(),
                chunk_ids.len()
            )));
        }
        ids.extend(chunk_ids);
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
    mqtt_datapoints::insert_batch(&mut Conn::from(&mut *conn), &points).await?;
    Ok(ids)
}

/// One message by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<StoredMessage>, StoreError> {
    let pool = db.sqlite_only()?;
    Ok(
        sqlx::query_as::<_, StoredMessage>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_messages WHERE id = ?"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await?,
    )
}

/// The messages whose ids are in `ids` (a JSON array), in any order.
pub async fn by_ids(db: &Db, ids: &str) -> Result<Vec<StoredMessage>, StoreError> {
    let pool = db.sqlite_only()?;
    Ok(
        sqlx::query_as::<_, StoredMessage>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_messages WHERE id IN (SELECT value FROM json_each(?))"
        )))
        .bind(ids)
        .fetch_all(pool)
        .await?,
    )
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
    let pool = db.sqlite_only()?;
    Ok(
        sqlx::query_as::<_, StoredMessage>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_messages
         WHERE client_id = ?1 AND (?2 IS NULL OR topic = ?2) AND (?3 IS NULL OR id < ?3)
         ORDER BY id DESC LIMIT ?4"
        )))
        .bind(client_id)
        .bind(topic)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await?,
    )
}

/// The latest retained message of every topic, unless that message
/// cleared the topic (an empty payload): what new subscribers get.
pub async fn retained(db: &Db) -> Result<Vec<StoredMessage>, StoreError> {
    let pool = db.sqlite_only()?;
    Ok(
        sqlx::query_as::<_, StoredMessage>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_messages WHERE id IN
             (SELECT MAX(id) FROM mqtt_messages WHERE retain = 1 GROUP BY topic)
         AND length(payload) > 0 ORDER BY id"
        )))
        .fetch_all(pool)
        .await?,
    )
}
