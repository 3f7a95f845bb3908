//! Table `webhooks` (migration 0011): the receivers the outbox is POSTed
//! to, each with its own cursor into `events`. The delivery task of a
//! webhook writes its cursor and failure state here through the pool: one
//! short statement per delivered event, never inside the writer's
//! transactions.

use crate::error::StoreError;
use crate::store::events::EventFilter;
use crate::store::{Backend, Conn, Db};
use crate::{on_conn, on_db};

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredWebhook {
    /// Its id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// The HMAC-SHA256 key of the signature.
    pub secret: String,
    /// JSON array of kinds, or NULL for every kind.
    pub kinds: Option<String>,
    /// Only this gateway's events, if set.
    pub gw_id: Option<String>,
    /// Whether its task runs.
    pub enabled: bool,
    /// The last event id delivered or passed over.
    pub cursor: i64,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the first failure of the current run of failures.
    pub failing_since: Option<i64>,
    /// Why the server disabled it, if it did.
    pub disabled_reason: Option<String>,
    /// The last delivery error.
    pub last_error: Option<String>,
}

impl StoredWebhook {
    /// The kinds it takes (empty: every kind).
    pub fn kind_list(&self) -> Vec<String> {
        self.kinds
            .as_deref()
            .and_then(|k| serde_json::from_str(k).ok())
            .unwrap_or_default()
    }

    /// Its filter over the outbox.
    pub fn filter(&self) -> EventFilter {
        EventFilter {
            kinds: self.kind_list(),
            gw_id: self.gw_id.clone(),
            device_id: None,
        }
    }
}

/// A webhook to create.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Where events are POSTed.
    pub url: String,
    /// The HMAC key.
    pub secret: String,
    /// The kinds (empty: every kind).
    pub kinds: Vec<String>,
    /// Gateway filter.
    pub gw_id: Option<String>,
    /// Whether it starts enabled.
    pub enabled: bool,
    /// The first event sent is the first after this id.
    pub cursor: i64,
}

/// Fields to change; `None` = unchanged (`gw_id: Some(None)` clears it).
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    /// New URL.
    pub url: Option<String>,
    /// New secret.
    pub secret: Option<String>,
    /// New kinds (empty: every kind).
    pub kinds: Option<Vec<String>>,
    /// New gateway filter.
    pub gw_id: Option<Option<String>>,
    /// Enable or disable; enabling clears the failure state.
    pub enabled: Option<bool>,
}

/// The columns [`StoredWebhook`] reads. The flag is compared in SQL:
/// PostgreSQL decodes only a BOOLEAN into `bool`, and a comparison is one
/// on both backends.
const COLUMNS: &str = "id, url, secret, kinds, gw_id, enabled <> 0 AS enabled, cursor, \
     created_at, failing_since, disabled_reason, last_error";

fn kinds_json(kinds: &[String]) -> Option<String> {
    (!kinds.is_empty()).then(|| serde_json::Value::from(kinds.to_vec()).to_string())
}

/// Inserts `hook`; the stored row.
pub async fn insert(db: &Db, hook: &NewWebhook) -> Result<StoredWebhook, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoredWebhook>(sqlx::AssertSqlSafe(format!(
            "INSERT INTO webhooks (url, secret, kinds, gw_id, enabled, cursor, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        )))
        .bind(&hook.url)
        .bind(&hook.secret)
        .bind(kinds_json(&hook.kinds))
        .bind(&hook.gw_id)
        // The column is a 0/1 BIGINT: PostgreSQL takes no bool for it.
        .bind(i64::from(hook.enabled))
        .bind(hook.cursor)
        .bind(crate::store::now_millis())
        .fetch_one(pool)
        .await
    })?)
}

/// Every webhook, by id.
pub async fn list(db: &Db) -> Result<Vec<StoredWebhook>, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoredWebhook>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhooks ORDER BY id"
        )))
        .fetch_all(pool)
        .await
    })?)
}

/// One webhook.
pub async fn get(db: &Db, id: i64) -> Result<Option<StoredWebhook>, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoredWebhook>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhooks WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await
    })?)
}

