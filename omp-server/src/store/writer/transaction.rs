//! One transaction of the writer: what a batch holds ([`Batch`]) and how
//! it is written — deliveries (keyed resends sorted out first), split
//! parts, MQTT messages, and in savepoints of their own the online states,
//! noted events and contact times, which must not cost the messages —
//! with plain BEGIN / COMMIT so a failed batch (a full disk) leaves the
//! connection usable for the next.

use std::collections::HashMap;

use super::parts::{Abandoned, PartWrite, Splits};
use super::{Committed, CursorReply, LastSeen, MqttReply, PartReply, Reply};
use crate::error::StoreError;
use crate::on_conn;
use crate::store::deliveries::{self, DeliveryRow};
use crate::store::events::{self, NewEvent};
use crate::store::gateways;
use crate::store::mqtt_messages::{self, MessageRow};
use crate::store::mqtt_presence::{self, Presence};
use crate::store::webhooks::{self, WebhookCursor};
use crate::store::{Backend, Conn};

/// What one transaction writes.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) rows: Vec<DeliveryRow>,
    pub(super) replies: Vec<Reply>,
    pub(super) parts: Vec<PartWrite>,
    pub(super) part_replies: Vec<PartReply>,
    pub(super) abandoned: Vec<Abandoned>,
    pub(super) seen: LastSeen,
    pub(super) mqtt: Vec<MessageRow>,
    pub(super) mqtt_replies: Vec<MqttReply>,
    pub(super) presence: Vec<Presence>,
    pub(super) events: Vec<NewEvent>,
    pub(super) cursors: Vec<WebhookCursor>,
    pub(super) cursor_replies: Vec<CursorReply>,
}

impl Batch {
    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
            && self.parts.is_empty()
            && self.abandoned.is_empty()
            && self.seen.is_empty()
            && self.mqtt.is_empty()
            && self.presence.is_empty()
            && self.events.is_empty()
            && self.cursors.is_empty()
    }

    pub(super) fn jobs(&self) -> usize {
        self.rows.len() + self.parts.len() + self.mqtt.len()
    }

    /// True when a message of this batch comes from a client whose
    /// state one of `changes` is: that change happened after the message
    /// (it was queued later), and the batch writes its online states
    /// before its messages, so the change waits for the next batch.
    pub(super) fn has_messages_of(&self, changes: &[Presence]) -> bool {
        changes
            .iter()
            .any(|p| self.mqtt.iter().any(|m| m.client_id == p.client_id))
    }

    /// True when a row of this batch comes from a gateway or MQTT client
    /// that one of `events` names. Such an event happened after that row
    /// (it was queued later), and the batch writes its noted events
    /// before its rows: the event waits for the next batch instead.
    pub(super) fn has_rows_of(&self, events: &[NewEvent]) -> bool {
        events.iter().any(|e| {
            e.gw_id.as_deref().is_some_and(|gw| {
                self.rows.iter().any(|r| r.gw_id == gw)
                    || self.parts.iter().any(|p| p.part().gw_id == gw)
            }) || e
                .device_id
                .as_deref()
                .is_some_and(|client| self.mqtt.iter().any(|m| m.client_id == client))
        })
    }
}

