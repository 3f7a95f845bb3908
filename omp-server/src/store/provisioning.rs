//! Table `provisioning`: auth_ids approved ahead of time (mode `approved`).

use sqlx::SqlitePool;

use crate::error::StoreError;
use crate::store::now_millis;

/// One approved auth_id, with optional restrictions.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Provision {
    /// The GW's auth_id.
    pub auth_id: String,
    /// Domain the GW must register with; `None` = any.
    pub domain: Option<String>,
    /// Manufacture ID the GW must register with; `None` = any.
    pub manufacture_id: Option<String>,
    /// When it was added, Unix milliseconds.
    pub created_at: i64,
}

/// Adds or replaces an approval.
pub async fn add(
    pool: &SqlitePool,
    auth_id: &str,
    domain: Option<&str>,
    manufacture_id: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO provisioning (auth_id, domain, manufacture_id, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (auth_id) DO UPDATE SET domain = excluded.domain,
             manufacture_id = excluded.manufacture_id",
    )
    .bind(auth_id)
    .bind(domain)
    .bind(manufacture_id)
    .bind(now_millis())
    .execute(pool)
    .await?;
    Ok(())
}

/// The approval of `auth_id`, if any.
pub async fn get(pool: &SqlitePool, auth_id: &str) -> Result<Option<Provision>, StoreError> {
    Ok(sqlx::query_as::<_, Provision>(
        "SELECT auth_id, domain, manufacture_id, created_at FROM provisioning WHERE auth_id = ?",
    )
    .bind(auth_id)
    .fetch_optional(pool)
    .await?)
}

/// Every approval, by auth_id.
pub async fn list(pool: &SqlitePool) -> Result<Vec<Provision>, StoreError> {
    Ok(sqlx::query_as::<_, Provision>(
        "SELECT auth_id, domain, manufacture_id, created_at FROM provisioning ORDER BY auth_id",
    )
    .fetch_all(pool)
    .await?)
}

/// Removes an approval; true when there was one.
pub async fn remove(pool: &SqlitePool, auth_id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM provisioning WHERE auth_id = ?")
        .bind(auth_id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
