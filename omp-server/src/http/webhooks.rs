//! `/api/v1/webhooks`: receivers the outbox is POSTed to
//! ([`crate::webhooks`]). The secret is write-only: answers say
//! `secret_set: true`, never the secret. A new webhook starts at the
//! committed head (only events from now on) unless `from` names an event
//! id; `POST …/{id}/replay?from=N` sets the cursor back to `N`. Every
//! change stops the webhook's task, writes, and starts it again, so the
//! task never writes over what the API just stored.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::body::{JsonBody, JsonInteger, length, present};
use super::error::{ApiError, ApiResult};
use super::gateways::GW_ID_MAX;
use super::params::{PathParams, QueryParams};
use super::time::format_millis;
use crate::state::Shared;
use crate::store::events::known_kind;
use crate::store::webhooks::{self as table, NewWebhook, StoredWebhook, WebhookChange};
use crate::webhooks;

/// Longest webhook URL.
pub const URL_MAX: usize = 2048;
/// Longest secret.
pub const SECRET_MAX: usize = 256;

/// The contract's `Webhook`. (Fields in alphabetical order.)
#[derive(Debug, Serialize)]
pub struct WebhookBody {
    created_at: String,
    cursor: i64,
    disabled_reason: Option<String>,
    enabled: bool,
    failing_since: Option<String>,
    gw_id: Option<String>,
    id: i64,
    kinds: Option<Vec<String>>,
    last_error: Option<String>,
    secret_set: bool,
    url: String,
}

impl From<StoredWebhook> for WebhookBody {
    fn from(h: StoredWebhook) -> WebhookBody {
        let kinds = h.kinds.is_some().then(|| h.kind_list());
        WebhookBody {
            created_at: format_millis(h.created_at),
            cursor: h.cursor,
            disabled_reason: h.disabled_reason,
            enabled: h.enabled,
            failing_since: h.failing_since.map(format_millis),
            gw_id: h.gw_id,
            id: h.id,
            kinds,
            last_error: h.last_error,
            secret_set: !h.secret.is_empty(),
            url: h.url,
        }
    }
}

/// The contract's `WebhookList`.
#[derive(Debug, Serialize)]
pub struct WebhookList {
    items: Vec<WebhookBody>,
}

/// The contract's `WebhookCreate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    #[serde(default, deserialize_with = "present")]
    url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    secret: Option<String>,
    #[serde(default)]
    kinds: Option<Vec<String>>,
    #[serde(default)]
    gw_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    from: Option<JsonInteger>,
}

/// The contract's `WebhookUpdate`: the fields to change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookUpdate {
    #[serde(default, deserialize_with = "present")]
    url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    secret: Option<String>,
    /// `null` = every kind.
    #[serde(default, deserialize_with = "present")]
    kinds: Option<Option<Vec<String>>>,
    /// `null` = every gateway.
    #[serde(default, deserialize_with = "present")]
    gw_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    enabled: Option<bool>,
}

/// An absolute `http` or `https` URL with a host.
fn check_url(url: &str) -> ApiResult<()> {
    length("url", url, 1, URL_MAX)?;
    let parsed: axum::http::Uri = url
        .parse()
        .map_err(|e| ApiError::unprocessable("url", format!("not a URL: {e}")))?;
    match parsed.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(ApiError::unprocessable(
                "url",
                format!("must be http or https, not {other:?}"),
            ));
        }
        None => {
            return Err(ApiError::unprocessable(
                "url",
                "must be an absolute http or https URL",
            ));
        }
    }
    if parsed.host().is_none_or(str::is_empty) {
        return Err(ApiError::unprocessable("url", "must name a host"));
    }
    Ok(())
}

fn check_secret(secret: &str) -> ApiResult<()> {
    length("secret", secret, 1, SECRET_MAX)
}

/// Known kinds, without repeats (empty: every kind).
fn check_kinds(kinds: Vec<String>) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        known_kind(&kind).map_err(|m| ApiError::unprocessable(format!("kinds[{i}]"), m))?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(out)
}

fn check_gw_id(gw_id: Option<String>) -> ApiResult<Option<String>> {
    if let Some(gw_id) = &gw_id {
        length("gw_id", gw_id, 1, GW_ID_MAX)?;
    }
    Ok(gw_id)
}

/// An event id from 0 to the committed head.
fn event_id(state: &Shared, field: &str, id: i64) -> ApiResult<i64> {
    let head = state.events().head();
    if !(0..=head).contains(&id) {
        return Err(ApiError::unprocessable(
            field,
            format!("must be an event id from 0 to {head}, the newest"),
        ));
    }
    Ok(id)
}

fn required(field: &str) -> ApiError {
    ApiError::bad_request(field, "is required")
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no webhook {id}"))
}

