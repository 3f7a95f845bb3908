//! Request input without axum's plain-text rejections: the query string,
//! the path parameters and JSON bodies are read here and every problem
//! becomes an [`ApiError`] naming the offending field.
//!
//! JSON bodies are parsed to a `serde_json::Value` object first and then
//! read field by field ([`Body`]), so that a wrong type (400) and a wrong
//! value (422) are told apart and always name the field — serde's derive
//! errors do not carry the field for type mismatches.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::state::Shared;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit`.
pub const MAX_LIMIT: u32 = 1000;
/// Longest `cursor` accepted.
const MAX_CURSOR_LEN: usize = 200;

/// The decoded query string (`form_urlencoded`; a bad percent escape is
/// kept lossily rather than refused, like browsers do).
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        Ok(QueryParams(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl QueryParams {
    /// The value of `name` (the last one when repeated).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`, 1..=1000, default 100.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| ApiError::bad_request("limit", "must be an integer from 1 to 1000")),
        }
    }

    /// `cursor`, as given (decoded by [`super::cursor`]).
    pub fn cursor(&self) -> Result<Option<&str>, ApiError> {
        match self.get("cursor") {
            None => Ok(None),
            Some(c) if c.is_empty() || c.len() > MAX_CURSOR_LEN => Err(ApiError::bad_request(
                "cursor",
                "not a cursor this list gave out",
            )),
            Some(c) => Ok(Some(c)),
        }
    }

    /// A boolean parameter (`true` / `false`).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::bad_request(name, "must be true or false")),
        }
    }

    /// An integer parameter within `range`.
    pub fn integer(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .map(Some)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        name,
                        format!(
                            "must be an integer from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    )
                }),
        }
    }

    /// An ID parameter of at most `max` bytes (`device_id`; may be empty).
    pub fn id(&self, name: &str, max: usize) -> Result<Option<&str>, ApiError> {
        match self.get(name) {
            Some(v) if v.chars().count() > max => Err(ApiError::bad_request(
                name,
                format!("at most {max} characters"),
            )),
            other => Ok(other),
        }
    }
}

/// The path parameters, by name.
#[derive(Debug)]
pub struct PathParams(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("path", e.body_text()))?;
        Ok(PathParams(params))
    }
}

impl PathParams {
    /// A text ID of 1..=`max` bytes (`gw_id`, `device_id`, `auth_id`).
    pub fn id(&self, name: &str, max: usize) -> Result<&str, ApiError> {
        let v = self.0.get(name).map(String::as_str).unwrap_or("");
        // Characters, as the contract's maxLength counts; a longer UTF-8
        // ID simply matches nothing (404).
        if v.is_empty() || v.chars().count() > max {
            return Err(ApiError::bad_request(
                name,
                format!("must be 1 to {max} characters"),
            ));
        }
        Ok(v)
    }

    /// A positive integer id.
    pub fn positive_i64(&self, name: &str) -> Result<i64, ApiError> {
        self.0
            .get(name)
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|v| *v >= 1)
            .ok_or_else(|| ApiError::bad_request(name, "must be a positive integer"))
    }
}

/// A JSON object body: `application/json` (else 415), within the body
/// limit (else 413), syntactically JSON (else 400) and an object (else 400).
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest<Arc<Shared>> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<Shared>) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let is_json = content_type.as_deref().is_some_and(|ct| {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                content_type.unwrap_or_else(|| "no Content-Type".to_owned()),
            ));
        }
        let limit = state.config.http_body_limit;
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::BadBody(format!("could not read the body: {}", e.body_text()))
            }
        })?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request("body", format!("not valid JSON: {e}")))?;
        match value {
            Value::Object(map) => Ok(JsonObject(map)),
            _ => Err(ApiError::bad_request("body", "must be a JSON object")),
        }
    }
}

/// Reads the fields of a [`JsonObject`], refusing the ones it was not asked
/// for (the contract's `additionalProperties: false`).
pub struct Body {
    map: Map<String, Value>,
}

impl Body {
    /// Checks that only `allowed` fields are present.
    pub fn new(JsonObject(map): JsonObject, allowed: &[&str]) -> Result<Body, ApiError> {
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::bad_request(
                unknown.clone(),
                format!("unknown field; expected one of {}", allowed.join(", ")),
            ));
        }
        Ok(Body { map })
    }

    /// True when no field is present.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The raw value of `name`.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    /// A string field (400 when not a string).
    pub fn string(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::bad_request(name, "must be a string")),
        }
    }

    /// A string field of `min..=max` bytes (400 when not a string, 422 when
    /// out of range: the value does not fit its GMMP field).
    pub fn bounded_string(
        &self,
        name: &str,
        min: usize,
        max: usize,
    ) -> Result<Option<&str>, ApiError> {
        let s = self.string(name)?;
        if let Some(s) = s {
            if s.len() < min || s.len() > max {
                return Err(ApiError::unprocessable(
                    name,
                    format!("must be {min} to {max} bytes, is {}", s.len()),
                ));
            }
        }
        Ok(s)
    }

    /// A string destined for a fixed-width GMMP field: `min..=max` bytes of
    /// printable ASCII (the contract's `pattern: '^[ -~]*$'`), else 422.
    pub fn gmmp_field(&self, name: &str, min: usize, max: usize) -> Result<Option<&str>, ApiError> {
        let s = self.bounded_string(name, min, max)?;
        if let Some(s) = s {
            if !s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                return Err(ApiError::unprocessable(
                    name,
                    "must be printable ASCII (GMMP fields are ASCII)".to_string(),
                ));
            }
        }
        Ok(s)
    }

    /// An integer field within `range` (400 when not an integer, 422 when
    /// out of range).
    pub fn integer(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, ApiError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                // JSON Schema's `integer` includes `5.0`; saturating casts
                // keep huge values out of range rather than wrapping.
                let v = n
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
                    .or_else(|| {
                        n.as_f64()
                            .filter(|f| f.is_finite() && f.fract() == 0.0)
                            .map(|f| f as i128)
                    })
                    .ok_or_else(|| ApiError::bad_request(name, "must be an integer"))?;
                if v < i128::from(*range.start()) || v > i128::from(*range.end()) {
                    return Err(ApiError::unprocessable(
                        name,
                        format!("must be from {} to {}", range.start(), range.end()),
                    ));
                }
                Ok(Some(v as i64))
            }
            Some(_) => Err(ApiError::bad_request(name, "must be an integer")),
        }
    }
}
