//! `omp-server provision add|list|remove`: manage approved auth_ids in the
//! data directory's database. Works whether or not the server runs: the
//! server reads provisioning on every registration, and in mode `approved`
//! a removal deregisters the GW, whose sessions a running server closes
//! within about a second ([`crate::revocation`]).

use std::io::Write;

use crate::config::{Config, ProvisionCommand, ProvisioningMode};
use crate::error::{ConfigError, ServerError};
use crate::escaped;
use crate::store::revocations::{self, Revoked};
use crate::store::{self, provisioning};

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
    let database = config.database_path();
    if !database.exists() {
        // Approving into a database no server reads is the usual mistake
        // of running this in another directory: say where it went.
        let shown = std::path::absolute(&database).unwrap_or_else(|_| database.clone());
        eprintln!(
            "note: no database at {}; creating a new one. The server sees these approvals only \
             if it runs with the same --data-dir.",
            shown.display()
        );
    }
    crate::data_dir::prepare(&config.data_dir)?;
    let pool = store::open(&database).await?;
    let result = match command {
        ProvisionCommand::Add {
            auth_id,
            domain,
            manufacture_id,
        } => {
            check_width("auth_id", auth_id, 16)?;
            if let Some(d) = domain {
                check_width("domain", d, 10)?;
            }
            if let Some(m) = manufacture_id {
                check_width("manufacture_id", m, 16)?;
            }
            provisioning::add(&pool, auth_id, domain.as_deref(), manufacture_id.as_deref()).await?;
            writeln!(out, "approved {auth_id}").ok();
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
        ProvisionCommand::Remove { auth_id } => {
            match config.provisioning {
                ProvisioningMode::Approved => match revocations::revoke(&pool, auth_id).await? {
                    Revoked::Removed(r) => {
                        let gw = r.gw_id.map_or_else(
                            || "it was not registered".to_owned(),
                            |gw_id| format!("GW {gw_id} deregistered"),
                        );
                        writeln!(out, "removed {auth_id}; {gw}").ok();
                    }
                    Revoked::NotProvisioned => {
                        writeln!(out, "{auth_id} was not provisioned").ok();
                    }
                },
                // Any auth_id may register in mode open: the registration
                // stays, only the approval goes.
                ProvisioningMode::Open => {
                    if provisioning::remove(&pool, auth_id).await? {
                        writeln!(
                            out,
                            "removed {auth_id} (mode open: its GW stays registered)"
                        )
                        .ok();
                    } else {
                        writeln!(out, "{auth_id} was not provisioned").ok();
                    }
                }
            }
            Ok(())
        }
    };
    pool.close().await;
    result
}
