//! GW and device registration and deregistration (0x01/0x03/0x07/0x09).
//!
//! GW registration is the one request that needs no auth key: the
//! auth_id is checked against provisioning ([`check_gw_registration`], a
//! plain function) and the OMP assigns the GW ID and key (the key travels
//! in the response header). Registering again returns the same GW ID and
//! key, as real modules register on every connect (docs/gmmp.md §7). Knowing a
//! provisioned auth_id is therefore enough to obtain its key — as with
//! ThingPlug; provisioning is the gate.
//!
//! Registrations are rate-limited per source ([`registration_rate`]):
//! over the limit the answer is rc 0x0F and the connection is closed.
//!
//! [`registration_rate`]: crate::gmmp::registration_rate

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use gmmp_codec::{
    AuthKey, DeviceDeregistrationRequest, DeviceDeregistrationResponse, DeviceId,
    DeviceRegistrationRequest, DeviceRegistrationResponse, FixedStr, GwDeregistrationRequest,
    GwDeregistrationResponse, GwId, GwRegistrationRequest, GwRegistrationResponse, Header, Message,
    ResultCode,
};

use crate::config::ProvisioningMode;
use crate::directory::GatewayEntry;
use crate::error::StoreError;
use crate::escaped;
use crate::gmmp::log_budget::LogBudget;
use crate::ids;
use crate::secret;
use crate::state::Shared;
use crate::store::events::{self, NewEvent};
use crate::store::provisioning::Provision;
use crate::store::{devices, gateways, provisioning};

/// Why a GW registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationRefusal {
    /// The auth_id is empty, or not printable ASCII.
    #[error("auth_id \"{0}\" is empty or not printable ASCII (bytes 0x20..=0x7e)")]
    BadAuthId(String),
    /// The domain or manufacture ID is not printable ASCII.
    #[error("{field} \"{value}\" is not printable ASCII (bytes 0x20..=0x7e)")]
    BadField {
        /// Field name.
        field: &'static str,
        /// Value (escaped).
        value: String,
    },
    /// The domain is not in `allowed_domains`.
    #[error("domain {0:?} is not served here")]
    UnknownDomain(String),
    /// Mode `approved` and the auth_id is not provisioned.
    #[error("auth_id {0} is not provisioned")]
    NotProvisioned(String),
    /// Provisioned with another domain or manufacture ID.
    #[error("auth_id {auth_id} is provisioned for {field} {expected:?}, not {got:?}")]
    ProvisionMismatch {
        /// The auth_id.
        auth_id: String,
        /// Which restriction.
        field: &'static str,
        /// The provisioned value.
        expected: String,
        /// The value sent.
        got: String,
    },
    /// The gateway's registration is locked and the header did not carry
    /// its current auth key.
    #[error(
        "GW {gw_id} has its registration locked and this registration did not carry its \
         current auth key; if the gateway was reset and lost its key, unlock it: \
         DELETE /api/v1/gateways/{gw_id}/registration-lock"
    )]
    Locked {
        /// The locked gateway.
        gw_id: String,
    },
}

impl RegistrationRefusal {
    /// The result code answered.
    pub fn result_code(&self) -> ResultCode {
        match self {
            RegistrationRefusal::UnknownDomain(_) => ResultCode::NOT_FOUND,
            RegistrationRefusal::BadField { .. } => ResultCode::BAD_REQUEST,
            _ => ResultCode::PERMISSION_DENIED,
        }
    }
}