/// Applies `change`; the row after it, or `None` when there is no such
/// webhook. Enabling clears the failure state and the reason.
pub async fn update(
    db: &Db,
    id: i64,
    change: &WebhookChange,
) -> Result<Option<StoredWebhook>, StoreError> {
    let enable = change.enabled == Some(true);
    // `$3`, `$5` and `$8` are conditions (bool binds, which PostgreSQL
    // takes in CASE WHEN); `$7` is stored, so a 0/1 integer.
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, StoredWebhook>(sqlx::AssertSqlSafe(format!(
            "UPDATE webhooks SET \
             url = COALESCE($1, url), \
             secret = COALESCE($2, secret), \
             kinds = CASE WHEN $3 THEN $4 ELSE kinds END, \
             gw_id = CASE WHEN $5 THEN $6 ELSE gw_id END, \
             enabled = COALESCE($7, enabled), \
             failing_since = CASE WHEN $8 THEN NULL ELSE failing_since END, \
             disabled_reason = CASE WHEN $8 THEN NULL ELSE disabled_reason END \
             WHERE id = $9 RETURNING {COLUMNS}"
        )))
        .bind(&change.url)
        .bind(&change.secret)
        .bind(change.kinds.is_some())
        .bind(change.kinds.as_deref().and_then(kinds_json))
        .bind(change.gw_id.is_some())
        .bind(change.gw_id.clone().flatten())
        .bind(change.enabled.map(i64::from))
        .bind(enable)
        .bind(id)
        .fetch_optional(pool)
        .await
    })?)
}

/// Deletes a webhook; `false` when there was none.
pub async fn delete(db: &Db, id: i64) -> Result<bool, StoreError> {
    let affected = on_db!(db, pool => {
        sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(affected > 0)
}

/// Sets the cursor back (or forward) for a replay; `false` when there is
/// no such webhook.
pub async fn set_cursor(db: &Db, id: i64, cursor: i64) -> Result<bool, StoreError> {
    let affected = on_db!(db, pool => {
        sqlx::query("UPDATE webhooks SET cursor = $1 WHERE id = $2")
            .bind(cursor)
            .bind(id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(affected > 0)
}

/// A webhook's cursor moved on after a 2xx: `cursor` is the last event
/// id delivered or passed over by its filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookCursor {
    /// The webhook.
    pub id: i64,
    /// The new cursor.
    pub cursor: i64,
}

/// Writes cursors (never moving one back) and clears the failure state of
/// their webhooks; the delivery writer calls it inside its transaction.
pub async fn advance_cursors(
    conn: &mut Conn<'_>,
    cursors: &[WebhookCursor],
) -> Result<(), StoreError> {
    // The larger of two values is SQLite's two-argument MAX and
    // PostgreSQL's GREATEST (where MAX is only the aggregate).
    let sql = match conn.backend() {
        Backend::Sqlite => {
            "UPDATE webhooks SET cursor = MAX(cursor, $1), failing_since = NULL, \
             last_error = NULL WHERE id = $2"
        }
        Backend::Postgres => {
            "UPDATE webhooks SET cursor = GREATEST(cursor, $1), failing_since = NULL, \
             last_error = NULL WHERE id = $2"
        }
    };
    for cursor in cursors {
        on_conn!(conn, c => {
            sqlx::query(sql)
                .bind(cursor.cursor)
                .bind(cursor.id)
                .execute(&mut *c)
                .await
                .map(drop)
        })?;
    }
    Ok(())
}

/// Records a failed attempt: the error, and `since` as the start of the
/// failures unless one is already recorded. The failures' start.
pub async fn failed(db: &Db, id: i64, since: i64, error: &str) -> Result<Option<i64>, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_scalar::<_, Option<i64>>(
            "UPDATE webhooks SET failing_since = COALESCE(failing_since, $1), last_error = $2 \
             WHERE id = $3 RETURNING failing_since",
        )
        .bind(since)
        .bind(error)
        .bind(id)
        .fetch_optional(pool)
        .await
    })?
    .flatten())
}

/// Disables a webhook, saying why.
pub async fn disable(db: &Db, id: i64, reason: &str) -> Result<(), StoreError> {
    on_db!(db, pool => {
        sqlx::query("UPDATE webhooks SET enabled = 0, disabled_reason = $1 WHERE id = $2")
            .bind(reason)
            .bind(id)
            .execute(pool)
            .await
            .map(drop)
    })?;
    Ok(())
}
