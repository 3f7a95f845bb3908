//! `omp-server provision add|list|remove`: manage approved auth_ids in the
//! data directory's database. Works whether or not the server runs: the
//! server reads provisioning on every registration, and in mode `approved`
//! a removal deregisters the GW, whose sessions a running server closes
//! within about a second ([`crate::revocation`]).

use std::io::Write;

use crate::auth_id;
use crate::config::{Config, ProvisionCommand, ProvisioningMode};
use crate::error::{ConfigError, ServerError};
use crate::escaped;
use crate::store::revocations::{self, Revoked};
use crate::store::{self, provisioning};

/// `auth_id`, and the form it was given in when that differs.
fn shown(auth_id: &str, given: &str) -> String {
    if auth_id == given {
        auth_id.to_owned()
    } else {
        format!("{auth_id} (normalised from {given}: a WizFi310 registers its MAC in this form)")
    }
}

fn check_width(key: &'static str, value: &str, width: usize) -> Result<(), ConfigError> {
    if !escaped::is_printable_ascii(value.as_bytes()) {
        return Err(ConfigError::BadValue {
            key,
            value: escaped::text(value).to_string(),
            reason: "must be printable ASCII (bytes 0x20..=0x7e)".to_owned(),
        });
    }
    if value.is_empty() || value.len() > width {
        return Err(ConfigError::BadValue {
            key,
            value: value.to_owned(),
            reason: format!("must be 1..={width} bytes (its GMMP field width)"),
        });
    }
    Ok(())
}

/// Runs one provisioning command, printing its result to `out`.
pub async fn execute(
    config: &Config,
    command: &ProvisionCommand,
    out: &mut impl Write,
) -> Result<(), ServerError> {
    let pool = match config.database_url.as_deref() {
        // The approvals go where every instance on that database reads
        // them; the data directory plays no part.
        Some(url) => store::Db::open(Some(url), &config.database_path()).await?.0,
        None => open_in_data_dir(config).await?,
    };
    let result = match command {
        ProvisionCommand::Add {
            auth_id,
            domain,
            manufacture_id,
        } => {
            let given = auth_id;
            let auth_id = &*auth_id::normalise(given);
            check_width("auth_id", auth_id, gmmp_codec::AuthId::WIDTH)?;
            if let Some(d) = domain {
                check_width("domain", d, gmmp_codec::DomainCode::WIDTH)?;
            }
            if let Some(m) = manufacture_id {
                check_width("manufacture_id", m, gmmp_codec::ManufactureId::WIDTH)?;
            }
            provisioning::add(&pool, auth_id, domain.as_deref(), manufacture_id.as_deref()).await?;
            writeln!(out, "approved {}", shown(auth_id, given)).ok();
            Ok(())
        }
        ProvisionCommand::Mqtt(mqtt) => crate::mqtt::provision::execute(&pool, mqtt, out).await,
        ProvisionCommand::List => {
            for p in provisioning::list(&pool).await? {
                writeln!(
                    out,
                    "{}\tdomain={}\tmanufacture_id={}",
                    p.auth_id,
                    p.domain.as_deref().unwrap_or("*"),
                    p.manufacture_id.as_deref().unwrap_or("*")
                )
                .ok();
            }
            Ok(())
        }
        ProvisionCommand::Remove { auth_id: given } => {
            let auth_id = &*auth_id::normalise(given);
            let named = shown(auth_id, given);
            match config.provisioning {
                ProvisioningMode::Approved => match revocations::revoke(&pool, auth_id).await? {
                    Revoked::Removed(r) => {
                        let gw = r.gw_id.map_or_else(
                            || "it was not registered".to_owned(),
                            |gw_id| format!("GW {gw_id} deregistered"),
                        );
                        writeln!(out, "removed {named}; {gw}").ok();
                    }
                    Revoked::NotProvisioned => {
                        writeln!(out, "{named} was not provisioned").ok();
                    }
                },
                // Any auth_id may register in mode open: the registration
                // stays, only the approval goes.
                ProvisioningMode::Open => {
                    if provisioning::remove(&pool, auth_id).await? {
                        writeln!(out, "removed {named} (mode open: its GW stays registered)").ok();
                    } else {
                        writeln!(out, "{named} was not provisioned").ok();
                    }
                }
            }
            Ok(())
        }
    };
    pool.close().await;
    result
}