/// The registration decision, without IO: may `auth_id` register with
/// `domain` and `manufacture_id`, given the mode, the allowed domains and
/// its provisioning entry?
pub fn check_gw_registration(
    mode: ProvisioningMode,
    allowed_domains: &[String],
    provision: Option<&Provision>,
    auth_id: &str,
    domain: &str,
    manufacture_id: &str,
) -> Result<(), RegistrationRefusal> {
    if !allowed_domains.is_empty() && !allowed_domains.iter().any(|d| d == domain) {
        return Err(RegistrationRefusal::UnknownDomain(domain.to_owned()));
    }
    if mode == ProvisioningMode::Open {
        return Ok(());
    }
    let p = provision.ok_or_else(|| RegistrationRefusal::NotProvisioned(auth_id.to_owned()))?;
    let restrictions = [
        ("domain", p.domain.as_deref(), domain),
        (
            "manufacture_id",
            p.manufacture_id.as_deref(),
            manufacture_id,
        ),
    ];
    for (field, expected, got) in restrictions {
        if let Some(expected) = expected
            && expected != got
        {
            return Err(RegistrationRefusal::ProvisionMismatch {
                auth_id: auth_id.to_owned(),
                field,
                expected: expected.to_owned(),
                got: got.to_owned(),
            });
        }
    }
    Ok(())
}