/// `POST /api/v1/webhooks`.
pub async fn create(
    State(state): State<Arc<Shared>>,
    JsonBody(body): JsonBody<WebhookCreate>,
) -> ApiResult<(StatusCode, Json<WebhookBody>)> {
    let url = body.url.ok_or_else(|| required("url"))?;
    let secret = body.secret.ok_or_else(|| required("secret"))?;
    check_url(&url)?;
    check_secret(&secret)?;
    let kinds = check_kinds(body.kinds.unwrap_or_default())?;
    let gw_id = check_gw_id(body.gw_id)?;
    let cursor = match body.from {
        Some(from) => event_id(&state, "from", from.within("from", 0..=i64::MAX)?)?,
        None => state.events().head(),
    };
    let hook = table::insert(
        &state.db,
        &NewWebhook {
            url,
            secret,
            kinds,
            gw_id,
            enabled: body.enabled.unwrap_or(true),
            cursor,
        },
    )
    .await?;
    webhooks::start(&state, hook.clone());
    Ok((StatusCode::CREATED, Json(hook.into())))
}

/// `GET /api/v1/webhooks`.
pub async fn list(State(state): State<Arc<Shared>>) -> ApiResult<Json<WebhookList>> {
    let items = table::list(&state.db).await?;
    Ok(Json(WebhookList {
        items: items.into_iter().map(WebhookBody::from).collect(),
    }))
}

/// `GET /api/v1/webhooks/{id}`.
pub async fn one(
    State(state): State<Arc<Shared>>,
    path: PathParams,
) -> ApiResult<Json<WebhookBody>> {
    let id = path.positive_i64("id")?;
    let hook = table::get(&state.db, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(hook.into()))
}

/// `PATCH /api/v1/webhooks/{id}`.
pub async fn update(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    JsonBody(body): JsonBody<WebhookUpdate>,
) -> ApiResult<Json<WebhookBody>> {
    let id = path.positive_i64("id")?;
    if let Some(url) = &body.url {
        check_url(url)?;
    }
    if let Some(secret) = &body.secret {
        check_secret(secret)?;
    }
    let change = WebhookChange {
        url: body.url,
        secret: body.secret,
        kinds: body
            .kinds
            .map(|k| check_kinds(k.unwrap_or_default()))
            .transpose()?,
        gw_id: body.gw_id.map(check_gw_id).transpose()?,
        enabled: body.enabled,
    };
    let hook = with_task_stopped(&state, id, async {
        table::update(&state.db, id, &change)
            .await?
            .ok_or_else(|| not_found(id))
    })
    .await?;
    webhooks::start(&state, hook.clone());
    Ok(Json(hook.into()))
}

/// `DELETE /api/v1/webhooks/{id}`.
pub async fn remove(State(state): State<Arc<Shared>>, path: PathParams) -> ApiResult<StatusCode> {
    let id = path.positive_i64("id")?;
    with_task_stopped(&state, id, async {
        if table::delete(&state.db, id).await? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(not_found(id))
        }
    })
    .await
}

/// `POST /api/v1/webhooks/{id}/replay?from=N`: the events after `N` are
/// sent again (the cursor is set to `N`).
pub async fn replay(
    State(state): State<Arc<Shared>>,
    path: PathParams,
    query: QueryParams,
) -> ApiResult<Json<WebhookBody>> {
    let id = path.positive_i64("id")?;
    let from = query.integer("from", 0..=i64::MAX as u64)?.ok_or_else(|| {
        ApiError::bad_request("from", "is required: the event id to replay after")
    })?;
    let from = event_id(&state, "from", i64::try_from(from).unwrap_or(i64::MAX))?;
    let hook = with_task_stopped(&state, id, async {
        if !table::set_cursor(&state.db, id, from).await? {
            return Err(not_found(id));
        }
        table::get(&state.db, id)
            .await?
            .ok_or_else(|| not_found(id))
    })
    .await?;
    webhooks::start(&state, hook.clone());
    Ok(Json(hook.into()))
}

/// Runs `change` with webhook `id`'s task stopped, so the task cannot
/// write its cursor over what the change writes. If the change fails (a
/// busy database, say) the task is started again from the stored row, so
/// a failed request never leaves an enabled webhook without its task.
async fn with_task_stopped<T>(
    state: &Arc<Shared>,
    id: i64,
    change: impl std::future::Future<Output = ApiResult<T>>,
) -> ApiResult<T> {
    state.webhooks.stop(id).await;
    let result = change.await;
    if result.is_err()
        && let Err(e) = webhooks::restart(state, id).await
    {
        tracing::warn!(webhook = id, error = %e, "webhook task not restarted after a failed change");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: ApiError) -> String {
        e.to_string().split(':').next().unwrap_or("").to_owned()
    }

    #[test]
    fn urls_must_be_http_or_https_with_a_host() {
        assert!(check_url("http://127.0.0.1:9/hook").is_ok());
        assert!(check_url("https://example.com/x?y=1").is_ok());
        for bad in [
            "",
            "ftp://example.com/",
            "example.com/hook",
            "http://",
            "file:///etc/passwd",
        ] {
            assert_eq!(field(check_url(bad).unwrap_err()), "url", "{bad:?}");
        }
    }

    #[test]
    fn kinds_are_checked_and_deduplicated() {
        let kinds = check_kinds(vec!["delivery".into(), "delivery".into()]).unwrap();
        assert_eq!(kinds, ["delivery"]);
        let e = check_kinds(vec!["delivery".into(), "nope".into()]).unwrap_err();
        assert_eq!(field(e), "kinds[1]");
    }
}
