//! Table `provisioning`: auth_ids approved ahead of time (mode `approved`).
//! Used by the `provision` CLI, the HTTP API and registration alike.

use crate::error::StoreError;
use crate::on_db;
use crate::store::{Db, now_millis};

/// One approved auth_id, with optional restrictions.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Provision {
    /// The GW's auth_id.
    pub auth_id: String,
    /// Domain the GW must register with; `None` = any.
    pub domain: Option<String>,
    /// Manufacture ID the GW must register with; `None` = any.
    pub manufacture_id: Option<String>,
    /// A label for people (the portal's device name); not a GMMP field.
    pub name: Option<String>,
    /// When it was added, Unix milliseconds.
    pub created_at: i64,
}

const COLUMNS: &str = "auth_id, domain, manufacture_id, name, created_at";

/// Adds or replaces an approval (the CLI's `provision add`; a name given
/// earlier is kept).
pub async fn add(
    db: &Db,
    auth_id: &str,
    domain: Option<&str>,
    manufacture_id: Option<&str>,
) -> Result<(), StoreError> {
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO provisioning (auth_id, domain, manufacture_id, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (auth_id) DO UPDATE SET domain = excluded.domain,
                 manufacture_id = excluded.manufacture_id",
        )
        .bind(auth_id)
        .bind(domain)
        .bind(manufacture_id)
        .bind(now_millis())
        .execute(pool)
        .await
        .map(drop)
    })?;
    Ok(())
}

/// Adds `p` unless its auth_id is approved already (the API's POST);
/// false when it was.
pub async fn insert_new(db: &Db, p: &Provision) -> Result<bool, StoreError> {
    let affected = on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO provisioning (auth_id, domain, manufacture_id, name, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (auth_id) DO NOTHING",
        )
        .bind(&p.auth_id)
        .bind(&p.domain)
        .bind(&p.manufacture_id)
        .bind(&p.name)
        .bind(p.created_at)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
    })?;
    Ok(affected > 0)
}

/// The approval of `auth_id`, if any.
pub async fn get(db: &Db, auth_id: &str) -> Result<Option<Provision>, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, Provision>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM provisioning WHERE auth_id = $1"
        )))
        .bind(auth_id)
        .fetch_optional(pool)
        .await
    })?)
}

/// Every approval, by auth_id.
pub async fn list(db: &Db) -> Result<Vec<Provision>, StoreError> {
    page(db, None, i64::MAX).await
}

/// At most `limit` approvals after auth_id `after`, by auth_id (the
/// database's text order: byte order on SQLite, the database collation on
/// PostgreSQL; the cursor and the order agree on each).
pub async fn page(db: &Db, after: Option<&str>, limit: i64) -> Result<Vec<Provision>, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, Provision>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM provisioning WHERE $1 IS NULL OR auth_id > $1
             ORDER BY auth_id LIMIT $2"
        )))
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// Removes an approval; true when there was one.
pub async fn remove(db: &Db, auth_id: &str) -> Result<bool, StoreError> {
    let affected = on_db!(db, pool => {
        sqlx::query("DELETE FROM provisioning WHERE auth_id = $1")
            .bind(auth_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(affected > 0)
}