/// The command that would approve `auth_id` on this server.
pub fn approve_command(
    auth_id: &str,
    domain: &str,
    manufacture_id: &str,
    data_dir: &Path,
) -> String {
    format!(
        "omp-server provision add {} --domain {} --manufacture-id {} --data-dir {}",
        shell_quote(auth_id),
        shell_quote(domain),
        shell_quote(manufacture_id),
        shell_quote(&data_dir.display().to_string()),
    )
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Result of a GW registration request.
#[derive(Debug)]
pub enum GwRegistration {
    /// Registered: answer with `key` in the header, bind the session.
    Accepted {
        /// The response body.
        response: Message,
        /// The key for the response header.
        key: AuthKey,
        /// The GW, as now in the directory.
        entry: Arc<GatewayEntry>,
    },
    /// Refused: answer this (rc ≠ 0), header key unchanged.
    Refused(Message),
    /// Over the source's registration rate: answer this (rc 0x0F), then
    /// close the connection.
    Throttled(Message),
}

/// What the checks decided, before the rate limit of refused ones.
enum Decision {
    Accepted(GwRegistration),
    Refused(RegistrationRefusal),
}

fn gw_response(req: &GwRegistrationRequest, gw_id: GwId, rc: ResultCode) -> Message {
    GwRegistrationResponse {
        domain_code: req.domain_code,
        gw_id,
        result_code: rc,
    }
    .into()
}

/// Refused registrations logged per second (the rest are counted).
static REFUSAL_LOG: LogBudget = LogBudget::new(10);
/// Throttled registrations logged per second.
static THROTTLED_LOG: LogBudget = LogBudget::new(1);

/// Handles 0x01, under the source's registration rate
/// (`registration_rate`): in mode `open` every registration takes a
/// token, in mode `approved` a refused one only.
pub async fn register_gw(
    state: &Shared,
    peer: SocketAddr,
    header: &Header,
    req: &GwRegistrationRequest,
) -> Result<GwRegistration, StoreError> {
    let open = state.config.provisioning == ProvisioningMode::Open;
    if open && !state.registration_allowed(peer.ip()) {
        return Ok(throttled(state, peer, req));
    }
    match decide(state, peer, header, req).await? {
        Decision::Accepted(accepted) => Ok(accepted),
        Decision::Refused(_) if !open && !state.registration_allowed(peer.ip()) => {
            Ok(throttled(state, peer, req))
        }
        Decision::Refused(refusal) => {
            // A flood of refused registrations must not flood the log too.
            match REFUSAL_LOG.take() {
                Some(left_out) => tracing::warn!(%peer, %refusal, rc = %refusal.result_code(),
                    left_out, "GW registration refused"),
                None => tracing::debug!(%peer, %refusal, "GW registration refused"),
            }
            state.note_event(refused_event(peer, header, &refusal));
            Ok(GwRegistration::Refused(gw_response(
                req,
                GwId::EMPTY,
                refusal.result_code(),
            )))
        }
    }
}

/// The `registration_refused` event of `refusal` (the auth_id escaped as
/// in the log: it is whatever the peer sent).
fn refused_event(peer: SocketAddr, header: &Header, refusal: &RegistrationRefusal) -> NewEvent {
    NewEvent {
        kind: events::REGISTRATION_REFUSED,
        gw_id: None,
        device_id: None,
        at: crate::store::now_millis(),
        data: serde_json::json!({
            "auth_id": header.auth_id.to_string(),
            "peer": peer.to_string(),
            "reason": refusal.to_string(),
            "result_code": refusal.result_code().0,
        }),
    }
}

/// The rc 0x0F answer over the registration rate, counted and logged
/// within a budget.
fn throttled(state: &Shared, peer: SocketAddr, req: &GwRegistrationRequest) -> GwRegistration {
    state
        .metrics
        .registrations_throttled
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let config = &state.config;
    match THROTTLED_LOG.take() {
        Some(left_out) => tracing::warn!(%peer, per_second = config.registration_rate_per_ip,
            burst = config.registration_burst_per_ip, left_out,
            "GW registrations over the rate limit of their source; answered rc 0x0F and closed"),
        None => tracing::debug!(%peer, "GW registration over the rate limit"),
    }
    GwRegistration::Throttled(gw_response(
        req,
        GwId::EMPTY,
        ResultCode::SERVICE_UNAVAILABLE,
    ))
}

/// The registration checks and, if they pass, the GW's ID and key.
async fn decide(
    state: &Shared,
    peer: SocketAddr,
    header: &Header,
    req: &GwRegistrationRequest,
) -> Result<Decision, StoreError> {
    let refuse = Decision::Refused;
    // IDs end up in logs, the database and the HTTP API: control
    // characters (a newline, ESC) have no place in them.
    let printable = |s: &&str| escaped::is_printable_ascii(s.as_bytes());
    let Some(auth_id) = header
        .auth_id
        .as_str()
        .filter(|s| !s.is_empty())
        .filter(printable)
    else {
        return Ok(refuse(RegistrationRefusal::BadAuthId(
            header.auth_id.to_string(),
        )));
    };
    let Some(domain) = req.domain_code.as_str().filter(printable) else {
        return Ok(refuse(RegistrationRefusal::BadField {
            field: "domain_code",
            value: req.domain_code.to_string(),
        }));
    };
    let Some(manufacture_id) = req.manufacture_id.as_str().filter(printable) else {
        return Ok(refuse(RegistrationRefusal::BadField {
            field: "manufacture_id",
            value: req.manufacture_id.to_string(),
        }));
    };
    let config = &state.config;
    // Read on every registration (not a cached copy), so an approval added
    // by `omp-server provision add` while the server runs takes effect.
    let provision = match config.provisioning {
        ProvisioningMode::Approved => provisioning::get(&state.db, auth_id).await?,
        ProvisioningMode::Open => None,
    };
    let checked = check_gw_registration(
        config.provisioning,
        &config.allowed_domains,
        provision.as_ref(),
        auth_id,
        domain,
        manufacture_id,
    );
    if let Err(refusal) = checked {
        if matches!(refusal, RegistrationRefusal::NotProvisioned(_)) && state.first_refusal(auth_id)
        {
            tracing::warn!(
                "auth_id {auth_id} is not provisioned; approve it with: {}",
                approve_command(auth_id, domain, manufacture_id, &config.data_dir)
            );
        }
        return Ok(refuse(refusal));
    }
    // A locked gateway is taken only by a registration that knows its
    // key: the SKT client library sends the key it holds in every header,
    // so a running gateway re-registers; one reset to an empty key, or
    // someone who only knows the auth ID, is refused until an operator
    // unlocks it.
    let current = state.directory.get(auth_id);
    if let Some(current) = &current
        && current.registration_lock
        && !secret::same(current.auth_key.as_bytes(), header.auth_key.as_bytes())
    {
        state
            .metrics
            .registrations_locked_out
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(refuse(RegistrationRefusal::Locked {
            gw_id: current.gw_id.clone(),
        }));
    }
    // A registered GW registering again (the WizFi310 does on every
    // connect) gets its GW ID and key from memory: no write lock, no
    // database round trip (a flood of them must not stall deliveries).
    // A key longer than real clients can hold (issued by older versions)
    // is replaced here, so existing data directories heal by themselves.
    let entry = match current {
        Some(entry) if entry.auth_key.len() <= ids::MAX_AUTH_KEY_LEN => entry,
        _ => {
            // The directory is updated under the same guard as the write,
            // so a registration lock set over the API meanwhile (also under
            // it) is not put back to the value this transaction read.
            let _one_at_a_time = state.registrations_serial.lock().await;
            let record = {
                let key = ids::new_auth_key().map_err(|e| StoreError::BadStoredValue {
                    field: "auth_key (OS random source failed)",
                    value: e.to_string(),
                })?;
                let approval = match config.provisioning {
                    ProvisioningMode::Approved => gateways::Approval::Required,
                    ProvisioningMode::Open => gateways::Approval::NotNeeded,
                };
                gateways::register(
                    &state.db,
                    auth_id,
                    domain,
                    manufacture_id,
                    &key,
                    ids::MAX_AUTH_KEY_LEN,
                    approval,
                )
                .await?
            };
            // Removed between the check above and this transaction.
            let Some(record) = record else {
                return Ok(refuse(RegistrationRefusal::NotProvisioned(
                    auth_id.to_owned(),
                )));
            };
            state.directory.upsert(auth_id, &record)
        }
    };
    let (Ok(gw_id), Ok(key)) = (
        FixedStr::new("gw_id", &entry.gw_id),
        FixedStr::new("auth_key", &entry.auth_key),
    ) else {
        return Err(StoreError::BadStoredValue {
            field: "gw_id/auth_key",
            value: format!("{} {}", entry.gw_id, entry.auth_key),
        });
    };
    tracing::info!(%peer, auth_id, gw_id = %entry.gw_id, domain, manufacture_id, "GW registered");
    Ok(Decision::Accepted(GwRegistration::Accepted {
        response: gw_response(req, gw_id, ResultCode::OK),
        key,
        entry,
    }))
}

/// Handles 0x03 for the authenticated GW of `auth_id`.
pub async fn deregister_gw(
    state: &Shared,
    auth_id: &str,
    entry: &GatewayEntry,
    req: &GwDeregistrationRequest,
) -> Result<Message, StoreError> {
    gateways::deregister(&state.db, &entry.gw_id).await?;
    state.directory.remove(auth_id);
    tracing::info!(auth_id, gw_id = %entry.gw_id, "GW deregistered");
    Ok(GwDeregistrationResponse {
        domain_code: req.domain_code,
        gw_id: req.gw_id,
        result_code: ResultCode::OK,
    }
    .into())
}

/// Handles 0x07 for the authenticated GW of `auth_id`.
pub async fn register_device(
    state: &Shared,
    auth_id: &str,
    entry: &GatewayEntry,
    req: &DeviceRegistrationRequest,
) -> Result<Message, StoreError> {
    let respond = |device_id: DeviceId, rc: ResultCode| -> Message {
        DeviceRegistrationResponse {
            domain_code: req.domain_code,
            gw_id: req.gw_id,
            device_id,
            result_code: rc,
        }
        .into()
    };
    let Some(manufacture_id) = req
        .manufacture_id
        .as_str()
        .filter(|s| !s.is_empty() && escaped::is_printable_ascii(s.as_bytes()))
    else {
        tracing::warn!(gw_id = %entry.gw_id, manufacture_id = %req.manufacture_id,
            "device registration with an empty or not printable ASCII manufacture ID refused");
        return Ok(respond(DeviceId::EMPTY, ResultCode::BAD_REQUEST));
    };
    let device_id = {
        let _one_at_a_time = state.registrations_serial.lock().await;
        devices::register(&state.db, &entry.gw_id, manufacture_id).await?
    };
    state.directory.set_device(auth_id, &device_id, true);
    let Ok(id) = FixedStr::new("device_id", &device_id) else {
        return Err(StoreError::BadStoredValue {
            field: "device_id",
            value: device_id,
        });
    };
    tracing::info!(gw_id = %entry.gw_id, device_id, manufacture_id, "device registered");
    Ok(respond(id, ResultCode::OK))
}

/// Handles 0x09 for the authenticated GW of `auth_id`.
pub async fn deregister_device(
    state: &Shared,
    auth_id: &str,
    entry: &GatewayEntry,
    req: &DeviceDeregistrationRequest,
) -> Result<Message, StoreError> {
    let device_id = req.device_id.as_str().unwrap_or_default();
    let found =
        !device_id.is_empty() && devices::deregister(&state.db, &entry.gw_id, device_id).await?;
    let rc = if found {
        state.directory.set_device(auth_id, device_id, false);
        tracing::info!(gw_id = %entry.gw_id, device_id, "device deregistered");
        ResultCode::OK
    } else {
        tracing::warn!(gw_id = %entry.gw_id, device_id = %req.device_id,
            "deregistration of a device that is not registered under this GW");
        ResultCode::NOT_FOUND
    };
    Ok(DeviceDeregistrationResponse {
        domain_code: req.domain_code,
        gw_id: req.gw_id,
        device_id: req.device_id,
        result_code: rc,
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provision(domain: Option<&str>, manufacture_id: Option<&str>) -> Provision {
        Provision {
            auth_id: "0008dc1e3222".into(),
            domain: domain.map(Into::into),
            manufacture_id: manufacture_id.map(Into::into),
            name: None,
            created_at: 0,
        }
    }

    #[test]
    fn approved_mode_needs_a_provision() {
        let r = check_gw_registration(ProvisioningMode::Approved, &[], None, "a", "ThingPlug", "W");
        assert_eq!(r.unwrap_err().result_code(), ResultCode::PERMISSION_DENIED);
        let p = provision(None, None);
        assert!(
            check_gw_registration(ProvisioningMode::Approved, &[], Some(&p), "a", "X", "W").is_ok()
        );
    }

    #[test]
    fn open_mode_takes_anyone() {
        assert!(check_gw_registration(ProvisioningMode::Open, &[], None, "a", "X", "W").is_ok());
    }

    #[test]
    fn provision_restrictions_apply() {
        let p = provision(Some("ThingPlug"), Some("WIZnet"));
        let m = ProvisioningMode::Approved;
        assert!(check_gw_registration(m, &[], Some(&p), "a", "ThingPlug", "WIZnet").is_ok());
        assert!(check_gw_registration(m, &[], Some(&p), "a", "Other", "WIZnet").is_err());
        assert!(check_gw_registration(m, &[], Some(&p), "a", "ThingPlug", "Acme").is_err());
    }

    #[test]
    fn unknown_domain_is_not_found() {
        let allowed = vec!["ThingPlug".to_owned()];
        let r = check_gw_registration(ProvisioningMode::Open, &allowed, None, "a", "Other", "W");
        assert_eq!(r.unwrap_err().result_code(), ResultCode::NOT_FOUND);
    }

    #[test]
    fn approve_command_quotes_what_needs_it() {
        assert_eq!(
            approve_command(
                "0008dc1e3222",
                "ThingPlug",
                "WIZnet",
                Path::new("./omp-data")
            ),
            "omp-server provision add 0008dc1e3222 --domain ThingPlug --manufacture-id WIZnet --data-dir ./omp-data"
        );
        assert_eq!(shell_quote("a b'c"), r"'a b'\''c'");
    }
}
