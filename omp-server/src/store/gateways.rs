//! Table `gateways`: registered GWs, their GW ID, auth key, encryption
//! setting and last contact.
//!
//! GW IDs are `SC` + 8 digits from `seq` (starting at SC10010001, near the
//! observed `SC10010254`). Registering again returns the same GW ID and
//! key — unless the stored key is longer than real clients can hold (keys
//! of 16 characters were issued once), which is replaced; registering
//! after a deregistration returns the same GW ID with a new key.

use sqlx::{FromRow, QueryBuilder, Sqlite, SqlitePool};

use crate::config::ProfileDefaults;
use crate::error::StoreError;
use crate::store::now_millis;
use crate::store::profiles::{self, ProfileRow};
use crate::store::{Conn, Db};

/// First GW ID number − 1.
const GW_ID_BASE: i64 = 10_010_000;

/// A gateway as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GatewayRecord {
    /// `SC…`
    pub gw_id: String,
    /// The GW's auth_id.
    pub auth_id: String,
    /// The key assigned at registration, stored as plain text on purpose:
    /// GMMP answers every registration — the repeat a module sends on each
    /// connect included — with the key itself in the response header, so
    /// the server must be able to give it back. A hash could only be
    /// checked, never answered; the database file's mode 0600 protects it
    /// instead ([`crate::file_modes`]).
    pub auth_key: String,
    /// Domain code it registered with.
    pub domain: String,
    /// Manufacture ID it registered with.
    pub manufacture_id: String,
    /// Unix ms.
    pub registered_at: i64,
    /// Unix ms; `Some` = deregistered.
    pub deregistered_at: Option<i64>,
    /// Last contact, Unix ms (written in batches, so up to a few seconds old).
    pub last_seen: Option<i64>,
    /// Peer address of the last contact.
    pub last_peer: Option<String>,
    /// Set: a registration must carry the current auth key in its header.
    pub registration_lock: bool,
}

const COLUMNS: &str = "gw_id, auth_id, auth_key, domain, manufacture_id, registered_at,
    deregistered_at, last_seen, last_peer, registration_lock";

/// Every registered (not deregistered) gateway.
pub async fn load_active(db: &Db) -> Result<Vec<GatewayRecord>, StoreError> {
    let pool = db.sqlite_only()?;
    Ok(
        sqlx::query_as::<_, GatewayRecord>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM gateways WHERE deregistered_at IS NULL"
        )))
        .fetch_all(pool)
        .await?,
    )
}

/// The gateway of `auth_id`, registered or not.
pub async fn find_by_auth_id(db: &Db, auth_id: &str) -> Result<Option<GatewayRecord>, StoreError> {
    let pool = db.sqlite_only()?;
    Ok(
        sqlx::query_as::<_, GatewayRecord>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM gateways WHERE auth_id = ?"
        )))
        .bind(auth_id)
        .fetch_optional(pool)
        .await?,
    )
}

/// Whether a registration needs the auth_id's approval (mode `approved`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// Checked in the registering transaction: an approval removed after
    /// the caller looked (a revocation) cannot be undone by registering.
    Required,
    /// Mode `open`.
    NotNeeded,
}

