//! `omp-server provision mqtt add|list|remove`: the MQTT clients admitted
//! in mode `approved`, one login profile each.

use std::io::Write;

use clap::{Subcommand, ValueEnum};

use crate::error::{ConfigError, ServerError};
use crate::mqtt::secret;
use crate::store::Db;
use crate::store::mqtt_provisioning::{self, LoginProfile, MqttProvision};

/// The login profile, as typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// Client id = device id, username = product id, password = auth info.
    Onenet,
    /// Username and password, any client id.
    Password,
    /// No credentials: the given client id only.
    ClientId,
}

/// `omp-server provision mqtt …`
#[derive(Debug, Subcommand)]
pub enum MqttProvisionCommand {
    /// Admit an MQTT client (replaces an earlier approval of the same
    /// client id, or for `password` of the same username).
    Add {
        /// The login profile.
        #[arg(long, value_enum)]
        profile: ProfileArg,
        /// The client id (`onenet`: the device id; `client-id`).
        #[arg(long)]
        client_id: Option<String>,
        /// The username (`onenet`: the product id; `password`).
        #[arg(long)]
        username: Option<String>,
        /// The password (`onenet`: the device's auth info; `password`);
        /// stored hashed.
        #[arg(long)]
        password: Option<String>,
    },
    /// List admitted MQTT clients.
    List,
    /// Withdraw the approval of a client id (or of a `password` username).
    Remove {
        /// The client id or username.
        name: String,
    },
}

fn missing(key: &'static str, profile: ProfileArg) -> ConfigError {
    ConfigError::BadValue {
        key,
        value: String::new(),
        reason: format!(
            "--{} is required for --profile {}",
            key.replace('_', "-"),
            LoginProfile::from(profile).as_str()
        ),
    }
}

impl From<ProfileArg> for LoginProfile {
    fn from(p: ProfileArg) -> LoginProfile {
        match p {
            ProfileArg::Onenet => LoginProfile::OneNet,
            ProfileArg::Password => LoginProfile::Password,
            ProfileArg::ClientId => LoginProfile::ClientId,
        }
    }
}

/// The approval `add` makes, its fields checked against the profile.
pub fn approval(
    profile: ProfileArg,
    client_id: Option<&str>,
    username: Option<&str>,
    password: Option<&str>,
) -> Result<MqttProvision, ConfigError> {
    let need = |v: Option<&str>, key| {
        v.filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| missing(key, profile))
    };
    let refuse = |key: &'static str| ConfigError::BadValue {
        key,
        value: String::new(),
        reason: format!(
            "--{} does not apply to --profile {}",
            key.replace('_', "-"),
            LoginProfile::from(profile).as_str()
        ),
    };
    let hashed = |p: String| {
        secret::hash(p.as_bytes()).map_err(|e| ConfigError::BadValue {
            key: "password",
            value: String::new(),
            reason: format!("no random salt: {e}"),
        })
    };
    let (client_id, username, secret_hash) = match profile {
        ProfileArg::Onenet => (
            Some(need(client_id, "client_id")?),
            Some(need(username, "username")?),
            Some(hashed(need(password, "password")?)?),
        ),
        ProfileArg::Password => {
            if client_id.is_some() {
                return Err(refuse("client_id"));
            }
            (
                None,
                Some(need(username, "username")?),
                Some(hashed(need(password, "password")?)?),
            )
        }
        ProfileArg::ClientId => {
            if username.is_some() {
                return Err(refuse("username"));
            }
            if password.is_some() {
                return Err(refuse("password"));
            }
            (Some(need(client_id, "client_id")?), None, None)
        }
    };
    Ok(MqttProvision {
        profile: profile.into(),
        client_id,
        username,
        secret_hash,
        created_at: 0,
    })
}

/// Runs one command on the open store, printing its result to `out`.
pub async fn execute(
    db: &Db,
    command: &MqttProvisionCommand,
    out: &mut impl Write,
) -> Result<(), ServerError> {
    match command {
        MqttProvisionCommand::Add {
            profile,
            client_id,
            username,
            password,
        } => {
            let p = approval(
                *profile,
                client_id.as_deref(),
                username.as_deref(),
                password.as_deref(),
            )?;
            mqtt_provisioning::add(db, &p).await?;
            let name = p.client_id.or(p.username).unwrap_or_default();
            writeln!(out, "approved MQTT client {name} ({})", p.profile.as_str()).ok();
        }
        MqttProvisionCommand::List => {
            for p in mqtt_provisioning::list(db).await? {
                writeln!(
                    out,
                    "{}\tprofile={}\tusername={}",
                    p.client_id.as_deref().unwrap_or("*"),
                    p.profile.as_str(),
                    p.username.as_deref().unwrap_or("-"),
                )
                .ok();
            }
        }
        MqttProvisionCommand::Remove { name } => {
            if mqtt_provisioning::remove(db, name).await? {
                writeln!(out, "removed MQTT client {name}").ok();
            } else {
                writeln!(out, "MQTT client {name} was not provisioned").ok();
            }
        }
    }
    Ok(())
}

/// The command that admits a refused client, for the log.
pub fn approve_command(profile: LoginProfile, client_id: &str, username: Option<&str>) -> String {
    let quoted = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    match profile {
        LoginProfile::OneNet => format!(
            "omp-server provision mqtt add --profile onenet --client-id {} --username {} --password <auth info>",
            quoted(client_id),
            quoted(username.unwrap_or("<product id>"))
        ),
        LoginProfile::Password => format!(
            "omp-server provision mqtt add --profile password --username {} --password <password>",
            quoted(username.unwrap_or("<username>"))
        ),
        LoginProfile::ClientId => format!(
            "omp-server provision mqtt add --profile client-id --client-id {}",
            quoted(client_id)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_profile_requires_its_fields_and_refuses_the_others() {
        let p = approval(
            ProfileArg::Onenet,
            Some("39599428"),
            Some("165920"),
            Some("k"),
        )
        .unwrap();
        assert!(secret::verify(p.secret_hash.as_deref().unwrap(), b"k"));
        let err = approval(ProfileArg::Onenet, Some("1"), None, Some("k")).unwrap_err();
        assert!(err.to_string().contains("--username"), "{err}");
        let err = approval(ProfileArg::Password, Some("1"), Some("u"), Some("k")).unwrap_err();
        assert!(err.to_string().contains("--client-id"), "{err}");
        let err = approval(ProfileArg::ClientId, Some("c"), None, Some("k")).unwrap_err();
        assert!(err.to_string().contains("--password"), "{err}");
        let p = approval(ProfileArg::ClientId, Some("client test0"), None, None).unwrap();
        assert_eq!(p.secret_hash, None);
    }

    #[test]
    fn the_approve_command_quotes_the_client_id() {
        assert_eq!(
            approve_command(LoginProfile::ClientId, "client test0", None),
            "omp-server provision mqtt add --profile client-id --client-id 'client test0'"
        );
    }
}