/// One transaction of `batch`, with plain BEGIN/COMMIT statements rather
/// than sqlx's `Transaction`: on a full disk (SQLITE_FULL, IOERR) SQLite
/// rolls the transaction back by itself, sqlx's own ROLLBACK then fails
/// and sqlx keeps counting a transaction open, refusing every later BEGIN
/// on this connection — the writer would never store again, even once
/// space returns. Here a failed batch is rolled back (an error from that
/// ROLLBACK only means SQLite did it already) and the next batch starts
/// clean. Returns what became of each row, in order, of each delivery a
/// completed split made, and the ids of the MQTT messages.
///
/// On PostgreSQL the batch is a plain `BEGIN`: the writer is the only
/// inserter of its rows, and the outbox's ids are ordered by the events
/// table's own lock (see the schema).
pub(super) async fn commit(
    conn: &mut Conn<'_>,
    batch: &mut Batch,
) -> Result<BatchOutcomes, StoreError> {
    let begin = match conn.backend() {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    conn.execute(begin).await?;
    let result = write_batch(conn, batch).await;
    let result = match result {
        Ok(outcomes) => conn.execute("COMMIT").await.map(|()| outcomes),
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = conn.execute("ROLLBACK").await;
    }
    result
}

/// What a committed batch made.
pub(super) struct BatchOutcomes {
    /// What became of each delivery row, in order.
    pub(super) rows: Vec<Committed>,
    /// Of each delivery a completed split made.
    pub(super) whole: Vec<Committed>,
    /// The MQTT messages' ids.
    pub(super) mqtt_ids: Vec<i64>,
    /// The newest event id once this batch is in.
    pub(super) last_event: i64,
}

async fn write_batch(conn: &mut Conn<'_>, batch: &mut Batch) -> Result<BatchOutcomes, StoreError> {
    // Noted events first: each was queued before every row of its gateway
    // or client in this batch (the writer ends a batch before an event
    // that would follow one), so a gateway's `gateway_online` comes
    // before its deliveries' events, and ids keep the order things
    // happened in.
    if !batch.events.is_empty() {
        conn.execute("SAVEPOINT noted_events").await?;
        let written = events::insert(conn, &batch.events).await;
        if let Err(e) = end_savepoint(conn, "noted_events", written).await {
            tracing::warn!(events = batch.events.len(), error = %e, "events not saved");
        }
    }
    // The MQTT clients' online states next, for the same reason: a
    // client's `mqtt_online` was queued before its messages. Like contact
    // times, online states and the noted events must not cost the
    // messages; each set is all or nothing (a savepoint), so no state is
    // saved without its event or the other way round.
    if !batch.presence.is_empty() {
        conn.execute("SAVEPOINT presence").await?;
        let written = mqtt_presence::record(conn, &batch.presence).await;
        if let Err(e) = end_savepoint(conn, "presence", written).await {
            tracing::warn!(changes = batch.presence.len(), error = %e,
                "MQTT online states and their events not saved");
        }
    }
    let whole = Splits::apply(conn, &batch.parts, &batch.abandoned).await?;
    let plain = batch.rows.len();
    // Completed splits join the batch's rows for the keyed look-up and the
    // INSERT; taken off again below so the rows keep their replies.
    batch.rows.extend(whole);
    let result = insert_rows(conn, &batch.rows).await;
    batch.rows.truncate(plain);
    let mut outcomes = result?;
    let whole_outcomes = outcomes.split_off(plain);
    let mqtt_ids = mqtt_messages::insert_batch(conn, &batch.mqtt).await?;
    // A webhook's cursor is answered with the batch: written in the
    // transaction itself, so its task sends the next event only once the
    // cursor is committed.
    webhooks::advance_cursors(conn, &batch.cursors).await?;
    // Contact times are a convenience: their failure must not cost the
    // deliveries. SQLite undoes just the failed statement; a failed
    // statement aborts a whole PostgreSQL transaction, so there they get
    // a savepoint of their own.
    if !batch.seen.is_empty() {
        let on_postgres = conn.backend() == Backend::Postgres;
        if on_postgres {
            conn.execute("SAVEPOINT last_seen").await?;
        }
        let written = gateways::record_last_seen(conn, &batch.seen).await;
        let written = if on_postgres {
            end_savepoint(conn, "last_seen", written).await
        } else {
            written
        };
        if let Err(e) = written {
            tracing::warn!(gateways = batch.seen.len(), error = %e, "last contact times not saved");
        }
    }
    Ok(BatchOutcomes {
        rows: outcomes,
        whole: whole_outcomes,
        mqtt_ids,
        last_event: events::last_id(conn).await?,
    })
}

/// Ends savepoint `name` of the batch's transaction: keeps what it wrote
/// when `written` is `Ok`, else undoes all of it (the rest of the batch
/// goes on) and returns the error.
async fn end_savepoint(
    conn: &mut Conn<'_>,
    name: &'static str,
    written: Result<(), StoreError>,
) -> Result<(), StoreError> {
    if written.is_err() {
        let rollback = format!("ROLLBACK TO {name}");
        on_conn!(conn, c => sqlx::query(sqlx::AssertSqlSafe(rollback)).execute(&mut *c).await.map(drop))?;
    }
    let release = format!("RELEASE {name}");
    on_conn!(conn, c => sqlx::query(sqlx::AssertSqlSafe(release)).execute(&mut *c).await.map(drop))?;
    written
}

async fn insert_rows(
    conn: &mut Conn<'_>,
    rows: &[DeliveryRow],
) -> Result<Vec<Committed>, StoreError> {
    let outcomes = sort_out_resends(conn, rows).await?;
    if outcomes.contains(&Committed::AlreadyStored) {
        let new_rows: Vec<&DeliveryRow> = rows
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| **o == Committed::Stored)
            .map(|(row, _)| row)
            .collect();
        deliveries::insert_batch(conn, &new_rows).await?;
    } else {
        // The usual batch: every row is new, no copy of the list.
        deliveries::insert_batch(conn, rows).await?;
    }
    Ok(outcomes)
}

/// Which of `rows` are keyed deliveries stored already, in the table or
/// earlier in this batch. Unkeyed rows cost nothing here.
async fn sort_out_resends(
    conn: &mut Conn<'_>,
    rows: &[DeliveryRow],
) -> Result<Vec<Committed>, StoreError> {
    let mut outcomes = vec![Committed::Stored; rows.len()];
    if !rows.iter().any(|r| r.keyed) {
        return Ok(outcomes);
    }
    let stored = deliveries::stored_keyed(conn, rows).await?;
    // Keys of the rows this batch stores, to catch two copies in one batch
    // without comparing every pair.
    let mut batch_keys: HashMap<(&str, u32, u32), Vec<usize>> = HashMap::new();
    for (i, row) in rows.iter().enumerate().filter(|(_, r)| r.keyed) {
        let key = (row.gw_id.as_str(), row.tid, row.origin_timestamp);
        let earlier = batch_keys.entry(key).or_default();
        let in_batch = earlier.iter().any(|&j| row.is_resend_of(&rows[j]));
        let stored_id = stored[i];
        if in_batch || stored_id.is_some() {
            tracing::info!(gw_id = %row.gw_id, device_id = %row.device_id, tid = row.tid,
                origin_timestamp = row.origin_timestamp, stored_id,
                "keyed delivery sent again after it was stored; acknowledged, not stored twice");
            outcomes[i] = Committed::AlreadyStored;
        } else {
            earlier.push(i);
        }
    }
    Ok(outcomes)
}