/// The SQLite store of the data directory, which must exist: run in
/// another directory, `./omp-data` is not the server's, and a new data
/// directory there would take approvals no server reads.
async fn open_in_data_dir(config: &Config) -> Result<store::Db, ServerError> {
    let database = config.database_path();
    let shown_dir =
        std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    match std::fs::metadata(&config.data_dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ServerError::ProvisionWithoutDataDir { path: shown_dir });
        }
        _ => crate::data_dir::prepare(&config.data_dir)?,
    }
    if !database.exists() {
        // A data directory made ahead of the server's first start (a
        // service manager's state directory) is fine; say where it went.
        let shown = std::path::absolute(&database).unwrap_or_else(|_| database.clone());
        eprintln!(
            "note: no database at {}; creating a new one. The server sees these approvals only \
             if it runs with the same --data-dir.",
            shown.display()
        );
    }
    Ok(store::Db::from(store::open(&database).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(data_dir: &std::path::Path, mode: ProvisioningMode) -> Config {
        let mut config = Config::defaults();
        config.data_dir = data_dir.to_path_buf();
        config.provisioning = mode;
        config
    }

    async fn run(config: &Config, command: ProvisionCommand) -> Result<String, ServerError> {
        let mut out = Vec::new();
        execute(config, &command, &mut out).await?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[tokio::test]
    async fn a_missing_data_dir_is_named_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("omp-data");
        let config = config_in(&missing, ProvisioningMode::Approved);
        let err = run(&config, ProvisionCommand::List).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&missing.display().to_string()), "{text}");
        assert!(text.contains("--data-dir"), "{text}");
        assert!(text.contains("start the server once"), "{text}");
        assert!(!missing.exists(), "nothing is created");
    }

    #[tokio::test]
    async fn on_postgres_approvals_go_to_the_database_without_a_data_dir() {
        let Some(database) =
            test_support::postgres::TestDatabase::create("provision_on_postgres").await
        else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("omp-data");
        let mut config = config_in(&missing, ProvisioningMode::Approved);
        config.database_url = Some(database.url.clone());
        let add = ProvisionCommand::Add {
            auth_id: "0008dc1e3222".into(),
            domain: None,
            manufacture_id: None,
        };
        run(&config, add).await.unwrap();
        let listed = run(&config, ProvisionCommand::List).await.unwrap();
        assert!(listed.starts_with("0008dc1e3222\t"), "{listed}");
        assert!(!missing.exists(), "no data directory is needed or made");
    }

    #[tokio::test]
    async fn a_mac_in_any_written_form_is_approved_and_removed_in_the_modules_form() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path(), ProvisioningMode::Approved);
        let add = |auth_id: &str| ProvisionCommand::Add {
            auth_id: auth_id.to_owned(),
            domain: None,
            manufacture_id: None,
        };
        let said = run(&config, add("00:08:DC:1E:32:22")).await.unwrap();
        assert!(said.starts_with("approved 0008dc1e3222 "), "{said}");
        assert!(said.contains("normalised from 00:08:DC:1E:32:22"), "{said}");
        // The same MAC written another way is the same approval.
        run(&config, add("0008DC1E3222")).await.unwrap();
        let listed = run(&config, ProvisionCommand::List).await.unwrap();
        assert_eq!(listed.lines().count(), 1, "{listed}");
        assert!(listed.starts_with("0008dc1e3222\t"), "{listed}");

        let said = run(
            &config,
            ProvisionCommand::Remove {
                auth_id: "00-08-dc-1e-32-22".into(),
            },
        )
        .await
        .unwrap();
        assert!(said.starts_with("removed 0008dc1e3222 "), "{said}");
        assert!(said.contains("normalised from 00-08-dc-1e-32-22"), "{said}");
        assert_eq!(run(&config, ProvisionCommand::List).await.unwrap(), "");
    }

    #[tokio::test]
    async fn other_auth_ids_are_kept_as_given() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path(), ProvisioningMode::Open);
        let said = run(
            &config,
            ProvisionCommand::Add {
                auth_id: "SERIAL-0001".into(),
                domain: None,
                manufacture_id: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(said, "approved SERIAL-0001\n");
    }
}
