//! `/api/v1/provisioning`: the auth IDs allowed to register (table
//! `provisioning`; the column `domain` is the API's `domain_code`).

use std::borrow::Cow;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::body::{JsonBody, gmmp_text, length, present};
use super::cursor::{self, CursorKind, page_end};
use super::error::{ApiError, ApiResult};
use super::params::{PathParams, QueryParams};
use super::time::{format_millis, now_millis};
use crate::auth_id;
use crate::config::ProvisioningMode;
use crate::revocation;
use crate::state::Shared;
use crate::store::provisioning::{self, Provision};
use crate::store::revocations::Revoked;

/// GMMP field sizes (docs/gmmp.md §2, §4).
const AUTH_ID_MAX: usize = gmmp_codec::AuthId::WIDTH;
const DOMAIN_MAX: usize = gmmp_codec::DomainCode::WIDTH;
const MANUFACTURE_ID_MAX: usize = gmmp_codec::ManufactureId::WIDTH;

/// The portal label is not a GMMP field; kept short enough to list.
const NAME_MAX: usize = 100;

/// The contract's `Provisioning`. (Fields in alphabetical order, the order
/// the API has always answered them in.)
#[derive(Debug, Serialize)]
pub struct ProvisioningBody {
    auth_id: String,
    created_at: String,
    domain_code: Option<String>,
    manufacture_id: Option<String>,
    name: Option<String>,
}

impl From<Provision> for ProvisioningBody {
    fn from(p: Provision) -> ProvisioningBody {
        ProvisioningBody {
            auth_id: p.auth_id,
            created_at: format_millis(p.created_at),
            domain_code: p.domain,
            manufacture_id: p.manufacture_id,
            name: p.name,
        }
    }
}

/// A page of provisioned auth IDs.
#[derive(Debug, Serialize)]
pub struct ProvisioningPage {
    items: Vec<ProvisioningBody>,
    next_cursor: Option<String>,
}

/// `GET /api/v1/provisioning`: a page in auth ID order.
pub async fn list(
    State(state): State<Arc<Shared>>,
    query: QueryParams,
) -> ApiResult<Json<ProvisioningPage>> {
    let limit = query.limit()?;
    let after = query
        .cursor()?
        .map(|c| cursor::decode(CursorKind::Provisioning, c))
        .transpose()?;
    let mut rows = provisioning::page(&state.db, after.as_deref(), i64::from(limit) + 1).await?;
    let next_cursor = page_end(&mut rows, limit, |r| {
        cursor::encode(CursorKind::Provisioning, &r.auth_id)
    });
    Ok(Json(ProvisioningPage {
        items: rows.into_iter().map(ProvisioningBody::from).collect(),
        next_cursor,
    }))
}

/// The contract's `ProvisioningCreate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningCreate {
    #[serde(default, deserialize_with = "present")]
    auth_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    domain_code: Option<String>,
    #[serde(default, deserialize_with = "present")]
    manufacture_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    name: Option<String>,
}

/// The answer to a create: the row, and the auth ID as given when it was
/// a MAC rewritten to the form a WizFi310 registers with.
#[derive(Debug, Serialize)]
pub struct ProvisioningCreated {
    #[serde(flatten)]
    row: ProvisioningBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    normalised_from: Option<String>,
}

impl ProvisioningCreate {
    /// The row to insert, once every value fits its GMMP field (422), and
    /// the auth ID as given if it was normalised.
    fn into_row(self, created_at: i64) -> ApiResult<(Provision, Option<String>)> {
        let given = self
            .auth_id
            .ok_or_else(|| ApiError::bad_request("auth_id", "required"))?;
        let (auth_id, normalised_from) = match auth_id::normalise(&given) {
            Cow::Owned(mac) => (mac, Some(given)),
            Cow::Borrowed(_) => (given, None),
        };
        gmmp_text("auth_id", &auth_id, 1, AUTH_ID_MAX)?;
        if let Some(domain) = &self.domain_code {
            gmmp_text("domain_code", domain, 1, DOMAIN_MAX)?;
        }
        if let Some(manufacture_id) = &self.manufacture_id {
            gmmp_text("manufacture_id", manufacture_id, 0, MANUFACTURE_ID_MAX)?;
        }
        if let Some(name) = &self.name {
            length("name", name, 0, NAME_MAX)?;
        }
        let row = Provision {
            auth_id,
            domain: self.domain_code,
            manufacture_id: self.manufacture_id,
            name: self.name,
            created_at,
        };
        Ok((row, normalised_from))
    }
}