/// Registers `auth_id`: returns the active registration as it is (with
/// `new_key` in place of a stored key over `max_key_len` characters),
/// revives a deregistered one with `new_key`, or creates one with the next
/// GW ID and `new_key`; `None` when `approval` is required and there is
/// none. Callers serialise registrations (one at a time per process).
pub async fn register(
    db: &Db,
    auth_id: &str,
    domain: &str,
    manufacture_id: &str,
    new_key: &str,
    max_key_len: usize,
    approval: Approval,
) -> Result<Option<GatewayRecord>, StoreError> {
    let pool = db.sqlite_only()?;
    let now = now_millis();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if approval == Approval::Required {
        let approved: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM provisioning WHERE auth_id = ?")
                .bind(auth_id)
                .fetch_optional(&mut *tx)
                .await?;
        if approved.is_none() {
            return Ok(None);
        }
    }
    let existing = sqlx::query_as::<_, GatewayRecord>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM gateways WHERE auth_id = ?"
    )))
    .bind(auth_id)
    .fetch_optional(&mut *tx)
    .await?;
    let record = match existing {
        Some(active)
            if active.deregistered_at.is_none() && active.auth_key.len() <= max_key_len =>
        {
            return Ok(Some(active));
        }
        Some(active) if active.deregistered_at.is_none() => {
            sqlx::query("UPDATE gateways SET auth_key = ? WHERE gw_id = ?")
                .bind(new_key)
                .bind(&active.gw_id)
                .execute(&mut *tx)
                .await?;
            tracing::info!(gw_id = %active.gw_id, old_len = active.auth_key.len(), new_len = new_key.len(),
                "auth key too long for real clients; a shorter one issued");
            GatewayRecord {
                auth_key: new_key.to_owned(),
                ..active
            }
        }
        Some(old) => {
            sqlx::query(
                "UPDATE gateways SET auth_key = ?, domain = ?, manufacture_id = ?,
                     registered_at = ?, deregistered_at = NULL WHERE gw_id = ?",
            )
            .bind(new_key)
            .bind(domain)
            .bind(manufacture_id)
            .bind(now)
            .bind(&old.gw_id)
            .execute(&mut *tx)
            .await?;
            GatewayRecord {
                auth_key: new_key.to_owned(),
                domain: domain.to_owned(),
                manufacture_id: manufacture_id.to_owned(),
                registered_at: now,
                deregistered_at: None,
                ..old
            }
        }
        None => {
            let seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM gateways")
                .fetch_one(&mut *tx)
                .await?;
            let gw_id = format!("SC{:08}", GW_ID_BASE + seq);
            sqlx::query(
                "INSERT INTO gateways (seq, gw_id, auth_id, auth_key, domain, manufacture_id,
                     registered_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(seq)
            .bind(&gw_id)
            .bind(auth_id)
            .bind(new_key)
            .bind(domain)
            .bind(manufacture_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            GatewayRecord {
                gw_id,
                auth_id: auth_id.to_owned(),
                auth_key: new_key.to_owned(),
                domain: domain.to_owned(),
                manufacture_id: manufacture_id.to_owned(),
                registered_at: now,
                deregistered_at: None,
                last_seen: None,
                last_peer: None,
                registration_lock: false,
            }
        }
    };
    tx.commit().await?;
    Ok(Some(record))
}

/// Sets or clears the registration lock of `gw_id`; its auth ID, or
/// `None` when there is no such gateway.
pub async fn set_registration_lock(
    db: &Db,
    gw_id: &str,
    locked: bool,
) -> Result<Option<String>, StoreError> {
    let pool = db.sqlite_only()?;
    Ok(sqlx::query_scalar(
        "UPDATE gateways SET registration_lock = ? WHERE gw_id = ? RETURNING auth_id",
    )
    .bind(locked)
    .bind(gw_id)
    .fetch_optional(pool)
    .await?)
}

/// Marks `gw_id` deregistered (its devices too); true when it was active.
pub async fn deregister(db: &Db, gw_id: &str) -> Result<bool, StoreError> {
    let pool = db.sqlite_only()?;
    let now = now_millis();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let done = sqlx::query(
        "UPDATE gateways SET deregistered_at = ? WHERE gw_id = ? AND deregistered_at IS NULL",
    )
    .bind(now)
    .bind(gw_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE devices SET deregistered_at = ? WHERE gw_id = ? AND deregistered_at IS NULL",
    )
    .bind(now)
    .bind(gw_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// A GW's encryption setting: (enabled 0x00/0x01, algorithm).
pub async fn encryption(db: &Db, gw_id: &str) -> Result<(u8, u8), StoreError> {
    let pool = db.sqlite_only()?;
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT encryption_enabled, encryption_algorithm FROM gateways WHERE gw_id = ?",
    )
    .bind(gw_id)
    .fetch_optional(pool)
    .await?;
    let (enabled, algorithm) = row.unwrap_or((0, 0));
    Ok((u8::from(enabled != 0), u8::try_from(algorithm).unwrap_or(0)))
}

/// Stores the key a GW set with 0x1B (raw bytes as received).
pub async fn set_encryption_key(db: &Db, gw_id: &str, key: &[u8]) -> Result<(), StoreError> {
    let pool = db.sqlite_only()?;
    sqlx::query("UPDATE gateways SET encryption_key = ? WHERE gw_id = ?")
        .bind(key)
        .bind(gw_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// The key a GW set, if any.
pub async fn encryption_key(db: &Db, gw_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let pool = db.sqlite_only()?;
    let key: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT encryption_key FROM gateways WHERE gw_id = ?")
            .bind(gw_id)
            .fetch_optional(pool)
            .await?;
    Ok(key.flatten())
}

/// Writes last contact times and peers `(gw_id, unix ms, peer)` (the
/// delivery writer calls it, inside its own transaction).
pub async fn record_last_seen(
    conn: &mut Conn<'_>,
    seen: &[(String, i64, String)],
) -> Result<(), StoreError> {
    let conn = conn.sqlite_only()?;
    if seen.is_empty() {
        return Ok(());
    }
    // One statement for the whole batch (tens of thousands of gateways
    // under load), not one round trip per gateway.
    let batch = serde_json::to_string(seen).unwrap_or_else(|_| "[]".to_owned());
    sqlx::query(
        "UPDATE gateways SET last_seen = seen.at, last_peer = seen.peer
         FROM (SELECT value ->> 0 AS gw_id, value ->> 1 AS at, value ->> 2 AS peer
               FROM json_each(?)) AS seen
         WHERE gateways.gw_id = seen.gw_id",
    )
    .bind(batch)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Last contact time and peer of a GW.
pub async fn last_seen(
    db: &Db,
    gw_id: &str,
) -> Result<Option<(Option<i64>, Option<String>)>, StoreError> {
    let pool = db.sqlite_only()?;
    Ok(
        sqlx::query_as("SELECT last_seen, last_peer FROM gateways WHERE gw_id = ?")
            .bind(gw_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// True when `gw_id` is a gateway the OMP registered (now or before).
pub async fn exists(db: &Db, gw_id: &str) -> Result<bool, StoreError> {
    let pool = db.sqlite_only()?;
    let found: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM gateways WHERE gw_id = ?")
        .bind(gw_id)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// A gateway and its own profile (`None`: none stored, the defaults apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithProfile {
    /// The gateway.
    pub gateway: GatewayRecord,
    /// Its stored profile (`device_id = ''`).
    pub profile: Option<ProfileDefaults>,
}

#[derive(FromRow)]
struct WithProfileRow {
    #[sqlx(flatten)]
    gateway: GatewayRecord,
    #[sqlx(flatten)]
    profile: ProfileRow,
}

impl WithProfileRow {
    fn into_domain(self) -> Result<WithProfile, StoreError> {
        Ok(WithProfile {
            gateway: self.gateway,
            profile: self.profile.into_profile()?,
        })
    }
}

/// `SELECT` of a gateway joined with its own profile row, if any.
fn with_profile_select() -> String {
    let gateway = COLUMNS
        .split(',')
        .map(|c| format!("g.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {gateway}, {} FROM gateways g
         LEFT JOIN profiles p ON p.gw_id = g.gw_id AND p.device_id = ''",
        profiles::columns("p.")
    )
}

/// Gateway `gw_id` with its profile.
pub async fn get_with_profile(db: &Db, gw_id: &str) -> Result<Option<WithProfile>, StoreError> {
    let pool = db.sqlite_only()?;
    let row: Option<WithProfileRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} WHERE g.gw_id = ?",
        with_profile_select()
    )))
    .bind(gw_id)
    .fetch_optional(pool)
    .await?;
    row.map(WithProfileRow::into_domain).transpose()
}

/// Which gateways a page holds.
#[derive(Debug, Clone, Default)]
pub struct GatewayFilter {
    /// Only GW IDs after this one (the cursor).
    pub after: Option<String>,
    /// `Some(true)`: registered only; `Some(false)`: deregistered only.
    pub registered: Option<bool>,
    /// `Some((true, ids))`: only the GW IDs in `ids`; `Some((false, ids))`:
    /// only those not in it (the live sessions are the caller's to know).
    pub connected: Option<(bool, Vec<String>)>,
}

/// At most `limit` gateways matching `filter` with their profiles, in GW
/// ID order.
pub async fn page_with_profile(
    db: &Db,
    filter: &GatewayFilter,
    limit: i64,
) -> Result<Vec<WithProfile>, StoreError> {
    let pool = db.sqlite_only()?;
    let mut sql = QueryBuilder::<Sqlite>::new(with_profile_select());
    sql.push(" WHERE 1 = 1");
    if let Some(after) = &filter.after {
        sql.push(" AND g.gw_id > ").push_bind(after);
    }
    match filter.registered {
        Some(true) => {
            sql.push(" AND g.deregistered_at IS NULL");
        }
        Some(false) => {
            sql.push(" AND g.deregistered_at IS NOT NULL");
        }
        None => {}
    }
    if let Some((connected, gw_ids)) = &filter.connected {
        // The set travels as one JSON array parameter, however large.
        let ids = serde_json::to_string(gw_ids).unwrap_or_else(|_| "[]".to_owned());
        sql.push(if *connected {
            " AND g.gw_id IN"
        } else {
            " AND g.gw_id NOT IN"
        })
        .push(" (SELECT value FROM json_each(")
        .push_bind(ids)
        .push("))");
    }
    sql.push(" ORDER BY g.gw_id LIMIT ").push_bind(limit);
    let rows: Vec<WithProfileRow> = sql.build_query_as().fetch_all(pool).await?;
    rows.into_iter().map(WithProfileRow::into_domain).collect()
}
