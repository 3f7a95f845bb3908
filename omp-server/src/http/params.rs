//! Request input without axum's plain-text rejections: the query string
//! and the path parameters are read here and every problem becomes an
//! [`ApiError`] naming the offending parameter. (JSON bodies: [`super::body`].)

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use super::error::ApiError;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit`.
pub const MAX_LIMIT: u32 = 1000;
/// Longest `cursor` accepted.
const MAX_CURSOR_LEN: usize = 200;
/// Why a text with U+0000 in it is refused, wherever it comes from: no
/// identifier, URL or filter of the API has one, and PostgreSQL's text
/// cannot hold it (the answer is the same on both stores).
pub const NUL_REFUSED: &str = "must not contain the NUL character (U+0000)";

/// The decoded query string (`form_urlencoded`; a bad percent escape is
/// kept lossily rather than refused, like browsers do).
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((name, _)) = params.iter().find(|(_, v)| v.contains('\0')) {
            return Err(ApiError::bad_request(name.clone(), NUL_REFUSED));
        }
        Ok(QueryParams(params))
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

    /// Every value of `name`, in order (a repeatable parameter).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
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
        if let Some(name) = params
            .iter()
            .find(|(_, v)| v.contains('\0'))
            .map(|(k, _)| k)
        {
            return Err(ApiError::bad_request(name.clone(), NUL_REFUSED));
        }
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

/// Middleware of one route: a query parameter the route does not take
/// (`known`) is refused with 400 naming it — and the known name it is
/// closest to, when it looks like a typo — instead of being ignored.
pub async fn refuse_unknown_query(
    known: &'static [&'static str],
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let query = request.uri().query().unwrap_or("");
    let unknown = form_urlencoded::parse(query.as_bytes())
        .map(|(name, _)| name.into_owned())
        .find(|name| !known.contains(&name.as_str()));
    match unknown {
        Some(name) => unknown_query_error(&name, known).into_response(),
        None => next.run(request).await,
    }
}

fn unknown_query_error(name: &str, known: &[&str]) -> ApiError {
    let message = if known.is_empty() {
        "unknown query parameter: this route takes none".to_owned()
    } else {
        let hint = known
            .iter()
            .map(|k| (edit_distance(name, k), *k))
            .filter(|(d, _)| *d <= 2)
            .min()
            .map(|(_, k)| format!(" (did you mean `{k}`?)"))
            .unwrap_or_default();
        format!(
            "unknown query parameter{hint}; this route takes {}",
            known.join(", ")
        )
    };
    ApiError::bad_request(name, message)
}

/// Levenshtein distance of two short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_query_parameter_is_named_with_the_closest_known_one() {
        let e = unknown_query_error("limt", &["limit", "cursor"]);
        let text = format!("{e:?}");
        assert!(
            text.contains("limt") && text.contains("did you mean `limit`"),
            "{text}"
        );
        let far = format!("{:?}", unknown_query_error("zzzzzz", &["limit", "cursor"]));
        assert!(
            !far.contains("did you mean") && far.contains("limit, cursor"),
            "{far}"
        );
        let none = format!("{:?}", unknown_query_error("wait", &[]));
        assert!(none.contains("takes none"), "{none}");
    }

    #[test]
    fn edit_distances_of_typos() {
        assert_eq!(edit_distance("limt", "limit"), 1);
        assert_eq!(edit_distance("curosr", "cursor"), 2);
        assert_eq!(edit_distance("", "to"), 2);
        assert_eq!(edit_distance("from", "from"), 0);
    }
}
