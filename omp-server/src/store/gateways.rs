//! Table `gateways`: registered GWs, their GW ID, auth key, encryption
//! setting and last contact.
//!
//! GW IDs are `SC` + 8 digits from `seq` (starting at SC10010001, near the
//! observed `SC10010254`). Registering again returns the same GW ID and
//! key — unless the stored key is longer than real clients can hold (keys
//! of 16 characters were issued once), which is replaced; registering
//! after a deregistration returns the same GW ID with a new key.

use std::collections::BTreeMap;

use sqlx::{FromRow, QueryBuilder};

use crate::config::ProfileDefaults;
use crate::error::StoreError;
use crate::store::now_millis;
use crate::store::profiles::{self, ProfileRow};
use crate::store::{Backend, Conn, Db};
use crate::{on_conn, on_db};

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

/// The columns [`GatewayRecord`] reads, qualified with `alias` (`g.` or
/// `''`). The flag is compared in SQL: PostgreSQL decodes only a
/// BOOLEAN into `bool`, and a comparison is one on both backends.
fn columns(alias: &str) -> String {
    format!(
        "{alias}gw_id, {alias}auth_id, {alias}auth_key, {alias}domain, {alias}manufacture_id,
         {alias}registered_at, {alias}deregistered_at, {alias}last_seen, {alias}last_peer,
         {alias}registration_lock <> 0 AS registration_lock"
    )
}

/// Every registered (not deregistered) gateway.
pub async fn load_active(db: &Db) -> Result<Vec<GatewayRecord>, StoreError> {
    let sql = format!(
        "SELECT {} FROM gateways WHERE deregistered_at IS NULL",
        columns("")
    );
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, GatewayRecord>(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
    })?)
}

