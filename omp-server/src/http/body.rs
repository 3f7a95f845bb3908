//! JSON request bodies: each body is a `#[derive(Deserialize)]` struct
//! decoded straight from the request bytes with `serde_path_to_error`, so
//! that a decoding error names the field it happened at.
//!
//! The answers, the same for every body:
//! - not `application/json` → 415; over the body limit → 413;
//! - not JSON (syntax, early end, a number no `f64` holds, nesting past
//!   serde_json's depth limit) or not a JSON object → 400 naming `body`;
//! - an unknown field (`#[serde(deny_unknown_fields)]`, the contract's
//!   `additionalProperties: false`), a wrong JSON type or `null` → 400
//!   naming the field;
//! - a value of the right type that does not fit (a range, a length, a
//!   name) → 422 naming the field: each body checks its values after
//!   decoding, in one function, with [`length`], [`gmmp_text`] and
//!   [`JsonInteger::within`].
//!
//! Optional fields are `Option`s with `#[serde(default, deserialize_with
//! = "present")]`: absent is `None`, `null` is refused as a wrong type
//! (the contract's optional fields are not nullable). A key given twice is
//! refused with 400 naming `body` (serde's derive refuses duplicates).

use std::ops::RangeInclusive;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, Unexpected, Visitor};
use serde_json::error::Category;

use super::error::{ApiError, ApiResult};
use crate::state::Shared;

/// A JSON object body decoded as `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<Shared>> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<Shared>) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if !content_type.as_deref().is_some_and(is_json) {
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
        decode(&bytes).map(JsonBody)
    }
}

/// `application/json` or `application/<anything>+json`, any parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Decodes a JSON object body as `T`, every error an [`ApiError`] naming
/// the field (or `body` when the document as a whole is wrong).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    // serde's derive also accepts a struct as a JSON array of its fields;
    // a body is an object, so anything else is refused before decoding.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
            Ok(_) => ApiError::bad_request("body", "must be a JSON object"),
            Err(e) => not_json(&e),
        });
    }
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let inner = e.inner();
        if inner.classify() != Category::Data {
            return not_json(inner);
        }
        let path = e.path();
        if path.iter().next().is_none() {
            ApiError::bad_request("body", message(inner))
        } else {
            ApiError::bad_request(path.to_string(), message(inner))
        }
    })?;
    // Anything after the object is not JSON either.
    json.end().map_err(|e| not_json(&e))?;
    // JSON writes U+0000 only as the escape `\u0000`: bodies without that
    // text are not walked again.
    if bytes.windows(6).any(|w| w == b"\\u0000")
        && let Ok(document) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(field) = nul_at(&document, String::new())
    {
        return Err(ApiError::bad_request(field, super::params::NUL_REFUSED));
    }
    Ok(value)
}

/// The path (`url`, `kinds[1]`, …) of the first string in `value`, key or
/// value, that holds U+0000.
fn nul_at(value: &serde_json::Value, path: String) -> Option<String> {
    let named = |path: &str| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }
    };
    match value {
        serde_json::Value::String(text) if text.contains('\0') => Some(named(&path)),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_at(item, format!("{}[{i}]", named(&path)))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, field)| {
            let inner = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(named(&path))
            } else {
                nul_at(field, inner)
            }
        }),
        _ => None,
    }
}

fn not_json(e: &serde_json::Error) -> ApiError {
    ApiError::bad_request("body", format!("not valid JSON: {e}"))
}

/// serde_json's message without its `at line 1 column 12`: the field
/// names the place.
fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&position) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

/// For `deserialize_with` on an optional field: a value given is decoded
/// as `T` (so `null` is a wrong type); an absent field is `None` through
/// `#[serde(default)]`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A JSON Schema `integer`: any JSON number without a fraction (`5.0`
/// included), kept wide enough that no JSON integer wraps; its range is
/// checked by [`JsonInteger::within`] (422), a fraction or another type is
/// a decoding error (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonInteger(i128);

impl JsonInteger {
    /// The value, 422 naming `field` unless within `range`.
    pub fn within(self, field: &str, range: RangeInclusive<i64>) -> ApiResult<i64> {
        if self.0 < i128::from(*range.start()) || self.0 > i128::from(*range.end()) {
            return Err(ApiError::unprocessable(
                field,
                format!("must be from {} to {}", range.start(), range.end()),
            ));
        }
        // Within an i64 range, so exact.
        Ok(self.0 as i64)
    }
}

/// An integral, finite `f64` as an integer (saturating: a huge one stays
/// out of every range instead of wrapping).
fn integral(v: f64) -> Option<i128> {
    (v.is_finite() && v.fract() == 0.0).then_some(v as i128)
}

impl<'de> Deserialize<'de> for JsonInteger {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntegerVisitor;

        impl Visitor<'_> for IntegerVisitor {
            type Value = JsonInteger;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonInteger, E> {
                Ok(JsonInteger(i128::from(v)))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonInteger, E> {
                Ok(JsonInteger(i128::from(v)))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonInteger, E> {
                integral(v)
                    .map(JsonInteger)
                    .ok_or_else(|| E::invalid_type(Unexpected::Float(v), &self))
            }
        }

        deserializer.deserialize_any(IntegerVisitor)
    }
}

/// A field that is a name or an integer code (`control_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameOrCode {
    /// A JSON string (a name, or a code written as text).
    Name(String),
    /// A JSON integer.
    Code(JsonInteger),
}

