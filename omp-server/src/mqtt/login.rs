//! Who may connect: `--provisioning open` admits every client; `approved`
//! admits only provisioned ones, by their login profile
//! (`store::mqtt_provisioning`):
//!
//! - `onenet`: the client id names the approval; the username must be its
//!   product id and the password its auth info (CONNACK 4 otherwise).
//! - `client-id`: the client id names the approval; no credentials needed.
//! - `password`: any client id; the username names the approval and the
//!   password must match (CONNACK 4 otherwise).
//!
//! A client no approval names gets CONNACK 5; the first refusal of each
//! client id is logged at warn level with the command that approves it.

use mqtt_codec::{Connect, ConnectReturnCode};

use crate::config::ProvisioningMode;
use crate::error::StoreError;
use crate::escaped;
use crate::mqtt::provision::approve_command;
use crate::mqtt::secret;
use crate::state::Shared;
use crate::store::mqtt_provisioning::{self, LoginProfile, MqttProvision};

/// The outcome of a CONNECT's login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// Admitted, with the profile of its approval (none in open mode for
    /// a client not provisioned).
    Accepted(Option<LoginProfile>),
    /// Refused with this CONNACK code.
    Refused(ConnectReturnCode),
}

fn password_matches(p: &MqttProvision, connect: &Connect) -> bool {
    match (&p.secret_hash, &connect.password) {
        (Some(stored), Some(given)) => secret::verify(stored, given),
        _ => false,
    }
}

/// What `approval` (if any) says of `connect`.
pub fn judge(approval: Option<&MqttProvision>, connect: &Connect) -> Login {
    let Some(p) = approval else {
        return Login::Refused(ConnectReturnCode::NotAuthorized);
    };
    let ok = match p.profile {
        LoginProfile::ClientId => true,
        LoginProfile::OneNet => {
            connect.username.as_deref() == p.username.as_deref() && password_matches(p, connect)
        }
        LoginProfile::Password => password_matches(p, connect),
    };
    if ok {
        Login::Accepted(Some(p.profile))
    } else {
        Login::Refused(ConnectReturnCode::BadUserNameOrPassword)
    }
}

/// Looks up the approval `connect` names and judges it.
pub async fn check(state: &Shared, connect: &Connect) -> Result<Login, StoreError> {
    let mut approval = mqtt_provisioning::by_client_id(&state.db, &connect.client_id).await?;
    if approval.is_none()
        && let Some(user) = &connect.username
    {
        approval = mqtt_provisioning::by_username(&state.db, user).await?;
    }
    if state.config.provisioning == ProvisioningMode::Open {
        return Ok(Login::Accepted(approval.map(|p| p.profile)));
    }
    let login = judge(approval.as_ref(), connect);
    if login == Login::Refused(ConnectReturnCode::NotAuthorized)
        && state.first_refusal(&format!("mqtt:{}", connect.client_id))
    {
        let profile = if connect.username.is_some() {
            LoginProfile::OneNet
        } else {
            LoginProfile::ClientId
        };
        let command = approve_command(profile, &connect.client_id, connect.username.as_deref());
        tracing::warn!(
            "MQTT client \"{}\" is not provisioned; approve it with: {}",
            escaped::text(&connect.client_id),
            escaped::text(&command)
        );
    }
    Ok(login)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use mqtt_codec::Protocol;

    use super::*;

    fn connect(client_id: &str, username: Option<&str>, password: Option<&str>) -> Connect {
        Connect {
            protocol: Protocol::V311,
            clean_session: true,
            keep_alive: 60,
            client_id: client_id.into(),
            will: None,
            username: username.map(str::to_owned),
            password: password.map(|p| Bytes::copy_from_slice(p.as_bytes())),
        }
    }

    fn approval(
        profile: LoginProfile,
        client_id: Option<&str>,
        username: Option<&str>,
    ) -> MqttProvision {
        MqttProvision {
            profile,
            client_id: client_id.map(str::to_owned),
            username: username.map(str::to_owned),
            secret_hash: (profile != LoginProfile::ClientId)
                .then(|| secret::hash(b"APIKEY").unwrap()),
            created_at: 0,
        }
    }

    #[test]
    fn onenet_needs_the_product_id_and_the_auth_info() {
        let p = approval(LoginProfile::OneNet, Some("39599428"), Some("165920"));
        let ok = connect("39599428", Some("165920"), Some("APIKEY"));
        assert_eq!(
            judge(Some(&p), &ok),
            Login::Accepted(Some(LoginProfile::OneNet))
        );
        for bad in [
            connect("39599428", Some("165920"), Some("WRONG")),
            connect("39599428", Some("999999"), Some("APIKEY")),
            connect("39599428", None, None),
        ] {
            assert_eq!(
                judge(Some(&p), &bad),
                Login::Refused(ConnectReturnCode::BadUserNameOrPassword)
            );
        }
    }

    #[test]
    fn password_and_client_id_profiles() {
        let p = approval(LoginProfile::Password, None, Some("wiz"));
        assert_eq!(
            judge(Some(&p), &connect("any", Some("wiz"), Some("APIKEY"))),
            Login::Accepted(Some(LoginProfile::Password))
        );
        assert_eq!(
            judge(Some(&p), &connect("any", Some("wiz"), None)),
            Login::Refused(ConnectReturnCode::BadUserNameOrPassword)
        );
        let p = approval(LoginProfile::ClientId, Some("client test0"), None);
        assert_eq!(
            judge(Some(&p), &connect("client test0", None, None)),
            Login::Accepted(Some(LoginProfile::ClientId))
        );
        assert_eq!(
            judge(None, &connect("stranger", None, None)),
            Login::Refused(ConnectReturnCode::NotAuthorized)
        );
    }
}