/// The gateway of `auth_id`, registered or not.
pub async fn find_by_auth_id(db: &Db, auth_id: &str) -> Result<Option<GatewayRecord>, StoreError> {
    let sql = format!("SELECT {} FROM gateways WHERE auth_id = $1", columns(""));
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, GatewayRecord>(sqlx::AssertSqlSafe(sql))
            .bind(auth_id)
            .fetch_optional(pool)
            .await
    })?)
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
/// none. Callers serialise registrations (one at a time per process); the
/// write transaction serialises them across processes, so the next GW ID
/// read is the one inserted.
pub async fn register(
    db: &Db,
    auth_id: &str,
    domain: &str,
    manufacture_id: &str,
    new_key: &str,
    max_key_len: usize,
    approval: Approval,
) -> Result<Option<GatewayRecord>, StoreError> {
    let now = now_millis();
    let select = format!("SELECT {} FROM gateways WHERE auth_id = $1", columns(""));
    let mut tx = db.begin_write().await?;
    let mut conn = tx.conn();
    let record = on_conn!(conn, c => {
        if approval == Approval::Required {
            // CAST: PostgreSQL types a bare 1 as a 32-bit integer.
            let approved: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(1 AS BIGINT) FROM provisioning WHERE auth_id = $1",
            )
            .bind(auth_id)
            .fetch_optional(&mut *c)
            .await?;
            if approved.is_none() {
                return Ok(None);
            }
        }
        let existing = sqlx::query_as::<_, GatewayRecord>(sqlx::AssertSqlSafe(select))
            .bind(auth_id)
            .fetch_optional(&mut *c)
            .await?;
        match existing {
            Some(active)
                if active.deregistered_at.is_none() && active.auth_key.len() <= max_key_len =>
            {
                return Ok(Some(active));
            }
            Some(active) if active.deregistered_at.is_none() => {
                sqlx::query("UPDATE gateways SET auth_key = $1 WHERE gw_id = $2")
                    .bind(new_key)
                    .bind(&active.gw_id)
                    .execute(&mut *c)
                    .await?;
                tracing::info!(gw_id = %active.gw_id, old_len = active.auth_key.len(),
                    new_len = new_key.len(),
                    "auth key too long for real clients; a shorter one issued");
                GatewayRecord {
                    auth_key: new_key.to_owned(),
                    ..active
                }
            }
            Some(old) => {
                sqlx::query(
                    "UPDATE gateways SET auth_key = $1, domain = $2, manufacture_id = $3,
                         registered_at = $4, deregistered_at = NULL WHERE gw_id = $5",
                )
                .bind(new_key)
                .bind(domain)
                .bind(manufacture_id)
                .bind(now)
                .bind(&old.gw_id)
                .execute(&mut *c)
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
                let seq: i64 =
                    sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM gateways")
                        .fetch_one(&mut *c)
                        .await?;
                let gw_id = format!("SC{:08}", GW_ID_BASE + seq);
                sqlx::query(
                    "INSERT INTO gateways (seq, gw_id, auth_id, auth_key, domain, manufacture_id,
                         registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(seq)
                .bind(&gw_id)
                .bind(auth_id)
                .bind(new_key)
                .bind(domain)
                .bind(manufacture_id)
                .bind(now)
                .execute(&mut *c)
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
        }
    });
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
    Ok(on_db!(db, pool => {
        sqlx::query_scalar(
            "UPDATE gateways SET registration_lock = $1 WHERE gw_id = $2 RETURNING auth_id",
        )
        // The column is a 0/1 BIGINT: PostgreSQL takes no bool for it.
        .bind(i64::from(locked))
        .bind(gw_id)
        .fetch_optional(pool)
        .await
    })?)
}

/// Marks `gw_id` deregistered (its devices too); true when it was active.
pub async fn deregister(db: &Db, gw_id: &str) -> Result<bool, StoreError> {
    let now = now_millis();
    let mut tx = db.begin_write().await?;
    let mut conn = tx.conn();
    let affected = on_conn!(conn, c => {
        let done = sqlx::query(
            "UPDATE gateways SET deregistered_at = $1 WHERE gw_id = $2
                 AND deregistered_at IS NULL",
        )
        .bind(now)
        .bind(gw_id)
        .execute(&mut *c)
        .await?;
        done.rows_affected()
    });
    super::devices::deregister_all_of(&mut conn, gw_id, now).await?;
    tx.commit().await?;
    Ok(affected > 0)
}

/// A GW's encryption setting: (enabled 0x00/0x01, algorithm).
pub async fn encryption(db: &Db, gw_id: &str) -> Result<(u8, u8), StoreError> {
    let row: Option<(i64, i64)> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT encryption_enabled, encryption_algorithm FROM gateways WHERE gw_id = $1",
        )
        .bind(gw_id)
        .fetch_optional(pool)
        .await
    })?;
    let (enabled, algorithm) = row.unwrap_or((0, 0));
    Ok((u8::from(enabled != 0), u8::try_from(algorithm).unwrap_or(0)))
}

/// Stores the key a GW set with 0x1B (raw bytes as received).
pub async fn set_encryption_key(db: &Db, gw_id: &str, key: &[u8]) -> Result<(), StoreError> {
    on_db!(db, pool => {
        sqlx::query("UPDATE gateways SET encryption_key = $1 WHERE gw_id = $2")
            .bind(key)
            .bind(gw_id)
            .execute(pool)
            .await
            .map(drop)
    })?;
    Ok(())
}

/// The key a GW set, if any.
pub async fn encryption_key(db: &Db, gw_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let key: Option<Option<Vec<u8>>> = on_db!(db, pool => {
        sqlx::query_scalar("SELECT encryption_key FROM gateways WHERE gw_id = $1")
            .bind(gw_id)
            .fetch_optional(pool)
            .await
    })?;
    Ok(key.flatten())
}

