//! PostgreSQL, the store of several instances: its schema
//! (`migrations/postgres/`) and how a URL becomes a migrated pool, with
//! start-up errors that name the server and the cause.

use std::str::FromStr;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::error::StoreError;

/// The migrations of `migrations/postgres/`, embedded at build time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

/// Where a PostgreSQL URL points, without its password: what error
/// messages and logs name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host (or socket directory) and port.
    pub host: String,
    /// The database.
    pub database: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.database)
    }
}

/// Parses `url` (`postgres://user:password@host:port/database?…`).
pub fn options(url: &str) -> Result<(PgConnectOptions, Target), StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(|source| StoreError::PostgresUrl {
        reason: source.to_string(),
    })?;
    let target = Target {
        host: format!("{}:{}", options.get_host(), options.get_port()),
        database: options
            .get_database()
            .unwrap_or(options.get_username())
            .to_owned(),
    };
    Ok((options, target))
}

/// Connects to the database at `url` and applies the migrations: a
/// database whose schema has a migration this binary does not know (a
/// newer omp-server has run on it) is refused, never written.
pub async fn open(url: &str) -> Result<(PgPool, Target), StoreError> {
    let (options, target) = options(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|source| StoreError::PostgresUnreachable {
            target: target.clone(),
            source,
        })?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|source| schema_error(&target, source))?;
    Ok((pool, target))
}

fn schema_error(target: &Target, source: MigrateError) -> StoreError {
    match source {
        MigrateError::VersionMissing(version) => StoreError::SchemaNewer {
            target: target.clone(),
            version,
        },
        source => StoreError::Migrate(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_names_host_port_and_database_but_not_the_password() {
        let (_, target) = options("postgres://omp:s3cret@db.example:6543/omp_data").unwrap();
        assert_eq!(target.to_string(), "db.example:6543/omp_data");
        assert!(!format!("{target:?}").contains("s3cret"));
    }

    #[test]
    fn a_url_that_is_not_one_is_refused_with_the_parser_reason() {
        let err = options("postgres://omp@host:notaport/db").unwrap_err();
        assert!(err.to_string().contains("PostgreSQL URL"), "{err}");
    }
}
