//! Table `mqtt_provisioning`: MQTT clients approved ahead of time (mode
//! `approved`), each with its login profile. Secrets arrive hashed
//! (`mqtt::secret`); this module never sees a clear password.

use crate::error::StoreError;
use crate::store::{Db, now_millis};
use crate::{on_conn, on_db};

/// How a provisioned client logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginProfile {
    /// OneNET: client id = device id, username = product id, password =
    /// the device's auth info.
    OneNet,
    /// Username and password, any client id.
    Password,
    /// No credentials: this client id only.
    ClientId,
}

impl LoginProfile {
    /// The name stored and typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginProfile::OneNet => "onenet",
            LoginProfile::Password => "password",
            LoginProfile::ClientId => "client-id",
        }
    }

    /// The profile named `name`.
    pub fn parse(name: &str) -> Option<LoginProfile> {
        Some(match name {
            "onenet" => LoginProfile::OneNet,
            "password" => LoginProfile::Password,
            "client-id" => LoginProfile::ClientId,
            _ => return None,
        })
    }
}

/// One provisioned MQTT client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttProvision {
    /// Its login profile.
    pub profile: LoginProfile,
    /// The client id it must use; `None` for `password` (any).
    pub client_id: Option<String>,
    /// The username it must give (`onenet`: product id; `password`).
    pub username: Option<String>,
    /// The hashed secret (`onenet`, `password`).
    pub secret_hash: Option<String>,
    /// When it was added, Unix milliseconds.
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    profile: String,
    client_id: Option<String>,
    username: Option<String>,
    secret_hash: Option<String>,
    created_at: i64,
}

impl TryFrom<Row> for MqttProvision {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<MqttProvision, StoreError> {
        let profile = LoginProfile::parse(&r.profile).ok_or(StoreError::BadStoredValue {
            field: "mqtt_provisioning.profile",
            value: r.profile.clone(),
        })?;
        Ok(MqttProvision {
            profile,
            client_id: r.client_id,
            username: r.username,
            secret_hash: r.secret_hash,
            created_at: r.created_at,
        })
    }
}

const COLUMNS: &str = "profile, client_id, username, secret_hash, created_at";

/// Adds `p`, replacing an approval of the same client id (or, for
/// `password`, the same username).
pub async fn add(db: &Db, p: &MqttProvision) -> Result<(), StoreError> {
    let created_at = if p.created_at == 0 {
        now_millis()
    } else {
        p.created_at
    };
    let mut tx = db.begin_write().await?;
    let mut conn = tx.conn();
    on_conn!(conn, c => {
        match &p.client_id {
            Some(client_id) => {
                sqlx::query("DELETE FROM mqtt_provisioning WHERE client_id = $1")
                    .bind(client_id)
                    .execute(&mut *c)
                    .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM mqtt_provisioning WHERE profile = 'password' AND username = $1",
                )
                .bind(&p.username)
                .execute(&mut *c)
                .await?;
            }
        }
        sqlx::query(
            "INSERT INTO mqtt_provisioning (profile, client_id, username, secret_hash, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(p.profile.as_str())
        .bind(&p.client_id)
        .bind(&p.username)
        .bind(&p.secret_hash)
        .bind(created_at)
        .execute(&mut *c)
        .await?;
    });
    tx.commit().await?;
    Ok(())
}

/// The approval naming `client_id` (profiles `onenet` and `client-id`).
pub async fn by_client_id(db: &Db, client_id: &str) -> Result<Option<MqttProvision>, StoreError> {
    on_db!(db, pool => {
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_provisioning WHERE client_id = $1"
        )))
        .bind(client_id)
        .fetch_optional(pool)
        .await
    })?
    .map(MqttProvision::try_from)
    .transpose()
}

/// The `password` approval of `username`.
pub async fn by_username(db: &Db, username: &str) -> Result<Option<MqttProvision>, StoreError> {
    on_db!(db, pool => {
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_provisioning WHERE profile = 'password' AND username = $1"
        )))
        .bind(username)
        .fetch_optional(pool)
        .await
    })?
    .map(MqttProvision::try_from)
    .transpose()
}

/// Every approval, oldest first.
pub async fn list(db: &Db) -> Result<Vec<MqttProvision>, StoreError> {
    on_db!(db, pool => {
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM mqtt_provisioning ORDER BY id"
        )))
        .fetch_all(pool)
        .await
    })?
    .into_iter()
    .map(MqttProvision::try_from)
    .collect()
}

/// Removes the approval of client id `name`, or else the `password`
/// approval of username `name`; true when there was one.
pub async fn remove(db: &Db, name: &str) -> Result<bool, StoreError> {
    let affected = on_db!(db, pool => {
        sqlx::query(
            "DELETE FROM mqtt_provisioning WHERE client_id = $1
                OR (profile = 'password' AND username = $1 AND NOT EXISTS
                    (SELECT 1 FROM mqtt_provisioning WHERE client_id = $1))",
        )
        .bind(name)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
    })?;
    Ok(affected > 0)
}