/// Writes last contact times and peers `(gw_id, unix ms, peer)` (the
/// delivery writer calls it, inside its own transaction).
pub async fn record_last_seen(
    conn: &mut Conn<'_>,
    seen: &[(String, i64, String)],
) -> Result<(), StoreError> {
    if seen.is_empty() {
        return Ok(());
    }
    // One statement for the whole batch (tens of thousands of gateways
    // under load), not one round trip per gateway.
    match conn.reborrow() {
        Conn::Sqlite(c) => {
            let batch = serde_json::to_string(seen).unwrap_or_else(|_| "[]".to_owned());
            sqlx::query(
                "UPDATE gateways SET last_seen = seen.at, last_peer = seen.peer
                 FROM (SELECT value ->> 0 AS gw_id, value ->> 1 AS at, value ->> 2 AS peer
                       FROM json_each($1)) AS seen
                 WHERE gateways.gw_id = seen.gw_id",
            )
            .bind(batch)
            .execute(&mut *c)
            .await?;
        }
        Conn::Postgres(c) => {
            // Typed arrays instead of JSON: no text to parse and cast back
            // to BIGINT. A gateway seen twice in the batch keeps its
            // latest contact (a join with two source rows for one target
            // row would update it with either).
            // In GW ID order, so two instances' writers lock the rows they
            // share in one order (no deadlock between them).
            let mut latest: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
            for (gw_id, at, peer) in seen {
                latest
                    .entry(gw_id.as_str())
                    .and_modify(|e| {
                        if *at >= e.0 {
                            *e = (*at, peer.as_str());
                        }
                    })
                    .or_insert((*at, peer.as_str()));
            }
            let mut gw_ids = Vec::with_capacity(latest.len());
            let mut ats = Vec::with_capacity(latest.len());
            let mut peers = Vec::with_capacity(latest.len());
            for (gw_id, (at, peer)) in latest {
                gw_ids.push(gw_id);
                ats.push(at);
                peers.push(peer);
            }
            sqlx::query(
                "UPDATE gateways SET last_seen = seen.at, last_peer = seen.peer
                 FROM UNNEST($1::text[], $2::bigint[], $3::text[]) AS seen (gw_id, at, peer)
                 WHERE gateways.gw_id = seen.gw_id",
            )
            .bind(gw_ids)
            .bind(ats)
            .bind(peers)
            .execute(&mut *c)
            .await?;
        }
    }
    Ok(())
}

/// Last contact time and peer of a GW.
pub async fn last_seen(
    db: &Db,
    gw_id: &str,
) -> Result<Option<(Option<i64>, Option<String>)>, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_as("SELECT last_seen, last_peer FROM gateways WHERE gw_id = $1")
            .bind(gw_id)
            .fetch_optional(pool)
            .await
    })?)
}

/// True when `gw_id` is a gateway the OMP registered (now or before).
pub async fn exists(db: &Db, gw_id: &str) -> Result<bool, StoreError> {
    // CAST: PostgreSQL types a bare 1 as a 32-bit integer.
    let found: Option<i64> = on_db!(db, pool => {
        sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM gateways WHERE gw_id = $1")
            .bind(gw_id)
            .fetch_optional(pool)
            .await
    })?;
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
    format!(
        "SELECT {}, {} FROM gateways g
         LEFT JOIN profiles p ON p.gw_id = g.gw_id AND p.device_id = ''",
        columns("g."),
        profiles::columns("p.")
    )
}

/// Gateway `gw_id` with its profile.
pub async fn get_with_profile(db: &Db, gw_id: &str) -> Result<Option<WithProfile>, StoreError> {
    let sql = format!("{} WHERE g.gw_id = $1", with_profile_select());
    let row: Option<WithProfileRow> = on_db!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(gw_id)
            .fetch_optional(pool)
            .await
    })?;
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
    // The set travels as one JSON array parameter, however large; each
    // backend unpacks it with its own function (a subquery, so `NOT IN`
    // is one hashed look-up per row on both).
    let elements = match db.backend() {
        Backend::Sqlite => "SELECT value FROM json_each(",
        Backend::Postgres => "SELECT jsonb_array_elements_text(CAST(",
    };
    let elements_end = match db.backend() {
        Backend::Sqlite => "))",
        Backend::Postgres => " AS jsonb)))",
    };
    let rows: Vec<WithProfileRow> = on_db!(db, pool => {
        let mut sql = QueryBuilder::new(with_profile_select());
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
            let ids = serde_json::to_string(gw_ids).unwrap_or_else(|_| "[]".to_owned());
            sql.push(if *connected {
                " AND g.gw_id IN ("
            } else {
                " AND g.gw_id NOT IN ("
            })
            .push(elements)
            .push_bind(ids)
            .push(elements_end);
        }
        sql.push(" ORDER BY g.gw_id LIMIT ").push_bind(limit);
        sql.build_query_as().fetch_all(pool).await
    })?;
    rows.into_iter().map(WithProfileRow::into_domain).collect()
}