impl<'de> Deserialize<'de> for NameOrCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameOrCodeVisitor;

        impl Visitor<'_> for NameOrCodeVisitor {
            type Value = NameOrCode;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a name or an integer code")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<NameOrCode, E> {
                Ok(NameOrCode::Name(v.to_owned()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NameOrCode, E> {
                Ok(NameOrCode::Code(JsonInteger(i128::from(v))))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NameOrCode, E> {
                Ok(NameOrCode::Code(JsonInteger(i128::from(v))))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NameOrCode, E> {
                integral(v)
                    .map(|v| NameOrCode::Code(JsonInteger(v)))
                    .ok_or_else(|| E::invalid_type(Unexpected::Float(v), &self))
            }
        }

        deserializer.deserialize_any(NameOrCodeVisitor)
    }
}

/// 422 naming `field` unless `text` is `min..=max` bytes (the width of
/// the GMMP field it goes to, or the column's limit).
pub fn length(field: &str, text: &str, min: usize, max: usize) -> ApiResult<()> {
    if text.len() < min || text.len() > max {
        return Err(ApiError::unprocessable(
            field,
            format!("must be {min} to {max} bytes, is {}", text.len()),
        ));
    }
    Ok(())
}

/// 422 naming `field` unless `text` fits a fixed-width GMMP field:
/// `min..=max` bytes of printable ASCII (the contract's
/// `pattern: '^[ -~]*$'`).
pub fn gmmp_text(field: &str, text: &str, min: usize, max: usize) -> ApiResult<()> {
    length(field, text, min, max)?;
    if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(ApiError::unprocessable(
            field,
            "must be printable ASCII (GMMP fields are ASCII)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(default, deserialize_with = "present")]
        text: Option<String>,
        #[serde(default, deserialize_with = "present")]
        number: Option<JsonInteger>,
        #[serde(default, deserialize_with = "present")]
        either: Option<NameOrCode>,
    }

    fn refused(body: &str) -> (StatusCode, String, String) {
        match decode::<Sample>(body.as_bytes()) {
            Ok(sample) => panic!("{body} decoded as {sample:?}"),
            Err(ApiError::BadRequest { field, message }) => {
                (StatusCode::BAD_REQUEST, field, message)
            }
            Err(other) => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_nul_character_in_a_string_is_refused_naming_its_field() {
        let (_, field, message) = refused(r#"{"text": "a\u0000b"}"#);
        assert_eq!(field, "text");
        assert!(message.contains("U+0000"), "{message}");
        // The text `\u0000` itself (an escaped backslash) is no NUL.
        assert!(decode::<Sample>(br#"{"text": "\\u0000"}"#).is_ok());
    }

    #[test]
    fn decoding_errors_name_the_field_without_a_position() {
        let (_, field, message) = refused(r#"{"text": 12}"#);
        assert_eq!(field, "text");
        assert_eq!(message, "invalid type: integer `12`, expected a string");
        let (_, field, message) = refused(r#"{"text": null}"#);
        assert_eq!(
            (field.as_str(), message.as_str()),
            ("text", "invalid type: null, expected a string")
        );
        let (_, field, message) = refused(r#"{"number": 1.5}"#);
        assert_eq!(field, "number");
        assert!(message.contains("expected an integer"), "{message}");
        let (_, field, _) = refused(r#"{"number": "5"}"#);
        assert_eq!(field, "number");
        let (_, field, _) = refused(r#"{"either": [true]}"#);
        assert_eq!(field, "either");
        let (_, field, message) = refused(r#"{"text": "a", "colour": "red"}"#);
        assert_eq!(field, "colour");
        assert!(message.contains("`text`, `number`, `either`"), "{message}");
    }

    #[test]
    fn a_document_that_is_not_a_json_object_names_the_body() {
        for body in [
            "",
            "not json",
            "[]",
            "[null, null, null]",
            "\"text\"",
            "{\"text\":",
            "{} x",
            "{\"number\":1e400}",
        ] {
            let (_, field, _) = refused(body);
            assert_eq!(field, "body", "{body}");
        }
        let (_, _, message) = refused("[]");
        assert_eq!(message, "must be a JSON object");
        let (_, field, message) = refused(r#"{"text": "a", "text": "b"}"#);
        assert_eq!(field, "body");
        assert!(message.contains("duplicate field `text`"), "{message}");
    }

    #[test]
    fn integers_are_json_schema_integers_and_ranges_are_422() {
        let sample: Sample = decode(br#"{"number": 5.0, "either": 7}"#).unwrap();
        assert_eq!(sample.number.unwrap().within("number", 0..=10).unwrap(), 5);
        assert_eq!(sample.either, Some(NameOrCode::Code(JsonInteger(7))));
        let huge: Sample = decode(br#"{"number": 18446744073709551616}"#).unwrap();
        let err = huge.number.unwrap().within("number", 0..=10).unwrap_err();
        assert_eq!(err.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.to_string(), "number: must be from 0 to 10");
        let absent: Sample = decode(b" {} ").unwrap();
        assert!(absent.text.is_none() && absent.number.is_none() && absent.either.is_none());
    }

    #[test]
    fn text_checks_are_422_naming_the_field() {
        assert!(gmmp_text("model", "M-1", 0, 32).is_ok());
        let long = gmmp_text("model", "0123456789", 0, 4).unwrap_err();
        assert_eq!(long.to_string(), "model: must be 0 to 4 bytes, is 10");
        let non_ascii = gmmp_text("model", "ü", 0, 4).unwrap_err();
        assert_eq!(non_ascii.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(length("name", "ü", 0, 4).is_ok());
    }
}
