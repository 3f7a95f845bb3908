//! The API key: `Authorization: Bearer <key>` on every `/api/` route and
//! `/metrics`, and the key file generated at first start.
//!
//! The comparison is [`crate::secret::same`] (constant time), so the time
//! a wrong key takes to refuse does not tell how many leading bytes were
//! right. Only the key's length can be learned, which does not help
//! guessing 32 random bytes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::ApiError;
use crate::state::Shared;

/// Name of the generated key's file in the data directory.
pub const KEY_FILE: &str = "api-key";
/// Random bytes in a generated key (printed as 43 Base64url characters).
const GENERATED_KEY_BYTES: usize = 32;

/// The API key. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key from its text; `None` when empty or not printable ASCII
    /// (it must fit in an HTTP header).
    pub fn new(text: &str) -> Option<ApiKey> {
        let text = text.trim();
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic()))
            .then(|| ApiKey(text.to_owned()))
    }

    /// The key's text (to give to a client; never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with what a client sent.
    pub fn matches(&self, presented: &[u8]) -> bool {
        crate::secret::same(self.0.as_bytes(), presented)
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Where the key in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `--api-key` / `OMP_API_KEY` / the config file.
    Configured,
    /// Read from the key file of an earlier start.
    File(PathBuf),
    /// Generated now and written to this file (mode 0600).
    Generated(PathBuf),
}

/// The key and where it came from (log the source's path, never the key).
#[derive(Debug, Clone)]
pub struct LoadedApiKey {
    /// The key.
    pub key: ApiKey,
    /// Its origin.
    pub source: KeySource,
}

/// Why no key could be had.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    /// The configured key is empty or has spaces / control characters.
    #[error("the configured API key must be non-empty printable ASCII without spaces")]
    BadConfigured,
    /// The key file holds no usable key.
    #[error("API key file {path} holds no usable key (printable ASCII, no spaces)")]
    BadFile {
        /// The file.
        path: PathBuf,
    },
    /// Reading or writing the key file failed.
    #[error("API key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The OS random source failed.
    #[error("could not generate an API key: {0}")]
    Random(getrandom::Error),
}

/// The configured key, else the one in `<data_dir>/api-key`, else a new
/// random one written there with mode 0600.
pub fn load_or_create_api_key(
    data_dir: &Path,
    configured: Option<&str>,
) -> Result<LoadedApiKey, ApiKeyError> {
    if let Some(text) = configured {
        let key = ApiKey::new(text).ok_or(ApiKeyError::BadConfigured)?;
        return Ok(LoadedApiKey {
            key,
            source: KeySource::Configured,
        });
    }
    let path = data_dir.join(KEY_FILE);
    let io = |source| ApiKeyError::Io {
        path: path.clone(),
        source,
    };
    match fs::read_to_string(&path) {
        Ok(text) => {
            let key =
                ApiKey::new(&text).ok_or_else(|| ApiKeyError::BadFile { path: path.clone() })?;
            return Ok(LoadedApiKey {
                key,
                source: KeySource::File(path),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut bytes = [0u8; GENERATED_KEY_BYTES];
    getrandom::fill(&mut bytes).map_err(ApiKeyError::Random)?;
    let text = URL_SAFE_NO_PAD.encode(bytes);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(io)?;
    file.write_all(format!("{text}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    let key = ApiKey(text);
    Ok(LoadedApiKey {
        key,
        source: KeySource::Generated(path),
    })
}

/// True for the paths that need the key.
fn is_protected(path: &str) -> bool {
    path.starts_with("/api/") || path == "/api" || path == "/metrics"
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

/// Middleware: 401 on a protected path without the right key.
pub async fn require_key(
    State(state): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if is_protected(request.uri().path()) {
        let ok = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| bearer(v.as_bytes()))
            .is_some_and(|token| state.api_key.matches(token));
        if !ok {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bear"), None);
    }

    #[test]
    fn key_compares_whole() {
        let key = ApiKey::new("secret-key").unwrap();
        assert!(key.matches(b"secret-key"));
        assert!(!key.matches(b"secret-kez"));
        assert!(!key.matches(b"secret-ke"));
        assert!(!key.matches(b""));
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        assert!(ApiKey::new("  ").is_none());
        assert!(ApiKey::new("has space").is_none());
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_api_key(dir.path(), None).unwrap();
        let path = dir.path().join(KEY_FILE);
        assert_eq!(first.source, KeySource::Generated(path.clone()));
        assert_eq!(first.key.expose().len(), 43);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = load_or_create_api_key(dir.path(), None).unwrap();
        assert_eq!(second.source, KeySource::File(path));
        assert_eq!(second.key, first.key);
        let configured = load_or_create_api_key(dir.path(), Some("k1")).unwrap();
        assert_eq!(configured.source, KeySource::Configured);
        assert!(matches!(
            load_or_create_api_key(dir.path(), Some("")),
            Err(ApiKeyError::BadConfigured)
        ));
    }
}
