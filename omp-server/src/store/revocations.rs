//! Table `revocations`: the removal of an approval in mode `approved`
//! deletes the approval and deregisters its gateway in one transaction
//! ([`revoke`]), and leaves a row here, so a running server — which may
//! not be the process that removed it (`omp-server provision remove`) —
//! learns of it by reading the rows after the last one it has acted on
//! ([`after`]) and closes that gateway's sessions.

use crate::error::StoreError;
use crate::store::{Db, now_millis};
use crate::{on_conn, on_db};

/// Rows older than this are pruned by the next revocation: a server
/// reads them within seconds, and one starting later loads the gateways
/// as they are (the revoked one deregistered).
const KEEP_MILLIS: i64 = 24 * 3600 * 1000;

/// One removal of an approval that ended a registration.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Revocation {
    /// Its place in the order of revocations.
    pub seq: i64,
    /// The auth_id whose approval was removed.
    pub auth_id: String,
    /// The gateway it deregistered, if it was registered.
    pub gw_id: Option<String>,
}

/// What [`revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// No approval of this auth_id: nothing changed.
    NotProvisioned,
    /// The approval is gone, and the gateway registered under it (if
    /// any) deregistered with its devices.
    Removed(Revocation),
}

/// Removes the approval of `auth_id` and deregisters its gateway and
/// devices, in one transaction, noting it in `revocations`.
///
/// The row's `seq` is SQLite's AUTOINCREMENT, or on PostgreSQL drawn by
/// the table's BEFORE INSERT trigger under a lock held to the end of the
/// transaction: on both, seqs grow in commit order, so a reader's
/// `seq > last` misses none.
pub async fn revoke(db: &Db, auth_id: &str) -> Result<Revoked, StoreError> {
    let now = now_millis();
    let mut tx = db.begin_write().await?;
    let mut conn = tx.conn();
    // `None`: not provisioned; else the gateway it deregistered, if any.
    let deregistered: Option<Option<String>> = on_conn!(conn, c => {
        let removed = sqlx::query("DELETE FROM provisioning WHERE auth_id = $1")
            .bind(auth_id)
            .execute(&mut *c)
            .await?;
        if removed.rows_affected() == 0 {
            None
        } else {
            Some(
                sqlx::query_scalar(
                    "UPDATE gateways SET deregistered_at = $1 WHERE auth_id = $2
                         AND deregistered_at IS NULL
                     RETURNING gw_id",
                )
                .bind(now)
                .bind(auth_id)
                .fetch_optional(&mut *c)
                .await?,
            )
        }
    });
    let Some(gw_id) = deregistered else {
        return Ok(Revoked::NotProvisioned);
    };
    if let Some(gw_id) = &gw_id {
        super::devices::deregister_all_of(&mut conn, gw_id, now).await?;
    }
    let seq: i64 = on_conn!(conn, c => {
        sqlx::query("DELETE FROM revocations WHERE revoked_at < $1")
            .bind(now - KEEP_MILLIS)
            .execute(&mut *c)
            .await?;
        sqlx::query_scalar(
            "INSERT INTO revocations (auth_id, gw_id, revoked_at) VALUES ($1, $2, $3)
             RETURNING seq",
        )
        .bind(auth_id)
        .bind(&gw_id)
        .bind(now)
        .fetch_one(&mut *c)
        .await?
    });
    tx.commit().await?;
    Ok(Revoked::Removed(Revocation {
        seq,
        auth_id: auth_id.to_owned(),
        gw_id,
    }))
}

/// The last revocation's `seq` (0 when there was none): a server starting
/// acts on the revocations after it.
pub async fn last_seq(db: &Db) -> Result<i64, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM revocations")
            .fetch_one(pool)
            .await
    })?)
}

/// The revocations after `seq`, in order.
pub async fn after(db: &Db, seq: i64) -> Result<Vec<Revocation>, StoreError> {
    Ok(on_db!(db, pool => {
        sqlx::query_as::<_, Revocation>(
            "SELECT seq, auth_id, gw_id FROM revocations WHERE seq > $1 ORDER BY seq",
        )
        .bind(seq)
        .fetch_all(pool)
        .await
    })?)
}
