//! One HTTP answer as the API tests read it, shared by the in-process
//! (`http_support`) and the real-TCP (`tcp_api`) helpers.

#![allow(dead_code)]

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// One answer, read whole: status, headers, body text and (when JSON) its value.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl Answer {
    /// `error.code` of an error answer.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// `error.field` of an error answer.
    pub fn field(&self) -> &str {
        self.json["error"]["field"].as_str().unwrap_or("")
    }

    /// Asserts `status` and the contract's error shape (with `code`).
    pub fn assert_error(&self, status: StatusCode, code: &str) -> &Self {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.code(), code, "{}", self.text);
        assert!(self.json["error"]["message"].is_string(), "{}", self.text);
        let content_type = self.headers["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        self
    }

    /// Asserts a 400 or 422 that names `field`.
    pub fn assert_field(&self, status: StatusCode, field: &str) -> &Self {
        let code = if status == StatusCode::BAD_REQUEST {
            "bad_request"
        } else {
            "unprocessable"
        };
        self.assert_error(status, code);
        assert_eq!(self.field(), field, "{}", self.text);
        self
    }
}