/// `POST /api/v1/provisioning`: 201, 409 when provisioned already.
pub async fn create(
    State(state): State<Arc<Shared>>,
    JsonBody(body): JsonBody<ProvisioningCreate>,
) -> ApiResult<Response> {
    let (row, normalised_from) = body.into_row(now_millis())?;
    if !provisioning::insert_new(&state.db, &row).await? {
        return Err(ApiError::Conflict(format!(
            "auth_id {} is provisioned already",
            row.auth_id
        )));
    }
    let created = ProvisioningCreated {
        row: ProvisioningBody::from(row),
        normalised_from,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `DELETE /api/v1/provisioning/{auth_id}`: 204, 404 when not provisioned.
/// A MAC in any written form names the approval of its module form.
/// In mode `approved` the GW registered under it is deregistered and its
/// session closed ([`revocation`]); in mode `open`, where any auth_id may
/// register, only the approval goes.
pub async fn remove(State(state): State<Arc<Shared>>, path: PathParams) -> ApiResult<StatusCode> {
    // The length is checked once normalised: a MAC written with
    // separators is longer than the field it fits once they are gone.
    let given = path.id("auth_id", usize::MAX)?;
    let auth_id = &*auth_id::normalise(given);
    if auth_id.chars().count() > AUTH_ID_MAX {
        return Err(ApiError::bad_request(
            "auth_id",
            format!("must be 1 to {AUTH_ID_MAX} characters, or a MAC such as 00:08:DC:1E:32:22"),
        ));
    }
    let removed = match state.config.provisioning {
        ProvisioningMode::Approved => matches!(
            revocation::revoke(&state, auth_id).await?,
            Revoked::Removed(_)
        ),
        ProvisioningMode::Open => provisioning::remove(&state.db, auth_id).await?,
    };
    if !removed {
        return Err(ApiError::NotFound(format!(
            "auth_id {auth_id} is not provisioned"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provisioning_answers_every_field_null_when_absent() {
        let row = Provision {
            auth_id: "0008dc1e3222".into(),
            domain: None,
            manufacture_id: Some("WIZnet".into()),
            name: None,
            created_at: 1_586_937_600_000,
        };
        assert_eq!(
            serde_json::to_string(&ProvisioningBody::from(row)).unwrap(),
            r#"{"auth_id":"0008dc1e3222","created_at":"2020-04-15T08:00:00.000Z","domain_code":null,"manufacture_id":"WIZnet","name":null}"#
        );
    }

    #[test]
    fn values_are_checked_after_decoding_naming_the_field() {
        let decode = |body: &str| -> ApiResult<Provision> {
            super::super::body::decode::<ProvisioningCreate>(body.as_bytes())?
                .into_row(0)
                .map(|(row, _)| row)
        };
        assert!(decode(r#"{"auth_id":"a","domain_code":"ThingPlug"}"#).is_ok());
        for (body, field) in [
            (r#"{"domain_code":"ThingPlug"}"#, "auth_id"),
            (r#"{"auth_id":"a","domain_code":""}"#, "domain_code"),
            (r#"{"auth_id":"a","manufacture_id":"ü"}"#, "manufacture_id"),
        ] {
            let err = decode(body).unwrap_err();
            assert!(
                err.to_string().starts_with(&format!("{field}: ")),
                "{body}: {err}"
            );
        }
    }

    #[test]
    fn a_mac_is_approved_in_the_modules_form_and_the_answer_says_so() {
        let body = r#"{"auth_id":"00:08:DC:1E:32:22"}"#;
        let (row, from) = super::super::body::decode::<ProvisioningCreate>(body.as_bytes())
            .unwrap()
            .into_row(0)
            .unwrap();
        assert_eq!(row.auth_id, "0008dc1e3222");
        assert_eq!(from.as_deref(), Some("00:08:DC:1E:32:22"));
        let answer = serde_json::to_value(ProvisioningCreated {
            row: ProvisioningBody::from(row),
            normalised_from: from,
        })
        .unwrap();
        assert_eq!(answer["auth_id"], "0008dc1e3222");
        assert_eq!(answer["normalised_from"], "00:08:DC:1E:32:22");

        let body = r#"{"auth_id":"SERIAL-0001"}"#;
        let (row, from) = super::super::body::decode::<ProvisioningCreate>(body.as_bytes())
            .unwrap()
            .into_row(0)
            .unwrap();
        assert_eq!((row.auth_id.as_str(), from), ("SERIAL-0001", None));
    }
}
